/*
** augment.h -- data augmentation of a batch of images x (B, C, H, W), as
** torchvision's RandomCrop(size, padding), RandomHorizontalFlip(p) and
** Normalize(mean, std), on either device.
**
** Why nn/ and not tensor/: these are not general tensor ops but the
** training recipe's image transforms, with a batch's image semantics
** (per-image random choices, channels) and with the one generator's draws,
** as Dropout (nn/dropout.c) is; tensor/ stays the generic op library they
** are built on.  The Lua side is lua/nn/data.lua (nn.data.RandomCrop, ...,
** and the DataLoader's transforms option), through vm/l_data.c.
**
** The random choices.  A call draws one Philox block (philox.h: four
** 32-bit numbers) per image from the framework's generator: image b of a
** call takes block block0 + b, block0 reserved by the call
** (nn_rng_reserve(B)), so nn.manual_seed(s) fixes every choice of an epoch.
** The choice is a pure function of (seed, block0 + b): the CPU loop
** computes it once per image, a CUDA thread computes it for its own pixel,
** and both get the same numbers; every formula below is integer arithmetic
** or a copy, or one float subtraction and division (Normalize): the two
** devices give the same bits.
*/
#ifndef NN_AUGMENT_H
#define NN_AUGMENT_H

#include <stdint.h>

#include "elementwise.h"
#include "nn_cuda.h"
#include "philox.h"

/* --- the draws ---------------------------------------------------------------- */

/* A whole number uniform in 0 .. n - 1, 1 <= n <= 2^32, from 32 random bits
** u: floor(u n / 2^32), the multiply-shift of D. Lemire ("Fast random
** integer generation in an interval", ACM TOMACS 29(1), 2019) without its
** rejection step: each value has probability within n / 2^32 of 1/n
** (below 2.5e-7 for a 1024-pixel range), a bias no statistics of training
** can see.  Exact integer arithmetic: the same on both devices. */
NN_HD int64_t nn_augment_below (uint32_t u, int64_t n) {
  return (int64_t)(((uint64_t)u * (uint64_t)n) >> 32);
}

/* RandomCrop's offsets of image b: the crop's first row `top` and column
** `left` in the padded image (H + 2 pad, W + 2 pad), uniform in 0 .. rows -
** 1 and 0 .. cols - 1 (rows = H + 2 pad - size_h + 1, cols likewise), as
** torchvision's torch.randint(0, h - th + 1) and (0, w - tw + 1).  From
** lanes 0 and 1 of Philox block block0 + b.  fixed_top >= 0: those offsets
** instead, for every image (nothing drawn: the specs' hook). */
NN_HD void nn_crop_offsets (int64_t *top, int64_t *left, uint64_t seed, uint64_t block0,
                            int64_t b, int64_t rows, int64_t cols, int64_t fixed_top,
                            int64_t fixed_left) {
  if (fixed_top >= 0) {
    *top = fixed_top;
    *left = fixed_left;
    return;
  }
  uint32_t r[4];
  philox_block(r, seed, block0 + (uint64_t)b);
  *top = nn_augment_below(r[0], rows);
  *left = nn_augment_below(r[1], cols);
}

/* Pixel (i, j) of the crop of one channel xc (H, W) at (top, left) of its
** zero-padded image: the padded image's (top + i, left + j), which is x's
** (top + i - pad, left + j - pad), or 0 where that falls in the padding
** (torchvision's default fill = 0, padding_mode = "constant"). */
NN_HD float nn_crop_pixel (const float *xc, int64_t H, int64_t W, int64_t pad, int64_t top,
                           int64_t left, int64_t i, int64_t j) {
  int64_t si = top + i - pad, sj = left + j - pad;
  return (si >= 0 && si < H && sj >= 0 && sj < W) ? xc[si * W + sj] : 0.0f;
}

/* RandomHorizontalFlip's choice for image b: flip when u < p, u uniform in
** [0, 1) from lane 0 of Philox block block0 + b (torchvision: torch.rand(1)
** < p).  p = 0 never flips, p = 1 always does. */
NN_HD int nn_flip_draw (uint64_t seed, uint64_t block0, int64_t b, float p) {
  uint32_t r[4];
  philox_block(r, seed, block0 + (uint64_t)b);
  return philox_u01(r[0]) < p;
}

/* The pair of columns (j, W - 1 - j) of one row, j <= (W - 1) / 2: out_row
** gets them swapped when flip, else as they are.  Both are read before
** either is written, so out_row may be x_row (in place); the middle column
** of an odd W is its own pair. */
NN_HD void nn_flip_pair (float *out_row, const float *x_row, int64_t W, int64_t j, int flip) {
  float a = x_row[j], z = x_row[W - 1 - j];
  out_row[j] = flip ? z : a;
  out_row[W - 1 - j] = flip ? a : z;
}

/* Normalize: (x - mean) / std, in float32 as torchvision's sub_ then div_. */
NN_HD float nn_normalize_value (float x, float mean, float std) { return (x - mean) / std; }

/* --- the batch functions (augment.c) ---------------------------------------------
** x: (B, C, H, W) float32, contiguous as every tensor; out: preallocated by
** the caller on x's device.  Errors name the transform: NN_ESHAPE (x not
** 4-D, blaming NN_ROLE_INPUT; out of the wrong shape, NN_ROLE_OUT), NN_EARG
** (a bad size, p or std), NN_EDEVICE. */

/* RandomCrop: out (B, C, size_h, size_w), image b the crop at its offsets
** (nn_crop_offsets) of x's image b zero-padded by `padding` on all four
** sides.  Draws B Philox blocks (none when fixed_top >= 0: every image
** cropped at (fixed_top, fixed_left), each in 0 .. H + 2 padding - size_h
** and 0 .. W + 2 padding - size_w).  out must not share x's memory.
** Errors: a size larger than the padded image (NN_EARG); a padded image
** past 2^31 - 1 rows or columns. */
int augment_random_crop (nn_tensor *out, const nn_tensor *x, int64_t size_h, int64_t size_w,
                         int64_t padding, int64_t fixed_top, int64_t fixed_left);
/* RandomHorizontalFlip: out (x's shape), each image flipped left-right
** with probability p in [0, 1].  Draws B Philox blocks.  out may be x (in
** place), not another view of its memory. */
int augment_random_hflip (nn_tensor *out, const nn_tensor *x, double p);
/* Normalize: out[b, c] = (x[b, c] - mean[c]) / std[c].  mean, std: host
** arrays of n floats, n = 1 (every channel) or C; each std > 0.  out may
** be x (in place), not another view of its memory. */
int augment_normalize (nn_tensor *out, const nn_tensor *x, const float *mean, const float *std,
                       int64_t n);

/* --- the CUDA launchers (cuda_augment.cu): device pointers, sizes checked ---------- */
NN_CUDA_FN(int nncuda_random_crop (float *out, const float *x, int64_t B, int64_t C, int64_t H,
                                   int64_t W, int64_t size_h, int64_t size_w, int64_t pad,
                                   uint64_t seed, uint64_t block0, int64_t fixed_top,
                                   int64_t fixed_left))
NN_CUDA_FN(int nncuda_random_hflip (float *out, const float *x, int64_t B, int64_t C,
                                    int64_t H, int64_t W, float p, uint64_t seed,
                                    uint64_t block0))
/* channel c of every image: count = B images of plane = H W values, C channels */
NN_CUDA_FN(int nncuda_normalize_channel (float *out, const float *x, int64_t B, int64_t C,
                                         int64_t plane, int64_t c, float mean, float std))

#endif
