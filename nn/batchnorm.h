/*
** batchnorm.h -- the math of BatchNorm1d, one feature (channel) at a time,
** for both devices: batchnorm.c loops over the channels on the CPU,
** nn/cuda_layers.cu runs one CUDA thread per channel (NN_HD, elementwise.h).
** The derivation is here, above the code it explains.
*/
#ifndef NN_BATCHNORM_H
#define NN_BATCHNORM_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"

/*
** BatchNorm1d:  y = \gamma \hat{x} + \beta,   \hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}
**
** Shapes   x, y, g = dL/dy: (B, C)   \gamma, \beta, \mu, \sigma^2: (C)    B = batch size
**   Every feature (column) c is normalised on its own, over the B examples
**   of the batch; below, the index c is left out: all sums run over the batch.
**
** Forward, training (statistics of this batch):
**   \mu      = (1/B) \sum_b x_b
**   \sigma^2 = (1/B) \sum_b (x_b - \mu)^2              biased: divides by B
**   r        = 1 / \sqrt{\sigma^2 + \epsilon}          ("invstd", saved for backward)
**   \hat{x}_b = (x_b - \mu) r,     y_b = \gamma \hat{x}_b + \beta
**   and the running estimates move towards the batch's (momentum m):
**   running_mean = (1 - m) running_mean + m \mu
**   running_var  = (1 - m) running_var  + m \sigma^2 B / (B - 1)     unbiased
**   (the unbiased variance here but the biased one in \hat{x}: PyTorch's
**   choice, which we follow exactly).  Sums are accumulated in double.
** Forward, evaluation: the same with \mu = running_mean, \sigma^2 = running_var.
**
** Backward, evaluation: \mu and r are constants, y_b = \gamma r (x_b - \mu) + \beta,
**   a diagonal Jacobian:
**   dL/dx_b = g_b \gamma r
**
** Backward, training: \mu and \sigma^2 are functions of every x_b of the
**   batch, so x_b reaches L along three paths: directly through its own
**   \hat{x}_b, through \mu (which every \hat{x}_k uses), and through \sigma^2
**   (idem).  The chain rule sums the three:
**   dL/d\hat{x}_b = \gamma g_b
**   dL/d\sigma^2  = \sum_k dL/d\hat{x}_k (x_k - \mu) (-1/2) r^3
**   dL/d\mu       = \sum_k dL/d\hat{x}_k (-r)  +  dL/d\sigma^2 (-2/B) \sum_k (x_k - \mu)
**                 = -r \sum_k dL/d\hat{x}_k      (the last sum is 0: \mu is the mean)
**   dL/dx_b = dL/d\hat{x}_b r  +  dL/d\sigma^2 2 (x_b - \mu) / B  +  dL/d\mu / B
**   Substituting, with x_k - \mu = \hat{x}_k / r, everything has a factor \gamma r / B:
**   dL/dx_b = (\gamma r / B) (B g_b - \sum_k g_k - \hat{x}_b \sum_k g_k \hat{x}_k)
**             direct path      via \mu      via \sigma^2
**   The two subtractions remove from g its mean and its component along
**   \hat{x}: a shift or a stretch of the batch's x does not change \hat{x},
**   so it cannot change L.
**
** Parameters (either mode; \gamma and \beta are shared by the batch, so sum):
**   dL/d\gamma = \sum_b g_b \hat{x}_b          dL/d\beta = \sum_b g_b
**
** Conventions: grad_input is overwritten; grad_weight (\gamma) and grad_bias
** (\beta) accumulate (+=).  With affine = false there is no \gamma, \beta
** (\gamma = 1, \beta = 0, no parameters).  Backward uses the statistics of
** the forward that made the output (batchnorm.c keeps which): a layer
** switched to evaluation between forward and backward still gets the
** training formula.
**
** Batch size 1 in training: \sigma^2 = 0, \hat{x} = 0, and the unbiased
** variance divides by B - 1 = 0.  PyTorch refuses it ("Expected more than 1
** value per channel when training"), and so do we, with NN_EARG.  In
** evaluation a batch of 1 is fine.  B = 0 gives an empty output and, as in
** PyTorch, leaves the running estimates alone.
**
** One channel is one sequential loop over the batch, so on the GPU one
** thread per channel: thread c reads x[b C + c], and the threads of a warp
** read C-adjacent floats, one coalesced load per b.  Each thread writes only
** its own channel (dgamma[c] += included): no atomics, and the sums run in
** the CPU's order.
**
** Source: Ioffe & Szegedy, "Batch Normalization: accelerating deep network
** training by reducing internal covariate shift", ICML 2015, sec. 3,
** Algorithm 1 and the chain rule below it; the simplified dx as in cs231n's
** "batchnorm_backward_alt" and Kevin Zakka, "Deriving the Gradient for the
** Backward Pass of Batch Normalization" (2016).
*/

