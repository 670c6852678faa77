/*
** cuda_layers.cu -- the CUDA launchers of the layers whose math is not a
** plain tensor op: Softmax and LogSoftmax (softmax.h).
**
** Each kernel runs the NN_HD function that the CPU loop calls, in one thread
** per row: a kernel here differs from the CPU only in how the rows are
** spread over threads, so the CPU specs check its formula and the parity
** specs (spec/cuda_parity_spec.lua) check the launch.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "softmax.h"

/* --- Softmax, LogSoftmax: one thread per row ------------------------------------ */

static __global__ void softmax_rows_kernel (float *y, const float *x, int64_t rows, int64_t n,
                                            int log) {
  GRID_STRIDE(r, rows) {
    if (log) nn_log_softmax_row(y + r * n, x + r * n, n);
    else nn_softmax_row(y + r * n, x + r * n, n);
  }
}

static __global__ void softmax_rows_backward_kernel (float *dx, const float *g, const float *y,
                                                     int64_t rows, int64_t n, int log) {
  GRID_STRIDE(r, rows) {
    if (log) nn_log_softmax_backward_row(dx + r * n, g + r * n, y + r * n, n);
    else nn_softmax_backward_row(dx + r * n, g + r * n, y + r * n, n);
  }
}

int nncuda_softmax_rows (float *y, const float *x, int64_t rows, int64_t n, int log) {
  cuda_launch_t l;
  int rc = cuda_launch(&l, (size_t)rows);
  if (rc != NN_OK) return rc;
  softmax_rows_kernel<<<l.blocks, THREADS, 0, l.stream>>>(y, x, rows, n, log);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

int nncuda_softmax_rows_backward (float *dx, const float *g, const float *y, int64_t rows,
                                  int64_t n, int log) {
  cuda_launch_t l;
  int rc = cuda_launch(&l, (size_t)rows);
  if (rc != NN_OK) return rc;
  softmax_rows_backward_kernel<<<l.blocks, THREADS, 0, l.stream>>>(dx, g, y, rows, n, log);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}
