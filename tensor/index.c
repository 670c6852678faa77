/*
** index.c -- index ops, sorting and sampling: gather, scatter_add,
** index_add, index_select along any dim, sort, topk, multinomial and
** bernoulli (tensor.h's last section), and their CPU loops (backend.h's
** cpu_take ... cpu_bernoulli).
**
** As in tensor.c, the tensor_* functions check shapes, dtypes and devices
** once, then call cpu_* here or cuda_* in cuda_index.cu.  Indices are read
** and checked by index.h's index_at, the very function the CUDA kernels
** call; every index is checked before anything is written, so a bad one
** leaves the output as it was.
*/
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "index.h"

#define ON_CPU(t) ((t)->storage->device == NN_CPU)

/* --- shared checks ------------------------------------------------------------- */

static int same_dev (const char *op, const nn_tensor *a, const nn_tensor *b, int role) {
  if (a->storage->device != b->storage->device)
    return nn_seterr_arg(NN_EDEVICE, role, "%s: tensors are on different devices: %s is on "
                         "%s, %s is on %s", op, shape_str(a).s,
                         device_name(a->storage->device), shape_str(b).s,
                         device_name(b->storage->device));
  return NN_OK;
}

/* out must not share storage with an input it is computed from */
static int apart (const char *op, const nn_tensor *out, const nn_tensor *in, const char *name,
                  int role) {
  if (out->storage == in->storage && out->numel > 0 && in->numel > 0)
    return nn_seterr_arg(NN_EARG, role, "%s: the output %s shares memory with %s %s", op,
                         shape_str(out).s, name, shape_str(in).s);
  return NN_OK;
}

static int check_dim (const char *op, const nn_tensor *t, int d) {
  if (t->ndim < 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "%s needs a tensor with at least 1 dim, "
                         "got a 0-dim tensor", op);
  if (d < 0 || d >= t->ndim)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s: dim %d is out of range for %s (it has "
                         "%d dims)", op, d + 1, shape_str(t).s, t->ndim);
  return NN_OK;
}

/* t as (outer, n, inner) around dim d */
static void split (const nn_tensor *t, int d, size_t *outer, size_t *n, size_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < d; i++) *outer *= (size_t)t->shape[i];
  for (int i = d + 1; i < t->ndim; i++) *inner *= (size_t)t->shape[i];
  *n = (size_t)t->shape[d];
}

/* Does b have a's shape, except (when d >= 0) along dim d? */
static int same_but (const nn_tensor *a, const nn_tensor *b, int d) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (i != d && a->shape[i] != b->shape[i]) return 0;
  return 1;
}

/* Is t of `ndim` dims with t's sizes = like's, but `k` along d? */
static int shaped (const nn_tensor *t, const nn_tensor *like, int d, int64_t k) {
  return same_but(t, like, d) && t->shape[d] == k;
}

/* Check every index of idx against 0 .. n-1 (counted from base); on a bad
** one, the message names its value, its position and the bound, as
** tensor_index_select's: "gather: index 6 at position 3 is outside 1..5
** (dim 2 of [2x5])". */
static int check_indices (const char *op, const nn_tensor *idx, int base, size_t n,
                          const nn_tensor *of, int d) {
  int64_t bad = -1;
  int i32 = idx->dtype == NN_I32;
  size_t count = (size_t)idx->numel;
  if (count == 0) return NN_OK;
  int rc = ON_CPU(idx) ? cpu_check_index(tensor_data(idx), i32, count, base, (int64_t)n, &bad)
                       : cuda_check_index(tensor_data(idx), i32, count, base, (int64_t)n, &bad);
  if (rc != NN_OK || bad < 0) return rc;
  double v = 0.0;
  if ((rc = tensor_get_number(&v, idx, bad)) != NN_OK) return rc;
  if (v >= (double)base && v < (double)base + (double)n)   /* in range, so not whole */
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s: index %.9g at position %lld is not a "
                         "whole number", op, v, (long long)bad + base);
  return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s: index %.9g at position %lld is outside "
                       "%d..%lld (dim %d of %s)", op, v, (long long)bad + base, base,
                       (long long)n - 1 + base, d + 1, shape_str(of).s);
}

/* --- index shift ----------------------------------------------------------------- */

int cpu_index_shift (int32_t *x, size_t n, int32_t delta) {
  /* in uint32, so that no sum is undefined behaviour; the caller keeps them in range */
  for (size_t i = 0; i < n; i++) x[i] = (int32_t)((uint32_t)x[i] + (uint32_t)delta);
  return NN_OK;
}

