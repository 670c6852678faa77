/*
** loss_classification.c -- losses for one class out of C: CrossEntropyLoss,
** NLLLoss and CategoricalCrossentropy, and the fused gradient of a Softmax
** (LogSoftmax) followed by CategoricalCrossentropy (NLLLoss).
**
** Each takes a batch of rows x: (B, C), one row of C scores per example, and
** a target that is either
**   (B)     class indices, 1-based (1..C, as Torch7 and as argmax in nnlua),
**           held as floats; each must be a whole number in 1..C, or the loss
**           returns NN_EARG naming the entry; or
**   (B, C)  probabilities: one-hot rows, or soft labels (label smoothing,
**           distillation).  An index target k is the one-hot row e_k, and
**           gives the very same loss and gradient.
** The three differ in what x holds: logits (CrossEntropyLoss), log-
** probabilities (NLLLoss, after a LogSoftmax) or probabilities
** (CategoricalCrossentropy, after a Softmax, as Keras).
**
** Reduction: the mean over the B examples (the default), or the sum.  Not
** the mean over B*C entries: one example's loss is the sum over its row.
** This is PyTorch's reduction='mean' without class weights, for index and
** probability targets alike, and Keras's SUM_OVER_BATCH_SIZE.
**
** The math of one row, with its derivation, is in losses.h.  Here are the
** checks, and the loop over the rows on the CPU, or the launch of one CUDA
** thread per row (nn/cuda_losses.cu): the forward writes each row's loss
** into the scratch c->work and sums it there (tensor_reduce_all, which is
** deterministic); the backward writes grad_input directly.
*/
#include "nn.h"
#include "losses.h"

/* The error for row b of an index target, whose value is not a class
** index; the value is read back from t (one device copy on CUDA). */
static int bad_class_index (const nn_criterion *c, const nn_tensor *t, int64_t b, int64_t C) {
  float v = 0.0f;
  int rc = tensor_get(&v, t, b);
  if (rc != NN_OK) return rc;
  return nn_seterr(NN_EARG, "%s: target[%lld] = %g is not a class index in 1..%lld "
                   "(class indices are 1-based)", c->type->name, (long long)(b + 1),
                   (double)v, (long long)C);
}

/* The checks all three losses share.  x must be (B, C) with C >= 1; the
** target (B) class indices, each a whole number in 1..C, or (B, C)
** probabilities, on x's device.  *is_index says which.  On the CPU the
** indices are checked here; on CUDA the kernel checks them as it goes (and
** the caller reports the first bad one with bad_class_index).  Errors:
** NN_ESHAPE (naming the loss and both shapes), NN_EDEVICE, NN_EARG (a bad
** class index). */
static int check_class_target (const nn_criterion *c, const nn_tensor *x,
                               const nn_tensor *t, int *is_index) {
  const char *name = c->type->name;
  if (x->ndim != 2)
    return nn_seterr(NN_ESHAPE, "%s: input must be (B, C), a row of C class scores per "
                     "example; got input %s with target %s", name, shape_str(x).s,
                     shape_str(t).s);
  int64_t B = x->shape[0], C = x->shape[1];
  if (C < 1)
    return nn_seterr(NN_ESHAPE, "%s: input %s has no classes (target %s)", name,
                     shape_str(x).s, shape_str(t).s);
  if (t->ndim == 1 && t->shape[0] == B) *is_index = 1;
  else if (t->ndim == 2 && t->shape[0] == B && t->shape[1] == C) *is_index = 0;
  else
    return nn_seterr(NN_ESHAPE, "%s: input %s needs a target [%lld] of class indices or "
                     "%s of probabilities, got target %s", name, shape_str(x).s,
                     (long long)B, shape_str(x).s, shape_str(t).s);
  if (x->storage->device != t->storage->device)
    return nn_seterr(NN_EDEVICE, "%s: input is on %s, target on %s", name,
                     device_name(x->storage->device), device_name(t->storage->device));
  if (*is_index && x->storage->device == NN_CPU) {
    const float *tp = tensor_data(t);
    for (int64_t b = 0; b < B; b++)
      if (nn_class_index(tp[b], C) < 0) return bad_class_index(c, t, b, C);
  }
  return NN_OK;
}

/* the loss of op against a checked target, reduced */
static int class_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                          nn_class_loss_op op, double *loss) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  double lo = (double)c->hyper[0], sum = 0.0;
  if (B > 0 && x->storage->device == NN_CUDA) {
    /* row b's loss into work[b], then their sum */
    int64_t bad = -1;
    rc = tensor_resize(c->work, 1, &B);
    if (rc == NN_OK)
      rc = nncuda_class_loss_rows(tensor_data(c->work), is_index ? &bad : NULL,
                                  tensor_data(x), tensor_data(t), B, C, is_index, op, lo);
    if (rc == NN_OK && bad >= 0) rc = bad_class_index(c, t, bad, C);
    if (rc == NN_OK) rc = tensor_reduce_all(&sum, c->work, NN_SUM);
    if (rc != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(t);
    for (int64_t b = 0; b < B; b++) {
      const float *tr;
      int64_t k;
      nn_row_target(&tr, &k, tp, b, C, is_index);
      sum = nn_class_row_loss(op, sum, xp + b * C, tr, k, C, lo);
    }
  }
  *loss = sum * criterion_scale(c, B);
  return NN_OK;
}

