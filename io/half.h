/* io/half.h -- IEEE-754 binary16 values as float32, for the readers of
** files that hold them (safetensors F16, ONNX FLOAT16). */
#ifndef NN_IO_HALF_H
#define NN_IO_HALF_H

#include <stdint.h>
#include <string.h>

/* IEEE-754 binary16 (1 sign, 5 exponent, 10 fraction bits) to float32,
** exactly: every half value is a float.
**   exponent 0:  subnormal, value = fraction * 2^-24
**   exponent 31: infinity (fraction 0) or NaN (the fraction kept as payload)
**   otherwise:   rebias the exponent from 15 to 127, widen the fraction */
static inline float half_to_float (uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu, bits;
  float f;
  if (exp == 0) {
    f = (float)frac * 0x1p-24f;           /* exact: frac < 2^10 */
    return sign ? -f : f;
  }
  if (exp == 31) bits = sign | 0x7f800000u | (frac << 13);
  else bits = sign | ((exp - 15 + 127) << 23) | (frac << 13);
  memcpy(&f, &bits, sizeof f);
  return f;
}

#endif
