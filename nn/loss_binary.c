/*
** loss_binary.c -- losses for yes/no targets: BCELoss and BCEWithLogitsLoss.
**
** Each entry of x is its own two-class problem (binary classification, or
** multi-label: several independent yes/no answers per example).  The target
** t has x's shape and holds the probability of "yes": 0 or 1, or a soft
** label in between (not checked, as PyTorch).  The reduction is over all n
** entries: the mean (the default) or the sum, as PyTorch's reduction.
**
** Each loss is a pure pair (criterion.h), with its derivation directly
** above it; the formula of one entry is an NN_HD function of losses.h,
** which the CPU loop here and one CUDA thread per entry (nn/cuda_losses.cu)
** both run.  On CUDA the forward writes each entry's loss into the scratch
** `work` and sums it there (tensor_reduce_all, which is deterministic); the
** backward writes grad_x directly.
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
** read back from x (one device copy on CUDA).  The input is at fault. */
static int bad_probability (const char *name, const nn_tensor *x, int64_t k) {
  float v = 0.0f;
  int rc = tensor_get(&v, x, k);
  if (rc != NN_OK) return rc;
  char where[NN_MAXDIM * 24];
  index_text(where, sizeof where, x, k);
  return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "%s: input%s = %g is not a probability in "
                       "[0, 1]", name, where, (double)v);
}

/* BCELoss's check on the CPU: NN_EARG unless every x_k is in [0, 1] (on
** CUDA the kernels check as they go) */
static int check_probabilities (const char *name, const nn_tensor *x) {
  const float *xp = tensor_data(x);
  for (int64_t k = 0; k < x->numel; k++)
    if (!nn_is_probability(xp[k])) return bad_probability(name, x, k);   /* nan too */
  return NN_OK;
}

/* The checks of a forward pair (grad_x NULL) or a backward pair */
static int check_pair (const char *name, const nn_tensor *grad_x, const nn_tensor *x,
                       const nn_tensor *t, nn_redop reduction) {
  int rc = loss_check_reduction(name, reduction);
  if (rc == NN_OK) rc = loss_same_shape(name, x, t);
  if (rc == NN_OK && grad_x != NULL) rc = loss_check_grad(name, grad_x, x);
  return rc;
}

/* On CUDA: entry k's loss of op into a scratch[k], then their sum; BCELoss
** reports the first input that is not a probability. */
static int cuda_sum (double *sum, nn_tensor *work, const nn_tensor *x, const nn_tensor *t,
                     nn_elem_loss_op op, const char *name) {
  int64_t n = x->numel, bad = -1;
  *sum = 0.0;
  if (n == 0) return NN_OK;
  nn_tensor *tmp;
  int rc = loss_scratch(&tmp, work, x, n);
  if (rc == NN_OK)
    rc = nncuda_elem_loss(tensor_data(tmp), op == NN_LOSS_BCE ? &bad : NULL,
                          tensor_data(x), tensor_data(t), n, op);
  if (rc == NN_OK && bad >= 0) rc = bad_probability(name, x, bad);
  if (rc == NN_OK) rc = tensor_reduce_all(sum, tmp, NN_SUM);
  tensor_release(tmp);
  return rc;
}

/* On CUDA: grad_x = each entry's gradient, scaled by s */
static int cuda_grad (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *t,
                      nn_elem_loss_op op, double s, const char *name) {
  int64_t n = x->numel, bad = -1;
  if (n == 0) return NN_OK;
  int rc = nncuda_elem_grad(tensor_data(grad_x), op == NN_LOSS_BCE ? &bad : NULL,
                            tensor_data(x), tensor_data(t), n, op, s);
  if (rc == NN_OK && bad >= 0) rc = bad_probability(name, x, bad);
  return rc;
}


/*
** BCELoss (binary cross-entropy):  x holds probabilities, a Sigmoid output.
**
** Shapes   x, t: any shape, the same; n = numel.   L: a scalar.
**          s = 1/n for the mean, 1 for the sum.
**
** Forward  L = -s \sum_k [ t_k \log x_k + (1 - t_k) \log(1 - x_k) ]  \tag{1}
**   the negative log-likelihood of t under a Bernoulli(x).  Each log is
**   clamped to >= -100, as PyTorch does, so x = 0 or 1 gives a finite loss:
**   100 for an entry that is confidently wrong (x = 0 where t = 1), 0 where
**   confidently right.
**
** Backward  d/dx [t \log x + (1 - t) \log(1 - x)] = t/x - (1 - t)/(1 - x)
**                                                = (t - x) / (x (1 - x))
**     dL/dx_k = s (x_k - t_k) / \max(x_k (1 - x_k), 10^{-12})      \tag{2}
**   The max is PyTorch's eps: at x = 0 or 1 the gradient is huge but finite.
**   (There the clamped forward is flat and its true derivative is 0; PyTorch
**   keeps the big push back toward the target, and so do we.)
**
** Stability  weak by nature: x from a Sigmoid rounds to exactly 0 or 1 in
**   float32 once |logit| > ~17, and then the loss saturates at the clamp.
**   For training, BCEWithLogitsLoss on the logits is the stable choice.
**
** Errors: an x outside [0, 1] (or nan) is not a probability: the pair
**   rejects it (NN_EARG naming the entry, role INPUT), so the element
**   functions only ever see x in [0, 1].
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.2
**   (sigmoid units for Bernoulli outputs); PyTorch docs, torch.nn.BCELoss
**   (the clamp of the log at -100) and aten/src/ATen/native/Loss.cpp
**   (binary_cross_entropy_backward, EPSILON = 1e-12).
*/
int bce_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                      const nn_tensor *target, nn_redop reduction) {
  const char *name = "BCELoss";
  int rc = check_pair(name, NULL, x, target, reduction);
  if (rc != NN_OK) return rc;
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    rc = cuda_sum(&sum, work, x, target, NN_LOSS_BCE, name);
  } else if ((rc = check_probabilities(name, x)) == NN_OK) {
    const float *xp = tensor_data(x), *tp = tensor_data(target);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_bce_loss(xp[k], tp[k]);   /* (1) */
  }
  if (rc != NN_OK) return rc;
  *loss = sum * loss_scale(reduction, x->numel);                               /* (1) s */
  return NN_OK;
}

