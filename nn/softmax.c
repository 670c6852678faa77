/*
** softmax.c -- Softmax and LogSoftmax along the last dim.
**
** The name is Bridle's ("Probabilistic interpretation of feedforward
** classification network outputs, with relationships to statistical pattern
** recognition", Neurocomputing, Springer 1990): a smooth, differentiable
** stand-in for the arg max, which turns C scores (logits) into a probability
** distribution over C classes.
**
** Neither layer has a generic tensor op: each row needs its max and its sum
** before any output element can be written.  So the CPU loops are here, per
** row, beside their math.  The CUDA kernels come with the GPU layers; until
** then a tensor on the GPU is an NN_EDEVICE error (module_need_cpu).
*/
#include <math.h>

#include "nn.h"

/*
** Shapes   x, y: (..., C), any ndim >= 1, seen as (R, C): R = the product of
**   the leading dims (1 for a 1-D x), one distribution per row.  Each row is
**   independent of the others, so everything below is about one row x of C
**   entries; a 0-dim x has no dim to normalise over and is an error.
**
** Softmax forward   y_i = e^{x_i} / \sum_k e^{x_k}         (0 < y_i, \sum_i y_i = 1)
**
** LogSoftmax forward   y_i = \log softmax(x)_i = x_i - \log \sum_k e^{x_k}
**
** Stable evaluation.  Softmax is shift invariant: for any constant c,
**   e^{x_i - c} / \sum_k e^{x_k - c} = e^{-c} e^{x_i} / (e^{-c} \sum_k e^{x_k}) = y_i,
**   exactly.  With c = m = \max_k x_k every exponent is <= 0, so no e^{x} can
**   overflow (e^{89} is already inf in float32), and the term k = argmax is
**   e^0 = 1, so the sum is >= 1: it cannot underflow to 0, and its log is
**   finite.  Likewise  \log \sum_k e^{x_k} = m + \log \sum_k e^{x_k - m}, so
**     LogSoftmax   y_i = (x_i - m) - \log \sum_k e^{x_k - m}
**   which for x = [1e4, -1e4] gives [0, -2e4], where the naive formula gives
**   inf - inf = nan.  The sum is accumulated in double: C float terms in
**   [0, 1] would otherwise lose up to C ulps.
**   (Goodfellow, Bengio & Courville, Deep Learning 2016, sec. 4.1.)
**
** Backward, given g = dL/dy, shape (..., C), per row:
**   Softmax Jacobian.  \partial y_i / \partial x_j: the quotient rule on
**     e^{x_i} / S, S = \sum_k e^{x_k}, \partial S / \partial x_j = e^{x_j}:
**       = (\delta_{ij} e^{x_i} S - e^{x_i} e^{x_j}) / S^2 = y_i (\delta_{ij} - y_j)
**     A full C x C matrix (every output depends on every input of its row),
**     which we never build.  We apply its transpose to g (a vector-Jacobian
**     product), which costs O(C) instead of O(C^2):
**       dL/dx_j = \sum_i g_i y_i (\delta_{ij} - y_j) = g_j y_j - y_j \sum_i g_i y_i
**     =>  dx = y \odot (g - \sum_j g_j y_j)        (the sum is one number per row)
**   LogSoftmax Jacobian.  \partial (x_i - \log S) / \partial x_j
**       = \delta_{ij} - e^{x_j} / S = \delta_{ij} - softmax(x)_j = \delta_{ij} - e^{y_j}
**       dL/dx_j = \sum_i g_i (\delta_{ij} - e^{y_j}) = g_j - e^{y_j} \sum_i g_i
**     =>  dx = g - e^{y} \sum_j g_j                 (the sum is one number per row)
**   Both need only the output y, which forward leaves in m->output: backward
**   reads it there and recomputes nothing.  grad_input is overwritten.
**
** Why Softmax is rarely followed by a separate log loss: for a class t,
**   -\log softmax(x)_t = -x_t + \log \sum_k e^{x_k}, whose gradient is simply
**   softmax(x) - onehot(t).  Fused, that is stable and cheap; apart, a
**   probability that underflowed to 0 gives \log 0 = -inf, and the chain rule
**   goes through the C x C Jacobian above.  So CrossEntropyLoss takes logits
**   and fuses the two (as does LogSoftmax followed by NLLLoss); a Softmax
**   layer is for reading probabilities, or for Keras's CategoricalCrossentropy.
**
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.3
** (softmax units) and sec. 4.1 (overflow and underflow).
*/

