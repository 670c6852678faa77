/*
** loss_classification.c -- losses for one class out of C: CrossEntropyLoss,
** NLLLoss and CategoricalCrossentropy.
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
** Notation below: row b of x is x_{b.}; t_{bc} is the target row (e_k for an
** index k); T_b = \sum_c t_{bc} (1 for one-hot rows and proper soft labels);
** s = 1/B for the mean, 1 for the sum.  All loops run on the CPU and
** accumulate in double.
*/
#include <math.h>

#include "nn.h"

/* The checks all three losses share.  x must be (B, C) with C >= 1 and on
** the CPU; the target (B) class indices, each a whole number in 1..C, or
** (B, C) probabilities.  *is_index says which.  Errors: NN_ESHAPE (naming
** the loss and both shapes), NN_EARG (a bad class index), NN_EDEVICE. */
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
  if (x->storage->device != NN_CPU)
    return nn_seterr(NN_EDEVICE, "%s: input is on %s; this loss runs on the cpu only "
                     "until the GPU backend gives it a kernel", name,
                     device_name(x->storage->device));
  if (*is_index) {
    /* whole numbers in 1..C; the negated test also rejects nan */
    const float *tp = tensor_data(t);
    for (int64_t b = 0; b < B; b++) {
      double v = tp[b];
      if (!(v >= 1.0 && v <= (double)C && v == floor(v)))
        return nn_seterr(NN_EARG, "%s: target[%lld] = %g is not a class index in 1..%lld "
                         "(class indices are 1-based)", name, (long long)(b + 1), v,
                         (long long)C);
    }
  }
  return NN_OK;
}

/* the 0-based class of row b of an index target (checked before) */
static int64_t class_of (const float *tp, int64_t b) {
  return (int64_t)tp[b] - 1;
}

/* max_c x_c of a row of C >= 1 entries */
static double row_max (const float *xr, int64_t C) {
  double m = xr[0];
  for (int64_t j = 1; j < C; j++) if (xr[j] > m) m = xr[j];
  return m;
}


/*
** CrossEntropyLoss:  log-softmax of the logits, then the negative
** log-likelihood of the target, fused into one stable pass.
**
** Shapes   x: (B, C) logits (any real numbers)   t: (B) indices or (B, C)
**          L: a scalar
**
** Forward  softmax   p_{bc} = e^{x_{bc}} / \sum_j e^{x_{bj}}
**          log p_{bc} = x_{bc} - lse_b,    lse_b = \log \sum_j e^{x_{bj}}
**          L = s \sum_b \sum_c -t_{bc} \log p_{bc}
**            = s \sum_b ( T_b lse_b - \sum_c t_{bc} x_{bc} )
**          index targets (t_{b.} = e_{k_b}):  L = s \sum_b ( lse_b - x_{b k_b} )
**
** Backward  \partial lse_b / \partial x_{bj} = e^{x_{bj}} / \sum_i e^{x_{bi}} = p_{bj}
**   (the derivative of log-sum-exp is softmax), and example b's loss depends
**   on row b only, so
**     dL/dx_{bj} = s ( T_b p_{bj} - t_{bj} )     =>  dx = s (p T - t)   (B, C)
**   index targets:  dx = s (p - onehot(k)).  The famous "softmax minus
**   target": no division by p, so nothing blows up where p is tiny, which is
**   why the two steps are fused instead of chaining a Softmax and a log.
**
** Stability  lse_b = m_b + \log \sum_j e^{x_{bj} - m_b},  m_b = \max_j x_{bj}:
**   every exponent is <= 0 (no overflow) and the largest term is e^0 = 1, so
**   the sum is in [1, C] and its log is finite (no log 0).  Logits of
**   +-1e4 give a finite loss (up to 2e4) and a gradient in [-1, 1].
**
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.3
**   (softmax units, the log-sum-exp and its stable form), sec. 6.2.1.1 (the
**   cross-entropy as the negative log-likelihood).
*/
static int ce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double sum = 0.0;
  for (int64_t b = 0; b < B; b++) {
    const float *xr = xp + b * C;
    /* lse = m + log sum_j exp(x_j - m): stable */
    double m = row_max(xr, C), z = 0.0;
    for (int64_t j = 0; j < C; j++) z += exp((double)xr[j] - m);
    double lse = m + log(z);
    if (is_index) {
      sum += lse - (double)xr[class_of(tp, b)];
    } else {
      const float *tr = tp + b * C;      /* -sum_c t_c (x_c - lse) */
      for (int64_t j = 0; j < C; j++) sum += (double)tr[j] * (lse - (double)xr[j]);
    }
  }
  *loss = sum * criterion_scale(c, B);
  return NN_OK;
}

