/*
** softmax.h -- the math of Softmax and LogSoftmax, one row at a time, for
** both devices: softmax.c loops over the rows on the CPU, nn/cuda_layers.cu
** runs one CUDA thread per row (NN_HD, elementwise.h).  The derivation is
** here, above the code it explains.
*/
#ifndef NN_SOFTMAX_H
#define NN_SOFTMAX_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"

/*
** Shapes   x, y: (..., C), any ndim >= 1, seen as (R, C): R = the product of
**   the leading dims (1 for a 1-D x), one distribution per row.  Each row is
**   independent of the others, so everything below is about one row x of C
**   entries; a 0-dim x has no dim to normalise over and is an error.
**
** Softmax forward   y_i = e^{x_i} / \sum_k e^{x_k}         (0 < y_i, \sum_i y_i = 1)
**
** LogSoftmax forward   y_i = \log softmax(x)_i = x_i - \log \sum_k e^{x_k}
**
** Stable evaluation.  Softmax is shift invariant: for any constant c,
**   e^{x_i - c} / \sum_k e^{x_k - c} = e^{-c} e^{x_i} / (e^{-c} \sum_k e^{x_k}) = y_i,
**   exactly.  With c = m = \max_k x_k every exponent is <= 0, so no e^{x} can
**   overflow (e^{89} is already inf in float32), and the term k = argmax is
**   e^0 = 1, so the sum is >= 1: it cannot underflow to 0, and its log is
**   finite.  Likewise  \log \sum_k e^{x_k} = m + \log \sum_k e^{x_k - m}, so
**     LogSoftmax   y_i = (x_i - m) - \log \sum_k e^{x_k - m}
**   which for x = [1e4, -1e4] gives [0, -2e4], where the naive formula gives
**   inf - inf = nan.  The sum is accumulated in double: C float terms in
**   [0, 1] would otherwise lose up to C ulps.
**   (Goodfellow, Bengio & Courville, Deep Learning 2016, sec. 4.1.)
**
** Backward, given g = dL/dy, shape (..., C), per row:
**   Softmax Jacobian.  \partial y_i / \partial x_j: the quotient rule on
**     e^{x_i} / S, S = \sum_k e^{x_k}, \partial S / \partial x_j = e^{x_j}:
**       = (\delta_{ij} e^{x_i} S - e^{x_i} e^{x_j}) / S^2 = y_i (\delta_{ij} - y_j)
**     A full C x C matrix (every output depends on every input of its row),
**     which we never build.  We apply its transpose to g (a vector-Jacobian
**     product), which costs O(C) instead of O(C^2):
**       dL/dx_j = \sum_i g_i y_i (\delta_{ij} - y_j) = g_j y_j - y_j \sum_i g_i y_i
**     =>  dx = y \odot (g - \sum_j g_j y_j)        (the sum is one number per row)
**   LogSoftmax Jacobian.  \partial (x_i - \log S) / \partial x_j
**       = \delta_{ij} - e^{x_j} / S = \delta_{ij} - softmax(x)_j = \delta_{ij} - e^{y_j}
**       dL/dx_j = \sum_i g_i (\delta_{ij} - e^{y_j}) = g_j - e^{y_j} \sum_i g_i
**     =>  dx = g - e^{y} \sum_j g_j                 (the sum is one number per row)
**   Both need only the output y, which forward leaves in m->output: backward
**   reads it there and recomputes nothing.  grad_input is overwritten.
**
** Why Softmax is rarely followed by a separate log loss: for a class t,
**   -\log softmax(x)_t = -x_t + \log \sum_k e^{x_k}, whose gradient is simply
**   softmax(x) - onehot(t).  Fused, that is stable and cheap; apart, a
**   probability that underflowed to 0 gives \log 0 = -inf, and the chain rule
**   goes through the C x C Jacobian above.  So CrossEntropyLoss takes logits
**   and fuses the two (as does LogSoftmax followed by NLLLoss); a Softmax
**   layer is for reading probabilities, or for Keras's CategoricalCrossentropy.
**
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.2.2.3
** (softmax units) and sec. 4.1 (overflow and underflow).
*/

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

/* y = e^{x - m} / \sum_k e^{x_k - m} */
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

/* y = (x - m) - log \sum_k e^{x_k - m} */
NN_HD void nn_log_softmax_row (float *y, const float *x, int64_t n) {
  float m = nn_row_max(x, n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += expf(x[i] - m);
  double log_sum = log(sum);              /* >= 0, finite */
  for (int64_t i = 0; i < n; i++) y[i] = (float)(((double)x[i] - m) - log_sum);
}

/* dx = y (g - \sum_j g_j y_j) */
NN_HD void nn_softmax_backward_row (float *dx, const float *g, const float *y, int64_t n) {
  double dot = 0.0;
  for (int64_t j = 0; j < n; j++) dot += (double)g[j] * y[j];
  for (int64_t j = 0; j < n; j++) dx[j] = (float)(y[j] * (g[j] - dot));
}

/* dx = g - e^y \sum_j g_j     (e^y = softmax(x) <= 1) */
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
