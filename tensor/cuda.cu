/*
** cuda.cu -- the CUDA backend: a caching allocator, element-wise and
** reduction kernels, and cuBLAS for matrix products.
**
** tensor.c has already checked shapes and devices; here every pointer is a
** valid device pointer for n floats, and we report only failures of the
** device itself (NN_EDEVICE when there is no GPU, NN_ENOMEM, NN_ECUDA).
**
** One stream and one cuBLAS handle, created on first use.  Every kernel,
** copy and GEMM goes on that stream, so work runs in the order it was asked
** for and a block that cuda_free() returns to the cache can be handed out
** again at once: whatever still reads it is ahead in the same queue.
** Copies that touch host memory wait for the stream (the host pointer may be
** a stack variable, or read right after); everything else returns as soon as
** it is queued.
**
** The per-element formulas come from elementwise.h and philox.h, the very
** functions cpu.c calls, so a kernel here differs from the CPU loop only in
** how the work is spread over threads.
**
** nnlua drives the GPU from one thread (the Lua VM's), so the allocator and
** the lazily created handles are not locked.
*/
#include <cublas_v2.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.cuh"   /* CUDA_TRY, THREADS, GRID_STRIDE, flag_bad */
extern "C" {
#include "backend.h"
}
#include "philox.h"

/* cuBLAS is opened with dlopen on the first matmul, not linked: linking it
** costs every nnlua start about 70 ms and 200 MB of resident pages
** (libcublasLt's relocations), with a GPU or without, for a library that
** most CPU sessions never call.  The pointer types come from cublas_v2.h
** through decltype, so the compiler still checks every call. */
#define NN_STR_(x) #x
#define NN_STR(x) NN_STR_(x)
static struct {
  void *lib;
  decltype(&cublasCreate_v2) create;
  decltype(&cublasDestroy_v2) destroy;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSgemm_v2) sgemm;
  decltype(&cublasGetStatusString) status_string;
} blas_api;

static int blas_load (void) {
  if (blas_api.lib != NULL) return NN_OK;
  /* the soname of the toolkit we compiled against; the rpath finds it */
  const char *name = "libcublas.so." NN_STR(CUBLAS_VER_MAJOR);
  void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) return nn_seterr(NN_ECUDA, "cannot load cuBLAS: %s", dlerror());
  struct { const char *sym; void **slot; } want[] = {
    { "cublasCreate_v2", (void **)&blas_api.create },
    { "cublasDestroy_v2", (void **)&blas_api.destroy },
    { "cublasSetStream_v2", (void **)&blas_api.set_stream },
    { "cublasSgemm_v2", (void **)&blas_api.sgemm },
    { "cublasGetStatusString", (void **)&blas_api.status_string },
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    *want[i].slot = dlsym(lib, want[i].sym);
    if (*want[i].slot == NULL) {
      dlclose(lib);
      return nn_seterr(NN_ECUDA, "cuBLAS in %s lacks %s", name, want[i].sym);
    }
  }
  blas_api.lib = lib;
  return NN_OK;
}

/* The same as CUDA_TRY for cuBLAS, whose calls return a cublasStatus_t. */
#define CUBLAS_TRY(call) do {                                                 \
    cublasStatus_t st_ = (call);                                              \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                         \
      return nn_seterr(NN_ECUDA, "cuBLAS error: %s (%s at %s:%d)",            \
                       blas_api.status_string(st_), #call, __FILE__, __LINE__); \
  } while (0)

/* reduce_all's first pass uses at most this many blocks; the second pass is
** one block that reads their partial results. */
#define MAX_PARTIALS 1024

/* --- state --------------------------------------------------------------------- */

enum { AVAIL_UNKNOWN = 0, AVAIL_YES, AVAIL_NO };

static struct {
  int available;           /* AVAIL_*: asked once, then cached */
  char reason[256];        /* why not, when AVAIL_NO */
  int ready;               /* stream created and launch limits known */
  cudaStream_t stream;     /* the one stream all work goes on */
  cublasHandle_t blas;     /* created on the first matmul */
  unsigned max_blocks;     /* grid-stride grids: one full wave of the GPU */
} cu;

/* --- availability ---------------------------------------------------------------- */

static __global__ void fill_kernel (float *x, float value, size_t n);

/* 1 when a CUDA device can run our kernels; else 0 and why.  Asked once: the
** answer is cached, so calling this before every op costs nothing.  Besides
** "is there a device", we ask the runtime for one of our kernels: that fails
** when the GPU is older than anything this build holds machine code or PTX
** for (sm_80, sm_90, compute_90 PTX), and it is better said here, once, than
** at the first launch. */
extern "C" int cuda_available (char *reason, size_t len) {
  if (cu.available == AVAIL_UNKNOWN) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    cudaFuncAttributes attr;
    if (err != cudaSuccess) {
      /* "driver insufficient" is also what the runtime says when there is
      ** no driver at all; cudaDriverGetVersion tells the two apart (0: none) */
      int drv = 0, rt = 0;
      if (err == cudaErrorInsufficientDriver && cudaDriverGetVersion(&drv) == cudaSuccess
          && cudaRuntimeGetVersion(&rt) == cudaSuccess) {
        if (drv == 0)
          snprintf(cu.reason, sizeof cu.reason, "no NVIDIA driver is installed (%s)",
                   cudaGetErrorString(err));
        else
          snprintf(cu.reason, sizeof cu.reason, "the NVIDIA driver supports CUDA %d.%d, this "
                   "build needs %d.%d (%s)", drv / 1000, drv % 1000 / 10, rt / 1000,
                   rt % 1000 / 10, cudaGetErrorString(err));
      }
      else
        snprintf(cu.reason, sizeof cu.reason, "%s", cudaGetErrorString(err));
      (void)cudaGetLastError();
      cu.available = AVAIL_NO;
    }
    else if (count == 0) {
      snprintf(cu.reason, sizeof cu.reason, "no CUDA-capable device is detected");
      cu.available = AVAIL_NO;
    }
    else if ((err = cudaFuncGetAttributes(&attr, fill_kernel)) != cudaSuccess) {
      cudaDeviceProp prop;
      int dev = 0;
      (void)cudaGetLastError();
      int no_image = err == cudaErrorNoKernelImageForDevice
                     || err == cudaErrorInvalidDeviceFunction;
      if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
        snprintf(cu.reason, sizeof cu.reason, "%.64s (compute capability %d.%d): %s%s",
                 prop.name, prop.major, prop.minor, cudaGetErrorString(err),
                 no_image ? " (this build has code for sm_80, sm_90 and compute_90 PTX)" : "");
      else
        snprintf(cu.reason, sizeof cu.reason, "%s", cudaGetErrorString(err));
      (void)cudaGetLastError();
      cu.available = AVAIL_NO;
    }
    else
      cu.available = AVAIL_YES;
  }
  if (reason != NULL && len > 0)
    snprintf(reason, len, "%s", cu.available == AVAIL_YES ? "" : cu.reason);
  return cu.available == AVAIL_YES;
}

