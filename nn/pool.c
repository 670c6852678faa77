/*
** pool.c -- 2-D pooling on NCHW input (B, C, H, W), as PyTorch 1.13's
** nn.MaxPool2d, nn.AvgPool2d and nn.AdaptiveAvgPool2d: the same output
** sizes, windows, divisors, tie and nan rules.
**
** Every plane (b, c) is pooled on its own.  The derivations are above each
** pair; the math of one window (its bounds, divisor, value) and of one
** input pixel's gradient is in pool.h, shared with the CUDA kernels of
** nn/cuda_pool.cu.  Here are the checks, and the loop over the B C planes
** on the CPU (OpenMP, one plane per task: the results do not depend on the
** thread count) or the launch on the GPU.
**
** The backward passes gather: each input pixel sums the gradients of the
** windows that hold it, in the outputs' row-major order (the order
** PyTorch's CPU loop scatters them in).  So each pixel is written once, by
** one thread, without atomics: deterministic, and the same bits on both
** devices.
*/
#include <stdio.h>

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nn.h"
#include "pool.h"

/* below this many input elements one thread does the whole loop */
#define PARALLEL_MIN 32768

/* The largest kernel_size, stride, padding, dilation or output_size: so
** that (1)'s d (k - 1) and (8)'s o H cannot overflow int64. */
#define POOL_OPT_MAX 2147483647.0

/* "[2x3x4]" of a shape */
static nn_shapestr shape_text (const nn_shape *s) {
  nn_tensor t = { .ndim = s->ndim };
  for (int i = 0; i < s->ndim; i++) t.shape[i] = s->d[i];
  return shape_str(&t);
}

/* "3" when h == w, else "(3, 5)" */
static void pair_text (char *buf, size_t len, int64_t h, int64_t w) {
  if (h == w) snprintf(buf, len, "%lld", (long long)h);
  else snprintf(buf, len, "(%lld, %lld)", (long long)h, (long long)w);
}

/* x is (B, C, H, W) with C, H, W >= 1 (B may be 0), as PyTorch's pooling
** takes a batch: NN_ESHAPE naming the layer otherwise, blaming `role` */
static int check_4d (const char *who, const nn_shape *x, int role) {
  if (x->ndim != 4)
    return nn_seterr_arg(NN_ESHAPE, role, "%s: expected input [B x C x H x W], got %s%s", who,
                         shape_text(x).s, x->ndim == 3 ? " (add the batch dim: "
                         "x:view(1, C, H, W))" : "");
  if (x->d[1] < 1 || x->d[2] < 1 || x->d[3] < 1)
    return nn_seterr_arg(NN_ESHAPE, role, "%s: expected input [B x C x H x W] with C, H, W "
                         ">= 1, got %s", who, shape_text(x).s);
  return NN_OK;
}

/* The geometry's own rules (PyTorch's pool2d_shape_check): sizes >= 1,
** padding >= 0 and at most kernel_size / 2 (integer division). */
static int check_geometry (const char *who, const nn_pool2d *g) {
  char k[48], p[48];
  if (g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1
      || g->ph < 0 || g->pw < 0)
    return nn_seterr(NN_EARG, "%s: kernel_size, stride and dilation must be >= 1 and padding "
                     ">= 0, got kernel_size (%lld, %lld), stride (%lld, %lld), padding "
                     "(%lld, %lld), dilation (%lld, %lld)", who, (long long)g->kh,
                     (long long)g->kw, (long long)g->sh, (long long)g->sw, (long long)g->ph,
                     (long long)g->pw, (long long)g->dh, (long long)g->dw);
  if (g->ph > g->kh / 2 || g->pw > g->kw / 2) {
    pair_text(k, sizeof k, g->kh, g->kw);
    pair_text(p, sizeof p, g->ph, g->pw);
    return nn_seterr(NN_EARG, "%s: padding must be at most half of kernel_size (PyTorch's "
                     "rule), got padding %s for kernel_size %s", who, p, k);
  }
  return NN_OK;
}

/* (1): the output shape (B, C, H_out, W_out) of a window geometry g on an
** input of shape x; NN_ESHAPE (blaming `role`) when x is not 4-D or is too
** small for the window, or when its planes are too large for int32 indices
** (max: 1-based positions up to H W) */
static int pool_out_shape (const char *who, const nn_shape *x, const nn_pool2d *g, int max,
                           int role, nn_shape *out) {
  int rc = check_4d(who, x, role);
  if (rc == NN_OK) rc = check_geometry(who, g);
  if (rc != NN_OK) return rc;
  int64_t H = x->d[2], W = x->d[3];
  int64_t Ho = nn_pool_out_size(H, g->kh, g->sh, g->ph, g->dh, g->ceil_mode);
  int64_t Wo = nn_pool_out_size(W, g->kw, g->sw, g->pw, g->dw, g->ceil_mode);
  if (Ho < 1 || Wo < 1) {
    char k[48], s[48], p[48], d[48];
    pair_text(k, sizeof k, g->kh, g->kw);
    pair_text(s, sizeof s, g->sh, g->sw);
    pair_text(p, sizeof p, g->ph, g->pw);
    pair_text(d, sizeof d, g->dh, g->dw);
    return nn_seterr_arg(NN_ESHAPE, role, "%s: input %s is too small for the window: planes "
                         "of %lldx%lld with kernel_size %s, stride %s, padding %s%s%s give an "
                         "output of %lldx%lld (each size must be >= 1)", who, shape_text(x).s,
                         (long long)H, (long long)W, k, s, p, max ? ", dilation " : "",
                         max ? d : "", (long long)Ho, (long long)Wo);
  }
  if (max && H * W > INT32_MAX)
    return nn_seterr_arg(NN_ESHAPE, role, "%s: input planes of %lldx%lld are beyond the "
                         "int32 indices' limit of 2^31 - 1 elements", who, (long long)H,
                         (long long)W);
  out->ndim = 4;
  out->d[0] = x->d[0];
  out->d[1] = x->d[1];
  out->d[2] = Ho;
  out->d[3] = Wo;
  return NN_OK;
}

