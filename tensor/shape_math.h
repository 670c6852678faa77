/*
** shape_math.h -- the per-element rule of the masks by position, for both
** backends (cpu_shape.c and cuda_shape.cu), as elementwise.h is for the math.
*/
#ifndef NN_SHAPE_MATH_H
#define NN_SHAPE_MATH_H

#include "elementwise.h"   /* NN_HD */

/* tril keeps element (r, c) of a matrix when it is on or below diagonal k,
** c - r <= k; triu when on or above it, c - r >= k (torch.tril/triu: k = 0
** the main diagonal, k > 0 above it, k < 0 below).  r, c 0-based. */
NN_HD int nn_tri_keep (int64_t r, int64_t c, int64_t k, int upper) {
  int64_t d = c - r;
  return upper ? d >= k : d <= k;
}

#endif