/* Make sure the device can be used and the stream exists.  Every entry point
** that touches the GPU calls this first. */
static int cuda_ready (void) {
  if (cu.ready) return NN_OK;
  if (!cuda_available(NULL, 0))
    return nn_seterr(NN_EDEVICE, "CUDA is not available: %s", cu.reason);
  int dev = 0, sms = 0;
  CUDA_TRY(cudaGetDevice(&dev));
  CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  /* a blocking stream: it also waits for any work on the legacy default
  ** stream, should other code put some there */
  if (cu.stream == NULL) CUDA_TRY(cudaStreamCreate(&cu.stream));
  /* 8 blocks of 256 threads fill an SM's 2048 thread slots: one wave */
  cu.max_blocks = (unsigned)(sms > 0 ? sms : 1) * 8;
  cu.ready = 1;
  return NN_OK;
}

/* Blocks for `work` items at one item per thread, at most one wave: the
** kernels loop (grid-stride) over whatever is beyond. */
static unsigned grid_for (size_t work) {
  size_t blocks = (work + THREADS - 1) / THREADS;
  if (blocks < 1) blocks = 1;
  return blocks < cu.max_blocks ? (unsigned)blocks : cu.max_blocks;
}

/* cuda_util.cuh: the launch of a kernel in another file (nn/cuda_*.cu) */
int cuda_launch (cuda_launch_t *l, size_t work) {
  int rc = cuda_ready();
  l->stream = cu.stream;
  l->blocks = rc == NN_OK ? grid_for(work) : 1;
  return rc;
}

/* --- the caching allocator -------------------------------------------------------
**
** cudaMalloc and cudaFree are slow (cudaFree waits for the whole device), so
** a training loop that frees and reallocates the same buffers every batch
** must not call them.  Freed blocks go to a free list of their size class;
** an allocation takes a block of its class from that list and calls
** cudaMalloc only when the list is empty.
**
** Size classes.  A request is rounded up to
**   - a multiple of 512 bytes, up to 1 MiB (2048 classes: 512, 1024, ...),
**   - above 1 MiB, a quarter octave: the next of 1.25, 1.5, 1.75 and 2 times
**     a power of two (1.25 MiB, 1.5 MiB, 1.75 MiB, 2 MiB, 2.5 MiB, ...),
** so at most 25% of a large block is slack (plain powers of two would waste
** up to half), and a loop that asks for the same shapes again gets exactly
** the blocks it gave back.  A block serves only its own class: there is no
** splitting or coalescing, which keeps this short.  When cudaMalloc fails we
** first ask the host to collect its garbage (nn_cuda_set_oom_hook: Lua does
** not see device bytes, so dropped tensors may still hold blocks), take a
** block of the class if that freed one, else give every cached block back
** to CUDA, and try once more.
**
** Every block cudaMalloc gave us has a record in a hash table keyed by its
** pointer (cuda_free gets only the pointer); free records are also chained in
** their class's list.
**   allocated = bytes of blocks in use (class sizes, so slack counts)
**   reserved  = bytes held from CUDA: in use + cached
*/
#define SMALL_STEP ((size_t)512)
#define SMALL_MAX ((size_t)1 << 20)
#define SMALL_CLASSES (SMALL_MAX / SMALL_STEP)            /* 2048 */
#define LARGE_MAX ((size_t)1 << 48)                        /* 256 TiB: no GPU comes near */
#define NCLASSES (SMALL_CLASSES + 4 * (48 - 20))           /* octaves 2^20 .. 2^48 */

typedef struct cuda_block {
  void *ptr;
  size_t bytes;                    /* its class size: what cudaMalloc gave */
  size_t cls;                      /* its class index, from size_class() */
  int in_use;
  struct cuda_block *next_free;    /* in its class's free list, while cached */
  struct cuda_block *next_hash;    /* in its hash bucket */
} cuda_block;

static struct {
  cuda_block *free_list[NCLASSES];
  cuda_block **buckets;            /* pointer -> record, chained */
  size_t nbuckets, nblocks;
  size_t allocated, reserved;
  void (*oom_hook) (void *ud);     /* nn_cuda_set_oom_hook: the host's full GC */
  void *oom_ud;
} pool;