/* dL/dx of op into c->grad_input (x's shape, on x's device: module.c) */
static int class_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                           nn_class_loss_op op) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  double lo = (double)c->hyper[0], s = criterion_scale(c, B);
  float *dx = tensor_data(c->grad_input);
  if (B == 0) return NN_OK;
  if (x->storage->device == NN_CUDA) {
    int64_t bad = -1;
    rc = nncuda_class_grad_rows(dx, is_index ? &bad : NULL, tensor_data(x), tensor_data(t),
                                B, C, is_index, op, s, lo);
    if (rc == NN_OK && bad >= 0) rc = bad_class_index(c, t, bad, C);
    return rc;
  }
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  for (int64_t b = 0; b < B; b++) {
    const float *tr;
    int64_t k;
    nn_row_target(&tr, &k, tp, b, C, is_index);
    nn_class_row_grad(op, dx + b * C, xp + b * C, tr, k, C, s, lo);
  }
  return NN_OK;
}

static int ce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  return class_forward(c, x, t, NN_LOSS_CE, loss);
}
static int ce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  return class_backward(c, x, t, NN_LOSS_CE);
}
static int nll_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  return class_forward(c, x, t, NN_LOSS_NLL, loss);
}
static int nll_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  return class_backward(c, x, t, NN_LOSS_NLL);
}
static int cce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  return class_forward(c, x, t, NN_LOSS_CCE, loss);
}
static int cce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  return class_backward(c, x, t, NN_LOSS_CCE);
}

static const nn_criterion_type ce_type = {
  .name = "CrossEntropyLoss", .forward = ce_forward, .backward = ce_backward
};
static const nn_criterion_type nll_type = {
  .name = "NLLLoss", .forward = nll_forward, .backward = nll_backward
};
static const nn_criterion_type cce_type = {
  .name = "CategoricalCrossentropy", .forward = cce_forward, .backward = cce_backward
};

int cross_entropy_loss_new (nn_criterion **out, nn_redop reduction) {
  return criterion_alloc(out, &ce_type, reduction);
}

int nll_loss_new (nn_criterion **out, nn_redop reduction) {
  return criterion_alloc(out, &nll_type, reduction);
}

/* eps in [0, 0.5): the clip [eps, 1 - eps] must not be empty. */
int categorical_crossentropy_new (nn_criterion **out, nn_redop reduction, float eps) {
  *out = NULL;
  if (!(eps >= 0.0f && eps < 0.5f))
    return nn_seterr(NN_EARG, "CategoricalCrossentropy: eps must be in [0, 0.5), got %g",
                     (double)eps);
  int rc = criterion_alloc(out, &cce_type, reduction);
  if (rc == NN_OK) (*out)->hyper[0] = eps;
  return rc;
}


/* The fused gradient s (T p - t) of a Softmax (LogSoftmax) output y and
** the loss c (derivation: losses.h).  grad_logits follows y to its device
** (tensor_move: the criterion's grad_input may not have seen y's device
** yet) and takes y's shape. */
int criterion_softmax_grad (nn_tensor *grad_logits, const nn_criterion *c, const nn_tensor *y,
                            const nn_tensor *t, int y_is_log) {
  int is_index;
  int rc = check_class_target(c, y, t, &is_index);
  if (rc == NN_OK) rc = tensor_move(grad_logits, y->storage->device);
  if (rc == NN_OK) rc = resize_as(grad_logits, y);
  if (rc != NN_OK) return rc;
  int64_t B = y->shape[0], C = y->shape[1];
  double s = criterion_scale(c, B);
  float *gp = tensor_data(grad_logits);
  if (B == 0) return NN_OK;
  if (y->storage->device == NN_CUDA) {
    int64_t bad = -1;
    rc = nncuda_softmax_xent_grad_rows(gp, is_index ? &bad : NULL, tensor_data(y),
                                       tensor_data(t), B, C, is_index, s, y_is_log);
    if (rc == NN_OK && bad >= 0) rc = bad_class_index(c, t, bad, C);
    return rc;
  }
  const float *yp = tensor_data(y), *tp = tensor_data(t);
  for (int64_t b = 0; b < B; b++) {
    const float *tr;
    int64_t k;
    nn_row_target(&tr, &k, tp, b, C, is_index);
    nn_softmax_xent_row_grad(gp + b * C, yp + b * C, tr, k, C, s, y_is_log);
  }
  return NN_OK;
}
