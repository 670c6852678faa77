/*
** optim.c -- the optimizer updates: checks, scalars of the step, and one
** fused pass per parameter tensor: a CPU loop here, or one CUDA thread per
** element (nn/cuda_optim.cu).  The per-element formulas are in optim.h
** (NN_HD, shared by the two).
**
** Notation: p the parameter, g = dL/dp its gradient, t the step (from 1),
** lr the learning rate, wd the weight decay; every operation is element-wise.
**
** Weight decay, two kinds.  An L2 penalty (wd/2) |p|^2 added to the loss adds
** wd p to the gradient: g <- g + wd p, "coupled" because the step then goes
** through the optimizer's scaling like the rest of g.  SGD, Adagrad, RMSprop
** and Adam do that, as PyTorch does.  For plain SGD it is the same as
** shrinking p by (1 - lr wd) each step; for Adam it is not: the penalty's
** gradient is divided by sqrt(v) too, so weights with large gradients are
** barely decayed.  AdamW decouples it: p <- p (1 - lr wd), then the Adam step
** on the unpenalised g (Loshchilov & Hutter, "Decoupled Weight Decay
** Regularization", ICLR 2019, Algorithm 2; PyTorch's AdamW).
*/
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "optim.h"

const char *optim_name (nn_optim_kind kind) {
  static const char *const names[NN_OPTIM_KIND_COUNT] = {
    "SGD", "Adagrad", "RMSprop", "Adam", "AdamW"
  };
  return (unsigned)kind < NN_OPTIM_KIND_COUNT ? names[kind] : "?";
}

/* --- checks ------------------------------------------------------------------------ */

/* !(v >= lo) rather than v < lo, so that nan fails every check */
static int at_least (const char *who, const char *name, double v, double lo) {
  if (!(v >= lo))
    return nn_seterr(NN_EARG, "%s: %s must be a number >= %g, got %g", who, name, lo, v);
  return NN_OK;
}

static int above (const char *who, const char *name, double v, double lo) {
  if (!(v > lo))
    return nn_seterr(NN_EARG, "%s: %s must be a number > %g, got %g", who, name, lo, v);
  return NN_OK;
}

/* v in [0, 1) or, when closed, [0, 1] */
static int unit (const char *who, const char *name, double v, int closed) {
  if (!(v >= 0.0 && (closed ? v <= 1.0 : v < 1.0)))
    return nn_seterr(NN_EARG, "%s: %s must be a number in [0, 1%s, got %g", who, name,
                     closed ? "]" : ")", v);
  return NN_OK;
}

int optim_check (const nn_optim_hyper *h) {
  const char *who = optim_name(h->kind);
  int rc = at_least(who, "lr", h->lr, 0.0);
  if (rc == NN_OK) rc = at_least(who, "weight_decay", h->weight_decay, 0.0);
  if (rc != NN_OK) return rc;
  switch (h->kind) {
    case NN_OPTIM_SGD:
      rc = at_least(who, "momentum", h->momentum, 0.0);
      if (rc == NN_OK) rc = unit(who, "dampening", h->dampening, 1);
      if (rc == NN_OK && h->nesterov && (h->momentum <= 0.0 || h->dampening != 0.0))
        rc = nn_seterr(NN_EARG, "SGD: nesterov needs momentum > 0 and dampening = 0, got "
                       "momentum %g, dampening %g", h->momentum, h->dampening);
      return rc;
    case NN_OPTIM_ADAGRAD:
      rc = at_least(who, "lr_decay", h->lr_decay, 0.0);
      if (rc == NN_OK) rc = above(who, "eps", h->eps, 0.0);
      if (rc == NN_OK) rc = at_least(who, "initial_accumulator_value",
                                     h->initial_accumulator_value, 0.0);
      return rc;
    case NN_OPTIM_RMSPROP:
      rc = unit(who, "alpha", h->alpha, 0);
      if (rc == NN_OK) rc = above(who, "eps", h->eps, 0.0);
      if (rc == NN_OK) rc = at_least(who, "momentum", h->momentum, 0.0);
      return rc;
    case NN_OPTIM_ADAM: case NN_OPTIM_ADAMW:
      rc = unit(who, "betas[1]", h->beta1, 0);
      if (rc == NN_OK) rc = unit(who, "betas[2]", h->beta2, 0);
      if (rc == NN_OK) rc = above(who, "eps", h->eps, 0.0);
      return rc;
    default:
      return nn_seterr(NN_EARG, "optimizer: unknown kind %d", (int)h->kind);
  }
}

