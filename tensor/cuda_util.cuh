/*
** cuda_util.cuh -- what every CUDA file of nnlua shares: tensor/cuda_*.cu
** (the tensor backend) and nn/cuda_*.cu (the layers, losses, metrics and
** optimizer updates).  CUDA C++ only: a C file never includes it.
**
**   CUDA_TRY(call)       a runtime call whose failure becomes NN_ECUDA
**   THREADS, GRID_STRIDE the launch shape of every element-wise kernel
**   cuda_ready(), cuda_stream(), cuda_grid(), cuda_scratch_alloc()
**                        the device, its one stream, the blocks of one wave,
**                        scratch memory (defined in tensor/cuda_alloc.cu)
**   cuda_run()           every kernel launch: over n items, or in a given
**                        shape; then check that it went
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

/* The device's state, in tensor/cuda_alloc.cu.
**   cuda_ready()   make sure the device can be used, and its stream exists
**                  (NN_EDEVICE when there is none): every entry point that
**                  touches the GPU asks this first.  Cheap after the first.
**   cuda_stream()  the one stream all work goes on, in the order it was
**                  asked for (once cuda_ready() has said NN_OK)
**   cuda_grid(b)   b blocks, but at least 1 and at most one wave of the GPU
**                  (GRID_STRIDE loops cover the rest); after cuda_ready()
**   cuda_scratch_alloc(p, bytes), cuda_scratch_free(p)   a device block from
**                  the caching allocator, for a kernel's partial results or
**                  a copy's way round; freeing it at once, with work still
**                  queued on it, is safe: later work is behind in the stream */
int cuda_ready (void);
cudaStream_t cuda_stream (void);
unsigned cuda_grid (size_t blocks);
int cuda_scratch_alloc (void **p, size_t bytes);
void cuda_scratch_free (void *p);

/* The shape of a launch: `grid` blocks of `block` threads. */
typedef struct cuda_shape { dim3 grid, block; } cuda_shape;

/* Every kernel launch of nnlua goes through cuda_run: kernel(args...) on
** the stream, then a check that the launch went (its errors show at the
** next sync).  Two forms:
**   over `work` items, one per thread: THREADS per block, as many blocks as
**   that takes up to one wave (the element-wise kernels, GRID_STRIDE):
**     return cuda_run(rows, softmax_rows_kernel, y, x, rows, n, log);
**   in a shape of the caller's (the reductions):
**     rc = cuda_run(cuda_shape{dim3(g), dim3(THREADS)}, reduce_ext_kernel, ...);
** The arguments convert to the kernel's parameter types as in a plain call;
** a null pointer must be typed ((const size_t *)NULL), since a bare NULL is
** an integer to the template. */
template <typename... P, typename... A>
static inline int cuda_run (cuda_shape shape, void (*kernel) (P...), A... args) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  kernel<<<shape.grid, shape.block, 0, cuda_stream()>>>(args...);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

template <typename... P, typename... A>
static inline int cuda_run (size_t work, void (*kernel) (P...), A... args) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  cuda_shape shape = { dim3(cuda_grid((work + THREADS - 1) / THREADS)), dim3(THREADS) };
  return cuda_run(shape, kernel, args...);
}

/* A kernel cannot return an error.  A thread that meets a bad input (a
** class index out of range, a probability outside [0, 1]) records its item
** with flag_bad(i); atomicMin keeps the lowest, which is the very item a
** CPU loop stops at, whatever the order the threads ran in.  Each .cu file
** that includes this header has its own flag (a static __device__ variable).
** cuda_run_checked (below) runs the pattern: bad_reset(stream), the kernel,
** bad_read(stream, &bad), which waits for the stream and gives -1 when no
** item was flagged. */
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
  int rc = cuda_ready();
  if (rc == NN_OK) rc = bad_reset(cuda_stream());
  if (rc == NN_OK) rc = cuda_run(work, kernel, args...);
  if (rc != NN_OK) return rc;
  return bad_read(cuda_stream(), bad);
}

#endif