/* t has shape s (NN_ESHAPE blaming role, naming `what`, otherwise) */
static int check_shape (const char *who, const nn_tensor *t, const nn_shape *s, int role,
                        const char *what) {
  int same = t->ndim == s->ndim;
  for (int i = 0; same && i < s->ndim; i++) same = t->shape[i] == s->d[i];
  if (!same)
    return nn_seterr_arg(NN_ESHAPE, role, "%s: %s must be %s, got %s", who, what,
                         shape_text(s).s, shape_str(t).s);
  return NN_OK;
}

/* t is float32 on dev (NN_EDEVICE / NN_EARG blaming role otherwise) */
static int check_float_on (const char *who, const nn_tensor *t, nn_device dev, int role,
                           const char *what) {
  if (t->storage->device != dev)
    return nn_seterr_arg(NN_EDEVICE, role, "%s: %s is on %s, x on %s", who, what,
                         device_name(t->storage->device), device_name(dev));
  return tensor_check_float(t, role, who);
}

/* The indices tensor: int32, on dev */
static int check_indices (const char *who, const nn_tensor *idx, nn_device dev, int role) {
  if (idx->dtype != NN_I32)
    return nn_seterr_arg(NN_EARG, role, "%s: indices must be an int32 tensor, got %s", who,
                         dtype_name(idx->dtype));
  if (idx->storage->device != dev)
    return nn_seterr_arg(NN_EDEVICE, role, "%s: indices are on %s, x on %s", who,
                         device_name(idx->storage->device), device_name(dev));
  return NN_OK;
}

/*
** MaxPool2d:  y[b, c, oh, ow] = the max of plane x[b, c] over window (oh, ow)
**
** Shapes   x, dx: (B, C, H, W)    y, g = dL/dy, indices: (B, C, H_out, W_out)
**   Each of the B C planes is pooled on its own, with the same windows.
**   Below, one plane; k kernel_size, s stride (kernel_size by default), p
**   padding, d dilation, each a height and a width: the formulas are
**   written for the height, and the width's are the same with w for h.
**
** Output size (PyTorch's pooling_output_shape):
**   H_out = floor((H + 2p - d (k - 1) - 1 + [ceil_mode] (s - 1)) / s) + 1     \tag{1}
**   the number of steps of s that a window spanning d (k - 1) + 1 rows can
**   take within the padded height, plus the first; ceil_mode counts a last,
**   partial step too, but only if that window starts inside the input or
**   its left padding: H_out is one less when (H_out - 1) s >= H + p.
**   PyTorch's rules, checked: p <= k / 2 (integer division), and H_out >= 1
**   (else the input is too small for the window: an error).
**
** Window (oh, ow): its taps are the rows
**   ih = oh s - p + i d,   i = 0 .. k - 1,   kept where 0 <= ih < H           \tag{2}
**   and the columns likewise.  The padding holds -inf, which never wins a
**   max, so its taps are simply left out.
**
**   x 4 x 4, k = 2, s = 2, p = 0, d = 1: four windows, no overlap
**
**           iw = 0   1   2   3
**     ih = 0   [ a   b | c   d ]          y (2 x 2)
**          1   [ e   f | g   h ]    ->    [ max(a,b,e,f)  max(c,d,g,h) ]
**              [-------+-------]          [ max(i,j,m,n)  max(k,l,o,p) ]
**          2   [ i   j | k   l ]
**          3   [ m   n | o   p ]    window (oh, ow) = rows 2 oh .. 2 oh + 1,
**                                                     cols 2 ow .. 2 ow + 1
**   With s = 1 < k they would overlap: window (0, 0) is a b e f, window
**   (0, 1) is b c f g, and b and f belong to both.
**
** Forward:
**   y[oh, ow]       = max_{(ih, iw) taps of (2)} x[ih, iw]
**   indices[oh, ow] = ih W + iw + 1 of the tap that gave it                   \tag{3}
**   The taps are visited row by row, and a tap replaces the max so far only
**   when it is strictly greater, or nan: a tie goes to the first in window
**   order, and a nan in the window is the max (it propagates), as PyTorch's
**   CPU kernel.  The positions count from 1 in the plane (ih W + iw + 1, as
**   Torch7's and as nnlua's argmax; PyTorch's return_indices counts from 0).
**   A window with no tap inside the input (possible only with dilation:
**   k = 2, d = 3, p = 1 on H = 2) gives -inf and position 0.
**
** Backward: within the window, y[oh, ow] = x[indices[oh, ow]] is a
**   selection: its derivative is 1 for the tap the forward chose and 0 for
**   the others (at a tie, a subgradient: the one chosen).  The chain rule
**   sums over every output that chose the pixel (overlapping windows may
**   choose the same one):
**   dL/dx[ih, iw] = \sum_{(oh, ow): indices[oh, ow] = ih W + iw + 1} g[oh, ow]  \tag{4}
**   A pixel no window chose gets 0.  On the GPU it is computed as a gather
**   (one thread per pixel, no atomics): for each pixel, the windows that can
**   hold it (oh s - p <= ih <= oh s - p + (k - 1) d) are visited in
**   row-major order and those that chose it add their g.  On the CPU, one
**   thread per plane zeroes dx and scatters g[oh, ow] to its index, the
**   outputs in row-major order: the same sums in the same order (so the
**   same bits), in one pass over g instead of a window search per pixel
**   (64 x 32 x 28 x 28, k = s = 2: 11 ms -> under 1).
**
** Source: PyTorch 1.13, torch.nn.MaxPool2d (docs: the output size);
** aten/src/ATen/native/Pool.h (pooling_output_shape, pool2d_shape_check)
** and aten/src/ATen/native/cpu/MaxPoolKernel.cpp (cpu_max_pool: the taps,
** the tie and nan rule; its backward, the scatter of g to the argmax).
*/
/* (3)'s rule for one tap: v replaces *best when v > *best or v is nan;
** returns 1 when it did.  On x86 as SSE2 compares and masks, not a branch:
** on real data "v > best" is a coin toss, and a mispredicted branch per tap
** made the forward 3x slower than the memory it reads. */
static inline int tap_wins (float v, float *best) {
#if defined(__SSE2__)
  __m128 V = _mm_set_ss(v), B = _mm_set_ss(*best);
  __m128 m = _mm_or_ps(_mm_cmpgt_ss(V, B), _mm_cmpunord_ss(V, V));
  *best = _mm_cvtss_f32(_mm_or_ps(_mm_and_ps(m, V), _mm_andnot_ps(m, B)));
  return _mm_movemask_ps(m) & 1;
#else
  int take = v > *best || v != v;
  if (take) *best = v;
  return take;
#endif
}

