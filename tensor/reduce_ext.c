/*
** reduce_ext.c -- outer products and the reductions and scans along a dim
** beyond sum/mean/max/min: norm, prod, logsumexp, cumsum, softmax and
** log_softmax (tensor.h, "more math").
**
** As tensor.c: each op checks dtype, dims, shapes and devices once here,
** then calls the CPU loop below or the CUDA launcher of
** cuda_reduce_ext.cu.  A tensor is seen as (outer, n, inner) about its dim
** d, as tensor_reduce_dim sees it: outer = the product of the sizes before
** d, n = the size of d, inner = the product of those after; each of the
** outer * inner lines a[o, 0..n-1, j] is folded (a reduction: out is
** (outer, inner)) or mapped (a scan or a softmax: out is a's shape) by the
** one-line formulas of reduce_ext.h, which the GPU runs too.
*/
#include <math.h>
#include <string.h>

#include "tensor.h"
#include "backend.h"
#include "reduce_ext.h"

#define ON_CPU(t) ((t)->storage->device == NN_CPU)

/* --- CPU loops ---------------------------------------------------------------------- */

/* Below this many elements in all, the lines run in one thread: waking the
** OpenMP team costs more than the arithmetic. */
#define LINES_PARALLEL_MIN 32768

int cpu_line_reduce (float *out, const float *a, size_t outer, size_t n, size_t inner,
                     nn_lineop op, double p) {
  int64_t lines = (int64_t)(outer * inner);
  #pragma omp parallel for schedule(static) if (lines > 1 && outer * n * inner >= LINES_PARALLEL_MIN)
  for (int64_t l = 0; l < lines; l++) {
    size_t o = (size_t)l / inner, j = (size_t)l % inner;
    out[l] = (float)nn_line_reduce_eval(op, a + o * n * inner + j, (int64_t)n, (int64_t)inner, p);
  }
  return NN_OK;
}

int cpu_line_reduce_all (double *result, const float *a, size_t n, nn_lineop op, double p) {
  *result = nn_line_reduce_eval(op, a, (int64_t)n, 1, p);
  return NN_OK;
}

int cpu_line_map (float *out, const float *a, size_t outer, size_t n, size_t inner, nn_lineop op) {
  int64_t lines = (int64_t)(outer * inner);
  #pragma omp parallel for schedule(static) if (lines > 1 && outer * n * inner >= LINES_PARALLEL_MIN)
  for (int64_t l = 0; l < lines; l++) {
    size_t o = (size_t)l / inner, j = (size_t)l % inner;
    size_t at = o * n * inner + j;
    nn_line_map_eval(op, out + at, a + at, (int64_t)n, (int64_t)inner);
  }
  return NN_OK;
}

/* --- checks --------------------------------------------------------------------------- */

static int same_device (const char *op, const nn_tensor *out, const nn_tensor *a, int role) {
  if (out->storage->device != a->storage->device)
    return nn_seterr_arg(NN_EDEVICE, role, "%s: tensors are on different devices: %s is on %s, "
                         "%s is on %s", op, shape_str(out).s, device_name(out->storage->device),
                         shape_str(a).s, device_name(a->storage->device));
  return NN_OK;
}

/* 1 when out and a share elements of one storage */
static int overlap (const nn_tensor *out, const nn_tensor *a) {
  if (out->storage != a->storage || out->numel == 0 || a->numel == 0) return 0;
  return out->offset < a->offset + (size_t)a->numel && a->offset < out->offset + (size_t)out->numel;
}

