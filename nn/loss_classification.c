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
** Notation in the derivations: row b of x is x_{b.}; t_{bc} is the target
** row (e_k for an index k); T_b = \sum_c t_{bc} (1 for one-hot rows and
** proper soft labels); s = 1/B for the mean, 1 for the sum.  Everything
** accumulates in double.
**
** Each loss is a pure pair (criterion.h), with its derivation directly
** above it; the formulas of one row are NN_HD functions of losses.h, which
** the CPU loop here and one CUDA thread per row (nn/cuda_losses.cu) both
** run.  On CUDA the forward writes each row's loss into the scratch `work`
** and sums it there (tensor_reduce_all, which is deterministic); the
** backward writes grad_x directly.
*/
#include "nn.h"
#include "losses.h"

/* The error for row b of an index target, whose value is not a class
** index; the value is read back from t (one device copy on CUDA). */
static int bad_class_index (const char *name, const nn_tensor *t, int64_t b, int64_t C) {
  float v = 0.0f;
  int rc = tensor_get(&v, t, b);
  if (rc != NN_OK) return rc;
  return nn_seterr_arg(NN_EARG, NN_ROLE_TARGET, "%s: target[%lld] = %g is not a class index "
                       "in 1..%lld (class indices are 1-based)", name, (long long)(b + 1),
                       (double)v, (long long)C);
}

/* The checks all three losses share.  x must be (B, C) with C >= 1 (else
** the input is at fault); the target (B) class indices, each a whole
** number in 1..C, or (B, C) probabilities, on x's device (else the target
** is).  *is_index says which.  On the CPU the indices are checked here; on
** CUDA the kernel checks them as it goes (and the caller reports the first
** bad one with bad_class_index). */
static int check_class_target (const char *name, const nn_tensor *x, const nn_tensor *t,
                               int *is_index) {
  if (x->ndim != 2)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: input must be (B, C), a row of C "
                         "class scores per example; got input %s with target %s", name,
                         shape_str(x).s, shape_str(t).s);
  int64_t B = x->shape[0], C = x->shape[1];
  if (C < 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: input %s has no classes (target %s)",
                         name, shape_str(x).s, shape_str(t).s);
  if (t->ndim == 1 && t->shape[0] == B) *is_index = 1;
  else if (t->ndim == 2 && t->shape[0] == B && t->shape[1] == C) *is_index = 0;
  else
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_TARGET, "%s: input %s needs a target [%lld] of "
                         "class indices or %s of probabilities, got target %s", name,
                         shape_str(x).s, (long long)B, shape_str(x).s, shape_str(t).s);
  if (x->storage->device != t->storage->device)
    return nn_seterr_arg(NN_EDEVICE, NN_ROLE_TARGET, "%s: input is on %s, target on %s", name,
                         device_name(x->storage->device), device_name(t->storage->device));
  if (*is_index && x->storage->device == NN_CPU) {
    const float *tp = tensor_data(t);
    for (int64_t b = 0; b < B; b++)
      if (nn_class_index(tp[b], C) < 0) return bad_class_index(name, t, b, C);
  }
  return NN_OK;
}

/* The checks of a forward pair (grad_x NULL) or a backward pair */
static int check_pair (const char *name, const nn_tensor *grad_x, const nn_tensor *x,
                       const nn_tensor *t, nn_redop reduction, int *is_index) {
  int rc = loss_check_reduction(name, reduction);
  if (rc == NN_OK) rc = check_class_target(name, x, t, is_index);
  if (rc == NN_OK && grad_x != NULL) rc = loss_check_grad(name, grad_x, x);
  return rc;
}

/* On CUDA: row b's loss of op into a scratch[b], then their sum */
static int cuda_sum (double *sum, nn_tensor *work, const nn_tensor *x, const nn_tensor *t,
                     int is_index, nn_class_loss_op op, double lo, const char *name) {
  int64_t B = x->shape[0], C = x->shape[1], bad = -1;
  *sum = 0.0;
  if (B == 0) return NN_OK;
  nn_tensor *tmp;
  int rc = loss_scratch(&tmp, work, x, B);
  if (rc == NN_OK)
    rc = nncuda_class_loss_rows(tensor_data(tmp), is_index ? &bad : NULL, tensor_data(x),
                                tensor_data(t), B, C, is_index, op, lo);
  if (rc == NN_OK && bad >= 0) rc = bad_class_index(name, t, bad, C);
  if (rc == NN_OK) rc = tensor_reduce_all(sum, tmp, NN_SUM);
  tensor_release(tmp);
  return rc;
}

