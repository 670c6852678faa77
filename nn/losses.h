/*
** losses.h -- the math of every loss, for both devices: one row of a
** classification loss (CrossEntropyLoss, NLLLoss, CategoricalCrossentropy,
** and the fused Softmax + cross-entropy gradient), one element of a binary
** (BCELoss, BCEWithLogitsLoss) or regression loss (MSELoss, L1Loss).
** loss_classification.c, loss_binary.c and loss_regression.c check the
** shapes and loop over the rows (elements) on the CPU; nn/cuda_losses.cu
** runs the same functions in one CUDA thread per row (element) (NN_HD,
** elementwise.h).  The derivations are here, above the code they explain.
**
** The reduction is the caller's.  A row (element) function gives that
** row's (element's) loss, in double.  The CPU adds them up in one double
** sum, in order (a row function adds its terms to that running sum itself:
** see "acc" below); the GPU writes each into a scratch tensor (float32: one
** rounding per row, 6e-8 relative) and sums that with the tensor library's
** deterministic reduction.  So the two devices agree to about 1e-7
** relative, and each gives the same bits on every run.  A gradient function
** writes dL/dx, already scaled by s (below), for its row (element).
*/
#ifndef NN_LOSSES_H
#define NN_LOSSES_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"
#include "softmax.h"         /* nn_row_max */

/* === classification: one row of C class scores =================================
**
** Shapes   x: (B, C), one row of C scores per example; the target t either
**   (B) class indices, 1-based, held as floats, or (B, C) probabilities.
**
** Notation below: row b of x is x_{b.}; t_{bc} is the target row (e_k for an
** index k); T_b = \sum_c t_{bc} (1 for one-hot rows and proper soft labels);
** s = 1/B for the mean, 1 for the sum.  Everything accumulates in double.
**
** A row function takes its target as (tr, k): tr the row t_{b.} of a
** probability target, or NULL for an index target, whose class is then k
** (0-based, already checked).  A loss function returns acc plus the row's
** loss, adding its terms to acc one by one: the CPU passes its running sum
** (so its sum over all terms keeps the order of a plain loop over them), a
** kernel passes 0.
*/

/* The 0-based class of the index v: a whole number in 1..C, or -1 (v is
** not a class index; the negated test also rejects nan). */
NN_HD int64_t nn_class_index (float v, int64_t C) {
  double d = v;
  return d >= 1.0 && d <= (double)C && d == floor(d) ? (int64_t)d - 1 : -1;
}

/* Row b's target as the row functions take it: *tr = t's row b for a
** probability target (is_index 0; *k = 0, unused), or *tr = NULL and *k =
** the class of t[b] for an index target.  Returns 0 when t[b] is not a
** class index (then *k = -1), 1 otherwise. */
NN_HD int nn_row_target (const float **tr, int64_t *k, const float *t, int64_t b, int64_t C,
                         int is_index) {
  *tr = NULL;
  *k = 0;
  if (!is_index) { *tr = t + b * C; return 1; }
  *k = nn_class_index(t[b], C);
  return *k >= 0;
}

