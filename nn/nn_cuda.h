/*
** nn_cuda.h -- how a layer, loss, metric or optimizer update reaches its
** CUDA kernel.
**
** The math of each one is written once, as NN_HD functions (elementwise.h)
** in its header (softmax.h, batchnorm.h, losses.h, metrics.h, optim.h):
** a row, a channel, an element.  The C file (softmax.c ...) checks shapes
** and devices, then either loops over the rows on the CPU or calls the
** nncuda_* launcher declared beside the math, which runs the same function
** in one CUDA thread per row (channel, element).  The launchers live in
** nn/cuda_*.cu, compiled by nvcc whenever it is found.
**
** Declare a launcher with NN_CUDA_FN(int nncuda_name (args)).  In a build
** without CUDA (make GPU=0, the fuzz targets) it becomes an inline function
** that returns NN_EDEVICE: no tensor can be on the GPU there, so it is
** never reached, and the C files need no #ifdef.
*/
#ifndef NN_NN_CUDA_H
#define NN_NN_CUDA_H

#include "tensor.h"

#if defined(__CUDACC__)
#define NN_CUDA_FN(decl) extern "C" decl;  /* defined in nn/cuda_*.cu, called from C */
#elif defined(NN_HAVE_CUDA)
#define NN_CUDA_FN(decl) decl;
#else
#define NN_CUDA_FN(decl)                                                        \
  _Pragma("GCC diagnostic push")                                                \
  _Pragma("GCC diagnostic ignored \"-Wunused-parameter\"")                      \
  static inline decl {                                                          \
    return nn_seterr(NN_EDEVICE, "this nnlua was built without CUDA");          \
  }                                                                             \
  _Pragma("GCC diagnostic pop")
#endif

#endif
