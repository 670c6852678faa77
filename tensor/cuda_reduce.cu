/*
** cuda_reduce.cu -- the CUDA reductions: sum, mean, max, min, argmax and
** argmin over all elements (cuda_reduce_all) or along a dim
** (cuda_reduce_dim), and the variance (cuda_var_all).
**
** tensor.c has already checked shapes and devices; here every pointer is a
** valid device pointer, and we report only failures of the device itself
** (NN_EDEVICE when there is no GPU, NN_ENOMEM, NN_ECUDA).  Every kernel
** goes on the one stream (cuda_alloc.cu), through cuda_run (cuda_util.cuh);
** unlike the element-wise kernels, these choose their own launch shape:
** the answer over all elements must not depend on the GPU.
*/
#include "cuda_util.cuh"   /* CUDA_TRY, THREADS, cuda_run, cuda_scratch_alloc */
extern "C" {
#include "backend.h"
}

/* reduce_all's first pass uses at most this many blocks; the second pass is
** one block that reads their partial results. */
#define MAX_PARTIALS 1024

/* --- reductions --------------------------------------------------------------------
**
** Deterministic: no atomics.  Each thread folds its share of the input in a
** fixed order, then the block folds its threads' results in a fixed tree in
** shared memory; reduce_all does that twice (blocks -> partials -> one), with
** a grid that depends only on n.  So a given input gives the same bits on
** every run.  Sums are in double, as in cpu.c; their order differs from the
** CPU's sequential loop, so the two agree to double rounding, far below the
** float result's.
**
** Extremes keep (value, index) pairs and must pick the very element that
** cpu.c's loop picks.  That loop starts from a[0] and takes x when x beats
** the current value or the current value is nan, so:
**   - any number beats nan, and among numbers the extreme wins;
**   - among equal numbers the lower index wins (the loop takes only a strict
**     improvement, so the first one stays);
**   - among nans the higher index wins (all nan: the loop ends on the last).
** That is a total order on (value, index) pairs, so folding in any tree gives
** the loop's answer.  An empty slot (a thread with no elements) has index
** NO_INDEX and loses to everything. */
#define NO_INDEX SIZE_MAX

/* Does (v, i) beat (bv, bi) in a max (want_max) or min search? */
static __device__ __forceinline__ bool ext_beats (float v, size_t i, float bv, size_t bi,
                                                  int want_max) {
  if (i == NO_INDEX) return false;
  if (bi == NO_INDEX) return true;
  if (bv != bv) return v == v || i < bi;     /* current is nan: a number, or an earlier nan */
  if (v != v) return false;                  /* a nan never beats a number */
  if (v == bv) return i < bi;
  return want_max ? v > bv : v < bv;
}

/* Sum of v over the block (blockDim.x == THREADS): a tree that halves the
** active threads each step, with a barrier between steps.  Every thread gets
** the total.  s: THREADS doubles of shared memory. */
static __device__ double block_sum (double v, double *s) {
  unsigned t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (unsigned half = THREADS / 2; half > 0; half >>= 1) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  return s[0];
}

/* out[blockIdx.x] = sum over this block's share of d(x[i]), where
** d(x) = x - center, or (x - center)^2 when `squared` (the variance).
** Launch: G <= MAX_PARTIALS blocks of THREADS; thread t of block g takes
** i = g*THREADS + t, then steps by G*THREADS.  Pass 1 reads the floats
** (T = float); pass 2 is one block over the G partials (T = double,
** center 0, not squared). */
template <typename T>
static __global__ void reduce_sum_kernel (double *out, const T *x, size_t n, double center,
                                          int squared) {
  __shared__ double s[THREADS];
  double acc = 0.0;
  for (size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x; i < n;
       i += (size_t)gridDim.x * THREADS) {
    double d = (double)x[i] - center;
    acc += squared ? d * d : d;
  }
  double total = block_sum(acc, s);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

/* out_v/out_i[blockIdx.x] = the best (value, index) of this block's share,
** by ext_beats.  Index of x[i] is i, or xi[i] when xi is given (pass 2,
** which folds pass 1's pairs).  Launch as reduce_sum_kernel. */
static __global__ void reduce_ext_kernel (float *out_v, size_t *out_i, const float *x,
                                          const size_t *xi, size_t n, int want_max) {
  __shared__ float sv[THREADS];
  __shared__ size_t si[THREADS];
  float bv = 0.0f;
  size_t bi = NO_INDEX;
  for (size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x; i < n;
       i += (size_t)gridDim.x * THREADS) {
    float v = x[i];
    size_t idx = xi != NULL ? xi[i] : i;
    if (ext_beats(v, idx, bv, bi, want_max)) { bv = v; bi = idx; }
  }
  unsigned t = threadIdx.x;
  sv[t] = bv;
  si[t] = bi;
  __syncthreads();
  for (unsigned half = THREADS / 2; half > 0; half >>= 1) {
    if (t < half && ext_beats(sv[t + half], si[t + half], sv[t], si[t], want_max)) {
      sv[t] = sv[t + half];
      si[t] = si[t + half];
    }
    __syncthreads();
  }
  if (t == 0) { out_v[blockIdx.x] = sv[0]; out_i[blockIdx.x] = si[0]; }
}

/* Blocks of reduce_all's first pass: one per THREADS elements, at most
** MAX_PARTIALS.  It depends on n alone, not on the GPU, so the order of the
** sums (and so the bits of the result) is the same on every device. */
static unsigned partials_for (size_t n) {
  size_t g = (n + THREADS - 1) / THREADS;
  return g < 1 ? 1u : g > MAX_PARTIALS ? (unsigned)MAX_PARTIALS : (unsigned)g;
}

/* Queue a copy of `bytes` from the device to the host (on the stream, as
** the kernels), and wait for the stream: then all the copies have landed. */
static int copy_to_host (void *dst, const void *src, size_t bytes) {
  CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()));
  return NN_OK;
}

