/*
** batchnorm.h -- the math of BatchNorm1d, one feature (channel) at a time,
** for both devices: batchnorm.c loops over the channels on the CPU,
** nn/cuda_layers.cu runs one CUDA thread per channel (NN_HD, elementwise.h).
*/
#ifndef NN_BATCHNORM_H
#define NN_BATCHNORM_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"

/* The derivation, with the numbers the lines below cite, sits above the
** pair batchnorm_forward / batchnorm_backward in batchnorm.c. */

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
    /* (1) the mean over the batch, then (2) the biased variance around it (two passes) */
    double s = 0.0, ss = 0.0;
    for (int64_t b = 0; b < B; b++) s += x[b * C + c];
    mean = s / (double)B;
    for (int64_t b = 0; b < B; b++) {
      double d = x[b * C + c] - mean;
      ss += d * d;
    }
    var = ss / (double)B;
    /* (5) running estimates: the unbiased variance, B / (B - 1) */
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = (float)((1.0 - momentum) * running_var[c]
                             + momentum * var * (double)B / (double)(B - 1));
  } else {
    mean = running_mean[c];
    var = running_var[c];
  }
  double invstd = 1.0 / sqrt(var + eps);                          /* (3) */
  save_mean[c] = (float)mean;
  save_invstd[c] = (float)invstd;
  /* (4) y = gamma xhat + beta; (x - mean) first, so no large terms cancel */
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
  /* (8) sum g and sum g xhat over the batch: db and dgamma, and (7)'s two sums */
  double sg = 0.0, sgx = 0.0;
  for (int64_t b = 0; b < B; b++) {
    double gb = g[b * C + c];
    sg += gb;
    sgx += gb * (x[b * C + c] - mean) * invstd;
  }
  if (dgamma) dgamma[c] += (float)sgx;
  if (dbeta) dbeta[c] += (float)sg;
  if (batch) {
    /* (7) dx = (gamma invstd / B) (B g - sum g - xhat sum(g xhat)) */
    double k = gam * invstd / (double)B;
    for (int64_t b = 0; b < B; b++) {
      double xhat = (x[b * C + c] - mean) * invstd;
      dx[b * C + c] = (float)(k * ((double)B * g[b * C + c] - sg - xhat * sgx));
    }
  } else {
    /* (6) dx = g gamma invstd: the statistics are constants */
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