/* d (negative: from the end) as 0 .. ndim-1 in *dd, and a seen as (outer, n,
** inner) about it.  Errors: NN_EARG blaming NN_ROLE_INDEX. */
static int split_dim (int *dd, size_t *outer, size_t *n, size_t *inner, const nn_tensor *a, int d,
                      const char *op) {
  int k = d < 0 ? d + a->ndim : d;
  if (k < 0 || k >= a->ndim)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s: dim %d is out of range for %s (it has %d "
                         "dims)", op, d < 0 ? d : d + 1, shape_str(a).s, a->ndim);
  *dd = k;
  *outer = 1;
  *inner = 1;
  *n = (size_t)a->shape[k];
  for (int i = 0; i < k; i++) *outer *= (size_t)a->shape[i];
  for (int i = k + 1; i < a->ndim; i++) *inner *= (size_t)a->shape[i];
  return NN_OK;
}

/* The checks of a reduction along d: a and out float32 on one device, out
** of (outer, inner) elements and apart from a. */
static int check_reduce (size_t *outer, size_t *n, size_t *inner, const nn_tensor *out,
                         const nn_tensor *a, int d, const char *op) {
  int dd, rc;
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, op)) != NN_OK ||
      (rc = tensor_check_float(out, NN_ROLE_OUT, op)) != NN_OK ||
      (rc = split_dim(&dd, outer, n, inner, a, d, op)) != NN_OK)
    return rc;
  if ((int64_t)(*outer * *inner) != out->numel)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: output %s does not hold %s reduced over "
                         "dim %d", op, shape_str(out).s, shape_str(a).s, dd + 1);
  if ((rc = same_device(op, out, a, NN_ROLE_OUT)) != NN_OK) return rc;
  if (overlap(out, a))
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "%s: the output %s shares memory with the input "
                         "%s", op, shape_str(out).s, shape_str(a).s);
  return NN_OK;
}

static int reduce_dim (nn_tensor *out, const nn_tensor *a, int d, nn_lineop op, double p,
                       const char *name) {
  size_t outer, n, inner;
  int rc = check_reduce(&outer, &n, &inner, out, a, d, name);
  if (rc != NN_OK || outer * inner == 0) return rc;
  return ON_CPU(a) ? cpu_line_reduce(tensor_data(out), tensor_data(a), outer, n, inner, op, p)
                   : cuda_line_reduce(tensor_data(out), tensor_data(a), outer, n, inner, op, p);
}

static int reduce_all (double *result, const nn_tensor *a, nn_lineop op, double p,
                       const char *name) {
  int rc = tensor_check_float(a, NN_ROLE_INPUT, name);
  if (rc != NN_OK) return rc;
  size_t n = (size_t)a->numel;
  return ON_CPU(a) ? cpu_line_reduce_all(result, tensor_data(a), n, op, p)
                   : cuda_line_reduce_all(result, tensor_data(a), n, op, p);
}

/* p > 0, or inf; nan and p <= 0 are refused */
static int check_p (double p) {
  if (!(p > 0.0))
    return nn_seterr(NN_EARG, "norm: p must be > 0 (1, 2, inf or any other positive number), "
                     "got %g", p);
  return NN_OK;
}

/* --- the ops ---------------------------------------------------------------------------- */

