/*
** losses.h -- the math of every loss, for both devices: one row of a
** classification loss (CrossEntropyLoss, NLLLoss, CategoricalCrossentropy,
** and the fused Softmax + cross-entropy gradient), one element of a binary
** (BCELoss, BCEWithLogitsLoss) or regression loss (MSELoss, L1Loss).
** loss_classification.c, loss_binary.c and loss_regression.c check the
** shapes and loop over the rows (elements) on the CPU; nn/cuda_losses.cu
** runs the same functions in one CUDA thread per row (element) (NN_HD,
** elementwise.h).  The derivations, with numbered equations, sit above the
** pure pairs in those .c files; a "(n)" here is equation n of the loss's
** derivation there.
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


/* CrossEntropyLoss, one row; the derivation and the numbered equations
** are above cross_entropy_loss_forward in loss_classification.c. */
NN_HD double nn_ce_row_loss (double acc, const float *x, const float *tr, int64_t k,
                             int64_t C) {
  /* (5) lse = m + log sum_j exp(x_j - m): stable */
  double m = nn_row_max(x, C), z = 0.0;
  for (int64_t j = 0; j < C; j++) z += exp((double)x[j] - m);
  double lse = m + log(z);
  if (tr == NULL) return acc + (lse - (double)x[k]);                      /* (3), index */
  for (int64_t j = 0; j < C; j++) acc += (double)tr[j] * (lse - (double)x[j]);   /* (2) (3) */
  return acc;                            /* -sum_c t_c (x_c - lse) */
}

NN_HD void nn_ce_row_grad (float *dx, const float *x, const float *tr, int64_t k, int64_t C,
                           double s) {
  /* (1) (5) e_j = exp(x_j - m) into the gradient row, and z = sum_j e_j */
  double m = nn_row_max(x, C), z = 0.0;
  for (int64_t j = 0; j < C; j++) {
    double e = exp((double)x[j] - m);
    dx[j] = (float)e;
    z += e;
  }
  if (tr == NULL) {                      /* (4) s (p - onehot(k)) */
    for (int64_t j = 0; j < C; j++)
      dx[j] = (float)(s * ((double)dx[j] / z - (j == k ? 1.0 : 0.0)));
  } else {                               /* (4) s (p T - t) */
    double T = 0.0;
    for (int64_t j = 0; j < C; j++) T += tr[j];
    for (int64_t j = 0; j < C; j++)
      dx[j] = (float)(s * ((double)dx[j] / z * T - (double)tr[j]));
  }
}


/* NLLLoss, one row; derivation above nll_loss_forward (loss_classification.c). */
NN_HD double nn_nll_row_loss (double acc, const float *x, const float *tr, int64_t k,
                              int64_t C) {
  if (tr == NULL) return acc - (double)x[k];                              /* (1) */
  for (int64_t j = 0; j < C; j++) acc -= (double)tr[j] * (double)x[j];    /* (2) */
  return acc;
}

/* (3) in float: -s t, with s rounded to float once */
NN_HD void nn_nll_row_grad (float *dx, const float *tr, int64_t k, int64_t C, double s) {
  float sf = (float)s;
  if (tr == NULL) {                      /* -s at the target, 0 elsewhere */
    for (int64_t j = 0; j < C; j++) dx[j] = 0.0f;
    dx[k] = -sf;
  } else {
    for (int64_t j = 0; j < C; j++) dx[j] = -sf * tr[j];
  }
}


/* CategoricalCrossentropy, one row; derivation above
** categorical_crossentropy_forward (loss_classification.c). */

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
    double p = (double)x[j] / S;                          /* (1) */
    double q = p < lo ? lo : p > hi ? hi : p;             /* (2) */
    acc -= tc * log(q);                                   /* (3) */
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
    if (tc != 0.0 && p >= lo && p <= hi) g = -tc / p;    /* (4) */
    dx[j] = (float)g;
    dot += g * p;
  }
  /* (5) dx_j = (s / S) (g_j - dot) */
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


