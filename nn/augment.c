/*
** augment.c -- RandomCrop, RandomHorizontalFlip and Normalize on a batch of
** images (B, C, H, W): the checks, and the loop over the images on the CPU
** (OpenMP) or the launch of the CUDA kernels (cuda_augment.cu).  The
** formulas, and where the random choices come from, are in augment.h.
*/
#include <stdint.h>

#include "tensor.h"
#include "augment.h"

/* The CPU loops hand the images to the threads of the one OpenMP team as
** they come free; below PARALLEL_MIN values one thread does it all (waking
** the team costs more).  Each image's choice and pixels are the same
** whatever thread takes it: the results do not depend on the thread count. */
#define PARALLEL_MIN 65536

/* x is a float32 (B, C, H, W) batch, out on its device and, unless
** in_place_ok and out is x itself, apart from x's memory */
static int check_batch (const char *who, const nn_tensor *out, const nn_tensor *x,
                        int in_place_ok) {
  int rc = tensor_check_float(x, NN_ROLE_INPUT, who);
  if (rc != NN_OK) return rc;
  if (x->ndim != 4)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: expected x [B x C x H x W] (a batch "
                         "of images), got %s", who, shape_str(x).s);
  if ((rc = tensor_check_float(out, NN_ROLE_OUT, who)) != NN_OK) return rc;
  if (out->storage->device != x->storage->device)
    return nn_seterr_arg(NN_EDEVICE, NN_ROLE_OUT, "%s: out is on %s, x on %s", who,
                         device_name(out->storage->device), device_name(x->storage->device));
  int same = out->storage == x->storage && out->offset == x->offset && out->numel == x->numel;
  if (out->storage == x->storage && !(in_place_ok && same) && out->numel > 0 && x->numel > 0
      && out->offset < x->offset + (size_t)x->numel && x->offset < out->offset + (size_t)out->numel)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "%s: out shares memory with x %s%s", who,
                         shape_str(x).s, in_place_ok ? " (only out = x itself, in place, may)"
                                                     : "");
  return NN_OK;
}

/* out has x's shape but for the last two dims, which are (oh, ow) */
static int check_out_shape (const char *who, const nn_tensor *out, const nn_tensor *x,
                            int64_t oh, int64_t ow) {
  if (out->ndim != 4 || out->shape[0] != x->shape[0] || out->shape[1] != x->shape[1]
      || out->shape[2] != oh || out->shape[3] != ow)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: out must be [%lldx%lldx%lldx%lld], got %s",
                         who, (long long)x->shape[0], (long long)x->shape[1], (long long)oh,
                         (long long)ow, shape_str(out).s);
  return NN_OK;
}

int augment_random_crop (nn_tensor *out, const nn_tensor *x, int64_t size_h, int64_t size_w,
                         int64_t padding, int64_t fixed_top, int64_t fixed_left) {
  const char *who = "RandomCrop";
  int rc = check_batch(who, out, x, 0);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  if (size_h < 1 || size_w < 1)
    return nn_seterr(NN_EARG, "%s: size must be positive, got %lldx%lld", who,
                     (long long)size_h, (long long)size_w);
  /* the padded image's sides, and the number of offsets along each: at
  ** most 2^31 - 1, so the draws' n <= 2^32 and no sum below overflows */
  if (padding < 0 || padding > (INT64_C(1) << 30) || H + 2 * padding > INT32_MAX
      || W + 2 * padding > INT32_MAX)
    return nn_seterr(NN_EARG, "%s: padding %lld on x %s: the padded image must have at most "
                     "2^31 - 1 rows and columns", who, (long long)padding, shape_str(x).s);
  int64_t Hp = H + 2 * padding, Wp = W + 2 * padding;
  if (size_h > Hp || size_w > Wp)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "%s: size %lldx%lld is larger than the padded "
                         "image %lldx%lld (x %s, padding %lld)", who, (long long)size_h,
                         (long long)size_w, (long long)Hp, (long long)Wp, shape_str(x).s,
                         (long long)padding);
  int64_t rows = Hp - size_h + 1, cols = Wp - size_w + 1;
  if (fixed_top >= 0 && (fixed_top >= rows || fixed_left < 0 || fixed_left >= cols))
    return nn_seterr(NN_EARG, "%s: the offsets (%lld, %lld) must be in 0 .. %lld and 0 .. %lld",
                     who, (long long)fixed_top, (long long)fixed_left, (long long)(rows - 1),
                     (long long)(cols - 1));
  if ((rc = check_out_shape(who, out, x, size_h, size_w)) != NN_OK) return rc;
  /* one Philox block per image (B = 0: none) */
  uint64_t seed, unused;
  nn_rng_get_state(&seed, &unused);
  uint64_t block0 = fixed_top >= 0 ? 0 : nn_rng_reserve((uint64_t)B);
  if (out->numel == 0) return NN_OK;
  float *o = tensor_data(out);
  const float *xp = tensor_data(x);
  if (x->storage->device == NN_CUDA)
    return nncuda_random_crop(o, xp, B, C, H, W, size_h, size_w, padding, seed, block0,
                              fixed_top, fixed_left);
  int64_t in_image = C * H * W, out_image = C * size_h * size_w;
  #pragma omp parallel for schedule(dynamic, 1) if (out->numel >= PARALLEL_MIN)
  for (int64_t b = 0; b < B; b++) {
    int64_t top, left;
    nn_crop_offsets(&top, &left, seed, block0, b, rows, cols, fixed_top, fixed_left);
    for (int64_t c = 0; c < C; c++) {
      const float *xc = xp + b * in_image + c * H * W;
      float *oc = o + b * out_image + c * size_h * size_w;
      for (int64_t i = 0; i < size_h; i++)
        for (int64_t j = 0; j < size_w; j++)
          oc[i * size_w + j] = nn_crop_pixel(xc, H, W, padding, top, left, i, j);
    }
  }
  return NN_OK;
}

