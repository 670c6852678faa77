/*
** cuda_optim.cu -- the CUDA launchers of the optimizer updates (optim.h):
** SGD, Adagrad, RMSprop, Adam and AdamW.
**
** One thread per element, each running the NN_HD element function that the
** CPU loop of nn/optim.c calls, with the scalars of the step that optim.c
** computed on the host (so both devices get the same float scalars).  The
** flags (nesterov, fresh, centered, amsgrad) are runtime arguments: every
** thread takes the same branch, so a warp does not diverge.  Each thread
** reads g and writes p and the state at its own index only: the update is
** one pass over memory, with no atomics, and its result does not depend on
** how the elements are spread over threads.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "optim.h"

/* --- the kernels: one thread per element ----------------------------------------- */

static __global__ void sgd_kernel (float *p, float *b, const float *g, int64_t n, float lr,
                                   float wd, float mu, float one_minus_damp, int nesterov,
                                   int fresh) {
  GRID_STRIDE(i, n)
    nn_sgd_elem(p, b, g, (int64_t)i, lr, wd, mu, one_minus_damp, nesterov, fresh);
}

static __global__ void adagrad_kernel (float *p, float *s, const float *g, int64_t n,
                                       float clr, float wd, float eps) {
  GRID_STRIDE(i, n)
    nn_adagrad_elem(p, s, g, (int64_t)i, clr, wd, eps);
}

static __global__ void rmsprop_kernel (float *p, float *v, float *ga, float *b, const float *g,
                                       int64_t n, float lr, float wd, float alpha,
                                       float one_minus_alpha, float eps, float mu,
                                       int centered) {
  GRID_STRIDE(i, n)
    nn_rmsprop_elem(p, v, ga, b, g, (int64_t)i, lr, wd, alpha, one_minus_alpha, eps, mu,
                    centered);
}

static __global__ void adam_kernel (float *p, float *m, float *v, float *vmax, const float *g,
                                    int64_t n, float coupled_wd, float decay, float beta1,
                                    float one_minus_beta1, float beta2, float one_minus_beta2,
                                    float step_size, float bc2_sqrt, float eps, int amsgrad) {
  GRID_STRIDE(i, n)
    nn_adam_elem(p, m, v, vmax, g, (int64_t)i, coupled_wd, decay, beta1, one_minus_beta1,
                 beta2, one_minus_beta2, step_size, bc2_sqrt, eps, amsgrad);
}

/* --- the launchers ------------------------------------------------------------------ */

int nncuda_sgd (float *p, float *b, const float *g, int64_t n, float lr, float wd, float mu,
                float one_minus_damp, int nesterov, int fresh) {
  return cuda_run((size_t)n, sgd_kernel, p, b, g, n, lr, wd, mu, one_minus_damp, nesterov,
                  fresh);
}

int nncuda_adagrad (float *p, float *s, const float *g, int64_t n, float clr, float wd,
                    float eps) {
  return cuda_run((size_t)n, adagrad_kernel, p, s, g, n, clr, wd, eps);
}

int nncuda_rmsprop (float *p, float *v, float *ga, float *b, const float *g, int64_t n,
                    float lr, float wd, float alpha, float one_minus_alpha, float eps, float mu,
                    int centered) {
  return cuda_run((size_t)n, rmsprop_kernel, p, v, ga, b, g, n, lr, wd, alpha, one_minus_alpha,
                  eps, mu, centered);
}

int nncuda_adam (float *p, float *m, float *v, float *vmax, const float *g, int64_t n,
                 float coupled_wd, float decay, float beta1, float one_minus_beta1, float beta2,
                 float one_minus_beta2, float step_size, float bc2_sqrt, float eps,
                 int amsgrad) {
  return cuda_run((size_t)n, adam_kernel, p, m, v, vmax, g, n, coupled_wd, decay, beta1,
                  one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps, amsgrad);
}