/* The class of a request of `bytes` (1 <= bytes <= LARGE_MAX): its index and
** its rounded size. */
static size_t size_class (size_t bytes, size_t *rounded) {
  if (bytes <= SMALL_MAX) {
    size_t k = (bytes + SMALL_STEP - 1) / SMALL_STEP;     /* 1 .. 2048 */
    *rounded = k * SMALL_STEP;
    return k - 1;
  }
  /* p < bytes <= 2p, p = 2^e, e >= 20; classes 5/4 p, 6/4 p, 7/4 p, 8/4 p */
  size_t p = SMALL_MAX;
  int e = 20;
  while (2 * p < bytes) { p *= 2; e++; }
  size_t quarter = p / 4;
  size_t q = (bytes + quarter - 1) / quarter;             /* 5 .. 8 */
  *rounded = q * quarter;
  return SMALL_CLASSES + (size_t)(e - 20) * 4 + (q - 5);
}

static size_t hash_ptr (const void *p, size_t nbuckets) {
  /* device pointers are 512-byte aligned: drop the zero bits, then mix
  ** (Fibonacci hashing; nbuckets is a power of two) */
  uint64_t h = ((uint64_t)(uintptr_t)p >> 9) * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (nbuckets - 1);
}

/* Double the hash table when it holds as many blocks as buckets.  If the
** host has no memory for a bigger table, keep the old one: chains just get
** longer. */
static void pool_grow (void) {
  size_t n = pool.nbuckets ? 2 * pool.nbuckets : 256;
  cuda_block **b = (cuda_block **)calloc(n, sizeof *b);
  if (b == NULL) return;
  for (size_t i = 0; i < pool.nbuckets; i++) {
    cuda_block *blk = pool.buckets[i];
    while (blk != NULL) {
      cuda_block *next = blk->next_hash;
      size_t h = hash_ptr(blk->ptr, n);
      blk->next_hash = b[h];
      b[h] = blk;
      blk = next;
    }
  }
  free(pool.buckets);
  pool.buckets = b;
  pool.nbuckets = n;
}

static cuda_block *pool_find (const void *p) {
  if (pool.nbuckets == 0) return NULL;
  cuda_block *blk = pool.buckets[hash_ptr(p, pool.nbuckets)];
  while (blk != NULL && blk->ptr != p) blk = blk->next_hash;
  return blk;
}

/* Give every cached (free) block back to CUDA.  A kernel still queued may
** read a block its tensor has since freed, so wait for the device first
** (cudaFree does too, in practice, but does not promise it). */
static void pool_release_cached (void) {
  if (pool.nblocks == 0 || pool.allocated == pool.reserved) return;    /* nothing cached */
  if (cudaDeviceSynchronize() != cudaSuccess) (void)cudaGetLastError();
  for (size_t c = 0; c < NCLASSES; c++) {
    cuda_block *blk = pool.free_list[c];
    while (blk != NULL) {
      cuda_block *next = blk->next_free;
      /* unlink from its hash chain */
      cuda_block **link = &pool.buckets[hash_ptr(blk->ptr, pool.nbuckets)];
      while (*link != blk) link = &(*link)->next_hash;
      *link = blk->next_hash;
      if (cudaFree(blk->ptr) != cudaSuccess)
        (void)cudaGetLastError();    /* nothing to report to: forget the block anyway */
      pool.reserved -= blk->bytes;
      pool.nblocks--;
      free(blk);
      blk = next;
    }
    pool.free_list[c] = NULL;
  }
}

/* A cached block of class c, out of its free list; NULL when there is none. */
static cuda_block *pool_take (size_t c) {
  cuda_block *blk = pool.free_list[c];
  if (blk != NULL) pool.free_list[c] = blk->next_free;
  return blk;
}

/* The record of a block that cudaMalloc has just given; on failure (no host
** memory for it) the block goes back to CUDA. */
static int pool_record (cuda_block **out, void *ptr, size_t rounded, size_t c) {
  cuda_block *blk = (cuda_block *)malloc(sizeof *blk);
  if (blk != NULL && pool.nblocks >= pool.nbuckets) pool_grow();
  if (blk == NULL || pool.nbuckets == 0) {     /* not even the first hash table */
    free(blk);
    if (cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
    return nn_seterr(NN_ENOMEM, "out of host memory for the CUDA allocator's records");
  }
  blk->ptr = ptr;
  blk->bytes = rounded;
  blk->cls = c;
  size_t h = hash_ptr(ptr, pool.nbuckets);
  blk->next_hash = pool.buckets[h];
  pool.buckets[h] = blk;
  pool.nblocks++;
  pool.reserved += rounded;
  *out = blk;
  return NN_OK;
}

/* *p = a device block of at least `bytes` bytes, from the cache if it can. */
static int pool_alloc (void **p, size_t bytes) {
  *p = NULL;
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (bytes == 0) bytes = 1;                 /* a valid, distinct pointer all the same */
  if (bytes > LARGE_MAX)
    return nn_seterr(NN_ENOMEM, "cannot allocate %zu bytes on the GPU: too large", bytes);
  size_t rounded;
  size_t c = size_class(bytes, &rounded);
  cuda_block *blk = pool_take(c);           /* a cached block of this class */
  if (blk == NULL) {
    void *ptr = NULL;
    cudaError_t err = cudaMalloc(&ptr, rounded);
    if (err != cudaSuccess) {
      /* let the host collect the tensors it has dropped (their blocks come
      ** back to the cache), else give the whole cache to CUDA; try once more */
      (void)cudaGetLastError();
      if (pool.oom_hook != NULL) pool.oom_hook(pool.oom_ud);
      blk = pool_take(c);
      if (blk == NULL) {
        pool_release_cached();
        err = cudaMalloc(&ptr, rounded);
      }
    }
    if (blk == NULL) {
      if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        (void)cudaGetLastError();
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
        const double mib = 1024.0 * 1024.0;
        return nn_seterr(NN_ENOMEM, "cannot allocate %zu bytes on the GPU (%.1f MiB, %zu with "
                         "rounding): %s; %zu of %zu bytes free (%.1f of %.1f MiB); nnlua's "
                         "tensors hold %zu bytes (%.1f MiB)",
                         bytes, bytes / mib, rounded, cudaGetErrorString(err), free_b, total_b,
                         free_b / mib, total_b / mib, pool.allocated, pool.allocated / mib);
      }
      if ((rc = pool_record(&blk, ptr, rounded, c)) != NN_OK) return rc;
    }
  }
  blk->in_use = 1;
  blk->next_free = NULL;
  pool.allocated += blk->bytes;
  *p = blk->ptr;
  return NN_OK;
}

