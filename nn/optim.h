/*
** optim.h -- the optimizer updates: one fused pass per parameter tensor.
**
** Training moves each parameter p against its gradient g = dL/dp.  How far,
** and with what memory of earlier steps, is the optimizer.  Each one here
** follows the single-tensor algorithm of PyTorch 1.13 (torch.optim, the
** pseudo-code on its documentation pages and _single_tensor_* in its
** source) to the order of the float32 operations, so that the numbers agree
** with PyTorch's to about one rounding per operation:
**
**   SGD      plain, with momentum (heavy ball), dampening, Nesterov
**   Adagrad  Duchi, Hazan & Singer (2011)
**   RMSprop  Tieleman & Hinton (2012), optionally centered (Graves 2013)
**   Adam     Kingma & Ba (2015), optionally AMSGrad (Reddi et al. 2018)
**   AdamW    Adam with decoupled weight decay, Loshchilov & Hutter (2019)
**
** Each update reads g and writes p and the optimizer's state tensors (the
** momentum buffer, Adam's moment averages ...), element by element, in one
** pass over memory.  The per-element math is written once, below, as NN_HD
** functions (elementwise.h), so that the CUDA kernels (nn/cuda_optim.cu, one
** thread per element) run the very formulas the CPU specs check; nn/optim.c
** holds the checks, the scalars of each step and the CPU loops.
**
** Conventions.  param, grad and every state tensor have one shape and live
** on one device.  The state tensors belong to the caller, who allocates them
** (zeros, or initial_accumulator_value for Adagrad's sum) and keeps them from
** step to step; a state an optimizer does not use with these settings (the
** momentum buffer when momentum == 0) is passed as NULL.  `step` counts
** updates of this parameter from 1 (the first step is 1), as PyTorch's
** state['step'] after its increment.  The learning rate h->lr is the rate
** of this step: the caller has applied any decay or schedule.
** Scalars are computed in double (as PyTorch does in Python) and rounded to
** float once; the element math is float32.
**
** Errors: NN_EARG (a hyper-parameter out of range, a missing state tensor),
** NN_ESHAPE, NN_EDEVICE (tensors on different devices), NN_ECUDA (a kernel
** launch failed).  Nothing is written when a check fails.
*/
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include "elementwise.h"
#include "nn_cuda.h"

typedef enum nn_optim_kind {
  NN_OPTIM_SGD, NN_OPTIM_ADAGRAD, NN_OPTIM_RMSPROP, NN_OPTIM_ADAM, NN_OPTIM_ADAMW,
  NN_OPTIM_KIND_COUNT
} nn_optim_kind;

/* The hyper-parameters of every optimizer, PyTorch's names; each optimizer
** reads its own and ignores the rest (zero them). */
typedef struct nn_optim_hyper {
  nn_optim_kind kind;
  double lr;                 /* the learning rate of this step, >= 0 */
  double weight_decay;       /* L2 penalty >= 0: g += wd * p (coupled); AdamW:
                                p *= 1 - lr * wd (decoupled) */
  double momentum;           /* SGD, RMSprop: >= 0; 0 is none */
  double dampening;          /* SGD: in [0, 1] */
  double alpha;              /* RMSprop: smoothing of the square average, [0, 1) */
  double beta1, beta2;       /* Adam, AdamW: decay of the moment averages, [0, 1) */
  double eps;                /* Adagrad, RMSprop, Adam, AdamW: > 0, added to the denominator */
  double lr_decay;           /* Adagrad: lr / (1 + (step - 1) lr_decay), >= 0 */
  double initial_accumulator_value;   /* Adagrad: where `sum` starts, >= 0 */
  int nesterov;              /* SGD: needs momentum > 0 and dampening == 0 */
  int centered;              /* RMSprop: divide by an estimate of the variance */
  int amsgrad;               /* Adam, AdamW: divide by the running max of v */
} nn_optim_hyper;

/* "SGD", "Adagrad", "RMSprop", "Adam", "AdamW"; "?" for no kind. */
const char *optim_name (nn_optim_kind kind);

/* NN_OK, or NN_EARG naming the optimizer and the first bad hyper-parameter:
** "Adam: betas[2] must be a number in [0, 1), got 1".  Every update below
** calls it first; the Lua constructors call it too, so that a bad value is
** reported when it is given. */
int optim_check (const nn_optim_hyper *h);


/* The state tensors, by slot: PyTorch's names, in the order the updates take
** them (NULL past the last slot, or for a kind that is none):
**   SGD      momentum_buffer
**   Adagrad  sum
**   RMSprop  square_avg, momentum_buffer, grad_avg
**   Adam(W)  exp_avg, exp_avg_sq, max_exp_avg_sq */
#define NN_OPTIM_MAXSTATE 3
const char *optim_state_name (nn_optim_kind kind, int slot);
/* 1 when the settings h use the slot (SGD's buffer only with momentum,
** RMSprop's with momentum > 0 and centered, Adam's max only with amsgrad),
** and *init is the value it starts at: 0, or Adagrad's
** initial_accumulator_value.  0 for a slot past the last. */
int optim_state_used (const nn_optim_hyper *h, int slot, float *init);

