/*
** batchnorm.h -- the math of BatchNorm1d and BatchNorm2d, one channel at a
** time, for both devices: batchnorm.c loops over the channels on the CPU
** (OpenMP), nn/cuda_layers.cu runs one CUDA thread per channel (NN_HD,
** elementwise.h).
**
** x is seen as (B, C, L): L = 1 for BatchNorm1d on (B, C), L for
** BatchNorm1d on (B, C, L), L = H W for BatchNorm2d on (B, C, H, W).
** Element (b, c, l) is x[(b C + c) L + l]; channel c has n = B L values.
*/
#ifndef NN_BATCHNORM_H
#define NN_BATCHNORM_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"

/* The derivation, with the numbers the lines below cite, sits above the
** pair batchnorm_forward / batchnorm_backward in batchnorm.c. */

/* The sums over a channel's n = B L values run in four interleaved double
** partial sums: value i of the channel (counting b-major, then l) goes to
** partial i mod 4, and the total is (p0 + p1) + (p2 + p3).  Four chains of
** additions overlap where one chain waits on each add (a 4-cycle latency):
** the forward and backward ran 2.5x faster.  The order depends only on the
** sequence of values, not on B and L apart, so BatchNorm2d and BatchNorm1d
** on the same values laid out as rows give the same bits, on either device.
** NN_BN_SUM4(P, ROWS, TERM) adds TERM (an expression of row pointers and
** l) over the channel into the partials P[4]; ROWS sets the row pointers of
** each b. */
#define NN_BN_SUM4(P, ROWS, TERM)                                              \
  do {                                                                         \
    int64_t i_ = 0;                                                            \
    for (int64_t b = 0; b < B; b++) {                                          \
      ROWS;                                                                    \
      int64_t l = 0;                                                           \
      for (; l < L && (i_ & 3); l++, i_++) P[i_ & 3] += (TERM);                \
      for (; l + 4 <= L; i_ += 4) {                                            \
        P[0] += (TERM); l++;                                                   \
        P[1] += (TERM); l++;                                                   \
        P[2] += (TERM); l++;                                                   \
        P[3] += (TERM); l++;                                                   \
      }                                                                        \
      for (; l < L; l++, i_++) P[i_ & 3] += (TERM);                            \
    }                                                                          \
  } while (0)
#define NN_BN_TOTAL(P) (((P)[0] + (P)[1]) + ((P)[2] + (P)[3]))
/* Two such sums in one pass over the channel: TERM into P[4] and TERM2 into
** Q[4], each in the order NN_BN_SUM4 gives it (the same bits as two passes) */
#define NN_BN_SUM4X2(P, Q, ROWS, TERM, TERM2)                                  \
  do {                                                                         \
    int64_t i_ = 0;                                                            \
    for (int64_t b = 0; b < B; b++) {                                          \
      ROWS;                                                                    \
      int64_t l = 0;                                                           \
      for (; l < L && (i_ & 3); l++, i_++) {                                   \
        P[i_ & 3] += (TERM); Q[i_ & 3] += (TERM2);                             \
      }                                                                        \
      for (; l + 4 <= L; i_ += 4) {                                            \
        P[0] += (TERM); Q[0] += (TERM2); l++;                                  \
        P[1] += (TERM); Q[1] += (TERM2); l++;                                  \
        P[2] += (TERM); Q[2] += (TERM2); l++;                                  \
        P[3] += (TERM); Q[3] += (TERM2); l++;                                  \
      }                                                                        \
      for (; l < L; l++, i_++) {                                               \
        P[i_ & 3] += (TERM); Q[i_ & 3] += (TERM2);                             \
      }                                                                        \
    }                                                                          \
  } while (0)