int tensor_index_shift (nn_tensor *t, int32_t delta) {
  if (t->dtype != NN_I32)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "index_shift takes an int32 tensor, got %s",
                         dtype_name(t->dtype));
  size_t n = (size_t)t->numel;
  if (n == 0 || delta == 0) return NN_OK;
  return ON_CPU(t) ? cpu_index_shift(tensor_data_i32(t), n, delta)
                   : cuda_index_shift(tensor_data_i32(t), n, delta);
}

/* --- gather, index_select, scatter_add, index_add --------------------------------- */

int cpu_check_index (const void *idx, int i32, size_t count, int base, int64_t n, int64_t *bad) {
  *bad = -1;
  for (size_t i = 0; i < count; i++)
    if (index_at(idx, i32, i, base, n) < 0) { *bad = (int64_t)i; break; }
  return NN_OK;
}

int cpu_take (void *out, const void *src, const void *idx, int i32, int per_elem, size_t outer,
              size_t n, size_t k, size_t inner, int base) {
  uint32_t *o = (uint32_t *)out;            /* 4-byte elements of either dtype */
  const uint32_t *s = (const uint32_t *)src;
  for (size_t a = 0; a < outer; a++)
    for (size_t j = 0; j < k; j++)
      for (size_t i = 0; i < inner; i++) {
        size_t q = (a * k + j) * inner + i;
        int64_t r = index_at(idx, i32, per_elem ? q : j, base, (int64_t)n);
        o[q] = s[(a * n + (size_t)r) * inner + i];
      }
  return NN_OK;
}

int cpu_put_add (float *out, const float *src, const void *idx, int i32, int per_elem,
                 size_t outer, size_t n, size_t k, size_t inner, int base) {
  for (size_t a = 0; a < outer; a++)
    for (size_t j = 0; j < k; j++)
      for (size_t i = 0; i < inner; i++) {
        size_t q = (a * k + j) * inner + i;
        int64_t r = index_at(idx, i32, per_elem ? q : j, base, (int64_t)n);
        out[(a * n + (size_t)r) * inner + i] += src[q];
      }
  return NN_OK;
}

/* take (per_elem: gather) or index_select along d > 0, after the checks */
static int take (const char *op, nn_tensor *out, const nn_tensor *src, int d,
                 const nn_tensor *idx, int base, int per_elem) {
  int rc;
  if (out->dtype != src->dtype)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "%s: the output is %s, the source is %s", op,
                         dtype_name(out->dtype), dtype_name(src->dtype));
  if ((rc = same_dev(op, src, idx, NN_ROLE_INDEX)) != NN_OK ||
      (rc = same_dev(op, src, out, NN_ROLE_OUT)) != NN_OK ||
      (rc = apart(op, out, src, "the source", NN_ROLE_OUT)) != NN_OK ||
      (rc = apart(op, out, idx, "the indices", NN_ROLE_OUT)) != NN_OK)
    return rc;
  size_t outer, n, inner;
  split(src, d, &outer, &n, &inner);
  if ((rc = check_indices(op, idx, base, n, src, d)) != NN_OK) return rc;
  if (out->numel == 0) return NN_OK;
  size_t k = (size_t)out->shape[d];
  int i32 = idx->dtype == NN_I32;
  return ON_CPU(src) ? cpu_take(tensor_data(out), tensor_data(src), tensor_data(idx), i32,
                                per_elem, outer, n, k, inner, base)
                     : cuda_take(tensor_data(out), tensor_data(src), tensor_data(idx), i32,
                                 per_elem, outer, n, k, inner, base);
}

int tensor_index_select_dim (nn_tensor *out, const nn_tensor *src, int d, const nn_tensor *idx,
                             int base) {
  int rc = check_dim("index_select", src, d);
  if (rc != NN_OK) return rc;
  if (d == 0) return tensor_index_select(out, src, idx, base);
  if (idx->ndim != 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "index_select: the indices must be 1-D, "
                         "got %s", shape_str(idx).s);
  if (!shaped(out, src, d, idx->shape[0]))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "index_select: output %s does not hold %lld "
                         "entries along dim %d of %s", shape_str(out).s,
                         (long long)idx->shape[0], d + 1, shape_str(src).s);
  return take("index_select", out, src, d, idx, base, 0);
}

