/*
** shape.c -- transposes, permutes, expand, tile, cat, stack, narrow and
** select along any dim, squeeze/unsqueeze/flatten, tril/triu.
**
** Tensors are contiguous and row-major, with no strides: a result that is
** a contiguous piece of its input (squeeze, unsqueeze, flatten: the same
** elements in another shape; narrow and select along dim 0: a run of rows)
** is a view; any other is a copy.  Each copy is described once, as a
** strided copy (backend.h): a shape to walk and, for each dim, the step in
** the destination and in the source.  So x of shape (2, 3) transposed is
** the walk (3, 2) with dst strides (2, 1) and src strides (1, 3).  This
** file checks the arguments and builds that description; the backends
** (cpu_shape.c, cuda_shape.cu) do the walking.
*/
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* x's row-major strides, in elements: stride[d] = prod shape[d+1..]. */
static void strides_of (int64_t *stride, int ndim, const int64_t *shape) {
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) { stride[d] = s; s *= shape[d]; }
}

/* Drop size-1 dims and merge neighbours that are contiguous on both sides
** (dim d then d+1 walk as one when stride[d] = shape[d+1] * stride[d+1] in
** dst and in src), so each backend sees the fewest and longest dims: a
** (B, R, C) -> (B, C, R) transpose stays 3 dims, a plain copy becomes 1. */
static void coalesce (nn_strided *s) {
  nn_strided c = { 0 };
  for (int d = 0; d < s->ndim; d++) {
    if (s->shape[d] == 1) continue;
    int k = c.ndim - 1;
    if (k >= 0 && c.dst_stride[k] == s->shape[d] * s->dst_stride[d]
        && c.src_stride[k] == s->shape[d] * s->src_stride[d]) {
      c.shape[k] *= s->shape[d];
      c.dst_stride[k] = s->dst_stride[d];
      c.src_stride[k] = s->src_stride[d];
      continue;
    }
    c.shape[c.ndim] = s->shape[d];
    c.dst_stride[c.ndim] = s->dst_stride[d];
    c.src_stride[c.ndim] = s->src_stride[d];
    c.ndim++;
  }
  *s = c;
}

/* Run the walk s from src (+ its offset) into dst (+ its offset), on their
** one device.  Both offsets are in elements. */
static int run_copy (nn_tensor *dst, size_t dst_off, const nn_tensor *src, size_t src_off,
                     nn_strided *s) {
  for (int d = 0; d < s->ndim; d++) if (s->shape[d] == 0) return NN_OK;
  coalesce(s);
  float *o = tensor_data(dst) + dst_off;
  const float *x = tensor_data(src) + src_off;
  if (dst->storage->device == NN_CUDA) return cuda_strided_copy(o, x, s);
  return cpu_strided_copy(o, x, s);
}

/* A new tensor of x's dtype and device. */
static int new_like_x (nn_tensor **out, const nn_tensor *x, int ndim, const int64_t *shape) {
  return tensor_new_dtype(out, x->storage->device, x->dtype, ndim, shape);
}

/* finish: on error drop what was made */
static int done (nn_tensor **out, int rc) {
  if (rc != NN_OK) { tensor_release(*out); *out = NULL; }
  return rc;
}

static int bad_dim (const nn_tensor *x, int dim, int lo, int hi) {
  return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "dim %d is out of range for %s (dims %d..%d)",
                       dim + 1, shape_str(x).s, lo + 1, hi + 1);
}

int tensor_permute (nn_tensor **out, const nn_tensor *x, int n, const int *perm) {
  *out = NULL;
  if (n != x->ndim)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "permute of %s needs %d dims, got %d",
                         shape_str(x).s, x->ndim, n);
  int seen[NN_MAXDIM] = { 0 };
  for (int i = 0; i < n; i++) {
    if (perm[i] < 0 || perm[i] >= n) return bad_dim(x, perm[i], 0, n - 1);
    if (seen[perm[i]]++)
      return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "permute of %s: dim %d appears twice",
                           shape_str(x).s, perm[i] + 1);
  }
  int64_t shape[NN_MAXDIM] = { 0 }, xs[NN_MAXDIM] = { 0 }, os[NN_MAXDIM] = { 0 };
  for (int i = 0; i < n; i++) shape[i] = x->shape[perm[i]];
  int rc = new_like_x(out, x, n, shape);
  if (rc != NN_OK) return rc;
  /* walk out in its own order: out dim i steps x by x's stride of perm[i] */
  strides_of(xs, n, x->shape);
  strides_of(os, n, shape);
  nn_strided s = { .ndim = n };
  for (int i = 0; i < n; i++) {
    s.shape[i] = shape[i];
    s.dst_stride[i] = os[i];
    s.src_stride[i] = xs[perm[i]];
  }
  return done(out, run_copy(*out, 0, x, 0, &s));
}