/* MaxPool2d(2), the CNNs' pool (kernel 2, stride 2, no padding, dilation 1):
** four windows of one output row, ow .. ow + 3, from the two input rows at
** x (row 0 at flat position `at0` of its plane).  Two loads of 4 floats per
** input row, split into the even and the odd columns, are the four taps of
** the four windows; each window takes its taps in nn_maxpool2d_window's
** order with tap_wins' rule (strictly greater, or nan), as masks, so the
** values and indices are those of the scalar loop, bit for bit.  A window's
** 4 taps were 4 calls of tap_wins and a bounds computation: this pool took
** 5% of models/cnn.lua's step (perf). */
#if defined(__SSE2__)
static void max_pool_2x2_four (float *y, int32_t *idx, const float *x, int64_t at0, int64_t W,
                               int64_t ow) {
  const float *r0 = x + 2 * ow, *r1 = r0 + W;
  __m128 a0 = _mm_loadu_ps(r0), b0 = _mm_loadu_ps(r0 + 4);
  __m128 a1 = _mm_loadu_ps(r1), b1 = _mm_loadu_ps(r1 + 4);
  __m128 taps[4] = { _mm_shuffle_ps(a0, b0, _MM_SHUFFLE(2, 0, 2, 0)),    /* (0, 0) */
                     _mm_shuffle_ps(a0, b0, _MM_SHUFFLE(3, 1, 3, 1)),    /* (0, 1) */
                     _mm_shuffle_ps(a1, b1, _MM_SHUFFLE(2, 0, 2, 0)),    /* (1, 0) */
                     _mm_shuffle_ps(a1, b1, _MM_SHUFFLE(3, 1, 3, 1)) };  /* (1, 1) */
  /* the 1-based flat position of each window's first tap, and the others' offsets */
  __m128i first = _mm_add_epi32(_mm_set1_epi32((int32_t)(at0 + 2 * ow + 1)),
                                _mm_set_epi32(6, 4, 2, 0));
  const int32_t offset[4] = { 0, 1, (int32_t)W, (int32_t)W + 1 };
  __m128 best = _mm_set1_ps(-INFINITY);
  __m128i at = first;
  for (int k = 0; k < 4; k++) {
    __m128 v = taps[k];
    __m128 m = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
    __m128i mi = _mm_castps_si128(m);
    __m128i pos = _mm_add_epi32(first, _mm_set1_epi32(offset[k]));
    best = _mm_or_ps(_mm_and_ps(m, v), _mm_andnot_ps(m, best));
    at = _mm_or_si128(_mm_and_si128(mi, pos), _mm_andnot_si128(mi, at));
  }
  _mm_storeu_ps(y + ow, best);
  _mm_storeu_si128((__m128i *)(idx + ow), at);
}
#endif

/* Outputs [0, returned) of one output row, four windows at a time.  When
** the row's last windows are fewer than four and the four ending at Wo - 1
** still read inside the input row (2 Wo <= W: floor mode), those four are
** done again, the overlap written twice with the same values: a 7-wide
** row (a 14x14 map) is two groups, not one and three scalar windows. */
static int64_t max_pool_2x2_row (float *y, int32_t *idx, const float *x, int64_t at0,
                                 int64_t W, int64_t Wo) {
  int64_t ow = 0;
#if defined(__SSE2__)
  for (; 2 * (ow + 4) <= W && ow + 4 <= Wo; ow += 4) max_pool_2x2_four(y, idx, x, at0, W, ow);
  if (ow < Wo && Wo >= 4 && 2 * Wo <= W) {
    max_pool_2x2_four(y, idx, x, at0, W, Wo - 4);
    ow = Wo;
  }
#else
  (void)y; (void)idx; (void)x; (void)at0; (void)W; (void)Wo;
#endif
  return ow;
}

