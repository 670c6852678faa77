/*
** loss_binary.c -- losses for yes/no targets: BCELoss and BCEWithLogitsLoss.
**
** Each entry of x is its own two-class problem (binary classification, or
** multi-label: several independent yes/no answers per example).  The target
** t has x's shape and holds the probability of "yes": 0 or 1, or a soft
** label in between (not checked, as PyTorch).  The reduction is over all n
** entries: the mean (the default) or the sum, as PyTorch's reduction.
**
** Notation: s = 1/n for the mean, 1 for the sum; \sigma(z) = 1 / (1 + e^{-z}).
** Both loops run on the CPU and accumulate in double.
*/
#include <math.h>
#include <stdio.h>

#include "nn.h"

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

/*
** BCELoss (binary cross-entropy):  x holds probabilities, a Sigmoid output.
**
** Shapes   x, t: any shape, the same; n = numel.   L: a scalar.
**
** Forward  L = -s \sum_k [ t_k \log x_k + (1 - t_k) \log(1 - x_k) ]
**   the negative log-likelihood of t under a Bernoulli(x).  Each log is
**   clamped to >= -100, as PyTorch does, so x = 0 or 1 gives a finite loss:
**   100 for an entry that is confidently wrong (x = 0 where t = 1), 0 where
**   confidently right.
**
** Backward  d/dx [t \log x + (1 - t) \log(1 - x)] = t/x - (1 - t)/(1 - x)
**                                                = (t - x) / (x (1 - x))
**     dL/dx_k = s (x_k - t_k) / \max(x_k (1 - x_k), 10^{-12})
**   The max is PyTorch's eps: at x = 0 or 1 the gradient is huge but finite.
**   (There the clamped forward is flat and its true derivative is 0; PyTorch
**   keeps the big push back toward the target, and so do we.)
**
** Stability  weak by nature: x from a Sigmoid rounds to exactly 0 or 1 in
**   float32 once |logit| > ~17, and then the loss saturates at the clamp.
**   For training, BCEWithLogitsLoss on the logits is the stable choice.
**
** Errors: an x outside [0, 1] (or nan) is not a probability: NN_EARG naming
**   the entry.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.2
**   (sigmoid units for Bernoulli outputs); PyTorch docs, torch.nn.BCELoss
**   (the clamp of the log at -100) and aten/src/ATen/native/Loss.cpp
**   (binary_cross_entropy_backward, EPSILON = 1e-12).
*/
#define BCE_LOG_MIN (-100.0)
#define BCE_EPS 1e-12

/* NN_EARG unless every x_k is in [0, 1] */
static int check_probabilities (const nn_criterion *c, const nn_tensor *x) {
  const float *xp = tensor_data(x);
  for (int64_t k = 0; k < x->numel; k++) {
    if (!(xp[k] >= 0.0f && xp[k] <= 1.0f)) {   /* the negated test catches nan */
      char where[NN_MAXDIM * 24];
      index_text(where, sizeof where, x, k);
      return nn_seterr(NN_EARG, "%s: input%s = %g is not a probability in [0, 1]",
                       c->type->name, where, (double)xp[k]);
    }
  }
  return NN_OK;
}

static int bce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc == NN_OK) rc = check_probabilities(c, x);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double sum = 0.0;
  for (int64_t k = 0; k < x->numel; k++) {
    double xk = xp[k], tk = tp[k];
    /* log(0) = -inf, clamped to -100 */
    double log_x = fmax(log(xk), BCE_LOG_MIN), log_1mx = fmax(log1p(-xk), BCE_LOG_MIN);
    sum -= tk * log_x + (1.0 - tk) * log_1mx;
  }
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int bce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc == NN_OK) rc = check_probabilities(c, x);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++) {
    double xk = xp[k], tk = tp[k];
    dx[k] = (float)(s * (xk - tk) / fmax(xk * (1.0 - xk), BCE_EPS));
  }
  return NN_OK;
}

/*
** BCEWithLogitsLoss:  a Sigmoid and BCELoss fused, on logits x.
**
** Shapes   x: any shape (logits, any real numbers), t: x's shape; n = numel.
**
** Forward  with p = \sigma(x):  \log p = -\log(1 + e^{-x}),
**          \log(1 - p) = -x - \log(1 + e^{-x}), so each term is
**   \ell = -t \log p - (1 - t) \log(1 - p) = (1 - t) x + \log(1 + e^{-x})
**   That overflows for x << 0 (e^{-x}).  Since \log(1 + e^{-x}) =
**   -x + \log(1 + e^{x}) for x < 0, both cases are
**   \ell = \max(x, 0) - x t + \log(1 + e^{-|x|})
**   L = s \sum_k \ell_k
**
** Backward  d\ell/dx = (1 - t) - e^{-x} / (1 + e^{-x}) = (1 - t) - (1 - p)
**     dL/dx_k = s (\sigma(x_k) - t_k)          =>  dx = s (\sigma(x) - t)
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
static int bce_logits_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                               double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double sum = 0.0;
  for (int64_t k = 0; k < x->numel; k++) {
    double xk = xp[k], tk = tp[k];
    sum += fmax(xk, 0.0) - xk * tk + log1p(exp(-fabs(xk)));
  }
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

/* sigma(z) with a non-positive exponent on either side of 0 */
static double stable_sigmoid (double z) {
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

static int bce_logits_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++)
    dx[k] = (float)(s * (stable_sigmoid(xp[k]) - (double)tp[k]));
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
