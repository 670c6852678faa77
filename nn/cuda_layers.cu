/*
** cuda_layers.cu -- the CUDA launchers of the layers whose math is not a
** plain tensor op: Softmax and LogSoftmax (softmax.h), BatchNorm1d and
** BatchNorm2d (batchnorm.h).
**
** Each kernel runs the NN_HD function that the CPU loop calls, in one thread
** per row (per channel for BatchNorm): a kernel here differs from the CPU
** only in how the rows are spread over threads, so the CPU specs check its
** formula and the parity specs (spec/cuda_parity_spec.lua) check the launch.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "softmax.h"
#include "batchnorm.h"

/* --- Softmax, LogSoftmax: one thread per row ------------------------------------ */

static __global__ void softmax_rows_kernel (float *y, const float *x, int64_t rows, int64_t n,
                                            int log) {
  GRID_STRIDE(r, rows) {
    if (log) nn_log_softmax_row(y + r * n, x + r * n, n);
    else nn_softmax_row(y + r * n, x + r * n, n);
  }
}

static __global__ void softmax_rows_backward_kernel (float *dx, const float *g, const float *y,
                                                     int64_t rows, int64_t n, int log) {
  GRID_STRIDE(r, rows) {
    if (log) nn_log_softmax_backward_row(dx + r * n, g + r * n, y + r * n, n);
    else nn_softmax_backward_row(dx + r * n, g + r * n, y + r * n, n);
  }
}

int nncuda_softmax_rows (float *y, const float *x, int64_t rows, int64_t n, int log) {
  return cuda_run((size_t)rows, softmax_rows_kernel, y, x, rows, n, log);
}

int nncuda_softmax_rows_backward (float *dx, const float *g, const float *y, int64_t rows,
                                  int64_t n, int log) {
  return cuda_run((size_t)rows, softmax_rows_backward_kernel, dx, g, y, rows, n, log);
}

/* --- BatchNorm1d, BatchNorm2d: one thread per channel of x (B, C, L) ------------ */

static __global__ void batchnorm_forward_kernel (float *y, float *running_mean,
                                                 float *running_var, float *save_mean,
                                                 float *save_invstd, const float *x,
                                                 const float *gamma, const float *beta,
                                                 int64_t B, int64_t C, int64_t L, double eps,
                                                 double momentum, int batch) {
  GRID_STRIDE(c, C)
    nn_batchnorm_forward_channel(y, running_mean, running_var, save_mean, save_invstd, x,
                                 gamma, beta, B, C, L, (int64_t)c, eps, momentum, batch);
}

static __global__ void batchnorm_backward_kernel (float *dx, float *dgamma, float *dbeta,
                                                  const float *g, const float *x,
                                                  const float *save_mean,
                                                  const float *save_invstd, const float *gamma,
                                                  int64_t B, int64_t C, int64_t L, int batch) {
  GRID_STRIDE(c, C)
    nn_batchnorm_backward_channel(dx, dgamma, dbeta, g, x, save_mean, save_invstd, gamma, B, C,
                                  L, (int64_t)c, batch);
}

int nncuda_batchnorm_forward (float *y, float *running_mean, float *running_var,
                              float *save_mean, float *save_invstd, const float *x,
                              const float *gamma, const float *beta, int64_t B, int64_t C,
                              int64_t L, double eps, double momentum, int batch) {
  return cuda_run((size_t)C, batchnorm_forward_kernel, y, running_mean, running_var, save_mean,
                  save_invstd, x, gamma, beta, B, C, L, eps, momentum, batch);
}

int nncuda_batchnorm_backward (float *dx, float *dgamma, float *dbeta, const float *g,
                               const float *x, const float *save_mean, const float *save_invstd,
                               const float *gamma, int64_t B, int64_t C, int64_t L, int batch) {
  return cuda_run((size_t)C, batchnorm_backward_kernel, dx, dgamma, dbeta, g, x, save_mean,
                  save_invstd, gamma, B, C, L, batch);
}
