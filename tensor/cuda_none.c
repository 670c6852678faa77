/*
** cuda_none.c -- the CUDA backend of a build without nvcc.
**
** The Makefile compiles this instead of cuda.cu when it finds no nvcc.  The
** same functions, so tensor.c links unchanged: cuda_available() says why
** there is no GPU, and every other entry point fails with NN_EDEVICE and that
** reason.  tensor.c asks cuda_available() before it creates a CUDA tensor,
** so in practice none of these is reached; they are here to link, and to
** fail cleanly should one be.
*/
#include <stdio.h>
#include <string.h>

#include "backend.h"

#define NO_CUDA "nnlua was built without CUDA (nvcc was not found at build time)"

static int no_cuda (void) { return nn_seterr(NN_EDEVICE, "%s", NO_CUDA); }

int cuda_available (char *reason, size_t len) {
  if (reason != NULL && len > 0) snprintf(reason, len, "%s", NO_CUDA);
  return 0;
}

int cuda_malloc (float **p, size_t n) {
  (void)n;
  *p = NULL;
  return no_cuda();
}

/* Nothing can have come from cuda_malloc, so there is nothing to free. */
void cuda_free (float *p) { (void)p; }

size_t cuda_memory_allocated (void) { return 0; }
size_t cuda_memory_reserved (void) { return 0; }
void cuda_empty_cache (void) {}
void cuda_set_oom_hook (void (*hook) (void *ud), void *ud) { (void)hook; (void)ud; }
int cuda_device_count (void) { return 0; }
int cuda_synchronize (void) { return NN_OK; }   /* nothing was queued */

/* Host to host is plain memory, as in cuda.cu; anything with a device end fails. */
int cuda_memcpy (float *dst, nn_device dst_dev, const float *src, nn_device src_dev, size_t n) {
  if (dst_dev == NN_CPU && src_dev == NN_CPU) {
    if (n > 0) memmove(dst, src, n * sizeof(float));
    return NN_OK;
  }
  return no_cuda();
}

int cuda_fill (float *x, float value, size_t n) {
  (void)x; (void)value; (void)n;
  return no_cuda();
}

int cuda_arange (float *x, double start, double step, size_t n) {
  (void)x; (void)start; (void)step; (void)n;
  return no_cuda();
}

int cuda_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo, float hi) {
  (void)x; (void)n; (void)seed; (void)block0; (void)lo; (void)hi;
  return no_cuda();
}

int cuda_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean, float std) {
  (void)x; (void)n; (void)seed; (void)block0; (void)mean; (void)std;
  return no_cuda();
}

int cuda_binary (float *out, const float *a, const float *b, size_t n, size_t bn, nn_binop op) {
  (void)out; (void)a; (void)b; (void)n; (void)bn; (void)op;
  return no_cuda();
}

int cuda_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op) {
  (void)out; (void)a; (void)s; (void)n; (void)op;
  return no_cuda();
}

int cuda_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q) {
  (void)out; (void)a; (void)n; (void)op; (void)p; (void)q;
  return no_cuda();
}

int cuda_unary_backward (float *grad_in, const float *grad_out, const float *s, size_t n,
                         nn_unop op, float p) {
  (void)grad_in; (void)grad_out; (void)s; (void)n; (void)op; (void)p;
  return no_cuda();
}

int cuda_reduce_all (double *result, const float *a, size_t n, nn_redop op) {
  (void)result; (void)a; (void)n; (void)op;
  return no_cuda();
}

int cuda_reduce_dim (float *out, const float *a, size_t outer, size_t n, size_t inner,
                     nn_redop op) {
  (void)out; (void)a; (void)outer; (void)n; (void)inner; (void)op;
  return no_cuda();
}

int cuda_var_all (double *result, const float *a, size_t n) {
  (void)result; (void)a; (void)n;
  return no_cuda();
}

int cuda_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                 int trans_a, int trans_b, int lda, int ldb, float alpha, float beta) {
  (void)out; (void)a; (void)b; (void)M; (void)N; (void)K;
  (void)trans_a; (void)trans_b; (void)lda; (void)ldb; (void)alpha; (void)beta;
  return no_cuda();
}

int cuda_index_select (float *out, const float *src, const float *idx, size_t k, size_t rows,
                       size_t row_len, int base, int64_t *bad) {
  (void)out; (void)src; (void)idx; (void)k; (void)rows; (void)row_len; (void)base;
  *bad = -1;
  return no_cuda();
}

int cuda_one_hot (float *out, const float *labels, size_t b, size_t c, int64_t *bad) {
  (void)out; (void)labels; (void)b; (void)c;
  *bad = -1;
  return no_cuda();
}