static int ce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, B);
  for (int64_t b = 0; b < B; b++) {
    const float *xr = xp + b * C;
    float *dr = dx + b * C;
    /* e_j = exp(x_j - m) into the gradient row, and z = sum_j e_j */
    double m = row_max(xr, C), z = 0.0;
    for (int64_t j = 0; j < C; j++) {
      double e = exp((double)xr[j] - m);
      dr[j] = (float)e;
      z += e;
    }
    if (is_index) {                      /* s (p - onehot(k)) */
      int64_t k = class_of(tp, b);
      for (int64_t j = 0; j < C; j++)
        dr[j] = (float)(s * ((double)dr[j] / z - (j == k ? 1.0 : 0.0)));
    } else {                             /* s (p T - t) */
      const float *tr = tp + b * C;
      double T = 0.0;
      for (int64_t j = 0; j < C; j++) T += tr[j];
      for (int64_t j = 0; j < C; j++)
        dr[j] = (float)(s * ((double)dr[j] / z * T - (double)tr[j]));
    }
  }
  return NN_OK;
}


/*
** NLLLoss (negative log-likelihood):  x already holds log-probabilities
** (a LogSoftmax output); the loss picks the target's.
**
** Shapes   x: (B, C) log-probabilities   t: (B) indices or (B, C)   L: scalar
**
** Forward  L = -s \sum_b x_{b k_b}                 (index targets)
**          L = -s \sum_b \sum_c t_{bc} x_{bc}      (probability targets)
**
** Backward  L is linear in x:
**     dL/dx_{bc} = -s t_{bc}     =>  dx = -s t   (-s onehot(k) for indices)
**   LogSoftmax followed by NLLLoss is CrossEntropyLoss, in two steps: the
**   LogSoftmax's backward turns this -s t into s (p T - t).
**
** PyTorch's NLLLoss takes index targets only; the probability form is the
** same formula with t_{b.} in place of e_{k_b}.  x is not checked to be
** <= 0: any numbers go, as in PyTorch.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.1.1.
*/
static int nll_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double sum = 0.0;
  if (is_index) {
    for (int64_t b = 0; b < B; b++) sum -= (double)xp[b * C + class_of(tp, b)];
  } else {
    for (int64_t k = 0; k < B * C; k++) sum -= (double)tp[k] * (double)xp[k];
  }
  *loss = sum * criterion_scale(c, B);
  return NN_OK;
}

static int nll_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  const float *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  float s = (float)criterion_scale(c, B);
  if (is_index) {                        /* -s at the target, 0 elsewhere */
    for (int64_t k = 0; k < B * C; k++) dx[k] = 0.0f;
    for (int64_t b = 0; b < B; b++) dx[b * C + class_of(tp, b)] = -s;
  } else {
    for (int64_t k = 0; k < B * C; k++) dx[k] = -s * tp[k];
  }
  return NN_OK;
}


/*
** CategoricalCrossentropy (Keras, from_logits=False):  x holds
** probabilities, a Softmax output; Keras renormalises each row and clips it
** away from 0 and 1 before the log.
**
** Shapes   x: (B, C) probabilities (positive, each row summing to about 1)
**          t: (B, C) probabilities, or (B) class indices (a convenience
**          Keras lacks: index k means the one-hot row e_k)      L: scalar
**
** Forward, per row (b dropped), S = \sum_k x_k,  \epsilon = eps (1e-7):
**   p_c = x_c / S                          renormalise
**   q_c = clip(p_c, \epsilon, 1 - \epsilon)   keep \log q finite
**   L = s \sum_b \sum_c -t_c \log q_c
**   Terms with t_c = 0 are skipped (0 \log q = 0 anyway while eps > 0).
**
** Backward, by the chain rule through the three steps:
**   dL_b/dq_c = -t_c / q_c
**   dq_c/dp_c = 1 where \epsilon <= p_c <= 1 - \epsilon, else 0: the clip is
**     flat outside, so a clipped entry passes no gradient (as
**     tf.clip_by_value's gradient, which lets the bounds themselves through)
**   so g_c := dL_b/dp_c = -t_c / p_c where not clipped, 0 where clipped
**   dp_k/dx_c = (\delta_{kc} S - x_k) / S^2 = (\delta_{kc} - p_k) / S
**   dL_b/dx_c = \sum_k g_k (\delta_{kc} - p_k) / S
**             = (1/S) ( g_c - \sum_k g_k p_k )
**   =>  dx_{bc} = (s / S_b) ( g_{bc} - \sum_k g_{bk} p_{bk} )
**   For a one-hot t = e_k with p_k unclipped: g = -e_k / p_k, \sum g p = -1,
**   and dx_c = (s/S)(\delta_{ck} (-1/p_k) + 1).  Scaling a row of x leaves L
**   unchanged (p is scale-free), and indeed \sum_c x_c dL/dx_c = 0.
**
** Stability  the clip bounds -\log q by -\log \epsilon (16.1 for 1e-7) and
**   the division g = -t/p by 1/\epsilon.  Probabilities that come from a
**   Softmax can still round to 0 in float32, where this loss saturates and
**   its gradient vanishes: for training, CrossEntropyLoss on the logits is
**   the stable choice.  A row summing to 0 has no probabilities: nan, as Keras.
**
** Source: Keras, keras/backend.py categorical_crossentropy (the renormalise
**   and the clip with epsilon()); Goodfellow, Bengio & Courville, Deep
**   Learning (2016), sec. 6.2.2.3.
*/
static int cce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double lo = (double)c->hyper[0], hi = 1.0 - lo;
  double sum = 0.0;
  for (int64_t b = 0; b < B; b++) {
    const float *xr = xp + b * C;
    double S = 0.0;                      /* the row sum, to renormalise */
    for (int64_t j = 0; j < C; j++) S += xr[j];
    for (int64_t j = 0; j < C; j++) {
      double tc = is_index ? (j == class_of(tp, b) ? 1.0 : 0.0) : (double)tp[b * C + j];
      if (tc == 0.0) continue;           /* 0 log q = 0 */
      /* clip(p, eps, 1 - eps), by comparisons so that a NaN stays NaN (fmin
      ** and fmax would drop it, and a diverged model would show a finite
      ** loss that TerminateOnNaN cannot see) */
      double p = (double)xr[j] / S;
      double q = p < lo ? lo : p > hi ? hi : p;
      sum -= tc * log(q);
    }
  }
  *loss = sum * criterion_scale(c, B);
  return NN_OK;
}

