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

/* a ^ b: powf, with C99's special cases (pow(x, 0) = 1 even for nan; a
** negative a to a fractional b is nan), as PyTorch's torch.pow. */
NN_HD float nn_power (float a, float b) { return powf(a, b); }

/* floor(a / b), PyTorch's torch.div(a, b, rounding_mode='floor') (also
** floor_divide, and Python's // on floats), computed as c10's
** div_floor_floating does so that it agrees with remainder below:
**   mod = fmod(a, b);  div = (a - mod) / b, less 1 when mod and b differ in
**   sign; then div is rounded to the nearest whole number (it is one, up to
**   the rounding of the division).  b == 0 gives IEEE's a / b (+-inf, nan);
**   a zero result has the sign of a / b.
** Source: PyTorch 2.x, c10/util/generic_math.h. */
NN_HD float nn_floor_divide (float a, float b) {
  if (b == 0.0f) return a / b;
  float mod = fmodf(a, b);
  float div = (a - mod) / b;
  if (mod != 0.0f && (b < 0.0f) != (mod < 0.0f)) div -= 1.0f;
  if (div == 0.0f) return copysignf(0.0f, a / b);
  float fl = floorf(div);
  return div - fl > 0.5f ? fl + 1.0f : fl;
}

/* a mod b with the sign of b (Python's and Lua's %, torch.remainder):
** a - floor(a / b) * b, computed as fmod(a, b) moved by b when the signs
** differ, which is exact.  remainder(a, 0) = nan.
** Source: PyTorch 2.x, c10/util/generic_math.h; Lua 5.4, luai_nummod. */
NN_HD float nn_remainder (float a, float b) {
  float mod = fmodf(a, b);
  if (mod != 0.0f && (b < 0.0f) != (mod < 0.0f)) mod += b;
  return mod;
}

/* max(a, b) and min(a, b), element-wise; a nan in either gives nan, as
** torch.maximum / torch.minimum (fmaxf would drop it). */
NN_HD float nn_maximum (float a, float b) { return a != a ? a : (b != b ? b : (a > b ? a : b)); }
NN_HD float nn_minimum (float a, float b) { return a != a ? a : (b != b ? b : (a < b ? a : b)); }

/* --- comparisons: 1.0 where (a op b) holds, else 0.0 ----------------------
** In double, which holds every float32 and every int32 exactly, so an
** int32 and a float32 compare by their exact values.  IEEE: a nan is
** unequal to everything, itself included, and unordered. */
NN_HD float nn_eq (double a, double b) { return a == b ? 1.0f : 0.0f; }
NN_HD float nn_ne (double a, double b) { return a != b ? 1.0f : 0.0f; }
NN_HD float nn_lt (double a, double b) { return a < b ? 1.0f : 0.0f; }
NN_HD float nn_le (double a, double b) { return a <= b ? 1.0f : 0.0f; }
NN_HD float nn_gt (double a, double b) { return a > b ? 1.0f : 0.0f; }
NN_HD float nn_ge (double a, double b) { return a >= b ? 1.0f : 0.0f; }

/* where(c, a, b) = a where c is nonzero, else b (a nan c is nonzero: it is
** true as a bool in PyTorch).  An int32 c is passed as a float: no nonzero
** int32 becomes 0.0f. */
NN_HD float nn_where (float c, float a, float b) { return c != 0.0f ? a : b; }

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

/* sin, cos, erf: the C library's (CUDA's on the GPU, within 2 ulp of it).
** erf(x) = 2/sqrt(pi) \int_0^x e^{-t^2} dt. */
NN_HD float nn_sin (float x) { return sinf(x); }
NN_HD float nn_cos (float x) { return cosf(x); }
NN_HD float nn_erf (float x) { return erff(x); }
/* rsqrt(x) = 1 / sqrt(x), both correctly rounded (CUDA's rsqrtf is not:
** this keeps the GPU within an ulp of the CPU).  rsqrt(0) = inf. */
NN_HD float nn_rsqrt (float x) { return 1.0f / sqrtf(x); }
NN_HD float nn_floor (float x) { return floorf(x); }
/* round half to even (2.5 -> 2, 3.5 -> 4), as torch.round and numpy.round:
** rintf in the default rounding mode, on either device. */
NN_HD float nn_round (float x) { return rintf(x); }
/* sign(x) = 1 for x > 0, -1 for x < 0, 0 for +-0; sign(nan) = nan (torch.sign). */
NN_HD float nn_sign (float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x == x ? 0.0f : x)); }
NN_HD float nn_isnan (float x) { return x != x ? 1.0f : 0.0f; }
NN_HD float nn_isinf (float x) { return fabsf(x) == INFINITY ? 1.0f : 0.0f; }

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
    case NN_POWER:  return nn_power(a, b);
    case NN_RPOWER: return nn_power(b, a);
    case NN_FLOOR_DIVIDE:  return nn_floor_divide(a, b);
    case NN_RFLOOR_DIVIDE: return nn_floor_divide(b, a);
    case NN_REMAINDER:     return nn_remainder(a, b);
    case NN_RREMAINDER:    return nn_remainder(b, a);
    case NN_MAXIMUM: return nn_maximum(a, b);
    case NN_MINIMUM: return nn_minimum(a, b);
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
    case NN_SIN:     return nn_sin(x);
    case NN_COS:     return nn_cos(x);
    case NN_ERF:     return nn_erf(x);
    case NN_RSQRT:   return nn_rsqrt(x);
    case NN_FLOOR:   return nn_floor(x);
    case NN_ROUND:   return nn_round(x);
    case NN_SIGN:    return nn_sign(x);
    case NN_ISNAN:   return nn_isnan(x);
    case NN_ISINF:   return nn_isinf(x);
    default:         return 0.0f;
  }
}

NN_HD float nn_compare_eval (int op, double a, double b) {
  switch (op) {
    case NN_EQ: return nn_eq(a, b);
    case NN_NE: return nn_ne(a, b);
    case NN_LT: return nn_lt(a, b);
    case NN_LE: return nn_le(a, b);
    case NN_GT: return nn_gt(a, b);
    case NN_GE: return nn_ge(a, b);
    default:    return 0.0f;
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
