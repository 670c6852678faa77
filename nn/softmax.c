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
** before any output element can be written.  The math of one row, and its
** derivation, is in softmax.h; here are the checks, and the loop over the
** rows (on the CPU) or the launch of one CUDA thread per row.
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

int softmax_forward (nn_tensor *y, const nn_tensor *x, int log) {
  int rc = x->ndim >= 1 ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "softmax: expected "
                                               "input [... x C], got %s", shape_str(x).s);
  if (rc == NN_OK) rc = check_like(x, y, NN_ROLE_OUT, "y");
  if (rc != NN_OK) return rc;
  int64_t n = x->shape[x->ndim - 1];
  return rows_forward(tensor_data(y), tensor_data(x), n ? x->numel / n : 0, n, log,   /* (1) */
                      x->storage->device);
}

int softmax_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *y, int log) {
  int rc = y->ndim >= 1 ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "softmax: "
                                               "expected y [... x C], got %s", shape_str(y).s);
  if (rc == NN_OK) rc = check_like(y, grad_y, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK) rc = check_like(y, grad_x, NN_ROLE_OUT, "grad_x");
  if (rc != NN_OK) return rc;
  int64_t n = y->shape[y->ndim - 1];
  return rows_backward(tensor_data(grad_x), tensor_data(grad_y), tensor_data(y),       /* (3) */
                       n ? y->numel / n : 0, n, log, y->storage->device);
}


/* --- the modules: Softmax and LogSoftmax differ in `log` alone ---------------------- */

static int is_log (const nn_module *m) { return m->type == &log_softmax_type; }

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
  .forward = softmax_module_forward, .backward = softmax_module_backward
};
const nn_module_type log_softmax_type = {
  .name = "LogSoftmax", .doc = "y = log softmax(x) along the last dim of x (..., C), stably",
  .min_inputs = 1, .max_inputs = 1, .output_shape = softmax_output_shape,
  .forward = softmax_module_forward, .backward = softmax_module_backward
};
