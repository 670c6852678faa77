/*
** elementwise.h -- every per-element formula, written once for both backends.
**
** Compiled as plain C for cpu.c and as CUDA C++ for the tensor/cuda_*.cu files: NN_HD marks the
** functions `__host__ __device__` under nvcc and is empty otherwise, so a CUDA
** kernel runs exactly the formula that the CPU specs check.
*/
#ifndef NN_ELEMENTWISE_H
#define NN_ELEMENTWISE_H

#include <math.h>
#include "tensor.h"

#ifdef __CUDACC__
#define NN_HD __host__ __device__ __forceinline__
#else
#define NN_HD static inline
#endif

/* --- binary: out = a (op) b ---------------------------------------------- */
NN_HD float nn_add (float a, float b) { return a + b; }
NN_HD float nn_sub (float a, float b) { return a - b; }
NN_HD float nn_mul (float a, float b) { return a * b; }
NN_HD float nn_div (float a, float b) { return a / b; }   /* IEEE: x/0 = +-inf, 0/0 = nan */

/* --- unary: out = f(x) ------------------------------------------------------ */
NN_HD float nn_neg (float x) { return -x; }
NN_HD float nn_exp (float x) { return expf(x); }
NN_HD float nn_log (float x) { return logf(x); }          /* log(0) = -inf, log(<0) = nan */
NN_HD float nn_sqrt (float x) { return sqrtf(x); }
NN_HD float nn_abs (float x) { return fabsf(x); }

/* ReLU(x) = max(x, 0).  Written as a comparison so that relu(nan) = nan
** propagates as in PyTorch (fmaxf would return 0). */
NN_HD float nn_relu (float x) { return x > 0.0f ? x : (x == x ? 0.0f : x); }

/* sigmoid(x) = 1 / (1 + e^{-x}).  For x < 0, e^{-x} overflows to inf for
** x < -88; the same value written as e^{x} / (1 + e^{x}) does not, so each
** branch only ever exponentiates a non-positive number. */
NN_HD float nn_sigmoid (float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

NN_HD float nn_tanh (float x) { return tanhf(x); }
NN_HD float nn_pow (float x, float p) { return powf(x, p); }

/* clamp(x, lo, hi) = min(max(x, lo), hi); nan stays nan. */
NN_HD float nn_clamp (float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* LeakyReLU(x) = x for x > 0, slope * x otherwise (Maas et al., 2013). */
NN_HD float nn_leaky_relu (float x, float slope) { return x > 0.0f ? x : slope * x; }

/* step(x; t, v) = v if x >= t, else 0.  Dropout draws u ~ U[0,1) and keeps
** an element when u >= p, scaled by v = 1 / (1 - p). */
NN_HD float nn_step (float x, float t, float v) { return x >= t ? v : 0.0f; }

/* --- dtype conversion ----------------------------------------------------
** float32 -> int32 truncates toward zero, as C's cast and PyTorch's .int().
** The cast is defined only for values whose truncation fits an int32:
** -2^31 <= x < 2^31 (both bounds are floats; nan fails both tests). */
NN_HD int nn_f32_fits_i32 (float x) { return x >= -2147483648.0f && x < 2147483648.0f; }

/* --- backward of an activation: grad_in = g * f'(.) ----------------------
** Each derivative is written from what is cheapest to keep: the input x
** where f' needs it, the output y where f' is a function of y. */

/* ReLU'(x) = 1 for x > 0, 0 for x < 0.  At the kink x == 0 we take 0, as
** PyTorch does (any value in [0, 1] is a valid subgradient). */
NN_HD float nn_relu_backward (float g, float x) { return x > 0.0f ? g : 0.0f; }

/* LeakyReLU'(x) = 1 for x > 0, slope otherwise (slope at the kink, as PyTorch). */
NN_HD float nn_leaky_relu_backward (float g, float x, float slope) {
  return x > 0.0f ? g : g * slope;
}

/* sigmoid'(x) = s(x) (1 - s(x)) = y (1 - y). */
NN_HD float nn_sigmoid_backward (float g, float y) { return g * y * (1.0f - y); }

/* tanh'(x) = 1 - tanh(x)^2 = 1 - y^2. */
NN_HD float nn_tanh_backward (float g, float y) { return g * (1.0f - y * y); }

/* One switch for a kernel that takes the op as an argument (the GPU: the
** branch is uniform across a warp, so it costs nothing there).  The CPU
** loops call the functions above directly, one loop per op. */
NN_HD float nn_binary_eval (int op, float a, float b) {
  switch (op) {
    case NN_ADD:  return nn_add(a, b);
    case NN_SUB:  return nn_sub(a, b);
    case NN_MUL:  return nn_mul(a, b);
    case NN_DIV:  return nn_div(a, b);
    case NN_RSUB: return nn_sub(b, a);
    case NN_RDIV: return nn_div(b, a);
    default:      return 0.0f;
  }
}

NN_HD float nn_unary_eval (int op, float x, float p, float q) {
  switch (op) {
    case NN_NEG:     return nn_neg(x);
    case NN_EXP:     return nn_exp(x);
    case NN_LOG:     return nn_log(x);
    case NN_SQRT:    return nn_sqrt(x);
    case NN_ABS:     return nn_abs(x);
    case NN_RELU:    return nn_relu(x);
    case NN_SIGMOID: return nn_sigmoid(x);
    case NN_TANH:    return nn_tanh(x);
    case NN_POW:     return nn_pow(x, p);
    case NN_CLAMP:   return nn_clamp(x, p, q);
    case NN_LEAKY_RELU: return nn_leaky_relu(x, p);
    case NN_STEP:    return nn_step(x, p, q);
    default:         return 0.0f;
  }
}

/* g: the gradient of the output; s: x or y, as tensor_unary_backward says */
NN_HD float nn_unary_backward_eval (int op, float g, float s, float p) {
  switch (op) {
    case NN_RELU:       return nn_relu_backward(g, s);
    case NN_LEAKY_RELU: return nn_leaky_relu_backward(g, s, p);
    case NN_SIGMOID:    return nn_sigmoid_backward(g, s);
    case NN_TANH:       return nn_tanh_backward(g, s);
    default:            return 0.0f;
  }
}

#endif