int augment_random_hflip (nn_tensor *out, const nn_tensor *x, double p) {
  const char *who = "RandomHorizontalFlip";
  int rc = check_batch(who, out, x, 1);
  if (rc != NN_OK) return rc;
  if (!(p >= 0.0 && p <= 1.0))
    return nn_seterr(NN_EARG, "%s: p must be in [0, 1], got %g", who, p);
  int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  if ((rc = check_out_shape(who, out, x, H, W)) != NN_OK) return rc;
  uint64_t seed, unused;
  nn_rng_get_state(&seed, &unused);
  uint64_t block0 = nn_rng_reserve((uint64_t)B);
  if (x->numel == 0) return NN_OK;
  float *o = tensor_data(out);
  const float *xp = tensor_data(x);
  if (x->storage->device == NN_CUDA)
    return nncuda_random_hflip(o, xp, B, C, H, W, (float)p, seed, block0);
  int64_t rows = C * H;                     /* the rows of one image */
  #pragma omp parallel for schedule(dynamic, 1) if (x->numel >= PARALLEL_MIN)
  for (int64_t b = 0; b < B; b++) {
    int flip = nn_flip_draw(seed, block0, b, (float)p);
    for (int64_t r = 0; r < rows; r++) {
      const float *xr = xp + (b * rows + r) * W;
      float *orow = o + (b * rows + r) * W;
      for (int64_t j = 0; j <= (W - 1) / 2; j++) nn_flip_pair(orow, xr, W, j, flip);
    }
  }
  return NN_OK;
}

int augment_normalize (nn_tensor *out, const nn_tensor *x, const float *mean, const float *std,
                       int64_t n) {
  const char *who = "Normalize";
  int rc = check_batch(who, out, x, 1);
  if (rc != NN_OK) return rc;
  int64_t B = x->shape[0], C = x->shape[1], plane = x->shape[2] * x->shape[3];
  if (n != 1 && n != C)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s: mean and std have %lld values but x "
                         "%s has %lld channels (give 1 value, or 1 per channel)", who,
                         (long long)n, shape_str(x).s, (long long)C);
  for (int64_t k = 0; k < n; k++)
    if (!(std[k] > 0.0f))
      return nn_seterr(NN_EARG, "%s: std must be > 0, got %g (value %lld)", who,
                       (double)std[k], (long long)k + 1);
  if ((rc = check_out_shape(who, out, x, x->shape[2], x->shape[3])) != NN_OK) return rc;
  if (x->numel == 0) return NN_OK;
  float *o = tensor_data(out);
  const float *xp = tensor_data(x);
  if (x->storage->device == NN_CUDA) {
    /* one launch per channel, its mean and std passed by value: no device
    ** copy of the lists (C is 1 or 3 for images) */
    for (int64_t c = 0; c < C && rc == NN_OK; c++)
      rc = nncuda_normalize_channel(o, xp, B, C, plane, c, mean[n == 1 ? 0 : c],
                                    std[n == 1 ? 0 : c]);
    return rc;
  }
  #pragma omp parallel for schedule(dynamic, 1) if (x->numel >= PARALLEL_MIN)
  for (int64_t bc = 0; bc < B * C; bc++) {
    int64_t c = bc % C;
    float m = mean[n == 1 ? 0 : c], s = std[n == 1 ? 0 : c];
    const float *xc = xp + bc * plane;
    float *oc = o + bc * plane;
    for (int64_t k = 0; k < plane; k++) oc[k] = nn_normalize_value(xc[k], m, s);
  }
  return NN_OK;
}