/* Back to its class's free list; NULL, and a pointer we never gave out, are
** ignored (there is no one to report to). */
static void pool_free (void *p) {
  if (p == NULL) return;
  cuda_block *blk = pool_find(p);
  if (blk == NULL || !blk->in_use) return;
  blk->in_use = 0;
  blk->next_free = pool.free_list[blk->cls];
  pool.free_list[blk->cls] = blk;
  pool.allocated -= blk->bytes;
}

extern "C" int cuda_malloc (float **p, size_t n) {
  *p = NULL;
  if (n > SIZE_MAX / sizeof(float))
    return nn_seterr(NN_ENOMEM, "cannot allocate %zu floats on the GPU: too large", n);
  void *ptr = NULL;
  int rc = pool_alloc(&ptr, n * sizeof(float));
  *p = (float *)ptr;
  return rc;
}

extern "C" void cuda_free (float *p) { pool_free(p); }

/* The allocator's counters, and a way to hand the cache back (PyTorch's
** torch.cuda.memory_allocated / memory_reserved / empty_cache). */
extern "C" size_t cuda_memory_allocated (void) { return pool.allocated; }
extern "C" size_t cuda_memory_reserved (void) { return pool.reserved; }
extern "C" void cuda_empty_cache (void) { pool_release_cached(); }

extern "C" void cuda_set_oom_hook (void (*hook) (void *ud), void *ud) {
  pool.oom_hook = hook;
  pool.oom_ud = ud;
}

extern "C" int cuda_device_count (void) {
  int count = 0;
  if (!cuda_available(NULL, 0)) return 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) { (void)cudaGetLastError(); return 0; }
  return count;
}

extern "C" int cuda_synchronize (void) {
  if (!cu.ready) return NN_OK;             /* nothing was ever queued */
  CUDA_TRY(cudaStreamSynchronize(cu.stream));
  return NN_OK;
}

/* --- copies ------------------------------------------------------------------------ */

/* n floats from src to dst.  A copy that touches host memory waits until it
** is done, so the host buffer may be read, reused or freed on return.  Two
** device ranges that overlap (views of one storage) go through a scratch
** block, as memmove would, since cudaMemcpy leaves overlap undefined. */
extern "C" int cuda_memcpy (float *dst, nn_device dst_dev, const float *src, nn_device src_dev,
                            size_t n) {
  size_t bytes = n * sizeof(float);
  if (dst_dev == NN_CPU && src_dev == NN_CPU) {
    if (n > 0) memmove(dst, src, bytes);
    return NN_OK;
  }
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if (dst_dev == NN_CUDA && src_dev == NN_CUDA) {
    if (dst == src) return NN_OK;
    if (dst < src + n && src < dst + n) {    /* overlap */
      void *tmp;
      if ((rc = pool_alloc(&tmp, bytes)) != NN_OK) return rc;
      cudaError_t err = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, cu.stream);
      if (err == cudaSuccess)
        err = cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, cu.stream);
      pool_free(tmp);                        /* stream order: safe to reuse after these */
      CUDA_TRY(err);
      return NN_OK;
    }
    CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu.stream));
    return NN_OK;
  }
  cudaMemcpyKind kind = dst_dev == NN_CPU ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
  CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, kind, cu.stream));
  CUDA_TRY(cudaStreamSynchronize(cu.stream));
  return NN_OK;
}

/* --- filling and random numbers ---------------------------------------------------
** Launch shape of all the element-wise kernels: 1-D, THREADS per block,
** grid_for(n) blocks, each thread stepping by the whole grid (gridDim.x *
** blockDim.x) until it passes n. */

/* x[i] = value */
static __global__ void fill_kernel (float *x, float value, size_t n) {
  GRID_STRIDE(i, n)
    x[i] = value;
}

/* x[i] = start + i * step, in double, then rounded to float.  __dmul_rn and
** __dadd_rn keep nvcc from fusing them into one fma, which would round once
** where cpu.c rounds twice: this way both give the same bits. */
static __global__ void arange_kernel (float *x, double start, double step, size_t n) {
  GRID_STRIDE(i, n)
    x[i] = (float)__dadd_rn(start, __dmul_rn((double)i, step));
}

/* x[i] = lo + (hi - lo) * u01(r[i % 4]),  r = Philox(seed, block0 + i / 4).
** Launch: one thread per Philox block (4 elements), grid-stride over the
** ceil(n / 4) blocks.  Unfused multiply and add, as in cpu.c: the same bits. */
static __global__ void uniform_kernel (float *x, size_t n, uint64_t seed, uint64_t block0,
                                       float lo, float hi) {
  size_t nblocks = (n + 3) / 4;
  float range = hi - lo;
  GRID_STRIDE(b, nblocks) {
    uint32_t r[4];
    philox_block(r, seed, block0 + b);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      x[4 * b + lane] = __fadd_rn(lo, __fmul_rn(range, philox_u01(r[lane])));
  }
}

