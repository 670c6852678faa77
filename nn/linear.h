/*
** linear.h -- the per-element math of Linear's pass after the GEMM, for
** both devices: linear.c loops over the rows on the CPU, nn/cuda_linear.cu
** runs one CUDA thread per element (or per column).  The derivation, with
** the equation numbers used here, is above linear_forward in linear.c.
*/
#ifndef NN_LINEAR_H
#define NN_LINEAR_H

#include "elementwise.h"
#include "nn_cuda.h"

/* (1) then (2) for one element: y = f(z + b), z = (x W^T)_{bj} from the
** GEMM, f an element-wise activation (NN_ACT_NONE, RELU, SIGMOID, TANH;
** the softmaxes are row functions, applied after this pass). */
NN_HD float nn_bias_act (float z, float b, int act) {
  float v = z + b;                                       /* (1) */
  switch (act) {                                         /* (2) */
    case 1: return nn_relu(v);       /* NN_ACT_RELU */
    case 2: return nn_sigmoid(v);    /* NN_ACT_SIGMOID */
    case 3: return nn_tanh(v);       /* NN_ACT_TANH */
    default: return v;
  }
}

/* y (rows, n) = f(y + b) in place, b: (n) or NULL; one thread per element.
** db (n) = beta db + the sum of g (rows, n) over its rows: equation (6),
** one thread per column.  Device pointers. */
NN_CUDA_FN(int nncuda_bias_act (float *y, const float *b, int64_t rows, int64_t n, int act))
NN_CUDA_FN(int nncuda_sum_rows (float *db, const float *g, int64_t rows, int64_t n, float beta))

#endif