/* --- state and tensor checks ------------------------------------------------------- */

const char *optim_state_name (nn_optim_kind kind, int slot) {
  static const char *const names[NN_OPTIM_KIND_COUNT][NN_OPTIM_MAXSTATE] = {
    { "momentum_buffer" },                              /* SGD */
    { "sum" },                                          /* Adagrad */
    { "square_avg", "momentum_buffer", "grad_avg" },    /* RMSprop */
    { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },      /* Adam */
    { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" }       /* AdamW */
  };
  if ((unsigned)kind >= NN_OPTIM_KIND_COUNT || slot < 0 || slot >= NN_OPTIM_MAXSTATE) return NULL;
  return names[kind][slot];
}

int optim_state_used (const nn_optim_hyper *h, int slot, float *init) {
  *init = 0.0f;
  if (optim_state_name(h->kind, slot) == NULL) return 0;
  switch (h->kind) {
    case NN_OPTIM_SGD: return h->momentum != 0.0;
    case NN_OPTIM_ADAGRAD:
      *init = (float)h->initial_accumulator_value;
      return 1;
    case NN_OPTIM_RMSPROP:
      return slot == 0 || (slot == 1 && h->momentum > 0.0) || (slot == 2 && h->centered);
    default:
      return slot < 2 || h->amsgrad;
  }
}

int optim_check_tensors (const nn_optim_hyper *h, const nn_tensor *param,
                         const nn_tensor *const state[], const nn_tensor *grad) {
  const char *who = optim_name(h->kind);
  nn_device dev = param->storage->device;
  int rc = optim_check(h);
  if (rc != NN_OK) return rc;
  for (int i = -1; i < NN_OPTIM_MAXSTATE; i++) {
    const nn_tensor *t = i < 0 ? grad : state[i];
    const char *name = i < 0 ? "grad" : optim_state_name(h->kind, i);
    if (t == NULL || name == NULL) continue;
    if (t->storage->device != dev)
      return nn_seterr(NN_EDEVICE, "%s: %s is on %s but param is on %s", who, name,
                       device_name(t->storage->device), device_name(dev));
    int same = t->ndim == param->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == param->shape[d];
    if (!same)
      return nn_seterr(NN_ESHAPE, "%s: %s has shape %s but param has %s", who, name,
                       shape_str(t).s, shape_str(param).s);
  }
  return NN_OK;
}

/* What every update checks first: h is of one of `kinds` (a and b), step >= 1,
** the state that h uses is there, and optim_check_tensors. */
static int begin (const nn_optim_hyper *h, nn_optim_kind a, nn_optim_kind b,
                  const nn_tensor *param, const nn_tensor *const state[],
                  const nn_tensor *grad, int64_t step) {
  const char *who = optim_name(h->kind);
  float init;
  if (h->kind != a && h->kind != b)
    return nn_seterr(NN_EARG, "the update of %s was given %s's hyper-parameters",
                     optim_name(a), who);
  if (step < 1) return nn_seterr(NN_EARG, "%s: step must be >= 1, got %lld", who, (long long)step);
  for (int i = 0; i < NN_OPTIM_MAXSTATE; i++)
    if (optim_state_used(h, i, &init) && state[i] == NULL)
      return nn_seterr(NN_EARG, "%s: the state %s is missing", who, optim_state_name(h->kind, i));
  return optim_check_tensors(h, param, state, grad);
}

/* --- the loops ---------------------------------------------------------------------
** One loop per update, over the n elements of a parameter tensor on the
** CPU.  (On CUDA, each update below hands the same scalars to its nncuda_*
** launcher instead: one thread per element, the flags as arguments.)  Each
** call below passes the flags, and the scalars that switch a term off (wd
** = 0, decay = 1), as constants: once the loop is inlined there, the
** branches of the element function fold away and the body is straight-line
** code over restrict pointers, which a vectorising compiler turns into SIMD
** (see the note on speed at the end of this file).  A state that a variant
** does not use is NULL there, and never indexed. */

/* Two cores update faster than one, so on the CPU each update splits its
** elements among the threads of the one OpenMP team, the very threads
** OpenBLAS runs its GEMMs on (nnlua links Debian's OpenMP build of
** OpenBLAS: one pool, not two fighting over the cores).  The elements go
** in chunks of CHUNK floats, handed to the threads as they come free
** (schedule(dynamic)), not a fixed half each: when another process shares
** a core, the thread on it takes fewer chunks and the update does not wait
** for a straggler (tensor/cpu_gemm.c does the same for the GEMMs).  The
** parallel region sits at the call sites, so that the constants reach the
** loop there (a region inside the loop function would be outlined before
** the constants are known, and the loop would go scalar: 3x slower,
** measured).  Chunks start at multiples of 16 floats (a cache line), so no
** two threads write one line.  Below PARALLEL_MIN elements one thread does
** it all: waking the team costs more than it saves.  Every element is
** updated by the same formula whatever thread takes it: the results do not
** depend on the number of threads.  Built without OpenMP, the pragmas are
** ignored and the chunks run in order. */
#define PARALLEL_MIN 65536
#define CHUNK 16384          /* 64 KB of each array: 2 MB+ updates give 30+ chunks */

static inline int64_t chunk_count (int64_t n) { return (n + CHUNK - 1) / CHUNK; }

/* chunk c of n elements: [lo, lo + len) */
static inline void chunk_of (int64_t c, int64_t n, int64_t *lo, int64_t *len) {
  *lo = c * CHUNK;
  *len = n - *lo < CHUNK ? n - *lo : CHUNK;
}

static inline void sgd_loop (float *restrict p, float *restrict b, const float *restrict g,
                             int64_t n, float lr, float wd, float mu, float one_minus_damp,
                             int nesterov, int fresh) {
  for (int64_t i = 0; i < n; i++)
    nn_sgd_elem(p, b, g, i, lr, wd, mu, one_minus_damp, nesterov, fresh);
}

static inline void adagrad_loop (float *restrict p, float *restrict s, const float *restrict g,
                                 int64_t n, float clr, float wd, float eps) {
  for (int64_t i = 0; i < n; i++) nn_adagrad_elem(p, s, g, i, clr, wd, eps);
}

static inline void rmsprop_loop (float *restrict p, float *restrict v, float *restrict m,
                                 float *restrict b, const float *restrict g, int64_t n,
                                 float lr, float wd, float alpha, float one_minus_alpha,
                                 float eps, float mu, int centered) {
  for (int64_t i = 0; i < n; i++)
    nn_rmsprop_elem(p, v, m, b, g, i, lr, wd, alpha, one_minus_alpha, eps, mu,
                    centered);
}

static inline void adam_loop (float *restrict p, float *restrict m, float *restrict v,
                              float *restrict vmax, const float *restrict g, int64_t n,
                              float coupled_wd, float decay, float beta1, float one_minus_beta1,
                              float beta2, float one_minus_beta2, float step_size,
                              float bc2_sqrt, float eps, int amsgrad) {
  for (int64_t i = 0; i < n; i++)
    nn_adam_elem(p, m, v, vmax, g, i, coupled_wd, decay, beta1, one_minus_beta1,
                 beta2, one_minus_beta2, step_size, bc2_sqrt, eps, amsgrad);
}

/*
** SGD with momentum
**
**   d_t = g_t + wd p_{t-1}
**   momentum mu > 0:
**     b_1 = d_1                                      (the buffer starts as the gradient)
**     b_t = mu b_{t-1} + (1 - dampening) d_t         (t > 1)
**     d_t = d_t + mu b_t   (nesterov)   or   d_t = b_t
**   p_t = p_{t-1} - lr d_t
**
** The buffer is a running, exponentially weighted sum of past gradients: the
** "heavy ball" of Polyak (1964) keeps rolling along directions where the
** gradients agree and averages out those where they oscillate.  Nesterov's
** accelerated gradient takes the gradient after the momentum step
** (Sutskever, Martens, Dahl & Hinton, "On the importance of initialization
** and momentum in deep learning", ICML 2013, sec. 2.1); written for the
** looked-ahead parameters, so that the gradient at the current ones is all
** it needs, that look-ahead becomes the extra mu b_t above (as PyTorch
** implements it).  The form is PyTorch's, not Sutskever's v = mu v - lr g:
** lr multiplies the buffer at the step, so changing lr mid-run does not
** rescale the buffer's history.
** Source: PyTorch 1.13, torch.optim.SGD (algorithm in its documentation).
*/
int optim_sgd (nn_tensor *param, nn_tensor *momentum_buf, const nn_tensor *grad,
               const nn_optim_hyper *h, int fresh) {
  const nn_tensor *state[NN_OPTIM_MAXSTATE] = { h->momentum != 0.0 ? momentum_buf : NULL };
  int rc = begin(h, NN_OPTIM_SGD, NN_OPTIM_SGD, param, state, grad, 1);
  if (rc != NN_OK) return rc;
  float *p = tensor_data(param), *b = state[0] ? tensor_data(momentum_buf) : NULL;
  const float *g = tensor_data(grad);
  float lr = (float)h->lr, wd = (float)h->weight_decay, mu = (float)h->momentum;
  float one_minus_damp = (float)(1.0 - h->dampening);
  int64_t n = param->numel;
  if (param->storage->device == NN_CUDA)
    return nncuda_sgd(p, b, g, n, lr, wd, mu, one_minus_damp, h->nesterov, fresh);
  /* chunks [lo, lo + len) to the threads as they come free (see PARALLEL_MIN) */
  #pragma omp parallel if (n >= PARALLEL_MIN)
  {
    int64_t lo, len;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunk_count(n); c++) {
      chunk_of(c, n, &lo, &len);
      if (b == NULL) {               /* no momentum: p (never b) is all there is */
        if (wd == 0.0f) sgd_loop(p + lo, NULL, g + lo, len, lr, 0.0f, 0.0f, 1.0f, 0, 0);
        else sgd_loop(p + lo, NULL, g + lo, len, lr, wd, 0.0f, 1.0f, 0, 0);
      }
      else if (fresh) {
        if (h->nesterov) sgd_loop(p + lo, b + lo, g + lo, len, lr, wd, mu, one_minus_damp, 1, 1);
        else sgd_loop(p + lo, b + lo, g + lo, len, lr, wd, mu, one_minus_damp, 0, 1);
      }
      else if (h->nesterov) sgd_loop(p + lo, b + lo, g + lo, len, lr, wd, mu, one_minus_damp, 1, 0);
      else sgd_loop(p + lo, b + lo, g + lo, len, lr, wd, mu, one_minus_damp, 0, 0);
    }
  }
  return NN_OK;
}

