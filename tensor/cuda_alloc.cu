/*
** cuda_alloc.cu -- the CUDA device itself: whether there is one, its one
** stream and launch limits (cuda_util.cuh's cuda_ready, cuda_stream,
** cuda_grid), the caching allocator with its counters and scratch blocks,
** the device count and the sync.  The kernels are elsewhere:
** cuda_elementwise.cu (copies, fill, random numbers, unary and binary ops,
** gathering), cuda_reduce.cu (reductions), cuda_gemm.cu (cuBLAS matmul),
** and nn/cuda_*.cu (layers, losses, metrics, optimizer updates).
**
** tensor.c has already checked shapes and devices; here every pointer is a
** valid device pointer for n floats, and we report only failures of the
** device itself (NN_EDEVICE when there is no GPU, NN_ENOMEM, NN_ECUDA).
**
** One stream, created on first use.  Every kernel, copy and GEMM goes on
** that stream, so work runs in the order it was asked for and a block that
** cuda_free() returns to the cache can be handed out again at once:
** whatever still reads it is ahead in the same queue.  Copies that touch
** host memory wait for the stream (the host pointer may be a stack
** variable, or read right after); everything else returns as soon as it is
** queued.
**
** nnlua drives the GPU from one thread (the Lua VM's), so the allocator and
** the lazily created stream are not locked.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.cuh"   /* CUDA_TRY, cuda_ready ... */
extern "C" {
#include "backend.h"
}

/* --- state --------------------------------------------------------------------- */

enum { AVAIL_UNKNOWN = 0, AVAIL_YES, AVAIL_NO };

static struct {
  int available;           /* AVAIL_*: asked once, then cached */
  char reason[256];        /* why not, when AVAIL_NO */
  int ready;               /* stream created and launch limits known */
  cudaStream_t stream;     /* the one stream all work goes on */
  unsigned max_blocks;     /* grid-stride grids: one full wave of the GPU */
} cu;

/* --- availability ---------------------------------------------------------------- */

/* A kernel that does nothing, for cuda_available to ask the runtime about:
** every .cu file is built for the same GPUs (the Makefile's CUDA_ARCH), so
** when this one can run, so can the others. */
static __global__ void probe_kernel (void) {}

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
    else if ((err = cudaFuncGetAttributes(&attr, probe_kernel)) != cudaSuccess) {
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
** that touches the GPU calls this first (cuda_util.cuh). */
int cuda_ready (void) {
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

/* cuda_util.cuh: the stream, valid once cuda_ready() has said NN_OK */
cudaStream_t cuda_stream (void) { return cu.stream; }

/* cuda_util.cuh: `blocks`, but at least 1 and at most one wave; the
** grid-stride kernels loop over whatever is beyond */
unsigned cuda_grid (size_t blocks) {
  if (blocks < 1) blocks = 1;
  return blocks < cu.max_blocks ? (unsigned)blocks : cu.max_blocks;
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

/* cuda_util.cuh: scratch blocks for the reductions and copies */
int cuda_scratch_alloc (void **p, size_t bytes) { return pool_alloc(p, bytes); }
void cuda_scratch_free (void *p) { pool_free(p); }

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