/* The checks that every update makes before it writes anything: h, and
** grad and the state tensors against param: one shape, one device (either
** one: the updates run on the cpu and on cuda).  state has
** NN_OPTIM_MAXSTATE entries; a NULL one is skipped, so a caller can check
** before it allocates what is missing. */
int optim_check_tensors (const nn_optim_hyper *h, const nn_tensor *param,
                         const nn_tensor *const state[], const nn_tensor *grad);


/* --- the per-element updates --------------------------------------------------
** Each updates element i: it reads g[i] and the parameter p[i] and its state
** (m[i], v[i] ...), and writes p[i] and the state, given the scalars of this
** step already rounded to float.  The arrays and an index, rather than one
** element's pointers, so that a CPU loop and a CUDA thread call them alike,
** and so that a state the settings do not use may be NULL: it is never
** indexed.  The comment above each is its formula; nn/optim.c has the
** derivation and the sources, and each line's comment the PyTorch 1.13 code
** whose float32 operations it repeats, in their order. */

/* SGD.  d = g + wd p;  with momentum mu != 0:  b = fresh ? d : mu b + (1 - dampening) d,
** d = nesterov ? d + mu b : b;  then p -= lr d.   one_minus_damp = 1 - dampening. */
NN_HD void nn_sgd_elem (float *p, float *b, const float *g, int64_t i, float lr, float wd,
                        float mu, float one_minus_damp, int nesterov, int fresh) {
  float d = g[i];
  if (wd != 0.0f) d = d + wd * p[i];            /* d_p.add(param, alpha=wd) */
  if (mu != 0.0f) {
    /* buf.mul_(mu).add_(d_p, alpha=1-dampening), or d_p itself on the first step */
    float buf = fresh ? d : b[i] * mu + one_minus_damp * d;
    b[i] = buf;
    d = nesterov ? d + mu * buf : buf;          /* d_p.add(buf, alpha=mu) */
  }
  p[i] = p[i] + (-lr) * d;                      /* param.add_(d_p, alpha=-lr) */
}

/* Adagrad.  g += wd p;  s += g^2;  p -= clr g / (sqrt(s) + eps). */
NN_HD void nn_adagrad_elem (float *p, float *s, const float *g, int64_t i, float clr, float wd,
                            float eps) {
  float d = g[i];
  if (wd != 0.0f) d = d + wd * p[i];            /* grad.add(param, alpha=wd) */
  float sum = s[i] + 1.0f * d * d;              /* state_sum.addcmul_(g, g, value=1) */
  s[i] = sum;
  float std = sqrtf(sum) + eps;                 /* state_sum.sqrt().add_(eps) */
  p[i] = p[i] + (-clr) * d / std;               /* param.addcdiv_(g, std, value=-clr) */
}

/* RMSprop.  g += wd p;  v = alpha v + (1 - alpha) g^2;
** centered: m = alpha m + (1 - alpha) g,  a = sqrt(v - m^2) + eps;  else a = sqrt(v) + eps;
** with momentum mu > 0: b = mu b + g / a,  p -= lr b;  else p -= lr g / a.
** ga is used only when centered, b only when mu > 0. */
NN_HD void nn_rmsprop_elem (float *p, float *v, float *ga, float *b, const float *g, int64_t i,
                            float lr, float wd, float alpha, float one_minus_alpha, float eps,
                            float mu, int centered) {
  float d = g[i];
  if (wd != 0.0f) d = d + wd * p[i];                /* grad.add(param, alpha=wd) */
  /* square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha) */
  float sq = v[i] * alpha + one_minus_alpha * d * d;
  v[i] = sq;
  float avg;
  if (centered) {
    /* grad_avg.mul_(alpha).add_(g, alpha=1-alpha) */
    float m = ga[i] * alpha + one_minus_alpha * d;
    ga[i] = m;
    avg = sqrtf(sq + -1.0f * m * m);                /* square_avg.addcmul(m, m, value=-1).sqrt_() */
  } else {
    avg = sqrtf(sq);                                /* square_avg.sqrt() */
  }
  avg = avg + eps;                                  /* avg.add_(eps) */
  if (mu > 0.0f) {
    float buf = b[i] * mu + d / avg;                /* buf.mul_(mu).addcdiv_(g, avg) */
    b[i] = buf;
    p[i] = p[i] + (-lr) * buf;                      /* param.add_(buf, alpha=-lr) */
  } else {
    p[i] = p[i] + (-lr) * d / avg;                  /* param.addcdiv_(g, avg, value=-lr) */
  }
}

