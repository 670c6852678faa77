/*
** criterion.c -- what every loss shares: the checks in front of each pure
** pair, the options' descriptions and checks, and the life cycle of an
** nn_criterion.  The losses' math is in loss_*.c.
*/
#include <stdlib.h>

#include "nn.h"

/* --- the checks every pair makes ---------------------------------------------- */

double loss_scale (nn_redop reduction, int64_t n) {
  return reduction == NN_MEAN && n > 0 ? 1.0 / (double)n : 1.0;
}

int loss_check_reduction (const char *name, nn_redop reduction) {
  if (reduction != NN_MEAN && reduction != NN_SUM)
    return nn_seterr(NN_EARG, "%s: reduction must be mean or sum, got op %d", name,
                     (int)reduction);
  return NN_OK;
}

static int same_shape (const nn_tensor *a, const nn_tensor *b) {
  int same = a->ndim == b->ndim;
  for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
  return same;
}

/* x sets the shape and the device; a target that differs is at fault */
int loss_same_shape (const char *name, const nn_tensor *x, const nn_tensor *target) {
  if (!same_shape(x, target))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_TARGET, "%s: input %s and target %s must have "
                         "one shape", name, shape_str(x).s, shape_str(target).s);
  if (x->storage->device != target->storage->device)
    return nn_seterr_arg(NN_EDEVICE, NN_ROLE_TARGET, "%s: input is on %s, target on %s", name,
                         device_name(x->storage->device),
                         device_name(target->storage->device));
  return NN_OK;
}

int loss_check_grad (const char *name, const nn_tensor *grad_x, const nn_tensor *x) {
  if (!same_shape(grad_x, x))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: grad_x %s must have the input's shape %s",
                         name, shape_str(grad_x).s, shape_str(x).s);
  if (grad_x->storage->device != x->storage->device)
    return nn_seterr_arg(NN_EDEVICE, NN_ROLE_OUT, "%s: grad_x is on %s, input on %s", name,
                         device_name(grad_x->storage->device), device_name(x->storage->device));
  return NN_OK;
}

int loss_scratch (nn_tensor **tmp, nn_tensor *work, const nn_tensor *x, int64_t n) {
  *tmp = NULL;
  if (work == NULL) return tensor_new(tmp, x->storage->device, 1, &n);
  int rc = tensor_move(work, x->storage->device);
  if (rc == NN_OK) rc = tensor_resize(work, 1, &n);
  if (rc == NN_OK) *tmp = tensor_retain(work);
  return rc;
}

/* --- options -------------------------------------------------------------------- */

static const char *const reduction_choices[] = { "mean", "sum", NULL };

const nn_option nn_loss_reduction_option = {
  .name = "reduction", .kind = NN_OPT_CHOICE,
  .doc = "how the terms become one number: their mean or their sum",
  .choices = reduction_choices, .dflt = 0
};

const nn_option *const nn_loss_reduction_only[] = { &nn_loss_reduction_option };

int criterion_check_option (const nn_criterion_type *type, int i, double v) {
  return nn_option_check(type->name, type->options[i], v);
}

/* --- life cycle ---------------------------------------------------------------- */

int criterion_new (nn_criterion **out, const nn_criterion_type *type, const double *values) {
  *out = NULL;
  double v[NN_LOSS_MAXOPT];
  for (int i = 0; i < type->noptions; i++) {
    v[i] = values != NULL ? values[i] : type->options[i]->dflt;
    int rc = criterion_check_option(type, i, v[i]);
    if (rc != NN_OK) return rc;
  }
  nn_criterion *c = calloc(1, sizeof *c);
  if (c == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  c->type = type;
  for (int i = 0; i < type->noptions; i++) c->opt[i] = v[i];
  c->reduction = v[0] == 1 ? NN_SUM : NN_MEAN;     /* option 0: 'mean' | 'sum' */
  int rc = tensor_new_empty(&c->grad_input);
  if (rc == NN_OK) rc = tensor_new_empty(&c->work);
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

int criterion_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target,
                       double *loss) {
  const nn_criterion_type *t = c->type;
  int rc = t->pair_forward ? t->pair_forward(&c->loss, c->work, x, target, c->reduction)
                           : t->forward(c, x, target, &c->loss);
  if (rc == NN_OK) *loss = c->loss;
  return rc;
}

/* grad_input follows x (a backward pair wants it preallocated) */
int criterion_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target) {
  int rc = tensor_move(c->grad_input, x->storage->device);
  if (rc == NN_OK) rc = resize_as(c->grad_input, x);
  if (rc == NN_OK)
    rc = c->type->pair_backward ? c->type->pair_backward(c->grad_input, x, target, c->reduction)
                                : c->type->backward(c, x, target);
  return rc;
}

/* The reduction as criterion_new takes it: the index of its choice. */
static int new_with_reduction (nn_criterion **out, const nn_criterion_type *type,
                               nn_redop reduction) {
  *out = NULL;
  int rc = loss_check_reduction(type->name, reduction);
  if (rc != NN_OK) return rc;
  double v[NN_LOSS_MAXOPT];
  for (int i = 0; i < type->noptions; i++) v[i] = type->options[i]->dflt;
  v[0] = reduction == NN_SUM ? 1 : 0;
  return criterion_new(out, type, v);
}

/* --- every loss type ------------------------------------------------------------ */

const nn_criterion_type *const nn_criterion_types[] = {
  &mse_loss_type, &l1_loss_type, &bce_loss_type, &bce_with_logits_loss_type,
  &cross_entropy_loss_type, &nll_loss_type, &categorical_crossentropy_type, NULL
};

int mse_loss_new (nn_criterion **out, nn_redop reduction) {
  return new_with_reduction(out, &mse_loss_type, reduction);
}
int l1_loss_new (nn_criterion **out, nn_redop reduction) {
  return new_with_reduction(out, &l1_loss_type, reduction);
}
int bce_loss_new (nn_criterion **out, nn_redop reduction) {
  return new_with_reduction(out, &bce_loss_type, reduction);
}
int bce_with_logits_loss_new (nn_criterion **out, nn_redop reduction) {
  return new_with_reduction(out, &bce_with_logits_loss_type, reduction);
}
int cross_entropy_loss_new (nn_criterion **out, nn_redop reduction) {
  return new_with_reduction(out, &cross_entropy_loss_type, reduction);
}
int nll_loss_new (nn_criterion **out, nn_redop reduction) {
  return new_with_reduction(out, &nll_loss_type, reduction);
}
int categorical_crossentropy_new (nn_criterion **out, nn_redop reduction, double eps) {
  *out = NULL;
  int rc = loss_check_reduction(categorical_crossentropy_type.name, reduction);
  if (rc != NN_OK) return rc;
  double v[2] = { reduction == NN_SUM ? 1 : 0, eps };
  return criterion_new(out, &categorical_crossentropy_type, v);
}