int tensor_gather (nn_tensor *out, const nn_tensor *src, int d, const nn_tensor *index, int base) {
  int rc = check_dim("gather", src, d);
  if (rc != NN_OK) return rc;
  if (!same_but(index, src, d))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "gather: index %s must have the sizes of "
                         "src %s except along dim %d", shape_str(index).s, shape_str(src).s,
                         d + 1);
  if (!same_but(out, index, -1))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "gather: output %s does not have the index's "
                         "shape %s", shape_str(out).s, shape_str(index).s);
  return take("gather", out, src, d, index, base, 1);
}

/* scatter_add (per_elem) or index_add, after the shape checks */
static int put_add (const char *op, nn_tensor *out, int d, const nn_tensor *idx,
                    const nn_tensor *src, int base, int per_elem) {
  int rc;
  if ((rc = tensor_check_float(out, NN_ROLE_OUT, op)) != NN_OK ||
      (rc = tensor_check_float(src, NN_ROLE_INPUT, op)) != NN_OK)
    return rc;
  if ((rc = same_dev(op, out, idx, NN_ROLE_INDEX)) != NN_OK ||
      (rc = same_dev(op, out, src, NN_ROLE_INPUT)) != NN_OK ||
      (rc = apart(op, out, src, "the source", NN_ROLE_OUT)) != NN_OK ||
      (rc = apart(op, out, idx, "the indices", NN_ROLE_OUT)) != NN_OK)
    return rc;
  size_t outer, n, inner;
  split(out, d, &outer, &n, &inner);
  if ((rc = check_indices(op, idx, base, n, out, d)) != NN_OK) return rc;
  if (src->numel == 0) return NN_OK;
  size_t k = (size_t)src->shape[d];
  int i32 = idx->dtype == NN_I32;
  return ON_CPU(out) ? cpu_put_add(tensor_data(out), tensor_data(src), tensor_data(idx), i32,
                                   per_elem, outer, n, k, inner, base)
                     : cuda_put_add(tensor_data(out), tensor_data(src), tensor_data(idx), i32,
                                    per_elem, outer, n, k, inner, base);
}

int tensor_scatter_add (nn_tensor *out, int d, const nn_tensor *index, const nn_tensor *src,
                        int base) {
  int rc = check_dim("scatter_add", out, d);
  if (rc != NN_OK) return nn_blame(rc, rc == NN_EARG ? NN_ROLE_INDEX : NN_ROLE_OUT);
  if (!same_but(index, src, -1))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "scatter_add: index %s and src %s must "
                         "have one shape", shape_str(index).s, shape_str(src).s);
  if (!same_but(src, out, d))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "scatter_add: src %s must have the sizes "
                         "of the tensor %s except along dim %d", shape_str(src).s,
                         shape_str(out).s, d + 1);
  return put_add("scatter_add", out, d, index, src, base, 1);
}

int tensor_index_add (nn_tensor *out, int d, const nn_tensor *index, const nn_tensor *src,
                      int base) {
  int rc = check_dim("index_add", out, d);
  if (rc != NN_OK) return nn_blame(rc, rc == NN_EARG ? NN_ROLE_INDEX : NN_ROLE_OUT);
  if (index->ndim != 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "index_add: the indices must be 1-D, got %s",
                         shape_str(index).s);
  if (!shaped(src, out, d, index->shape[0]))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "index_add: src %s must be the tensor's "
                         "shape %s with %lld along dim %d", shape_str(src).s, shape_str(out).s,
                         (long long)index->shape[0], d + 1);
  return put_add("index_add", out, d, index, src, base, 0);
}

/* --- sort and topk --------------------------------------------------------------- */

/* The sort key of (value v, position j): 64 bits whose unsigned order is
** sort_before's.  The high word orders the float: its bits with the sign
** bit set for a positive number and all bits flipped for a negative one
** (so the unsigned order is the numeric order), -0 taken as +0 (they are
** equal), every nan as 0xFFFFFFFF (after +inf); flipped again when
** descending.  The low word is the position, so equal values keep their
** order either way, and no two keys are equal. */
static uint64_t sort_key (float v, size_t j, int descending) {
  uint32_t u;
  if (v != v) u = 0xFFFFFFFFu;
  else {
    if (v == 0.0f) v = 0.0f;                  /* -0 -> +0 */
    memcpy(&u, &v, sizeof u);
    u = (u & 0x80000000u) ? ~u : u | 0x80000000u;
  }
  if (descending) u = ~u;
  return (uint64_t)u << 32 | (uint64_t)j;
}