/* x[i] = mean + std * z(r, i % 4),  z: Box-Muller on the block's lanes
** (philox_normal).  Launch as uniform_kernel.  The uniforms are the CPU's
** bits; logf, sinf and cosf of the GPU may differ from the C library's by
** an ulp or two, so normals agree to float rounding, not bit for bit. */
static __global__ void normal_kernel (float *x, size_t n, uint64_t seed, uint64_t block0,
                                      float mean, float stddev) {
  size_t nblocks = (n + 3) / 4;
  GRID_STRIDE(b, nblocks) {
    uint32_t r[4];
    philox_block(r, seed, block0 + b);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      x[4 * b + lane] = __fadd_rn(mean, __fmul_rn(stddev, philox_normal(r, lane)));
  }
}

extern "C" int cuda_fill (float *x, float value, size_t n) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  fill_kernel<<<grid_for(n), THREADS, 0, cu.stream>>>(x, value, n);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

extern "C" int cuda_arange (float *x, double start, double step, size_t n) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  arange_kernel<<<grid_for(n), THREADS, 0, cu.stream>>>(x, start, step, n);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

extern "C" int cuda_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo,
                             float hi) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  uniform_kernel<<<grid_for((n + 3) / 4), THREADS, 0, cu.stream>>>(x, n, seed, block0, lo, hi);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

extern "C" int cuda_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean,
                            float stddev) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  normal_kernel<<<grid_for((n + 3) / 4), THREADS, 0, cu.stream>>>(x, n, seed, block0, mean, stddev);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

/* --- element-wise ------------------------------------------------------------------
** The op is a kernel argument: every thread of a warp takes the same branch
** of nn_binary_eval's switch, so it costs nothing next to the memory traffic. */

/* out[i] = a[i] (op) b[i % bn].  bn == n: same shapes (no division needed);
** bn < n: b is a row repeated over a's rows (the bias add).  out may be a,
** or b when bn == n: each element reads only its own inputs. */
static __global__ void binary_kernel (float *out, const float *a, const float *b, size_t n,
                                      size_t bn, int op) {
  GRID_STRIDE(i, n)
    out[i] = nn_binary_eval(op, a[i], b[bn == n ? i : i % bn]);
}

/* out[i] = a[i] (op) s */
static __global__ void binary_scalar_kernel (float *out, const float *a, float s, size_t n,
                                             int op) {
  GRID_STRIDE(i, n)
    out[i] = nn_binary_eval(op, a[i], s);
}

/* out[i] = f(a[i]; p, q) */
static __global__ void unary_kernel (float *out, const float *a, size_t n, int op, float p,
                                     float q) {
  GRID_STRIDE(i, n)
    out[i] = nn_unary_eval(op, a[i], p, q);
}

/* grad_in[i] = grad_out[i] * f'(s[i]) */
static __global__ void unary_backward_kernel (float *grad_in, const float *grad_out,
                                              const float *s, size_t n, int op, float p) {
  GRID_STRIDE(i, n)
    grad_in[i] = nn_unary_backward_eval(op, grad_out[i], s[i], p);
}

extern "C" int cuda_binary (float *out, const float *a, const float *b, size_t n, size_t bn,
                            nn_binop op) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  if (bn == 0 || n % bn != 0)
    return nn_seterr(NN_EARG, "binary op: b's length %zu does not divide %zu", bn, n);
  binary_kernel<<<grid_for(n), THREADS, 0, cu.stream>>>(out, a, b, n, bn, (int)op);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

extern "C" int cuda_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  binary_scalar_kernel<<<grid_for(n), THREADS, 0, cu.stream>>>(out, a, s, n, (int)op);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

extern "C" int cuda_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if ((unsigned)op >= NN_UNOP_COUNT) return nn_seterr(NN_EARG, "unknown unary op %d", (int)op);
  unary_kernel<<<grid_for(n), THREADS, 0, cu.stream>>>(out, a, n, (int)op, p, q);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

