/*
** cuda_conv.cu -- the CUDA launchers of Conv2d (conv.h): im2col, col2im,
** and the moves between the GEMM's (Cout, B L) matrix and NCHW.  The GEMMs
** themselves are cuBLAS's, through cuda_matmul (tensor/cuda_gemm.cu).
**
** im2col and col2im run the index arithmetic of conv.h (nn_im2col_src,
** nn_col2im_pixel), the very functions of the CPU loops in conv.c, so the
** CPU specs check the formula and the parity specs the launch.  col2im is
** a gather, one thread per pixel of dx summing the entries of dcols that
** read it, in a fixed order (as Caffe's col2im_gpu): no atomics, the same
** bits on every run, and as the CPU's scatter-add.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "conv.h"

/* (2) one thread per entry of cols (C kh kw, B L); neighbouring threads
** write neighbouring floats of a row */
static __global__ void im2col_kernel (float *cols, const float *x, nn_conv_geom g) {
  int64_t BL = g.B * g.Ho * g.Wo, n = g.C * g.kh * g.kw * BL;
  GRID_STRIDE(i, n) {
    int64_t r = (int64_t)i / BL, j = (int64_t)i % BL;
    int64_t src = nn_im2col_src(&g, r, j);
    cols[i] = src < 0 ? 0.0f : x[src];
  }
}

/* (9) one thread per pixel of dx (B, C, H, W), gathering its taps */
static __global__ void col2im_kernel (float *dx, const float *dcols, nn_conv_geom g) {
  int64_t n = g.B * g.C * g.H * g.W;
  GRID_STRIDE(p, n) dx[p] = nn_col2im_pixel(dcols, &g, (int64_t)p);
}

/* (3) y (B, Cout, L) from mat (Cout, B L), + bias; mat NULL: y += bias */
static __global__ void unpack_kernel (float *y, const float *mat, const float *bias,
                                      nn_conv_geom g) {
  int64_t L = g.Ho * g.Wo, BL = g.B * L, n = g.B * g.Cout * L;
  GRID_STRIDE(i, n) {
    int64_t l = (int64_t)i % L, o = ((int64_t)i / L) % g.Cout, b = (int64_t)i / (L * g.Cout);
    float v = mat ? mat[o * BL + b * L + l] : y[i];
    y[i] = v + (bias ? bias[o] : 0.0f);
  }
}

/* (4) mat (Cout, B L) from grad_y (B, Cout, L): one thread per entry of mat */
static __global__ void pack_kernel (float *mat, const float *gy, nn_conv_geom g) {
  int64_t L = g.Ho * g.Wo, BL = g.B * L, n = g.Cout * BL;
  GRID_STRIDE(i, n) {
    int64_t o = (int64_t)i / BL, j = (int64_t)i % BL, b = j / L, l = j % L;
    mat[i] = gy[(b * g.Cout + o) * L + l];
  }
}

/* (6) db[o] = beta db[o] + sum over b, l of grad_y[b, o, l]: block o, its
** THREADS threads each summing a fixed stride of the B L terms in double,
** then a tree in shared memory: the same order on every run */
static __global__ void bias_grad_kernel (float *db, const float *gy, nn_conv_geom g,
                                         float beta) {
  __shared__ double part[THREADS];
  int64_t L = g.Ho * g.Wo, BL = g.B * L, o = blockIdx.x;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < BL; j += blockDim.x)
    s += gy[((j / L) * g.Cout + o) * L + j % L];
  part[threadIdx.x] = s;
  __syncthreads();
  for (unsigned h = blockDim.x / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    db[o] = nn_conv_bias_grad(db[o], part[0], beta);
}

int nncuda_im2col (float *cols, const float *x, const nn_conv_geom *g) {
  return cuda_run((size_t)(g->C * g->kh * g->kw * g->B * g->Ho * g->Wo), im2col_kernel, cols,
                  x, *g);
}

int nncuda_col2im (float *dx, const float *dcols, const nn_conv_geom *g) {
  return cuda_run((size_t)(g->B * g->C * g->H * g->W), col2im_kernel, dx, dcols, *g);
}

int nncuda_conv2d_unpack (float *y, const float *mat, const float *bias, const nn_conv_geom *g) {
  if (mat == NULL && bias == NULL) return NN_OK;
  return cuda_run((size_t)(g->B * g->Cout * g->Ho * g->Wo), unpack_kernel, y, mat, bias, *g);
}

int nncuda_conv2d_pack (float *mat, const float *grad_y, const nn_conv_geom *g) {
  return cuda_run((size_t)(g->Cout * g->B * g->Ho * g->Wo), pack_kernel, mat, grad_y, *g);
}

int nncuda_conv2d_bias_grad (float *db, const float *grad_y, const nn_conv_geom *g, float beta) {
  if (g->Cout == 0) return NN_OK;
  return cuda_run(cuda_shape{ dim3((unsigned)g->Cout), dim3(THREADS) }, bias_grad_kernel, db,
                  grad_y, *g, beta);
}
