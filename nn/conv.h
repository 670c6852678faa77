/*
** conv.h -- the index arithmetic of Conv2d's im2col and col2im, for both
** devices: conv.c runs it in OpenMP loops on the CPU, nn/cuda_conv.cu in
** one CUDA thread per entry (im2col) or per input pixel (col2im), through
** the same NN_HD functions (elementwise.h), so the two cannot drift.
**
** The derivation (what the columns matrix is, and why col2im is the
** adjoint of im2col), with the numbers the comments below cite, sits above
** the pair conv2d_forward / conv2d_backward in conv.c.
*/
#ifndef NN_CONV_H
#define NN_CONV_H

#include <stdint.h>

#include "elementwise.h"
#include "nn_cuda.h"

/* Every size of one convolution, worked out once by conv.c from the
** tensors (all >= 1, and every product below NN_MAX_NUMEL).
**   x (B, C, H, W)   y (B, Cout, Ho, Wo)   weight (Cout, C / groups, kh, kw)
**   L = Ho Wo        output positions of one image
**   KK = kh kw       taps of one kernel plane
**   cols: (C KK, B L), row r = (c, ki, kj) = c KK + ki kw + kj, column
**         j = (b, oh, ow) = b L + oh Wo + ow; group g's rows are the
**         contiguous block [g (C/groups) KK, (g + 1) (C/groups) KK). */
typedef struct nn_conv_geom {
  int64_t B, C, H, W, Cout, Ho, Wo;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw, groups;
} nn_conv_geom;

/* Along one axis: the input coordinate that output coordinate o reads
** through kernel tap k (conv.c, (2)),
**     i = o stride - padding + k dilation,
** or -1 when i falls in the zero padding (i < 0 or i >= size). */
NN_HD int64_t nn_conv_in_coord (int64_t o, int64_t k, int64_t stride, int64_t pad,
                                int64_t dil, int64_t size) {
  int64_t i = o * stride - pad + k * dil;
  return i >= 0 && i < size ? i : -1;
}

/* The inverse of nn_conv_in_coord for col2im's gather (conv.c, (9)): the
** output coordinate o whose tap k reads input coordinate i, that is
** o = (i + padding - k dilation) / stride, or -1 when there is none (the
** division is not exact, or o is outside [0, out)). */
NN_HD int64_t nn_conv_out_coord (int64_t i, int64_t k, int64_t stride, int64_t pad,
                                 int64_t dil, int64_t out) {
  int64_t t = i + pad - k * dil;
  if (t < 0 || t % stride != 0) return -1;
  t /= stride;
  return t < out ? t : -1;
}

/* Which pixel entry (r, j) of the columns matrix reads (conv.c, (2)): its
** offset in x, or -1 for the zero padding.  r = (c, ki, kj), j = (b, oh, ow)
** as in nn_conv_geom. */
NN_HD int64_t nn_im2col_src (const nn_conv_geom *g, int64_t r, int64_t j) {
  int64_t KK = g->kh * g->kw, L = g->Ho * g->Wo;
  int64_t c = r / KK, ki = (r / g->kw) % g->kh, kj = r % g->kw;
  int64_t b = j / L, oh = (j / g->Wo) % g->Ho, ow = j % g->Wo;
  int64_t ih = nn_conv_in_coord(oh, ki, g->sh, g->ph, g->dh, g->H);
  int64_t iw = nn_conv_in_coord(ow, kj, g->sw, g->pw, g->dw, g->W);
  if (ih < 0 || iw < 0) return -1;
  return ((b * g->C + c) * g->H + ih) * g->W + iw;
}

/* dL/dx at pixel p = (b, c, ih, iw) of x, gathered from the entries of
** dcols (C KK, B L) that read it (conv.c, (9)): the sum over the taps
** (ki, kj) in that order, from 0.  The CPU's scatter-add adds the same
** terms to the same pixel in the same order, so both give the same bits. */
NN_HD float nn_col2im_pixel (const float *dcols, const nn_conv_geom *g, int64_t p) {
  int64_t iw = p % g->W, ih = (p / g->W) % g->H;
  int64_t c = (p / (g->W * g->H)) % g->C, b = p / (g->W * g->H * g->C);
  int64_t L = g->Ho * g->Wo, BL = g->B * L;
  float acc = 0.0f;
  for (int64_t ki = 0; ki < g->kh; ki++) {
    int64_t oh = nn_conv_out_coord(ih, ki, g->sh, g->ph, g->dh, g->Ho);
    if (oh < 0) continue;
    for (int64_t kj = 0; kj < g->kw; kj++) {
      int64_t ow = nn_conv_out_coord(iw, kj, g->sw, g->pw, g->dw, g->Wo);
      if (ow < 0) continue;
      int64_t r = (c * g->kh + ki) * g->kw + kj;
      acc += dcols[r * BL + b * L + oh * g->Wo + ow];
    }
  }
  return acc;
}

/* (6) the new db_o from the old one and the sum of g over b and l: beta 0
** sets it (even over a nan left there), beta 1 accumulates */
NN_HD float nn_conv_bias_grad (float old, double sum, float beta) {
  return (float)((beta == 0.0f ? 0.0 : (double)beta * old) + sum);
}

/* The GPU side of conv.c, on device pointers (nn/cuda_conv.cu):
**   im2col    cols (C KK, B L) from x, one thread per entry      (2)
**   col2im    dx (B, C, H, W) from dcols, one thread per pixel:
**             a gather, no atomics, so the sums have a fixed order  (9)
**   unpack    y (B, Cout, L) = mat (Cout, B L) moved to NCHW, + bias
**             (bias NULL: none); mat NULL: y += bias in place       (3)
**   pack      mat (Cout, B L) = g (B, Cout, L) moved back          (4)
**   bias_grad db = beta db + the sum of g (B, Cout, L) over b and l,
**             one block per channel, a fixed tree (in double)      (6) */
NN_CUDA_FN(int nncuda_im2col (float *cols, const float *x, const nn_conv_geom *g))
NN_CUDA_FN(int nncuda_col2im (float *dx, const float *dcols, const nn_conv_geom *g))
NN_CUDA_FN(int nncuda_conv2d_unpack (float *y, const float *mat, const float *bias,
                                     const nn_conv_geom *g))
NN_CUDA_FN(int nncuda_conv2d_pack (float *mat, const float *grad_y, const nn_conv_geom *g))
NN_CUDA_FN(int nncuda_conv2d_bias_grad (float *db, const float *grad_y, const nn_conv_geom *g,
                                        float beta))

#endif
