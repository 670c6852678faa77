/*
** pool.h -- the math of the 2-D pooling layers (MaxPool2d, AvgPool2d,
** AdaptiveAvgPool2d), one window at a time, for both devices: pool.c loops
** over the B*C planes on the CPU (OpenMP), nn/cuda_pool.cu runs one CUDA
** thread per output element (forward) or per input element (backward).
** The same NN_HD functions (elementwise.h) compute every window's bounds,
** divisor and value on both, so the two give the same bits.
**
** The derivation, with the numbers the lines below cite, sits above the
** pairs in pool.c.  Layout: x (B, C, H, W) and y (B, C, H_out, W_out),
** row-major, so plane q = b C + c of x starts at x + q H W.
*/
#ifndef NN_POOL_H
#define NN_POOL_H

#include <math.h>
#include <stdint.h>

#include "elementwise.h"
#include "nn_cuda.h"

/* The geometry of a 2-D pooling window: kernel, stride, padding (each side)
** and dilation, height first.  AvgPool2d has dilation 1.  A stride of 0 is
** not valid here: the layers turn their "0 means kernel_size" default into
** the kernel before they fill this in. */
typedef struct nn_pool2d {
  int64_t kh, kw;             /* kernel_size */
  int64_t sh, sw;             /* stride */
  int64_t ph, pw;             /* padding, zeros (avg) or -inf (max) on each side */
  int64_t dh, dw;             /* dilation: the gap between taps (max only) */
  int ceil_mode;              /* round the output size up, not down (1) */
  int count_include_pad;      /* avg: the divisor counts the padding (5) */
} nn_pool2d;