/* t_j of the target row: tr[j], or [j == k] for an index target */
NN_HD double nn_target_at (const float *tr, int64_t k, int64_t j) {
  return tr != NULL ? (double)tr[j] : (j == k ? 1.0 : 0.0);
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
NN_HD double nn_ce_row_loss (double acc, const float *x, const float *tr, int64_t k,
                             int64_t C) {
  /* lse = m + log sum_j exp(x_j - m): stable */
  double m = nn_row_max(x, C), z = 0.0;
  for (int64_t j = 0; j < C; j++) z += exp((double)x[j] - m);
  double lse = m + log(z);
  if (tr == NULL) return acc + (lse - (double)x[k]);
  for (int64_t j = 0; j < C; j++) acc += (double)tr[j] * (lse - (double)x[j]);
  return acc;                            /* -sum_c t_c (x_c - lse) */
}

NN_HD void nn_ce_row_grad (float *dx, const float *x, const float *tr, int64_t k, int64_t C,
                           double s) {
  /* e_j = exp(x_j - m) into the gradient row, and z = sum_j e_j */
  double m = nn_row_max(x, C), z = 0.0;
  for (int64_t j = 0; j < C; j++) {
    double e = exp((double)x[j] - m);
    dx[j] = (float)e;
    z += e;
  }
  if (tr == NULL) {                      /* s (p - onehot(k)) */
    for (int64_t j = 0; j < C; j++)
      dx[j] = (float)(s * ((double)dx[j] / z - (j == k ? 1.0 : 0.0)));
  } else {                               /* s (p T - t) */
    double T = 0.0;
    for (int64_t j = 0; j < C; j++) T += tr[j];
    for (int64_t j = 0; j < C; j++)
      dx[j] = (float)(s * ((double)dx[j] / z * T - (double)tr[j]));
  }
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
NN_HD double nn_nll_row_loss (double acc, const float *x, const float *tr, int64_t k,
                              int64_t C) {
  if (tr == NULL) return acc - (double)x[k];
  for (int64_t j = 0; j < C; j++) acc -= (double)tr[j] * (double)x[j];
  return acc;
}

/* in float: -s t, with s rounded to float once */
NN_HD void nn_nll_row_grad (float *dx, const float *tr, int64_t k, int64_t C, double s) {
  float sf = (float)s;
  if (tr == NULL) {                      /* -s at the target, 0 elsewhere */
    for (int64_t j = 0; j < C; j++) dx[j] = 0.0f;
    dx[k] = -sf;
  } else {
    for (int64_t j = 0; j < C; j++) dx[j] = -sf * tr[j];
  }
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

/* lo = eps: the clip is [lo, 1 - lo] */
NN_HD double nn_cce_row_loss (double acc, const float *x, const float *tr, int64_t k,
                              int64_t C, double lo) {
  double hi = 1.0 - lo;
  double S = 0.0;                        /* the row sum, to renormalise */
  for (int64_t j = 0; j < C; j++) S += x[j];
  for (int64_t j = 0; j < C; j++) {
    double tc = nn_target_at(tr, k, j);
    if (tc == 0.0) continue;             /* 0 log q = 0 */
    /* clip(p, eps, 1 - eps), by comparisons so that a NaN stays NaN (fmin
    ** and fmax would drop it, and a diverged model would show a finite
    ** loss that TerminateOnNaN cannot see) */
    double p = (double)x[j] / S;
    double q = p < lo ? lo : p > hi ? hi : p;
    acc -= tc * log(q);
  }
  return acc;
}

NN_HD void nn_cce_row_grad (float *dx, const float *x, const float *tr, int64_t k, int64_t C,
                            double s, double lo) {
  double hi = 1.0 - lo;
  double S = 0.0;
  for (int64_t j = 0; j < C; j++) S += x[j];
  /* g_j = dL_b/dp_j into the gradient row (0 where clipped or t_j = 0),
  ** and dot = sum_j g_j p_j */
  double dot = 0.0;
  for (int64_t j = 0; j < C; j++) {
    double tc = nn_target_at(tr, k, j);
    double p = (double)x[j] / S, g = 0.0;
    if (tc != 0.0 && p >= lo && p <= hi) g = -tc / p;
    dx[j] = (float)g;
    dot += g * p;
  }
  /* dx_j = (s / S) (g_j - dot) */
  for (int64_t j = 0; j < C; j++) dx[j] = (float)(s / S * ((double)dx[j] - dot));
}


/* The three by name, for the loops and kernels that serve all three. */
typedef enum nn_class_loss_op { NN_LOSS_CE, NN_LOSS_NLL, NN_LOSS_CCE } nn_class_loss_op;

/* acc + row loss of op (lo: CategoricalCrossentropy's eps) */
NN_HD double nn_class_row_loss (nn_class_loss_op op, double acc, const float *x,
                                const float *tr, int64_t k, int64_t C, double lo) {
  switch (op) {
    case NN_LOSS_CE: return nn_ce_row_loss(acc, x, tr, k, C);
    case NN_LOSS_NLL: return nn_nll_row_loss(acc, x, tr, k, C);
    default: return nn_cce_row_loss(acc, x, tr, k, C, lo);
  }
}

/* dx = the row's gradient of op, scaled by s */
NN_HD void nn_class_row_grad (nn_class_loss_op op, float *dx, const float *x,
                              const float *tr, int64_t k, int64_t C, double s, double lo) {
  switch (op) {
    case NN_LOSS_CE: nn_ce_row_grad(dx, x, tr, k, C, s); break;
    case NN_LOSS_NLL: nn_nll_row_grad(dx, tr, k, C, s); break;
    default: nn_cce_row_grad(dx, x, tr, k, C, s, lo); break;
  }
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
NN_HD void nn_softmax_xent_row_grad (float *dz, const float *y, const float *tr, int64_t k,
                                     int64_t C, double s, int y_is_log) {
  double T = 1.0;
  if (tr != NULL) { T = 0.0; for (int64_t j = 0; j < C; j++) T += tr[j]; }
  for (int64_t j = 0; j < C; j++) {
    double p = y_is_log ? exp((double)y[j]) : (double)y[j];
    dz[j] = (float)(s * (T * p - nn_target_at(tr, k, j)));
  }
}


/* === binary: one element, x_k against the probability t_k of "yes" ============
**
** Notation: s = 1/n for the mean over all n elements, 1 for the sum;
** \sigma(z) = 1 / (1 + e^{-z}).
*/

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
** Errors: an x outside [0, 1] (or nan) is not a probability: the loss
**   rejects it (NN_EARG naming the entry), so the functions below only ever
**   see x in [0, 1].
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.2
**   (sigmoid units for Bernoulli outputs); PyTorch docs, torch.nn.BCELoss
**   (the clamp of the log at -100) and aten/src/ATen/native/Loss.cpp
**   (binary_cross_entropy_backward, EPSILON = 1e-12).
*/
#define NN_BCE_LOG_MIN (-100.0)
#define NN_BCE_EPS 1e-12

/* x in [0, 1]; the negated test of a caller catches nan */
NN_HD int nn_is_probability (float x) { return x >= 0.0f && x <= 1.0f; }

NN_HD double nn_bce_loss (float x, float t) {
  double xk = x, tk = t;
  /* log(0) = -inf, clamped to -100 */
  double log_x = fmax(log(xk), NN_BCE_LOG_MIN), log_1mx = fmax(log1p(-xk), NN_BCE_LOG_MIN);
  return -(tk * log_x + (1.0 - tk) * log_1mx);
}

NN_HD float nn_bce_grad (float x, float t, double s) {
  double xk = x, tk = t;
  return (float)(s * (xk - tk) / fmax(xk * (1.0 - xk), NN_BCE_EPS));
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
NN_HD double nn_bce_logits_loss (float x, float t) {
  double xk = x, tk = t;
  return fmax(xk, 0.0) - xk * tk + log1p(exp(-fabs(xk)));
}

/* sigma(z) in double, with a non-positive exponent on either side of 0 */
NN_HD double nn_sigmoid_double (double z) {
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

NN_HD float nn_bce_logits_grad (float x, float t, double s) {
  return (float)(s * (nn_sigmoid_double(x) - (double)t));
}


/* === regression: one element, x_k against a real target t_k ====================
**
** The mean is over every element, not per example: PyTorch's
** reduction='mean', and Keras's mean over the last axis then the batch,
** give the same number.
*/

/*
** MSELoss (mean squared error):   L = (1/n) \sum_k (x_k - t_k)^2
**
** Shapes   x, t: any shape, the same; n = numel.   L: a scalar.
** Backward: L depends on x_k through its own term only:
**   dL/dx_k = (2/n) (x_k - t_k)      =>  dx = (2/n) (x - t)
** (with reduction='sum', drop the 1/n).  The target gets no gradient.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 5.1.4.
*/
NN_HD double nn_mse_loss (float x, float t) {
  double d = (double)x - (double)t;
  return d * d;
}

/* in float: (2 s) (x - t), the factor rounded to float once */
NN_HD float nn_mse_grad (float x, float t, double s) {
  return (float)(2.0 * s) * (x - t);
}

/*
** L1Loss (mean absolute error):   L = (1/n) \sum_k |x_k - t_k|
**
** Shapes   as MSELoss.
** Backward: d|u|/du = sign(u), undefined at u = 0, where we use 0 (the
**   subgradient PyTorch picks; a kink, so a finite-difference check must
**   keep away from x = t):
**   dL/dx_k = sign(x_k - t_k) / n    =>  dx = sign(x - t) / n
** Less pulled by outliers than MSE: every error pulls with the same force.
*/
NN_HD double nn_l1_loss (float x, float t) { return fabs((double)x - (double)t); }

/* in float: s sign(x - t), 0 at the kink */
NN_HD float nn_l1_grad (float x, float t, double s) {
  float sf = (float)s, u = x - t;
  return u > 0.0f ? sf : (u < 0.0f ? -sf : 0.0f);
}


/* The four by name, for the kernels that serve all four. */
typedef enum nn_elem_loss_op {
  NN_LOSS_MSE, NN_LOSS_L1, NN_LOSS_BCE, NN_LOSS_BCE_LOGITS
} nn_elem_loss_op;

NN_HD double nn_elem_loss (nn_elem_loss_op op, float x, float t) {
  switch (op) {
    case NN_LOSS_MSE: return nn_mse_loss(x, t);
    case NN_LOSS_L1: return nn_l1_loss(x, t);
    case NN_LOSS_BCE: return nn_bce_loss(x, t);
    default: return nn_bce_logits_loss(x, t);
  }
}

NN_HD float nn_elem_grad (nn_elem_loss_op op, float x, float t, double s) {
  switch (op) {
    case NN_LOSS_MSE: return nn_mse_grad(x, t, s);
    case NN_LOSS_L1: return nn_l1_grad(x, t, s);
    case NN_LOSS_BCE: return nn_bce_grad(x, t, s);
    default: return nn_bce_logits_grad(x, t, s);
  }
}


/* === the CUDA launchers (nn/cuda_losses.cu) =====================================
** Device pointers; B, n >= 1.  Each thread runs the function above for one
** row (element).  `bad` is where a launcher reports the first input that
** the loss rejects: a class index that is not one (an index target; the
** row is skipped, its class never used as an address) or a BCELoss input
** outside [0, 1] (the element is skipped).  With bad != NULL the launcher
** waits for the GPU and sets *bad to that row (element), 0-based, or -1
** when there is none; with bad == NULL (nothing to check) it does not wait. */

/* loss[b] = row b's loss of op (acc = 0).  x: (B, C); t: (B) indices
** (is_index) or (B, C); lo: CategoricalCrossentropy's eps. */
NN_CUDA_FN(int nncuda_class_loss_rows (float *loss, int64_t *bad, const float *x,
                                       const float *t, int64_t B, int64_t C, int is_index,
                                       nn_class_loss_op op, double lo))
/* dx (B, C) = the gradient of op, scaled by s, row by row */
NN_CUDA_FN(int nncuda_class_grad_rows (float *dx, int64_t *bad, const float *x, const float *t,
                                       int64_t B, int64_t C, int is_index,
                                       nn_class_loss_op op, double s, double lo))
/* dz (B, C) = s (T p - t) from the Softmax output y (LogSoftmax: y_is_log) */
NN_CUDA_FN(int nncuda_softmax_xent_grad_rows (float *dz, int64_t *bad, const float *y,
                                              const float *t, int64_t B, int64_t C,
                                              int is_index, double s, int y_is_log))
/* loss[i] = element i's loss of op; dx[i] = its gradient scaled by s.
** x, t: n elements each. */
NN_CUDA_FN(int nncuda_elem_loss (float *loss, int64_t *bad, const float *x, const float *t,
                                 int64_t n, nn_elem_loss_op op))
NN_CUDA_FN(int nncuda_elem_grad (float *dx, int64_t *bad, const float *x, const float *t,
                                 int64_t n, nn_elem_loss_op op, double s))

#endif