extern "C" int cuda_unary_backward (float *grad_in, const float *grad_out, const float *s,
                                    size_t n, nn_unop op, float p) {
  int rc = cuda_ready();
  if (rc != NN_OK || n == 0) return rc;
  if (op != NN_RELU && op != NN_LEAKY_RELU && op != NN_SIGMOID && op != NN_TANH)
    return nn_seterr(NN_EARG, "unary op %d has no backward", (int)op);
  unary_backward_kernel<<<grid_for(n), THREADS, 0, cu.stream>>>(grad_in, grad_out, s, n,
                                                                (int)op, p);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

/* --- reductions --------------------------------------------------------------------
**
** Deterministic: no atomics.  Each thread folds its share of the input in a
** fixed order, then the block folds its threads' results in a fixed tree in
** shared memory; reduce_all does that twice (blocks -> partials -> one), with
** a grid that depends only on n.  So a given input gives the same bits on
** every run.  Sums are in double, as in cpu.c; their order differs from the
** CPU's sequential loop, so the two agree to double rounding, far below the
** float result's.
**
** Extremes keep (value, index) pairs and must pick the very element that
** cpu.c's loop picks.  That loop starts from a[0] and takes x when x beats
** the current value or the current value is nan, so:
**   - any number beats nan, and among numbers the extreme wins;
**   - among equal numbers the lower index wins (the loop takes only a strict
**     improvement, so the first one stays);
**   - among nans the higher index wins (all nan: the loop ends on the last).
** That is a total order on (value, index) pairs, so folding in any tree gives
** the loop's answer.  An empty slot (a thread with no elements) has index
** NO_INDEX and loses to everything. */
#define NO_INDEX SIZE_MAX

/* Does (v, i) beat (bv, bi) in a max (want_max) or min search? */
static __device__ __forceinline__ bool ext_beats (float v, size_t i, float bv, size_t bi,
                                                  int want_max) {
  if (i == NO_INDEX) return false;
  if (bi == NO_INDEX) return true;
  if (bv != bv) return v == v || i > bi;     /* current is nan */
  if (v != v) return false;                  /* a nan never beats a number */
  if (v == bv) return i < bi;
  return want_max ? v > bv : v < bv;
}

/* Sum of v over the block (blockDim.x == THREADS): a tree that halves the
** active threads each step, with a barrier between steps.  Every thread gets
** the total.  s: THREADS doubles of shared memory. */
static __device__ double block_sum (double v, double *s) {
  unsigned t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (unsigned half = THREADS / 2; half > 0; half >>= 1) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  return s[0];
}

/* out[blockIdx.x] = sum over this block's share of d(x[i]), where
** d(x) = x - center, or (x - center)^2 when `squared` (the variance).
** Launch: G <= MAX_PARTIALS blocks of THREADS; thread t of block g takes
** i = g*THREADS + t, then steps by G*THREADS.  Pass 1 reads the floats
** (T = float); pass 2 is one block over the G partials (T = double,
** center 0, not squared). */
template <typename T>
static __global__ void reduce_sum_kernel (double *out, const T *x, size_t n, double center,
                                          int squared) {
  __shared__ double s[THREADS];
  double acc = 0.0;
  for (size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x; i < n;
       i += (size_t)gridDim.x * THREADS) {
    double d = (double)x[i] - center;
    acc += squared ? d * d : d;
  }
  double total = block_sum(acc, s);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

/* out_v/out_i[blockIdx.x] = the best (value, index) of this block's share,
** by ext_beats.  Index of x[i] is i, or xi[i] when xi is given (pass 2,
** which folds pass 1's pairs).  Launch as reduce_sum_kernel. */
static __global__ void reduce_ext_kernel (float *out_v, size_t *out_i, const float *x,
                                          const size_t *xi, size_t n, int want_max) {
  __shared__ float sv[THREADS];
  __shared__ size_t si[THREADS];
  float bv = 0.0f;
  size_t bi = NO_INDEX;
  for (size_t i = (size_t)blockIdx.x * THREADS + threadIdx.x; i < n;
       i += (size_t)gridDim.x * THREADS) {
    float v = x[i];
    size_t idx = xi != NULL ? xi[i] : i;
    if (ext_beats(v, idx, bv, bi, want_max)) { bv = v; bi = idx; }
  }
  unsigned t = threadIdx.x;
  sv[t] = bv;
  si[t] = bi;
  __syncthreads();
  for (unsigned half = THREADS / 2; half > 0; half >>= 1) {
    if (t < half && ext_beats(sv[t + half], si[t + half], sv[t], si[t], want_max)) {
      sv[t] = sv[t + half];
      si[t] = si[t + half];
    }
    __syncthreads();
  }
  if (t == 0) { out_v[blockIdx.x] = sv[0]; out_i[blockIdx.x] = si[0]; }
}

/* Blocks of reduce_all's first pass: one per THREADS elements, at most
** MAX_PARTIALS.  It depends on n alone, not on the GPU, so the order of the
** sums (and so the bits of the result) is the same on every device. */
static unsigned partials_for (size_t n) {
  size_t g = (n + THREADS - 1) / THREADS;
  return g < 1 ? 1u : g > MAX_PARTIALS ? (unsigned)MAX_PARTIALS : (unsigned)g;
}

/* *result = sum of (x - center) or of (x - center)^2 over n floats. */
static int sum_all (double *result, const float *a, size_t n, double center, int squared) {
  unsigned g = partials_for(n);
  double *scratch;              /* g partials, then the total */
  int rc = pool_alloc((void **)&scratch, (g + 1) * sizeof(double));
  if (rc != NN_OK) return rc;
  reduce_sum_kernel<float><<<g, THREADS, 0, cu.stream>>>(scratch, a, n, center, squared);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) {
    reduce_sum_kernel<double><<<1, THREADS, 0, cu.stream>>>(scratch + g, scratch, g, 0.0, 0);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(result, scratch + g, sizeof(double), cudaMemcpyDeviceToHost, cu.stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(cu.stream);
  pool_free(scratch);
  CUDA_TRY(err);
  return NN_OK;
}

/* *value, *index = the extreme of n floats, by ext_beats. */
static int ext_all (float *value, size_t *index, const float *a, size_t n, int want_max) {
  unsigned g = partials_for(n);
  /* scratch: g + 1 indices (the last is the answer), then g + 1 values */
  size_t *idx;
  int rc = pool_alloc((void **)&idx, (g + 1) * (sizeof(size_t) + sizeof(float)));
  if (rc != NN_OK) return rc;
  float *val = (float *)(idx + g + 1);
  reduce_ext_kernel<<<g, THREADS, 0, cu.stream>>>(val, idx, a, NULL, n, want_max);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) {
    reduce_ext_kernel<<<1, THREADS, 0, cu.stream>>>(val + g, idx + g, val, idx, g, want_max);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(value, val + g, sizeof(float), cudaMemcpyDeviceToHost, cu.stream);
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(index, idx + g, sizeof(size_t), cudaMemcpyDeviceToHost, cu.stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(cu.stream);
  pool_free(idx);
  CUDA_TRY(err);
  return NN_OK;
}

extern "C" int cuda_reduce_all (double *result, const float *a, size_t n, nn_redop op) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (op == NN_SUM || op == NN_MEAN) {
    double s = 0.0;
    if (n > 0 && (rc = sum_all(&s, a, n, 0.0, 0)) != NN_OK) return rc;
    *result = op == NN_MEAN ? s / (double)n : s;     /* mean of nothing: 0/0 = nan, as cpu.c */
    return NN_OK;
  }
  if ((unsigned)op >= NN_REDOP_COUNT) return nn_seterr(NN_EARG, "unknown reduction %d", (int)op);
  if (n == 0) return nn_seterr(NN_EARG, "%s of an empty tensor", redop_name(op));
  float v;
  size_t i;
  int want_max = op == NN_MAX || op == NN_ARGMAX;
  if ((rc = ext_all(&v, &i, a, n, want_max)) != NN_OK) return rc;
  *result = (op == NN_ARGMAX || op == NN_ARGMIN) ? (double)i : (double)v;
  return NN_OK;
}

/* Population variance: mean first, then the mean of squared deviations,
** both in double (the one-pass E[x^2] - E[x]^2 cancels catastrophically). */
extern "C" int cuda_var_all (double *result, const float *a, size_t n) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (n == 0) return nn_seterr(NN_EARG, "variance of an empty tensor");
  double s, ss;
  if ((rc = sum_all(&s, a, n, 0.0, 0)) != NN_OK) return rc;
  if ((rc = sum_all(&ss, a, n, s / (double)n, 1)) != NN_OK) return rc;
  *result = ss / (double)n;
  return NN_OK;
}

/* Reductions along a dim.  a is (outer, n, inner); out[o, j] folds
** a[o, k, j] = a[(o*n + k)*inner + j] over k = 0 .. n-1.
**
** Launch: 2-D blocks of tx * ty = THREADS threads, tx = the power of two
** >= min(inner, 32), ty = THREADS / tx.  A tile is tx neighbouring j of one
** o: thread (x, y) folds k = y, y + ty, y + 2 ty, ... for j = j0 + x, so a
** warp reads tx consecutive floats (coalesced when inner is large), and with
** inner == 1 (a reduction along the last dim) all 256 threads share one row.
** Then the ty results of each column are folded in a tree over y (ty is a
** power of two).  Grid-stride over the outer * ceil(inner / tx) tiles. */

/* out[o, j] = sum_k a[o, k, j]   (divided by n when `mean`), in double */
static __global__ void reduce_dim_sum_kernel (float *out, const float *a, size_t outer, size_t n,
                                              size_t inner, int mean) {
  __shared__ double s[THREADS];
  unsigned tx = blockDim.x, ty = blockDim.y, x = threadIdx.x, y = threadIdx.y;
  size_t tiles_per_row = (inner + tx - 1) / tx;
  size_t ntiles = outer * tiles_per_row;
  for (size_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    size_t o = tile / tiles_per_row;
    size_t j = (tile % tiles_per_row) * tx + x;
    double acc = 0.0;
    if (j < inner)
      for (size_t k = y; k < n; k += ty) acc += (double)a[(o * n + k) * inner + j];
    s[y * tx + x] = acc;
    __syncthreads();
    for (unsigned half = ty / 2; half > 0; half >>= 1) {
      if (y < half) s[y * tx + x] += s[(y + half) * tx + x];
      __syncthreads();
    }
    if (y == 0 && j < inner) out[o * inner + j] = (float)(mean ? s[x] / (double)n : s[x]);
    __syncthreads();            /* s is written again by the next tile */
  }
}

/* out[o, j] = the extreme of a[o, k, j] over k (by ext_beats), or its k as a
** float when `arg` */
static __global__ void reduce_dim_ext_kernel (float *out, const float *a, size_t outer, size_t n,
                                              size_t inner, int want_max, int arg) {
  __shared__ float sv[THREADS];
  __shared__ size_t si[THREADS];
  unsigned tx = blockDim.x, ty = blockDim.y, x = threadIdx.x, y = threadIdx.y;
  unsigned t = y * tx + x;
  size_t tiles_per_row = (inner + tx - 1) / tx;
  size_t ntiles = outer * tiles_per_row;
  for (size_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    size_t o = tile / tiles_per_row;
    size_t j = (tile % tiles_per_row) * tx + x;
    float bv = 0.0f;
    size_t bk = NO_INDEX;
    if (j < inner)
      for (size_t k = y; k < n; k += ty) {
        float v = a[(o * n + k) * inner + j];
        if (ext_beats(v, k, bv, bk, want_max)) { bv = v; bk = k; }
      }
    sv[t] = bv;
    si[t] = bk;
    __syncthreads();
    for (unsigned half = ty / 2; half > 0; half >>= 1) {
      unsigned u = t + half * tx;            /* the same column, half rows down */
      if (y < half && ext_beats(sv[u], si[u], sv[t], si[t], want_max)) {
        sv[t] = sv[u];
        si[t] = si[u];
      }
      __syncthreads();
    }
    if (y == 0 && j < inner) out[o * inner + j] = arg ? (float)si[x] : sv[x];
    __syncthreads();            /* sv, si are written again by the next tile */
  }
}

extern "C" int cuda_reduce_dim (float *out, const float *a, size_t outer, size_t n, size_t inner,
                                nn_redop op) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if ((unsigned)op >= NN_REDOP_COUNT) return nn_seterr(NN_EARG, "unknown reduction %d", (int)op);
  if (outer == 0 || inner == 0) return NN_OK;
  if (n == 0 && op != NN_SUM && op != NN_MEAN)
    return nn_seterr(NN_EARG, "%s over an empty dim", redop_name(op));
  unsigned tx = 1;
  while (tx < inner && tx < 32) tx *= 2;
  dim3 block(tx, THREADS / tx);
  size_t ntiles = outer * ((inner + tx - 1) / tx);
  unsigned grid = ntiles < cu.max_blocks ? (unsigned)ntiles : cu.max_blocks;
  if (op == NN_SUM || op == NN_MEAN)
    reduce_dim_sum_kernel<<<grid, block, 0, cu.stream>>>(out, a, outer, n, inner, op == NN_MEAN);
  else
    reduce_dim_ext_kernel<<<grid, block, 0, cu.stream>>>(out, a, outer, n, inner,
                                                         op == NN_MAX || op == NN_ARGMAX,
                                                         op == NN_ARGMAX || op == NN_ARGMIN);
  CUDA_TRY(cudaGetLastError());
  return NN_OK;
}

/* --- matrix multiply ----------------------------------------------------------------
**
** out (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * out, all row-major:
** the arguments of cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, lda,
** b, ldb, beta, out, N), with lda, ldb the stored row lengths.
**
** cuBLAS is column-major only.  A row-major (R,C) matrix with row length ld
** is, in the same memory, a column-major (C,R) matrix with leading
** dimension ld: its transpose.  So we ask cuBLAS for out^T, which is the
** memory of out read column-major (N,M) with ldc = N:
**     out^T = (op(a) op(b))^T = op(b)^T op(a)^T.
** The memory of b, read column-major, is b^T.  If tb is off, op(b)^T = b^T is
** that matrix as it stands: CUBLAS_OP_N; if tb is on, op(b)^T = b is its
** transpose: CUBLAS_OP_T.  Likewise for a.  Hence
**     cublasSgemm(handle, tb ? T : N, ta ? T : N, N, M, K,
**                 &alpha, b, ldb, a, lda, &beta, out, N)
** with m = N, n = M, k = K in cuBLAS's names: op(b)^T is (N,K), op(a)^T is
** (K,M), out^T is (N,M).  No copy, no transpose kernel.
**
** The handle keeps cuBLAS's default math mode: full float32, no TF32 tensor
** cores, so the GPU agrees with OpenBLAS to float rounding. */
extern "C" int cuda_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                            int trans_a, int trans_b, int lda, int ldb, float alpha, float beta) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (cu.blas == NULL) {                    /* first matmul: the one handle */
    if ((rc = blas_load()) != NN_OK) return rc;
    CUBLAS_TRY(blas_api.create(&cu.blas));
    cublasStatus_t st = blas_api.set_stream(cu.blas, cu.stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
      blas_api.destroy(cu.blas);
      cu.blas = NULL;
      CUBLAS_TRY(st);
    }
  }
  if (M <= 0 || N <= 0) return NN_OK;       /* nothing to write */
  /* K == 0 leaves lda or ldb 0 (a row of no floats), which cuBLAS rejects
  ** although it reads nothing then: 1 is as good. */
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_TRY(blas_api.sgemm(cu.blas, op_b, op_a, N, M, K, &alpha, b, ldb, a, lda, &beta, out, N));
  return NN_OK;
}

