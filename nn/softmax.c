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

/* the checks and the buffer of a forward: x at least 1-D; y resized to x's
** shape (storage reused) */
static int forward_begin (nn_module *m, const nn_tensor *x, int64_t *rows, int64_t *classes) {
  int rc = rows_and_classes(m, x, rows, classes);
  if (rc == NN_OK) rc = resize_as(m->output, x);
  return rc;
}

/* the same for a backward: dx resized to g's shape (= y's, checked by
** module_backward) */
static int backward_begin (nn_module *m, const nn_tensor *g, int64_t *rows, int64_t *classes) {
  int rc = rows_and_classes(m, g, rows, classes);
  if (rc == NN_OK) rc = resize_as(m->grad_input, g);
  return rc;
}

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

static int forward (nn_module *m, const nn_tensor *x, int log) {
  int64_t rows = 0, n = 0;
  int rc = forward_begin(m, x, &rows, &n);
  if (rc != NN_OK) return rc;
  return rows_forward(tensor_data(m->output), tensor_data(x), rows, n, log,
                      x->storage->device);
}

static int backward (nn_module *m, const nn_tensor *g, int log) {
  int64_t rows = 0, n = 0;
  int rc = backward_begin(m, g, &rows, &n);
  if (rc != NN_OK) return rc;
  return rows_backward(tensor_data(m->grad_input), tensor_data(g), tensor_data(m->output),
                       rows, n, log, g->storage->device);
}

/* the same two on tensors that a fused activation passes in (linear.c):
** y and x (dx and g, y) of one shape, on one device */
static int same_device (const nn_tensor *a, const nn_tensor *b) {
  if (a->storage->device != b->storage->device)
    return nn_seterr(NN_EDEVICE, "softmax activation: tensors on %s and %s",
                     device_name(a->storage->device), device_name(b->storage->device));
  return NN_OK;
}

int softmax_rows (nn_tensor *y, const nn_tensor *x, int log) {
  int rc = same_device(y, x);
  if (rc != NN_OK) return rc;
  int64_t n = x->ndim > 0 ? x->shape[x->ndim - 1] : 1;
  if (n == 0) return NN_OK;
  if (y->numel != x->numel)
    return nn_seterr(NN_ESHAPE, "softmax_rows: y %s and x %s differ", shape_str(y).s,
                     shape_str(x).s);
  return rows_forward(tensor_data(y), tensor_data(x), x->numel / n, n, log,
                      x->storage->device);
}

int softmax_rows_backward (nn_tensor *dx, const nn_tensor *g, const nn_tensor *y, int log) {
  int rc = same_device(y, g);
  if (rc == NN_OK) rc = same_device(dx, g);
  if (rc != NN_OK) return rc;
  int64_t n = y->ndim > 0 ? y->shape[y->ndim - 1] : 1;
  if (n == 0) return NN_OK;
  return rows_backward(tensor_data(dx), tensor_data(g), tensor_data(y), y->numel / n, n, log,
                       y->storage->device);
}

static int softmax_forward (nn_module *m, const nn_tensor *x) { return forward(m, x, 0); }
static int softmax_backward (nn_module *m, const nn_tensor *g) { return backward(m, g, 0); }
static int log_softmax_forward (nn_module *m, const nn_tensor *x) { return forward(m, x, 1); }
static int log_softmax_backward (nn_module *m, const nn_tensor *g) { return backward(m, g, 1); }

static const nn_module_type softmax_type = {
  .name = "Softmax", .forward = softmax_forward, .backward = softmax_backward
};
static const nn_module_type log_softmax_type = {
  .name = "LogSoftmax", .forward = log_softmax_forward, .backward = log_softmax_backward
};

int softmax_new (nn_module **out) { return module_alloc(out, &softmax_type); }
int log_softmax_new (nn_module **out) { return module_alloc(out, &log_softmax_type); }