int max_pool2d_forward (nn_tensor *y, nn_tensor *indices, const nn_tensor *x,
                        const nn_pool2d *g) {
  const char *who = "MaxPool2d";
  nn_shape xs = shape_of(x), ys;
  int rc = pool_out_shape(who, &xs, g, 1, NN_ROLE_INPUT, &ys);            /* (1) */
  if (rc == NN_OK) rc = tensor_check_float(x, NN_ROLE_INPUT, who);
  if (rc == NN_OK) rc = check_float_on(who, y, x->storage->device, NN_ROLE_OUT, "y");
  if (rc == NN_OK) rc = check_shape(who, y, &ys, NN_ROLE_OUT, "y");
  if (rc == NN_OK) rc = check_indices(who, indices, x->storage->device, NN_ROLE_OUT);
  if (rc == NN_OK) rc = tensor_resize(indices, 4, ys.d);
  if (rc != NN_OK || y->numel == 0) return rc;
  int64_t planes = xs.d[0] * xs.d[1], H = xs.d[2], W = xs.d[3], Ho = ys.d[2], Wo = ys.d[3];
  float *yp = tensor_data(y);
  int32_t *ip = tensor_data_i32(indices);
  const float *xp = tensor_data(x);
  if (x->storage->device == NN_CUDA)
    return nncuda_maxpool2d_forward(yp, ip, xp, planes, H, W, Ho, Wo, *g);
  const nn_pool2d w = *g;              /* by value: the loop's sizes stay in registers */
  int pool2x2 = w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.ph == 0 && w.pw == 0;
  #pragma omp parallel for schedule(static) if (x->numel >= PARALLEL_MIN)
  for (int64_t q = 0; q < planes; q++) {
    const float *xq = xp + q * H * W;
    for (int64_t oh = 0; oh < Ho; oh++) {
      float *yr = yp + (q * Ho + oh) * Wo;
      int32_t *ir = ip + (q * Ho + oh) * Wo;
      if (w.dh == 1 && w.dw == 1) {
        /* (2), (3) with d = 1: the taps are a block [h0, h1) x [w0, w1),
           visited in the same order as nn_maxpool2d_window visits them */
        int64_t h0, h1, ow = 0;
        nn_maxpool_taps(oh, H, w.kh, w.sh, w.ph, 1, &h0, &h1);
        if (pool2x2 && h1 - h0 == 2) ow = max_pool_2x2_row(yr, ir, xq + h0 * W, h0 * W, W, Wo);
        for (; ow < Wo; ow++) {
          int64_t w0, w1;
          nn_maxpool_taps(ow, W, w.kw, w.sw, w.pw, 1, &w0, &w1);
          float best = -INFINITY;
          int64_t at = (h0 < h1 && w0 < w1) ? h0 * W + w0 + 1 : 0;
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) {
              float v = xq[ih * W + iw];
              int take = tap_wins(v, &best);
              at = take ? ih * W + iw + 1 : at;
            }
          yr[ow] = best;
          ir[ow] = (int32_t)at;
        }
      } else {
        for (int64_t ow = 0; ow < Wo; ow++)
          yr[ow] = nn_maxpool2d_window(xq, H, W, &w, oh, ow, &ir[ow]);          /* (2), (3) */
      }
    }
  }
  return NN_OK;
}

int max_pool2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *indices,
                         const nn_pool2d *g) {
  const char *who = "MaxPool2d";
  nn_shape xs = shape_of(grad_x), ys;
  int rc = pool_out_shape(who, &xs, g, 1, NN_ROLE_OUT, &ys);
  nn_device dev = grad_x->storage->device;
  if (rc == NN_OK) rc = tensor_check_float(grad_x, NN_ROLE_OUT, who);
  if (rc == NN_OK) rc = check_float_on(who, grad_y, dev, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK) rc = check_shape(who, grad_y, &ys, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK) rc = check_indices(who, indices, dev, NN_ROLE_INPUT + 1);
  if (rc == NN_OK) rc = check_shape(who, indices, &ys, NN_ROLE_INPUT + 1, "indices");
  if (rc != NN_OK || grad_x->numel == 0) return rc;
  int64_t planes = xs.d[0] * xs.d[1], H = xs.d[2], W = xs.d[3], Ho = ys.d[2], Wo = ys.d[3];
  float *dx = tensor_data(grad_x);
  const float *gy = tensor_data(grad_y);
  const int32_t *ip = tensor_data_i32(indices);
  if (dev == NN_CUDA) return nncuda_maxpool2d_backward(dx, gy, ip, planes, H, W, Ho, Wo, *g);
  #pragma omp parallel for schedule(static) if (grad_x->numel >= PARALLEL_MIN)
  for (int64_t q = 0; q < planes; q++) {
    float *d = dx + q * H * W;
    const float *gq = gy + q * Ho * Wo;
    const int32_t *iq = ip + q * Ho * Wo;
    memset(d, 0, (size_t)(H * W) * sizeof *d);
    for (int64_t o = 0; o < Ho * Wo; o++)                                    /* (4) */
      if (iq[o] > 0 && iq[o] <= H * W) d[iq[o] - 1] += gq[o];   /* (an index off the plane: none) */
  }
  return NN_OK;
}

