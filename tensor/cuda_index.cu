/*
** cuda_index.cu -- the CUDA half of tensor/index.c: index checks, gather
** and index_select along a dim (take), scatter_add and index_add (put_add),
** multinomial and bernoulli, and sort (topk is a sort that keeps k): a
** bitonic sort per row for rows up to SORT_SMEM_MAX = 2048; index.c sorts
** longer rows on the host (a documented fallback).
**
** tensor/index.c has checked shapes, dtypes and devices; every pointer here
** is a valid device pointer.  Indices are read by index.h's index_at, the
** function the CPU loops call, and the draws come from the same Philox
** lanes as theirs (index.h, multinomial_row; philox.h), so a seed gives the
** same classes and the same 0/1 on both devices.  Every launch goes through
** cuda_run / cuda_run_checked (cuda_util.cuh).
*/
#include "cuda_util.cuh"   /* CUDA_TRY, GRID_STRIDE, cuda_run, flag_bad */
extern "C" {
#include "backend.h"
}
#include "philox.h"
#include "index.h"

/* x[i] += delta, in uint32 (no signed overflow; the caller keeps it in range) */
static __global__ void index_shift_kernel (int32_t *x, size_t n, int32_t delta) {
  GRID_STRIDE(i, n) x[i] = (int32_t)((uint32_t)x[i] + (uint32_t)delta);
}

extern "C" int cuda_index_shift (int32_t *x, size_t n, int32_t delta) {
  if (n == 0) return cuda_ready();
  return cuda_run(n, index_shift_kernel, x, n, delta);
}

/* flag the first index of idx that is not in base .. base+n-1 (or not whole) */
static __global__ void check_index_kernel (const void *idx, int i32, size_t count, int base,
                                           int64_t n) {
  GRID_STRIDE(i, count)
    if (index_at(idx, i32, i, base, n) < 0) flag_bad(i);
}

extern "C" int cuda_check_index (const void *idx, int i32, size_t count, int base, int64_t n,
                                 int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || count == 0) return rc;
  return cuda_run_checked(count, bad, check_index_kernel, idx, i32, count, base, n);
}

/* out[q] = src[(a n + r) inner + i], r = idx[per_elem ? q : j] - base, for
** q = (a k + j) inner + i: one thread per output element.  The indices were
** checked before (cuda_check_index); 4-byte elements of either dtype. */
static __global__ void take_kernel (uint32_t *out, const uint32_t *src, const void *idx,
                                    int i32, int per_elem, size_t outer, size_t n, size_t k,
                                    size_t inner, int base) {
  size_t total = outer * k * inner;
  GRID_STRIDE(q, total) {
    size_t i = q % inner, j = (q / inner) % k, a = q / (inner * k);
    int64_t r = index_at(idx, i32, per_elem ? q : j, base, (int64_t)n);
    if (r >= 0) out[q] = src[(a * n + (size_t)r) * inner + i];
  }
}

extern "C" int cuda_take (void *out, const void *src, const void *idx, int i32, int per_elem,
                          size_t outer, size_t n, size_t k, size_t inner, int base) {
  size_t total = outer * k * inner;
  if (total == 0) return cuda_ready();
  return cuda_run(total, take_kernel, (uint32_t *)out, (const uint32_t *)src, idx, i32,
                  per_elem, outer, n, k, inner, base);
}

/* out[(a n + r) inner + i] += src[q], as take_kernel's indexing, with
** atomicAdd: two threads may add to one element, in an order that varies
** between runs, so the float sum's last bits may too (as PyTorch's). */
static __global__ void put_add_kernel (float *out, const float *src, const void *idx, int i32,
                                       int per_elem, size_t outer, size_t n, size_t k,
                                       size_t inner, int base) {
  size_t total = outer * k * inner;
  GRID_STRIDE(q, total) {
    size_t i = q % inner, j = (q / inner) % k, a = q / (inner * k);
    int64_t r = index_at(idx, i32, per_elem ? q : j, base, (int64_t)n);
    if (r >= 0) atomicAdd(&out[(a * n + (size_t)r) * inner + i], src[q]);
  }
}

extern "C" int cuda_put_add (float *out, const float *src, const void *idx, int i32,
                             int per_elem, size_t outer, size_t n, size_t k, size_t inner,
                             int base) {
  size_t total = outer * k * inner;
  if (total == 0) return cuda_ready();
  return cuda_run(total, put_add_kernel, out, src, idx, i32, per_elem, outer, n, k, inner, base);
}

/* --- sampling -------------------------------------------------------------------- */

/* flag 4 r + why for a row r unfit for the draws (index.h, multinomial_row_check) */
static __global__ void multinomial_check_kernel (const float *probs, size_t b, size_t c,
                                                 size_t n, int replacement) {
  GRID_STRIDE(r, b) {
    int why = multinomial_row_check(probs + r * c, c, n, replacement);
    if (why) flag_bad(4 * r + (size_t)(why - 1));
  }
}

/* one thread per row: the CPU loop's multinomial_row, with w its row of
** the (b, c) doubles of scratch */
static __global__ void multinomial_kernel (int32_t *out, const float *probs, double *w, size_t b,
                                           size_t c, size_t n, int replacement, uint64_t seed,
                                           uint64_t block0, int base) {
  GRID_STRIDE(r, b)
    multinomial_row(out + r * n, probs + r * c, w + r * c, c, n, replacement, seed, block0,
                    r * n, base);
}

