/*
** nn_cuda.h -- how the C code reaches CUDA, and what it reaches in a build
** without CUDA.  One mechanism for tensor/ and nn/.
**
** Every function that runs on the GPU is defined in a .cu file, compiled by
** nvcc whenever it is found: tensor/cuda_*.cu (the tensor backend, declared
** in backend.h) and nn/cuda_*.cu (the launchers of the layers, losses,
** metrics and optimizer updates, declared beside their math in softmax.h,
** batchnorm.h, losses.h, metrics.h, optim.h).  The math of each kernel is
** written once, as NN_HD functions (elementwise.h) that the CPU loop calls
** too; the C file (tensor.c, softmax.c ...) checks shapes and devices, then
** either loops on the CPU or calls the CUDA function.
**
** Declare a CUDA function with one of two macros:
**   NN_CUDA_FN(int name (args));               it returns an error code
**   NN_CUDA_FN_ELSE(type name (args), stub)    anything else: stub is the
**                                              body it has without CUDA
** With CUDA (make GPU=1, the default where nvcc is) both are a plain
** declaration, extern "C" under nvcc so that C calls it.  In a build without
** CUDA (make GPU=0, the fuzz targets) each becomes a static inline function:
** NN_CUDA_FN's fails with NN_EDEVICE and says why, NN_CUDA_FN_ELSE's runs
** its stub, which answers "none" (no device, 0 bytes, nothing to wait for):
**   NN_CUDA_FN_ELSE(size_t cuda_memory_allocated (void), return 0;)
**   NN_CUDA_FN_ELSE(void cuda_free (float *p), return;)
** No tensor can be on the GPU there (tensor.c asks cuda_available() before
** it makes one), so the failing stubs are never reached: they are there so
** that the C files need no #ifdef and link without a .cu, and so that they
** would fail cleanly should one be.
*/
#ifndef NN_NN_CUDA_H
#define NN_NN_CUDA_H

#include "tensor.h"

#if defined(__CUDACC__)
/* defined in a .cu file, called from C */
#define NN_CUDA_FN_ELSE(decl, ...) extern "C" decl;
#elif defined(NN_HAVE_CUDA)
#define NN_CUDA_FN_ELSE(decl, ...) decl;
#else
#include <stdio.h>
#define NN_NO_CUDA "this nnlua was built without CUDA (make GPU=0, or no nvcc at build time)"
static inline int nn_no_cuda (void) { return nn_seterr(NN_EDEVICE, "%s", NN_NO_CUDA); }
/* a stub need not read its arguments */
#define NN_CUDA_FN_ELSE(decl, ...)                                              \
  _Pragma("GCC diagnostic push")                                                \
  _Pragma("GCC diagnostic ignored \"-Wunused-parameter\"")                      \
  static inline decl { __VA_ARGS__ }                                            \
  _Pragma("GCC diagnostic pop")
#endif

#define NN_CUDA_FN(decl) NN_CUDA_FN_ELSE(decl, return nn_no_cuda();)

#endif