/*
** AvgPool2d:  y[b, c, oh, ow] = the mean of plane x[b, c] over window (oh, ow)
**
** Shapes   x, dx: (B, C, H, W)    y, g = dL/dy: (B, C, H_out, W_out)
**   As MaxPool2d, plane by plane, with d = 1: H_out by (1), the same rules
**   (p <= k / 2, H_out >= 1, ceil_mode's last window).  Written for the
**   height; the width likewise.
**
** Window oh: the rows [h_0, h_1) of the input padded with p zeros on each
** side, cut at the end of the padding (a ceil_mode window may hang past
** it), and its rows [a, e) inside the input:
**   h_0 = oh s - p,   h_1 = min(h_0 + k, H + p),   a = max(h_0, 0),   e = min(h_1, H)
**   The divisor D of window (oh, ow):
**     count_include_pad = true   D = (h_1 - h_0)(w_1 - w_0): the padding's
**                                zeros count, but not what hangs past them
**     count_include_pad = false  D = (e_h - a_h)(e_w - a_w): input pixels only   \tag{5}
**   (x 4 x 4, k = 2, s = 2, p = 0: the windows of MaxPool2d's picture, each
**   of 4 pixels, D = 4.  With k = 3, s = 2, p = 1, window (0, 0) holds x's
**   rows 0..1, cols 0..1 and 5 padding zeros: D = 9 counting them, 4 not.)
**
** Forward: the sum of the input pixels, in float in row-major order, as
**   PyTorch; the padding adds zeros:
**   y[oh, ow] = (1 / D) \sum_{ih = a_h}^{e_h - 1} \sum_{iw = a_w}^{e_w - 1} x[ih, iw]   \tag{6}
**
** Backward: y is linear in x, with
**   \partial y[oh, ow] / \partial x[ih, iw] = 1 / D(oh, ow) if (ih, iw) is in the window, else 0,
**   so each output spreads g / D evenly over its window, and where windows
**   overlap (s < k) a pixel adds the shares of all that hold it:
**   dL/dx[ih, iw] = \sum_{(oh, ow): a_h <= ih < e_h, a_w <= iw < e_w} g[oh, ow] / D(oh, ow)   \tag{7}
**   gathered per pixel, the windows in row-major order.
**
** Source: PyTorch 1.13, torch.nn.AvgPool2d (docs);
** aten/src/ATen/native/cpu/AvgPoolKernel.cpp (cpu_avg_pool and its
** backward: the windows, divide_factor).  PyTorch's divisor_override is
** not offered.
*/
int avg_pool2d_forward (nn_tensor *y, const nn_tensor *x, const nn_pool2d *g) {
  const char *who = "AvgPool2d";
  nn_shape xs = shape_of(x), ys;
  nn_pool2d a = *g;
  a.dh = a.dw = 1;
  int rc = pool_out_shape(who, &xs, &a, 0, NN_ROLE_INPUT, &ys);           /* (1) */
  if (rc == NN_OK) rc = tensor_check_float(x, NN_ROLE_INPUT, who);
  if (rc == NN_OK) rc = check_float_on(who, y, x->storage->device, NN_ROLE_OUT, "y");
  if (rc == NN_OK) rc = check_shape(who, y, &ys, NN_ROLE_OUT, "y");
  if (rc != NN_OK || y->numel == 0) return rc;
  int64_t planes = xs.d[0] * xs.d[1], H = xs.d[2], W = xs.d[3], Ho = ys.d[2], Wo = ys.d[3];
  float *yp = tensor_data(y);
  const float *xp = tensor_data(x);
  if (x->storage->device == NN_CUDA)
    return nncuda_avgpool2d_forward(yp, xp, planes, H, W, Ho, Wo, a);
  #pragma omp parallel for schedule(dynamic, 1) if (x->numel >= PARALLEL_MIN)
  for (int64_t q = 0; q < planes; q++)
    for (int64_t oh = 0; oh < Ho; oh++)
      for (int64_t ow = 0; ow < Wo; ow++)                                    /* (5), (6) */
        yp[(q * Ho + oh) * Wo + ow] = nn_avgpool2d_window(xp + q * H * W, H, W, &a, oh, ow);
  return NN_OK;
}

int avg_pool2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_pool2d *g) {
  const char *who = "AvgPool2d";
  nn_shape xs = shape_of(grad_x), ys;
  nn_pool2d a = *g;
  a.dh = a.dw = 1;
  int rc = pool_out_shape(who, &xs, &a, 0, NN_ROLE_OUT, &ys);
  nn_device dev = grad_x->storage->device;
  if (rc == NN_OK) rc = tensor_check_float(grad_x, NN_ROLE_OUT, who);
  if (rc == NN_OK) rc = check_float_on(who, grad_y, dev, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK) rc = check_shape(who, grad_y, &ys, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc != NN_OK || grad_x->numel == 0) return rc;
  int64_t planes = xs.d[0] * xs.d[1], H = xs.d[2], W = xs.d[3], Ho = ys.d[2], Wo = ys.d[3];
  float *dx = tensor_data(grad_x);
  const float *gy = tensor_data(grad_y);
  if (dev == NN_CUDA) return nncuda_avgpool2d_backward(dx, gy, planes, H, W, Ho, Wo, a);
  #pragma omp parallel for schedule(dynamic, 1) if (grad_x->numel >= PARALLEL_MIN)
  for (int64_t q = 0; q < planes; q++)
    for (int64_t ih = 0; ih < H; ih++)
      for (int64_t iw = 0; iw < W; iw++)                                     /* (7) */
        dx[(q * H + ih) * W + iw] = nn_avgpool2d_grad_at(gy + q * Ho * Wo, H, W, Ho, Wo, &a,
                                                         ih, iw);
  return NN_OK;
}

/* (8)'s products o H and (o + 1) H stay far inside int64 (only sizes no
** tensor of today's machines has could break it: refused) */
static int check_adaptive_sizes (int64_t H, int64_t W, int64_t Ho, int64_t Wo, int role) {
  if ((H + 1) > (INT64_C(1) << 62) / (Ho + 1) || (W + 1) > (INT64_C(1) << 62) / (Wo + 1))
    return nn_seterr_arg(NN_ESHAPE, role, "AdaptiveAvgPool2d: planes of %lldx%lld to "
                         "%lldx%lld are beyond its index arithmetic", (long long)H,
                         (long long)W, (long long)Ho, (long long)Wo);
  return NN_OK;
}

