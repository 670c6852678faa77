/*
** backend.h -- what each device implements (internal to tensor/).
**
** tensor.c checks shapes and devices, then calls cpu_* (cpu.c) or cuda_*
** (tensor/cuda_*.cu).  These functions take raw pointers and sizes that are
** already known to be valid; they report only failures of the device itself
** (NN_ENOMEM, NN_ECUDA) through nn_seterr.
**
** Layouts.  The fast binary op has b of length bn dividing n: element i of
** out uses b[i % bn] (bn == n: same shape; bn == N: a bias row).  Every
** other broadcast walks a plan (broadcast.h); there an operand that is NULL
** stands for the number beside it, and `*_i32` says an operand is int32.  A reduction
** along a dim sees the input as (outer, n, inner) and writes (outer, inner).
*/
#ifndef NN_BACKEND_H
#define NN_BACKEND_H

#include "tensor.h"
#include "nn_cuda.h"   /* NN_CUDA_FN: the cuda_* of a build without CUDA */
#include "broadcast.h" /* nn_bcast: the plan of a broadcast op */

/* CPU (cpu.c) */
int cpu_fill (float *x, float value, size_t n);
int cpu_arange (float *x, double start, double step, size_t n);
int cpu_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo, float hi);
int cpu_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean, float std);
int cpu_binary (float *out, const float *a, const float *b, size_t n, size_t bn, nn_binop op);
int cpu_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op);
/* out (the plan's shape) = a (op) b, a and b operands 0 and 1 of p */
int cpu_binary_bcast (float *out, const float *a, const float *b, const nn_bcast *p, nn_binop op);
/* out = (a op b) as 1/0; b NULL: the number s.  a, b are float or int32 */
int cpu_compare (float *out, const void *a, int a_i32, const void *b, int b_i32, double s,
                 const nn_bcast *p, nn_cmpop op);
/* out = cond != 0 ? a : b; operands 0, 1, 2 of p; a (b) NULL: the number sa (sb) */
int cpu_where (float *out, const void *cond, int cond_i32, const float *a, float sa,
               const float *b, float sb, const nn_bcast *p);
/* out (n_out elements) = a summed down: p has a's shape, out as operand 0
** (stride 0 on the dims summed over) and a as operand 1 */
int cpu_sum_to (float *out, const float *a, const nn_bcast *p, size_t n_out);
int cpu_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q);
int cpu_unary_backward (float *grad_in, const float *grad_out, const float *s, size_t n,
                        nn_unop op, float p);
