/*
** cuda_elementwise.cu -- the CUDA kernels that touch each element on its
** own: copies, fill, arange and random numbers, the unary and binary ops
** (and the unary ops' backward), gathering rows and one-hot rows.
**
** tensor.c has already checked shapes and devices; here every pointer is a
** valid device pointer for n floats, and we report only failures of the
** device itself (NN_EDEVICE when there is no GPU, NN_ENOMEM, NN_ECUDA).
** Every kernel and copy goes on the one stream (cuda_alloc.cu), and every
** launch through cuda_run (cuda_util.cuh).
**
** The per-element formulas come from elementwise.h and philox.h, the very
** functions cpu.c calls, so a kernel here differs from the CPU loop only in
** how the work is spread over threads.
*/
#include <string.h>

#include "cuda_util.cuh"   /* CUDA_TRY, GRID_STRIDE, cuda_run, flag_bad */
#include "broadcast.h"     /* nn_bcast, nn_bcast_offset: included here, outside extern "C" */
extern "C" {
#include "backend.h"
}
#include "philox.h"
#include "index.h"      /* index_at: the index test of cpu.c too */

/* --- copies ------------------------------------------------------------------------ */

/* n floats from src to dst.  A copy that touches host memory waits until it
** is done, so the host buffer may be read, reused or freed on return.  Two
** device ranges that overlap (views of one storage) go through a scratch
** block, as memmove would, since cudaMemcpy leaves overlap undefined. */
extern "C" int cuda_memcpy (float *dst, nn_device dst_dev, const float *src, nn_device src_dev,
                            size_t n) {
  size_t bytes = n * sizeof(float);
  if (dst_dev == NN_CPU && src_dev == NN_CPU) {
    if (n > 0) memmove(dst, src, bytes);
    return NN_OK;
  }
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  cudaStream_t stream = cuda_stream();
  if (dst_dev == NN_CUDA && src_dev == NN_CUDA) {
    if (dst == src) return NN_OK;
    if (dst < src + n && src < dst + n) {    /* overlap */
      void *tmp;
      if ((rc = cuda_scratch_alloc(&tmp, bytes)) != NN_OK) return rc;
      cudaError_t err = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream);
      if (err == cudaSuccess)
        err = cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream);
      cuda_scratch_free(tmp);                /* stream order: safe to reuse after these */
      CUDA_TRY(err);
      return NN_OK;
    }
    CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    return NN_OK;
  }
  cudaMemcpyKind kind = dst_dev == NN_CPU ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
  CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, kind, stream));
  CUDA_TRY(cudaStreamSynchronize(stream));
  return NN_OK;
}

/* --- filling and random numbers ---------------------------------------------------
** Launch shape of all the element-wise kernels (cuda_run over n items):
** 1-D, THREADS per block, up to one wave of blocks, each thread stepping by
** the whole grid (gridDim.x * blockDim.x) until it passes n. */

/* x[i] = value */
static __global__ void fill_kernel (float *x, float value, size_t n) {
  GRID_STRIDE(i, n)
    x[i] = value;
}

/* x[i] = start + i * step, in double, then rounded to float.  __dmul_rn and
** __dadd_rn keep nvcc from fusing them into one fma, which would round once
** where cpu.c rounds twice: this way both give the same bits. */
static __global__ void arange_kernel (float *x, double start, double step, size_t n) {
  GRID_STRIDE(i, n)
    x[i] = (float)__dadd_rn(start, __dmul_rn((double)i, step));
}

/* x[i] = lo + (hi - lo) * u01(r[i % 4]),  r = Philox(seed, block0 + i / 4).
** Launch: one thread per Philox block (4 elements), grid-stride over the
** ceil(n / 4) blocks.  Unfused multiply and add, as in cpu.c: the same bits. */
static __global__ void uniform_kernel (float *x, size_t n, uint64_t seed, uint64_t block0,
                                       float lo, float hi) {
  size_t nblocks = (n + 3) / 4;
  float range = hi - lo;
  GRID_STRIDE(b, nblocks) {
    uint32_t r[4];
    philox_block(r, seed, block0 + b);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      x[4 * b + lane] = __fadd_rn(lo, __fmul_rn(range, philox_u01(r[lane])));
  }
}

