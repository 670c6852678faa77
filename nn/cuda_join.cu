/*
** cuda_join.cu -- the CUDA launcher of Concat's block copies (join.c).
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "join.h"

/* one thread per element of the (rows, cols) block */
static __global__ void copy_2d_kernel (float *dst, int64_t dst_ld, const float *src,
                                       int64_t src_ld, int64_t rows, int64_t cols) {
  GRID_STRIDE(i, rows * cols) {
    int64_t r = (int64_t)i / cols, c = (int64_t)i % cols;
    dst[r * dst_ld + c] = src[r * src_ld + c];
  }
}

int nncuda_copy_2d (float *dst, int64_t dst_ld, const float *src, int64_t src_ld, int64_t rows,
                    int64_t cols) {
  return cuda_run((size_t)(rows * cols), copy_2d_kernel, dst, dst_ld, src, src_ld, rows, cols);
}
