/*
** cpu_gemm.c -- matrix products on the CPU, cut into tiles that the OpenMP
** threads take as they come free.
**
** out (M,N) = alpha op(a) (M,K) op(b) (K,N) + beta out, row-major, where
** op(x) is x or x^T.  OpenBLAS computes every tile; nnlua decides how the
** product is cut and who computes which part, for two reasons.
**
** 1. The same bits at any number of threads.  OpenBLAS left to itself
**    splits a product among its threads by the thread count, and for some
**    shapes (one side of 10, the last layer of a classifier) the split
**    changes the order of the additions: a training run with 1 thread and
**    with 2 gave different weights in the 8th digit.  Here the tiles depend
**    on (M, N, K) only, each tile is one call of single-threaded OpenBLAS
**    (OpenBLAS runs single-threaded when called inside an active OpenMP
**    region: `omp_in_parallel()`, interface/gemm.c), and a tile's result
**    does not depend on which thread computes it.  So a seed gives the
**    same numbers on 1, 2 or 16 threads, and whatever the machine's load.
**
** 2. A busy core slows only the tiles it runs.  A fixed half per thread
**    makes each product wait for its slowest thread: with another process
**    on one of two cores that thread gets half a core, and every GEMM took
**    twice as long (an MLP epoch went from 8.5 s to 19.7 s; issue 13).  The
**    tiles are handed out one at a time (schedule(dynamic)), so the thread
**    on the free core takes most of them.
**
** The tiles: 128 columns of out (a multiple of the 16- and 32-wide panels
** of OpenBLAS's AVX2 and AVX-512 kernels) by up to 256 rows, made larger
** for small products, so that no tile is under about a million
** multiply-adds (below that the scheduling costs more than it balances).
** Each tile re-packs its rows of op(a) (M_t x K) and its columns of op(b)
** (K x N_t); per multiply-add that is 1/N_t + 1/M_t extra copies, under
** 1%.  Tiles of 64 x 128 measured 15% slower than OpenBLAS's own threads
** on the batch-1024 epoch (make bench, 3 rounds); 128 x 256 within the
** noise of this shared machine.  The batch-128 layers still give 4 to 8
** tiles, which is what a thread on a shared core needs to give work away.
**
** Products of fewer than 2^16 multiply-adds (M N K) are one call outside
** any region: OpenBLAS itself runs those on one thread
** (SMP_THRESHOLD_MIN = 65536, interface/gemm.c), so they too are
** deterministic, and a tiny layer at batch 1 wakes no thread.
*/
#include <stddef.h>
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend.h"

#define TILE_N 128            /* columns of out per tile */
#define TILE_M 256            /* rows of out per tile, before growing */
#define TILE_MIN_MADDS 1e6    /* grow tiles below this many multiply-adds */
#define ONE_CALL_MADDS 65536  /* below this, one call: OpenBLAS is single-threaded there */

/* The tile sizes of an (M, N, K) product: *tm rows by *tn columns. */
static void tile_sizes (int M, int N, int K, int *tm, int *tn) {
  int m = M < TILE_M ? M : TILE_M;
  int n = N < TILE_N + TILE_N / 2 ? N : TILE_N;   /* up to 96 columns: one tile wide */
  /* double the smaller side (columns first) until a tile is worth a fork */
  while ((double)m * n * K < TILE_MIN_MADDS && (m < M || n < N)) {
    if (n < N) n = 2 * n < N ? 2 * n : N;
    else m = 2 * m < M ? 2 * m : M;
  }
  *tm = m;
  *tn = n;
}

/* One tile: rows [i0, i0 + m) and columns [j0, j0 + n) of out.  Row i of
** op(a) starts at a + i * lda (a as stored) or at column i of a (a^T);
** column j of op(b) is column j of b, or row j of b (b^T). */
static void gemm_tile (float *out, const float *a, const float *b, int i0, int m, int j0, int n,
                       int N, int K, int trans_a, int trans_b, int lda, int ldb, float alpha,
                       float beta) {
  const float *at = trans_a ? a + i0 : a + (size_t)i0 * (size_t)lda;
  const float *bt = trans_b ? b + (size_t)j0 * (size_t)ldb : b + j0;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, K, alpha, at, lda, bt, ldb, beta,
              out + (size_t)i0 * (size_t)N + j0, N);
}

void cpu_gemm (float *out, const float *a, const float *b, int M, int N, int K, int trans_a,
               int trans_b, int lda, int ldb, float alpha, float beta) {
  if ((double)M * N * K < ONE_CALL_MADDS) {
    gemm_tile(out, a, b, 0, M, 0, N, N, K, trans_a, trans_b, lda, ldb, alpha, beta);
    return;
  }
  int tm, tn;
  tile_sizes(M, N, K, &tm, &tn);
  int rows = (M + tm - 1) / tm, cols = (N + tn - 1) / tn;
  long tiles = (long)rows * cols;
  /* column-major over tiles: consecutive tiles share their columns of op(b),
     which then stay in the cache of the thread that takes both */
  #pragma omp parallel for schedule(dynamic, 1)
  for (long t = 0; t < tiles; t++) {
    int i0 = (int)(t % rows) * tm, j0 = (int)(t / rows) * tn;
    int m = M - i0 < tm ? M - i0 : tm, n = N - j0 < tn ? N - j0 : tn;
    gemm_tile(out, a, b, i0, m, j0, n, N, K, trans_a, trans_b, lda, ldb, alpha, beta);
  }
}

/* out (1,N) = alpha a (1,K) op(b) + beta out: the columns of out cut into
** tiles of TILE_GEMV_COLS, each a single-threaded cblas_sgemv, inside an
** active region even when there is one tile (OpenBLAS would split a gemv of
** m n >= 2304 * 4 among its threads by their count otherwise). */
#define TILE_GEMV_COLS 256

void cpu_gemv (float *out, const float *a, const float *b, int N, int K, int trans_b, int ldb,
               float alpha, float beta) {
  int tiles = (N + TILE_GEMV_COLS - 1) / TILE_GEMV_COLS;
  #pragma omp parallel for schedule(dynamic, 1)
  for (int t = 0; t < tiles; t++) {
    int j0 = t * TILE_GEMV_COLS, n = N - j0 < TILE_GEMV_COLS ? N - j0 : TILE_GEMV_COLS;
    if (trans_b)    /* b is (N, K): out_j = b_j . a for the rows j of this tile */
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, K, alpha, b + (size_t)j0 * (size_t)ldb, ldb,
                  a, 1, beta, out + j0, 1);
    else            /* b is (K, N): out = b^T a over the columns of this tile */
      cblas_sgemv(CblasRowMajor, CblasTrans, K, n, alpha, b + j0, ldb, a, 1, beta, out + j0, 1);
  }
}
