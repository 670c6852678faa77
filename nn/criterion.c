/*
** criterion.c -- what every loss shares: life cycle, the checks in front
** of each pass.  The losses' math is in loss_*.c.
*/
#include <stdlib.h>

#include "nn.h"

/* Scratch tensors start on the default device and follow the input. */
static int new_empty (nn_tensor **out) {
  int64_t zero = 0;
  return tensor_new(out, tensor_default_device(), 1, &zero);
}

static int move_all (nn_tensor *const ts[], int n, nn_device dev) {
  for (int i = 0; i < n; i++)
    if (ts[i] != NULL) {
      int rc = tensor_move(ts[i], dev);
      if (rc != NN_OK) return rc;
    }
  return NN_OK;
}

/* --- losses ------------------------------------------------------------------ */

int criterion_alloc (nn_criterion **out, const nn_criterion_type *type, nn_redop reduction) {
  *out = NULL;
  if (reduction != NN_MEAN && reduction != NN_SUM)
    return nn_seterr(NN_EARG, "%s: reduction must be mean or sum", type->name);
  nn_criterion *c = calloc(1, sizeof *c);
  if (c == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  c->type = type;
  c->reduction = reduction;
  int rc = new_empty(&c->grad_input);
  if (rc == NN_OK) rc = new_empty(&c->work);
  if (rc != NN_OK) { criterion_free(c); return rc; }
  *out = c;
  return NN_OK;
}

void criterion_free (nn_criterion *c) {
  if (c == NULL) return;
  tensor_release(c->grad_input);
  tensor_release(c->work);
  free(c);
}

static int same_device (const nn_criterion *c, const nn_tensor *x, const nn_tensor *target) {
  if (x->storage->device != target->storage->device)
    return nn_seterr(NN_EDEVICE, "%s: input is on %s, target on %s", c->type->name,
                     device_name(x->storage->device), device_name(target->storage->device));
  return NN_OK;
}

/* the two scratch tensors follow x's device */
static int criterion_follow (nn_criterion *c, const nn_tensor *x) {
  nn_tensor *const ts[] = { c->grad_input, c->work };
  return move_all(ts, 2, x->storage->device);
}

int criterion_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target,
                       double *loss) {
  int rc = same_device(c, x, target);
  if (rc == NN_OK) rc = criterion_follow(c, x);
  if (rc == NN_OK) rc = c->type->forward(c, x, target, &c->loss);
  if (rc == NN_OK) *loss = c->loss;
  return rc;
}

int criterion_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target) {
  int rc = same_device(c, x, target);
  if (rc == NN_OK) rc = criterion_follow(c, x);
  if (rc == NN_OK) rc = resize_as(c->grad_input, x);
  if (rc == NN_OK) rc = c->type->backward(c, x, target);
  return rc;
}

double criterion_scale (const nn_criterion *c, int64_t n) {
  return c->reduction == NN_MEAN && n > 0 ? 1.0 / (double)n : 1.0;
}

int criterion_same_shape (const nn_criterion *c, const nn_tensor *x, const nn_tensor *target) {
  int same = x->ndim == target->ndim;
  for (int i = 0; same && i < x->ndim; i++) same = x->shape[i] == target->shape[i];
  if (!same)
    return nn_seterr(NN_ESHAPE, "%s: input %s and target %s must have one shape",
                     c->type->name, shape_str(x).s, shape_str(target).s);
  return NN_OK;
}
