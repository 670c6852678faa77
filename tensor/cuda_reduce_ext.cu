/*
** cuda_reduce_ext.cu -- norm, prod, logsumexp, cumsum, softmax and
** log_softmax on CUDA (reduce_ext.c checks them; backend.h declares these).
**
** One CUDA thread per line: thread l folds (or maps) the line a[o, 0..n-1,
** j], o = l / inner, j = l % inner, with the very NN_HD formula the CPU
** loop calls (reduce_ext.h), in the same order, so the two agree to the
** rounding of expf/logf/pow.  When inner > 1, neighbouring threads read
** neighbouring floats (coalesced); along the last dim each thread walks a
** row of its own, as the Softmax layer's kernel does (nn/cuda_layers.cu).
** A tensor of few, long lines keeps few threads busy: the price of one
** formula for both devices.  Over all elements, the n floats are cut into
** chunks of CHUNK, a thread folds each chunk, and the host folds the chunk
** results: a norm of norms is the norm (||x||_p^p is a sum over the
** chunks), a product of products the product, a logsumexp of logsumexps the
** logsumexp.  The grid depends on n alone: the same bits on every run.
*/
#include <stdlib.h>

#include "cuda_util.cuh"   /* cuda_run, cuda_scratch_alloc, CUDA_TRY */
extern "C" {
#include "backend.h"
}
#include "reduce_ext.h"

/* elements per thread in a reduction over all elements */
#define CHUNK 4096

static __global__ void line_reduce_kernel (float *out, const float *a, size_t outer, size_t n,
                                           size_t inner, int op, double p) {
  GRID_STRIDE(l, outer * inner) {
    size_t o = l / inner, j = l % inner;
    out[l] = (float)nn_line_reduce_eval(op, a + o * n * inner + j, (int64_t)n, (int64_t)inner, p);
  }
}

static __global__ void line_map_kernel (float *out, const float *a, size_t outer, size_t n,
                                        size_t inner, int op) {
  GRID_STRIDE(l, outer * inner) {
    size_t o = l / inner, j = l % inner;
    size_t at = o * n * inner + j;
    nn_line_map_eval(op, out + at, a + at, (int64_t)n, (int64_t)inner);
  }
}

/* part[c] = the op over chunk c: a[c*CHUNK .. min(n, (c+1)*CHUNK) - 1] */
static __global__ void chunk_reduce_kernel (double *part, const float *a, size_t n, size_t chunks,
                                            int op, double p) {
  GRID_STRIDE(c, chunks) {
    size_t first = c * CHUNK, len = n - first < CHUNK ? n - first : CHUNK;
    part[c] = nn_line_reduce_eval(op, a + first, (int64_t)len, 1, p);
  }
}

/* The op over the chunks' results, on the host, in double.  NORM: the
** p-norm of the chunk norms (the same scaling as nn_line_norm); PROD: their
** product; LOGSUMEXP: log \sum_c e^{v_c}, shifted by the largest. */
static double fold_parts (const double *v, size_t g, int op, double p) {
  double acc = op == NN_LINE_PROD ? 1.0 : 0.0, m = 0.0;
  switch (op) {
    case NN_LINE_PROD:
      for (size_t c = 0; c < g; c++) acc *= v[c];
      return acc;
    case NN_LINE_LOGSUMEXP:
      if (g == 0) return -INFINITY;
      m = v[0];
      for (size_t c = 1; c < g; c++) if (v[c] > m) m = v[c];
      if (isinf(m)) m = 0.0;
      for (size_t c = 0; c < g; c++) acc += exp(v[c] - m);
      return log(acc) + m;
    default:                            /* NN_LINE_NORM: each v[c] >= 0 or nan */
      for (size_t c = 0; c < g; c++) {
        if (v[c] != v[c]) return v[c];
        if (v[c] > m) m = v[c];
      }
      if (p == 1.0) { for (size_t c = 0; c < g; c++) acc += v[c]; return acc; }
      if (isinf(p) || m == 0.0 || isinf(m)) return m;
      for (size_t c = 0; c < g; c++) acc += pow(v[c] / m, p);
      return m * pow(acc, 1.0 / p);
  }
}

extern "C" int cuda_line_reduce (float *out, const float *a, size_t outer, size_t n, size_t inner,
                                 nn_lineop op, double p) {
  if (outer * inner == 0) return NN_OK;
  return cuda_run(outer * inner, line_reduce_kernel, out, a, outer, n, inner, (int)op, p);
}

extern "C" int cuda_line_reduce_all (double *result, const float *a, size_t n, nn_lineop op,
                                     double p) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  size_t g = (n + CHUNK - 1) / CHUNK;
  if (g == 0) { *result = fold_parts(NULL, 0, (int)op, p); return NN_OK; }
  double *part, *host = (double *)malloc(g * sizeof(double));
  if (host == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  rc = cuda_scratch_alloc((void **)&part, g * sizeof(double));
  if (rc != NN_OK) { free(host); return rc; }
  rc = cuda_run(g, chunk_reduce_kernel, part, a, n, g, (int)op, p);
  if (rc == NN_OK) {
    cudaError_t err = cudaMemcpyAsync(host, part, g * sizeof(double), cudaMemcpyDeviceToHost,
                                      cuda_stream());
    if (err == cudaSuccess) err = cudaStreamSynchronize(cuda_stream());
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      rc = nn_seterr(NN_ECUDA, "CUDA error: %s (copying a reduction's partial results)",
                     cudaGetErrorString(err));
    }
  }
  cuda_scratch_free(part);
  if (rc == NN_OK) *result = fold_parts(host, g, (int)op, p);
  free(host);
  return rc;
}

extern "C" int cuda_line_map (float *out, const float *a, size_t outer, size_t n, size_t inner,
                              nn_lineop op) {
  if (outer * inner == 0 || n == 0) return NN_OK;
  return cuda_run(outer * inner, line_map_kernel, out, a, outer, n, inner, (int)op);
}