int tensor_transpose (nn_tensor **out, const nn_tensor *x, int d1, int d2) {
  *out = NULL;
  int hi = x->ndim - 1;
  if (d1 < 0 || d1 > hi) return bad_dim(x, d1, 0, hi);
  if (d2 < 0 || d2 > hi) return bad_dim(x, d2, 0, hi);
  int perm[NN_MAXDIM];
  for (int i = 0; i < x->ndim; i++) perm[i] = i;
  perm[d1] = d2;
  perm[d2] = d1;
  return tensor_permute(out, x, x->ndim, perm);
}

int tensor_squeeze (nn_tensor **out, nn_tensor *x, int dim) {
  *out = NULL;
  if (dim < -1 || dim >= x->ndim) return bad_dim(x, dim, 0, x->ndim - 1);
  int64_t shape[NN_MAXDIM] = { 0 };
  int n = 0;
  for (int d = 0; d < x->ndim; d++)
    if (!(x->shape[d] == 1 && (dim == -1 || dim == d))) shape[n++] = x->shape[d];
  return tensor_view(out, x, n, shape);
}

int tensor_unsqueeze (nn_tensor **out, nn_tensor *x, int dim) {
  *out = NULL;
  if (x->ndim >= NN_MAXDIM)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "unsqueeze of %s would make %d dims; a tensor "
                         "has at most %d", shape_str(x).s, x->ndim + 1, NN_MAXDIM);
  if (dim < 0 || dim > x->ndim) return bad_dim(x, dim, 0, x->ndim);
  int64_t shape[NN_MAXDIM] = { 0 };
  for (int d = 0, n = 0; d <= x->ndim; d++)
    shape[d] = d == dim ? 1 : x->shape[n++];
  return tensor_view(out, x, x->ndim + 1, shape);
}

int tensor_flatten (nn_tensor **out, nn_tensor *x, int start, int end) {
  *out = NULL;
  if (x->ndim == 0) return tensor_view(out, x, 1, (int64_t[]){ 1 });   /* as torch: (1) */
  if (start < 0 || start >= x->ndim) return bad_dim(x, start, 0, x->ndim - 1);
  if (end < 0 || end >= x->ndim) return bad_dim(x, end, 0, x->ndim - 1);
  if (start > end)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "flatten of %s: start dim %d is after end "
                         "dim %d", shape_str(x).s, start + 1, end + 1);
  int64_t shape[NN_MAXDIM] = { 0 };
  int n = 0;
  for (int d = 0; d < x->ndim; d++) {
    if (d > start && d <= end) shape[n - 1] *= x->shape[d];
    else shape[n++] = x->shape[d];
  }
  return tensor_view(out, x, n, shape);
}

