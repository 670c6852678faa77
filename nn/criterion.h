/*
** criterion.h -- losses (criteria) and metrics, included by nn.h.
**
** A loss compares a layer's output with a target and gives one number and
** its gradient.  Each loss family lives in loss_*.c with its derivation
** above the code; the life cycle shared by all is in criterion.c.
*/
#ifndef NN_CRITERION_H
#define NN_CRITERION_H

#include "tensor.h"

/* --- losses (criteria) -------------------------------------------------------- */

typedef struct nn_criterion nn_criterion;

typedef struct nn_criterion_type {
  const char *name;                                          /* "MSELoss" */
  /* The loss of input x against target, reduced by c->reduction. */
  int (*forward) (nn_criterion *c, const nn_tensor *x, const nn_tensor *target,
                  double *loss);
  /* dL/dx into c->grad_input (x's shape). */
  int (*backward) (nn_criterion *c, const nn_tensor *x, const nn_tensor *target);
} nn_criterion_type;

struct nn_criterion {
  const nn_criterion_type *type;
  nn_redop reduction;       /* NN_MEAN (the default) or NN_SUM */
  nn_tensor *grad_input;    /* dL/dx, x's shape */
  nn_tensor *work;          /* scratch a loss may keep between its passes */
  double loss;              /* the last forward's value */
  float hyper[2];           /* per loss (CategoricalCrossentropy: eps) */
};

/* loss = c(x, target) into *loss and c->loss.  Errors: NN_ESHAPE (naming
** the loss and both shapes), NN_EARG (a class index out of range),
** NN_EDEVICE. */
int criterion_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target,
                       double *loss);
/* dL/dx into c->grad_input. */
int criterion_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target);
void criterion_free (nn_criterion *c);            /* NULL is fine */
/* For the loss files: a criterion of `type` with an empty grad_input. */
int criterion_alloc (nn_criterion **out, const nn_criterion_type *type, nn_redop reduction);
/* The factor of the reduction over n terms: 1/n for the mean, 1 for the
** sum (and 1 for an empty mean, whose loss is then 0). */
double criterion_scale (const nn_criterion *c, int64_t n);
/* NN_ESHAPE unless x and target have one shape; the message names c's loss. */
int criterion_same_shape (const nn_criterion *c, const nn_tensor *x, const nn_tensor *target);

/* Targets.  Regression and binary losses take a target of x's shape.  The
** classification losses take x: (B, C) and a target that is either
** (B) class indices, 1-based (1..C, as Torch7 and as argmax in nnlua), held
** as floats, or (B, C) probabilities (one-hot rows, or soft labels). */

/* mean (x - t)^2 */
int mse_loss_new (nn_criterion **out, nn_redop reduction);
/* mean |x - t|  (mean absolute error) */
int l1_loss_new (nn_criterion **out, nn_redop reduction);
/* log-softmax of logits x, then negative log-likelihood: stable, fused */
int cross_entropy_loss_new (nn_criterion **out, nn_redop reduction);
/* x holds log-probabilities: loss = -mean x[b, t_b] */
int nll_loss_new (nn_criterion **out, nn_redop reduction);
/* x holds probabilities in [0, 1]: -mean (t log x + (1-t) log(1-x)) */
int bce_loss_new (nn_criterion **out, nn_redop reduction);
/* x holds logits: BCE of sigmoid(x), computed stably */
int bce_with_logits_loss_new (nn_criterion **out, nn_redop reduction);
/* Keras: x holds probabilities (a Softmax output), clipped to [eps, 1-eps]. */
int categorical_crossentropy_new (nn_criterion **out, nn_redop reduction, float eps);

/* dL/dz for a Softmax (y_is_log = 0) or LogSoftmax (1) output y: (B, C)
** followed by the loss c (CategoricalCrossentropy or NLLLoss) against t:
** s (T p - t), the fused, stable gradient (loss_classification.c).
** grad_logits is moved to y's device and resized to y's shape.
** Errors: as c's forward; NN_EDEVICE when y and t are on two devices. */
int criterion_softmax_grad (nn_tensor *grad_logits, const nn_criterion *c, const nn_tensor *y,
                            const nn_tensor *t, int y_is_log);

/* --- metrics (metrics.c): counts over a batch, for accuracies ----------------
** pred: (B, C) scores or probabilities, or (B) / (B, 1) for binary and
** regression; target as the classification losses take it ((B) 1-based
** indices or (B, C) rows) or pred's shape; pred and target on one device,
** either (the confusion matrix itself is a CPU tensor).
** Errors: NN_ESHAPE naming both shapes, NN_EDEVICE naming both devices. */

/* rows whose argmax of pred is the target class (argmax of a (B, C) target) */
int metric_class_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target);
/* elements where (pred > threshold) == (target > 0.5) */
int metric_binary_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target,
                        float threshold);
/* elements where |pred - target| <= tolerance */
int metric_within_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target,
                        float tolerance);
/* cm (C, C) += counts: cm[true class][predicted class]; cm keeps its values
** (zero it first), so batches add up */
int metric_confusion (nn_tensor *cm, const nn_tensor *pred, const nn_tensor *target);

#endif