/* On CUDA: grad_x = the gradient of op, scaled by s, row by row */
static int cuda_grad (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *t, int is_index,
                      nn_class_loss_op op, double s, double lo, const char *name) {
  int64_t B = x->shape[0], C = x->shape[1], bad = -1;
  if (B == 0) return NN_OK;
  int rc = nncuda_class_grad_rows(tensor_data(grad_x), is_index ? &bad : NULL, tensor_data(x),
                                  tensor_data(t), B, C, is_index, op, s, lo);
  if (rc == NN_OK && bad >= 0) rc = bad_class_index(name, t, bad, C);
  return rc;
}


/* The loss of a classification op over the batch: the checks, then row by
** row (op's row function of losses.h on the CPU, one CUDA thread per row),
** then the scale s of the reduction.  lo: CategoricalCrossentropy's eps. */
static int class_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                          const nn_tensor *target, nn_redop reduction, nn_class_loss_op op,
                          double lo, const char *name) {
  int is_index;
  int rc = check_pair(name, NULL, x, target, reduction, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    rc = cuda_sum(&sum, work, x, target, is_index, op, lo, name);
    if (rc != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(target);
    for (int64_t b = 0; b < B; b++) {
      const float *tr;
      int64_t k;
      nn_row_target(&tr, &k, tp, b, C, is_index);
      sum = nn_class_row_loss(op, sum, xp + b * C, tr, k, C, lo);
    }
  }
  *loss = sum * loss_scale(reduction, B);
  return NN_OK;
}

/* Its gradient, likewise: grad_x row by row, scaled by s. */
static int class_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                           nn_redop reduction, nn_class_loss_op op, double lo,
                           const char *name) {
  int is_index;
  int rc = check_pair(name, grad_x, x, target, reduction, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1];
  double s = loss_scale(reduction, B);
  if (x->storage->device == NN_CUDA)
    return cuda_grad(grad_x, x, target, is_index, op, s, lo, name);
  const float *xp = tensor_data(x), *tp = tensor_data(target);
  float *dx = tensor_data(grad_x);
  for (int64_t b = 0; b < B; b++) {
    const float *tr;
    int64_t k;
    nn_row_target(&tr, &k, tp, b, C, is_index);
    nn_class_row_grad(op, dx + b * C, xp + b * C, tr, k, C, s, lo);
  }
  return NN_OK;
}


/*
** CrossEntropyLoss:  log-softmax of the logits, then the negative
** log-likelihood of the target, fused into one stable pass.
**
** Shapes   x: (B, C) logits (any real numbers)   t: (B) indices or (B, C)
**          L: a scalar
**
** Forward  softmax   p_{bc} = e^{x_{bc}} / \sum_j e^{x_{bj}}            \tag{1}
**          log p_{bc} = x_{bc} - lse_b,    lse_b = \log \sum_j e^{x_{bj}}   \tag{2}
**          L = s \sum_b \sum_c -t_{bc} \log p_{bc}
**            = s \sum_b ( T_b lse_b - \sum_c t_{bc} x_{bc} )              \tag{3}
**          index targets (t_{b.} = e_{k_b}):  L = s \sum_b ( lse_b - x_{b k_b} )
**
** Backward  \partial lse_b / \partial x_{bj} = e^{x_{bj}} / \sum_i e^{x_{bi}} = p_{bj}
**   (the derivative of log-sum-exp is softmax), and example b's loss depends
**   on row b only, so
**     dL/dx_{bj} = s ( T_b p_{bj} - t_{bj} )  =>  dx = s (p T - t)  (B, C)  \tag{4}
**   index targets:  dx = s (p - onehot(k)).  The famous "softmax minus
**   target": this is the fused Softmax + cross-entropy gradient, owned by
**   this loss.  No division by p, so nothing blows up where p is tiny,
**   which is why the two steps are fused instead of chaining a Softmax and
**   a log.
**
** Stability  lse_b = m_b + \log \sum_j e^{x_{bj} - m_b},  m_b = \max_j x_{bj}: \tag{5}
**   every exponent is <= 0 (no overflow) and the largest term is e^0 = 1, so
**   the sum is in [1, C] and its log is finite (no log 0).  Logits of
**   +-1e4 give a finite loss (up to 2e4) and a gradient in [-1, 1].
**
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.3
**   (softmax units, the log-sum-exp and its stable form), sec. 6.2.1.1 (the
**   cross-entropy as the negative log-likelihood).
*/
int cross_entropy_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                                const nn_tensor *target, nn_redop reduction) {
  /* (2) (3) (5) row by row, then the scale s of (3) */
  return class_forward(loss, work, x, target, reduction, NN_LOSS_CE, 0.0, "CrossEntropyLoss");
}

