/*
** criterion.h -- losses (criteria) and metrics, included by nn.h.
**
** A loss compares a layer's output x with a target and gives one number and
** its gradient dL/dx.  Each loss is first a pure pair of C functions,
** stateless and outputs first, in the manner of llm.c and THNN:
**
**   mse_loss_forward  (&loss, work, x, target, reduction)
**   mse_loss_backward (grad_x, x, target, reduction)
**
** Each family lives in loss_*.c, with the derivation (numbered equations)
** directly above its pair; the per-element (per-row) formulas that both
** devices run are in losses.h.  An nn_criterion is a pair plus its buffers
** (grad_input, a scratch tensor) and its options, for the Lua side: its
** type describes itself (name, what it takes, typed options with defaults
** and ranges), so the bindings need no per-loss code.
**
** Conventions of every pair:
**   reduction   NN_MEAN (the default of every loss) or NN_SUM; anything
**               else is NN_EARG.
**   work        a scratch tensor the forward may resize and move to x's
**               device (on CUDA it holds one loss per element or row before
**               their deterministic sum); NULL: the pair makes a temporary
**               one when it needs one and frees it.  The CPU needs none.
**   grad_x      preallocated by the caller with x's shape, on x's device;
**               overwritten (not accumulated).  Otherwise NN_ESHAPE (or
**               NN_EDEVICE) naming grad_x; nothing is written.
**   errors      NN_ESHAPE, NN_EDEVICE, NN_EARG, NN_ENOMEM, NN_ECUDA; the
**               message, in nn_errmsg(), starts with the loss's name, and
**               nn_errrole() says which argument is at fault:
**               NN_ROLE_INPUT (x), NN_ROLE_TARGET, NN_ROLE_OUT (grad_x).
*/
#ifndef NN_CRITERION_H
#define NN_CRITERION_H

#include "tensor.h"

/* --- regression losses (loss_regression.c) ------------------------------------
** x, target: any shape, the same, on one device; n = numel.  The mean is
** over all n elements.  Errors: NN_ESHAPE (target's shape is not x's:
** TARGET), NN_EDEVICE (target on another device: TARGET), NN_EARG (a bad
** reduction), and grad_x's (OUT). */

/* MSELoss: loss = mean (x - t)^2; grad_x = 2 s (x - t).
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 5.1.4. */
int mse_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                      const nn_tensor *target, nn_redop reduction);
int mse_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                       nn_redop reduction);
/* L1Loss: loss = mean |x - t|; grad_x = s sign(x - t), 0 at x == t.
** Source: PyTorch docs, torch.nn.L1Loss (the subgradient 0 at the kink). */
int l1_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                     const nn_tensor *target, nn_redop reduction);
int l1_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                      nn_redop reduction);

/* --- binary losses (loss_binary.c) --------------------------------------------
** x, target: any shape, the same, on one device; target holds the
** probability of "yes" (0/1 or a soft label, not checked).  Errors as the
** regression losses. */

/* BCELoss: x holds probabilities (a Sigmoid output):
** loss = -mean (t log x + (1 - t) log(1 - x)), each log clamped at -100.
** Errors also: NN_EARG naming the first x outside [0, 1] or nan (INPUT).
** Source: Goodfellow et al. (2016) sec. 6.2.2.2; PyTorch torch.nn.BCELoss. */
int bce_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                      const nn_tensor *target, nn_redop reduction);
int bce_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                       nn_redop reduction);
/* BCEWithLogitsLoss: x holds logits; BCE of sigmoid(x), computed stably;
** grad_x = s (sigmoid(x) - t).
** Source: Goodfellow et al. (2016) sec. 6.2.2.2; PyTorch BCEWithLogitsLoss. */
int bce_with_logits_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                                  const nn_tensor *target, nn_redop reduction);
int bce_with_logits_loss_backward (nn_tensor *grad_x, const nn_tensor *x,
                                   const nn_tensor *target, nn_redop reduction);

/* --- classification losses (loss_classification.c) ----------------------------
** x: (B, C), one row of C scores per example.  target: (B) class indices,
** 1-based (1..C, as Torch7 and as argmax in nnlua), held as floats, or
** (B, C) probabilities (one-hot rows, or soft labels); an index k gives the
** loss and gradient of the one-hot row e_k.  The mean is over the B
** examples (PyTorch's reduction='mean', Keras's SUM_OVER_BATCH_SIZE).
** Errors: NN_ESHAPE (x not (B, C) with C >= 1: INPUT; a target of another
** shape: TARGET), NN_EDEVICE (TARGET), NN_EARG (an index that is not a
** whole number in 1..C, naming the entry: TARGET; a bad reduction), and
** grad_x's (OUT). */