extern "C" int cuda_multinomial (int32_t *out, const float *probs, size_t b, size_t c, size_t n,
                                 int replacement, uint64_t seed, uint64_t block0, int base,
                                 int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || b == 0) return rc;
  rc = cuda_run_checked(b, bad, multinomial_check_kernel, probs, b, c, n, replacement);
  if (rc != NN_OK || *bad >= 0 || n == 0) return rc;
  void *w = NULL;
  if ((rc = cuda_scratch_alloc(&w, b * c * sizeof(double))) != NN_OK) return rc;
  rc = cuda_run(b, multinomial_kernel, out, probs, (double *)w, b, c, n, replacement, seed,
                block0, base);
  cuda_scratch_free(w);
  return rc;
}

static __global__ void bernoulli_check_kernel (const float *p, size_t n) {
  GRID_STRIDE(i, n)
    if (!(p[i] >= 0.0f && p[i] <= 1.0f)) flag_bad(i);
}

/* out[i] = u_i < p[i], u_i from lane i % 4 of block block0 + i / 4 (the
** lanes tensor_uniform gives element i, and cpu_bernoulli takes) */
static __global__ void bernoulli_kernel (float *out, const float *p, size_t n, uint64_t seed,
                                         uint64_t block0) {
  GRID_STRIDE(i, n) {
    uint32_t r[4];
    philox_block(r, seed, block0 + i / 4);
    out[i] = philox_u01(r[i % 4]) < p[i] ? 1.0f : 0.0f;
  }
}

extern "C" int cuda_bernoulli (float *out, const float *p, size_t n, uint64_t seed,
                               uint64_t block0, int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  rc = cuda_run_checked(n, bad, bernoulli_check_kernel, p, n);
  if (rc != NN_OK || *bad >= 0) return rc;
  return cuda_run(n, bernoulli_kernel, out, p, n, seed, block0);
}

/* --- sort -------------------------------------------------------------------------
**
** Rows of up to SORT_SMEM_MAX elements: one thread block per row, a bitonic
** sort (Batcher, "Sorting networks and their applications", AFIPS 1968) of
** (value, position) pairs in shared memory, padded to a power of two P with
** items that sort after everything.  A bitonic network is not stable by
** itself, but sort_before breaks every tie by position, so the order is total
** and the result is the very one of the CPU's stable merge sort.  Longer rows
** go to index.c's host fallback. */

/* a before b?  Padding (pos >= n) goes after every real item. */
static __device__ __forceinline__ bool sort_item_before (float av, int32_t ai, float bv,
                                                         int32_t bi, int32_t n, int desc) {
  if (ai >= n) return false;
  if (bi >= n) return true;
  return sort_before(av, ai, bv, bi, desc) != 0;
}

static __global__ void sort_rows_kernel (float *values, int32_t *indices, const float *a,
                                         size_t outer, size_t n, size_t inner, size_t k,
                                         int desc, int base, unsigned p) {
  __shared__ float sv[SORT_SMEM_MAX];
  __shared__ int32_t si[SORT_SMEM_MAX];
  size_t rows = outer * inner;
  for (size_t row = blockIdx.x; row < rows; row += gridDim.x) {
    size_t o = row / inner, i = row % inner;
    for (unsigned t = threadIdx.x; t < p; t += blockDim.x) {
      sv[t] = t < n ? a[(o * n + t) * inner + i] : 0.0f;
      si[t] = (int32_t)t;
    }
    __syncthreads();
    for (unsigned len = 2; len <= p; len <<= 1)
      for (unsigned j = len >> 1; j > 0; j >>= 1) {
        for (unsigned t = threadIdx.x; t < p; t += blockDim.x) {
          unsigned u = t ^ j;
          if (u > t) {
            bool up = (t & len) == 0;        /* this pair's half runs in sort order */
            bool swap = up ? sort_item_before(sv[u], si[u], sv[t], si[t], (int32_t)n, desc)
                           : sort_item_before(sv[t], si[t], sv[u], si[u], (int32_t)n, desc);
            if (swap) {
              float fv = sv[t]; sv[t] = sv[u]; sv[u] = fv;
              int32_t iv = si[t]; si[t] = si[u]; si[u] = iv;
            }
          }
        }
        __syncthreads();
      }
    for (size_t t = threadIdx.x; t < k; t += blockDim.x) {
      values[(o * k + t) * inner + i] = sv[t];
      indices[(o * k + t) * inner + i] = si[t] + base;
    }
    __syncthreads();            /* sv, si are written again by the next row */
  }
}

extern "C" int cuda_sort_rows (float *values, int32_t *indices, const float *a, size_t outer,
                               size_t n, size_t inner, size_t k, int descending, int base) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (n > SORT_SMEM_MAX) return nn_seterr(NN_EARG, "cuda_sort_rows: a row of %zu is too long", n);
  size_t rows = outer * inner;
  if (rows == 0 || k == 0) return NN_OK;
  unsigned p = 1;
  while (p < n) p <<= 1;
  cuda_shape shape = { dim3(cuda_grid(rows)), dim3(THREADS) };
  return cuda_run(shape, sort_rows_kernel, values, indices, a, outer, n, inner, k, descending,
                  base, p);
}