/* Forward of channel c of x (B, C, L), n = B L >= 1 (n >= 2 when batch).
** batch: 1 normalises with this batch's mean and biased variance and moves
** running_mean, running_var towards them; 0 normalises with the running
** ones and leaves them alone.  Either way save_mean[c], save_invstd[c] get
** the mean and 1/sqrt(var + eps) used, for backward.  gamma, beta: NULL
** for 1 and 0 (affine = false). */
NN_HD void nn_batchnorm_forward_channel (float *y, float *running_mean, float *running_var,
                                         float *save_mean, float *save_invstd, const float *x,
                                         const float *gamma, const float *beta, int64_t B,
                                         int64_t C, int64_t L, int64_t c, double eps,
                                         double momentum, int batch) {
  double mean, var;
  double n = (double)(B * L);
  if (batch) {
    /* (1) the mean over the batch and the positions, then (2) the biased
    ** variance around it (two passes) */
    double s[4] = { 0.0, 0.0, 0.0, 0.0 }, ss[4] = { 0.0, 0.0, 0.0, 0.0 };
    const float *xc;
    NN_BN_SUM4(s, xc = x + (b * C + c) * L, (double)xc[l]);
    mean = NN_BN_TOTAL(s) / n;
    NN_BN_SUM4(ss, xc = x + (b * C + c) * L, (xc[l] - mean) * (xc[l] - mean));
    var = NN_BN_TOTAL(ss) / n;
    /* (5) running estimates: the unbiased variance, n / (n - 1) */
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = (float)((1.0 - momentum) * running_var[c]
                             + momentum * var * n / (n - 1.0));
  } else {
    mean = running_mean[c];
    var = running_var[c];
  }
  double invstd = 1.0 / sqrt(var + eps);                          /* (3) */
  save_mean[c] = (float)mean;
  save_invstd[c] = (float)invstd;
  /* (4) y = gamma xhat + beta; (x - mean) first, so no large terms cancel */
  double gam = gamma ? gamma[c] : 1.0, bet = beta ? beta[c] : 0.0;
  for (int64_t b = 0; b < B; b++) {
    const float *xc = x + (b * C + c) * L;
    float *yc = y + (b * C + c) * L;
    for (int64_t l = 0; l < L; l++) yc[l] = (float)(gam * ((xc[l] - mean) * invstd) + bet);
  }
}

/* Backward of channel c, from g = dL/dy (B, C, L), the input x and the
** save_mean, save_invstd of its forward; n = B L >= 1.  batch: the forward
** used the batch's statistics (the three-term dx), else the running ones
** (dx = g gamma invstd).  dx[., c, .] is overwritten; dgamma[c], dbeta[c]
** accumulate, and NULL skips them (affine = false). */
NN_HD void nn_batchnorm_backward_channel (float *dx, float *dgamma, float *dbeta,
                                          const float *g, const float *x,
                                          const float *save_mean, const float *save_invstd,
                                          const float *gamma, int64_t B, int64_t C, int64_t L,
                                          int64_t c, int batch) {
  double mean = save_mean[c], invstd = save_invstd[c];
  double gam = gamma ? gamma[c] : 1.0;
  double n = (double)(B * L);
  /* (8) sum g and sum g xhat over the batch and the positions: dbeta and
  ** dgamma, and (7)'s two sums */
  double psg[4] = { 0.0, 0.0, 0.0, 0.0 }, psgx[4] = { 0.0, 0.0, 0.0, 0.0 };
  const float *xr, *gr;                    /* the rows of channel c */
  NN_BN_SUM4X2(psg, psgx, (xr = x + (b * C + c) * L, gr = g + (b * C + c) * L),
               (double)gr[l], (double)gr[l] * (xr[l] - mean) * invstd);
  double sg = NN_BN_TOTAL(psg), sgx = NN_BN_TOTAL(psgx);
  if (dgamma) dgamma[c] += (float)sgx;
  if (dbeta) dbeta[c] += (float)sg;
  if (batch) {
    /* (7) dx = (gamma invstd / n) (n g - sum g - xhat sum(g xhat)) */
    double k = gam * invstd / n;
    for (int64_t b = 0; b < B; b++) {
      const float *xc = x + (b * C + c) * L, *gc = g + (b * C + c) * L;
      float *dc = dx + (b * C + c) * L;
      for (int64_t l = 0; l < L; l++) {
        double xhat = (xc[l] - mean) * invstd;
        dc[l] = (float)(k * (n * gc[l] - sg - xhat * sgx));
      }
    }
  } else {
    /* (6) dx = g gamma invstd: the statistics are constants */
    double k = gam * invstd;
    for (int64_t b = 0; b < B; b++) {
      const float *gc = g + (b * C + c) * L;
      float *dc = dx + (b * C + c) * L;
      for (int64_t l = 0; l < L; l++) dc[l] = (float)(k * gc[l]);
    }
  }
}

/* The same over all C channels on the GPU, one thread per channel.  Device
** pointers; n = B L >= 1, C >= 1. */
NN_CUDA_FN(int nncuda_batchnorm_forward (float *y, float *running_mean, float *running_var,
                                         float *save_mean, float *save_invstd, const float *x,
                                         const float *gamma, const float *beta, int64_t B,
                                         int64_t C, int64_t L, double eps, double momentum,
                                         int batch))
NN_CUDA_FN(int nncuda_batchnorm_backward (float *dx, float *dgamma, float *dbeta,
                                          const float *g, const float *x,
                                          const float *save_mean, const float *save_invstd,
                                          const float *gamma, int64_t B, int64_t C, int64_t L,
                                          int batch))

#endif