/* CrossEntropyLoss: x holds logits; log-softmax then the negative
** log-likelihood, fused and stable.  Its backward is the fused Softmax +
** cross-entropy gradient grad_x = s (softmax(x) T - t), with no division.
** Source: Goodfellow et al. (2016) sec. 6.2.2.3 and 6.2.1.1. */
int cross_entropy_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                                const nn_tensor *target, nn_redop reduction);
int cross_entropy_loss_backward (nn_tensor *grad_x, const nn_tensor *x,
                                 const nn_tensor *target, nn_redop reduction);
/* NLLLoss: x holds log-probabilities (a LogSoftmax output):
** loss = -mean_b sum_c t_bc x_bc; grad_x = -s t.
** Source: Goodfellow et al. (2016) sec. 6.2.1.1; PyTorch torch.nn.NLLLoss. */
int nll_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                      const nn_tensor *target, nn_redop reduction);
int nll_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                       nn_redop reduction);
/* CategoricalCrossentropy (Keras, from_logits=False): x holds
** probabilities (a Softmax output); each row is renormalised and clipped
** to [eps, 1 - eps] before the log.  eps in [0, 0.5), else NN_EARG.
** Source: Keras, keras/backend.py categorical_crossentropy. */
int categorical_crossentropy_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                                      const nn_tensor *target, double eps,
                                      nn_redop reduction);
int categorical_crossentropy_backward (nn_tensor *grad_x, const nn_tensor *x,
                                       const nn_tensor *target, double eps,
                                       nn_redop reduction);

/* dL/dz of a Softmax (y_is_log = 0) or LogSoftmax (1) output y: (B, C)
** followed by CategoricalCrossentropy (NLLLoss) against target: the fused,
** stable s (T p - t), p = y (exp y).  grad_z preallocated with y's shape on
** y's device.  `name` is the loss the messages name.  Errors: as
** the classification losses, with y as the input. */
int softmax_cross_entropy_backward (nn_tensor *grad_z, const nn_tensor *y,
                                    const nn_tensor *target, int y_is_log,
                                    nn_redop reduction, const char *name);


/* --- a loss as an object: nn_criterion ------------------------------------------ */

/* One option of a layer or a loss, as its type describes it (nn.h's
** nn_module_type, nn_criterion_type below).  Its value is a double: the
** number itself, 0 or 1 for a boolean, or the index of the choice (0 for
** choices[0], ...), so nn.BatchNorm1d(4).eps prints 1e-05 as given. */
typedef enum nn_opt_kind { NN_OPT_INT, NN_OPT_NUMBER, NN_OPT_BOOL, NN_OPT_CHOICE } nn_opt_kind;

typedef struct nn_option {
  const char *name;              /* "eps" */
  nn_opt_kind kind;
  int positional;                /* its place in nn.X(a, b, ...), from 1; 0: by name only */
  int required;                  /* 1: no default (Linear's sizes) */
  double dflt;                   /* the default (CHOICE: the index of the name) */
  double min, max;               /* INT, NUMBER: the range, inclusive ... */
  int min_excluded;              /* ... except min itself when 1 (eps > 0) ... */
  int max_excluded;              /* ... or max itself (eps < 0.5) */
  const char *const *choices;    /* CHOICE: the names, NULL-ended; the value is the index */
  const char *doc;               /* one line for help() */
  /* A height and a width (Conv2d's kernel_size, stride, padding): an INT
  ** option with hw = 1 is the height, and the option right after it, with
  ** hw_width = 1, the width, of the same range and default.  nn.X(..., 3)
  ** sets both, nn.X(..., {3, 5}) each; Lua shows and configs hold {h, w}
  ** under the first name, and never see the width's own entry. */
  int hw, hw_width;
} nn_option;

/* 2^53, the largest integer a double holds exactly: the top of a size's range */
#define NN_OPT_SIZE_MAX 9007199254740992.0

/* NN_OK if v is a valid value of option o of the type named `who`; else
** NN_EARG with a message such as "Dropout: p must be in [0, 1], got 1.5". */
int nn_option_check (const char *who, const nn_option *o, double v);

#define NN_LOSS_MAXOPT 4     /* options of one loss */

typedef struct nn_criterion nn_criterion;

/* What a tensor holds, as a layer gives it (layer.gives) and a loss takes
** it (loss.takes): plain values (logits, regression outputs), or each row
** a probability distribution over the classes of its last dim (a softmax),
** or their logarithms.  Model:set reads both to plan the fused Softmax +
** cross-entropy step.  The names are nn_gives_names[]. */
typedef enum nn_gives {
  NN_GIVES_VALUES, NN_GIVES_PROBABILITIES, NN_GIVES_LOG_PROBABILITIES
} nn_gives;
extern const char *const nn_gives_names[];   /* "values", "probabilities", "log_probabilities" */