/* x[0 .. n-1] in increasing order, with tmp of n: a bottom-up merge sort
** (runs of width 1, 2, 4, ... merged pairwise).  The keys are distinct, so
** stability is the keys' business (their low word). */
static void merge_sort (uint64_t *x, uint64_t *tmp, size_t n) {
  uint64_t *from = x, *to = tmp;
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t a = lo, b = mid, o = lo;
      while (a < mid && b < hi) to[o++] = from[b] < from[a] ? from[b++] : from[a++];
      while (a < mid) to[o++] = from[a++];
      while (b < hi) to[o++] = from[b++];
    }
    uint64_t *t = from; from = to; to = t;
  }
  if (from != x) memcpy(x, from, n * sizeof *x);
}

/* The first k of row r[0 .. n-1] (stride `stride`) in sort_before's order,
** for a small k: one pass that keeps the k best so far in order, inserting
** each newcomer that beats the last.  The items come in position order and
** sort_before breaks ties by position, so the k are the stable sort's first
** k.  O(n k) at worst, about O(n) on most data. */
static void select_k (uint64_t *best, const float *r, size_t stride, size_t n, size_t k,
                      int descending) {
  size_t have = 0;
  for (size_t j = 0; j < n; j++) {
    uint64_t it = sort_key(r[j * stride], j, descending);
    if (have == k && it > best[k - 1]) continue;
    size_t p = have < k ? have++ : k - 1;          /* drop the last when full */
    while (p > 0 && it < best[p - 1]) {
      best[p] = best[p - 1];
      p--;
    }
    best[p] = it;
  }
}

/* topk with k at most this, and at most n / 8, selects instead of sorting */
#define SELECT_K_MAX 64

int cpu_sort_host (float *values, int32_t *indices, const float *a, size_t outer, size_t n,
                   size_t inner, size_t k, int descending, int base) {
  size_t rows = outer * inner;
  int select = k <= SELECT_K_MAX && k * 8 <= n;
  int failed = 0;
  /* rows in parallel (each thread its own scratch) when there is work for two */
  #pragma omp parallel if (rows * n >= 65536 && rows > 1)
  {
    uint64_t *x = malloc((n ? n : 1) * 2 * sizeof *x);
    if (x == NULL) {
      #pragma omp atomic write
      failed = 1;
    }
    #pragma omp for schedule(static)
    for (size_t row = 0; row < rows; row++) {
      if (x == NULL) continue;
      size_t o = row / inner, i = row % inner;
      const float *r = a + o * n * inner + i;
      if (select) {
        select_k(x, r, inner, n, k, descending);
      } else {
        for (size_t j = 0; j < n; j++) x[j] = sort_key(r[j * inner], j, descending);
        merge_sort(x, x + n, n);
      }
      for (size_t j = 0; j < k; j++) {
        size_t pos = (size_t)(x[j] & 0xFFFFFFFFu);   /* the value itself: -0 and nan kept */
        values[(o * k + j) * inner + i] = r[pos * inner];
        indices[(o * k + j) * inner + i] = (int32_t)((int64_t)pos + base);
      }
    }
    free(x);
  }
  if (failed) return nn_seterr(NN_ENOMEM, "sort: out of host memory for a row of %zu", n);
  return NN_OK;
}