int cross_entropy_loss_backward (nn_tensor *grad_x, const nn_tensor *x,
                                 const nn_tensor *target, nn_redop reduction) {
  /* (1) (4) (5) row by row */
  return class_backward(grad_x, x, target, reduction, NN_LOSS_CE, 0.0, "CrossEntropyLoss");
}


/*
** NLLLoss (negative log-likelihood):  x already holds log-probabilities
** (a LogSoftmax output); the loss picks the target's.
**
** Shapes   x: (B, C) log-probabilities   t: (B) indices or (B, C)   L: scalar
**
** Forward  L = -s \sum_b x_{b k_b}                 (index targets)    \tag{1}
**          L = -s \sum_b \sum_c t_{bc} x_{bc}      (probability targets)  \tag{2}
**
** Backward  L is linear in x:
**     dL/dx_{bc} = -s t_{bc}     =>  dx = -s t   (-s onehot(k) for indices)  \tag{3}
**   LogSoftmax followed by NLLLoss is CrossEntropyLoss, in two steps: the
**   LogSoftmax's backward turns this -s t into s (p T - t).
**
** PyTorch's NLLLoss takes index targets only; the probability form is the
** same formula with t_{b.} in place of e_{k_b}.  x is not checked to be
** <= 0: any numbers go, as in PyTorch.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.1.1;
**   PyTorch docs, torch.nn.NLLLoss.
*/
int nll_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                      const nn_tensor *target, nn_redop reduction) {
  /* (1) or (2) row by row, then s */
  return class_forward(loss, work, x, target, reduction, NN_LOSS_NLL, 0.0, "NLLLoss");
}