/*
** Adagrad
**
**   g_t   = g_t + wd p_{t-1}
**   s_t   = s_{t-1} + g_t^2                          (s_0 = initial_accumulator_value)
**   clr_t = lr / (1 + (t - 1) lr_decay)
**   p_t   = p_{t-1} - clr_t g_t / (sqrt(s_t) + eps)
**
** Each coordinate gets its own rate lr / sqrt(sum of its squared
** gradients): rare features with small, sparse gradients keep a large
** step, frequent ones are slowed.  The rate only ever falls.
** Source: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online
** Learning and Stochastic Optimization", JMLR 12 (2011); PyTorch 1.13,
** torch.optim.Adagrad.
*/
int optim_adagrad (nn_tensor *param, nn_tensor *sum, const nn_tensor *grad,
                   const nn_optim_hyper *h, int64_t step) {
  const nn_tensor *state[NN_OPTIM_MAXSTATE] = { sum };
  int rc = begin(h, NN_OPTIM_ADAGRAD, NN_OPTIM_ADAGRAD, param, state, grad, step);
  if (rc != NN_OK) return rc;
  float *p = tensor_data(param), *s = tensor_data(sum);
  const float *g = tensor_data(grad);
  float clr = (float)(h->lr / (1.0 + (double)(step - 1) * h->lr_decay));
  float wd = (float)h->weight_decay, eps = (float)h->eps;
  int64_t n = param->numel;
  if (param->storage->device == NN_CUDA)
    return nncuda_adagrad(p, s, g, n, clr, wd, eps);
  /* chunks [lo, lo + len) to the threads as they come free (see PARALLEL_MIN) */
  #pragma omp parallel if (n >= PARALLEL_MIN)
  {
    int64_t lo, len;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunk_count(n); c++) {
      chunk_of(c, n, &lo, &len);
      if (wd == 0.0f) adagrad_loop(p + lo, s + lo, g + lo, len, clr, 0.0f, eps);
      else adagrad_loop(p + lo, s + lo, g + lo, len, clr, wd, eps);
    }
  }
  return NN_OK;
}