/* x[i] = mean + std * z(r, i % 4),  z: Box-Muller on the block's lanes
** (philox_normal).  Launch as uniform_kernel.  The uniforms are the CPU's
** bits; logf, sinf and cosf of the GPU may differ from the C library's by
** an ulp or two, so normals agree to float rounding, not bit for bit. */
static __global__ void normal_kernel (float *x, size_t n, uint64_t seed, uint64_t block0,
                                      float mean, float stddev) {
  size_t nblocks = (n + 3) / 4;
  GRID_STRIDE(b, nblocks) {
    uint32_t r[4];
    philox_block(r, seed, block0 + b);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      x[4 * b + lane] = __fadd_rn(mean, __fmul_rn(stddev, philox_normal(r, lane)));
  }
}

extern "C" int cuda_fill (float *x, float value, size_t n) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  return cuda_run(n, fill_kernel, x, value, n);
}

extern "C" int cuda_arange (float *x, double start, double step, size_t n) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  return cuda_run(n, arange_kernel, x, start, step, n);
}

extern "C" int cuda_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo,
                             float hi) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  return cuda_run((n + 3) / 4, uniform_kernel, x, n, seed, block0, lo, hi);
}

extern "C" int cuda_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean,
                            float stddev) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  return cuda_run((n + 3) / 4, normal_kernel, x, n, seed, block0, mean, stddev);
}

/* --- element-wise ------------------------------------------------------------------
** The op is a kernel argument: every thread of a warp takes the same branch
** of nn_binary_eval's switch, so it costs nothing next to the memory traffic. */

/* out[i] = a[i] (op) b[i % bn].  bn == n: same shapes (no division needed);
** bn < n: b is a row repeated over a's rows (the bias add).  out may be a,
** or b when bn == n: each element reads only its own inputs. */
static __global__ void binary_kernel (float *out, const float *a, const float *b, size_t n,
                                      size_t bn, int op) {
  GRID_STRIDE(i, n)
    out[i] = nn_binary_eval(op, a[i], b[bn == n ? i : i % bn]);
}

/* out[i] = a[i] (op) s */
static __global__ void binary_scalar_kernel (float *out, const float *a, float s, size_t n,
                                             int op) {
  GRID_STRIDE(i, n)
    out[i] = nn_binary_eval(op, a[i], s);
}

/* out[i] = f(a[i]; p, q) */
static __global__ void unary_kernel (float *out, const float *a, size_t n, int op, float p,
                                     float q) {
  GRID_STRIDE(i, n)
    out[i] = nn_unary_eval(op, a[i], p, q);
}

/* grad_in[i] = grad_out[i] * f'(s[i]) */
static __global__ void unary_backward_kernel (float *grad_in, const float *grad_out,
                                              const float *s, size_t n, int op, float p) {
  GRID_STRIDE(i, n)
    grad_in[i] = nn_unary_backward_eval(op, grad_out[i], s[i], p);
}

extern "C" int cuda_binary (float *out, const float *a, const float *b, size_t n, size_t bn,
                            nn_binop op) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  if (bn == 0 || n % bn != 0)
    return nn_seterr(NN_EARG, "binary op: b's length %zu does not divide %zu", bn, n);
  return cuda_run(n, binary_kernel, out, a, b, n, bn, (int)op);
}

extern "C" int cuda_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  return cuda_run(n, binary_scalar_kernel, out, a, s, n, (int)op);
}

extern "C" int cuda_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_UNOP_COUNT) return nn_seterr(NN_EARG, "unknown unary op %d", (int)op);
  return cuda_run(n, unary_kernel, out, a, n, (int)op, p, q);
}

