/*
** conv.c -- Conv2d, the 2-D convolution of PyTorch's nn.Conv2d on NCHW
** tensors: its pure pair conv2d_forward / conv2d_backward (im2col, GEMMs,
** col2im), the CPU loops, and the module that owns the buffers.
**
** The index arithmetic of im2col and col2im is in conv.h (NN_HD), shared
** with the CUDA kernels of nn/cuda_conv.cu.
*/
#include <limits.h>
#include <math.h>
#include <string.h>
#include <stdio.h>

#include "nn.h"
#include "conv.h"
#include "batchnorm.h"   /* NN_BN_SUM4: the four-partial sum of a channel */
#include "backend.h"   /* cpu_matmul, cuda_matmul: the project's GEMM on raw pointers */
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many floats moved, a loop runs on the calling thread: waking
** the OpenMP team costs more than the copy. */
#define CONV_PARALLEL_MIN 32768

/* --- sizes ---------------------------------------------------------------------------- */

/* The output size along one axis (PyTorch's formula),
**     out = floor((in + 2 padding - dilation (k - 1) - 1) / stride) + 1,
** or 0 when the padded input is smaller than the dilated kernel.  Every
** argument is checked by the caller: in >= 0, k, stride, dilation >= 1,
** padding >= 0, each below 2^53.  The span dilation (k - 1) + 1 may not fit
** int64 (2^53 squared): it is compared in double first, and only computed
** in integers once it is known to be no larger than in + 2 padding. */
static int64_t conv_out_size (int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  int64_t padded = in + 2 * pad;                      /* < 3 2^53: fits */
  if ((double)dil * (double)(k - 1) + 1.0 > (double)padded) return 0;
  int64_t span = dil * (k - 1) + 1;
  if (span > padded) return 0;                        /* the double rounded */
  return (padded - span) / stride + 1;
}

/* The geometry of x (B, C, H, W) and weight (Cout, C / groups, kh, kw)
** under p, into *g; NN_ESHAPE (naming the tensor at fault, by `role_x` and
** `role_w`) or NN_EARG otherwise.  Every size the BLAS sees must fit its
** 32-bit int. */
static int conv_geometry (nn_conv_geom *g, const nn_tensor *x, const nn_tensor *weight,
                          const nn_conv2d_params *p, int role_x, int role_w) {
  if (p->groups < 1 || p->stride[0] < 1 || p->stride[1] < 1 || p->dilation[0] < 1
      || p->dilation[1] < 1 || p->padding[0] < 0 || p->padding[1] < 0)
    return nn_seterr(NN_EARG, "conv2d: stride, dilation and groups must be >= 1 and padding "
                     ">= 0, got stride (%lld, %lld), padding (%lld, %lld), dilation (%lld, "
                     "%lld), groups %lld", (long long)p->stride[0], (long long)p->stride[1],
                     (long long)p->padding[0], (long long)p->padding[1],
                     (long long)p->dilation[0], (long long)p->dilation[1],
                     (long long)p->groups);
  if (weight->ndim != 4)
    return nn_seterr_arg(NN_ESHAPE, role_w, "conv2d: weight must be 4-D (C_out, C_in / groups, "
                         "kH, kW), got %s", shape_str(weight).s);
  int64_t Cout = weight->shape[0], Cg = weight->shape[1];
  if (Cout % p->groups != 0)
    return nn_seterr_arg(NN_ESHAPE, role_w, "conv2d: weight %s: C_out = %lld is not divisible "
                         "by groups = %lld", shape_str(weight).s, (long long)Cout,
                         (long long)p->groups);
  if (x->ndim != 4 || x->shape[1] != Cg * p->groups)
    return nn_seterr_arg(NN_ESHAPE, role_x, "conv2d: expected x [B x %lld x H x W] for weight "
                         "%s and groups = %lld, got %s", (long long)(Cg * p->groups),
                         shape_str(weight).s, (long long)p->groups, shape_str(x).s);
  *g = (nn_conv_geom){ .B = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                       .Cout = Cout, .kh = weight->shape[2], .kw = weight->shape[3],
                       .sh = p->stride[0], .sw = p->stride[1], .ph = p->padding[0],
                       .pw = p->padding[1], .dh = p->dilation[0], .dw = p->dilation[1],
                       .groups = p->groups };
  g->Ho = conv_out_size(g->H, g->kh, g->sh, g->ph, g->dh);
  g->Wo = conv_out_size(g->W, g->kw, g->sw, g->pw, g->dw);
  if (g->Ho < 1 || g->Wo < 1)
    return nn_seterr_arg(NN_ESHAPE, role_x, "conv2d: the input %s is too small for the kernel "
                         "%lldx%lld (padding %lldx%lld, dilation %lldx%lld): the output would "
                         "be %lldx%lld", shape_str(x).s, (long long)g->kh, (long long)g->kw,
                         (long long)g->ph, (long long)g->pw, (long long)g->dh,
                         (long long)g->dw, (long long)g->Ho, (long long)g->Wo);
  /* the columns matrix (C kh kw, B Ho Wo) and the products on it */
  int64_t rows, cols, ydims[4] = { g->B, g->Cout, g->Ho, g->Wo };
  int64_t cdims[3] = { g->C, g->kh, g->kw };
  int rc = nn_shape_numel(&rows, 3, cdims);
  if (rc == NN_OK) rc = nn_shape_numel(&cols, 4, ydims);   /* y itself must be possible */
  if (rc != NN_OK) return nn_blame(rc, role_x);
  cols = g->B * g->Ho * g->Wo;
  if (rows > INT_MAX || cols > INT_MAX || g->Cout > INT_MAX)
    return nn_seterr_arg(NN_EARG, role_x, "conv2d: x %s with weight %s makes a product of "
                         "%lld x %lld columns, past the BLAS's 32-bit int", shape_str(x).s,
                         shape_str(weight).s, (long long)rows, (long long)cols);
  return NN_OK;
}

static int check_device (const nn_tensor *t, const nn_tensor *x, int role, const char *what) {
  if (t != NULL && t->storage->device != x->storage->device)
    return nn_seterr_arg(NN_EDEVICE, role, "conv2d: %s is on %s, x on %s", what,
                         device_name(t->storage->device), device_name(x->storage->device));
  return NN_OK;
}

static int check_shape4 (const nn_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d,
                         int role, const char *what) {
  if (t->ndim != 4 || t->shape[0] != a || t->shape[1] != b || t->shape[2] != c
      || t->shape[3] != d)
    return nn_seterr_arg(NN_ESHAPE, role, "conv2d: %s must be [%lldx%lldx%lldx%lld], got %s",
                         what, (long long)a, (long long)b, (long long)c, (long long)d,
                         shape_str(t).s);
  return NN_OK;
}

static int check_vector (const nn_tensor *t, int64_t n, int role, const char *what) {
  if (t != NULL && (t->ndim != 1 || t->shape[0] != n))
    return nn_seterr_arg(NN_ESHAPE, role, "conv2d: %s must be [%lld], got %s", what,
                         (long long)n, shape_str(t).s);
  return NN_OK;
}

