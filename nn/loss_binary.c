/*
** loss_binary.c -- losses for yes/no targets: BCELoss and BCEWithLogitsLoss.
**
** Each entry of x is its own two-class problem (binary classification, or
** multi-label: several independent yes/no answers per example).  The target
** t has x's shape and holds the probability of "yes": 0 or 1, or a soft
** label in between (not checked, as PyTorch).  The reduction is over all n
** entries: the mean (the default) or the sum, as PyTorch's reduction.
**
** The math of one entry, with its derivation, is in losses.h.  Here are the
** checks, and the loop over the entries on the CPU, or the launch of one
** CUDA thread per entry (nn/cuda_losses.cu): the forward writes each
** entry's loss into the scratch c->work and sums it there
** (tensor_reduce_all, which is deterministic); the backward writes
** grad_input directly.
*/
#include <stdio.h>

#include "nn.h"
#include "losses.h"

/* "[2][3]": the 1-based index of flat entry k of t, as the Lua side counts */
static void index_text (char *buf, size_t len, const nn_tensor *t, int64_t k) {
  int64_t idx[NN_MAXDIM];
  for (int d = t->ndim - 1; d >= 0; d--) {
    idx[d] = t->shape[d] > 0 ? k % t->shape[d] + 1 : 1;
    k = t->shape[d] > 0 ? k / t->shape[d] : 0;
  }
  size_t n = 0;
  buf[0] = '\0';
  for (int d = 0; d < t->ndim && n < len; d++)
    n += (size_t)snprintf(buf + n, len - n, "[%lld]", (long long)idx[d]);
}

/* The error for entry k of x, which is not a probability; the value is
** read back from x (one device copy on CUDA). */
static int bad_probability (const nn_criterion *c, const nn_tensor *x, int64_t k) {
  float v = 0.0f;
  int rc = tensor_get(&v, x, k);
  if (rc != NN_OK) return rc;
  char where[NN_MAXDIM * 24];
  index_text(where, sizeof where, x, k);
  return nn_seterr(NN_EARG, "%s: input%s = %g is not a probability in [0, 1]",
                   c->type->name, where, (double)v);
}

/* BCELoss's check on the CPU: NN_EARG unless every x_k is in [0, 1] (on
** CUDA the kernels check as they go) */
static int check_probabilities (const nn_criterion *c, const nn_tensor *x) {
  const float *xp = tensor_data(x);
  for (int64_t k = 0; k < x->numel; k++)
    if (!nn_is_probability(xp[k])) return bad_probability(c, x, k);   /* nan too */
  return NN_OK;
}

/* On CUDA: entry k's loss of op into work[k], then their sum; BCELoss
** reports the first input that is not a probability. */
static int cuda_forward (double *sum, nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                         nn_elem_loss_op op) {
  int64_t n = x->numel, bad = -1;
  *sum = 0.0;
  if (n == 0) return NN_OK;
  int rc = tensor_resize(c->work, 1, &n);
  if (rc == NN_OK)
    rc = nncuda_elem_loss(tensor_data(c->work), op == NN_LOSS_BCE ? &bad : NULL,
                          tensor_data(x), tensor_data(t), n, op);
  if (rc == NN_OK && bad >= 0) rc = bad_probability(c, x, bad);
  if (rc == NN_OK) rc = tensor_reduce_all(sum, c->work, NN_SUM);
  return rc;
}

/* On CUDA: grad_input (on x's device: module.c) = each entry's gradient */
static int cuda_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                          nn_elem_loss_op op) {
  int64_t n = x->numel, bad = -1;
  if (n == 0) return NN_OK;
  int rc = nncuda_elem_grad(tensor_data(c->grad_input), op == NN_LOSS_BCE ? &bad : NULL,
                            tensor_data(x), tensor_data(t), n, op, criterion_scale(c, n));
  if (rc == NN_OK && bad >= 0) rc = bad_probability(c, x, bad);
  return rc;
}

/* BCELoss (losses.h): x holds probabilities, a Sigmoid output */
static int bce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    rc = cuda_forward(&sum, c, x, t, NN_LOSS_BCE);
  } else if ((rc = check_probabilities(c, x)) == NN_OK) {
    const float *xp = tensor_data(x), *tp = tensor_data(t);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_bce_loss(xp[k], tp[k]);
  }
  if (rc != NN_OK) return rc;
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int bce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  if (x->storage->device == NN_CUDA) return cuda_backward(c, x, t, NN_LOSS_BCE);
  if ((rc = check_probabilities(c, x)) != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_bce_grad(xp[k], tp[k], s);
  return NN_OK;
}

/* BCEWithLogitsLoss (losses.h): a Sigmoid and BCELoss fused, on logits x */
static int bce_logits_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                               double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    if ((rc = cuda_forward(&sum, c, x, t, NN_LOSS_BCE_LOGITS)) != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(t);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_bce_logits_loss(xp[k], tp[k]);
  }
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int bce_logits_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  if (x->storage->device == NN_CUDA) return cuda_backward(c, x, t, NN_LOSS_BCE_LOGITS);
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_bce_logits_grad(xp[k], tp[k], s);
  return NN_OK;
}

static const nn_criterion_type bce_type = {
  .name = "BCELoss", .forward = bce_forward, .backward = bce_backward
};
static const nn_criterion_type bce_logits_type = {
  .name = "BCEWithLogitsLoss", .forward = bce_logits_forward, .backward = bce_logits_backward
};

int bce_loss_new (nn_criterion **out, nn_redop reduction) {
  return criterion_alloc(out, &bce_type, reduction);
}

int bce_with_logits_loss_new (nn_criterion **out, nn_redop reduction) {
  return criterion_alloc(out, &bce_logits_type, reduction);
}