int cpu_reduce_all (double *result, const float *a, size_t n, nn_redop op);
/* 1 when none of the n floats at a is NaN or +-Inf (tensor_all_finite) */
int cpu_all_finite (const float *a, size_t n);
/* out: floats, or int32 0-based indices for NN_ARGMAX / NN_ARGMIN */
int cpu_reduce_dim (void *out, const float *a, size_t outer, size_t n, size_t inner, nn_redop op);
int cpu_var_all (double *result, const float *a, size_t n);
int cpu_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                int trans_a, int trans_b, int lda, int ldb, float alpha, float beta);
/* Conversions between dtypes (tensor_copy).  f32_to_i32 truncates toward
** zero; a nan, an inf or a value outside int32's range is not converted:
** *bad is then the position of the first such element (else -1). */
void cpu_i32_to_f32 (float *dst, const int32_t *src, size_t n);
void cpu_f32_to_i32 (int32_t *dst, const float *src, size_t n, int64_t *bad);
NN_CUDA_FN(int cuda_i32_to_f32 (float *dst, const int32_t *src, size_t n))
NN_CUDA_FN_ELSE(int cuda_f32_to_i32 (int32_t *dst, const float *src, size_t n, int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)
/* The GEMM and GEMV of cpu_matmul, in tiles over the OpenMP threads
** (cpu_gemm.c): the same bits at any thread count; see there. */
void cpu_gemm (float *out, const float *a, const float *b, int M, int N, int K, int trans_a,
               int trans_b, int lda, int ldb, float alpha, float beta);
void cpu_gemv (float *out, const float *a, const float *b, int N, int K, int trans_b, int ldb,
               float alpha, float beta);
/* x = a permutation of base .. base+n-1 from Philox blocks block0.. (tensor_randperm);
** x is int32 when i32, else float32 */
int cpu_randperm (void *x, int i32, size_t n, uint64_t seed, uint64_t block0, int base);

/* CUDA, declared with NN_CUDA_FN (nn_cuda.h): without CUDA, the error-code
** functions fail with NN_EDEVICE, and the rest answer "none" as their stub
** says.  Where each is defined:
**   cuda_alloc.cu        availability, the caching allocator, device queries
**   cuda_elementwise.cu  copies, fill and random numbers, unary and binary
**                        ops, the broadcast ops (binary, compare, where,
**                        sum_to), gathering rows and one-hot rows
**   cuda_reduce.cu       reductions
**   cuda_gemm.cu         matmul (cuBLAS) */
NN_CUDA_FN_ELSE(int cuda_available (char *reason, size_t len),    /* 1, or 0 and why */
                if (reason != NULL && len > 0) snprintf(reason, len, "%s", NN_NO_CUDA);
                return 0;)
NN_CUDA_FN_ELSE(int cuda_malloc (float **p, size_t n),            /* n floats */
                *p = NULL;
                return nn_no_cuda();)
/* Nothing can have come from cuda_malloc without CUDA: nothing to free. */
NN_CUDA_FN_ELSE(void cuda_free (float *p), return;)
/* bytes in live blocks, at their rounded size */
NN_CUDA_FN_ELSE(size_t cuda_memory_allocated (void), return 0;)
/* bytes taken from cudaMalloc: live + cached */
NN_CUDA_FN_ELSE(size_t cuda_memory_reserved (void), return 0;)
/* cudaFree every cached block */
NN_CUDA_FN_ELSE(void cuda_empty_cache (void), return;)
/* see tensor.h */
NN_CUDA_FN_ELSE(void cuda_set_oom_hook (void (*hook) (void *ud), void *ud), return;)
/* 0 when cuda_available() says no */
NN_CUDA_FN_ELSE(int cuda_device_count (void), return 0;)
/* wait for the stream; without CUDA nothing was queued */
NN_CUDA_FN_ELSE(int cuda_synchronize (void), return NN_OK;)
/* n floats between host and device in either direction, or device to device */
NN_CUDA_FN(int cuda_memcpy (float *dst, nn_device dst_dev, const float *src, nn_device src_dev,
                            size_t n))
NN_CUDA_FN(int cuda_fill (float *x, float value, size_t n))
NN_CUDA_FN(int cuda_arange (float *x, double start, double step, size_t n))
NN_CUDA_FN(int cuda_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo,
                             float hi))
NN_CUDA_FN(int cuda_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean,
                            float std))
NN_CUDA_FN(int cuda_binary (float *out, const float *a, const float *b, size_t n, size_t bn,
                            nn_binop op))
NN_CUDA_FN(int cuda_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op))
NN_CUDA_FN(int cuda_binary_bcast (float *out, const float *a, const float *b, const nn_bcast *p,
                                  nn_binop op))
NN_CUDA_FN(int cuda_compare (float *out, const void *a, int a_i32, const void *b, int b_i32,
                             double s, const nn_bcast *p, nn_cmpop op))
NN_CUDA_FN(int cuda_where (float *out, const void *cond, int cond_i32, const float *a, float sa,
                           const float *b, float sb, const nn_bcast *p))
NN_CUDA_FN(int cuda_sum_to (float *out, const float *a, const nn_bcast *p, size_t n_out))
NN_CUDA_FN(int cuda_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q))
NN_CUDA_FN(int cuda_unary_backward (float *grad_in, const float *grad_out, const float *s,
                                    size_t n, nn_unop op, float p))
NN_CUDA_FN(int cuda_reduce_all (double *result, const float *a, size_t n, nn_redop op))
NN_CUDA_FN(int cuda_reduce_dim (void *out, const float *a, size_t outer, size_t n, size_t inner,
                                nn_redop op))
NN_CUDA_FN(int cuda_var_all (double *result, const float *a, size_t n))
NN_CUDA_FN(int cuda_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                            int trans_a, int trans_b, int lda, int ldb, float alpha, float beta))

/* Gathering rows and one-hot rows, on either device (cpu_* in cpu.c,
** cuda_* in cuda_elementwise.cu).  An index or label that is not a whole
** number in range is not an error of the device: the function returns NN_OK
** with the position (0-based) of the first bad one in *bad, or -1 when all
** are good, and tensor.c writes the message.  Indices and labels are int32
** (i32) or float32 (index.h, index_at); src and out may be either dtype
** (4-byte elements moved as they are).
**   index_select: src is (rows, row_len), idx has k entries counted from
**   base, out is (k, row_len).
**   one_hot: labels has b entries in 1..c, out is (b, c). */
int cpu_index_select (float *out, const float *src, const void *idx, int i32, size_t k,
                      size_t rows, size_t row_len, int base, int64_t *bad);
