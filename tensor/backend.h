/*
** backend.h -- what each device implements (internal to tensor/).
**
** tensor.c checks shapes and devices, then calls cpu_* (cpu.c) or cuda_*
** (cuda_*.cu; cuda_none.c when nnlua is built without nvcc).  These functions
** take raw pointers and sizes that are already known to be valid; they
** report only failures of the device itself (NN_ENOMEM, NN_ECUDA) through
** nn_seterr.
**
** Layouts.  A broadcast binary op has b of length bn dividing n: element i of
** out uses b[i % bn] (bn == n: same shape; bn == N: a bias row).  A reduction
** along a dim sees the input as (outer, n, inner) and writes (outer, inner).
*/
#ifndef NN_BACKEND_H
#define NN_BACKEND_H

#include "tensor.h"

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
/* x = a permutation of base .. base+n-1 from Philox blocks block0.. (tensor_randperm) */
int cpu_randperm (float *x, size_t n, uint64_t seed, uint64_t block0, int base);

/* CUDA (cuda_none.c without nvcc), defined in
**   cuda_alloc.cu        availability, the caching allocator, device queries
**   cuda_elementwise.cu  copies, fill and random numbers, unary and binary
**                        ops, gathering rows and one-hot rows
**   cuda_reduce.cu       reductions
**   cuda_gemm.cu         matmul (cuBLAS) */
int cuda_available (char *reason, size_t len);
int cuda_malloc (float **p, size_t n);          /* n floats */
void cuda_free (float *p);
size_t cuda_memory_allocated (void);   /* bytes in live blocks, at their rounded size */
size_t cuda_memory_reserved (void);    /* bytes taken from cudaMalloc: live + cached */
void cuda_empty_cache (void);          /* cudaFree every cached block */
void cuda_set_oom_hook (void (*hook) (void *ud), void *ud);   /* see tensor.h */
int cuda_device_count (void);          /* 0 when cuda_available() says no */
int cuda_synchronize (void);           /* wait for the stream */
/* n floats between host and device in either direction, or device to device */
int cuda_memcpy (float *dst, nn_device dst_dev, const float *src, nn_device src_dev, size_t n);
int cuda_fill (float *x, float value, size_t n);
int cuda_arange (float *x, double start, double step, size_t n);
int cuda_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo, float hi);
int cuda_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean, float std);
int cuda_binary (float *out, const float *a, const float *b, size_t n, size_t bn, nn_binop op);
int cuda_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op);
int cuda_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q);
int cuda_unary_backward (float *grad_in, const float *grad_out, const float *s, size_t n,
                         nn_unop op, float p);
int cuda_reduce_all (double *result, const float *a, size_t n, nn_redop op);
int cuda_reduce_dim (float *out, const float *a, size_t outer, size_t n, size_t inner, nn_redop op);
int cuda_var_all (double *result, const float *a, size_t n);
int cuda_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                 int trans_a, int trans_b, int lda, int ldb, float alpha, float beta);

/* Gathering rows and one-hot rows, on either device (cpu_* in cpu.c,
** cuda_* in cuda_elementwise.cu).  An index or label that is not a whole number in
** range is not an error of the device: the function returns NN_OK with the
** position (0-based) of the first bad one in *bad, or -1 when all are good,
** and tensor.c writes the message.
**   index_select: src is (rows, row_len), idx has k entries counted from
**   base, out is (k, row_len).
**   one_hot: labels has b entries in 1..c, out is (b, c). */
int cpu_index_select (float *out, const float *src, const float *idx, size_t k, size_t rows,
                      size_t row_len, int base, int64_t *bad);
int cpu_one_hot (float *out, const float *labels, size_t b, size_t c, int64_t *bad);
int cuda_index_select (float *out, const float *src, const float *idx, size_t k, size_t rows,
                       size_t row_len, int base, int64_t *bad);
int cuda_one_hot (float *out, const float *labels, size_t b, size_t c, int64_t *bad);

#endif
