/*
** cuda_augment.cu -- the CUDA kernels of RandomCrop, RandomHorizontalFlip
** and Normalize (augment.c checks, augment.h holds the formulas).
**
** Each kernel runs the NN_HD functions the CPU loop calls, one thread per
** output pixel (crop, normalize) or per pair of columns (flip, so that it
** can work in place), and each thread computes its image's random choice
** itself from Philox block block0 + b: the same choice as the CPU's, with
** no per-image list to copy to the device.  A crop thread recomputes its
** image's block (ten Philox rounds, a few dozen integer operations): cheap
** beside the load and the store, and the stores stay coalesced.
*/
#include "cuda_util.cuh"
#include "augment.h"

/* out (B, C, sh, sw): pixel k = ((b C + c) sh + i) sw + j */
static __global__ void random_crop_kernel (float *out, const float *x, int64_t B, int64_t C,
                                           int64_t H, int64_t W, int64_t sh, int64_t sw,
                                           int64_t pad, uint64_t seed, uint64_t block0,
                                           int64_t fixed_top, int64_t fixed_left) {
  int64_t rows = H + 2 * pad - sh + 1, cols = W + 2 * pad - sw + 1;
  GRID_STRIDE(k, B * C * sh * sw) {
    int64_t j = (int64_t)k % sw, i = (int64_t)k / sw % sh;
    int64_t bc = (int64_t)k / (sw * sh), b = bc / C;
    int64_t top, left;
    nn_crop_offsets(&top, &left, seed, block0, b, rows, cols, fixed_top, fixed_left);
    out[k] = nn_crop_pixel(x + bc * H * W, H, W, pad, top, left, i, j);
  }
}

/* one thread per pair (j, W - 1 - j) of each of the B C H rows */
static __global__ void random_hflip_kernel (float *out, const float *x, int64_t B, int64_t C,
                                            int64_t H, int64_t W, float p, uint64_t seed,
                                            uint64_t block0) {
  int64_t half = (W + 1) / 2;
  GRID_STRIDE(k, B * C * H * half) {
    int64_t j = (int64_t)k % half, row = (int64_t)k / half, b = row / (C * H);
    int flip = nn_flip_draw(seed, block0, b, p);
    nn_flip_pair(out + row * W, x + row * W, W, j, flip);
  }
}

/* channel c of each image: the B runs of `plane` values at (b C + c) plane */
static __global__ void normalize_channel_kernel (float *out, const float *x, int64_t B,
                                                 int64_t C, int64_t plane, int64_t c,
                                                 float mean, float std) {
  GRID_STRIDE(k, B * plane) {
    int64_t b = (int64_t)k / plane, at = (b * C + c) * plane + (int64_t)k % plane;
    out[at] = nn_normalize_value(x[at], mean, std);
  }
}

int nncuda_random_crop (float *out, const float *x, int64_t B, int64_t C, int64_t H, int64_t W,
                        int64_t size_h, int64_t size_w, int64_t pad, uint64_t seed,
                        uint64_t block0, int64_t fixed_top, int64_t fixed_left) {
  return cuda_run((size_t)(B * C * size_h * size_w), random_crop_kernel, out, x, B, C, H, W,
                  size_h, size_w, pad, seed, block0, fixed_top, fixed_left);
}

int nncuda_random_hflip (float *out, const float *x, int64_t B, int64_t C, int64_t H, int64_t W,
                         float p, uint64_t seed, uint64_t block0) {
  return cuda_run((size_t)(B * C * H * ((W + 1) / 2)), random_hflip_kernel, out, x, B, C, H, W,
                  p, seed, block0);
}

int nncuda_normalize_channel (float *out, const float *x, int64_t B, int64_t C, int64_t plane,
                              int64_t c, float mean, float std) {
  return cuda_run((size_t)(B * plane), normalize_channel_kernel, out, x, B, C, plane, c, mean,
                  std);
}