/* 1x1 kernel, stride 1, no padding: the columns matrix of one image is
** that image itself, (C, H W), and no im2col is needed (dilation then
** moves nothing). */
static int is_pointwise (const nn_conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* --- the CPU loops ------------------------------------------------------------------- */

/* The output columns [*lo, *hi) whose tap kj reads inside the input along
** the width: nn_conv_in_coord(ow, kj, ...) >= 0 exactly there (i = ow s -
** p + kj d is in [0, W) for ceil((p - kj d) / s) <= ow <= floor((W - 1 + p
** - kj d) / s)), so the loops below test nothing per element, and with
** stride 1 they are plain contiguous copies and adds, which vectorise. */
static void valid_cols (const nn_conv_geom *g, int64_t kj, int64_t *lo, int64_t *hi) {
  int64_t a = g->pw - kj * g->dw, e = g->W - 1 + g->pw - kj * g->dw;
  *lo = a <= 0 ? 0 : (a + g->sw - 1) / g->sw;
  *hi = e < 0 ? 0 : e / g->sw + 1;
  if (*hi > g->Wo) *hi = g->Wo;
  if (*lo > *hi) *lo = *hi;
}

/* The tasks of im2col: row r of cols for a block of `per` images (a run
** of per L floats of cols), rows in order, the images of a row split into
** `blocks` blocks so that a layer of few rows (one input channel) still
** gives every thread work.  A task's (r, image block) is found by one
** division; within it, images and output rows advance by increments.  With
** one task per (row, image) and five divisions each, a quarter of im2col's
** samples sat on the instructions after those divisions (perf annotate, the
** reference CNN's epoch). */
#define CONV_MIN_TASKS 32

/* Row r = (c, ki, kj) of one image's columns (Ho Wo floats at dst) from
** its plane xp (H, W), when both strides are 1 and the output rows are as
** wide as the input's (Wo = W: a "same" convolution, 2 pw = (kw - 1) dw).
** Entry (oh, ow) reads pixel (oh - top, ow + off), top = ph - ki dh, off =
** kj dw - pw: the same distance, -top W + off, from every entry, so the
** entries of the output rows [oh0, oh1) whose tap is inside the image are
** one contiguous copy from the first valid one, (oh0, lo), to the last,
** (oh1 - 1, hi - 1), both inside the plane.  That copy also fills the
** columns [0, lo) and [hi, Wo) of the rows between with pixels of the
** neighbouring rows; they are padding, and are set to zero after it, as
** are the rows of padding above and below.  One copy of up to H W floats
** in place of Ho copies of Wo floats (14 or 7 at the small CNN's 14x14 and
** 7x7 layers), each with its loop's set-up and tail: the same values. */
static void im2col_plane_same (float *dst, const float *xp, const nn_conv_geom *g,
                               int64_t ki, int64_t off, int64_t lo, int64_t hi) {
  int64_t Wd = g->Wo, Ho = g->Ho, top = g->ph - ki * g->dh;
  int64_t oh0 = top < 0 ? 0 : top > Ho ? Ho : top;
  int64_t oh1 = g->H + top < oh0 ? oh0 : g->H + top > Ho ? Ho : g->H + top;
  if (lo >= hi) oh1 = oh0;                            /* no column reads the image */
  memset(dst, 0, (size_t)(oh0 * Wd) * sizeof(float));
  if (oh1 > oh0) {
    int64_t a = oh0 * Wd + lo, e = (oh1 - 1) * Wd + hi;
    memcpy(dst + a, xp + (oh0 - top) * Wd + lo + off, (size_t)(e - a) * sizeof(float));
    for (int64_t oh = oh0; oh < oh1; oh++) {
      float *row = dst + oh * Wd;
      for (int64_t ow = 0; ow < lo; ow++) row[ow] = 0.0f;
      for (int64_t ow = hi; ow < Wd; ow++) row[ow] = 0.0f;
    }
  }
  memset(dst + oh1 * Wd, 0, (size_t)((Ho - oh1) * Wd) * sizeof(float));
}

/* Small planes that are not "same" (the strided ones) take their taps from
** a table, built once per call: at[(ki kw + kj) L + l] is the flat position
** in the input plane that output position l reads through tap (ki, kj), or
** -1 where it reads padding (the rows and columns the loop below skips).
** Then a row of cols is one gather of L floats, in place of Ho loops of Wo:
** the reference CNN's stride-2 layers have rows of 13, 7 and 4 outputs, and
** each short loop's set-up and tail cost more than its copies.  im2col's
** share of their forward + backward went from 0.75 to 0.55 of the GEMM
** kernel's (perf, scripts' 30 calls); col2im by the same table (a
** scatter-add per tap) measured no faster than its loops, and keeps them.
** CONV_TABLE_MAX entries (16 KB) at most, on the calling thread's stack. */
#define CONV_TABLE_MAX 4096

static int use_table (const nn_conv_geom *g) {
  return g->kh * g->kw * g->Ho * g->Wo <= CONV_TABLE_MAX && g->H * g->W <= INT32_MAX;
}

static void tap_table (int32_t *at, const nn_conv_geom *g) {
  int64_t Wo = g->Wo, L = g->Ho * Wo;
  for (int64_t ki = 0; ki < g->kh; ki++)
    for (int64_t kj = 0; kj < g->kw; kj++) {
      int32_t *a = at + (ki * g->kw + kj) * L;
      int64_t lo, hi, off = kj * g->dw - g->pw;     /* iw = ow sw + off */
      valid_cols(g, kj, &lo, &hi);
      for (int64_t oh = 0; oh < g->Ho; oh++) {
        int64_t ih = nn_conv_in_coord(oh, ki, g->sh, g->ph, g->dh, g->H);
        for (int64_t ow = 0; ow < Wo; ow++)
          a[oh * Wo + ow] = ih >= 0 && ow >= lo && ow < hi
                            ? (int32_t)(ih * g->W + ow * g->sw + off) : -1;
      }
    }
}

static void im2col_cpu (float *cols, const float *x, const nn_conv_geom *g) {
  int64_t KK = g->kh * g->kw, L = g->Ho * g->Wo, BL = g->B * L, rows = g->C * KK;
  int64_t blocks = rows >= CONV_MIN_TASKS ? 1 : (CONV_MIN_TASKS + rows - 1) / rows;
  if (blocks > g->B) blocks = g->B;
  int64_t per = (g->B + blocks - 1) / blocks, sw = g->sw, Wo = g->Wo;
  int same = g->sh == 1 && sw == 1 && Wo == g->W, tab = !same && use_table(g);
  int32_t table[CONV_TABLE_MAX];
  if (tab) tap_table(table, g);
  blocks = (g->B + per - 1) / per;                    /* none of them empty */
  #pragma omp parallel for schedule(static) if (rows * BL > CONV_PARALLEL_MIN)
  for (int64_t t = 0; t < rows * blocks; t++) {
    int64_t r = t / blocks, b0 = t % blocks * per, b1 = b0 + per < g->B ? b0 + per : g->B;
    int64_t c = r / KK, ki = r % KK / g->kw, kj = r % g->kw;
    int64_t lo, hi;
    valid_cols(g, kj, &lo, &hi);
    int64_t off = kj * g->dw - g->pw;                /* iw = ow sw + off */
    float *dst = cols + r * BL + b0 * L;
    for (int64_t b = b0; b < b1; b++) {
      const float *xp = x + (b * g->C + c) * g->H * g->W;
      if (same) { im2col_plane_same(dst, xp, g, ki, off, lo, hi); dst += L; continue; }
      if (tab) {
        const int32_t *a = table + r % KK * L;
        for (int64_t l = 0; l < L; l++) dst[l] = a[l] < 0 ? 0.0f : xp[a[l]];
        dst += L;
        continue;
      }
      for (int64_t oh = 0; oh < g->Ho; oh++, dst += Wo) {
        int64_t ih = nn_conv_in_coord(oh, ki, g->sh, g->ph, g->dh, g->H);
        if (ih < 0) {                                 /* a row of padding */
          for (int64_t ow = 0; ow < Wo; ow++) dst[ow] = 0.0f;
          continue;
        }
        const float *xrow = xp + ih * g->W;
        for (int64_t ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
        if (sw == 1)
          for (int64_t ow = lo; ow < hi; ow++) dst[ow] = xrow[ow + off];
        else
          for (int64_t ow = lo; ow < hi; ow++) dst[ow] = xrow[ow * sw + off];
        for (int64_t ow = hi; ow < Wo; ow++) dst[ow] = 0.0f;
      }
    }
  }
}

/* (9) dx = col2im(dcols): one task per plane (b, c) of dx, which only the
** rows (c, ., .) of dcols write, so no two threads touch one pixel.  The
** plane starts at 0 and each entry is added to the pixel it was read from,
** taps (ki, kj) in order: per pixel the order of nn_col2im_pixel, the
** CUDA gather.  The planes go channel by channel, images inside: plane
** (b, c) reads a run of L floats from each of the KK rows of channel c, and
** plane (b + 1, c) the runs right after them, so each row is read front to
** back (images outside, the runs jumped between rows and missed the cache). */
static void col2im_cpu (float *dx, const float *dcols, const nn_conv_geom *g) {
  int64_t L = g->Ho * g->Wo, BL = g->B * L, HW = g->H * g->W, planes = g->B * g->C;
  #pragma omp parallel for schedule(static) if (planes * HW > CONV_PARALLEL_MIN)
  for (int64_t t = 0; t < planes; t++) {
    int64_t c = t / g->B, b = t % g->B;
    float *xp = dx + (b * g->C + c) * HW;
    for (int64_t i = 0; i < HW; i++) xp[i] = 0.0f;
    for (int64_t ki = 0; ki < g->kh; ki++)
      for (int64_t kj = 0; kj < g->kw; kj++) {
        int64_t r = (c * g->kh + ki) * g->kw + kj;
        const float *src = dcols + r * BL + b * L;
        int64_t lo, hi, sw = g->sw;
        valid_cols(g, kj, &lo, &hi);
        int64_t off = kj * g->dw - g->pw;            /* iw = ow sw + off */
        for (int64_t oh = 0; oh < g->Ho; oh++) {
          int64_t ih = nn_conv_in_coord(oh, ki, g->sh, g->ph, g->dh, g->H);
          if (ih < 0) continue;
          float *xrow = xp + ih * g->W;
          const float *srow = src + oh * g->Wo;
          if (sw == 1)
            for (int64_t ow = lo; ow < hi; ow++) xrow[ow + off] += srow[ow];
          else
            for (int64_t ow = lo; ow < hi; ow++) xrow[ow * sw + off] += srow[ow];
        }
      }
  }
}

/* (3) y (B, Cout, L) = mat (Cout, B L) moved to NCHW, + bias; mat NULL:
** y += bias in place (the 1x1 path, whose GEMMs write y directly). */
static void unpack_cpu (float *y, const float *mat, const float *bias, const nn_conv_geom *g) {
  int64_t L = g->Ho * g->Wo, BL = g->B * L, rows = g->B * g->Cout;
  if (mat == NULL && bias == NULL) return;
  #pragma omp parallel for schedule(static) if (rows * L > CONV_PARALLEL_MIN)
  for (int64_t t = 0; t < rows; t++) {
    int64_t b = t / g->Cout, o = t % g->Cout;
    float *yr = y + t * L;
    const float *src = mat ? mat + o * BL + b * L : yr;
    float bv = bias ? bias[o] : 0.0f;
    for (int64_t l = 0; l < L; l++) yr[l] = src[l] + bv;
  }
}

/* (5) mat (Cout, B L) = grad_y (B, Cout, L) moved back */
static void pack_cpu (float *mat, const float *gy, const nn_conv_geom *g) {
  int64_t L = g->Ho * g->Wo, BL = g->B * L, rows = g->B * g->Cout;
  #pragma omp parallel for schedule(static) if (rows * L > CONV_PARALLEL_MIN)
  for (int64_t t = 0; t < rows; t++) {
    int64_t b = t / g->Cout, o = t % g->Cout;
    const float *src = gy + t * L;
    float *dst = mat + o * BL + b * L;
    for (int64_t l = 0; l < L; l++) dst[l] = src[l];
  }
}

/* (6) db = beta db + sum over b, l of grad_y (B, Cout, L), in double, one
** channel per task, in BatchNorm's four interleaved partial sums
** (NN_BN_SUM4, batchnorm.h): one running sum was a chain of dependent
** double adds, four cycles each, and the chain, not the memory, set the
** pace.  The order depends on the shape alone. */
static void bias_grad_cpu (float *db, const float *gy, const nn_conv_geom *g, float beta) {
  int64_t B = g->B, L = g->Ho * g->Wo, C = g->Cout;        /* NN_BN_SUM4's names */
  #pragma omp parallel for schedule(static) if (B * C * L > CONV_PARALLEL_MIN)
  for (int64_t o = 0; o < C; o++) {
    double s[4] = { 0.0, 0.0, 0.0, 0.0 };
    const float *src;
    NN_BN_SUM4(s, src = gy + (b * C + o) * L, (double)src[l]);
    db[o] = nn_conv_bias_grad(db[o], NN_BN_TOTAL(s), beta);
  }
}

/* --- dispatch by device ---------------------------------------------------------------- */

/* out (M, N) = op(a) op(b) + beta out, row-major, out contiguous; the
** sizes fit int (conv_geometry checked them) */
static int gemm (nn_device dev, float *out, const float *a, const float *b, int64_t M,
                 int64_t N, int64_t K, int trans_a, int trans_b, int64_t lda, int64_t ldb,
                 float beta) {
  if (dev == NN_CUDA)
    return cuda_matmul(out, a, b, (int)M, (int)N, (int)K, trans_a, trans_b, (int)lda,
                       (int)ldb, 1.0f, beta);
  return cpu_matmul(out, a, b, (int)M, (int)N, (int)K, trans_a, trans_b, (int)lda, (int)ldb,
                    1.0f, beta);
}

/* The threads that take `tasks` tasks of run_tasks at once (groups, slots
** or 1x1 products): all of them, or 1 (the tasks in turn) when there are
** fewer tasks than threads */
static int team_for (int64_t tasks) {
#ifdef _OPENMP
  int threads = omp_get_max_threads();
  return tasks >= threads ? threads : 1;
#else
  (void)tasks;
  return 1;
#endif
}

static int unpack (nn_device dev, float *y, const float *mat, const float *bias,
                   const nn_conv_geom *g) {
  if (dev == NN_CUDA) return nncuda_conv2d_unpack(y, mat, bias, g);
  unpack_cpu(y, mat, bias, g);
  return NN_OK;
}

static int bias_grad (nn_device dev, float *db, const float *gy, const nn_conv_geom *g,
                      float beta) {
  if (dev == NN_CUDA) return nncuda_conv2d_bias_grad(db, gy, g, beta);
  bias_grad_cpu(db, gy, g, beta);
  return NN_OK;
}

/* A scratch matrix (rows, n) on x's device, its storage kept when large
** enough (tensor_resize) */
static int scratch (nn_tensor *t, int64_t rows, int64_t n, const nn_tensor *x, const char *what) {
  if (t == NULL)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "conv2d: the scratch tensor %s is missing", what);
  int rc = check_device(t, x, NN_ROLE_OUT, what);
  int64_t shape[2] = { rows, n };
  if (rc == NN_OK) rc = tensor_resize(t, 2, shape);
  return rc;
}

/* --- the CPU: the batch in groups of images ------------------------------------------- */

/* On the CPU the products run on a few images at a time, not on the whole
** batch: a group's columns matrix (C kh kw, n L) stays in the core's cache
** between the im2col that writes it and the GEMMs that read it, where the
** whole batch's is megabytes (14.5 MB for 14x14x32 -> 64 at batch 64) that
** left the core's cache and came back once for each pass (im2col, forward
** GEMM, dW, the zeroing and writing of dcols, col2im).  The groups are spread over the
** threads, each with its own slabs of the scratch tensors; inside, the
** GEMMs run on one thread (cpu_gemm inside a parallel region).
**   - A group holds the images whose columns fit CONV_GROUP_BYTES (at
**     least one), and at most B / CONV_MIN_GROUPS of them when the batch
**     has CONV_MIN_GROUPS images or more; the last group may have fewer.
**   - dW sums over the groups in `slots` partial sums (at most CONV_SLOTS,
**     and at most CONV_SLOT_FLOATS floats of them): slot s takes groups s,
**     s + slots, ... in order, and the slots are added in order at the end.
** Every count above depends on the shapes alone, never on the thread
** count, so a seed gives the same bits on any number of threads.  Who runs
** a group is the only thing the thread count decides: with fewer groups
** (or slots) than threads, the groups run in turn, each product on all the
** threads (a tile of cpu_gemm gives the same bits on any thread). */
#define CONV_GROUP_BYTES (512 * 1024)
#define CONV_MIN_GROUPS 8
#define CONV_SLOTS 8
#define CONV_SLOT_FLOATS (INT64_C(1) << 22)

typedef struct conv_groups {
  int64_t per, count;     /* images per group (the last may have fewer), groups */
  int64_t slots;          /* dW's partial sums */
} conv_groups;

static conv_groups groups_of (const nn_conv_geom *g) {
  double image = (double)g->C * g->kh * g->kw * g->Ho * g->Wo * sizeof(float);
  conv_groups q;
  q.per = image >= CONV_GROUP_BYTES ? 1 : (int64_t)(CONV_GROUP_BYTES / image);
  if (g->B >= CONV_MIN_GROUPS && q.per > g->B / CONV_MIN_GROUPS) q.per = g->B / CONV_MIN_GROUPS;
  if (q.per > g->B) q.per = g->B;
  q.count = (g->B + q.per - 1) / q.per;
  int64_t wnumel = g->Cout * (g->C / g->groups) * g->kh * g->kw;
  q.slots = q.count < CONV_SLOTS ? q.count : CONV_SLOTS;
  while (q.slots > 1 && q.slots * wnumel > CONV_SLOT_FLOATS) q.slots--;
  return q;
}

static int thread_id (void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* g with its batch cut to the n images of a group */
static nn_conv_geom group_geom (const nn_conv_geom *g, int64_t n) {
  nn_conv_geom sub = *g;
  sub.B = n;
  return sub;
}

/* One job of tasks (run_tasks): the pointers and sizes every task reads.
** The grouped CPU path's also has its slabs at cbase (cols), mbase (mat),
** dcbase (grad_cols) and the slots' partial sums of dW at part (backward);
** the 1x1 path's runs on either device, dev. */
typedef struct conv_job {
  const nn_conv_geom *g;
  nn_device dev;
  conv_groups q;
  int64_t nL;                                 /* the columns of a full group */
  float *cbase, *mbase, *dcbase, *part, *yp, *dxp;
  const float *xp, *wp, *bp, *gp;
} conv_job;

/* (2), (3) for group k on the calling thread's slabs */
static int forward_group (const conv_job *j, int64_t k) {
  const nn_conv_geom *g = j->g;
  int64_t G = g->groups, Cog = g->Cout / G, CKKg = g->C / G * g->kh * g->kw, L = g->Ho * g->Wo;
  int64_t b0 = k * j->q.per, n = g->B - b0 < j->q.per ? g->B - b0 : j->q.per;
  nn_conv_geom sub = group_geom(g, n);
  int t = thread_id();
  float *cp = j->cbase + t * g->C * g->kh * g->kw * j->nL, *mp = j->mbase + t * g->Cout * j->nL;
  im2col_cpu(cp, j->xp + b0 * g->C * g->H * g->W, &sub);                           /* (2) */
  for (int64_t i = 0; i < G; i++)                                                   /* (3) */
    cpu_matmul(mp + i * Cog * n * L, j->wp + i * Cog * CKKg, cp + i * CKKg * n * L, (int)Cog,
               (int)(n * L), (int)CKKg, 0, 0, (int)CKKg, (int)(n * L), 1.0f, 0.0f);
  unpack_cpu(j->yp + b0 * g->Cout * L, mp, j->bp, &sub);                            /* (3) */
  return NN_OK;
}

/* (2), (4), (5), (7), (8) for the groups of slot s, in order, on the calling
** thread's slabs; the slot's dW goes to its partial sum */
static int backward_slot (const conv_job *j, int64_t s) {
  const nn_conv_geom *g = j->g;
  int64_t G = g->groups, Cog = g->Cout / G, CKKg = g->C / G * g->kh * g->kw, L = g->Ho * g->Wo;
  int64_t CKK = g->C * g->kh * g->kw, wnumel = g->Cout * CKKg;
  int t = thread_id();
  float *cp = j->cbase + t * CKK * j->nL, *mp = j->mbase + t * g->Cout * j->nL;
  float *dcp = j->dcbase != NULL ? j->dcbase + t * CKK * j->nL : NULL;
  for (int64_t k = s; k < j->q.count; k += j->q.slots) {
    int64_t b0 = k * j->q.per, n = g->B - b0 < j->q.per ? g->B - b0 : j->q.per;
    nn_conv_geom sub = group_geom(g, n);
    im2col_cpu(cp, j->xp + b0 * g->C * g->H * g->W, &sub);                          /* (2) */
    pack_cpu(mp, j->gp + b0 * g->Cout * L, &sub);                                    /* (4) */
    for (int64_t i = 0; i < G; i++)     /* (5) the slot's dW += G_g cols_g^T, the first sets */
      cpu_matmul(j->part + s * wnumel + i * Cog * CKKg, mp + i * Cog * n * L,
                 cp + i * CKKg * n * L, (int)Cog, (int)CKKg, (int)(n * L), 0, 1, (int)(n * L),
                 (int)(n * L), 1.0f, k == s ? 0.0f : 1.0f);
    if (dcp == NULL) continue;
    for (int64_t i = 0; i < G; i++)                                                  /* (7) */
      cpu_matmul(dcp + i * CKKg * n * L, j->wp + i * Cog * CKKg, mp + i * Cog * n * L,
                 (int)CKKg, (int)(n * L), (int)Cog, 1, 0, (int)CKKg, (int)(n * L), 1.0f, 0.0f);
    col2im_cpu(j->dxp + b0 * g->C * g->H * g->W, dcp, &sub);                         /* (8), (9) */
  }
  return NN_OK;
}

/* The tasks 0 .. n-1 of job j, fn(j, task): over a team of `team` threads,
** or in turn on this thread outside any parallel region when team is 1, so
** that the OpenMP regions inside (im2col's, cpu_gemm's tiles) are not
** nested: libgomp starts new threads for every nested region, and a region
** with if(0) still counts (one image through the reference CNN took 897 to
** 1564 us that way, 428 to 597 us without: bench_nnlua.lua cnninfer).
** Returns the first task's error in turn; a team runs CPU tasks, which
** cannot fail.  The CUDA tasks (the 1x1 path's) always run in turn. */
static int run_tasks (const conv_job *j, int64_t n, int team,
                      int (*fn) (const conv_job *, int64_t)) {
  int rc = NN_OK;
  if (team <= 1) {
    for (int64_t k = 0; rc == NN_OK && k < n; k++) rc = fn(j, k);
    return rc;
  }
  #pragma omp parallel for schedule(dynamic, 1) num_threads(team)
  for (int64_t k = 0; k < n; k++) fn(j, k);
  return NN_OK;
}

/* PER_IMAGE_PARALLEL.  The 1x1 path's forward and dx are one product per
** image and group, task t = (b, g), each writing its own rows.  On the CPU
** they are run_tasks' tasks: with at least as many as threads the threads
** take whole products, as cpu_matmul_batched does for small matrices
** (inside the region cpu_gemm runs single-threaded); with fewer (one image)
** they run in turn, each on every thread.  A product's bits do not depend
** on the thread that computes it, nor on how many threads cpu_gemm's tiles
** go to (cpu_gemm.c).  dW sums over the images, in image order, serially. */
static int pointwise_team (nn_device dev, const nn_conv_geom *g) {
  return dev == NN_CPU ? team_for(g->B * g->groups) : 1;
}

/* (3) with cols = x: Y_{g,b} = W_g x_{g,b}, straight into y's rows */
static int pointwise_forward (const conv_job *j, int64_t t) {
  const nn_conv_geom *g = j->g;
  int64_t Cg = g->C / g->groups, Cog = g->Cout / g->groups, L = g->Ho * g->Wo, k = t % g->groups;
  return gemm(j->dev, j->yp + t * Cog * L, j->wp + k * Cog * Cg, j->xp + t * Cg * L, Cog, L, Cg,
              0, 0, Cg, L, 0.0f);
}

/* (7), (8) with col2im = identity: dx_{g,b} = W_g^T g_{g,b} */
static int pointwise_dx (const conv_job *j, int64_t t) {
  const nn_conv_geom *g = j->g;
  int64_t Cg = g->C / g->groups, Cog = g->Cout / g->groups, L = g->Ho * g->Wo, k = t % g->groups;
  return gemm(j->dev, j->dxp + t * Cg * L, j->wp + k * Cog * Cg, j->gp + t * Cog * L, Cg, L, Cog,
              1, 0, Cg, L, 0.0f);
}

/* (2), (3) on the CPU, a group at a time: cols (team, C kh kw n L) and mat
** (team, Cout n L) are the slabs of the team's threads */
static int conv2d_forward_cpu (float *yp, nn_tensor *cols, nn_tensor *mat, const float *xp,
                               const float *wp, const float *bp, const nn_conv_geom *g,
                               const nn_tensor *x) {
  conv_job j = { .g = g, .q = groups_of(g), .yp = yp, .xp = xp, .wp = wp, .bp = bp };
  j.nL = j.q.per * g->Ho * g->Wo;
  int team = team_for(j.q.count);
  int rc = scratch(cols, team, g->C * g->kh * g->kw * j.nL, x, "cols");
  if (rc == NN_OK) rc = scratch(mat, team, g->Cout * j.nL, x, "mat");
  if (rc != NN_OK) return rc;
  j.cbase = tensor_data(cols);
  j.mbase = tensor_data(mat);
  return run_tasks(&j, j.q.count, team, forward_group);
}

/* (2), (4), (5), (7), (8) on the CPU, a group at a time: cols and grad_cols
** (team, C kh kw n L) and the first part of mat (team, Cout n L) are the
** slabs of the team's threads, its second part the slots' partial sums of
** dW (slots, Cout C/G kh kw).  dx NULL: no (7), (8). */
static int conv2d_backward_cpu (float *dxp, float *dwp, nn_tensor *cols, nn_tensor *mat,
                                nn_tensor *grad_cols, const float *gp, const float *xp,
                                const float *wp, const nn_conv_geom *g, float beta,
                                const nn_tensor *x) {
  conv_job j = { .g = g, .q = groups_of(g), .dxp = dxp, .xp = xp, .wp = wp, .gp = gp };
  j.nL = j.q.per * g->Ho * g->Wo;
  int64_t CKK = g->C * g->kh * g->kw, wnumel = g->Cout * (g->C / g->groups) * g->kh * g->kw;
  int team = team_for(j.q.slots);
  int rc = scratch(cols, team, CKK * j.nL, x, "cols");
  if (rc == NN_OK) rc = scratch(mat, 1, team * g->Cout * j.nL + j.q.slots * wnumel, x, "mat");
  if (rc == NN_OK && dxp != NULL) rc = scratch(grad_cols, team, CKK * j.nL, x, "grad_cols");
  if (rc != NN_OK) return rc;
  j.cbase = tensor_data(cols);
  j.mbase = tensor_data(mat);
  j.dcbase = dxp != NULL ? tensor_data(grad_cols) : NULL;
  j.part = j.mbase + team * g->Cout * j.nL;
  run_tasks(&j, j.q.slots, team, backward_slot);
  /* (5) dW = beta dW + the slots' sums, in slot order */
  float *part = j.part;
  int64_t slots = j.q.slots;
  #pragma omp parallel for schedule(static) if (wnumel * slots > CONV_PARALLEL_MIN)
  for (int64_t i = 0; i < wnumel; i++) {
    float v = part[i];
    for (int64_t s = 1; s < slots; s++) v += part[s * wnumel + i];
    dwp[i] = beta == 0.0f ? v : beta * dwp[i] + v;
  }
  return NN_OK;
}

/*
** Conv2d:  y = W * x + b,  a cross-correlation, as every framework computes it
**
** Shapes   x: (B, C, H, W)    W: (Cout, C/G, kh, kw)    b: (Cout)    G = groups
**          y, g = dL/dy: (B, Cout, Ho, Wo),  Ho = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1
**          (Wo likewise): s stride, p zero padding, d dilation, each a (h, w) pair.
**   Output channel o sees the C/G input channels of its group, o / (Cout/G).
**
** Forward
**   y_{b,o,oh,ow} = b_o + \sum_{c'<C/G} \sum_{ki<kh} \sum_{kj<kw}
**                   W_{o,c',ki,kj} x_{b, c, oh sh - ph + ki dh, ow sw - pw + kj dw}       \tag{1}
**   with c = (o / (Cout/G)) (C/G) + c', and x = 0 outside the image (the padding).
**
** im2col turns (1) into one matrix product.  Unroll every patch the kernel
** sees into a column: the columns matrix has a row per kernel entry
** r = (c, ki, kj) and a column per output position j = (b, oh, ow),
**   cols_{r,j} = x_{b, c, oh sh - ph + ki dh, ow sw - pw + kj dw}   (0 in the padding)  \tag{2}
** (nn_im2col_src, conv.h; dilation spaces the taps out, stride the patches).
** For one 1x4x4 image, a 3x3 kernel, stride 1, no padding (Ho = Wo = 2):
**
**     x (4x4)          cols (C kh kw = 9 rows, Ho Wo = 4 columns)
**                         column j = (oh, ow):  (0,0) (0,1) (1,0) (1,1)
**    a b c d          row r = (ki, kj) (0,0)     a     b     e     f
**    e f g h                           (0,1)     b     c     f     g
**    i j k l                           (0,2)     c     d     g     h
**    m n o p                           (1,0)     e     f     i     j
**                                      (1,1)     f     g     j     k
**    the 3x3 patch at                  (1,2)     g     h     k     l
**    (oh, ow) = (0, 1):                (2,0)     i     j     m     n
**      b c d                           (2,1)     j     k     n     o
**      f g h  = column 2               (2,2)     k     l     o     p
**      j k l
**
** Each column holds one patch; each row one tap slid over the image.  With
** W seen as a matrix W_mat (Cout, C/G kh kw), row o its kernel unrolled in
** the same (c', ki, kj) order, (1) is for each group g
**   Y_g = W_g cols_g,   y_{b,o,l} = Y_{o, b L + l} + b_o,   L = Ho Wo       \tag{3}
** W_g: rows [g Cout/G, (g+1) Cout/G) of W_mat, (Cout/G, C/G kh kw); cols_g:
** rows [g C/G kh kw, (g+1) C/G kh kw) of cols; Y (Cout, B L).  Groups make
** W block-diagonal over the channels: one GEMM per group, each over the
** whole batch (the B L columns), then one pass moves Y to NCHW and adds b.
**
** Backward, given g = dL/dy.  (3) is linear in W and in cols, and (2) is
** linear in x: cols = P x with P a 0/1 matrix (B L C kh kw, B C H W), one 1
** per row (the pixel read) or none (padding).  The chain rule:
**   dL/dY = G,  G_{o, b L + l} = g_{b,o,l}      (g moved to (Cout, B L))     \tag{4}
**   dL/dW_g = G_g cols_g^T                   (Cout/G, C/G kh kw)            \tag{5}
**     (Linear's dW = g^T x with the columns as the examples: a tap's weight
**     is shared by every position of every image, hence the sum over B L)
**   dL/db_o = \sum_b \sum_l g_{b,o,l}                                        \tag{6}
**   dL/dcols_g = W_g^T G_g                   (C/G kh kw, B L)               \tag{7}
**   dL/dx = P^T dL/dcols = col2im(dL/dcols)                                  \tag{8}
**   P^T, the adjoint of im2col, sends each entry back to the pixel it was
**   read from and adds up the entries that read the same pixel (a pixel
**   sits in up to kh kw patches); padding entries go nowhere:
**   dx_{b,c,ih,iw} = \sum_{ki,kj} dcols_{(c,ki,kj), (b,oh,ow)},  over the taps with
**     oh = (ih + ph - ki dh) / sh, ow = (iw + pw - kj dw) / sw whole and in range   \tag{9}
**   (nn_conv_out_coord, nn_col2im_pixel).
**
** Convention (llm.c): grad_x is overwritten; grad_weight and grad_bias are
** first scaled by beta, then get their share (beta 1: +=, beta 0: =).
** grad_x NULL skips (7) and (8): the first layer of a network.
** GEMMs (row-major, the project's cpu_matmul / cuBLAS), per group g:
**     (3) Y_g    = W_g cols_g       NoTrans, NoTrans  M = Cout/G     N = B L        K = C/G kh kw
**     (5) dW_g   = G_g cols_g^T     NoTrans, Trans    M = Cout/G     N = C/G kh kw  K = B L
**     (7) dcol_g = W_g^T G_g        Trans,   NoTrans  M = C/G kh kw  N = B L        K = Cout/G
** A 1x1 kernel with stride 1 and no padding has cols = x: image b's
** columns are x_b itself, (C, H W), and the products run per image on x
** and y directly (Y_{g,b} = W_g x_{g,b} lands in y's rows; dW sums over
** the images; dx_b = W_g^T g_b), with no im2col, no col2im and no moves.
**
** On the CPU the products above run on groups of a few images at a time
** (B L becomes n L, the group's columns; see "the batch in groups of
** images"), the same math, with the moves (3), (4) and col2im per group.
**
** The scratch tensors: cols (C kh kw, B L), mat (Cout, B L): Y in the
** forward, G in the backward, grad_cols (C kh kw, B L); each resized here
** on x's device (its storage kept when large enough) and unused (may be
** NULL) on the 1x1 path; grad_cols also when grad_x is NULL.  On the CPU
** they hold each thread's slabs of a group's matrices instead, and mat
** dW's partial sums too.  The GPU's backward needs (2) of x: cols_ready =
** 1 says cols still holds it from the forward (the layer knows; nothing
** here checks), 0 computes it again; the CPU computes each group's again
** (in the cache, cheaper than keeping the batch's).
** Sums: each GEMM's order is fixed by its shape (cpu_gemm.c), (6) runs in
** double per channel, (9) adds a pixel's taps in (ki, kj) order on both
** devices: the same bits on any thread count.
** Source: K. Chellapilla, S. Puri, P. Simard, "High Performance
** Convolutional Neural Networks for Document Processing", IWFHR 2006
** (the unrolling into a matrix product, sec. 3); Torch7's THNN
** SpatialConvolutionMM and Caffe's im2col/col2im (the layout, and col2im
** as a gather on the GPU); PyTorch's nn.Conv2d for the semantics (a
** cross-correlation; the output size; groups and dilation).
*/
int conv2d_output_shape (int64_t shape[4], const nn_tensor *x, const nn_tensor *weight,
                         const nn_conv2d_params *p) {
  nn_conv_geom g;
  int rc = conv_geometry(&g, x, weight, p, NN_ROLE_INPUT, NN_ROLE_INPUT + 1);
  if (rc != NN_OK) return rc;
  shape[0] = g.B; shape[1] = g.Cout; shape[2] = g.Ho; shape[3] = g.Wo;
  return NN_OK;
}

int conv2d_forward (nn_tensor *y, nn_tensor *cols, nn_tensor *mat, const nn_tensor *x,
                    const nn_tensor *weight, const nn_tensor *bias, const nn_conv2d_params *p) {
  nn_conv_geom g;
  int rc = conv_geometry(&g, x, weight, p, NN_ROLE_INPUT, NN_ROLE_INPUT + 1);
  if (rc == NN_OK) rc = check_vector(bias, g.Cout, NN_ROLE_INPUT + 2, "bias");
  if (rc == NN_OK) rc = check_shape4(y, g.B, g.Cout, g.Ho, g.Wo, NN_ROLE_OUT, "y");
  if (rc == NN_OK) rc = check_device(weight, x, NN_ROLE_INPUT + 1, "weight");
  if (rc == NN_OK) rc = check_device(bias, x, NN_ROLE_INPUT + 2, "bias");
  if (rc == NN_OK) rc = check_device(y, x, NN_ROLE_OUT, "y");
  if (rc != NN_OK || g.B == 0) return rc;
  nn_device dev = x->storage->device;
  int64_t G = g.groups, Cg = g.C / G, Cog = g.Cout / G, L = g.Ho * g.Wo, BL = g.B * L;
  int64_t CKKg = Cg * g.kh * g.kw;
  float *yp = tensor_data(y);
  const float *xp = tensor_data(x), *wp = tensor_data(weight);
  const float *bp = bias ? tensor_data(bias) : NULL;
  if (is_pointwise(&g)) {
    /* (3) with cols = x: Y_{g,b} = W_g x_{g,b} straight into y's rows, then + b;
       on the CPU the images are spread over the threads (PER_IMAGE_PARALLEL) */
    conv_job j = { .g = &g, .dev = dev, .yp = yp, .xp = xp, .wp = wp };
    rc = run_tasks(&j, g.B * G, pointwise_team(dev, &g), pointwise_forward);        /* (3) */
    if (rc == NN_OK) rc = unpack(dev, yp, NULL, bp, &g);                            /* (3) */
    return rc;
  }
  if (dev == NN_CPU) return conv2d_forward_cpu(yp, cols, mat, xp, wp, bp, &g, x);
  /* the GPU: the whole batch in each product */
  rc = scratch(cols, g.C * g.kh * g.kw, BL, x, "cols");
  if (rc == NN_OK) rc = scratch(mat, g.Cout, BL, x, "mat");
  if (rc != NN_OK) return rc;
  float *cp = tensor_data(cols), *mp = tensor_data(mat);
  rc = nncuda_im2col(cp, xp, &g);                                                   /* (2) */
  /* (3) Y_g = W_g cols_g: one GEMM per group over the whole batch */
  for (int64_t k = 0; rc == NN_OK && k < G; k++)
    rc = gemm(dev, mp + k * Cog * BL, wp + k * Cog * CKKg, cp + k * CKKg * BL, Cog, BL, CKKg,
              0, 0, CKKg, BL, 0.0f);                                                /* (3) */
  /* (3) y = Y in NCHW, + b */
  if (rc == NN_OK) rc = nncuda_conv2d_unpack(yp, mp, bp, &g);                       /* (3) */
  return rc;
}

int conv2d_backward (nn_tensor *grad_x, nn_tensor *grad_weight, nn_tensor *grad_bias,
                     nn_tensor *cols, nn_tensor *mat, nn_tensor *grad_cols,
                     const nn_tensor *grad_y, const nn_tensor *x, const nn_tensor *weight,
                     const nn_conv2d_params *p, int cols_ready, float beta) {
  nn_conv_geom g;
  int rc = conv_geometry(&g, x, weight, p, NN_ROLE_INPUT + 1, NN_ROLE_INPUT + 2);
  if (rc == NN_OK) rc = check_shape4(grad_y, g.B, g.Cout, g.Ho, g.Wo, NN_ROLE_GRAD_OUT,
                                     "grad_y");
  if (rc == NN_OK && grad_x != NULL)
    rc = check_shape4(grad_x, g.B, g.C, g.H, g.W, NN_ROLE_OUT, "grad_x");
  if (rc == NN_OK && (grad_weight->ndim != 4 || grad_weight->numel != weight->numel))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "conv2d: grad_weight must be %s, got %s",
                       shape_str(weight).s, shape_str(grad_weight).s);
  if (rc == NN_OK) rc = check_vector(grad_bias, g.Cout, NN_ROLE_OUT, "grad_bias");
  if (rc == NN_OK) rc = check_device(grad_y, x, NN_ROLE_GRAD_OUT, "grad_y");
  if (rc == NN_OK) rc = check_device(weight, x, NN_ROLE_INPUT + 2, "weight");
  if (rc == NN_OK) rc = check_device(grad_x, x, NN_ROLE_OUT, "grad_x");
  if (rc == NN_OK) rc = check_device(grad_weight, x, NN_ROLE_OUT, "grad_weight");
  if (rc == NN_OK) rc = check_device(grad_bias, x, NN_ROLE_OUT, "grad_bias");
  if (rc != NN_OK) return rc;
  nn_device dev = x->storage->device;
  const float *gp = tensor_data(grad_y), *xp = tensor_data(x), *wp = tensor_data(weight);
  float *dwp = tensor_data(grad_weight);
  /* (6) db = beta db + sum g over the batch and the positions (also for B = 0) */
  if (grad_bias != NULL) rc = bias_grad(dev, tensor_data(grad_bias), gp, &g, beta);  /* (6) */
  if (rc != NN_OK) return rc;
  if (g.B == 0)                        /* no example: dW = beta dW, dx is empty */
    return beta == 0.0f ? tensor_fill(grad_weight, 0.0)
                        : tensor_binary_scalar(grad_weight, grad_weight, beta, NN_MUL);
  int64_t G = g.groups, Cg = g.C / G, Cog = g.Cout / G, L = g.Ho * g.Wo, BL = g.B * L;
  int64_t CKKg = Cg * g.kh * g.kw;
  if (is_pointwise(&g)) {
    /* (5) dW_g = sum over images of g_{g,b} x_{g,b}^T: the first sets (beta), the rest add */
    for (int64_t b = 0; rc == NN_OK && b < g.B; b++)
      for (int64_t k = 0; rc == NN_OK && k < G; k++)
        rc = gemm(dev, dwp + k * Cog * Cg, gp + (b * g.Cout + k * Cog) * L,
                  xp + (b * g.C + k * Cg) * L, Cog, Cg, L, 0, 1, L, L,
                  b == 0 ? beta : 1.0f);                                            /* (5) */
    /* (7), (8) with col2im = identity: dx_{g,b} = W_g^T g_{g,b} */
    conv_job j = { .g = &g, .dev = dev, .dxp = grad_x ? tensor_data(grad_x) : NULL, .wp = wp,
                   .gp = gp };
    if (rc == NN_OK && grad_x != NULL)
      rc = run_tasks(&j, g.B * G, pointwise_team(dev, &g), pointwise_dx);            /* (7) */
    return rc;
  }
  if (dev == NN_CPU)
    return conv2d_backward_cpu(grad_x != NULL ? tensor_data(grad_x) : NULL, dwp, cols, mat,
                               grad_cols, gp, xp, wp, &g, beta, x);
  /* the GPU: the whole batch in each product */
  rc = scratch(cols, g.C * g.kh * g.kw, BL, x, "cols");
  if (rc == NN_OK) rc = scratch(mat, g.Cout, BL, x, "mat");
  if (rc == NN_OK && grad_x != NULL) rc = scratch(grad_cols, g.C * g.kh * g.kw, BL, x,
                                                  "grad_cols");
  if (rc != NN_OK) return rc;
  float *cp = tensor_data(cols), *mp = tensor_data(mat);
  if (!cols_ready) rc = nncuda_im2col(cp, xp, &g);                                  /* (2) */
  if (rc == NN_OK) rc = nncuda_conv2d_pack(mp, gp, &g);                             /* (4) */
  /* (5) dW_g = G_g cols_g^T + beta dW_g, one GEMM per group over the batch */
  for (int64_t k = 0; rc == NN_OK && k < G; k++)
    rc = gemm(dev, dwp + k * Cog * CKKg, mp + k * Cog * BL, cp + k * CKKg * BL, Cog, CKKg, BL,
              0, 1, BL, BL, beta);                                                  /* (5) */
  if (rc != NN_OK || grad_x == NULL) return rc;
  /* (7) dcols_g = W_g^T G_g, then (8) dx = col2im(dcols) */
  float *dcp = tensor_data(grad_cols);
  for (int64_t k = 0; rc == NN_OK && k < G; k++)
    rc = gemm(dev, dcp + k * CKKg * BL, wp + k * Cog * CKKg, mp + k * Cog * BL, CKKg, BL, Cog,
              1, 0, CKKg, BL, 0.0f);                                                /* (7) */
  if (rc == NN_OK) rc = nncuda_col2im(tensor_data(grad_x), dcp, &g);                /* (8), (9) */
  return rc;
}


/* --- the module ---------------------------------------------------------------- */

enum { WEIGHT, BIAS };                               /* m->param[] */
/* m->buffer[]: the scratch of the pair, not state (a checkpoint skips
** them): cols (C kh kw, B L), the GEMM's output or G (Cout, B L), dcols
** (on the CPU, the threads' slabs of them for a group of images).  They
** keep their storage while a batch fits it. */
enum { COLUMNS, MATRIX, GRAD_COLUMNS };
enum { IN_CHANNELS, OUT_CHANNELS, KERNEL_H, KERNEL_W, STRIDE_H, STRIDE_W, PADDING_H,
       PADDING_W, DILATION_H, DILATION_W, GROUPS, HAS_BIAS };   /* m->opt[] */
/* m->state: 1 when COLUMNS holds (2) of the kept input (the last forward
** succeeded off the 1x1 path), so backward on the GPU skips the im2col */

static nn_conv2d_params params_of (const nn_module *m) {
  nn_conv2d_params p = {
    .stride = { (int64_t)m->opt[STRIDE_H], (int64_t)m->opt[STRIDE_W] },
    .padding = { (int64_t)m->opt[PADDING_H], (int64_t)m->opt[PADDING_W] },
    .dilation = { (int64_t)m->opt[DILATION_H], (int64_t)m->opt[DILATION_W] },
    .groups = (int64_t)m->opt[GROUPS] };
  return p;
}

/* in_channels and out_channels split into groups */
static int conv2d_check_options (const double *opt) {
  double G = opt[GROUPS];
  if (fmod(opt[IN_CHANNELS], G) != 0.0 || fmod(opt[OUT_CHANNELS], G) != 0.0)
    return nn_seterr(NN_EARG, "Conv2d: in_channels (%.17g) and out_channels (%.17g) must both "
                     "be divisible by groups (%.17g)", opt[IN_CHANNELS], opt[OUT_CHANNELS], G);
  return NN_OK;
}

/* weight (Cout, C/G, kh, kw) and bias (Cout) ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
** fan_in = C/G kh kw: PyTorch's Conv2d.reset_parameters, kaiming_uniform_
** with a = sqrt(5) (gain sqrt(2 / (1 + 5)), bound gain sqrt(3 / fan_in)),
** weight drawn first, from the one seeded generator */
static int conv2d_init (nn_module *m) {
  int64_t Cout = (int64_t)m->opt[OUT_CHANNELS];
  int64_t Cg = (int64_t)m->opt[IN_CHANNELS] / (int64_t)m->opt[GROUPS], zero[2] = { 0, 0 };
  int64_t wshape[4] = { Cout, Cg, (int64_t)m->opt[KERNEL_H], (int64_t)m->opt[KERNEL_W] };
  int64_t bshape[1] = { Cout }, numel;
  int rc = nn_shape_numel(&numel, 4, wshape);
  if (rc != NN_OK) return nn_seterr(rc, "Conv2d: a weight of %lld x %lld x %lld x %lld is too "
                                    "large", (long long)wshape[0], (long long)wshape[1],
                                    (long long)wshape[2], (long long)wshape[3]);
  rc = module_new_param(m, WEIGHT, 4, wshape, 0.0f);
  if (rc == NN_OK && m->opt[HAS_BIAS] != 0) rc = module_new_param(m, BIAS, 1, bshape, 0.0f);
  for (int i = COLUMNS; rc == NN_OK && i <= GRAD_COLUMNS; i++)
    rc = module_new_buffer(m, i, 2, zero, 0.0f);
  float bound = (float)(1.0 / sqrt((double)Cg * wshape[2] * wshape[3]));
  if (rc == NN_OK) rc = tensor_uniform(m->param[WEIGHT], -bound, bound);
  if (rc == NN_OK && m->param[BIAS]) rc = tensor_uniform(m->param[BIAS], -bound, bound);
  m->state = 0;
  return rc;
}

/* "1 -> 32, kernel_size=3, stride=2": what differs from the defaults;
** a pair prints (h, w) when its two differ */
static void conv2d_describe (const nn_module *m, char *buf, size_t len) {
  static const struct { const char *name; int i; double dflt; } pairs[] = {
    { "kernel_size", KERNEL_H, -1 }, { "stride", STRIDE_H, 1 }, { "padding", PADDING_H, 0 },
    { "dilation", DILATION_H, 1 } };
  size_t n = (size_t)snprintf(buf, len, "%lld -> %lld", (long long)m->opt[IN_CHANNELS],
                              (long long)m->opt[OUT_CHANNELS]);
  for (size_t k = 0; k < sizeof pairs / sizeof pairs[0] && n < len; k++) {
    double h = m->opt[pairs[k].i], w = m->opt[pairs[k].i + 1];
    if (h == pairs[k].dflt && w == pairs[k].dflt) continue;
    if (h == w) n += (size_t)snprintf(buf + n, len - n, ", %s=%lld", pairs[k].name, (long long)h);
    else n += (size_t)snprintf(buf + n, len - n, ", %s=(%lld, %lld)", pairs[k].name,
                               (long long)h, (long long)w);
  }
  if (n < len && m->opt[GROUPS] != 1)
    n += (size_t)snprintf(buf + n, len - n, ", groups=%lld", (long long)m->opt[GROUPS]);
  if (n < len && m->opt[HAS_BIAS] == 0) snprintf(buf + n, len - n, ", bias=false");
}

static int conv2d_module_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)n;
  char name[160];
  module_describe(m, name, sizeof name);
  int64_t C = (int64_t)m->opt[IN_CHANNELS];
  nn_tensor t = { .ndim = in[0].ndim };
  for (int i = 0; i < in[0].ndim; i++) t.shape[i] = in[0].d[i];
  if (in[0].ndim != 4 || in[0].d[1] != C)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: expected input [B x %lld x H x W], "
                         "got %s", name, (long long)C, shape_str(&t).s);
  int64_t Ho = conv_out_size(in[0].d[2], (int64_t)m->opt[KERNEL_H], (int64_t)m->opt[STRIDE_H],
                             (int64_t)m->opt[PADDING_H], (int64_t)m->opt[DILATION_H]);
  int64_t Wo = conv_out_size(in[0].d[3], (int64_t)m->opt[KERNEL_W], (int64_t)m->opt[STRIDE_W],
                             (int64_t)m->opt[PADDING_W], (int64_t)m->opt[DILATION_W]);
  if (Ho < 1 || Wo < 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: the input %s is too small for the "
                         "kernel: %lldx%lld with padding %lldx%lld against a kernel of "
                         "%lldx%lld spanning %.17gx%.17g at dilation %lldx%lld", name,
                         shape_str(&t).s, (long long)in[0].d[2], (long long)in[0].d[3],
                         (long long)m->opt[PADDING_H], (long long)m->opt[PADDING_W],
                         (long long)m->opt[KERNEL_H], (long long)m->opt[KERNEL_W],
                         m->opt[DILATION_H] * (m->opt[KERNEL_H] - 1) + 1,
                         m->opt[DILATION_W] * (m->opt[KERNEL_W] - 1) + 1,
                         (long long)m->opt[DILATION_H], (long long)m->opt[DILATION_W]);
  *out = (nn_shape){ .ndim = 4, .d = { in[0].d[0], (int64_t)m->opt[OUT_CHANNELS], Ho, Wo } };
  return NN_OK;
}