static int cce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int is_index;
  int rc = check_class_target(c, x, t, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double lo = (double)c->hyper[0], hi = 1.0 - lo;
  double s = criterion_scale(c, B);
  for (int64_t b = 0; b < B; b++) {
    const float *xr = xp + b * C;
    float *dr = dx + b * C;
    double S = 0.0;
    for (int64_t j = 0; j < C; j++) S += xr[j];
    /* g_j = dL_b/dp_j into the gradient row (0 where clipped or t_j = 0),
    ** and dot = sum_j g_j p_j */
    double dot = 0.0;
    for (int64_t j = 0; j < C; j++) {
      double tc = is_index ? (j == class_of(tp, b) ? 1.0 : 0.0) : (double)tp[b * C + j];
      double p = (double)xr[j] / S, g = 0.0;
      if (tc != 0.0 && p >= lo && p <= hi) g = -tc / p;
      dr[j] = (float)g;
      dot += g * p;
    }
    /* dx_j = (s / S) (g_j - dot) */
    for (int64_t j = 0; j < C; j++) dr[j] = (float)(s / S * ((double)dr[j] - dot));
  }
  return NN_OK;
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


/*
** The fused gradient of Softmax (or LogSoftmax) followed by
** CategoricalCrossentropy (or NLLLoss), as Keras and PyTorch compute it
** when they see the pair.
**
** Shapes   z: (B, C) the logits fed to the Softmax    y: (B, C) its output,
**          p = softmax(z) (or log p, for LogSoftmax)    t: (B) or (B, C)
**
** Chaining the two backward passes would divide by p in the loss
** (dL/dp = -s t / p) and multiply by the softmax Jacobian
** (dp_i/dz_j = p_i (\delta_{ij} - p_j)) afterwards:
**   dL/dz_{bj} = \sum_i (-s t_{bi} / p_{bi}) p_{bi} (\delta_{ij} - p_{bj})
**              = s ( T_b p_{bj} - t_{bj} )        (T_b = \sum_i t_{bi})
** the same "softmax minus target" as CrossEntropyLoss above, with no
** division: exact where p underflows to 0, where the chained form gives
** 0 * inf.  (CategoricalCrossentropy clips p to [eps, 1 - eps] in its
** loss; the fused gradient is that of the unclipped loss, as Keras's.)
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.3.
*/
int criterion_softmax_grad (nn_tensor *grad_logits, const nn_criterion *c, const nn_tensor *y,
                            const nn_tensor *t, int y_is_log) {
  int is_index;
  int rc = check_class_target(c, y, t, &is_index);
  if (rc != NN_OK) return rc;
  if ((rc = resize_as(grad_logits, y)) != NN_OK) return rc;
  int64_t B = y->shape[0], C = y->shape[1];
  double s = criterion_scale(c, B);
  const float *yp = tensor_data(y), *tp = tensor_data(t);
  float *gp = tensor_data(grad_logits);
  for (int64_t b = 0; b < B; b++) {
    const float *yr = yp + b * C, *tr = is_index ? NULL : tp + b * C;
    float *gr = gp + b * C;
    double T = 1.0;
    if (!is_index) { T = 0.0; for (int64_t j = 0; j < C; j++) T += tr[j]; }
    for (int64_t j = 0; j < C; j++) {
      double p = y_is_log ? exp((double)yr[j]) : (double)yr[j];
      double tj = is_index ? (j == class_of(tp, b) ? 1.0 : 0.0) : (double)tr[j];
      gr[j] = (float)(s * (T * p - tj));
    }
  }
  return NN_OK;
}
