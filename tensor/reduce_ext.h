/*
** reduce_ext.h -- the math of norm, prod, logsumexp, cumsum, softmax and
** log_softmax along one line of a tensor, for both devices: reduce_ext.c
** loops over the lines on the CPU, cuda_reduce_ext.cu runs one CUDA thread
** per line (NN_HD, elementwise.h).
**
** A line is n floats x[0], x[s], x[2s], ...: a tensor seen as (outer, n,
** inner) has outer * inner of them, with stride s = inner (backend.h).
** Every sum and product runs in double and is rounded to float once.
*/
#ifndef NN_REDUCE_EXT_H
#define NN_REDUCE_EXT_H

#include <math.h>

#include "elementwise.h"
#include "softmax.h"      /* nn/softmax.h: the Softmax layer's row formulas */
#include "backend.h"      /* nn_lineop */

/* --- norm ------------------------------------------------------------------
** ||x||_p = (\sum_k |x_k|^p)^{1/p} for p > 0; ||x||_inf = \max_k |x_k|.
** p = 1 and p = 2 sum |x| and x^2 in double: a float's square is below
** 2^256, so no float input overflows them (the float result may still be
** inf: ||(3e38, 3e38)||_2 = 4.2e38).  Any other p could overflow |x|^p in
** double too (p = 10, x = 1e38), so it scales by m = \max_k |x_k| first,
** as LAPACK's xNRM2 does:
**   ||x||_p = m (\sum_k (|x_k| / m)^p)^{1/p},   each |x_k| / m <= 1.  \tag{1}
** A nan anywhere gives nan; an inf (and no nan) gives inf; m = 0 gives 0;
** no elements give 0 (torch.norm's answer; PyTorch's linalg.vector_norm
** refuses the inf-norm of nothing).  Source: Golub & Van Loan, Matrix
** Computations, 4th ed., sec. 2.2. */
NN_HD double nn_line_norm (const float *x, int64_t n, int64_t s, double p) {
  double acc = 0.0;
  if (p == 1.0) {
    for (int64_t k = 0; k < n; k++) acc += fabs((double)x[k * s]);
    return acc;
  }
  if (p == 2.0) {
    for (int64_t k = 0; k < n; k++) acc += (double)x[k * s] * (double)x[k * s];
    return sqrt(acc);
  }
  double m = 0.0;                        /* the largest |x_k|, nan if any is */
  for (int64_t k = 0; k < n; k++) {
    double v = fabs((double)x[k * s]);
    if (v != v) return v;
    if (v > m) m = v;
  }
  if (isinf(p) || m == 0.0 || isinf(m)) return m;
  for (int64_t k = 0; k < n; k++) acc += pow(fabs((double)x[k * s]) / m, p);
  return m * pow(acc, 1.0 / p);          /* (1) */
}

/* --- prod ------------------------------------------------------------------
** \prod_k x_k in double (1 for no elements, the empty product, as PyTorch).
** 0 * inf is nan, as in any IEEE product. */
NN_HD double nn_line_prod (const float *x, int64_t n, int64_t s) {
  double acc = 1.0;
  for (int64_t k = 0; k < n; k++) acc *= (double)x[k * s];
  return acc;
}

/* --- logsumexp -------------------------------------------------------------
** log \sum_k e^{x_k} = m + log \sum_k e^{x_k - m},  m = \max_k x_k.       \tag{2}
** Every exponent is then <= 0, so no term overflows, and the max's term is
** e^0 = 1, so the sum is >= 1 and its log finite (nn/softmax.c derives the
** same shift for the Softmax layer).  When m is +-inf the shift is 0
** instead (as PyTorch): all -inf gives log 0 = -inf, a +inf gives +inf,
** where x - m would be -inf - -inf = nan.  No elements: log 0 = -inf, as
** PyTorch.  A nan gives nan.  The max is nn_row_max's (softmax.h), strided. */
NN_HD double nn_line_logsumexp (const float *x, int64_t n, int64_t s) {
  if (n == 0) return -INFINITY;
  float m = x[0];
  for (int64_t k = 1; k < n; k++)
    if (x[k * s] > m) m = x[k * s];
  float c = isinf(m) ? 0.0f : m;
  double sum = 0.0;
  for (int64_t k = 0; k < n; k++) sum += expf(x[k * s] - c);
  return log(sum) + (double)c;           /* (2) */
}

/* --- cumsum ----------------------------------------------------------------
** y_k = \sum_{i <= k} x_i, the running sum in double (as PyTorch's CPU
** kernel: its accumulator for float is double).  y may be x. */
NN_HD void nn_line_cumsum (float *y, const float *x, int64_t n, int64_t s) {
  double acc = 0.0;
  for (int64_t k = 0; k < n; k++) {
    acc += (double)x[k * s];
    y[k * s] = (float)acc;
  }
}

/* --- softmax, log_softmax --------------------------------------------------
** The Softmax layer's formulas (3) and (4) of nn/softmax.c, along a line of
** any stride: a contiguous line (s == 1) is nn_softmax_row or
** nn_log_softmax_row itself; a strided one runs the same operations in the
** same order, so both give the same bits.  A row of -inf or with +inf is
** nan, as in PyTorch (x - m = nan).  y may be x. */
NN_HD void nn_line_softmax (float *y, const float *x, int64_t n, int64_t s, int log_) {
  if (n == 0) return;
  if (s == 1) {
    if (log_) nn_log_softmax_row(y, x, n);
    else nn_softmax_row(y, x, n);
    return;
  }
  float m = x[0];                                   /* nn_row_max */
  for (int64_t k = 1; k < n; k++)
    if (x[k * s] > m) m = x[k * s];
  double sum = 0.0;
  if (log_) {                                       /* (4) */
    for (int64_t k = 0; k < n; k++) sum += expf(x[k * s] - m);
    double log_sum = log(sum);
    for (int64_t k = 0; k < n; k++) y[k * s] = (float)(((double)x[k * s] - m) - log_sum);
    return;
  }
  for (int64_t k = 0; k < n; k++) {                 /* (3) */
    float e = expf(x[k * s] - m);
    y[k * s] = e;
    sum += e;
  }
  double inv = 1.0 / sum;
  for (int64_t k = 0; k < n; k++) y[k * s] = (float)(y[k * s] * inv);
}

/* One switch for the kernels and loops that take the op as an argument. */
NN_HD double nn_line_reduce_eval (int op, const float *x, int64_t n, int64_t s, double p) {
  switch (op) {
    case NN_LINE_NORM:      return nn_line_norm(x, n, s, p);
    case NN_LINE_PROD:      return nn_line_prod(x, n, s);
    case NN_LINE_LOGSUMEXP: return nn_line_logsumexp(x, n, s);
    default:                return 0.0;
  }
}

NN_HD void nn_line_map_eval (int op, float *y, const float *x, int64_t n, int64_t s) {
  switch (op) {
    case NN_LINE_CUMSUM:      nn_line_cumsum(y, x, n, s); break;
    case NN_LINE_SOFTMAX:     nn_line_softmax(y, x, n, s, 0); break;
    case NN_LINE_LOG_SOFTMAX: nn_line_softmax(y, x, n, s, 1); break;
    default:                  break;
  }
}

#endif
