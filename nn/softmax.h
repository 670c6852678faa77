/*
** softmax.h -- the math of Softmax and LogSoftmax, one row at a time, for
** both devices: softmax.c loops over the rows on the CPU, nn/cuda_layers.cu
** runs one CUDA thread per row (NN_HD, elementwise.h).
*/
#ifndef NN_SOFTMAX_H
#define NN_SOFTMAX_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"

/* The derivation, with the numbers the lines below cite, sits above the
** pair softmax_forward / softmax_backward in softmax.c. */

/* m = max_k x_k of one row, n >= 1.  A nan at x[0] stays the max; a nan
** elsewhere is skipped here but makes the sum, and so the row, nan. */
NN_HD float nn_row_max (const float *x, int64_t n) {
  float m = x[0];
  for (int64_t k = 1; k < n; k++)
    if (x[k] > m) m = x[k];
  return m;
}

/* The row loops below read all of a row before they write it, element by
** element, so y may be x (and dx may be g): in place works. */

/* (3)  y = e^{x - m} / \sum_k e^{x_k - m} */
NN_HD void nn_softmax_row (float *y, const float *x, int64_t n) {
  float m = nn_row_max(x, n);
  double sum = 0.0;                       /* >= 1: the max's term is e^0 */
  for (int64_t i = 0; i < n; i++) {
    float e = expf(x[i] - m);             /* <= 1: cannot overflow */
    y[i] = e;
    sum += e;
  }
  double inv = 1.0 / sum;
  for (int64_t i = 0; i < n; i++) y[i] = (float)(y[i] * inv);
}

/* (4)  y = (x - m) - log \sum_k e^{x_k - m} */
NN_HD void nn_log_softmax_row (float *y, const float *x, int64_t n) {
  float m = nn_row_max(x, n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += expf(x[i] - m);
  double log_sum = log(sum);              /* >= 0, finite */
  for (int64_t i = 0; i < n; i++) y[i] = (float)(((double)x[i] - m) - log_sum);
}

/* (5)  dx = y (g - \sum_j g_j y_j) */
NN_HD void nn_softmax_backward_row (float *dx, const float *g, const float *y, int64_t n) {
  double dot = 0.0;
  for (int64_t j = 0; j < n; j++) dot += (double)g[j] * y[j];
  for (int64_t j = 0; j < n; j++) dx[j] = (float)(y[j] * (g[j] - dot));
}

/* (6)  dx = g - e^y \sum_j g_j     (e^y = softmax(x) <= 1) */
NN_HD void nn_log_softmax_backward_row (float *dx, const float *g, const float *y, int64_t n) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; j++) sum += g[j];
  for (int64_t j = 0; j < n; j++) dx[j] = (float)(g[j] - expf(y[j]) * sum);
}

/* The same row by row over (rows, n) on the GPU: y = softmax(x) or, with
** log, log-softmax(x); and dx from g and the saved output y.  y may be x,
** dx may be g.  Device pointers; rows, n >= 1. */
NN_CUDA_FN(int nncuda_softmax_rows (float *y, const float *x, int64_t rows, int64_t n, int log))
NN_CUDA_FN(int nncuda_softmax_rows_backward (float *dx, const float *g, const float *y,
                                             int64_t rows, int64_t n, int log))

#endif