int bce_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                       nn_redop reduction) {
  const char *name = "BCELoss";
  int rc = check_pair(name, grad_x, x, target, reduction);
  if (rc != NN_OK) return rc;
  double s = loss_scale(reduction, x->numel);
  if (x->storage->device == NN_CUDA) return cuda_grad(grad_x, x, target, NN_LOSS_BCE, s, name);
  if ((rc = check_probabilities(name, x)) != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(target);
  float *dx = tensor_data(grad_x);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_bce_grad(xp[k], tp[k], s);   /* (2) */
  return NN_OK;
}


/*
** BCEWithLogitsLoss:  a Sigmoid and BCELoss fused, on logits x.
**
** Shapes   x: any shape (logits, any real numbers), t: x's shape; n = numel.
**
** Forward  with p = \sigma(x) = 1 / (1 + e^{-x}):  \log p = -\log(1 + e^{-x}),
**          \log(1 - p) = -x - \log(1 + e^{-x}), so each term is
**   \ell = -t \log p - (1 - t) \log(1 - p) = (1 - t) x + \log(1 + e^{-x})
**   That overflows for x << 0 (e^{-x}).  Since \log(1 + e^{-x}) =
**   -x + \log(1 + e^{x}) for x < 0, both cases are
**   \ell_k = \max(x_k, 0) - x_k t_k + \log(1 + e^{-|x_k|})           \tag{1}
**   L = s \sum_k \ell_k                                              \tag{2}
**
** Backward  d\ell/dx = (1 - t) - e^{-x} / (1 + e^{-x}) = (1 - t) - (1 - p)
**     dL/dx_k = s (\sigma(x_k) - t_k)       =>  dx = s (\sigma(x) - t)   \tag{3}
**   The Sigmoid's derivative p (1 - p) cancels BCE's 1 / (p (1 - p)): the
**   same "prediction minus target" as softmax with cross-entropy.
**
** Stability  e^{-|x|} is in (0, 1]: no overflow, and log1p keeps the small
**   term \log(1 + u) accurate where u is tiny (large |x|).  \sigma is taken
**   as 1 / (1 + e^{-x}) for x >= 0 and e^{x} / (1 + e^{x}) for x < 0, so the
**   exponent is never positive.  Logits of +-1e4 give a finite loss (1e4
**   where wrong) and a gradient in [-s, s].
**
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.2
**   (the softplus form of the loss); PyTorch docs, torch.nn.BCEWithLogitsLoss.
*/
int bce_with_logits_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                                  const nn_tensor *target, nn_redop reduction) {
  const char *name = "BCEWithLogitsLoss";
  int rc = check_pair(name, NULL, x, target, reduction);
  if (rc != NN_OK) return rc;
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    if ((rc = cuda_sum(&sum, work, x, target, NN_LOSS_BCE_LOGITS, name)) != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(target);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_bce_logits_loss(xp[k], tp[k]);  /* (1) */
  }
  *loss = sum * loss_scale(reduction, x->numel);                                     /* (2) */
  return NN_OK;
}

int bce_with_logits_loss_backward (nn_tensor *grad_x, const nn_tensor *x,
                                   const nn_tensor *target, nn_redop reduction) {
  const char *name = "BCEWithLogitsLoss";
  int rc = check_pair(name, grad_x, x, target, reduction);
  if (rc != NN_OK) return rc;
  double s = loss_scale(reduction, x->numel);
  if (x->storage->device == NN_CUDA)
    return cuda_grad(grad_x, x, target, NN_LOSS_BCE_LOGITS, s, name);
  const float *xp = tensor_data(x), *tp = tensor_data(target);
  float *dx = tensor_data(grad_x);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_bce_logits_grad(xp[k], tp[k], s);  /* (3) */
  return NN_OK;
}


/* --- as criteria: the pairs with the criterion's buffers ------------------------- */


const nn_criterion_type bce_loss_type = {
  .name = "BCELoss",
  .doc = "binary cross-entropy of probabilities x in [0, 1] against targets of x's shape",
  .noptions = 1, .options = nn_loss_reduction_only,
  .pair_forward = bce_loss_forward, .pair_backward = bce_loss_backward
};
const nn_criterion_type bce_with_logits_loss_type = {
  .name = "BCEWithLogitsLoss",
  .doc = "binary cross-entropy of sigmoid(x), x logits, against targets of x's shape",
  .noptions = 1, .options = nn_loss_reduction_only,
  .pair_forward = bce_with_logits_loss_forward, .pair_backward = bce_with_logits_loss_backward
};