static int conv2d_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  nn_conv2d_params p = params_of(m);
  m->state = 0;                         /* until this forward has filled the columns */
  int rc = conv2d_forward(m->output, m->buffer[COLUMNS], m->buffer[MATRIX], x[0],
                          m->param[WEIGHT], m->param[BIAS], &p);
  if (rc == NN_OK) m->state = 1;
  return rc;
}

static int conv2d_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  nn_conv2d_params p = params_of(m);
  float beta = (flags & NN_BACKWARD_OVERWRITE_GRADS) ? 0.0f : 1.0f;
  /* NN_BACKWARD_NO_GRAD_INPUT: (7) and (8), a GEMM and the col2im, skipped */
  nn_tensor *gx = (flags & NN_BACKWARD_NO_GRAD_INPUT) ? NULL : m->grad_input[0];
  return conv2d_backward(gx, m->grad[WEIGHT], m->grad[BIAS], m->buffer[COLUMNS],
                         m->buffer[MATRIX], m->buffer[GRAD_COLUMNS], g, m->input[0],
                         m->param[WEIGHT], &p, m->state, beta);
}

const nn_module_type conv2d_type = {
  .name = "Conv2d",
  .doc = "y = W * x + b, 2-D cross-correlation: x (B, C_in, H, W) -> y (B, C_out, H_out, "
         "W_out), W (C_out, C_in/groups, kH, kW), b (C_out)",
  .min_inputs = 1, .max_inputs = 1,
  .params = { "weight", "bias" }, .buffers = { "columns", "gemm_matrix", "grad_columns" },
  .options = {
    { .name = "in_channels", .kind = NN_OPT_INT, .positional = 1, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .doc = "C_in, the channels of x" },
    { .name = "out_channels", .kind = NN_OPT_INT, .positional = 2, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .doc = "C_out, the channels of y (the number of kernels)" },
    { .name = "kernel_size", .kind = NN_OPT_INT, .positional = 3, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .hw = 1, .doc = "kH, kW: k or {kH, kW}" },
    { .name = "kernel_size_w", .kind = NN_OPT_INT, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .hw_width = 1 },
    { .name = "stride", .kind = NN_OPT_INT, .dflt = 1, .min = 1, .max = NN_OPT_SIZE_MAX,
      .hw = 1, .doc = "the step between patches: s or {sH, sW}" },
    { .name = "stride_w", .kind = NN_OPT_INT, .dflt = 1, .min = 1, .max = NN_OPT_SIZE_MAX,
      .hw_width = 1 },
    { .name = "padding", .kind = NN_OPT_INT, .dflt = 0, .min = 0, .max = NN_OPT_SIZE_MAX,
      .hw = 1, .doc = "zeros added on each side: p or {pH, pW}" },
    { .name = "padding_w", .kind = NN_OPT_INT, .dflt = 0, .min = 0, .max = NN_OPT_SIZE_MAX,
      .hw_width = 1 },
    { .name = "dilation", .kind = NN_OPT_INT, .dflt = 1, .min = 1, .max = NN_OPT_SIZE_MAX,
      .hw = 1, .doc = "the spacing of the kernel's taps: d or {dH, dW}" },
    { .name = "dilation_w", .kind = NN_OPT_INT, .dflt = 1, .min = 1, .max = NN_OPT_SIZE_MAX,
      .hw_width = 1 },
    { .name = "groups", .kind = NN_OPT_INT, .dflt = 1, .min = 1, .max = NN_OPT_SIZE_MAX,
      .doc = "channel groups convolved apart (C_in and C_out divisible by it)" },
    { .name = "bias", .kind = NN_OPT_BOOL, .dflt = 1, .doc = "learn an additive bias b" },
  },
  .check_options = conv2d_check_options,
  .init = conv2d_init, .output_shape = conv2d_module_output_shape,
  .forward = conv2d_module_forward, .backward = conv2d_module_backward,
  .describe = conv2d_describe
};