/* x as (rows, C), or NN_ESHAPE for a 0-dim x. */
static int rows_and_classes (const nn_module *m, const nn_tensor *x, int64_t *rows,
                             int64_t *classes) {
  if (x->ndim < 1)
    return nn_seterr(NN_ESHAPE, "%s: expected input [... x C], got %s", m->type->name,
                     shape_str(x).s);
  *classes = x->shape[x->ndim - 1];
  *rows = 1;
  for (int d = 0; d < x->ndim - 1; d++) *rows *= x->shape[d];
  return NN_OK;
}

/* the checks and the buffer of a forward: x on the cpu, at least 1-D; y
** resized to x's shape (storage reused) */
static int forward_begin (nn_module *m, const nn_tensor *x, int64_t *rows, int64_t *classes) {
  int rc = module_need_cpu(m, x);
  if (rc == NN_OK) rc = rows_and_classes(m, x, rows, classes);
  if (rc == NN_OK) rc = resize_as(m->output, x);
  return rc;
}

/* the same for a backward: dx resized to g's shape (= y's, checked by
** module_backward) */
static int backward_begin (nn_module *m, const nn_tensor *g, int64_t *rows, int64_t *classes) {
  int rc = module_need_cpu(m, g);
  if (rc == NN_OK) rc = rows_and_classes(m, g, rows, classes);
  if (rc == NN_OK) rc = resize_as(m->grad_input, g);
  return rc;
}

/* m = max_k x_k of one row, n >= 1.  A nan at x[0] stays the max; a nan
** elsewhere is skipped here but makes the sum, and so the row, nan. */
static float row_max (const float *x, int64_t n) {
  float m = x[0];
  for (int64_t k = 1; k < n; k++)
    if (x[k] > m) m = x[k];
  return m;
}

/* The row loops below read all of a row before they write it, element by
** element, so y may be x (and dx may be g): in place works. */

/* y = e^{x - m} / \sum_k e^{x_k - m} */
static void softmax_row (float *y, const float *x, int64_t n) {
  float m = row_max(x, n);
  double sum = 0.0;                       /* >= 1: the max's term is e^0 */
  for (int64_t i = 0; i < n; i++) {
    float e = expf(x[i] - m);             /* <= 1: cannot overflow */
    y[i] = e;
    sum += e;
  }
  double inv = 1.0 / sum;
  for (int64_t i = 0; i < n; i++) y[i] = (float)(y[i] * inv);
}

/* y = (x - m) - log \sum_k e^{x_k - m} */
static void log_softmax_row (float *y, const float *x, int64_t n) {
  float m = row_max(x, n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += expf(x[i] - m);
  double log_sum = log(sum);              /* >= 0, finite */
  for (int64_t i = 0; i < n; i++) y[i] = (float)(((double)x[i] - m) - log_sum);
}

/* dx = y (g - \sum_j g_j y_j) */
static void softmax_backward_row (float *dx, const float *g, const float *y, int64_t n) {
  double dot = 0.0;
  for (int64_t j = 0; j < n; j++) dot += (double)g[j] * y[j];
  for (int64_t j = 0; j < n; j++) dx[j] = (float)(y[j] * (g[j] - dot));
}

/* dx = g - e^y \sum_j g_j     (e^y = softmax(x) <= 1) */
static void log_softmax_backward_row (float *dx, const float *g, const float *y, int64_t n) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; j++) sum += g[j];
  for (int64_t j = 0; j < n; j++) dx[j] = (float)(g[j] - expf(y[j]) * sum);
}