/*
** AdaptiveAvgPool2d:  y (B, C, H_out, W_out) of a size fixed in advance,
** whatever the input's H and W: the mean of each of H_out x W_out windows
**
** Shapes   x, dx: (B, C, H, W)    y, g = dL/dy: (B, C, H_out, W_out)
**   Plane by plane; the height below, the width likewise.
**
** Window oh covers the rows
**   [a, e) = [floor(oh H / H_out), ceil((oh + 1) H / H_out)),   k_h = e - a   \tag{8}
**   The windows tile the input in order; when H_out does not divide H,
**   neighbours share a row (H = 5, H_out = 3: rows 0-1, 1-3, 3-4), and
**   none is empty (H_out > H repeats rows).  H_out = H_out = 1 is one window
**   over the whole plane: global average pooling.  When H_out divides H it
**   is AvgPool2d with k = s = H / H_out (x 4 x 4 to 2 x 2: MaxPool2d's
**   picture, with means).
**
** Forward: the sum in float, row-major, divided as PyTorch does it:
**   y[oh, ow] = (\sum_{ih = a_h}^{e_h - 1} \sum_{iw = a_w}^{e_w - 1} x[ih, iw]) / k_h / k_w   \tag{9}
**
** Backward: linear, each output spreading g / k_h / k_w over its window,
**   the shares of overlapping windows adding:
**   dL/dx[ih, iw] = \sum_{(oh, ow): window holds (ih, iw)} g[oh, ow] / k_h / k_w   \tag{10}
**   gathered per pixel: window oh holds row ih exactly for
**   floor(ih H_out / H) <= oh <= ceil((ih + 1) H_out / H) - 1.
**
** Source: PyTorch 1.13, torch.nn.AdaptiveAvgPool2d (docs);
** aten/src/ATen/native/AdaptiveAveragePooling.cpp (start_index, end_index)
** and aten/src/ATen/native/cpu/AdaptiveAvgPoolKernel.cpp.
*/
int adaptive_avg_pool2d_forward (nn_tensor *y, const nn_tensor *x) {
  const char *who = "AdaptiveAvgPool2d";
  nn_shape xs = shape_of(x);
  int rc = check_4d(who, &xs, NN_ROLE_INPUT);
  if (rc == NN_OK) rc = tensor_check_float(x, NN_ROLE_INPUT, who);
  if (rc == NN_OK) rc = check_float_on(who, y, x->storage->device, NN_ROLE_OUT, "y");
  if (rc == NN_OK && (y->ndim != 4 || y->shape[0] != xs.d[0] || y->shape[1] != xs.d[1]
                      || y->shape[2] < 1 || y->shape[3] < 1))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: y must be [%lld x %lld x H_out x W_out] "
                       "(H_out, W_out >= 1), got %s", who, (long long)xs.d[0],
                       (long long)xs.d[1], shape_str(y).s);
  if (rc == NN_OK) rc = check_adaptive_sizes(xs.d[2], xs.d[3], y->shape[2], y->shape[3],
                                             NN_ROLE_OUT);
  if (rc != NN_OK || y->numel == 0) return rc;
  int64_t planes = xs.d[0] * xs.d[1], H = xs.d[2], W = xs.d[3];
  int64_t Ho = y->shape[2], Wo = y->shape[3];
  float *yp = tensor_data(y);
  const float *xp = tensor_data(x);
  if (x->storage->device == NN_CUDA)
    return nncuda_adaptive_avgpool2d_forward(yp, xp, planes, H, W, Ho, Wo);
  #pragma omp parallel for schedule(dynamic, 1) if (x->numel >= PARALLEL_MIN)
  for (int64_t q = 0; q < planes; q++)
    for (int64_t oh = 0; oh < Ho; oh++)
      for (int64_t ow = 0; ow < Wo; ow++)                                    /* (8), (9) */
        yp[(q * Ho + oh) * Wo + ow] = nn_adaptive_avgpool2d_window(xp + q * H * W, H, W, Ho,
                                                                   Wo, oh, ow);
  return NN_OK;
}

int adaptive_avg_pool2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y) {
  const char *who = "AdaptiveAvgPool2d";
  nn_shape xs = shape_of(grad_x);
  int rc = check_4d(who, &xs, NN_ROLE_OUT);
  nn_device dev = grad_x->storage->device;
  if (rc == NN_OK) rc = tensor_check_float(grad_x, NN_ROLE_OUT, who);
  if (rc == NN_OK) rc = check_float_on(who, grad_y, dev, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK && (grad_y->ndim != 4 || grad_y->shape[0] != xs.d[0]
                      || grad_y->shape[1] != xs.d[1] || grad_y->shape[2] < 1
                      || grad_y->shape[3] < 1))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_GRAD_OUT, "%s: grad_y must be [%lld x %lld x H_out "
                       "x W_out] (H_out, W_out >= 1), got %s", who, (long long)xs.d[0],
                       (long long)xs.d[1], shape_str(grad_y).s);
  if (rc == NN_OK) rc = check_adaptive_sizes(xs.d[2], xs.d[3], grad_y->shape[2],
                                             grad_y->shape[3], NN_ROLE_GRAD_OUT);
  if (rc != NN_OK || grad_x->numel == 0) return rc;
  int64_t planes = xs.d[0] * xs.d[1], H = xs.d[2], W = xs.d[3];
  int64_t Ho = grad_y->shape[2], Wo = grad_y->shape[3];
  float *dx = tensor_data(grad_x);
  const float *gy = tensor_data(grad_y);
  if (dev == NN_CUDA) return nncuda_adaptive_avgpool2d_backward(dx, gy, planes, H, W, Ho, Wo);
  #pragma omp parallel for schedule(dynamic, 1) if (grad_x->numel >= PARALLEL_MIN)
  for (int64_t q = 0; q < planes; q++)
    for (int64_t ih = 0; ih < H; ih++)
      for (int64_t iw = 0; iw < W; iw++)                                     /* (10) */
        dx[(q * H + ih) * W + iw] = nn_adaptive_avgpool2d_grad_at(gy + q * Ho * Wo, H, W, Ho,
                                                                  Wo, ih, iw);
  return NN_OK;
}


/* --- the modules -------------------------------------------------------------------- */