extern "C" int cuda_unary_backward (float *grad_in, const float *grad_out, const float *s,
                                    size_t n, nn_unop op, float p) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if (op != NN_RELU && op != NN_LEAKY_RELU && op != NN_SIGMOID && op != NN_TANH)
    return nn_seterr(NN_EARG, "unary op %d has no backward", (int)op);
  return cuda_run(n, unary_backward_kernel, grad_in, grad_out, s, n, (int)op, p);
}

/* --- broadcast ops: walking a plan (broadcast.h) -----------------------------------
** One thread per output element, grid-stride; each thread finds its
** operands' elements with nn_bcast_offset (a division per dim of the
** coalesced plan: at most 5, and 1 or 2 for the usual shapes).  The plan is
** a kernel argument, by value.  tensor.c sends the same-shape and bias-row
** cases to binary_kernel above, which needs no division. */

/* out[i] = a[.] (op) b[.] */
static __global__ void binary_bcast_kernel (float *out, const float *a, const float *b,
                                            nn_bcast p, size_t n, int op) {
  GRID_STRIDE(i, n)
    out[i] = nn_binary_eval(op, a[nn_bcast_offset(&p, 0, (int64_t)i)],
                            b[nn_bcast_offset(&p, 1, (int64_t)i)]);
}

/* element j of a float32 or int32 operand, as a double (exact for both) */
static __device__ __forceinline__ double load_f64 (const void *x, int i32, int64_t j) {
  return i32 ? (double)((const int32_t *)x)[j] : (double)((const float *)x)[j];
}

/* out[i] = (a[.] op b[.]) as 1/0; b NULL: the number s */
static __global__ void compare_kernel (float *out, const void *a, int a_i32, const void *b,
                                       int b_i32, double s, nn_bcast p, size_t n, int op) {
  GRID_STRIDE(i, n) {
    double x = load_f64(a, a_i32, nn_bcast_offset(&p, 0, (int64_t)i));
    double y = b != NULL ? load_f64(b, b_i32, nn_bcast_offset(&p, 1, (int64_t)i)) : s;
    out[i] = nn_compare_eval(op, x, y);
  }
}

/* out[i] = cond[.] != 0 ? a[.] : b[.]; a (b) NULL: the number sa (sb) */
static __global__ void where_kernel (float *out, const void *cond, int cond_i32, const float *a,
                                     float sa, const float *b, float sb, nn_bcast p, size_t n) {
  GRID_STRIDE(i, n) {
    int64_t c = nn_bcast_offset(&p, 0, (int64_t)i);
    float cv = cond_i32 ? (float)((const int32_t *)cond)[c] : ((const float *)cond)[c];
    float x = a != NULL ? a[nn_bcast_offset(&p, 1, (int64_t)i)] : sa;
    float y = b != NULL ? b[nn_bcast_offset(&p, 2, (int64_t)i)] : sb;
    out[i] = nn_where(cv, x, y);
  }
}

/* out[k] = the sum of the elements of a that out[k] stretches over.  One
** thread per element of out: the plan's dims where out's stride (operand 0)
** is nonzero are out's own, in its order, so k decomposes over them; the
** rest are summed over, in a's memory order (the order cpu_sum_to adds
** them in), in double.  For a bias gradient (B, N) -> (N), neighbouring
** threads read neighbouring columns: the reads coalesce. */
static __global__ void sum_to_kernel (float *out, const float *a, nn_bcast p, size_t n_out) {
  GRID_STRIDE(k, n_out) {
    int64_t rest = (int64_t)k, base = 0, m_count = 1;
    for (int d = p.ndim - 1; d >= 0; d--) {
      if (p.stride[0][d] == 0) { m_count *= p.shape[d]; continue; }
      int64_t q = rest / p.shape[d];
      base += (rest - q * p.shape[d]) * p.stride[1][d];
      rest = q;
    }
    double s = 0.0;
    for (int64_t m = 0; m < m_count; m++) {
      int64_t r = m, off = base;
      for (int d = p.ndim - 1; d >= 0; d--) {
        if (p.stride[0][d] != 0) continue;
        int64_t q = r / p.shape[d];
        off += (r - q * p.shape[d]) * p.stride[1][d];
        r = q;
      }
      s += (double)a[off];
    }
    out[k] = (float)s;
  }
}