/* floor(a / b) for b > 0 and a of either sign (PyTorch's div_rtn) */
NN_HD int64_t nn_floor_div (int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* (1) the output size along one dim: n inputs, kernel k, stride s, padding
** p, dilation d.  May be < 1 (the input is too small: the caller refuses). */
NN_HD int64_t nn_pool_out_size (int64_t n, int64_t k, int64_t s, int64_t p, int64_t d,
                                int ceil_mode) {
  int64_t out = nn_floor_div(n + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  /* ceil_mode: the last window must start inside the input or its left padding */
  if (ceil_mode && (out - 1) * s >= n + p) out--;
  return out;
}

/* (2) the taps of max window o along one dim that fall inside the input:
** a, a + d, ... < e.  a >= e: none (possible only with dilation). */
NN_HD void nn_maxpool_taps (int64_t o, int64_t n, int64_t k, int64_t s, int64_t p, int64_t d,
                            int64_t *a, int64_t *e) {
  int64_t start = o * s - p;
  int64_t end = start + (k - 1) * d + 1;
  *e = end < n ? end : n;
  if (start < 0) start += (-start + d - 1) / d * d;   /* the first tap inside the input */
  *a = start;
}

/* (3) one max window of plane x (H x W): the max over its taps, in row-major
** order, and *arg, the 1-based flat position ih W + iw + 1 of the first
** tap that holds it (a later tap wins only if strictly greater, or nan: a
** nan is the max, as PyTorch's CPU kernel; of several nans the last).  A
** window with no tap inside the input (only with dilation) gives -inf and
** *arg = 0: no position, nothing to route back. */
NN_HD float nn_maxpool2d_window (const float *x, int64_t H, int64_t W, const nn_pool2d *g,
                                 int64_t oh, int64_t ow, int32_t *arg) {
  int64_t h0, h1, w0, w1;
  nn_maxpool_taps(oh, H, g->kh, g->sh, g->ph, g->dh, &h0, &h1);
  nn_maxpool_taps(ow, W, g->kw, g->sw, g->pw, g->dw, &w0, &w1);
  float best = -INFINITY;
  int32_t at = (h0 < h1 && w0 < w1) ? (int32_t)(h0 * W + w0 + 1) : 0;
  for (int64_t ih = h0; ih < h1; ih += g->dh)
    for (int64_t iw = w0; iw < w1; iw += g->dw) {
      float v = x[ih * W + iw];
      if (v > best || v != v) {
        best = v;
        at = (int32_t)(ih * W + iw + 1);
      }
    }
  *arg = at;
  return best;
}

/* (4) dL/dx at pixel (ih, iw) of a plane: the sum of g over the outputs
** whose saved argmax is this pixel, in row-major order of the outputs (the
** order PyTorch's CPU loop adds them in).  Only windows that can hold the
** pixel are visited: oh s - p <= ih <= oh s - p + (k - 1) d. */
NN_HD float nn_maxpool2d_grad_at (const float *gy, const int32_t *idx, int64_t W, int64_t Ho,
                                  int64_t Wo, const nn_pool2d *g, int64_t ih, int64_t iw) {
  int64_t lo_h = ih + g->ph - (g->kh - 1) * g->dh, lo_w = iw + g->pw - (g->kw - 1) * g->dw;
  lo_h = lo_h <= 0 ? 0 : (lo_h + g->sh - 1) / g->sh;
  lo_w = lo_w <= 0 ? 0 : (lo_w + g->sw - 1) / g->sw;
  int64_t hi_h = (ih + g->ph) / g->sh, hi_w = (iw + g->pw) / g->sw;
  if (hi_h > Ho - 1) hi_h = Ho - 1;
  if (hi_w > Wo - 1) hi_w = Wo - 1;
  int32_t me = (int32_t)(ih * W + iw + 1);
  float sum = 0.0f;
  for (int64_t oh = lo_h; oh <= hi_h; oh++)
    for (int64_t ow = lo_w; ow <= hi_w; ow++)
      if (idx[oh * Wo + ow] == me) sum += gy[oh * Wo + ow];
  return sum;
}

/* (5) avg window o along one dim: [a, e) clipped to the input, and the
** return value, its length clipped to the padded input only (the divisor's
** factor when count_include_pad). */
NN_HD int64_t nn_avgpool_span (int64_t o, int64_t n, int64_t k, int64_t s, int64_t p,
                               int64_t *a, int64_t *e) {
  int64_t start = o * s - p;
  int64_t end = start + k < n + p ? start + k : n + p;
  int64_t padded = end - start;
  *a = start > 0 ? start : 0;
  *e = end < n ? end : n;
  return padded;
}

/* (5) the divisor of avg window (oh, ow): the padded window's size when
** count_include_pad, else the number of input pixels in it */
NN_HD float nn_avgpool2d_divisor (int64_t H, int64_t W, const nn_pool2d *g, int64_t oh,
                                  int64_t ow) {
  int64_t h0, h1, w0, w1;
  int64_t ph = nn_avgpool_span(oh, H, g->kh, g->sh, g->ph, &h0, &h1);
  int64_t pw = nn_avgpool_span(ow, W, g->kw, g->sw, g->pw, &w0, &w1);
  return g->count_include_pad ? (float)(ph * pw) : (float)((h1 - h0) * (w1 - w0));
}

/* (6) one avg window of plane x: the sum of its input pixels in row-major
** order (in float, as PyTorch), divided by (5)'s divisor.  A window with no
** input pixel (count_include_pad = false only) gives 0, as PyTorch. */
NN_HD float nn_avgpool2d_window (const float *x, int64_t H, int64_t W, const nn_pool2d *g,
                                 int64_t oh, int64_t ow) {
  int64_t h0, h1, w0, w1;
  nn_avgpool_span(oh, H, g->kh, g->sh, g->ph, &h0, &h1);
  nn_avgpool_span(ow, W, g->kw, g->sw, g->pw, &w0, &w1);
  if (h0 >= h1 || w0 >= w1) return 0.0f;
  float sum = 0.0f;
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t iw = w0; iw < w1; iw++) sum += x[ih * W + iw];
  return sum / nn_avgpool2d_divisor(H, W, g, oh, ow);
}

/* (7) dL/dx at pixel (ih, iw): the sum of g / divisor over the windows that
** hold it (oh s - p <= ih < oh s - p + k), in row-major order of the outputs */
NN_HD float nn_avgpool2d_grad_at (const float *gy, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                  const nn_pool2d *g, int64_t ih, int64_t iw) {
  int64_t lo_h = ih + g->ph - g->kh + 1, lo_w = iw + g->pw - g->kw + 1;
  lo_h = lo_h <= 0 ? 0 : (lo_h + g->sh - 1) / g->sh;
  lo_w = lo_w <= 0 ? 0 : (lo_w + g->sw - 1) / g->sw;
  int64_t hi_h = (ih + g->ph) / g->sh, hi_w = (iw + g->pw) / g->sw;
  if (hi_h > Ho - 1) hi_h = Ho - 1;
  if (hi_w > Wo - 1) hi_w = Wo - 1;
  float sum = 0.0f;
  for (int64_t oh = lo_h; oh <= hi_h; oh++)
    for (int64_t ow = lo_w; ow <= hi_w; ow++)
      sum += gy[oh * Wo + ow] / nn_avgpool2d_divisor(H, W, g, oh, ow);
  return sum;
}

/* (8) adaptive window o of n_out over n inputs: [floor(o n / n_out),
** ceil((o + 1) n / n_out)), never empty */
NN_HD void nn_adaptive_span (int64_t o, int64_t n, int64_t n_out, int64_t *a, int64_t *e) {
  *a = (o * n) / n_out;
  *e = ((o + 1) * n + n_out - 1) / n_out;
}

/* (9) one adaptive window: its sum (row-major, float) / kh / kw, as PyTorch */
NN_HD float nn_adaptive_avgpool2d_window (const float *x, int64_t H, int64_t W, int64_t Ho,
                                          int64_t Wo, int64_t oh, int64_t ow) {
  int64_t h0, h1, w0, w1;
  nn_adaptive_span(oh, H, Ho, &h0, &h1);
  nn_adaptive_span(ow, W, Wo, &w0, &w1);
  float sum = 0.0f;
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t iw = w0; iw < w1; iw++) sum += x[ih * W + iw];
  return sum / (float)(h1 - h0) / (float)(w1 - w0);
}