static int sort_k (const char *op, nn_tensor *values, nn_tensor *indices, const nn_tensor *a,
                   int64_t k, int d, int descending, int base) {
  int rc;
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, op)) != NN_OK ||
      (rc = tensor_check_float(values, NN_ROLE_OUT, op)) != NN_OK)
    return rc;
  if ((rc = check_dim(op, a, d)) != NN_OK) return rc;
  if (indices->dtype != NN_I32)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "%s: the indices output is %s, not int32", op,
                         dtype_name(indices->dtype));
  int64_t n = a->shape[d];
  if (n > INT32_MAX - (int64_t)(base > 0 ? base : 0))
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s over dim %d of %s: the dim has %lld "
                         "elements, and indices are int32, up to 2^31 - 1", op, d + 1,
                         shape_str(a).s, (long long)n);
  if (k < 0 || k > n)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s: k = %lld is outside 0..%lld (dim %d of "
                         "%s)", op, (long long)k, (long long)n, d + 1, shape_str(a).s);
  if (!shaped(values, a, d, k) || !shaped(indices, a, d, k))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: outputs %s and %s do not hold %lld along "
                         "dim %d of %s", op, shape_str(values).s, shape_str(indices).s,
                         (long long)k, d + 1, shape_str(a).s);
  if ((rc = same_dev(op, a, values, NN_ROLE_OUT)) != NN_OK ||
      (rc = same_dev(op, a, indices, NN_ROLE_OUT)) != NN_OK ||
      (rc = apart(op, values, a, "the input", NN_ROLE_OUT)) != NN_OK ||
      (rc = apart(op, indices, a, "the input", NN_ROLE_OUT)) != NN_OK ||
      (rc = apart(op, values, indices, "the indices", NN_ROLE_OUT)) != NN_OK)
    return rc;
  size_t outer, len, inner;
  split(a, d, &outer, &len, &inner);
  if (values->numel == 0) return NN_OK;
  if (ON_CPU(a))
    return cpu_sort_host(tensor_data(values), tensor_data_i32(indices), tensor_data(a), outer,
                         len, inner, (size_t)k, descending, base);
  if (len <= SORT_SMEM_MAX)       /* CUDA: a bitonic sort per row in shared memory */
    return cuda_sort_rows(tensor_data(values), tensor_data_i32(indices), tensor_data(a), outer,
                          len, inner, (size_t)k, descending, base);
  /* CUDA, rows longer than that: the documented fallback, sorted on the host */
  size_t na = (size_t)a->numel, nv = (size_t)values->numel;
  float *host = calloc(na + 2 * nv, sizeof *host);
  if (host == NULL) return nn_seterr(NN_ENOMEM, "%s: out of host memory", op);
  float *hv = host + na;
  int32_t *hi = (int32_t *)(void *)(hv + nv);
  rc = cuda_memcpy(host, NN_CPU, tensor_data(a), NN_CUDA, na);
  if (rc == NN_OK) rc = cpu_sort_host(hv, hi, host, outer, len, inner, (size_t)k, descending, base);
  if (rc == NN_OK) rc = cuda_memcpy(tensor_data(values), NN_CUDA, hv, NN_CPU, nv);
  if (rc == NN_OK) rc = cuda_memcpy(tensor_data(indices), NN_CUDA, (const float *)(void *)hi,
                                    NN_CPU, nv);
  free(host);
  return rc;
}

int tensor_sort (nn_tensor *values, nn_tensor *indices, const nn_tensor *a, int d,
                 int descending, int base) {
  int rc = check_dim("sort", a, d);
  if (rc != NN_OK) return rc;
  return sort_k("sort", values, indices, a, a->shape[d], d, descending, base);
}

int tensor_topk (nn_tensor *values, nn_tensor *indices, const nn_tensor *a, int64_t k, int d,
                 int largest, int base) {
  return sort_k("topk", values, indices, a, k, d, largest, base);
}

/* --- sampling -------------------------------------------------------------------- */

int cpu_multinomial (int32_t *out, const float *probs, size_t b, size_t c, size_t n,
                     int replacement, uint64_t seed, uint64_t block0, int base, int64_t *bad) {
  *bad = -1;
  for (size_t r = 0; r < b; r++) {
    int why = multinomial_row_check(probs + r * c, c, n, replacement);
    if (why) { *bad = 4 * (int64_t)r + why - 1; return NN_OK; }
  }
  double *w = malloc((c ? c : 1) * sizeof *w);
  if (w == NULL) return nn_seterr(NN_ENOMEM, "multinomial: out of host memory");
  for (size_t r = 0; r < b; r++)
    multinomial_row(out + r * n, probs + r * c, w, c, n, replacement, seed, block0, r * n, base);
  free(w);
  return NN_OK;
}