static int wait_stream (void) {
  CUDA_TRY(cudaStreamSynchronize(cuda_stream()));
  return NN_OK;
}

/* *result = sum of (x - center) or of (x - center)^2 over n floats. */
static int sum_all (double *result, const float *a, size_t n, double center, int squared) {
  unsigned g = partials_for(n);
  double *scratch;              /* g partials, then the total */
  int rc = cuda_scratch_alloc((void **)&scratch, (g + 1) * sizeof(double));
  if (rc != NN_OK) return rc;
  rc = cuda_run(cuda_shape{dim3(g), dim3(THREADS)}, reduce_sum_kernel<float>, scratch, a, n,
                center, squared);
  if (rc == NN_OK)
    rc = cuda_run(cuda_shape{dim3(1), dim3(THREADS)}, reduce_sum_kernel<double>, scratch + g,
                  scratch, (size_t)g, 0.0, 0);
  if (rc == NN_OK) rc = copy_to_host(result, scratch + g, sizeof(double));
  if (rc == NN_OK) rc = wait_stream();
  cuda_scratch_free(scratch);
  return rc;
}

/* *value, *index = the extreme of n floats, by ext_beats. */
static int ext_all (float *value, size_t *index, const float *a, size_t n, int want_max) {
  unsigned g = partials_for(n);
  /* scratch: g + 1 indices (the last is the answer), then g + 1 values */
  size_t *idx;
  int rc = cuda_scratch_alloc((void **)&idx, (g + 1) * (sizeof(size_t) + sizeof(float)));
  if (rc != NN_OK) return rc;
  float *val = (float *)(idx + g + 1);
  rc = cuda_run(cuda_shape{dim3(g), dim3(THREADS)}, reduce_ext_kernel, val, idx, a,
                (const size_t *)NULL, n, want_max);
  if (rc == NN_OK)
    rc = cuda_run(cuda_shape{dim3(1), dim3(THREADS)}, reduce_ext_kernel, val + g, idx + g, val,
                  idx, (size_t)g, want_max);
  if (rc == NN_OK) rc = copy_to_host(value, val + g, sizeof(float));
  if (rc == NN_OK) rc = copy_to_host(index, idx + g, sizeof(size_t));
  if (rc == NN_OK) rc = wait_stream();
  cuda_scratch_free(idx);
  return rc;
}

extern "C" int cuda_reduce_all (double *result, const float *a, size_t n, nn_redop op) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (op == NN_SUM || op == NN_MEAN) {
    double s = 0.0;
    if (n > 0 && (rc = sum_all(&s, a, n, 0.0, 0)) != NN_OK) return rc;
    *result = op == NN_MEAN ? s / (double)n : s;     /* mean of nothing: 0/0 = nan, as cpu.c */
    return NN_OK;
  }
  if ((unsigned)op >= NN_REDOP_COUNT) return nn_seterr(NN_EARG, "unknown reduction %d", (int)op);
  if (n == 0) return nn_seterr(NN_EARG, "%s of an empty tensor", redop_name(op));
  float v;
  size_t i;
  int want_max = op == NN_MAX || op == NN_ARGMAX;
  if ((rc = ext_all(&v, &i, a, n, want_max)) != NN_OK) return rc;
  *result = (op == NN_ARGMAX || op == NN_ARGMIN) ? (double)i : (double)v;
  return NN_OK;
}

/* Population variance: mean first, then the mean of squared deviations,
** both in double (the one-pass E[x^2] - E[x]^2 cancels catastrophically). */
extern "C" int cuda_var_all (double *result, const float *a, size_t n) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (n == 0) return nn_seterr(NN_EARG, "variance of an empty tensor");
  double s, ss;
  if ((rc = sum_all(&s, a, n, 0.0, 0)) != NN_OK) return rc;
  if ((rc = sum_all(&ss, a, n, s / (double)n, 1)) != NN_OK) return rc;
  *result = ss / (double)n;
  return NN_OK;
}

