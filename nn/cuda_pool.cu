/*
** cuda_pool.cu -- the CUDA launchers of the 2-D pooling layers (pool.h):
** MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.
**
** Forward: one thread per output element (b, c, oh, ow), running the
** window function the CPU loop runs.  Backward: one thread per input
** element (b, c, ih, iw), gathering from the windows that hold it in the
** same order as the CPU: each element is written by one thread, no
** atomics, so the result is deterministic and the same bits as the CPU's.
** The threads of a warp take neighbouring outputs (or inputs) of one row,
** so their loads of x (or g) are close together.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "pool.h"

/* --- MaxPool2d ----------------------------------------------------------------- */

static __global__ void maxpool2d_forward_kernel (float *y, int32_t *idx, const float *x,
                                                 int64_t n, int64_t H, int64_t W, int64_t Ho,
                                                 int64_t Wo, nn_pool2d g) {
  GRID_STRIDE(o, n) {
    int64_t ow = (int64_t)o % Wo, oh = ((int64_t)o / Wo) % Ho, q = (int64_t)o / (Wo * Ho);
    y[o] = nn_maxpool2d_window(x + q * H * W, H, W, &g, oh, ow, &idx[o]);
  }
}

static __global__ void maxpool2d_backward_kernel (float *dx, const float *gy,
                                                  const int32_t *idx, int64_t n, int64_t H,
                                                  int64_t W, int64_t Ho, int64_t Wo,
                                                  nn_pool2d g) {
  GRID_STRIDE(i, n) {
    int64_t iw = (int64_t)i % W, ih = ((int64_t)i / W) % H, q = (int64_t)i / (W * H);
    dx[i] = nn_maxpool2d_grad_at(gy + q * Ho * Wo, idx + q * Ho * Wo, W, Ho, Wo, &g, ih, iw);
  }
}

int nncuda_maxpool2d_forward (float *y, int32_t *idx, const float *x, int64_t planes, int64_t H,
                              int64_t W, int64_t Ho, int64_t Wo, nn_pool2d g) {
  int64_t n = planes * Ho * Wo;
  return cuda_run((size_t)n, maxpool2d_forward_kernel, y, idx, x, n, H, W, Ho, Wo, g);
}

int nncuda_maxpool2d_backward (float *dx, const float *gy, const int32_t *idx, int64_t planes,
                               int64_t H, int64_t W, int64_t Ho, int64_t Wo, nn_pool2d g) {
  int64_t n = planes * H * W;
  return cuda_run((size_t)n, maxpool2d_backward_kernel, dx, gy, idx, n, H, W, Ho, Wo, g);
}

/* --- AvgPool2d ----------------------------------------------------------------- */

static __global__ void avgpool2d_forward_kernel (float *y, const float *x, int64_t n, int64_t H,
                                                 int64_t W, int64_t Ho, int64_t Wo,
                                                 nn_pool2d g) {
  GRID_STRIDE(o, n) {
    int64_t ow = (int64_t)o % Wo, oh = ((int64_t)o / Wo) % Ho, q = (int64_t)o / (Wo * Ho);
    y[o] = nn_avgpool2d_window(x + q * H * W, H, W, &g, oh, ow);
  }
}

static __global__ void avgpool2d_backward_kernel (float *dx, const float *gy, int64_t n,
                                                  int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                                  nn_pool2d g) {
  GRID_STRIDE(i, n) {
    int64_t iw = (int64_t)i % W, ih = ((int64_t)i / W) % H, q = (int64_t)i / (W * H);
    dx[i] = nn_avgpool2d_grad_at(gy + q * Ho * Wo, H, W, Ho, Wo, &g, ih, iw);
  }
}

int nncuda_avgpool2d_forward (float *y, const float *x, int64_t planes, int64_t H, int64_t W,
                              int64_t Ho, int64_t Wo, nn_pool2d g) {
  int64_t n = planes * Ho * Wo;
  return cuda_run((size_t)n, avgpool2d_forward_kernel, y, x, n, H, W, Ho, Wo, g);
}

int nncuda_avgpool2d_backward (float *dx, const float *gy, int64_t planes, int64_t H, int64_t W,
                               int64_t Ho, int64_t Wo, nn_pool2d g) {
  int64_t n = planes * H * W;
  return cuda_run((size_t)n, avgpool2d_backward_kernel, dx, gy, n, H, W, Ho, Wo, g);
}

/* --- AdaptiveAvgPool2d --------------------------------------------------------- */

static __global__ void adaptive_avgpool2d_forward_kernel (float *y, const float *x, int64_t n,
                                                          int64_t H, int64_t W, int64_t Ho,
                                                          int64_t Wo) {
  GRID_STRIDE(o, n) {
    int64_t ow = (int64_t)o % Wo, oh = ((int64_t)o / Wo) % Ho, q = (int64_t)o / (Wo * Ho);
    y[o] = nn_adaptive_avgpool2d_window(x + q * H * W, H, W, Ho, Wo, oh, ow);
  }
}

static __global__ void adaptive_avgpool2d_backward_kernel (float *dx, const float *gy,
                                                           int64_t n, int64_t H, int64_t W,
                                                           int64_t Ho, int64_t Wo) {
  GRID_STRIDE(i, n) {
    int64_t iw = (int64_t)i % W, ih = ((int64_t)i / W) % H, q = (int64_t)i / (W * H);
    dx[i] = nn_adaptive_avgpool2d_grad_at(gy + q * Ho * Wo, H, W, Ho, Wo, ih, iw);
  }
}

int nncuda_adaptive_avgpool2d_forward (float *y, const float *x, int64_t planes, int64_t H,
                                       int64_t W, int64_t Ho, int64_t Wo) {
  int64_t n = planes * Ho * Wo;
  return cuda_run((size_t)n, adaptive_avgpool2d_forward_kernel, y, x, n, H, W, Ho, Wo);
}

int nncuda_adaptive_avgpool2d_backward (float *dx, const float *gy, int64_t planes, int64_t H,
                                        int64_t W, int64_t Ho, int64_t Wo) {
  int64_t n = planes * H * W;
  return cuda_run((size_t)n, adaptive_avgpool2d_backward_kernel, dx, gy, n, H, W, Ho, Wo);
}