/* The fused gradient of Softmax (LogSoftmax) then CategoricalCrossentropy
** (NLLLoss), one row; derivation above softmax_cross_entropy_backward
** (loss_classification.c). */
NN_HD void nn_softmax_xent_row_grad (float *dz, const float *y, const float *tr, int64_t k,
                                     int64_t C, double s, int y_is_log) {
  double T = 1.0;
  if (tr != NULL) { T = 0.0; for (int64_t j = 0; j < C; j++) T += tr[j]; }
  for (int64_t j = 0; j < C; j++) {
    double p = y_is_log ? exp((double)y[j]) : (double)y[j];   /* (2) */
    dz[j] = (float)(s * (T * p - nn_target_at(tr, k, j)));     /* (1) */
  }
}


/* === binary: one element, x_k against the probability t_k of "yes" ============
**
** Notation: s = 1/n for the mean over all n elements, 1 for the sum;
** \sigma(z) = 1 / (1 + e^{-z}).
*/

/* BCELoss, one element; derivation above bce_loss_forward (loss_binary.c).
** Each log is clamped to >= -100 and the gradient's denominator to
** >= 1e-12, as PyTorch (aten/src/ATen/native/Loss.cpp). */
#define NN_BCE_LOG_MIN (-100.0)
#define NN_BCE_EPS 1e-12

/* x in [0, 1]; the negated test of a caller catches nan */
NN_HD int nn_is_probability (float x) { return x >= 0.0f && x <= 1.0f; }

NN_HD double nn_bce_loss (float x, float t) {
  double xk = x, tk = t;
  /* log(0) = -inf, clamped to -100 */
  double log_x = fmax(log(xk), NN_BCE_LOG_MIN), log_1mx = fmax(log1p(-xk), NN_BCE_LOG_MIN);
  return -(tk * log_x + (1.0 - tk) * log_1mx);          /* (1) */
}

NN_HD float nn_bce_grad (float x, float t, double s) {
  double xk = x, tk = t;
  return (float)(s * (xk - tk) / fmax(xk * (1.0 - xk), NN_BCE_EPS));   /* (2) */
}

/* BCEWithLogitsLoss, one element; derivation above
** bce_with_logits_loss_forward (loss_binary.c). */
NN_HD double nn_bce_logits_loss (float x, float t) {
  double xk = x, tk = t;
  return fmax(xk, 0.0) - xk * tk + log1p(exp(-fabs(xk)));   /* (1) */
}

/* sigma(z) in double, with a non-positive exponent on either side of 0 */
NN_HD double nn_sigmoid_double (double z) {
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

NN_HD float nn_bce_logits_grad (float x, float t, double s) {
  return (float)(s * (nn_sigmoid_double(x) - (double)t));   /* (3) */
}


/* === regression: one element, x_k against a real target t_k ====================
**
** The mean is over every element, not per example: PyTorch's
** reduction='mean', and Keras's mean over the last axis then the batch,
** give the same number.
*/

/* MSELoss, one element; derivation above mse_loss_forward (loss_regression.c). */
NN_HD double nn_mse_loss (float x, float t) {
  double d = (double)x - (double)t;
  return d * d;                                          /* (1) */
}

/* in float: (2 s) (x - t), the factor rounded to float once */
NN_HD float nn_mse_grad (float x, float t, double s) {
  return (float)(2.0 * s) * (x - t);                     /* (2) */
}

/* L1Loss, one element; derivation above l1_loss_forward (loss_regression.c).
** A kink at x = t, where the gradient is 0. */
NN_HD double nn_l1_loss (float x, float t) { return fabs((double)x - (double)t); }   /* (1) */

/* in float: s sign(x - t), 0 at the kink */
NN_HD float nn_l1_grad (float x, float t, double s) {
  float sf = (float)s, u = x - t;
  return u > 0.0f ? sf : (u < 0.0f ? -sf : 0.0f);        /* (2) */
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