int tensor_expand (nn_tensor **out, const nn_tensor *x, int ndim, const int64_t *want) {
  *out = NULL;
  if (ndim > NN_MAXDIM)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "a tensor has at most %d dims, got %d",
                         NN_MAXDIM, ndim);
  int64_t shape[NN_MAXDIM] = { 0 }, xs[NN_MAXDIM] = { 0 }, os[NN_MAXDIM] = { 0 };
  nn_tensor probe = { .ndim = ndim };
  for (int i = 0; i < ndim; i++) probe.shape[i] = want[i];
  if (ndim < x->ndim)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "cannot expand %s to %s: fewer dims than it has",
                     shape_str(x).s, shape_str(&probe).s);
  int lead = ndim - x->ndim;
  strides_of(xs, x->ndim, x->shape);
  nn_strided s = { .ndim = ndim };
  for (int i = 0; i < ndim; i++) {
    int64_t have = i < lead ? 1 : x->shape[i - lead];
    shape[i] = want[i];
    if (want[i] == -1) {
      if (i < lead)
        return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "cannot expand %s to %s: size -1 at dim %d, a new dim",
                         shape_str(x).s, shape_str(&probe).s, i + 1);
      shape[i] = have;
    }
    else if (want[i] < 0)
      return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "cannot expand %s to %s: size %lld at dim %d",
                       shape_str(x).s, shape_str(&probe).s, (long long)want[i], i + 1);
    else if (have != want[i] && have != 1)
      return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INDEX, "cannot expand %s to %s: dim %d is %lld, not 1 or %lld",
                       shape_str(x).s, shape_str(&probe).s, i + 1, (long long)have,
                       (long long)want[i]);
    /* a repeated dim steps 0 through x */
    s.src_stride[i] = i < lead || (have == 1 && shape[i] != 1) ? 0 : xs[i - lead];
    s.shape[i] = shape[i];
  }
  int rc = new_like_x(out, x, ndim, shape);
  if (rc != NN_OK) return nn_blame(rc, NN_ROLE_INDEX);
  strides_of(os, ndim, shape);
  for (int i = 0; i < ndim; i++) s.dst_stride[i] = os[i];
  return done(out, run_copy(*out, 0, x, 0, &s));
}

int tensor_tile (nn_tensor **out, const nn_tensor *x, int n, const int64_t *reps) {
  *out = NULL;
  if (n < x->ndim || n > NN_MAXDIM)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "tile of %s needs %d to %d reps, got %d",
                         shape_str(x).s, x->ndim, NN_MAXDIM, n);
  int lead = n - x->ndim;
  int64_t xsh[NN_MAXDIM], shape[NN_MAXDIM], xs[NN_MAXDIM], os[NN_MAXDIM];
  for (int i = 0; i < n; i++) {
    if (reps[i] < 0)
      return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "rep %d is %lld: reps must be >= 0", i + 1,
                           (long long)reps[i]);
    xsh[i] = i < lead ? 1 : x->shape[i - lead];
    if (nn_size_mul(&shape[i], xsh[i], reps[i]) != NN_OK)
      return nn_blame(NN_EARG, NN_ROLE_INDEX);
  }
  int rc = new_like_x(out, x, n, shape);
  if (rc != NN_OK) return nn_blame(rc, NN_ROLE_INDEX);
  /* out seen as (r_0, s_0, r_1, s_1, ...): a rep dim of src stride 0 over
     each dim of x, whose out stride is the whole of that dim's x block */
  strides_of(xs, n, xsh);
  strides_of(os, n, shape);
  nn_strided s = { .ndim = 2 * n };
  for (int i = 0; i < n; i++) {
    s.shape[2 * i] = reps[i];
    s.dst_stride[2 * i] = os[i] * xsh[i];
    s.src_stride[2 * i] = 0;
    s.shape[2 * i + 1] = xsh[i];
    s.dst_stride[2 * i + 1] = os[i];
    s.src_stride[2 * i + 1] = xs[i];
  }
  return done(out, run_copy(*out, 0, x, 0, &s));
}

/* out (preallocated, contiguous, numel matching) = x's indices
** start..start+length-1 along dim */
static int narrow_copy (nn_tensor *out, const nn_tensor *x, int dim, int64_t start,
                        int64_t length) {
  int64_t xs[NN_MAXDIM] = { 0 }, shape[NN_MAXDIM] = { 0 }, os[NN_MAXDIM] = { 0 };
  memcpy(shape, x->shape, sizeof shape);
  shape[dim] = length;
  strides_of(xs, x->ndim, x->shape);
  strides_of(os, x->ndim, shape);
  nn_strided s = { .ndim = x->ndim };
  for (int i = 0; i < x->ndim; i++) {
    s.shape[i] = shape[i];
    s.dst_stride[i] = os[i];
    s.src_stride[i] = xs[i];
  }
  return run_copy(out, 0, x, (size_t)(start * xs[dim]), &s);
}