static size_t plan_numel (const nn_bcast *p) {
  size_t n = 1;
  for (int d = 0; d < p->ndim; d++) n *= (size_t)p->shape[d];
  return n;
}

extern "C" int cuda_binary_bcast (float *out, const float *a, const float *b, const nn_bcast *p,
                                  nn_binop op) {
  size_t n = plan_numel(p);
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  return cuda_run(n, binary_bcast_kernel, out, a, b, *p, n, (int)op);
}

extern "C" int cuda_compare (float *out, const void *a, int a_i32, const void *b, int b_i32,
                             double s, const nn_bcast *p, nn_cmpop op) {
  size_t n = plan_numel(p);
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_CMPOP_COUNT) return nn_seterr(NN_EARG, "unknown comparison %d", (int)op);
  return cuda_run(n, compare_kernel, out, a, a_i32, b, b_i32, s, *p, n, (int)op);
}

extern "C" int cuda_where (float *out, const void *cond, int cond_i32, const float *a, float sa,
                           const float *b, float sb, const nn_bcast *p) {
  size_t n = plan_numel(p);
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  return cuda_run(n, where_kernel, out, cond, cond_i32, a, sa, b, sb, *p, n);
}

extern "C" int cuda_sum_to (float *out, const float *a, const nn_bcast *p, size_t n_out) {
  int rc = cuda_ready();
  if (rc != NN_OK || n_out == 0) return rc;
  return cuda_run(n_out, sum_to_kernel, out, a, *p, n_out);
}

/* --- gathering and one-hot ---------------------------------------------------------
** Launch as the element-wise kernels: one thread per output float,
** grid-stride.  A kernel cannot return an error, so a thread that meets an
** index out of range (or not a whole number) writes nothing and records its
** row with flag_bad (cuda_util.cuh): afterwards the flag holds the first bad row,
** the very one cpu.c's loop stops at.  Reading it back waits for the
** stream, so each call synchronises once: one gather per batch, cheap next
** to the batch's forward and backward. */

/* Indices are read and checked by index.h's index_at (int32 or float32),
** the function cpu.c's loops call. */

/* out[i][j] = src[idx[i] - base][j];  out: (k, row_len), src: (rows, row_len) */
static __global__ void index_select_kernel (float *out, const float *src, const void *idx,
                                            int i32, size_t k, size_t rows, size_t row_len,
                                            int base) {
  size_t n = k * row_len;
  GRID_STRIDE(e, n) {
    size_t i = e / row_len, j = e - i * row_len;
    int64_t r = index_at(idx, i32, i, base, (int64_t)rows);
    if (r < 0) {
      flag_bad(i);
      continue;
    }
    out[e] = src[(size_t)r * row_len + j];
  }
}

/* out[i][j] = (j + 1 == labels[i]);  out: (b, c) */
static __global__ void one_hot_kernel (float *out, const void *labels, int i32, size_t b,
                                       size_t c) {
  size_t n = b * c;
  GRID_STRIDE(e, n) {
    size_t i = e / c, j = e - i * c;
    int64_t l = index_at(labels, i32, i, 1, (int64_t)c);
    if (l < 0) flag_bad(i);
    out[e] = (int64_t)j == l ? 1.0f : 0.0f;
  }
}

extern "C" int cuda_index_select (float *out, const float *src, const void *idx, int i32,
                                  size_t k, size_t rows, size_t row_len, int base,
                                  int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || k == 0 || row_len == 0) return rc;
  return cuda_run_checked(k * row_len, bad, index_select_kernel, out, src, idx, i32, k, rows,
                          row_len, base);
}

extern "C" int cuda_one_hot (float *out, const void *labels, int i32, size_t b, size_t c,
                             int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || b == 0) return rc;
  if (c == 0) {     /* no columns to write: only the labels to check, and 1..0 holds none */
    *bad = 0;
    return NN_OK;
  }
  return cuda_run_checked(b * c, bad, one_hot_kernel, out, labels, i32, b, c);
}