/*
** RMSprop
**
**   g_t = g_t + wd p_{t-1}
**   v_t = alpha v_{t-1} + (1 - alpha) g_t^2          (v_0 = 0)
**   centered:  m_t = alpha m_{t-1} + (1 - alpha) g_t,   a_t = sqrt(v_t - m_t^2) + eps
**   else:      a_t = sqrt(v_t) + eps
**   momentum mu > 0:  b_t = mu b_{t-1} + g_t / a_t,   p_t = p_{t-1} - lr b_t    (b_0 = 0)
**   else:             p_t = p_{t-1} - lr g_t / a_t
**
** Adagrad's sum of squares, made a moving average so that the rate does not
** shrink for ever: each coordinate is divided by the root of its recent mean
** square gradient.  The centered form subtracts the square of the mean
** gradient, so it divides by an estimate of the gradient's standard
** deviation (Graves, "Generating Sequences With Recurrent Neural Networks",
** arXiv:1308.0850, 2013, sec. 4).  Note that eps is added outside the root, and there is no
** bias correction: v starts at 0, so the first steps are large
** (sqrt(1 - alpha) = 0.1 of g at alpha = 0.99: a first step of 10 lr).
** Source: Tieleman & Hinton, Lecture 6.5 "rmsprop", COURSERA: Neural
** Networks for Machine Learning (2012); PyTorch 1.13, torch.optim.RMSprop.
*/
int optim_rmsprop (nn_tensor *param, nn_tensor *square_avg, nn_tensor *momentum_buf,
                   nn_tensor *grad_avg, const nn_tensor *grad, const nn_optim_hyper *h) {
  int use_momentum = h->momentum > 0.0;
  const nn_tensor *state[NN_OPTIM_MAXSTATE] = { square_avg, use_momentum ? momentum_buf : NULL,
                                                h->centered ? grad_avg : NULL };
  int rc = begin(h, NN_OPTIM_RMSPROP, NN_OPTIM_RMSPROP, param, state, grad, 1);
  if (rc != NN_OK) return rc;
  float *p = tensor_data(param), *v = tensor_data(square_avg);
  float *b = use_momentum ? tensor_data(momentum_buf) : NULL;
  float *m = h->centered ? tensor_data(grad_avg) : NULL;
  const float *g = tensor_data(grad);
  float lr = (float)h->lr, wd = (float)h->weight_decay, alpha = (float)h->alpha;
  float one_minus_alpha = (float)(1.0 - h->alpha), eps = (float)h->eps;
  float mu = use_momentum ? (float)h->momentum : 0.0f;
  int64_t n = param->numel;
  if (param->storage->device == NN_CUDA)
    return nncuda_rmsprop(p, v, m, b, g, n, lr, wd, alpha, one_minus_alpha, eps, mu,
                          h->centered);
  /* chunks [lo, lo + len) to the threads as they come free (see PARALLEL_MIN) */
  #pragma omp parallel if (n >= PARALLEL_MIN)
  {
    int64_t lo, len;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunk_count(n); c++) {
      chunk_of(c, n, &lo, &len);
      if (use_momentum) {
        if (h->centered) rmsprop_loop(p + lo, v + lo, m ? m + lo : NULL, b ? b + lo : NULL, g + lo, len, lr, wd, alpha, one_minus_alpha, eps, mu, 1);
        else rmsprop_loop(p + lo, v + lo, m ? m + lo : NULL, b ? b + lo : NULL, g + lo, len, lr, wd, alpha, one_minus_alpha, eps, mu, 0);
      }
      else if (h->centered)
        rmsprop_loop(p + lo, v + lo, m ? m + lo : NULL, b ? b + lo : NULL, g + lo, len, lr, wd, alpha, one_minus_alpha, eps, 0.0f, 1);
      else rmsprop_loop(p + lo, v + lo, m ? m + lo : NULL, b ? b + lo : NULL, g + lo, len, lr, wd, alpha, one_minus_alpha, eps, 0.0f, 0);
    }
  }
  return NN_OK;
}