int cpu_one_hot (float *out, const void *labels, int i32, size_t b, size_t c, int64_t *bad);
NN_CUDA_FN_ELSE(int cuda_index_select (float *out, const float *src, const void *idx, int i32,
                                       size_t k, size_t rows, size_t row_len, int base,
                                       int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)
NN_CUDA_FN_ELSE(int cuda_one_hot (float *out, const void *labels, int i32, size_t b, size_t c,
                                  int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)

/* Index ops, sorting and sampling (tensor_index_shift ... tensor_bernoulli
** in tensor.h): cpu_* in index.c, cuda_* in cuda_index.cu.  Layout
** (outer, n, inner) as the reductions; an index array is int32 (i32) or
** float32, read with index.h's index_at.
**   check_index: *bad = the first of the count indices not in base ..
**     base+n-1 (or not whole), or -1.  The others take checked indices.
**   take:    out[o, j, i] = src[o, idx[q] - base, i], out (outer, k, inner),
**            src (outer, n, inner), q = (o k + j) inner + i when per_elem
**            (gather) else j (index_select along a dim); 4-byte elements.
**   put_add: out[o, idx[q] - base, i] += src[o, j, i], src (outer, k, inner),
**            out (outer, n, inner), q as take's (scatter_add, index_add).
**   sort_host, sort_rows: values, indices (outer, k, inner) = the first k
**            of each row of a (outer, n, inner) in sort_before's order;
**            cuda_sort_rows takes rows of n <= SORT_SMEM_MAX (index.h) only.
**   multinomial: out (b, n) from probs (b, c), every row checked before
**            any is drawn: *bad = 4 r + why for the first bad row r (why 0:
**            a weight negative, inf or nan; 1: no positive weight; 2: fewer
**            than n of them without replacement; out unwritten), or -1.
**   bernoulli: *bad = the first p outside [0, 1] or nan (out unwritten),
**            else out[i] = u_i < p[i]. */
int cpu_index_shift (int32_t *x, size_t n, int32_t delta);
int cpu_check_index (const void *idx, int i32, size_t count, int base, int64_t n, int64_t *bad);
int cpu_take (void *out, const void *src, const void *idx, int i32, int per_elem, size_t outer,
              size_t n, size_t k, size_t inner, int base);
int cpu_put_add (float *out, const float *src, const void *idx, int i32, int per_elem,
                 size_t outer, size_t n, size_t k, size_t inner, int base);
int cpu_sort_host (float *values, int32_t *indices, const float *a, size_t outer, size_t n,
                   size_t inner, size_t k, int descending, int base);
int cpu_multinomial (int32_t *out, const float *probs, size_t b, size_t c, size_t n,
                     int replacement, uint64_t seed, uint64_t block0, int base, int64_t *bad);
int cpu_bernoulli (float *out, const float *p, size_t n, uint64_t seed, uint64_t block0,
                   int64_t *bad);
NN_CUDA_FN(int cuda_index_shift (int32_t *x, size_t n, int32_t delta))
NN_CUDA_FN(int cuda_sort_rows (float *values, int32_t *indices, const float *a, size_t outer,
                               size_t n, size_t inner, size_t k, int descending, int base))
NN_CUDA_FN_ELSE(int cuda_check_index (const void *idx, int i32, size_t count, int base, int64_t n,
                                      int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)
NN_CUDA_FN(int cuda_take (void *out, const void *src, const void *idx, int i32, int per_elem,
                          size_t outer, size_t n, size_t k, size_t inner, int base))
NN_CUDA_FN(int cuda_put_add (float *out, const float *src, const void *idx, int i32,
                             int per_elem, size_t outer, size_t n, size_t k, size_t inner,
                             int base))
NN_CUDA_FN_ELSE(int cuda_multinomial (int32_t *out, const float *probs, size_t b, size_t c,
                                      size_t n, int replacement, uint64_t seed, uint64_t block0,
                                      int base, int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)
NN_CUDA_FN_ELSE(int cuda_bernoulli (float *out, const float *p, size_t n, uint64_t seed,
                                    uint64_t block0, int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)
/* --- batched matmul and the math reductions (t-math) ------------------------
** Batched matmul (tensor_matmul on 3- to 5-D, tensor.c): nbatch dims of the
** batch, sizes size[], and the step in floats from one matrix of a (of b)
** to the next along each, 0 where a broadcast dim reads one matrix again.
** Matrix t of out (t flat over the batch, row-major) is at out + t*M*N.
** The rest of the arguments as cpu_matmul's.  cpu.c: a cblas_sgemm per
** matrix; cuda_gemm.cu: cublasSgemmStridedBatched over the last batch dim,
** one call per index of the others. */
int cpu_matmul_batched (float *out, const float *a, const float *b, int M, int N, int K,
                        int trans_a, int trans_b, int lda, int ldb, float alpha, float beta,
                        int nbatch, const int64_t *size, const int64_t *stride_a,
                        const int64_t *stride_b);
NN_CUDA_FN(int cuda_matmul_batched (float *out, const float *a, const float *b, int M, int N,
                                    int K, int trans_a, int trans_b, int lda, int ldb,
                                    float alpha, float beta, int nbatch, const int64_t *size,
                                    const int64_t *stride_a, const int64_t *stride_b))

/* The line ops of reduce_ext.c: a seen as (outer, n, inner), each of the
** outer * inner lines a[o, 0..n-1, j] (stride inner) folded or mapped by
** the NN_HD formulas of reduce_ext.h.
**   *_line_reduce: out (outer, inner) = norm (with p), prod or logsumexp
**     of each line; *_line_reduce_all: the same over n floats, as a double.
**   *_line_map: out (outer, n, inner) = cumsum, softmax or log_softmax of
**     each line, out may be a.
** cpu_* in reduce_ext.c (OpenMP over the lines), cuda_* in
** cuda_reduce_ext.cu (one CUDA thread per line). */
typedef enum nn_lineop {
  NN_LINE_NORM, NN_LINE_PROD, NN_LINE_LOGSUMEXP,            /* reductions */
  NN_LINE_CUMSUM, NN_LINE_SOFTMAX, NN_LINE_LOG_SOFTMAX      /* maps */
} nn_lineop;
int cpu_line_reduce (float *out, const float *a, size_t outer, size_t n, size_t inner,
                     nn_lineop op, double p);
int cpu_line_reduce_all (double *result, const float *a, size_t n, nn_lineop op, double p);
int cpu_line_map (float *out, const float *a, size_t outer, size_t n, size_t inner, nn_lineop op);
NN_CUDA_FN(int cuda_line_reduce (float *out, const float *a, size_t outer, size_t n, size_t inner,
                                 nn_lineop op, double p))
NN_CUDA_FN(int cuda_line_reduce_all (double *result, const float *a, size_t n, nn_lineop op,
                                     double p))
NN_CUDA_FN(int cuda_line_map (float *out, const float *a, size_t outer, size_t n, size_t inner,
                              nn_lineop op))
/* --- shape (tensor/shape.c, tensor/cpu_shape.c, tensor/cuda_shape.cu) ----
** Every copying shape op is one strided copy: for each index (i_0 .. i_n-1)
** of `shape`, dst[sum i_d dst_stride[d]] = src[sum i_d src_stride[d]], in
** elements of 4 bytes (either dtype: the bits move, nothing converts).  A
** zero src stride repeats (expand), two orders of strides transpose, a
** tile has twice the dims (a rep dim of src stride 0 before each dim), so
** up to 10.  shape.c coalesces dims first (size-1 dims gone, neighbours
** contiguous on both sides merged), so a transpose reaches the backend as
** (R, C) whatever its batch.  n = 0 is one element. */
#define NN_STRIDED_MAXDIM (2 * NN_MAXDIM)
typedef struct nn_strided {
  int ndim;
  int64_t shape[NN_STRIDED_MAXDIM];
  int64_t dst_stride[NN_STRIDED_MAXDIM];
  int64_t src_stride[NN_STRIDED_MAXDIM];
} nn_strided;
int cpu_strided_copy (float *dst, const float *src, const nn_strided *s);
NN_CUDA_FN(int cuda_strided_copy (float *dst, const float *src, const nn_strided *s))
/* out = x with (r, c) of each (rows, cols) matrix kept when nn_tri_keep
** (shape_math.h) says so, else 0 (the bits 0: 0.0f or 0); out may be x. */
int cpu_tri (float *out, const float *x, size_t batch, size_t rows, size_t cols, int64_t k,
             int upper);
NN_CUDA_FN(int cuda_tri (float *out, const float *x, size_t batch, size_t rows, size_t cols,
                         int64_t k, int upper))

#endif