/* m->opt[] of MaxPool2d and AvgPool2d: each hw option is a height and a
** width.  MaxPool2d: ..., DH, DW, CEIL; AvgPool2d: ..., CEIL_AVG, COUNT_PAD. */
enum { KH, KW, SH, SW, PH, PW, DH, DW, CEIL };
enum { CEIL_AVG = DH, COUNT_PAD };
enum { INDICES };                         /* MaxPool2d's m->buffer[] */
enum { OUT_H, OUT_W };                    /* AdaptiveAvgPool2d's m->opt[] */

/* the window of a MaxPool2d (max = 1) or AvgPool2d (0) from its options;
** stride 0 (the default) is kernel_size */
static nn_pool2d geometry_of_opts (const double *opt, int max) {
  nn_pool2d g;
  g.kh = (int64_t)opt[KH];
  g.kw = (int64_t)opt[KW];
  g.sh = opt[SH] == 0 ? g.kh : (int64_t)opt[SH];
  g.sw = opt[SW] == 0 ? g.kw : (int64_t)opt[SW];
  g.ph = (int64_t)opt[PH];
  g.pw = (int64_t)opt[PW];
  g.dh = max ? (int64_t)opt[DH] : 1;
  g.dw = max ? (int64_t)opt[DW] : 1;
  g.ceil_mode = opt[max ? CEIL : CEIL_AVG] != 0;
  g.count_include_pad = max ? 1 : opt[COUNT_PAD] != 0;
  return g;
}

/* every size option at most POOL_OPT_MAX, then the geometry's rules */
static int check_pool_options (const char *who, const double *opt, int max) {
  static const char *const names[] = { "kernel_size", "kernel_size", "stride", "stride",
                                       "padding", "padding", "dilation", "dilation" };
  for (int i = 0; i < (max ? DW + 1 : PW + 1); i++)
    if (opt[i] > POOL_OPT_MAX)
      return nn_seterr(NN_EARG, "%s: %s must be at most 2^31 - 1, got %.17g", who, names[i],
                       opt[i]);
  nn_pool2d g = geometry_of_opts(opt, max);
  return check_geometry(who, &g);
}

static int maxpool_check_options (const double *opt) {
  return check_pool_options("MaxPool2d", opt, 1);
}

static int avgpool_check_options (const double *opt) {
  return check_pool_options("AvgPool2d", opt, 0);
}

static int maxpool_init (nn_module *m) {
  int64_t zero = 0;
  m->state = 0;
  return tensor_new_dtype(&m->buffer[INDICES], tensor_default_device(), NN_I32, 1, &zero);
}

static int maxpool_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)n;
  nn_pool2d g = geometry_of_opts(m->opt, 1);
  return pool_out_shape("MaxPool2d", &in[0], &g, 1, NN_ROLE_INPUT, out);
}

static int avgpool_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)n;
  nn_pool2d g = geometry_of_opts(m->opt, 0);
  return pool_out_shape("AvgPool2d", &in[0], &g, 0, NN_ROLE_INPUT, out);
}

/* m->state: 1 after a forward that succeeded (the indices are its) */
static int maxpool_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  nn_pool2d g = geometry_of_opts(m->opt, 1);
  m->state = 0;
  int rc = max_pool2d_forward(m->output, m->buffer[INDICES], x[0], &g);
  if (rc == NN_OK) m->state = 1;
  return rc;
}

static int maxpool_module_backward (nn_module *m, const nn_tensor *gy, int flags) {
  if (m->state == 0)
    return nn_seterr(NN_EARG, "MaxPool2d: backward needs a successful forward first");
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  nn_pool2d g = geometry_of_opts(m->opt, 1);
  return max_pool2d_backward(m->grad_input[0], gy, m->buffer[INDICES], &g);
}

static int avgpool_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  nn_pool2d g = geometry_of_opts(m->opt, 0);
  return avg_pool2d_forward(m->output, x[0], &g);
}

static int avgpool_module_backward (nn_module *m, const nn_tensor *gy, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  nn_pool2d g = geometry_of_opts(m->opt, 0);
  return avg_pool2d_backward(m->grad_input[0], gy, &g);
}

/* "kernel_size=3, stride=2, padding=1": kernel_size, then each option that
** is not at its default (a stride other than kernel_size), so a summary's
** column stays narrow */
static void pool_describe (const nn_module *m, char *buf, size_t len, int max) {
  nn_pool2d g = geometry_of_opts(m->opt, max);
  char t[48];
  size_t n = 0;
  pair_text(t, sizeof t, g.kh, g.kw);
  n += (size_t)snprintf(buf + n, len - n, "kernel_size=%s", t);
  if ((g.sh != g.kh || g.sw != g.kw) && n < len) {
    pair_text(t, sizeof t, g.sh, g.sw);
    n += (size_t)snprintf(buf + n, len - n, ", stride=%s", t);
  }
  if ((g.ph != 0 || g.pw != 0) && n < len) {
    pair_text(t, sizeof t, g.ph, g.pw);
    n += (size_t)snprintf(buf + n, len - n, ", padding=%s", t);
  }
  if ((g.dh != 1 || g.dw != 1) && n < len) {
    pair_text(t, sizeof t, g.dh, g.dw);
    n += (size_t)snprintf(buf + n, len - n, ", dilation=%s", t);
  }
  if (g.ceil_mode && n < len) n += (size_t)snprintf(buf + n, len - n, ", ceil_mode=true");
  if (!g.count_include_pad && n < len) snprintf(buf + n, len - n, ", count_include_pad=false");
}

static void maxpool_describe (const nn_module *m, char *buf, size_t len) {
  pool_describe(m, buf, len, 1);
}

static void avgpool_describe (const nn_module *m, char *buf, size_t len) {
  pool_describe(m, buf, len, 0);
}