/*
** Adam, and AdamW
**
**   Adam:   g_t = g_t + wd p_{t-1}                 AdamW:  p_{t-1} = p_{t-1} (1 - lr wd)
**   m_t = beta1 m_{t-1} + (1 - beta1) g_t            first moment (mean) of g, m_0 = 0
**   v_t = beta2 v_{t-1} + (1 - beta2) g_t^2          second moment, v_0 = 0
**   amsgrad:  vmax_t = max(vmax_{t-1}, v_t), used for v_t below
**   m^_t = m_t / (1 - beta1^t),   v^_t = v_t / (1 - beta2^t)     bias corrections
**   p_t = p_{t-1} - lr m^_t / (sqrt(v^_t) + eps)
**
** Why the corrections: m and v start at 0, so early on they are biased
** towards 0.  Unrolled, m_t = (1 - beta1) \sum_{i<=t} beta1^{t-i} g_i, whose
** weights sum to 1 - beta1^t; dividing by that makes m^_t an average whose
** weights sum to 1 (Kingma & Ba, sec. 3).  Likewise v.
** As PyTorch computes it:  step_size = lr / (1 - beta1^t),
**   denom = sqrt(v_t) / sqrt(1 - beta2^t) + eps,   p -= step_size m_t / denom
** which is the formula above with eps added after the correction of v (Kingma
** & Ba's Algorithm 1; their "efficient version" in sec. 2 adds eps before it,
** a slightly different number).  AMSGrad keeps the running max of v, not of
** v^, again as PyTorch does.  The scalars are computed in double.
** Sources: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR
** 2015, Algorithm 1; Reddi, Kale & Kumar, "On the Convergence of Adam and
** Beyond", ICLR 2018 (AMSGrad); Loshchilov & Hutter, ICLR 2019 (AdamW, see
** the top of this file); PyTorch 1.13, torch.optim.Adam and AdamW.
*/
int optim_adam (nn_tensor *param, nn_tensor *exp_avg, nn_tensor *exp_avg_sq,
                nn_tensor *max_exp_avg_sq, const nn_tensor *grad, const nn_optim_hyper *h,
                int64_t step) {
  const nn_tensor *state[NN_OPTIM_MAXSTATE] = { exp_avg, exp_avg_sq,
                                                h->amsgrad ? max_exp_avg_sq : NULL };
  int rc = begin(h, NN_OPTIM_ADAM, NN_OPTIM_ADAMW, param, state, grad, step);
  int decoupled = h->kind == NN_OPTIM_ADAMW;
  if (rc != NN_OK) return rc;
  /* the scalars of step t, in double as PyTorch's Python code */
  double t = (double)step;
  double bias_correction1 = 1.0 - pow(h->beta1, t);
  double bias_correction2 = 1.0 - pow(h->beta2, t);
  float step_size = (float)(h->lr / bias_correction1);
  float bc2_sqrt = (float)sqrt(bias_correction2);
  float coupled_wd = decoupled ? 0.0f : (float)h->weight_decay;
  float decay = decoupled ? (float)(1.0 - h->lr * h->weight_decay) : 1.0f;
  float beta1 = (float)h->beta1, one_minus_beta1 = (float)(1.0 - h->beta1);
  float beta2 = (float)h->beta2, one_minus_beta2 = (float)(1.0 - h->beta2);
  float eps = (float)h->eps;
  float *p = tensor_data(param), *m = tensor_data(exp_avg), *v = tensor_data(exp_avg_sq);
  float *vmax = h->amsgrad ? tensor_data(max_exp_avg_sq) : NULL;
  const float *g = tensor_data(grad);
  int64_t n = param->numel;
  if (param->storage->device == NN_CUDA)
    return nncuda_adam(p, m, v, vmax, g, n, coupled_wd, decay, beta1, one_minus_beta1, beta2,
                       one_minus_beta2, step_size, bc2_sqrt, eps, h->amsgrad);
  /* chunks [lo, lo + len) to the threads as they come free (see PARALLEL_MIN) */
  #pragma omp parallel if (n >= PARALLEL_MIN)
  {
    int64_t lo, len;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunk_count(n); c++) {
      chunk_of(c, n, &lo, &len);
      if (h->amsgrad)
        adam_loop(p + lo, m + lo, v + lo, vmax + lo, g + lo, len, coupled_wd, decay, beta1, one_minus_beta1, beta2,
                  one_minus_beta2, step_size, bc2_sqrt, eps, 1);
      else if (decay != 1.0f)       /* AdamW */
        adam_loop(p + lo, m + lo, v + lo, NULL, g + lo, len, 0.0f, decay, beta1, one_minus_beta1, beta2, one_minus_beta2,
                  step_size, bc2_sqrt, eps, 0);
      else if (coupled_wd != 0.0f)  /* Adam with weight decay */
        adam_loop(p + lo, m + lo, v + lo, NULL, g + lo, len, coupled_wd, 1.0f, beta1, one_minus_beta1, beta2,
                  one_minus_beta2, step_size, bc2_sqrt, eps, 0);
      else
        adam_loop(p + lo, m + lo, v + lo, NULL, g + lo, len, 0.0f, 1.0f, beta1, one_minus_beta1, beta2, one_minus_beta2,
                  step_size, bc2_sqrt, eps, 0);
    }
  }
  return NN_OK;
}

