/*
** cuda_gemm.cu -- matrix products on CUDA: cuBLAS's sgemm, how cuBLAS is
** opened (dlopen, on the first matmul), and how a row-major product is
** asked of a column-major library.
**
** tensor.c has already checked shapes and devices; here every pointer is a
** valid device pointer, and we report only failures of the device itself
** (NN_EDEVICE when there is no GPU; NN_ECUDA for CUDA's and cuBLAS's
** errors).  No kernel of ours here: cuBLAS launches its own, on the one
** stream (cuda_alloc.cu).  One thread drives the GPU, so the lazily made
** handle is not locked.
*/
#include <cublas_v2.h>
#include <dlfcn.h>

#include "cuda_util.cuh"   /* cuda_ready, cuda_stream */
extern "C" {
#include "backend.h"
}

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
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched;
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
    { "cublasSgemmStridedBatched", (void **)&blas_api.sgemm_strided_batched },
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

/* The one cuBLAS handle, created on the first matmul, on the one stream
** (cuda_alloc.cu): GEMMs queue behind the kernels that write their inputs. */
static cublasHandle_t blas;

/* The same as CUDA_TRY for cuBLAS, whose calls return a cublasStatus_t. */
#define CUBLAS_TRY(call) do {                                                 \
    cublasStatus_t st_ = (call);                                              \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                         \
      return nn_seterr(NN_ECUDA, "cuBLAS error: %s (%s at %s:%d)",            \
                       blas_api.status_string(st_), #call, __FILE__, __LINE__); \
  } while (0)

/* The device and the one handle, made on the first matmul. */
static int blas_ready (void) {
  int rc = cuda_ready();
  if (rc != NN_OK) return rc;
  if (blas == NULL) {                       /* first matmul: the one handle */
    if ((rc = blas_load()) != NN_OK) return rc;
    CUBLAS_TRY(blas_api.create(&blas));
    cublasStatus_t st = blas_api.set_stream(blas, cuda_stream());
    if (st != CUBLAS_STATUS_SUCCESS) {
      blas_api.destroy(blas);
      blas = NULL;
      CUBLAS_TRY(st);
    }
  }
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
  int rc = blas_ready();
  if (rc != NN_OK) return rc;
  if (M <= 0 || N <= 0) return NN_OK;       /* nothing to write */
  /* K == 0 leaves lda or ldb 0 (a row of no floats), which cuBLAS rejects
  ** although it reads nothing then: 1 is as good. */
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  CUBLAS_TRY(blas_api.sgemm(blas, op_b, op_a, N, M, K, &alpha, b, ldb, a, lda, &beta, out, N));
  return NN_OK;
}

/* --- batched matrix multiply --------------------------------------------------------
**
** out[t] = alpha * op(a[t]) @ op(b[t]) + beta * out[t] for every matrix t of
** the batch (backend.h: nbatch dims of sizes size[], steps stride_a[],
** stride_b[] in floats, 0 for a broadcast dim; out[t] at out + t*M*N).
** Each matrix is asked of cuBLAS as cuda_matmul asks one (out^T =
** op(b)^T op(a)^T, column-major).  Along the last batch dim the steps are
** uniform, which is what cublasSgemmStridedBatched takes: strideA =
** stride_b[last] (b comes first there), strideB = stride_a[last], strideC =
** M*N; a step of 0 reads the same matrix for every entry (the broadcast).
** tensor.c has merged every dim it could into the last (a (16,4) batch of
** contiguous matrices is one call of 64); the other dims, where a and b
** step in different patterns ((2,1,3,4) @ (5,4,6)), are a loop of calls on
** the one stream.  batchCount is an int: a longer run is cut in pieces. */
extern "C" int cuda_matmul_batched (float *out, const float *a, const float *b, int M, int N,
                                    int K, int trans_a, int trans_b, int lda, int ldb,
                                    float alpha, float beta, int nbatch, const int64_t *size,
                                    const int64_t *stride_a, const int64_t *stride_b) {
  int rc = blas_ready();
  if (rc != NN_OK) return rc;
  if (M <= 0 || N <= 0 || nbatch < 1) return NN_OK;
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  int last = nbatch - 1;
  int64_t runs = 1, run_len = size[last];
  for (int d = 0; d < last; d++) runs *= size[d];
  long long mn = (long long)M * N;
  for (int64_t r = 0; r < runs; r++) {
    /* the offsets of run r's first matrix: its index over the outer dims */
    int64_t oa = 0, ob = 0, t = r;
    for (int d = last - 1; d >= 0; d--) {
      int64_t i = t % size[d];
      t /= size[d];
      oa += i * stride_a[d];
      ob += i * stride_b[d];
    }
    for (int64_t done = 0; done < run_len;) {
      int count = run_len - done > INT32_MAX ? INT32_MAX : (int)(run_len - done);
      const float *ap = a + oa + done * stride_a[last], *bp = b + ob + done * stride_b[last];
      float *cp = out + (r * run_len + done) * mn;
      CUBLAS_TRY(blas_api.sgemm_strided_batched(blas, op_b, op_a, N, M, K, &alpha,
                                                bp, ldb, (long long)stride_b[last],
                                                ap, lda, (long long)stride_a[last],
                                                &beta, cp, N, mn, count));
      done += count;
    }
  }
  return NN_OK;
}
