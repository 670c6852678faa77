/*
** cuda_util.cuh -- what every CUDA file of nnlua shares: tensor/cuda.cu (the
** tensor ops) and nn/cuda_*.cu (the layers, losses, metrics and optimizer
** updates).  CUDA C++ only: a C file never includes it.
**
**   CUDA_TRY(call)       a runtime call whose failure becomes NN_ECUDA
**   THREADS, GRID_STRIDE the launch shape of every element-wise kernel
**   cuda_launch()        the device made ready, its one stream, the grid
**   cuda_run()           a launcher's body: launch over n items, check
**   flag_bad(i)          a kernel's way to report a bad input (the first one),
**   cuda_run_checked()   and the launch that reads it back
*/
#ifndef NN_CUDA_UTIL_CUH
#define NN_CUDA_UTIL_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

/* the C library's headers: C linkage for nn_seterr and the cuda_* functions */
extern "C" {
#include "tensor.h"
}
#include "elementwise.h"   /* NN_HD = __host__ __device__ under nvcc */

/* Route every CUDA runtime call through this: on failure record CUDA's own
** message and return NN_ECUDA (llm.c's cudaCheck, without the exit).  The
** failed call also left the runtime's "last error" set; reading it clears
** it, so that the next launch check does not report this error again. */
#define CUDA_TRY(call) do {                                                   \
    cudaError_t err_ = (call);                                                \
    if (err_ != cudaSuccess) {                                                \
      (void)cudaGetLastError();                                               \
      return nn_seterr(NN_ECUDA, "CUDA error: %s (%s at %s:%d)",              \
                       cudaGetErrorString(err_), #call, __FILE__, __LINE__);  \
    }                                                                         \
  } while (0)

/* Threads per block for every kernel.  A power of two: the block reductions
** halve it step by step. */
#define THREADS 256

/* The loop of a grid-stride kernel: i runs over 0 .. n-1, one item per
** thread, each thread stepping by the whole grid (gridDim.x * blockDim.x)
** until it passes n.  So any grid covers any n. */
#define GRID_STRIDE(i, n)                                                     \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); \
       i += (size_t)gridDim.x * blockDim.x)

/* Before a launch: make sure the device is ready (NN_EDEVICE when there is
** none), and give the stream that all work goes on and the number of
** blocks for `work` items (one item per thread, at most one wave of the
** GPU; GRID_STRIDE covers the rest).  In tensor/cuda.cu. */
typedef struct cuda_launch_t { cudaStream_t stream; unsigned blocks; } cuda_launch_t;
int cuda_launch (cuda_launch_t *l, size_t work);

/* The body of a launcher: run kernel(args...) over `work` items on the
** stream, and check that the launch went (its errors show at the next sync).
**   return cuda_run(rows, softmax_rows_kernel, y, x, rows, n, log);  */
template <typename... P, typename... A>
static inline int cuda_run (size_t work, void (*kernel) (P...), A... args) {
  cuda_launch_t l;
  int rc = cuda_launch(&l, work);
  if (rc != NN_OK) return rc;
  kernel<<<l.blocks, THREADS, 0, l.stream>>>(args...);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

/* A kernel cannot return an error.  A thread that meets a bad input (a
** class index out of range, a probability outside [0, 1]) records its item
** with flag_bad(i); atomicMin keeps the lowest, which is the very item a
** CPU loop stops at, whatever the order the threads ran in.  Each .cu file
** that includes this header has its own flag (a static __device__ variable).
** Pattern:   bad_reset(stream); kernel<<<...>>>(...); bad_read(stream, &bad)
** bad_read waits for the stream, and gives -1 when no item was flagged. */
static __device__ unsigned long long nn_bad_item;

static __device__ __forceinline__ void flag_bad (size_t i) {
  atomicMin(&nn_bad_item, (unsigned long long)i);
}

static inline int bad_reset (cudaStream_t stream) {
  unsigned long long none = ~0ull;
  CUDA_TRY(cudaMemcpyToSymbolAsync(nn_bad_item, &none, sizeof none, 0,
                                   cudaMemcpyHostToDevice, stream));
  return NN_OK;
}

static inline int bad_read (cudaStream_t stream, int64_t *bad) {
  unsigned long long item = 0;
  CUDA_TRY(cudaGetLastError());            /* the launch itself */
  CUDA_TRY(cudaMemcpyFromSymbolAsync(&item, nn_bad_item, sizeof item, 0,
                                     cudaMemcpyDeviceToHost, stream));
  CUDA_TRY(cudaStreamSynchronize(stream));
  *bad = item == ~0ull ? -1 : (int64_t)item;
  return NN_OK;
}

/* cuda_run for a kernel that flags bad items: *bad is the first flagged
** one after the kernel, or -1 (this waits for the stream).  With bad NULL
** nothing is checked and it waits for nothing: as cuda_run. */
template <typename... P, typename... A>
static inline int cuda_run_checked (size_t work, int64_t *bad, void (*kernel) (P...),
                                    A... args) {
  if (bad == NULL) return cuda_run(work, kernel, args...);
  cuda_launch_t l;
  int rc = cuda_launch(&l, work);
  if (rc == NN_OK) rc = bad_reset(l.stream);
  if (rc != NN_OK) return rc;
  kernel<<<l.blocks, THREADS, 0, l.stream>>>(args...);
  return bad_read(l.stream, bad);
}

#endif
