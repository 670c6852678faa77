/*
** index.h -- the per-element rules of the index ops, for both backends
** (cpu.c and index.c on the host, cuda_elementwise.cu, cuda_reduce.cu and
** cuda_index.cu on the GPU): how an index is read and checked, how sort
** orders values, and how one row of multinomial draws its classes.
*/
#ifndef NN_INDEX_H
#define NN_INDEX_H

#include <stdint.h>
#include <stddef.h>
#include "elementwise.h"   /* NN_HD */
#include "philox.h"

/* The index at position i of idx, an int32 array (i32) or a float32 one,
** less base: a number in 0 .. n-1, or -1 when it is out of range or (a
** float) not a whole number.  The float test converts to int64 only after
** the range test, so a nan or an inf never reaches the conversion. */
NN_HD int64_t index_at (const void *idx, int i32, size_t i, int base, int64_t n) {
  if (i32) {
    int64_t v = (int64_t)((const int32_t *)idx)[i] - base;
    return v >= 0 && v < n ? v : -1;
  }
  double v = (double)((const float *)idx)[i];
  if (!(v >= (double)base && v < (double)n + base)) return -1;
  int64_t w = (int64_t)v;
  return (double)w == v ? w - base : -1;
}

/* The order of sort and topk: does value a (at position ia) come before b
** (at ib)?  nan counts as larger than every number (PyTorch: last in an
** ascending sort, first in a descending one); equal values keep their
** positions' order, in either direction (a stable sort). */
NN_HD int sort_before (float a, int64_t ia, float b, int64_t ib, int descending) {
  int an = a != a, bn = b != b;
  if (an || bn) {
    if (an && bn) return ia < ib;
    return descending ? an : bn;            /* the nan first when descending */
  }
  if (a == b) return ia < ib;
  return descending ? a > b : a < b;
}

/* Is row p[0 .. c-1] of multinomial's weights fit for n draws?  0 when it
** is; 1 for a weight negative, inf or nan; 2 when none is positive; 3 when
** fewer than n are positive and the draws are without replacement.  (So
** backend.h's `why` is this less 1.) */
NN_HD int multinomial_row_check (const float *p, size_t c, size_t n, int replacement) {
  size_t positive = 0;
  for (size_t k = 0; k < c; k++) {
    float v = p[k];
    if (!(v >= 0.0f) || v > 3.4028234663852886e38f) return 1;   /* negative, nan or inf */
    if (v > 0.0f) positive++;
  }
  if (positive == 0) return 2;
  if (!replacement && positive < n) return 3;
  return 0;
}

/* The longest row the CUDA sort sorts on the GPU (a bitonic network in 16
** KB of shared memory per block: 2048 (float, int32) pairs); longer rows are
** sorted on the host. */
#define SORT_SMEM_MAX 2048

/* One row of multinomial (tensor_multinomial): n classes drawn from the
** weights p[0 .. c-1] (non-negative, checked before), written to out as
** class + base.  Draw j takes the uniform u = philox_u01 of lane e % 4 of
** block block0 + e / 4, e = e0 + j (e0 = row * n): the lanes that
** tensor_uniform gives element e of a tensor of (rows * n) elements.
** Inverse CDF in double: the class is the first c whose running sum of the
** weights still in play exceeds u * (their total); rounding that leaves no
** such class picks the last class in play.  Without replacement a drawn
** class leaves play: w (c doubles of scratch) holds the weights in play.
** Returns 0, or 1 when fewer than n classes have weight (no replacement). */
NN_HD int multinomial_row (int32_t *out, const float *p, double *w, size_t c, size_t n,
                           int replacement, uint64_t seed, uint64_t block0, size_t e0, int base) {
  for (size_t k = 0; k < c; k++) w[k] = (double)p[k];
  uint32_t r[4];
  for (size_t j = 0; j < n; j++) {
    size_t e = e0 + j;
    if (j == 0 || e % 4 == 0) philox_block(r, seed, block0 + e / 4);
    double total = 0.0;                     /* summed afresh: no drift as classes leave */
    for (size_t k = 0; k < c; k++) total += w[k];
    if (!(total > 0.0)) return 1;
    double target = (double)philox_u01(r[e % 4]) * total, acc = 0.0;
    size_t pick = c, last = c;
    for (size_t k = 0; k < c; k++) {
      if (w[k] <= 0.0) continue;
      last = k;
      acc += w[k];
      if (acc > target) { pick = k; break; }
    }
    if (pick == c) pick = last;             /* total > 0: some class is in play */
    out[j] = (int32_t)((int64_t)pick + base);
    if (!replacement) w[pick] = 0.0;
  }
  return 0;
}

#endif