int optim_step (nn_tensor *param, nn_tensor *const state[], const nn_tensor *grad,
                const nn_optim_hyper *h, int64_t step, int fresh) {
  switch (h->kind) {
    case NN_OPTIM_SGD: return optim_sgd(param, state[0], grad, h, fresh);
    case NN_OPTIM_ADAGRAD: return optim_adagrad(param, state[0], grad, h, step);
    case NN_OPTIM_RMSPROP: return optim_rmsprop(param, state[0], state[1], state[2], grad, h);
    case NN_OPTIM_ADAM: case NN_OPTIM_ADAMW:
      return optim_adam(param, state[0], state[1], state[2], grad, h, step);
    default: return nn_seterr(NN_EARG, "optimizer: unknown kind %d", (int)h->kind);
  }
}

/*
** A note on speed.  Each update reads g and writes p and its state in one
** pass: Adam touches 5 floats per element where PyTorch's single-tensor
** code makes ~7 passes over memory.  What limits it on the CPU is then the
** arithmetic (a sqrt and two divisions per element for Adam), which wants
** SIMD.  The loops above are written for a vectorising compiler (no branch
** in the body, restrict pointers), but GCC at -O2 keeps them scalar: its
** -O2 cost model vectorises only loops whose count is a multiple of the
** vector width, and with math-errno on, sqrtf is a call that may set
** errno, which no vector instruction does.  Measured on the 2-core dev
** machine, 1e6 floats, one thread, ms per step:
**                         SGD+mom  Adagrad  RMSprop+mom  Adam  AdamW
**   -O2 (the old flags)     1.0      2.3       2.8        3.1   3.4
**   -O3 -fno-math-errno     0.24     0.59      0.63       0.82  0.82   (the Makefile's OPT)
**   PyTorch 1.13, single    0.57     1.2       1.5        2.1   2.3
** and the vectorised results are bit for bit those of the scalar loop
** (sqrtps and divps round as sqrtss and divss; -std=c11 forbids fusing a
** multiply and an add).  Nothing in nnlua reads errno after a math call.
*/