/* (10) dL/dx at pixel (ih, iw): the sum of g / kh / kw over the windows
** that hold it.  Window o holds i for floor(i n_out / n) <= o <=
** ceil((i + 1) n_out / n) - 1; the span is checked all the same. */
NN_HD float nn_adaptive_avgpool2d_grad_at (const float *gy, int64_t H, int64_t W, int64_t Ho,
                                           int64_t Wo, int64_t ih, int64_t iw) {
  int64_t lo_h = (ih * Ho) / H, hi_h = ((ih + 1) * Ho + H - 1) / H - 1;
  int64_t lo_w = (iw * Wo) / W, hi_w = ((iw + 1) * Wo + W - 1) / W - 1;
  if (hi_h > Ho - 1) hi_h = Ho - 1;
  if (hi_w > Wo - 1) hi_w = Wo - 1;
  float sum = 0.0f;
  for (int64_t oh = lo_h; oh <= hi_h; oh++) {
    int64_t h0, h1;
    nn_adaptive_span(oh, H, Ho, &h0, &h1);
    if (ih < h0 || ih >= h1) continue;
    for (int64_t ow = lo_w; ow <= hi_w; ow++) {
      int64_t w0, w1;
      nn_adaptive_span(ow, W, Wo, &w0, &w1);
      if (iw < w0 || iw >= w1) continue;
      sum += gy[oh * Wo + ow] / (float)(h1 - h0) / (float)(w1 - w0);
    }
  }
  return sum;
}

/* The same over every element on the GPU: forward one thread per output
** element, backward one thread per input element, each gathering from the
** windows that hold it (no atomics: deterministic).  Device pointers;
** planes = B C >= 1; H, W, Ho, Wo >= 1. */
NN_CUDA_FN(int nncuda_maxpool2d_forward (float *y, int32_t *idx, const float *x,
                                         int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                         int64_t Wo, nn_pool2d g))
NN_CUDA_FN(int nncuda_maxpool2d_backward (float *dx, const float *gy, const int32_t *idx,
                                          int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                          int64_t Wo, nn_pool2d g))
NN_CUDA_FN(int nncuda_avgpool2d_forward (float *y, const float *x, int64_t planes, int64_t H,
                                         int64_t W, int64_t Ho, int64_t Wo, nn_pool2d g))
NN_CUDA_FN(int nncuda_avgpool2d_backward (float *dx, const float *gy, int64_t planes,
                                          int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                          nn_pool2d g))
NN_CUDA_FN(int nncuda_adaptive_avgpool2d_forward (float *y, const float *x, int64_t planes,
                                                  int64_t H, int64_t W, int64_t Ho,
                                                  int64_t Wo))
NN_CUDA_FN(int nncuda_adaptive_avgpool2d_backward (float *dx, const float *gy, int64_t planes,
                                                   int64_t H, int64_t W, int64_t Ho,
                                                   int64_t Wo))

#endif
