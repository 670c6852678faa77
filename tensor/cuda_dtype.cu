/*
** cuda_dtype.cu -- conversions between float32 and int32 on the GPU
** (tensor_copy between dtypes).  The per-element test is elementwise.h's
** nn_f32_fits_i32, the one cpu.c's loop uses.
*/
#include "cuda_util.cuh"   /* GRID_STRIDE, cuda_run, flag_bad */
extern "C" {
#include "backend.h"
}
#include "elementwise.h"

static __global__ void i32_to_f32_kernel (float *dst, const int32_t *src, size_t n) {
  GRID_STRIDE(i, n) dst[i] = (float)src[i];
}

/* a float with no int32 value is flagged and left unwritten */
static __global__ void f32_to_i32_kernel (int32_t *dst, const float *src, size_t n) {
  GRID_STRIDE(i, n) {
    float x = src[i];
    if (nn_f32_fits_i32(x)) dst[i] = (int32_t)x;
    else flag_bad(i);
  }
}

extern "C" int cuda_i32_to_f32 (float *dst, const int32_t *src, size_t n) {
  if (n == 0) return cuda_ready();
  return cuda_run(n, i32_to_f32_kernel, dst, src, n);
}

extern "C" int cuda_f32_to_i32 (int32_t *dst, const float *src, size_t n, int64_t *bad) {
  *bad = -1;
  if (n == 0) return cuda_ready();
  return cuda_run_checked(n, bad, f32_to_i32_kernel, dst, src, n);
}