int tensor_outer (nn_tensor *out, const nn_tensor *a, const nn_tensor *b) {
  int rc;
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, "outer")) != NN_OK ||
      (rc = tensor_check_float(b, NN_ROLE_INPUT + 1, "outer")) != NN_OK ||
      (rc = tensor_check_float(out, NN_ROLE_OUT, "outer")) != NN_OK)
    return rc;
  if (a->ndim != 1 || b->ndim != 1)
    return nn_seterr_arg(NN_ESHAPE, a->ndim != 1 ? NN_ROLE_INPUT : NN_ROLE_INPUT + 1,
                         "outer needs two 1-D tensors, got %s and %s", shape_str(a).s,
                         shape_str(b).s);
  if ((rc = same_device("outer", b, a, NN_ROLE_INPUT + 1)) != NN_OK) return rc;
  int64_t M = a->shape[0], N = b->shape[0];
  if (out->ndim != 2 || out->shape[0] != M || out->shape[1] != N)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "outer: output is %s, the product is "
                         "[%lldx%lld]", shape_str(out).s, (long long)M, (long long)N);
  if ((rc = same_device("outer", out, a, NN_ROLE_OUT)) != NN_OK) return rc;
  if (overlap(out, a) || overlap(out, b))
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "outer: the output %s shares memory with an "
                         "input", shape_str(out).s);
  if (M > INT32_MAX || N > INT32_MAX)
    return nn_seterr(NN_EARG, "outer: a size exceeds the BLAS's 32-bit int");
  if (M == 0 || N == 0) return NN_OK;
  /* out (M,N) = a (M,1) @ b (1,N): a GEMM with K = 1, a's rows 1 float
  ** long, b's one row N floats long */
  return ON_CPU(a) ? cpu_matmul(tensor_data(out), tensor_data(a), tensor_data(b), (int)M, (int)N,
                                1, 0, 0, 1, (int)N, 1.0f, 0.0f)
                   : cuda_matmul(tensor_data(out), tensor_data(a), tensor_data(b), (int)M,
                                 (int)N, 1, 0, 0, 1, (int)N, 1.0f, 0.0f);
}

int tensor_norm_all (double *result, const nn_tensor *a, double p) {
  int rc = check_p(p);
  return rc != NN_OK ? rc : reduce_all(result, a, NN_LINE_NORM, p, "norm");
}

int tensor_norm_dim (nn_tensor *out, const nn_tensor *a, int d, double p) {
  int rc = check_p(p);
  return rc != NN_OK ? rc : reduce_dim(out, a, d, NN_LINE_NORM, p, "norm");
}

int tensor_prod_all (double *result, const nn_tensor *a) {
  return reduce_all(result, a, NN_LINE_PROD, 0.0, "prod");
}

int tensor_prod_dim (nn_tensor *out, const nn_tensor *a, int d) {
  return reduce_dim(out, a, d, NN_LINE_PROD, 0.0, "prod");
}

int tensor_logsumexp_dim (nn_tensor *out, const nn_tensor *a, int d) {
  return reduce_dim(out, a, d, NN_LINE_LOGSUMEXP, 0.0, "logsumexp");
}

/* cumsum, softmax, log_softmax: out of a's shape, a itself or apart from it */
static int map_dim (nn_tensor *out, const nn_tensor *a, int d, nn_lineop op, const char *name) {
  int dd, rc;
  size_t outer, n, inner;
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, name)) != NN_OK ||
      (rc = tensor_check_float(out, NN_ROLE_OUT, name)) != NN_OK ||
      (rc = split_dim(&dd, &outer, &n, &inner, a, d, name)) != NN_OK)
    return rc;
  if (out->ndim != a->ndim || memcmp(out->shape, a->shape, sizeof(int64_t) * (size_t)a->ndim))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: output %s does not match input %s", name,
                         shape_str(out).s, shape_str(a).s);
  if ((rc = same_device(name, out, a, NN_ROLE_OUT)) != NN_OK) return rc;
  /* each line reads its elements before it writes them: in place is fine,
     out over another part of a is not */
  if (overlap(out, a) && out->offset != a->offset)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "%s: the output %s overlaps the input %s at "
                         "another place", name, shape_str(out).s, shape_str(a).s);
  if (a->numel == 0) return NN_OK;
  return ON_CPU(a) ? cpu_line_map(tensor_data(out), tensor_data(a), outer, n, inner, op)
                   : cuda_line_map(tensor_data(out), tensor_data(a), outer, n, inner, op);
}

int tensor_cumsum (nn_tensor *out, const nn_tensor *a, int d) {
  return map_dim(out, a, d, NN_LINE_CUMSUM, "cumsum");
}

int tensor_softmax (nn_tensor *out, const nn_tensor *a, int d, int log) {
  return map_dim(out, a, d, log ? NN_LINE_LOG_SOFTMAX : NN_LINE_SOFTMAX,
                 log ? "log_softmax" : "softmax");
}