/* Reductions along a dim.  a is (outer, n, inner); out[o, j] folds
** a[o, k, j] = a[(o*n + k)*inner + j] over k = 0 .. n-1.
**
** Launch: 2-D blocks of tx * ty = THREADS threads, tx = the power of two
** >= min(inner, 32), ty = THREADS / tx.  A tile is tx neighbouring j of one
** o: thread (x, y) folds k = y, y + ty, y + 2 ty, ... for j = j0 + x, so a
** warp reads tx consecutive floats (coalesced when inner is large), and with
** inner == 1 (a reduction along the last dim) all 256 threads share one row.
** Then the ty results of each column are folded in a tree over y (ty is a
** power of two).  Grid-stride over the outer * ceil(inner / tx) tiles. */

/* out[o, j] = sum_k a[o, k, j]   (divided by n when `mean`), in double */
static __global__ void reduce_dim_sum_kernel (float *out, const float *a, size_t outer, size_t n,
                                              size_t inner, int mean) {
  __shared__ double s[THREADS];
  unsigned tx = blockDim.x, ty = blockDim.y, x = threadIdx.x, y = threadIdx.y;
  size_t tiles_per_row = (inner + tx - 1) / tx;
  size_t ntiles = outer * tiles_per_row;
  for (size_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    size_t o = tile / tiles_per_row;
    size_t j = (tile % tiles_per_row) * tx + x;
    double acc = 0.0;
    if (j < inner)
      for (size_t k = y; k < n; k += ty) acc += (double)a[(o * n + k) * inner + j];
    s[y * tx + x] = acc;
    __syncthreads();
    for (unsigned half = ty / 2; half > 0; half >>= 1) {
      if (y < half) s[y * tx + x] += s[(y + half) * tx + x];
      __syncthreads();
    }
    if (y == 0 && j < inner) out[o * inner + j] = (float)(mean ? s[x] / (double)n : s[x]);
    __syncthreads();            /* s is written again by the next tile */
  }
}

/* out[o, j] = the extreme of a[o, k, j] over k (by ext_beats); or, when
** `iout` is not null, its k (0-based, an int32: n <= 2^31 - 1) in iout */
static __global__ void reduce_dim_ext_kernel (float *out, int32_t *iout, const float *a,
                                              size_t outer, size_t n, size_t inner,
                                              int want_max) {
  __shared__ float sv[THREADS];
  __shared__ size_t si[THREADS];
  unsigned tx = blockDim.x, ty = blockDim.y, x = threadIdx.x, y = threadIdx.y;
  unsigned t = y * tx + x;
  size_t tiles_per_row = (inner + tx - 1) / tx;
  size_t ntiles = outer * tiles_per_row;
  for (size_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    size_t o = tile / tiles_per_row;
    size_t j = (tile % tiles_per_row) * tx + x;
    float bv = 0.0f;
    size_t bk = NO_INDEX;
    if (j < inner)
      for (size_t k = y; k < n; k += ty) {
        float v = a[(o * n + k) * inner + j];
        if (ext_beats(v, k, bv, bk, want_max)) { bv = v; bk = k; }
      }
    sv[t] = bv;
    si[t] = bk;
    __syncthreads();
    for (unsigned half = ty / 2; half > 0; half >>= 1) {
      unsigned u = t + half * tx;            /* the same column, half rows down */
      if (y < half && ext_beats(sv[u], si[u], sv[t], si[t], want_max)) {
        sv[t] = sv[u];
        si[t] = si[u];
      }
      __syncthreads();
    }
    if (y == 0 && j < inner) {
      if (iout != NULL) iout[o * inner + j] = (int32_t)si[x];
      else out[o * inner + j] = sv[x];
    }
    __syncthreads();            /* sv, si are written again by the next tile */
  }
}

extern "C" int cuda_reduce_dim (void *out, const float *a, size_t outer, size_t n, size_t inner,
                                nn_redop op) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if ((unsigned)op >= NN_REDOP_COUNT) return nn_seterr(NN_EARG, "unknown reduction %d", (int)op);
  if (outer == 0 || inner == 0) return NN_OK;
  if (n == 0 && op != NN_SUM && op != NN_MEAN)
    return nn_seterr(NN_EARG, "%s over an empty dim", redop_name(op));
  unsigned tx = 1;
  while (tx < inner && tx < 32) tx *= 2;
  size_t ntiles = outer * ((inner + tx - 1) / tx);
  /* one block of tx * ty threads per tile, up to one wave of blocks */
  cuda_shape shape = { dim3(cuda_grid(ntiles)), dim3(tx, THREADS / tx) };
  int arg = op == NN_ARGMAX || op == NN_ARGMIN;     /* out holds int32 indices */
  if (op == NN_SUM || op == NN_MEAN)
    return cuda_run(shape, reduce_dim_sum_kernel, (float *)out, a, outer, n, inner,
                    op == NN_MEAN);
  return cuda_run(shape, reduce_dim_ext_kernel, arg ? (float *)NULL : (float *)out,
                  arg ? (int32_t *)out : (int32_t *)NULL, a, outer, n, inner,
                  op == NN_MAX || op == NN_ARGMAX);
}