/* y = row(x), row by row */
static int forward_rows (nn_module *m, const nn_tensor *x,
                         void (*row) (float *y, const float *x, int64_t n)) {
  int64_t rows = 0, n = 0;
  int rc = forward_begin(m, x, &rows, &n);
  if (rc != NN_OK || n == 0) return rc;   /* an empty row has nothing to normalise */
  const float *xp = tensor_data(x);
  float *yp = tensor_data(m->output);
  for (int64_t r = 0; r < rows; r++) row(yp + r * n, xp + r * n, n);
  return NN_OK;
}

/* dx = row(g, y), row by row, from the saved output y */
static int backward_rows (nn_module *m, const nn_tensor *g,
                          void (*row) (float *dx, const float *g, const float *y, int64_t n)) {
  int64_t rows = 0, n = 0;
  int rc = backward_begin(m, g, &rows, &n);
  if (rc != NN_OK || n == 0) return rc;
  const float *gp = tensor_data(g), *yp = tensor_data(m->output);
  float *dxp = tensor_data(m->grad_input);
  for (int64_t r = 0; r < rows; r++) row(dxp + r * n, gp + r * n, yp + r * n, n);
  return NN_OK;
}

int softmax_rows (nn_tensor *y, const nn_tensor *x, int log) {
  if (x->storage->device != NN_CPU || y->storage->device != NN_CPU)
    return nn_seterr(NN_EDEVICE, "softmax activation: runs on the cpu only until the GPU "
                     "backend gives it a kernel");
  int64_t n = x->ndim > 0 ? x->shape[x->ndim - 1] : 1;
  if (n == 0 || y->numel != x->numel) return n == 0 ? NN_OK : nn_seterr(NN_ESHAPE,
                     "softmax_rows: y %s and x %s differ", shape_str(y).s, shape_str(x).s);
  const float *xp = tensor_data(x);
  float *yp = tensor_data(y);
  for (int64_t r = 0; r < x->numel / n; r++)
    (log ? log_softmax_row : softmax_row)(yp + r * n, xp + r * n, n);
  return NN_OK;
}

int softmax_rows_backward (nn_tensor *dx, const nn_tensor *g, const nn_tensor *y, int log) {
  if (y->storage->device != NN_CPU || g->storage->device != NN_CPU)
    return nn_seterr(NN_EDEVICE, "softmax activation: runs on the cpu only until the GPU "
                     "backend gives it a kernel");
  int64_t n = y->ndim > 0 ? y->shape[y->ndim - 1] : 1;
  if (n == 0) return NN_OK;
  const float *gp = tensor_data(g), *yp = tensor_data(y);
  float *dxp = tensor_data(dx);
  for (int64_t r = 0; r < y->numel / n; r++)
    (log ? log_softmax_backward_row : softmax_backward_row)(dxp + r * n, gp + r * n, yp + r * n, n);
  return NN_OK;
}

static int softmax_forward (nn_module *m, const nn_tensor *x) {
  return forward_rows(m, x, softmax_row);
}
static int softmax_backward (nn_module *m, const nn_tensor *g) {
  return backward_rows(m, g, softmax_backward_row);
}
static int log_softmax_forward (nn_module *m, const nn_tensor *x) {
  return forward_rows(m, x, log_softmax_row);
}
static int log_softmax_backward (nn_module *m, const nn_tensor *g) {
  return backward_rows(m, g, log_softmax_backward_row);
}

static const nn_module_type softmax_type = {
  .name = "Softmax", .forward = softmax_forward, .backward = softmax_backward
};
static const nn_module_type log_softmax_type = {
  .name = "LogSoftmax", .forward = log_softmax_forward, .backward = log_softmax_backward
};

int softmax_new (nn_module **out) { return module_alloc(out, &softmax_type); }
int log_softmax_new (nn_module **out) { return module_alloc(out, &log_softmax_type); }
