/*
** gemm_ref.c -- the BLAS floors that scripts/bench sets nnlua against: the
** same products called straight through OpenBLAS, with nothing around them.
**
** Usage:
**   gemm_ref [N [reps]]     "GFLOP/s <rate>": an N x N x N cblas_sgemm
**                           (2 N^3 flops), default N = 1024
**   gemm_ref infer [reps]   "infer_us <us>": the 3 cblas_sgemv of one image
**                           through the MLP 784-512-1024-10 (its 3.7 MB of
**                           weights, read from cache: the floor of one
**                           image's latency)
** Each figure is the median over `reps` timed calls (default 20) after one
** warm-up call.  Links the same OpenBLAS as nnlua, so the thread count and
** kernels are the same.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* n floats of a small repeating pattern in [-0.75, 0.75] (no denormals) */
static float *filled (size_t n) {
  float *p = malloc(sizeof(float) * (n ? n : 1));
  if (!p) { fprintf(stderr, "gemm_ref: out of memory\n"); exit(1); }
  for (size_t i = 0; i < n; i++) p[i] = (float)(i % 7) * 0.25f - 0.75f;
  return p;
}

/* one row-major product out (M,N) = op(a) (M,K) op(b) (K,N) */
typedef struct { int ta, tb, M, N, K; float *a, *b, *out; } product;

static void gemm (const product *p) {
  cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans,
              p->M, p->N, p->K, 1.0f, p->a, p->ta ? p->M : p->K, p->b, p->tb ? p->K : p->N,
              0.0f, p->out, p->N);
}

static product make (int ta, int tb, int M, int N, int K) {
  product p = { ta, tb, M, N, K, filled((size_t)M * K), filled((size_t)K * N),
                filled((size_t)M * N) };
  return p;
}

/* median seconds of `reps` calls of run(arg), after one warm-up call */
static double median_time (void (*run) (void *), void *arg, int reps) {
  double *t = malloc(sizeof(double) * reps), m;
  if (!t) { fprintf(stderr, "gemm_ref: out of memory\n"); exit(1); }
  run(arg);
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    run(arg);
    t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp);
  m = t[reps / 2];
  free(t);
  return m;
}

/* --- one N^3 product ---------------------------------------------------------- */
static void run_square (void *arg) { gemm(arg); }

/* --- one image: y = W x per layer, as nnlua's one-row matmul calls sgemv ------ */
typedef struct { int out, in; float *w, *x, *y; } layer;
static void run_infer (void *arg) {
  layer *l = arg;
  for (int i = 0; i < 3; i++)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, l[i].out, l[i].in, 1.0f, l[i].w, l[i].in,
                l[i].x, 1, 0.0f, l[i].y, 1);
}

static int usage (void) {
  fprintf(stderr, "usage: gemm_ref [N [reps]] | gemm_ref infer [reps]\n");
  return 2;
}

int main (int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "1024";
  if (strcmp(mode, "infer") == 0) {
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 1 || reps > 100000) return usage();
    int sizes[4] = { 784, 512, 1024, 10 };
    float *act[4];
    for (int i = 0; i < 4; i++) act[i] = filled((size_t)sizes[i]);
    layer l[3];
    for (int i = 0; i < 3; i++)
      l[i] = (layer){ sizes[i + 1], sizes[i], filled((size_t)sizes[i] * sizes[i + 1]), act[i], act[i + 1] };
    printf("infer_us %.3f\n", median_time(run_infer, l, reps) * 1e6);
    return 0;
  }
  int n = atoi(mode), reps = argc > 2 ? atoi(argv[2]) : 20;
  if (n < 1 || reps < 1 || reps > 1000) return usage();
  product p = make(0, 0, n, n, n);
  printf("GFLOP/s %.2f\n", 2.0 * n * n * n / median_time(run_square, &p, reps) * 1e-9);
  return 0;
}
