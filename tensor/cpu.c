/*
** cpu.c -- the CPU backend: plain loops over contiguous floats, and
** OpenBLAS's cblas_sgemm for matrix products.
**
** Shapes and devices were checked in tensor.c; here every pointer is valid
** for n floats.  Each element-wise loop calls the formula from
** elementwise.h, the same one the CUDA kernels call.  One loop per op (a
** switch outside the loop, not inside) so that the compiler can vectorise
** each loop on its own.
*/
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

#include "backend.h"
#include "elementwise.h"
#include "philox.h"
#include "index.h"
#ifdef _OPENMP
#include <omp.h>
#endif

int cpu_fill (float *x, float value, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = value;
  return NN_OK;
}

void cpu_i32_to_f32 (float *dst, const int32_t *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

void cpu_f32_to_i32 (int32_t *dst, const float *src, size_t n, int64_t *bad) {
  *bad = -1;
  for (size_t i = 0; i < n; i++) {
    if (!nn_f32_fits_i32(src[i])) { *bad = (int64_t)i; return; }
    dst[i] = (int32_t)src[i];
  }
}

int cpu_arange (float *x, double start, double step, size_t n) {
  /* computed from i, not by repeated addition, so that no error accumulates */
  for (size_t i = 0; i < n; i++) x[i] = (float)(start + (double)i * step);
  return NN_OK;
}

/* Element i takes lane i % 4 of Philox block block0 + i / 4 (philox.h). */
int cpu_uniform (float *x, size_t n, uint64_t seed, uint64_t block0, float lo, float hi) {
  uint32_t r[4];
  for (size_t i = 0; i < n; i++) {
    if (i % 4 == 0) philox_block(r, seed, block0 + i / 4);
    x[i] = lo + (hi - lo) * philox_u01(r[i % 4]);
  }
  return NN_OK;
}

int cpu_normal (float *x, size_t n, uint64_t seed, uint64_t block0, float mean, float std) {
  uint32_t r[4];
  for (size_t i = 0; i < n; i++) {
    if (i % 4 == 0) philox_block(r, seed, block0 + i / 4);
    x[i] = mean + std * philox_normal(r, (int)(i % 4));
  }
  return NN_OK;
}

/* --- element-wise ------------------------------------------------------------- */

/* Two cores stream memory faster than one, so a large element-wise op is
** split among the threads of the one OpenMP team (the very threads
** OpenBLAS runs on, as nn/optim.c's updates).  Below PARALLEL_MIN elements
** (1 MB of floats) one thread does it all: waking the team costs more than
** it saves, and a layer's batch-sized ops stay as they were.  Every element
** is computed by the same formula whatever thread takes it, so the results
** do not depend on the number of threads. */
#define PARALLEL_MIN (1 << 18)

/* out[i] = a[i] (op) b[i % bn].  bn == n is the plain case; bn < n repeats b
** over the rows of a (the bias add), so we walk a row at a time and the
** inner loop stays a straight, vectorisable loop over one row. */
#define BINARY_LOOP(f)                                                   \
  for (size_t r = 0; r < n; r += bn)                                     \
    for (size_t j = 0; j < bn; j++) out[r + j] = f(a[r + j], b[j]);
#define BINARY_LOOP_R(f)                                                 \
  for (size_t r = 0; r < n; r += bn)                                     \
    for (size_t j = 0; j < bn; j++) out[r + j] = f(b[j], a[r + j]);

static void binary_serial (float *out, const float *a, const float *b, size_t n, size_t bn,
                           nn_binop op) {
  switch (op) {
    case NN_ADD:  BINARY_LOOP(nn_add); break;
    case NN_SUB:  BINARY_LOOP(nn_sub); break;
    case NN_MUL:  BINARY_LOOP(nn_mul); break;
    case NN_DIV:  BINARY_LOOP(nn_div); break;
    case NN_RSUB: BINARY_LOOP_R(nn_sub); break;
    case NN_RDIV: BINARY_LOOP_R(nn_div); break;
    case NN_POWER:  BINARY_LOOP(nn_power); break;
    case NN_RPOWER: BINARY_LOOP_R(nn_power); break;
    case NN_FLOOR_DIVIDE:  BINARY_LOOP(nn_floor_divide); break;
    case NN_RFLOOR_DIVIDE: BINARY_LOOP_R(nn_floor_divide); break;
    case NN_REMAINDER:  BINARY_LOOP(nn_remainder); break;
    case NN_RREMAINDER: BINARY_LOOP_R(nn_remainder); break;
    case NN_MAXIMUM: BINARY_LOOP(nn_maximum); break;
    case NN_MINIMUM: BINARY_LOOP(nn_minimum); break;
    default: break;
  }
}

/* The calling thread's slice [*lo, *hi) of n elements taken in units of
** `unit` (inside a parallel region; the whole of it outside one). */
static void thread_slice (size_t n, size_t unit, size_t *lo, size_t *hi) {
#ifdef _OPENMP
  size_t t = (size_t)omp_get_thread_num(), k = (size_t)omp_get_num_threads();
#else
  size_t t = 0, k = 1;
#endif
  size_t units = (n + unit - 1) / unit;
  *lo = units * t / k * unit;
  *hi = units * (t + 1) / k * unit;
  if (*hi > n) *hi = n;
}

/* Large ops: each thread its slice, whole rows of bn (or, for one shape,
** 16-float pieces: no two threads write one cache line). */
int cpu_binary (float *out, const float *a, const float *b, size_t n, size_t bn, nn_binop op) {
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  if (n < PARALLEL_MIN) {
    binary_serial(out, a, b, n, bn, op);
    return NN_OK;
  }
  #pragma omp parallel
  {
    size_t lo, hi;
    thread_slice(n, bn == n ? 16 : bn, &lo, &hi);
    if (lo < hi) {
      if (bn == n) binary_serial(out + lo, a + lo, b + lo, hi - lo, hi - lo, op);
      else binary_serial(out + lo, a + lo, b, hi - lo, bn, op);
    }
  }
  return NN_OK;
}

int cpu_binary_scalar (float *out, const float *a, float s, size_t n, nn_binop op) {
  switch (op) {
    case NN_ADD:  for (size_t i = 0; i < n; i++) out[i] = nn_add(a[i], s); break;
    case NN_SUB:  for (size_t i = 0; i < n; i++) out[i] = nn_sub(a[i], s); break;
    case NN_MUL:  for (size_t i = 0; i < n; i++) out[i] = nn_mul(a[i], s); break;
    case NN_DIV:  for (size_t i = 0; i < n; i++) out[i] = nn_div(a[i], s); break;
    case NN_RSUB: for (size_t i = 0; i < n; i++) out[i] = nn_sub(s, a[i]); break;
    case NN_RDIV: for (size_t i = 0; i < n; i++) out[i] = nn_div(s, a[i]); break;
    case NN_POWER:  for (size_t i = 0; i < n; i++) out[i] = nn_power(a[i], s); break;
    case NN_RPOWER: for (size_t i = 0; i < n; i++) out[i] = nn_power(s, a[i]); break;
    case NN_FLOOR_DIVIDE:  for (size_t i = 0; i < n; i++) out[i] = nn_floor_divide(a[i], s); break;
    case NN_RFLOOR_DIVIDE: for (size_t i = 0; i < n; i++) out[i] = nn_floor_divide(s, a[i]); break;
    case NN_REMAINDER:  for (size_t i = 0; i < n; i++) out[i] = nn_remainder(a[i], s); break;
    case NN_RREMAINDER: for (size_t i = 0; i < n; i++) out[i] = nn_remainder(s, a[i]); break;
    case NN_MAXIMUM: for (size_t i = 0; i < n; i++) out[i] = nn_maximum(a[i], s); break;
    case NN_MINIMUM: for (size_t i = 0; i < n; i++) out[i] = nn_minimum(a[i], s); break;
    default: return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  }
  return NN_OK;
}

/* --- broadcast ops: walking a plan (broadcast.h) ---------------------------------
** The plan's last dim is the inner loop: each operand steps through it by
** 1 (contiguous) or 0 (one value repeated), so the loop is straight.  The
** outer dims are decomposed once per row.  The work is cut into pieces, a
** row each, or blocks of a row when there are few rows, and the pieces are
** shared among the threads for a large op. */
#define ROW_BLOCK 8192

typedef struct walk { int64_t n, N, rows, nblk, items; } walk;

static walk walk_of (const nn_bcast *p) {
  walk w;
  w.N = p->shape[p->ndim - 1];
  w.n = w.N;
  for (int d = 0; d < p->ndim - 1; d++) w.n *= p->shape[d];
  w.rows = w.n / w.N;
  w.nblk = w.rows >= 64 ? 1 : (w.N + ROW_BLOCK - 1) / ROW_BLOCK;
  w.items = w.rows * w.nblk;
  return w;
}

/* piece `it`: out's offset, each operand's offset, the length */
static void piece (const nn_bcast *p, const walk *w, int64_t it, int nops, int64_t *o,
                   int64_t *off, int64_t *len) {
  int64_t r = it / w->nblk, blk = w->nblk == 1 ? w->N : ROW_BLOCK, c = (it - r * w->nblk) * blk;
  *len = w->N - c < blk ? w->N - c : blk;
  *o = r * w->N + c;
  for (int k = 0; k < nops; k++)
    off[k] = nn_bcast_offset(p, k, r * w->N) + c * p->stride[k][p->ndim - 1];
}

/* one row piece of a binary op; sa, sb: 1 or 0 */
#define ROW_LOOP(f)                                                                  \
  if (sa && sb) for (int64_t j = 0; j < len; j++) out[j] = f(a[j], b[j]);            \
  else if (sa) { float y = b[0]; for (int64_t j = 0; j < len; j++) out[j] = f(a[j], y); } \
  else if (sb) { float x = a[0]; for (int64_t j = 0; j < len; j++) out[j] = f(x, b[j]); } \
  else for (int64_t j = 0; j < len; j++) out[j] = f(a[0], b[0]);

static void binary_row (float *out, const float *a, int64_t sa, const float *b, int64_t sb,
                        int64_t len, nn_binop op) {
  switch (op) {
    case NN_ADD: ROW_LOOP(nn_add); break;
    case NN_SUB: ROW_LOOP(nn_sub); break;
    case NN_MUL: ROW_LOOP(nn_mul); break;
    case NN_DIV: ROW_LOOP(nn_div); break;
    case NN_POWER: ROW_LOOP(nn_power); break;
    case NN_FLOOR_DIVIDE: ROW_LOOP(nn_floor_divide); break;
    case NN_REMAINDER: ROW_LOOP(nn_remainder); break;
    case NN_MAXIMUM: ROW_LOOP(nn_maximum); break;
    case NN_MINIMUM: ROW_LOOP(nn_minimum); break;
    default:      /* the reversed ops: tensor.c swaps operands rather than use these */
      for (int64_t j = 0; j < len; j++) out[j] = nn_binary_eval(op, a[j * sa], b[j * sb]);
  }
}

int cpu_binary_bcast (float *out, const float *a, const float *b, const nn_bcast *p, nn_binop op) {
  walk w = walk_of(p);
  int64_t sa = p->stride[0][p->ndim - 1], sb = p->stride[1][p->ndim - 1];
  #pragma omp parallel for schedule(static) if (w.n >= PARALLEL_MIN)
  for (int64_t it = 0; it < w.items; it++) {
    int64_t o, off[2], len;
    piece(p, &w, it, 2, &o, off, &len);
    binary_row(out + o, a + off[0], sa, b + off[1], sb, len, op);
  }
  return NN_OK;
}

/* element j of an operand as a double: exact for float32 and int32 */
static inline double load_f64 (const void *x, int i32, int64_t j) {
  return i32 ? (double)((const int32_t *)x)[j] : (double)((const float *)x)[j];
}

int cpu_compare (float *out, const void *a, int a_i32, const void *b, int b_i32, double s,
                 const nn_bcast *p, nn_cmpop op) {
  walk w = walk_of(p);
  int64_t sa = p->stride[0][p->ndim - 1], sb = p->stride[1][p->ndim - 1];
  #pragma omp parallel for schedule(static) if (w.n >= PARALLEL_MIN)
  for (int64_t it = 0; it < w.items; it++) {
    int64_t o, off[2], len;
    piece(p, &w, it, 2, &o, off, &len);
    const char *x = (const char *)a + 4 * off[0];          /* both dtypes are 4 bytes */
    const char *y = b ? (const char *)b + 4 * off[1] : NULL;
    float *r = out + o;
    if (!a_i32 && y == NULL && sa == 1) {                  /* t:gt(0): a straight loop */
      const float *xf = (const float *)(const void *)x;
      for (int64_t j = 0; j < len; j++) r[j] = nn_compare_eval(op, (double)xf[j], s);
    }
    else
      for (int64_t j = 0; j < len; j++)
        r[j] = nn_compare_eval(op, load_f64(x, a_i32, j * sa),
                               y ? load_f64(y, b_i32, j * sb) : s);
  }
  return NN_OK;
}

int cpu_where (float *out, const void *cond, int cond_i32, const float *a, float sa,
               const float *b, float sb, const nn_bcast *p) {
  walk w = walk_of(p);
  int L = p->ndim - 1;
  int64_t sc = p->stride[0][L], s1 = a ? p->stride[1][L] : 0, s2 = b ? p->stride[2][L] : 0;
  #pragma omp parallel for schedule(static) if (w.n >= PARALLEL_MIN)
  for (int64_t it = 0; it < w.items; it++) {
    int64_t o, off[3], len;
    piece(p, &w, it, 3, &o, off, &len);
    const float *x = a ? a + off[1] : &sa, *y = b ? b + off[2] : &sb;   /* a number: stride 0 */
    float *r = out + o;
    if (cond_i32) {
      const int32_t *c = (const int32_t *)cond + off[0];
      for (int64_t j = 0; j < len; j++) r[j] = nn_where((float)c[j * sc], x[j * s1], y[j * s2]);
    }
    else {
      const float *c = (const float *)cond + off[0];
      if (sc == 1 && s1 == 1 && s2 == 1)                   /* one shape: vectorises */
        for (int64_t j = 0; j < len; j++) r[j] = nn_where(c[j], x[j], y[j]);
      else
        for (int64_t j = 0; j < len; j++) r[j] = nn_where(c[j * sc], x[j * s1], y[j * s2]);
    }
  }
  return NN_OK;
}

/* Sums in double, each out element adding a's elements in the order they
** lie in memory (the CUDA kernel adds them in that same order). */
int cpu_sum_to (float *out, const float *a, const nn_bcast *p, size_t n_out) {
  double *acc = calloc(n_out, sizeof *acc);
  if (acc == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  walk w = walk_of(p);
  int64_t so = p->stride[0][p->ndim - 1];
  for (int64_t r = 0; r < w.rows; r++) {
    int64_t oo = nn_bcast_offset(p, 0, r * w.N), oa = nn_bcast_offset(p, 1, r * w.N);
    const float *x = a + oa;
    if (so) for (int64_t j = 0; j < w.N; j++) acc[oo + j] += x[j];
    else {
      double s = acc[oo];
      for (int64_t j = 0; j < w.N; j++) s += x[j];
      acc[oo] = s;
    }
  }
  for (size_t k = 0; k < n_out; k++) out[k] = (float)acc[k];
  free(acc);
  return NN_OK;
}

static int unary_serial (float *out, const float *a, size_t n, nn_unop op, float p, float q) {
  switch (op) {
    case NN_NEG:     for (size_t i = 0; i < n; i++) out[i] = nn_neg(a[i]); break;
    case NN_EXP:     for (size_t i = 0; i < n; i++) out[i] = nn_exp(a[i]); break;
    case NN_LOG:     for (size_t i = 0; i < n; i++) out[i] = nn_log(a[i]); break;
    case NN_SQRT:    for (size_t i = 0; i < n; i++) out[i] = nn_sqrt(a[i]); break;
    case NN_ABS:     for (size_t i = 0; i < n; i++) out[i] = nn_abs(a[i]); break;
    case NN_RELU:    for (size_t i = 0; i < n; i++) out[i] = nn_relu(a[i]); break;
    case NN_SIGMOID: for (size_t i = 0; i < n; i++) out[i] = nn_sigmoid(a[i]); break;
    case NN_TANH:    for (size_t i = 0; i < n; i++) out[i] = nn_tanh(a[i]); break;
    case NN_POW:     for (size_t i = 0; i < n; i++) out[i] = nn_pow(a[i], p); break;
    case NN_CLAMP:   for (size_t i = 0; i < n; i++) out[i] = nn_clamp(a[i], p, q); break;
    case NN_LEAKY_RELU: for (size_t i = 0; i < n; i++) out[i] = nn_leaky_relu(a[i], p); break;
    case NN_STEP:    for (size_t i = 0; i < n; i++) out[i] = nn_step(a[i], p, q); break;
    case NN_SIN:     for (size_t i = 0; i < n; i++) out[i] = nn_sin(a[i]); break;
    case NN_COS:     for (size_t i = 0; i < n; i++) out[i] = nn_cos(a[i]); break;
    case NN_ERF:     for (size_t i = 0; i < n; i++) out[i] = nn_erf(a[i]); break;
    case NN_RSQRT:   for (size_t i = 0; i < n; i++) out[i] = nn_rsqrt(a[i]); break;
    case NN_FLOOR:   for (size_t i = 0; i < n; i++) out[i] = nn_floor(a[i]); break;
    case NN_ROUND:   for (size_t i = 0; i < n; i++) out[i] = nn_round(a[i]); break;
    case NN_SIGN:    for (size_t i = 0; i < n; i++) out[i] = nn_sign(a[i]); break;
    case NN_ISNAN:   for (size_t i = 0; i < n; i++) out[i] = nn_isnan(a[i]); break;
    case NN_ISINF:   for (size_t i = 0; i < n; i++) out[i] = nn_isinf(a[i]); break;
    default: return nn_seterr(NN_EARG, "unknown unary op %d", (int)op);
  }
  return NN_OK;
}

static int unary_backward_serial (float *grad_in, const float *grad_out, const float *s,
                                  size_t n, nn_unop op, float p) {
  const float *g = grad_out;
  switch (op) {
    case NN_RELU:    for (size_t i = 0; i < n; i++) grad_in[i] = nn_relu_backward(g[i], s[i]); break;
    case NN_LEAKY_RELU:
      for (size_t i = 0; i < n; i++) grad_in[i] = nn_leaky_relu_backward(g[i], s[i], p);
      break;
    case NN_SIGMOID: for (size_t i = 0; i < n; i++) grad_in[i] = nn_sigmoid_backward(g[i], s[i]); break;
    case NN_TANH:    for (size_t i = 0; i < n; i++) grad_in[i] = nn_tanh_backward(g[i], s[i]); break;
    default: return nn_seterr(NN_EARG, "unary op %d has no backward", (int)op);
  }
  return NN_OK;
}

/* The element-wise ops of one input, in 16-float slices over the team
** above PARALLEL_MIN elements, as cpu_binary.  The serial loop on no
** elements first: an op it does not know fails there, on this thread,
** before any other starts. */
int cpu_unary (float *out, const float *a, size_t n, nn_unop op, float p, float q) {
  int rc = unary_serial(out, a, 0, op, p, q);                /* an unknown op fails here */
  if (rc != NN_OK) return rc;
  if (n < PARALLEL_MIN) return unary_serial(out, a, n, op, p, q);
  #pragma omp parallel
  {
    size_t lo, hi;
    thread_slice(n, 16, &lo, &hi);
    if (lo < hi) unary_serial(out + lo, a + lo, hi - lo, op, p, q);
  }
  return NN_OK;
}

int cpu_unary_backward (float *grad_in, const float *grad_out, const float *s, size_t n,
                        nn_unop op, float p) {
  int rc = unary_backward_serial(grad_in, grad_out, s, 0, op, p);   /* no backward: fails */
  if (rc != NN_OK) return rc;
  if (n < PARALLEL_MIN) return unary_backward_serial(grad_in, grad_out, s, n, op, p);
  #pragma omp parallel
  {
    size_t lo, hi;
    thread_slice(n, 16, &lo, &hi);
    if (lo < hi) unary_backward_serial(grad_in + lo, grad_out + lo, s + lo, hi - lo, op, p);
  }
  return NN_OK;
}

/* --- reductions ------------------------------------------------------------------ */

/* One reduction over n values a[0], a[stride], ...: sums in double, so that
** the mean of a million floats keeps ~7 significant digits.  Arg ops give
** the 0-based index of the first extreme; nan compares false and is skipped
** unless every value is nan, and then the first (index 0) is the answer. */
static double reduce_strided (const float *a, size_t n, size_t stride, nn_redop op) {
  if (op == NN_SUM || op == NN_MEAN) {
    double s = 0.0;
    for (size_t k = 0; k < n; k++) s += a[k * stride];
    return op == NN_MEAN ? s / (double)n : s;
  }
  int want_max = op == NN_MAX || op == NN_ARGMAX;
  size_t best = 0;
  float v = a[0];
  for (size_t k = 1; k < n; k++) {
    float x = a[k * stride];
    /* a nan so far gives way to the first number, never to another nan */
    if (want_max ? (x > v || (v != v && x == x)) : (x < v || (v != v && x == x))) {
      v = x;
      best = k;
    }
  }
  return (op == NN_ARGMAX || op == NN_ARGMIN) ? (double)best : (double)v;
}

/* A float is NaN or +-Inf exactly when its 8 exponent bits are all ones
** (IEEE 754): OR together (bits & 0x7f800000) == 0x7f800000 over the array.
** Integer work with no early exit, which the compiler turns into SIMD; in
** blocks of 32K floats over the threads (from 64K floats on), whose flags
** are ORed at the end. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))   /* 8 floats an instruction where there is AVX2 */
#endif
int cpu_all_finite (const float *a, size_t n) {
  const uint32_t *u = (const uint32_t *)(const void *)a;
  const size_t block = 32768;
  int bad = 0;
  #pragma omp parallel for schedule(static) reduction(|:bad) if (n >= 2 * block)
  for (size_t lo = 0; lo < n; lo += block) {
    size_t hi = lo + block < n ? lo + block : n;
    uint32_t hit = 0;
    for (size_t i = lo; i < hi; i++) hit |= (u[i] & 0x7f800000u) == 0x7f800000u;
    bad |= (int)hit;
  }
  return !bad;
}

int cpu_reduce_all (double *result, const float *a, size_t n, nn_redop op) {
  *result = reduce_strided(a, n, 1, op);
  return NN_OK;
}

/* a seen as (outer, n, inner); out is (outer, inner). */
int cpu_reduce_dim (void *out, const float *a, size_t outer, size_t n, size_t inner, nn_redop op) {
  int arg = op == NN_ARGMAX || op == NN_ARGMIN;   /* out is int32: indices below n <= 2^31 - 1 */
  for (size_t o = 0; o < outer; o++)
    for (size_t i = 0; i < inner; i++) {
      double r = reduce_strided(a + o * n * inner + i, n, inner, op);
      if (arg) ((int32_t *)out)[o * inner + i] = (int32_t)r;
      else ((float *)out)[o * inner + i] = (float)r;
    }
  return NN_OK;
}

/* Two passes (mean first, then squared deviations) in double: the one-pass
** E[x^2] - E[x]^2 loses every digit when the mean is large against the spread. */
int cpu_var_all (double *result, const float *a, size_t n) {
  double mean = reduce_strided(a, n, 1, NN_MEAN), ss = 0.0;
  for (size_t i = 0; i < n; i++) ss += ((double)a[i] - mean) * ((double)a[i] - mean);
  *result = ss / (double)n;
  return NN_OK;
}

/* --- matrix multiply ------------------------------------------------------------- */

/* out (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * out, row-major.
** lda and ldb are the stored row lengths of a and b; out's is N. */
/* Below this many elements of b (256 KB), a one-row product is done here:
** OpenBLAS would wake its second thread for it, and the wake-up costs more
** than the product (a 784x32 layer at batch 1: 3 us of arithmetic). */
#define SMALL_GEMV 65536

/* out (1,N) = alpha a (1,K) op(b) + beta out, in one thread.  op(b) = b
** (K,N): out += a_k b_k. over the rows of b, which vectorises along N;
** b^T (b is (N,K)): out_j = a . b_j., a dot product per row. */
static int small_gemv (float *out, const float *a, const float *b, int N, int K,
                       int trans_b, int ldb, float alpha, float beta) {
  for (int j = 0; j < N; j++) out[j] = beta == 0.0f ? 0.0f : beta * out[j];
  if (trans_b) {
    for (int j = 0; j < N; j++) {
      /* 8 partial sums, so the loop vectorises without reassociating */
      const float *bj = b + (size_t)j * ldb;
      float acc[8] = { 0 }, dot = 0.0f;
      int k = 0;
      for (; k + 8 <= K; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[k + l] * bj[k + l];
      for (; k < K; k++) dot += a[k] * bj[k];
      for (int l = 0; l < 8; l++) dot += acc[l];
      out[j] += alpha * dot;
    }
  } else {
    for (int k = 0; k < K; k++) {
      const float *bk = b + (size_t)k * ldb;
      float ak = alpha * a[k];
      for (int j = 0; j < N; j++) out[j] += ak * bk[j];
    }
  }
  return NN_OK;
}

int cpu_matmul (float *out, const float *a, const float *b, int M, int N, int K,
                int trans_a, int trans_b, int lda, int ldb, float alpha, float beta) {
  /* One row (a single example, a bias gradient): out = alpha a b + beta out
  ** is a matrix-vector product, out^T = op(b)^T a^T.  sgemv streams b once;
  ** sgemm would first copy it into packed panels, twice the memory traffic
  ** for a product that is all memory traffic. */
  if (M == 1 && !trans_a && (size_t)K * (size_t)N < SMALL_GEMV)
    return small_gemv(out, a, b, N, K, trans_b, ldb, alpha, beta);
  if (M == 1 && !trans_a) cpu_gemv(out, a, b, N, K, trans_b, ldb, alpha, beta);
  else cpu_gemm(out, a, b, M, N, K, trans_a, trans_b, lda, ldb, alpha, beta);
  return NN_OK;
}

/* Below this many flops per matrix (2 M N K), a batch is spread over the
** OpenMP threads, one whole product per thread at a time, handed out as the
** threads come free (inside the region cpu_gemm's own tiles run on the one
** thread, and Debian's OpenMP OpenBLAS runs single-threaded); above it, the
** matrices go one after another, each cut into cpu_gemm's tiles.  Either
** way each product's bits do not depend on the threads (cpu_gemm.c).
** (The figures below were taken when the second way let OpenBLAS thread
** each product, before cpu_gemm.)
** Measured on the 2-core machine, 6 interleaved runs of each way (medians
** of 20 calls each, a loaded machine: other processes on both cores):
**   batch 16 of 256x64x256 (8 MFLOP each):  10.7 ms over the batch,
**                                           19.2 ms through the BLAS's threads
**   batch 64 of 128x32x128 (1 MFLOP each):   6.5 ms over the batch,
**                                           35.7 ms through the BLAS's threads
** (in the quietest run both ways took ~6 and ~3 ms): the BLAS's threads
** meet at a barrier per product, and wait there for a busy core; whole
** products per thread meet once per batch.  Above ~32 MFLOP (256^3) a
** product is long enough for the BLAS's own split to pay. */
#define BATCH_PARALLEL_FLOPS 3.2e7

/* The offsets of matrix t (flat over the batch, row-major over size[]) in
** a and b: the sum over the dims of its index there times the step. */
static void batch_offsets (int64_t t, int nbatch, const int64_t *size, const int64_t *stride_a,
                           const int64_t *stride_b, int64_t *oa, int64_t *ob) {
  *oa = 0;
  *ob = 0;
  for (int d = nbatch - 1; d >= 0; d--) {
    int64_t i = t % size[d];
    t /= size[d];
    *oa += i * stride_a[d];
    *ob += i * stride_b[d];
  }
}

int cpu_matmul_batched (float *out, const float *a, const float *b, int M, int N, int K,
                        int trans_a, int trans_b, int lda, int ldb, float alpha, float beta,
                        int nbatch, const int64_t *size, const int64_t *stride_a,
                        const int64_t *stride_b) {
  int64_t count = 1;
  for (int d = 0; d < nbatch; d++) count *= size[d];
  size_t mn = (size_t)M * (size_t)N;
  if (count > 1 && 2.0 * M * N * K < BATCH_PARALLEL_FLOPS) {
    #pragma omp parallel for schedule(dynamic, 1)
    for (int64_t t = 0; t < count; t++) {
      int64_t oa, ob;
      batch_offsets(t, nbatch, size, stride_a, stride_b, &oa, &ob);
      cpu_matmul(out + (size_t)t * mn, a + oa, b + ob, M, N, K, trans_a, trans_b, lda, ldb,
                 alpha, beta);
    }
    return NN_OK;
  }
  for (int64_t t = 0; t < count; t++) {
    int64_t oa, ob;
    batch_offsets(t, nbatch, size, stride_a, stride_b, &oa, &ob);
    cpu_matmul(out + (size_t)t * mn, a + oa, b + ob, M, N, K, trans_a, trans_b, lda, ldb,
               alpha, beta);
  }
  return NN_OK;
}

/* --- gathering, shuffling, one-hot ------------------------------------------------ */

/* Indices are read and checked by index.h's index_at, int32 or float32
** (the CUDA kernels call the same function). */

/* Row i of out = row idx[i] - base of src: a memcpy of row_len floats each. */
int cpu_index_select (float *out, const float *src, const void *idx, int i32, size_t k,
                      size_t rows, size_t row_len, int base, int64_t *bad) {
  *bad = -1;
  for (size_t i = 0; i < k; i++) {
    int64_t r = index_at(idx, i32, i, base, (int64_t)rows);
    if (r < 0) { *bad = (int64_t)i; return NN_OK; }
    memcpy(out + i * row_len, src + (size_t)r * row_len, row_len * sizeof(float));
  }
  return NN_OK;
}

/* Durstenfeld's shuffle of base .. base+n-1 (tensor.h says which Philox
** lanes each swap takes). */
int cpu_randperm (void *out, int i32, size_t n, uint64_t seed, uint64_t block0, int base) {
  float *x = (float *)out;
  int32_t *xi = (int32_t *)out;
  for (size_t i = 0; i < n; i++) {
    if (i32) xi[i] = (int32_t)((int64_t)i + base);
    else x[i] = (float)((int64_t)i + base);
  }
  uint32_t r[4];
  for (size_t i = n - 1, k = 0; n > 1 && i >= 1; i--, k++) {
    if (k % 2 == 0) philox_block(r, seed, block0 + k / 2);
    int lane = 2 * (int)(k % 2);
    uint64_t u = (uint64_t)r[lane] << 32 | r[lane + 1];
    size_t j = (size_t)(u % (uint64_t)(i + 1));
    if (i32) { int32_t t = xi[i]; xi[i] = xi[j]; xi[j] = t; }
    else { float t = x[i]; x[i] = x[j]; x[j] = t; }
  }
  return NN_OK;
}

/* out[b][c] = 1 where c + 1 == labels[b], else 0. */
int cpu_one_hot (float *out, const void *labels, int i32, size_t b, size_t c, int64_t *bad) {
  *bad = -1;
  memset(out, 0, b * c * sizeof(float));
  for (size_t i = 0; i < b; i++) {
    int64_t l = index_at(labels, i32, i, 1, (int64_t)c);
    if (l < 0) { *bad = (int64_t)i; return NN_OK; }
    out[i * c + (size_t)l] = 1.0f;
  }
  return NN_OK;
}
