/*
** backend.h -- what each device implements (internal to tensor/).
**
** tensor.c checks shapes and devices, then calls cpu_* (cpu.c) or cuda_*
** (tensor/cuda_*.cu).  These functions take raw pointers and sizes that are
** already known to be valid; they report only failures of the device itself
** (NN_ENOMEM, NN_ECUDA) through nn_seterr.
**
** Layouts.  A broadcast binary op has b of length bn dividing n: element i of
** out uses b[i % bn] (bn == n: same shape; bn == N: a bias row).  A reduction
** along a dim sees the input as (outer, n, inner) and writes (outer, inner).
*/
#ifndef NN_BACKEND_H
#define NN_BACKEND_H

#include "tensor.h"
#include "nn_cuda.h"   /* NN_CUDA_FN: the cuda_* of a build without CUDA */

/* CPU (cpu.c) */
int cpu_fill (float *x, float value, size_t n);
int cpu_arange (float *x, double start, double step, size_t n);
int cpu_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo, float hi);
int cpu_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean, float std);
int cpu_binary (float *out, const float *a, const float *b, size_t n, size_t bn, nn_binop op);
int cpu_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op);
int cpu_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q);
int cpu_unary_backward (float *grad_in, const float *grad_out, const float *s, size_t n,
                        nn_unop op, float p);
int cpu_reduce_all (double *result, const float *a, size_t n, nn_redop op);
int cpu_reduce_dim (float *out, const float *a, size_t outer, size_t n, size_t inner, nn_redop op);
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
/* x = a permutation of base .. base+n-1 from Philox blocks block0.. (tensor_randperm) */
int cpu_randperm (float *x, size_t n, uint64_t seed, uint64_t block0, int base);

/* CUDA, declared with NN_CUDA_FN (nn_cuda.h): without CUDA, the error-code
** functions fail with NN_EDEVICE, and the rest answer "none" as their stub
** says.  Where each is defined:
**   cuda_alloc.cu        availability, the caching allocator, device queries
**   cuda_elementwise.cu  copies, fill and random numbers, unary and binary
**                        ops, gathering rows and one-hot rows
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
NN_CUDA_FN(int cuda_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q))
NN_CUDA_FN(int cuda_unary_backward (float *grad_in, const float *grad_out, const float *s,
                                    size_t n, nn_unop op, float p))
NN_CUDA_FN(int cuda_reduce_all (double *result, const float *a, size_t n, nn_redop op))
NN_CUDA_FN(int cuda_reduce_dim (float *out, const float *a, size_t outer, size_t n, size_t inner,
                                nn_redop op))
NN_CUDA_FN(int cuda_var_all (double *result, const float *a, size_t n))
NN_CUDA_FN(int cuda_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                            int trans_a, int trans_b, int lda, int ldb, float alpha, float beta))

/* Gathering rows and one-hot rows, on either device (cpu_* in cpu.c,
** cuda_* in cuda_elementwise.cu).  An index or label that is not a whole
** number in range is not an error of the device: the function returns NN_OK
** with the position (0-based) of the first bad one in *bad, or -1 when all
** are good, and tensor.c writes the message.
**   index_select: src is (rows, row_len), idx has k entries counted from
**   base, out is (k, row_len).
**   one_hot: labels has b entries in 1..c, out is (b, c). */
int cpu_index_select (float *out, const float *src, const float *idx, size_t k, size_t rows,
                      size_t row_len, int base, int64_t *bad);
int cpu_one_hot (float *out, const float *labels, size_t b, size_t c, int64_t *bad);
NN_CUDA_FN_ELSE(int cuda_index_select (float *out, const float *src, const float *idx, size_t k,
                                       size_t rows, size_t row_len, int base, int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)
NN_CUDA_FN_ELSE(int cuda_one_hot (float *out, const float *labels, size_t b, size_t c,
                                  int64_t *bad),
                *bad = -1;
                return nn_no_cuda();)

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