/* --- gathering and one-hot ---------------------------------------------------------
** Launch as the element-wise kernels: one thread per output float,
** grid-stride.  A kernel cannot return an error, so a thread that meets an
** index out of range (or not a whole number) writes nothing and records its
** row with flag_bad (cuda_util.cuh): afterwards the flag holds the first bad row,
** the very one cpu.c's loop stops at.  Reading it back waits for the
** stream, so each call synchronises once: one gather per batch, cheap next
** to the batch's forward and backward. */

/* Is v a whole number in [lo, hi)?  The same test as cpu.c's index_ok. */
static __device__ __forceinline__ bool index_ok (float v, double lo, double hi) {
  return (double)v >= lo && (double)v < hi && (float)(long long)v == v;
}

/* out[i][j] = src[idx[i] - base][j];  out: (k, row_len), src: (rows, row_len) */
static __global__ void index_select_kernel (float *out, const float *src, const float *idx,
                                            size_t k, size_t rows, size_t row_len, int base) {
  size_t n = k * row_len;
  GRID_STRIDE(e, n) {
    size_t i = e / row_len, j = e - i * row_len;
    float v = idx[i];
    if (!index_ok(v, base, (double)rows + base)) {
      flag_bad(i);
      continue;
    }
    out[e] = src[(size_t)((long long)v - base) * row_len + j];
  }
}