/* the options MaxPool2d and AvgPool2d share: kernel_size, stride, padding */
#define POOL_SIZE_OPTIONS                                                                   \
  { .name = "kernel_size", .kind = NN_OPT_INT, .positional = 1, .required = 1, .min = 1,    \
    .max = NN_OPT_SIZE_MAX, .hw = 1, .doc = "the window's height and width" },              \
  { .name = "kernel_size_w", .kind = NN_OPT_INT, .min = 1, .max = NN_OPT_SIZE_MAX,          \
    .hw_width = 1 },                                                                        \
  { .name = "stride", .kind = NN_OPT_INT, .positional = 2, .dflt = 0, .min = 0,             \
    .max = NN_OPT_SIZE_MAX, .hw = 1,                                                        \
    .doc = "the step from one window to the next; 0 (the default) means kernel_size" },     \
  { .name = "stride_w", .kind = NN_OPT_INT, .dflt = 0, .min = 0, .max = NN_OPT_SIZE_MAX,    \
    .hw_width = 1 },                                                                        \
  { .name = "padding", .kind = NN_OPT_INT, .positional = 3, .dflt = 0, .min = 0,            \
    .max = NN_OPT_SIZE_MAX, .hw = 1,                                                        \
    .doc = "added on each side (at most kernel_size / 2)" },                                \
  { .name = "padding_w", .kind = NN_OPT_INT, .dflt = 0, .min = 0, .max = NN_OPT_SIZE_MAX,   \
    .hw_width = 1 }

const nn_module_type maxpool2d_type = {
  .name = "MaxPool2d", .doc = "the max of each kernel_size window of x (B, C, H, W), "
                              "stepping by stride: (B, C, H_out, W_out)",
  .min_inputs = 1, .max_inputs = 1, .buffers = { "indices" },
  .options = {
    POOL_SIZE_OPTIONS,
    { .name = "dilation", .kind = NN_OPT_INT, .positional = 4, .dflt = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .hw = 1, .doc = "the step between a window's taps" },
    { .name = "dilation_w", .kind = NN_OPT_INT, .dflt = 1, .min = 1, .max = NN_OPT_SIZE_MAX,
      .hw_width = 1 },
    { .name = "ceil_mode", .kind = NN_OPT_BOOL, .dflt = 0,
      .doc = "round H_out, W_out up: a last, partial window" },
  },
  .check_options = maxpool_check_options, .init = maxpool_init,
  .output_shape = maxpool_output_shape,
  .forward = maxpool_module_forward, .backward = maxpool_module_backward,
  .describe = maxpool_describe
};

const nn_module_type avgpool2d_type = {
  .name = "AvgPool2d", .doc = "the mean of each kernel_size window of x (B, C, H, W), "
                              "stepping by stride: (B, C, H_out, W_out)",
  .min_inputs = 1, .max_inputs = 1,
  .options = {
    POOL_SIZE_OPTIONS,
    { .name = "ceil_mode", .kind = NN_OPT_BOOL, .dflt = 0,
      .doc = "round H_out, W_out up: a last, partial window" },
    { .name = "count_include_pad", .kind = NN_OPT_BOOL, .dflt = 1,
      .doc = "divide by the window's size with its padding (true) or by its input pixels" },
  },
  .check_options = avgpool_check_options,
  .output_shape = avgpool_output_shape,
  .forward = avgpool_module_forward, .backward = avgpool_module_backward,
  .describe = avgpool_describe
};

static int adaptive_check_options (const double *opt) {
  if (opt[OUT_H] > POOL_OPT_MAX || opt[OUT_W] > POOL_OPT_MAX)
    return nn_seterr(NN_EARG, "AdaptiveAvgPool2d: output_size must be at most 2^31 - 1, got "
                     "(%.17g, %.17g)", opt[OUT_H], opt[OUT_W]);
  return NN_OK;
}

static int adaptive_output_shape (const nn_module *m, int n, const nn_shape *in,
                                  nn_shape *out) {
  (void)n;
  int rc = check_4d("AdaptiveAvgPool2d", &in[0], NN_ROLE_INPUT);
  if (rc == NN_OK) rc = check_adaptive_sizes(in[0].d[2], in[0].d[3], (int64_t)m->opt[OUT_H],
                                             (int64_t)m->opt[OUT_W], NN_ROLE_INPUT);
  if (rc != NN_OK) return rc;
  out->ndim = 4;
  out->d[0] = in[0].d[0];
  out->d[1] = in[0].d[1];
  out->d[2] = (int64_t)m->opt[OUT_H];
  out->d[3] = (int64_t)m->opt[OUT_W];
  return NN_OK;
}

static int adaptive_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return adaptive_avg_pool2d_forward(m->output, x[0]);
}

static int adaptive_module_backward (nn_module *m, const nn_tensor *gy, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return adaptive_avg_pool2d_backward(m->grad_input[0], gy);
}

static void adaptive_describe (const nn_module *m, char *buf, size_t len) {
  char s[48];
  pair_text(s, sizeof s, (int64_t)m->opt[OUT_H], (int64_t)m->opt[OUT_W]);
  snprintf(buf, len, "output_size=%s", s);
}

const nn_module_type adaptive_avgpool2d_type = {
  .name = "AdaptiveAvgPool2d", .doc = "the mean of each of output_size windows tiling x "
                                      "(B, C, H, W): (B, C, H_out, W_out) for any H, W",
  .min_inputs = 1, .max_inputs = 1,
  .options = {
    { .name = "output_size", .kind = NN_OPT_INT, .positional = 1, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .hw = 1,
      .doc = "H_out and W_out (1: global average pooling)" },
    { .name = "output_size_w", .kind = NN_OPT_INT, .min = 1, .max = NN_OPT_SIZE_MAX,
      .hw_width = 1 },
  },
  .check_options = adaptive_check_options,
  .output_shape = adaptive_output_shape,
  .forward = adaptive_module_forward, .backward = adaptive_module_backward,
  .describe = adaptive_describe
};