static int check_range (const nn_tensor *x, int dim, int64_t start, int64_t length) {
  if (dim < 0 || dim >= x->ndim) return bad_dim(x, dim, 0, x->ndim - 1);
  int64_t n = x->shape[dim];
  if (start < 0 || length < 0 || start > n || length > n - start)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%lld indices from %lld are outside dim %d of "
                         "%s (size %lld)", (long long)length,
                         (long long)start + (start < INT64_MAX), dim + 1, shape_str(x).s,
                         (long long)n);
  return NN_OK;
}

int tensor_narrow_dim (nn_tensor **out, nn_tensor *x, int dim, int64_t start, int64_t length) {
  *out = NULL;
  int rc = check_range(x, dim, start, length);
  if (rc != NN_OK) return rc;
  if (dim == 0) return tensor_narrow(out, x, start, length);
  int64_t shape[NN_MAXDIM] = { 0 };
  memcpy(shape, x->shape, sizeof shape);
  shape[dim] = length;
  rc = new_like_x(out, x, x->ndim, shape);
  if (rc != NN_OK) return rc;
  return done(out, narrow_copy(*out, x, dim, start, length));
}

int tensor_select (nn_tensor **out, nn_tensor *x, int dim, int64_t i) {
  *out = NULL;
  if (dim < 0 || dim >= x->ndim) return bad_dim(x, dim, 0, x->ndim - 1);
  if (i < 0 || i >= x->shape[dim])
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "index %lld is outside 1..%lld (dim %d of %s)",
                         (long long)i + (i < INT64_MAX), (long long)x->shape[dim], dim + 1,
                         shape_str(x).s);
  int64_t shape[NN_MAXDIM] = { 0 };
  int n = 0;
  for (int d = 0; d < x->ndim; d++) if (d != dim) shape[n++] = x->shape[d];
  if (dim == 0) {
    nn_tensor *row = NULL;
    int rc = tensor_narrow(&row, x, i, 1);
    if (rc != NN_OK) return rc;
    rc = tensor_view(out, row, n, shape);
    tensor_release(row);
    return rc;
  }
  int rc = new_like_x(out, x, n, shape);
  if (rc != NN_OK) return rc;
  return done(out, narrow_copy(*out, x, dim, i, 1));
}

/* The checks cat and stack share: n >= 1, one dtype, one device, tensors. */
static int check_list (const nn_tensor *const *xs, int n) {
  if (n < 1) return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "the list of tensors is empty");
  for (int k = 1; k < n; k++) {
    if (xs[k]->dtype != xs[0]->dtype)
      return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT + k, "tensor %d of the list is %s, tensor 1 "
                           "is %s (convert with :float() or :int())", k + 1,
                           dtype_name(xs[k]->dtype), dtype_name(xs[0]->dtype));
    if (xs[k]->storage->device != xs[0]->storage->device)
      return nn_seterr_arg(NN_EDEVICE, NN_ROLE_INPUT + k, "tensor %d of the list is on %s, "
                           "tensor 1 on %s", k + 1, device_name(xs[k]->storage->device),
                           device_name(xs[0]->storage->device));
  }
  return NN_OK;
}

/* Copy each xs[k] into out, where out is seen as (outer, total, inner) and
** xs[k] as (outer, its size, inner) starting at its place along the middle. */
static int join (nn_tensor *out, const nn_tensor *const *xs, int n, int64_t outer,
                 int64_t total, int64_t inner, const int64_t *sizes) {
  int64_t at = 0;
  for (int k = 0; k < n; k++) {
    nn_strided s = { .ndim = 2, .shape = { outer, sizes[k] * inner },
                     .dst_stride = { total * inner, 1 }, .src_stride = { sizes[k] * inner, 1 } };
    int rc = run_copy(out, (size_t)(at * inner), xs[k], 0, &s);
    if (rc != NN_OK) return rc;
    at += sizes[k];
  }
  return NN_OK;
}