/* out[i][j] = (j + 1 == labels[i]);  out: (b, c) */
static __global__ void one_hot_kernel (float *out, const float *labels, size_t b, size_t c) {
  size_t n = b * c;
  GRID_STRIDE(e, n) {
    size_t i = e / c, j = e - i * c;
    float v = labels[i];
    if (!index_ok(v, 1.0, (double)c + 1.0)) flag_bad(i);
    out[e] = (float)j + 1.0f == v ? 1.0f : 0.0f;
  }
}

extern "C" int cuda_index_select (float *out, const float *src, const float *idx, size_t k,
                                  size_t rows, size_t row_len, int base, int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || k == 0 || row_len == 0) return rc;
  if ((rc = bad_reset(cu.stream)) != NN_OK) return rc;
  index_select_kernel<<<grid_for(k * row_len), THREADS, 0, cu.stream>>>(out, src, idx, k, rows,
                                                                        row_len, base);
  return bad_read(cu.stream, bad);
}

extern "C" int cuda_one_hot (float *out, const float *labels, size_t b, size_t c, int64_t *bad) {
  *bad = -1;
  int rc = cuda_ready();
  if (rc != NN_OK || b == 0) return rc;
  if (c == 0) {     /* no columns to write: only the labels to check, and 1..0 holds none */
    *bad = 0;
    return NN_OK;
  }
  if ((rc = bad_reset(cu.stream)) != NN_OK) return rc;
  one_hot_kernel<<<grid_for(b * c), THREADS, 0, cu.stream>>>(out, labels, b, c);
  return bad_read(cu.stream, bad);
}