int tensor_multinomial (nn_tensor *out, const nn_tensor *probs, int64_t n, int replacement,
                        int base) {
  int rc = tensor_check_float(probs, NN_ROLE_INPUT, "multinomial");
  if (rc != NN_OK) return rc;
  if (probs->ndim != 1 && probs->ndim != 2)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "multinomial: probs must be (C) or (B, C), "
                         "got %s", shape_str(probs).s);
  int64_t c = probs->shape[probs->ndim - 1], b = probs->ndim == 2 ? probs->shape[0] : 1;
  if (c < 1 || c > INT32_MAX - (int64_t)(base > 0 ? base : 0))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "multinomial: probs %s must have 1 .. 2^31 "
                         "- 1 classes", shape_str(probs).s);
  if (n < 0 || (!replacement && n > c))
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT + 1, "multinomial: %lld draws %s from %lld "
                         "classes", (long long)n, replacement ? "with replacement" :
                         "without replacement", (long long)c);
  if (out->dtype != NN_I32)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "multinomial writes int32 class indices: the "
                         "output is %s", dtype_name(out->dtype));
  int fits = probs->ndim == 1 ? out->ndim == 1 && out->shape[0] == n
                              : out->ndim == 2 && out->shape[0] == b && out->shape[1] == n;
  if (!fits)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "multinomial: output %s does not hold %lld "
                         "draws for probs %s", shape_str(out).s, (long long)n,
                         shape_str(probs).s);
  if ((rc = same_dev("multinomial", probs, out, NN_ROLE_OUT)) != NN_OK ||
      (rc = apart("multinomial", out, probs, "probs", NN_ROLE_OUT)) != NN_OK)
    return rc;
  int64_t total;                        /* draws: b * n, both below NN_MAX_NUMEL */
  if ((rc = nn_size_mul(&total, b, n)) != NN_OK) return rc;
  uint64_t seed, unused, block0 = nn_rng_reserve(((uint64_t)total + 3) / 4);
  nn_rng_get_state(&seed, &unused);
  int64_t bad = -1;
  if (b == 0) return NN_OK;
  rc = ON_CPU(probs) ? cpu_multinomial(tensor_data_i32(out), tensor_data(probs), (size_t)b,
                                       (size_t)c, (size_t)n, replacement, seed, block0, base,
                                       &bad)
                     : cuda_multinomial(tensor_data_i32(out), tensor_data(probs), (size_t)b,
                                        (size_t)c, (size_t)n, replacement, seed, block0, base,
                                        &bad);
  if (rc != NN_OK || bad < 0) return rc;
  long long row = (long long)(bad / 4) + 1;
  switch (bad % 4) {
    case 0:
      return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "multinomial: row %lld of probs has a "
                           "negative, inf or nan weight", row);
    case 1:
      return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "multinomial: row %lld of probs has no "
                           "positive weight", row);
    default:
      return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "multinomial: row %lld of probs has fewer "
                           "classes of positive weight than the %lld draws without "
                           "replacement", row, (long long)n);
  }
}

int cpu_bernoulli (float *out, const float *p, size_t n, uint64_t seed, uint64_t block0,
                   int64_t *bad) {
  *bad = -1;
  for (size_t i = 0; i < n; i++)
    if (!(p[i] >= 0.0f && p[i] <= 1.0f)) { *bad = (int64_t)i; return NN_OK; }
  uint32_t r[4];
  for (size_t i = 0; i < n; i++) {
    if (i % 4 == 0) philox_block(r, seed, block0 + i / 4);
    out[i] = philox_u01(r[i % 4]) < p[i] ? 1.0f : 0.0f;
  }
  return NN_OK;
}

int tensor_bernoulli (nn_tensor *out, const nn_tensor *p) {
  int rc;
  if ((rc = tensor_check_float(p, NN_ROLE_INPUT, "bernoulli")) != NN_OK ||
      (rc = tensor_check_float(out, NN_ROLE_OUT, "bernoulli")) != NN_OK)
    return rc;
  if (!same_but(out, p, -1))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "bernoulli: output %s does not match p %s",
                         shape_str(out).s, shape_str(p).s);
  if ((rc = same_dev("bernoulli", p, out, NN_ROLE_OUT)) != NN_OK) return rc;
  /* out is p, or apart from it: element i is read before it is written */
  if (out->storage == p->storage && out->offset != p->offset && out->numel > 0)
    return apart("bernoulli", out, p, "p", NN_ROLE_OUT);
  size_t n = (size_t)p->numel;
  uint64_t seed, unused, block0 = nn_rng_reserve((n + 3) / 4);
  nn_rng_get_state(&seed, &unused);
  if (n == 0) return NN_OK;
  int64_t bad = -1;
  rc = ON_CPU(p) ? cpu_bernoulli(tensor_data(out), tensor_data(p), n, seed, block0, &bad)
                 : cuda_bernoulli(tensor_data(out), tensor_data(p), n, seed, block0, &bad);
  if (rc != NN_OK || bad < 0) return rc;
  double v = 0.0;
  if ((rc = tensor_get_number(&v, p, bad)) != NN_OK) return rc;
  return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "bernoulli: p at position %lld is %.9g, "
                       "outside [0, 1]", (long long)bad + 1, v);
}