/* Forward of channel c of x (B, C), B >= 1 (B >= 2 when batch).
** batch: 1 normalises with this batch's mean and biased variance and moves
** running_mean, running_var towards them; 0 normalises with the running
** ones and leaves them alone.  Either way save_mean[c], save_invstd[c] get
** the mean and 1/sqrt(var + eps) used, for backward.  gamma, beta: NULL
** for 1 and 0 (affine = false). */
NN_HD void nn_batchnorm_forward_channel (float *y, float *running_mean, float *running_var,
                                         float *save_mean, float *save_invstd, const float *x,
                                         const float *gamma, const float *beta, int64_t B,
                                         int64_t C, int64_t c, double eps, double momentum,
                                         int batch) {
  double mean, var;
  if (batch) {
    /* mean over the batch, then the biased variance around it (two passes) */
    double s = 0.0, ss = 0.0;
    for (int64_t b = 0; b < B; b++) s += x[b * C + c];
    mean = s / (double)B;
    for (int64_t b = 0; b < B; b++) {
      double d = x[b * C + c] - mean;
      ss += d * d;
    }
    var = ss / (double)B;
    /* running estimates: the unbiased variance, B / (B - 1) */
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = (float)((1.0 - momentum) * running_var[c]
                             + momentum * var * (double)B / (double)(B - 1));
  } else {
    mean = running_mean[c];
    var = running_var[c];
  }
  double invstd = 1.0 / sqrt(var + eps);
  save_mean[c] = (float)mean;
  save_invstd[c] = (float)invstd;
  /* y = gamma xhat + beta; (x - mean) first, so no large terms cancel */
  double gam = gamma ? gamma[c] : 1.0, bet = beta ? beta[c] : 0.0;
  for (int64_t b = 0; b < B; b++)
    y[b * C + c] = (float)(gam * ((x[b * C + c] - mean) * invstd) + bet);
}

/* Backward of channel c, from g = dL/dy (B, C), the input x and the
** save_mean, save_invstd of its forward; B >= 1.  batch: the forward used
** the batch's statistics (the three-term dx), else the running ones (dx =
** g gamma invstd).  dx[., c] is overwritten; dgamma[c], dbeta[c]
** accumulate, and NULL skips them (affine = false). */
NN_HD void nn_batchnorm_backward_channel (float *dx, float *dgamma, float *dbeta,
                                          const float *g, const float *x,
                                          const float *save_mean, const float *save_invstd,
                                          const float *gamma, int64_t B, int64_t C, int64_t c,
                                          int batch) {
  double mean = save_mean[c], invstd = save_invstd[c];
  double gam = gamma ? gamma[c] : 1.0;
  /* sum g and sum g xhat over the batch: db and dgamma, and dx's two sums */
  double sg = 0.0, sgx = 0.0;
  for (int64_t b = 0; b < B; b++) {
    double gb = g[b * C + c];
    sg += gb;
    sgx += gb * (x[b * C + c] - mean) * invstd;
  }
  if (dgamma) dgamma[c] += (float)sgx;
  if (dbeta) dbeta[c] += (float)sg;
  if (batch) {
    /* dx = (gamma invstd / B) (B g - sum g - xhat sum(g xhat)) */
    double k = gam * invstd / (double)B;
    for (int64_t b = 0; b < B; b++) {
      double xhat = (x[b * C + c] - mean) * invstd;
      dx[b * C + c] = (float)(k * ((double)B * g[b * C + c] - sg - xhat * sgx));
    }
  } else {
    /* dx = g gamma invstd: the statistics are constants */
    double k = gam * invstd;
    for (int64_t b = 0; b < B; b++) dx[b * C + c] = (float)(k * g[b * C + c]);
  }
}

/* The same over all C channels on the GPU, one thread per channel.  Device
** pointers; B >= 1, C >= 1. */
NN_CUDA_FN(int nncuda_batchnorm_forward (float *y, float *running_mean, float *running_var,
                                         float *save_mean, float *save_invstd, const float *x,
                                         const float *gamma, const float *beta, int64_t B,
                                         int64_t C, double eps, double momentum, int batch))
NN_CUDA_FN(int nncuda_batchnorm_backward (float *dx, float *dgamma, float *dbeta,
                                          const float *g, const float *x,
                                          const float *save_mean, const float *save_invstd,
                                          const float *gamma, int64_t B, int64_t C, int batch))

#endif
