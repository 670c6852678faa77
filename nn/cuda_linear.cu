/*
** cuda_linear.cu -- the CUDA launchers of Linear's passes besides its GEMMs
** (cuBLAS, through tensor_matmul): bias and activation in one pass after
** the forward GEMM, and the bias gradient.  Each kernel runs the NN_HD
** formula of linear.h that the CPU loop of linear.c calls.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "linear.h"

/* one thread per element of y (rows, n) */
static __global__ void bias_act_kernel (float *y, const float *b, int64_t rows, int64_t n,
                                        int act) {
  GRID_STRIDE(i, rows * n) y[i] = nn_bias_act(y[i], b ? b[i % n] : 0.0f, act);
}

/* one thread per column j: its sum over the rows, in the CPU's order; the
** threads of a warp read n-adjacent floats of a row, one coalesced load */
static __global__ void sum_rows_kernel (float *db, const float *g, int64_t rows, int64_t n,
                                        float beta) {
  GRID_STRIDE(j, n) {
    float s = beta == 0.0f ? 0.0f : beta * db[j];
    for (int64_t r = 0; r < rows; r++) s += g[r * n + j];
    db[j] = s;
  }
}

int nncuda_bias_act (float *y, const float *b, int64_t rows, int64_t n, int act) {
  return cuda_run((size_t)(rows * n), bias_act_kernel, y, b, rows, n, act);
}

int nncuda_sum_rows (float *db, const float *g, int64_t rows, int64_t n, float beta) {
  return cuda_run((size_t)n, sum_rows_kernel, db, g, rows, n, beta);
}
