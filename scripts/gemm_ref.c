/*
** gemm_ref.c -- the reference for nnlua's matmul: a direct cblas_sgemm.
**
** Usage: gemm_ref [N [reps]]   prints "GFLOP/s <rate>" for an N x N x N
** product (2 N^3 flops), the median over `reps` timed calls after one
** warm-up call.  scripts/bench runs it beside scripts/bench_gemm.lua.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>

static double now (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp (const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main (int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1024;
  int reps = argc > 2 ? atoi(argv[2]) : 20;
  if (n < 1 || reps < 1 || reps > 1000) { fprintf(stderr, "usage: gemm_ref [N [reps]]\n"); return 2; }
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
  float *c = malloc(sizeof(float) * n * n);
  double *t = malloc(sizeof(double) * reps);
  if (!a || !b || !c || !t) { fprintf(stderr, "gemm_ref: out of memory\n"); return 1; }
  for (long i = 0; i < (long)n * n; i++) { a[i] = (float)(i % 7) - 3.0f; b[i] = (float)(i % 5) - 2.0f; }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp);
  printf("GFLOP/s %.2f\n", 2.0 * n * n * n / t[reps / 2] * 1e-9);
  free(a); free(b); free(c); free(t);
  return 0;
}