/* Adam and AdamW.  Adam: g += wd p (coupled).  AdamW: p *= 1 - lr wd (decoupled).
** m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
** amsgrad: vmax = max(vmax, v), and vmax stands for v below;
** p -= step_size m / (sqrt(v) / bc2_sqrt + eps),
** with step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t).
** coupled_wd is wd for Adam and 0 for AdamW; decay is 1 - lr wd for AdamW
** and 1 for Adam.  vmax is used only with amsgrad. */
NN_HD void nn_adam_elem (float *p, float *m, float *v, float *vmax, const float *g, int64_t i,
                         float coupled_wd, float decay, float beta1, float one_minus_beta1,
                         float beta2, float one_minus_beta2, float step_size, float bc2_sqrt,
                         float eps, int amsgrad) {
  float d = g[i], x = p[i];
  if (coupled_wd != 0.0f) d = d + coupled_wd * x;   /* grad.add(param, alpha=wd) */
  if (decay != 1.0f) x = x * decay;                 /* param.mul_(1 - lr * wd) */
  float mt = m[i] * beta1 + one_minus_beta1 * d;    /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
  float vt = v[i] * beta2 + one_minus_beta2 * d * d; /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2) */
  m[i] = mt;
  v[i] = vt;
  if (amsgrad) {                                    /* torch.maximum(vmax, v, out=vmax): */
    float vm = vmax[i];                             /* nan wins, as in torch.maximum */
    vt = (vm > vt || vm != vm) ? vm : vt;
    vmax[i] = vt;
  }
  float denom = sqrtf(vt) / bc2_sqrt + eps;         /* (v.sqrt() / bc2_sqrt).add_(eps) */
  p[i] = x + (-step_size) * mt / denom;             /* param.addcdiv_(m, denom, -step_size) */
}


/* --- the updates, one parameter tensor each ------------------------------------ */

/* SGD (h->kind NN_OPTIM_SGD).  momentum_buf: NULL when h->momentum == 0.
** fresh: 1 when the buffer holds nothing yet (its first step); it then
** starts as the gradient itself, as PyTorch's. */
int optim_sgd (nn_tensor *param, nn_tensor *momentum_buf, const nn_tensor *grad,
               const nn_optim_hyper *h, int fresh);

/* Adagrad.  sum: the running sum of squared gradients, started at
** h->initial_accumulator_value.  step >= 1, for lr_decay. */
int optim_adagrad (nn_tensor *param, nn_tensor *sum, const nn_tensor *grad,
                   const nn_optim_hyper *h, int64_t step);

/* RMSprop.  square_avg always; momentum_buf when h->momentum > 0 and
** grad_avg when h->centered (NULL otherwise); all start at 0. */
int optim_rmsprop (nn_tensor *param, nn_tensor *square_avg, nn_tensor *momentum_buf,
                   nn_tensor *grad_avg, const nn_tensor *grad, const nn_optim_hyper *h);

/* Adam and AdamW (h->kind says which).  exp_avg, exp_avg_sq and, when
** h->amsgrad, max_exp_avg_sq (else NULL); all start at 0.  step >= 1: the
** bias corrections 1 - beta^step. */
int optim_adam (nn_tensor *param, nn_tensor *exp_avg, nn_tensor *exp_avg_sq,
                nn_tensor *max_exp_avg_sq, const nn_tensor *grad, const nn_optim_hyper *h,
                int64_t step);

/* The same updates on the GPU, over the n elements of device arrays, one
** CUDA thread per element running the element function above.  optim_sgd
** ... optim_adam check the tensors and compute the scalars of the step on
** the host, then call these for a parameter on cuda (or loop on the cpu),
** so both devices get the same float scalars; the flags are runtime
** arguments, alike for every thread (no divergence).  A state the settings
** do not use is NULL, as for the element functions.  n >= 0. */
NN_CUDA_FN(int nncuda_sgd (float *p, float *b, const float *g, int64_t n, float lr, float wd,
                           float mu, float one_minus_damp, int nesterov, int fresh))
NN_CUDA_FN(int nncuda_adagrad (float *p, float *s, const float *g, int64_t n, float clr,
                               float wd, float eps))
NN_CUDA_FN(int nncuda_rmsprop (float *p, float *v, float *ga, float *b, const float *g,
                               int64_t n, float lr, float wd, float alpha,
                               float one_minus_alpha, float eps, float mu, int centered))
NN_CUDA_FN(int nncuda_adam (float *p, float *m, float *v, float *vmax, const float *g,
                            int64_t n, float coupled_wd, float decay, float beta1,
                            float one_minus_beta1, float beta2, float one_minus_beta2,
                            float step_size, float bc2_sqrt, float eps, int amsgrad))

/* Any of optim_sgd ... optim_adam, by h->kind: state[slot] as
** optim_state_name lists them (NULL where not used); fresh is SGD's, step
** the others'. */
int optim_step (nn_tensor *param, nn_tensor *const state[], const nn_tensor *grad,
                const nn_optim_hyper *h, int64_t step, int fresh);

#endif