typedef struct nn_criterion_type {
  const char *name;                 /* "MSELoss": the Lua constructor's name */
  const char *doc;                  /* one line: what x and the target hold */
  nn_gives takes;                   /* what x holds (class rows, for Model's plan) */
  int noptions;                     /* options[0] is always the reduction */
  const nn_option *const *options;
  /* The pair, for a loss whose only option is the reduction: criterion.c
  ** calls it with c's buffers (work, grad_input) and reduction ... */
  int (*pair_forward) (double *loss, nn_tensor *work, const nn_tensor *x,
                       const nn_tensor *target, nn_redop reduction);
  int (*pair_backward) (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                        nn_redop reduction);
  /* ... or, for a loss with options of its own (NULL pair_forward), the
  ** pair with c's buffers and options: loss into *loss, and dL/dx into
  ** c->grad_input (already x's shape and device). */
  int (*forward) (nn_criterion *c, const nn_tensor *x, const nn_tensor *target,
                  double *loss);
  int (*backward) (nn_criterion *c, const nn_tensor *x, const nn_tensor *target);
} nn_criterion_type;

struct nn_criterion {
  const nn_criterion_type *type;
  nn_redop reduction;              /* from option 0: NN_MEAN (the default) or NN_SUM */
  double opt[NN_LOSS_MAXOPT];      /* one value per type->options, in order */
  nn_tensor *grad_input;           /* dL/dx, x's shape */
  nn_tensor *work;                 /* the forward's scratch */
  double loss;                     /* the last forward's value */
};

/* The reduction option every loss has: 'mean' (default) | 'sum'; and the
** options of a loss that has no other. */
extern const nn_option nn_loss_reduction_option;
extern const nn_option *const nn_loss_reduction_only[];
/* Every loss type, NULL-ended, and each by itself (loss_*.c). */
extern const nn_criterion_type *const nn_criterion_types[];
extern const nn_criterion_type mse_loss_type, l1_loss_type, bce_loss_type,
  bce_with_logits_loss_type, cross_entropy_loss_type, nll_loss_type,
  categorical_crossentropy_type;

/* A criterion of `type` with options `values` (one per type->options;
** NULL: every default).  Errors: NN_EARG naming the loss, the option and
** what it takes ("CategoricalCrossentropy: eps must be a number in
** [0, 0.5), got 0.5"); NN_ENOMEM. */
int criterion_new (nn_criterion **out, const nn_criterion_type *type, const double *values);
/* NN_OK, or NN_EARG as criterion_new, for option i of type at value v. */
int criterion_check_option (const nn_criterion_type *type, int i, double v);
/* loss = c(x, target) into *loss and c->loss (errors: as c's pair) */
int criterion_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target,
                       double *loss);
/* dL/dx into c->grad_input, which follows x's device and shape */
int criterion_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *target);
void criterion_free (nn_criterion *c);            /* NULL is fine */

/* The constructors of the C API, one per loss type. */
int mse_loss_new (nn_criterion **out, nn_redop reduction);
int l1_loss_new (nn_criterion **out, nn_redop reduction);
int cross_entropy_loss_new (nn_criterion **out, nn_redop reduction);
int nll_loss_new (nn_criterion **out, nn_redop reduction);
int bce_loss_new (nn_criterion **out, nn_redop reduction);
int bce_with_logits_loss_new (nn_criterion **out, nn_redop reduction);
int categorical_crossentropy_new (nn_criterion **out, nn_redop reduction, double eps);


/* For the loss files (criterion.c): the checks and pieces every pair shares.
** loss_scale: 1/n for the mean, 1 for the sum (and 1 for an empty mean,
** whose loss is then 0).  loss_check_reduction: NN_EARG unless mean or sum.
** loss_same_shape: target has x's shape and device (else TARGET).
** loss_check_grad: grad_x has x's shape and device (else OUT).
** loss_scratch: *tmp = a tensor of n floats on x's device, one reference
** that the caller releases: work itself (moved, resized, retained) or, for
** work NULL, a new one. */
double loss_scale (nn_redop reduction, int64_t n);
int loss_check_reduction (const char *name, nn_redop reduction);
int loss_same_shape (const char *name, const nn_tensor *x, const nn_tensor *target);
int loss_check_grad (const char *name, const nn_tensor *grad_x, const nn_tensor *x);
int loss_scratch (nn_tensor **tmp, nn_tensor *work, const nn_tensor *x, int64_t n);

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
