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
** before any output element can be written.  The derivation is above the
** pair softmax_forward / softmax_backward; the math of one row, shared with
** the GPU, is in softmax.h; here are the checks, and the loop over the rows
** (on the CPU) or the launch of one CUDA thread per row.
*/
#include "nn.h"
#include "softmax.h"


/* y = softmax (log: log-softmax) of each row of x, seen as (rows, n), on
** x's device.  y may be x. */
static int rows_forward (float *y, const float *x, int64_t rows, int64_t n, int log,
                         nn_device dev) {
  if (rows == 0 || n == 0) return NN_OK;  /* an empty row has nothing to normalise */
  if (dev == NN_CUDA) return nncuda_softmax_rows(y, x, rows, n, log);
  for (int64_t r = 0; r < rows; r++)
    (log ? nn_log_softmax_row : nn_softmax_row)(y + r * n, x + r * n, n);
  return NN_OK;
}

/* dx from g and the saved output y, row by row.  dx may be g. */
static int rows_backward (float *dx, const float *g, const float *y, int64_t rows, int64_t n,
                          int log, nn_device dev) {
  if (rows == 0 || n == 0) return NN_OK;
  if (dev == NN_CUDA) return nncuda_softmax_rows_backward(dx, g, y, rows, n, log);
  for (int64_t r = 0; r < rows; r++)
    (log ? nn_log_softmax_backward_row : nn_softmax_backward_row)(dx + r * n, g + r * n,
                                                                  y + r * n, n);
  return NN_OK;
}

/* NN_OK when a and b have one numel (a row-wise view of one shape) and
** device; else the error, blaming `role` (b's) */
static int check_like (const nn_tensor *a, const nn_tensor *b, int role, const char *what) {
  if (b->ndim < 1)
    return nn_seterr_arg(NN_ESHAPE, role, "softmax: expected %s [... x C], got a scalar %s",
                         what, shape_str(b).s);
  if (a->numel != b->numel || a->shape[a->ndim - 1] != b->shape[b->ndim - 1])
    return nn_seterr_arg(NN_ESHAPE, role, "softmax: %s %s does not match %s", what,
                         shape_str(b).s, shape_str(a).s);
  if (a->storage->device != b->storage->device)
    return nn_seterr_arg(NN_EDEVICE, role, "softmax: %s is on %s, not %s", what,
                         device_name(b->storage->device), device_name(a->storage->device));
  return NN_OK;
}

/*
** Softmax and LogSoftmax, along the last dim
**
** Shapes   x, y: (..., C), any ndim >= 1, seen as (R, C): R = the product of
**   the leading dims (1 for a 1-D x), one distribution per row.  Each row is
**   independent of the others, so everything below is about one row x of C
**   entries; a 0-dim x has no dim to normalise over and is an error.
**
** Softmax forward   y_i = e^{x_i} / \sum_k e^{x_k}         (0 < y_i, \sum_i y_i = 1)   \tag{1}
**
** LogSoftmax forward   y_i = \log softmax(x)_i = x_i - \log \sum_k e^{x_k}          \tag{2}
**
** Stable evaluation.  Softmax is shift invariant: for any constant c,
**   e^{x_i - c} / \sum_k e^{x_k - c} = e^{-c} e^{x_i} / (e^{-c} \sum_k e^{x_k}) = y_i,
**   exactly.  With c = m = \max_k x_k every exponent is <= 0, so no e^{x} can
**   overflow (e^{89} is already inf in float32), and the term k = argmax is
**   e^0 = 1, so the sum is >= 1: it cannot underflow to 0, and its log is
**   finite.  Likewise  \log \sum_k e^{x_k} = m + \log \sum_k e^{x_k - m}, so
**     Softmax      y_i = e^{x_i - m} / \sum_k e^{x_k - m}                     \tag{3}
**     LogSoftmax   y_i = (x_i - m) - \log \sum_k e^{x_k - m}                   \tag{4}
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
**     =>  dx = y \odot (g - \sum_j g_j y_j)        (the sum is one number per row)  \tag{5}
**   LogSoftmax Jacobian.  \partial (x_i - \log S) / \partial x_j
**       = \delta_{ij} - e^{x_j} / S = \delta_{ij} - softmax(x)_j = \delta_{ij} - e^{y_j}
**       dL/dx_j = \sum_i g_i (\delta_{ij} - e^{y_j}) = g_j - e^{y_j} \sum_i g_i
**     =>  dx = g - e^{y} \sum_j g_j                 (the sum is one number per row)  \tag{6}
**   Both need only the output y, which forward leaves in the layer's output:
**   backward reads it there and recomputes nothing.  grad_input is overwritten.
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
int softmax_forward (nn_tensor *y, const nn_tensor *x, int log) {
  int rc = x->ndim >= 1 ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "softmax: expected "
                                               "input [... x C], got %s", shape_str(x).s);
  if (rc == NN_OK) rc = check_like(x, y, NN_ROLE_OUT, "y");
  if (rc != NN_OK) return rc;
  int64_t n = x->shape[x->ndim - 1];
  /* (3), or (4) with log */
  return rows_forward(tensor_data(y), tensor_data(x), n ? x->numel / n : 0, n, log,
                      x->storage->device);
}

int softmax_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *y, int log) {
  int rc = y->ndim >= 1 ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "softmax: "
                                               "expected y [... x C], got %s", shape_str(y).s);
  if (rc == NN_OK) rc = check_like(y, grad_y, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK) rc = check_like(y, grad_x, NN_ROLE_OUT, "grad_x");
  if (rc != NN_OK) return rc;
  int64_t n = y->shape[y->ndim - 1];
  /* (5), or (6) with log */
  return rows_backward(tensor_data(grad_x), tensor_data(grad_y), tensor_data(y),
                       n ? y->numel / n : 0, n, log, y->storage->device);
}


/* --- the modules: Softmax and LogSoftmax differ in `log` alone ---------------------- */

static int is_log (const nn_module *m) { return m->type == &log_softmax_type; }

static nn_gives softmax_gives (const nn_module *m) {
  return is_log(m) ? NN_GIVES_LOG_PROBABILITIES : NN_GIVES_PROBABILITIES;
}

static int softmax_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)n;
  if (in[0].ndim < 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: expected input [... x C], got []",
                         m->type->name);
  *out = in[0];
  return NN_OK;
}

static int softmax_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return softmax_forward(m->output, x[0], is_log(m));
}

static int softmax_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return softmax_backward(m->grad_input[0], g, m->output, is_log(m));
}

const nn_module_type softmax_type = {
  .name = "Softmax", .doc = "each row of x (..., C) becomes probabilities: y = e^x / sum e^x",
  .min_inputs = 1, .max_inputs = 1, .output_shape = softmax_output_shape,
  .forward = softmax_module_forward, .backward = softmax_module_backward,
  .gives = softmax_gives
};
const nn_module_type log_softmax_type = {
  .name = "LogSoftmax", .doc = "y = log softmax(x) along the last dim of x (..., C), stably",
  .min_inputs = 1, .max_inputs = 1, .output_shape = softmax_output_shape,
  .forward = softmax_module_forward, .backward = softmax_module_backward,
  .gives = softmax_gives
};