int tensor_cat (nn_tensor **out, const nn_tensor *const *xs, int n, int dim) {
  *out = NULL;
  int rc = check_list(xs, n);
  if (rc != NN_OK) return rc;
  const nn_tensor *x0 = xs[0];
  if (x0->ndim == 0)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "cannot cat 0-dim tensors (stack them)");
  if (dim < 0 || dim >= x0->ndim) return bad_dim(x0, dim, 0, x0->ndim - 1);
  int64_t shape[NN_MAXDIM], sizes[64], *sz = sizes;
  memcpy(shape, x0->shape, sizeof shape);
  shape[dim] = 0;
  if (n > 64 && (sz = malloc((size_t)n * sizeof *sz)) == NULL)
    return nn_seterr(NN_ENOMEM, "out of host memory");
  for (int k = 0; k < n && rc == NN_OK; k++) {
    int same = xs[k]->ndim == x0->ndim;
    for (int d = 0; same && d < x0->ndim; d++)
      same = d == dim || xs[k]->shape[d] == x0->shape[d];
    if (!same)
      rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + k, "tensor %d of the list is %s, tensor 1 "
                         "is %s: they must match off dim %d", k + 1, shape_str(xs[k]).s,
                         shape_str(x0).s, dim + 1);
    else {
      sz[k] = xs[k]->shape[dim];
      rc = nn_size_add(&shape[dim], shape[dim], sz[k]);
    }
  }
  if (rc == NN_OK) rc = new_like_x(out, x0, x0->ndim, shape);
  if (rc == NN_OK) {
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= shape[d];
    for (int d = dim + 1; d < x0->ndim; d++) inner *= shape[d];
    rc = done(out, join(*out, xs, n, outer, shape[dim], inner, sz));
  }
  if (sz != sizes) free(sz);
  return rc;
}

int tensor_stack (nn_tensor **out, const nn_tensor *const *xs, int n, int dim) {
  *out = NULL;
  int rc = check_list(xs, n);
  if (rc != NN_OK) return rc;
  const nn_tensor *x0 = xs[0];
  if (x0->ndim >= NN_MAXDIM)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "stack of %s tensors would make %d dims; a "
                         "tensor has at most %d", shape_str(x0).s, x0->ndim + 1, NN_MAXDIM);
  if (dim < 0 || dim > x0->ndim) return bad_dim(x0, dim, 0, x0->ndim);
  for (int k = 1; k < n; k++) {
    int same = xs[k]->ndim == x0->ndim;
    for (int d = 0; same && d < x0->ndim; d++) same = xs[k]->shape[d] == x0->shape[d];
    if (!same)
      return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + k, "tensor %d of the list is %s, tensor "
                           "1 is %s: stack needs one shape", k + 1, shape_str(xs[k]).s,
                           shape_str(x0).s);
  }
  int64_t shape[NN_MAXDIM], outer = 1, inner = 1;
  for (int d = 0, j = 0; d <= x0->ndim; d++) shape[d] = d == dim ? n : x0->shape[j++];
  rc = new_like_x(out, x0, x0->ndim + 1, shape);
  if (rc != NN_OK) return rc;
  for (int d = 0; d < dim; d++) outer *= shape[d];
  for (int d = dim + 1; d <= x0->ndim; d++) inner *= shape[d];
  for (int k = 0; k < n && rc == NN_OK; k++) {
    nn_strided s = { .ndim = 2, .shape = { outer, inner },
                     .dst_stride = { (int64_t)n * inner, 1 }, .src_stride = { inner, 1 } };
    rc = run_copy(*out, (size_t)(k * inner), xs[k], 0, &s);
  }
  return done(out, rc);
}

static int tri (nn_tensor **out, const nn_tensor *x, int64_t k, int upper) {
  *out = NULL;
  if (x->ndim < 2)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "%s of %s: needs at least 2 dims",
                         upper ? "triu" : "tril", shape_str(x).s);
  int rc = new_like_x(out, x, x->ndim, x->shape);
  if (rc != NN_OK || x->numel == 0) return rc;
  size_t rows = (size_t)x->shape[x->ndim - 2], cols = (size_t)x->shape[x->ndim - 1];
  size_t batch = (size_t)x->numel / (rows * cols);
  rc = x->storage->device == NN_CUDA
     ? cuda_tri(tensor_data(*out), tensor_data(x), batch, rows, cols, k, upper)
     : cpu_tri(tensor_data(*out), tensor_data(x), batch, rows, cols, k, upper);
  return done(out, rc);
}

int tensor_tril (nn_tensor **out, const nn_tensor *x, int64_t k) { return tri(out, x, k, 0); }
int tensor_triu (nn_tensor **out, const nn_tensor *x, int64_t k) { return tri(out, x, k, 1); }
