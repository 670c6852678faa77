/*
** cpu_shape.c -- the CPU loops of the shape ops: one strided copy, and the
** masks by position.  Elements move as 4-byte words (uint32_t), so either
** dtype passes bit for bit.
**
** A transpose is the hard case of a copy: read along a row, and the writes
** go down a column, one cache line per element; read down a column, and
** the reads do.  So the copy goes by tiles of TILE x TILE elements, which
** sit in L1 together: each line of both is brought in once and used
** whole (the blocked transpose of llm.c's and every BLAS's packing;
** Lam, Rothberg & Wolf, "The cache performance and optimizations of
** blocked algorithms", ASPLOS 1991).  Tiles are independent: OpenMP takes
** them in parallel when there are enough elements to pay for the threads.
*/
#include <string.h>

#include "backend.h"
#include "shape_math.h"

/* 32 x 32 words: 4 KiB read + 4 KiB written, well inside a 32 KiB L1;
** 64 measured no faster on the 2048 x 2048 bench. */
#define TILE 32
/* below this many elements one thread does the whole copy */
#define PAR_MIN (1 << 16)

/* The offsets of outer item `o` over the dims in `dims` (count m), the last
** of them varying fastest. */
static void outer_offsets (const nn_strided *s, const int *dims, int m, int64_t o,
                           int64_t *dst_off, int64_t *src_off) {
  int64_t d_off = 0, s_off = 0;
  for (int j = m - 1; j >= 0; j--) {
    int d = dims[j];
    int64_t i = o % s->shape[d];
    o /= s->shape[d];
    d_off += i * s->dst_stride[d];
    s_off += i * s->src_stride[d];
  }
  *dst_off = d_off;
  *src_off = s_off;
}

int cpu_strided_copy (float *dstf, const float *srcf, const nn_strided *s) {
  uint32_t *dst = (uint32_t *)(void *)dstf;
  const uint32_t *src = (const uint32_t *)(const void *)srcf;
  int n = s->ndim;
  if (n == 0) { dst[0] = src[0]; return NN_OK; }
  int64_t total = 1;
  for (int d = 0; d < n; d++) total *= s->shape[d];
  if (total == 0) return NN_OK;
  int b = n - 1;                       /* the innermost dim */
  int64_t nb = s->shape[b], dsb = s->dst_stride[b], ssb = s->src_stride[b];
  int a = -1;                          /* a dim read contiguously, if not b */
  for (int d = 0; d < b; d++) if (s->src_stride[d] == 1) a = d;

  if (dsb == 1 && a >= 0 && ssb != 1) {
    /* the transpose: tile dims a (contiguous in src) and b (in dst) */
    int dims[NN_STRIDED_MAXDIM], m = 0;
    for (int d = 0; d < b; d++) if (d != a) dims[m++] = d;
    int64_t na = s->shape[a], dsa = s->dst_stride[a];
    int64_t ta = (na + TILE - 1) / TILE, tb = (nb + TILE - 1) / TILE;
    int64_t outer = total / (na * nb), work = outer * ta * tb;
    #pragma omp parallel for schedule(static) if (total >= PAR_MIN)
    for (int64_t w = 0; w < work; w++) {
      int64_t o = w / (ta * tb), t = w % (ta * tb);
      int64_t a0 = (t / tb) * TILE, b0 = (t % tb) * TILE;
      int64_t a1 = a0 + TILE < na ? a0 + TILE : na, b1 = b0 + TILE < nb ? b0 + TILE : nb;
      int64_t d_off, s_off;
      outer_offsets(s, dims, m, o, &d_off, &s_off);
      for (int64_t i = a0; i < a1; i++) {
        uint32_t *drow = dst + d_off + i * dsa;
        const uint32_t *scol = src + s_off + i;
        for (int64_t j = b0; j < b1; j++) drow[j] = scol[j * ssb];
      }
    }
    return NN_OK;
  }

  /* rows: the innermost dim at once (a memcpy when both are contiguous) */
  int dims[NN_STRIDED_MAXDIM];
  for (int d = 0; d < b; d++) dims[d] = d;
  int64_t rows = total / nb;
  #pragma omp parallel for schedule(static) if (total >= PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t d_off, s_off;
    outer_offsets(s, dims, b, r, &d_off, &s_off);
    uint32_t *drow = dst + d_off;
    const uint32_t *srow = src + s_off;
    if (dsb == 1 && ssb == 1) memcpy(drow, srow, (size_t)nb * sizeof *drow);
    else for (int64_t j = 0; j < nb; j++) drow[j * dsb] = srow[j * ssb];
  }
  return NN_OK;
}

int cpu_tri (float *outf, const float *xf, size_t batch, size_t rows, size_t cols, int64_t k,
             int upper) {
  uint32_t *out = (uint32_t *)(void *)outf;
  const uint32_t *x = (const uint32_t *)(const void *)xf;
  int64_t nrows = (int64_t)(batch * rows);
  #pragma omp parallel for schedule(static) if (batch * rows * cols >= PAR_MIN)
  for (int64_t br = 0; br < nrows; br++) {
    int64_t r = br % (int64_t)rows;
    size_t base = (size_t)br * cols;
    for (size_t c = 0; c < cols; c++)
      out[base + c] = nn_tri_keep(r, (int64_t)c, k, upper) ? x[base + c] : 0u;
  }
  return NN_OK;
}