int nll_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                       nn_redop reduction) {
  /* (3) row by row */
  return class_backward(grad_x, x, target, reduction, NN_LOSS_NLL, 0.0, "NLLLoss");
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
**   p_c = x_c / S                          renormalise               \tag{1}
**   q_c = clip(p_c, \epsilon, 1 - \epsilon)   keep \log q finite     \tag{2}
**   L = s \sum_b \sum_c -t_c \log q_c                                \tag{3}
**   Terms with t_c = 0 are skipped (0 \log q = 0 anyway while eps > 0).
**
** Backward, by the chain rule through the three steps:
**   dL_b/dq_c = -t_c / q_c
**   dq_c/dp_c = 1 where \epsilon <= p_c <= 1 - \epsilon, else 0: the clip is
**     flat outside, so a clipped entry passes no gradient (as
**     tf.clip_by_value's gradient, which lets the bounds themselves through)
**   so g_c := dL_b/dp_c = -t_c / p_c where not clipped, 0 where clipped   \tag{4}
**   dp_k/dx_c = (\delta_{kc} S - x_k) / S^2 = (\delta_{kc} - p_k) / S
**   dL_b/dx_c = \sum_k g_k (\delta_{kc} - p_k) / S
**             = (1/S) ( g_c - \sum_k g_k p_k )
**   =>  dx_{bc} = (s / S_b) ( g_{bc} - \sum_k g_{bk} p_{bk} )              \tag{5}
**   For a one-hot t = e_k with p_k unclipped: g = -e_k / p_k, \sum g p = -1,
**   and dx_c = (s/S)(\delta_{ck} (-1/p_k) + 1).  Scaling a row of x leaves L
**   unchanged (p is scale-free), and indeed \sum_c x_c dL/dx_c = 0.
**
** Stability  the clip bounds -\log q by -\log \epsilon (16.1 for 1e-7) and
**   the division g = -t/p by 1/\epsilon.  Probabilities that come from a
**   Softmax can still round to 0 in float32, where this loss saturates and
**   its gradient vanishes: for training, CrossEntropyLoss on the logits is
**   the stable choice.  A row summing to 0 has no probabilities: nan, as Keras.
**   eps must be in [0, 0.5), so that the clip [eps, 1 - eps] is not empty.
**
** Source: Keras, keras/backend.py categorical_crossentropy (the renormalise
**   and the clip with epsilon()); Goodfellow, Bengio & Courville, Deep
**   Learning (2016), sec. 6.2.2.3.
*/
static int check_eps (double eps) {
  return criterion_check_option(&categorical_crossentropy_type, 1, eps);
}

int categorical_crossentropy_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                                      const nn_tensor *target, double eps,
                                      nn_redop reduction) {
  int rc = check_eps(eps);
  if (rc != NN_OK) return rc;
  /* (1) (2) (3) row by row, then the scale s of (3) */
  return class_forward(loss, work, x, target, reduction, NN_LOSS_CCE, eps,
                       "CategoricalCrossentropy");
}

int categorical_crossentropy_backward (nn_tensor *grad_x, const nn_tensor *x,
                                       const nn_tensor *target, double eps,
                                       nn_redop reduction) {
  int rc = check_eps(eps);
  if (rc != NN_OK) return rc;
  /* (4) (5) row by row */
  return class_backward(grad_x, x, target, reduction, NN_LOSS_CCE, eps,
                        "CategoricalCrossentropy");
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
**              = s ( T_b p_{bj} - t_{bj} )        (T_b = \sum_i t_{bi})  \tag{1}
**   with p_{bj} = y_{bj}, or e^{y_{bj}} after a LogSoftmax              \tag{2}
** the same "softmax minus target" as CrossEntropyLoss's backward (4), with
** no division: exact where p underflows to 0, where the chained form gives
** 0 * inf.  (CategoricalCrossentropy clips p to [eps, 1 - eps] in its
** loss; the fused gradient is that of the unclipped loss, as Keras's.)
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.3.
*/
int softmax_cross_entropy_backward (nn_tensor *grad_z, const nn_tensor *y,
                                    const nn_tensor *target, int y_is_log,
                                    nn_redop reduction, const char *name) {
  int is_index;
  int rc = check_pair(name, grad_z, y, target, reduction, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = y->shape[0], C = y->shape[1];
  double s = loss_scale(reduction, B);
  float *gp = tensor_data(grad_z);
  if (B == 0) return NN_OK;
  if (y->storage->device == NN_CUDA) {
    int64_t bad = -1;
    rc = nncuda_softmax_xent_grad_rows(gp, is_index ? &bad : NULL, tensor_data(y),
                                       tensor_data(target), B, C, is_index, s, y_is_log);
    if (rc == NN_OK && bad >= 0) rc = bad_class_index(name, target, bad, C);
    return rc;
  }
  const float *yp = tensor_data(y), *tp = tensor_data(target);
  for (int64_t b = 0; b < B; b++) {
    const float *tr;
    int64_t k;
    nn_row_target(&tr, &k, tp, b, C, is_index);
    nn_softmax_xent_row_grad(gp + b * C, yp + b * C, tr, k, C, s, y_is_log);  /* (1) (2) */
  }
  return NN_OK;
}

/* --- as criteria: the pairs with the criterion's buffers ------------------------- */

enum { EPS = 1 };    /* CategoricalCrossentropy's c->opt[EPS]; opt[0] is the reduction */

static int cce_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  return categorical_crossentropy_forward(loss, c->work, x, t, c->opt[EPS], c->reduction);
}
static int cce_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  return categorical_crossentropy_backward(c->grad_input, x, t, c->opt[EPS], c->reduction);
}

const nn_criterion_type cross_entropy_loss_type = {
  .name = "CrossEntropyLoss",
  .doc = "cross-entropy of logits x (B, C) against (B) 1-based class indices or (B, C) "
         "probabilities",
  .noptions = 1, .options = nn_loss_reduction_only,
  .pair_forward = cross_entropy_loss_forward, .pair_backward = cross_entropy_loss_backward
};
const nn_criterion_type nll_loss_type = {
  .name = "NLLLoss",
  .doc = "negative log-likelihood of log-probabilities x (B, C) against (B) 1-based class "
         "indices or (B, C) probabilities",
  .takes = NN_GIVES_LOG_PROBABILITIES,
  .noptions = 1, .options = nn_loss_reduction_only,
  .pair_forward = nll_loss_forward, .pair_backward = nll_loss_backward
};

static const nn_option eps_option = {
  .name = "eps", .kind = NN_OPT_NUMBER,
  .doc = "the probabilities are clipped to [eps, 1 - eps] before the log",
  .dflt = 1e-7, .min = 0.0, .max = 0.5, .max_excluded = 1
};
static const nn_option *const cce_options[] = { &nn_loss_reduction_option, &eps_option };

const nn_criterion_type categorical_crossentropy_type = {
  .name = "CategoricalCrossentropy",
  .doc = "Keras's cross-entropy of probabilities x (B, C) against (B, C) probabilities or "
         "(B) 1-based class indices",
  .takes = NN_GIVES_PROBABILITIES,
  .noptions = 2, .options = cce_options,
  .forward = cce_forward, .backward = cce_backward
};
