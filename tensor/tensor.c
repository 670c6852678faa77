/*
** tensor.c -- storage, life cycle, views, and the checks in front of every op.
**
** Each public op checks shapes and devices here, once, then calls the
** device's loop (cpu.c) or kernel (tensor/cuda_*.cu) through backend.h with raw
** pointers and sizes.  So the backends hold only arithmetic, and the error
** messages are written in one place.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tensor.h"
#include "backend.h"
#include "broadcast.h"

/* --- errors ----------------------------------------------------------------- */

static _Thread_local char errbuf[512];
static _Thread_local int errrole;

const char *nn_errmsg (void) { return errbuf; }
int nn_errrole (void) { return errrole; }
int nn_blame (int code, int role) { errrole = role; return code; }

int nn_seterr (int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  errrole = NN_ROLE_NONE;
  return code;
}

int nn_seterr_arg (int code, int role, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  errrole = role;
  return code;
}

nn_shapestr shape_str (const nn_tensor *t) {
  nn_shapestr r;
  size_t n = 0;
  r.s[n++] = '[';
  for (int i = 0; i < t->ndim && n < sizeof r.s - 24; i++)
    n += (size_t)snprintf(r.s + n, sizeof r.s - n, i ? "x%lld" : "%lld",
                          (long long)t->shape[i]);
  r.s[n++] = ']';
  r.s[n] = '\0';
  return r;
}

const char *device_name (nn_device d) { return d == NN_CUDA ? "cuda" : "cpu"; }
const char *dtype_name (nn_dtype d) { return d == NN_I32 ? "int32" : "float32"; }

int tensor_check_float (const nn_tensor *t, int role, const char *op) {
  if (t->dtype == NN_F32) return NN_OK;
  return nn_seterr_arg(NN_EARG, role, "%s takes float32 tensors, got %s %s (convert with "
                       ":float())", op, dtype_name(t->dtype), shape_str(t).s);
}

static const char *const binop_names[NN_BINOP_COUNT] = {
  "add", "sub", "mul", "div", "sub", "div", "pow", "pow", "floor_divide", "floor_divide",
  "remainder", "remainder", "maximum", "minimum"
};
static const char *const unop_names[NN_UNOP_COUNT] = {
  "neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "pow", "clamp",
  "leaky_relu", "step", "sin", "cos", "erf", "rsqrt", "floor", "round", "sign", "isnan", "isinf"
};
static const char *const cmpop_names[NN_CMPOP_COUNT] = { "eq", "ne", "lt", "le", "gt", "ge" };
const char *cmpop_name (nn_cmpop op) { return cmpop_names[op]; }
static const char *const redop_names[NN_REDOP_COUNT] = {
  "sum", "mean", "max", "min", "argmax", "argmin"
};
const char *binop_name (nn_binop op) { return binop_names[op]; }
const char *unop_name (nn_unop op) { return unop_names[op]; }
const char *redop_name (nn_redop op) { return redop_names[op]; }

/* --- storage -------------------------------------------------------------------- */

#define HUGE_PAGE ((size_t)2 << 20)    /* x86-64's 2 MiB page */
#define HUGE_MIN ((size_t)32 << 20)    /* malloc's largest mmap threshold: bigger blocks are mapped fresh */

static int storage_new (nn_storage **out, nn_device device, size_t numel) {
  *out = NULL;
  nn_storage *s = malloc(sizeof *s);
  if (s == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  s->numel = numel;
  s->refcount = 1;
  s->device = device;
  s->data = NULL;
  size_t n = numel ? numel : 1;       /* a zero-size tensor still gets a valid pointer */
  int rc = NN_OK;
  if (device == NN_CPU) {
    /* 64-byte alignment: whole cache lines, and the widest SIMD loads.  A
    ** block of HUGE_MIN bytes or more is aligned to 2 MiB and asked for in
    ** huge pages (Linux's transparent huge pages, in "madvise" mode on
    ** Debian): malloc maps such a block fresh from the kernel each time,
    ** and its first writes fault in one 2 MiB page at a time instead of
    ** 512 small ones. */
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes >= HUGE_MIN) {
      bytes = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
      s->data = aligned_alloc(HUGE_PAGE, bytes);
      if (s->data != NULL) (void)madvise(s->data, bytes, MADV_HUGEPAGE);   /* a hint */
    }
    else s->data = aligned_alloc(64, bytes);
    if (s->data == NULL)
      rc = nn_seterr(NN_ENOMEM, "out of host memory: %zu bytes asked for", bytes);
  }
  else {
    char why[256];
    if (!cuda_available(why, sizeof why))
      rc = nn_seterr(NN_EDEVICE, "CUDA is not available: %s", why);
    else
      rc = cuda_malloc(&s->data, n);
  }
  if (rc != NN_OK) { free(s); return rc; }
  *out = s;
  return NN_OK;
}

static void storage_release (nn_storage *s) {
  if (s == NULL || --s->refcount > 0) return;
  if (s->device == NN_CPU) free(s->data);
  else cuda_free(s->data);
  free(s);
}

/* --- sizes ---------------------------------------------------------------------- */

int nn_size_add (int64_t *r, int64_t a, int64_t b) {
  int64_t x;
  if (__builtin_add_overflow(a, b, &x))
    return nn_seterr(NN_EARG, "size arithmetic overflows int64: %lld + %lld", (long long)a,
                     (long long)b);
  *r = x;
  return NN_OK;
}

int nn_size_mul (int64_t *r, int64_t a, int64_t b) {
  int64_t x;
  if (__builtin_mul_overflow(a, b, &x))
    return nn_seterr(NN_EARG, "size arithmetic overflows int64: %lld * %lld", (long long)a,
                     (long long)b);
  *r = x;
  return NN_OK;
}

int nn_shape_numel (int64_t *numel, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > NN_MAXDIM)
    return nn_seterr(NN_EARG, "a tensor has 0 to %d dims, got %d", NN_MAXDIM, ndim);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return nn_seterr(NN_EARG, "size %d must be >= 0, got %lld", i + 1, (long long)shape[i]);
    if (shape[i] > NN_MAX_NUMEL)
      return nn_seterr(NN_EARG, "size %d is %lld, above the limit of 2^40 elements",
                       i + 1, (long long)shape[i]);
  }
  /* every size is at most 2^40, so checking each partial product against the
     limit first keeps them all far from int64's range */
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) { n = 0; break; }
  }
  for (int i = 0; i < ndim && n != 0; i++) {
    if (n > NN_MAX_NUMEL / shape[i])
      return nn_seterr(NN_EARG, "tensor too large: the sizes multiply to more than 2^40 "
                       "elements (at size %d)", i + 1);
    n *= shape[i];
  }
  *numel = n;
  return NN_OK;
}

int nn_double_to_int (int64_t *r, double v, int64_t lo, int64_t hi, const char *what) {
  if (v != v) return nn_seterr(NN_EARG, "%s is nan, not a whole number", what);
  if (v != floor(v) || v == HUGE_VAL || v == -HUGE_VAL)   /* inf - inf is nan: floor(inf) == inf */
    return nn_seterr(NN_EARG, "%s must be a whole number, got %.17g", what, v);
  /* a double outside [-2^63, 2^63) has no int64: converting it is undefined
     behaviour, so it is refused as doubles first; (double)INT64_MAX rounds
     up to 2^63, hence >= */
  int64_t x;
  if (v < -0x1p63 || v >= 0x1p63 || (x = (int64_t)v) < lo || x > hi)
    return nn_seterr(NN_EARG, "%s must be in %lld .. %lld, got %.17g", what, (long long)lo,
                     (long long)hi, v);
  *r = x;
  return NN_OK;
}

/* --- life cycle ----------------------------------------------------------------- */

/* Fill in ndim, shape and numel after checking them.  Errors: NN_EARG. */
static int set_shape (nn_tensor *t, int ndim, const int64_t *shape) {
  int64_t numel;
  int rc = nn_shape_numel(&numel, ndim, shape);
  if (rc != NN_OK) return rc;
  t->ndim = ndim;
  for (int i = 0; i < NN_MAXDIM; i++) t->shape[i] = i < ndim ? shape[i] : 0;
  t->numel = numel;
  return NN_OK;
}

int tensor_new (nn_tensor **out, nn_device device, int ndim, const int64_t *shape) {
  return tensor_new_dtype(out, device, NN_F32, ndim, shape);
}

int tensor_new_dtype (nn_tensor **out, nn_device device, nn_dtype dtype, int ndim,
                      const int64_t *shape) {
  *out = NULL;
  if (dtype != NN_F32 && dtype != NN_I32) return nn_seterr(NN_EARG, "unknown dtype %d", (int)dtype);
  nn_tensor *t = calloc(1, sizeof *t);
  if (t == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  int rc = set_shape(t, ndim, shape);
  if (rc == NN_OK) rc = storage_new(&t->storage, device, (size_t)t->numel);
  if (rc != NN_OK) { free(t); return rc; }
  t->refcount = 1;
  t->dtype = dtype;
  *out = t;
  return NN_OK;
}

int tensor_new_empty (nn_tensor **out) {
  int64_t zero = 0;
  return tensor_new(out, tensor_default_device(), 1, &zero);
}

int tensor_new_like (nn_tensor **out, const nn_tensor *like) {
  return tensor_new_dtype(out, like->storage->device, like->dtype, like->ndim, like->shape);
}

nn_tensor *tensor_retain (nn_tensor *t) {
  t->refcount++;
  return t;
}

void tensor_release (nn_tensor *t) {
  if (t == NULL || --t->refcount > 0) return;
  storage_release(t->storage);
  free(t);
}

static int same_shape (const nn_tensor *t, int ndim, const int64_t *shape) {
  if (t->ndim != ndim) return 0;
  for (int i = 0; i < ndim; i++) if (t->shape[i] != shape[i]) return 0;
  return 1;
}

/* The error of a fixed tensor asked to change shape. */
static int refuse_fixed (const nn_tensor *t, const nn_tensor *want) {
  return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "a layer's parameter or buffer cannot be resized: "
                       "it is %s, asked for %s", shape_str(t).s, shape_str(want).s);
}

void tensor_fix_shape (nn_tensor *t) { t->fixed = 1; }

int tensor_resize (nn_tensor *t, int ndim, const int64_t *shape) {
  nn_tensor probe;
  int rc = set_shape(&probe, ndim, shape);
  if (rc != NN_OK) return nn_blame(rc, NN_ROLE_OUT);
  if (t->fixed) return same_shape(t, ndim, shape) ? NN_OK : refuse_fixed(t, &probe);
  nn_storage *s = t->storage;
  /* reuse the block whenever it is large enough, as Torch7's resize: views
     of it (a Flatten after this layer, a user's t:view(-1)) keep seeing the
     buffer, and a steady loop allocates nothing even while they exist.  A
     view of another tensor reuses only its own elements (a row of a batch
     given as out is filled in place); growing within the block would write
     over its parent's other rows, so it gets a block of its own. */
  int fits = t->view ? probe.numel <= t->numel
                     : t->offset == 0 && (size_t)probe.numel <= s->numel;
  if (!fits) {
    nn_storage *fresh;
    rc = storage_new(&fresh, s->device, (size_t)probe.numel);
    if (rc != NN_OK) return rc;
    storage_release(s);
    t->storage = fresh;
    t->offset = 0;
    t->view = 0;
  }
  return set_shape(t, ndim, shape);
}

/* --- views and copies ----------------------------------------------------------- */

static int overlap (const nn_tensor *a, const nn_tensor *b);

static int new_view (nn_tensor **out, nn_tensor *t, size_t offset, int ndim, const int64_t *shape) {
  *out = NULL;
  nn_tensor *v = calloc(1, sizeof *v);
  if (v == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  int rc = set_shape(v, ndim, shape);
  if (rc != NN_OK) { free(v); return rc; }
  v->storage = t->storage;
  v->storage->refcount++;
  v->offset = offset;
  v->refcount = 1;
  v->view = 1;
  v->dtype = t->dtype;
  *out = v;
  return NN_OK;
}

int tensor_view (nn_tensor **out, nn_tensor *t, int ndim, const int64_t *shape) {
  *out = NULL;
  if (ndim > NN_MAXDIM)
    return nn_seterr(NN_EARG, "a tensor has 0 to %d dims, got %d", NN_MAXDIM, ndim);
  int64_t s[NN_MAXDIM], known = 1;
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    s[i] = shape[i];
    if (s[i] == -1) {
      if (infer >= 0) return nn_seterr(NN_ESHAPE, "only one size may be -1");
      infer = i;
    }
    else if (s[i] < 0) return nn_seterr(NN_ESHAPE, "size %d must be >= 0 or -1, got %lld",
                                        i + 1, (long long)s[i]);
    else if (s[i] > NN_MAX_NUMEL)
      return nn_seterr(NN_ESHAPE, "size %d is %lld, above the limit of 2^40 elements",
                       i + 1, (long long)s[i]);
    else if (nn_size_mul(&known, known, s[i]) != NN_OK)
      return nn_seterr(NN_ESHAPE, "the sizes multiply to more than int64 holds (at size %d)",
                       i + 1);
  }
  if (infer >= 0) {
    if (known == 0 || t->numel % known != 0)
      return nn_seterr(NN_ESHAPE, "cannot infer size -1: %lld elements of %s do not divide by %lld",
                       (long long)t->numel, shape_str(t).s, (long long)known);
    s[infer] = t->numel / known;
    known *= s[infer];
  }
  if (known != t->numel) {
    nn_tensor want = { .ndim = ndim };
    for (int i = 0; i < ndim; i++) want.shape[i] = s[i];
    return nn_seterr(NN_ESHAPE, "%s has %lld elements, %s needs %lld", shape_str(t).s,
                     (long long)t->numel, shape_str(&want).s, (long long)known);
  }
  return new_view(out, t, t->offset, ndim, s);
}

int tensor_alias (nn_tensor *t, const nn_tensor *src, int ndim, const int64_t *shape) {
  nn_tensor probe;
  int rc = set_shape(&probe, ndim, shape);
  if (rc != NN_OK) return rc;
  if (probe.numel != src->numel)
    return nn_seterr(NN_ESHAPE, "%s has %lld elements, %s needs %lld", shape_str(src).s,
                     (long long)src->numel, shape_str(&probe).s, (long long)probe.numel);
  if (t->fixed && (t != src || !same_shape(t, ndim, shape) || t->dtype != src->dtype))
    return refuse_fixed(t, &probe);
  t->dtype = src->dtype;
  if (t != src) t->view = 1;        /* src's elements, in a block that may be larger */
  if (t->storage != src->storage) {
    src->storage->refcount++;       /* take the new block before dropping the old */
    storage_release(t->storage);
    t->storage = src->storage;
  }
  t->offset = src->offset;
  return set_shape(t, ndim, shape);
}

int tensor_narrow (nn_tensor **out, nn_tensor *t, int64_t start, int64_t length) {
  *out = NULL;
  if (t->ndim < 1) return nn_seterr(NN_EARG, "cannot narrow a 0-dim tensor");
  /* start + length could overflow: compare against what is left instead */
  if (start < 0 || length < 0 || start > t->shape[0] || length > t->shape[0] - start) {
    int64_t end = 0;
    if (start >= 0 && nn_size_add(&end, start, length) == NN_OK && end >= start)
      return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "rows %lld..%lld are outside %s (dim 1 has "
                           "%lld rows)", (long long)start + 1, (long long)end, shape_str(t).s,
                           (long long)t->shape[0]);
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%lld rows from row %lld are outside %s "
                         "(dim 1 has %lld rows)", (long long)length,
                         (long long)start + (start < INT64_MAX),    /* 1-based, no overflow */
                         shape_str(t).s, (long long)t->shape[0]);
  }
  int64_t shape[NN_MAXDIM];
  memcpy(shape, t->shape, sizeof shape);
  shape[0] = length;
  size_t row = t->shape[0] ? (size_t)(t->numel / t->shape[0]) : 0;
  return new_view(out, t, t->offset + (size_t)start * row, t->ndim, shape);
}

/* The message of a float that has no int32 value; element `bad`, 0-based. */
static int refuse_to_int (const nn_tensor *src, int64_t bad) {
  float v = 0.0f;
  int rc = tensor_get(&v, src, bad);
  if (rc != NN_OK) return rc;
  char text[32];
  if (v != v) snprintf(text, sizeof text, "nan");
  else if (v == floorf(v) && fabsf(v) < 1e18f) snprintf(text, sizeof text, "%.0f", (double)v);
  else snprintf(text, sizeof text, "%.9g", (double)v);
  return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "element %lld of %s is %s: it has no int32 "
                       "value (int32 holds -2147483648 .. 2147483647)", (long long)bad + 1,
                       shape_str(src).s, text);
}

/* dst = src converted, both on one device, dtypes differing */
static int convert (nn_tensor *dst, const nn_tensor *src) {
  size_t n = (size_t)src->numel;
  int64_t bad = -1;
  int rc;
  if (n == 0) return NN_OK;
  if (src->storage->device == NN_CPU) {
    if (dst->dtype == NN_F32) cpu_i32_to_f32(tensor_data(dst), tensor_data_i32(src), n);
    else cpu_f32_to_i32(tensor_data_i32(dst), tensor_data(src), n, &bad);
    rc = NN_OK;
  }
  else if (dst->dtype == NN_F32) rc = cuda_i32_to_f32(tensor_data(dst), tensor_data_i32(src), n);
  else rc = cuda_f32_to_i32(tensor_data_i32(dst), tensor_data(src), n, &bad);
  if (rc == NN_OK && bad >= 0) rc = refuse_to_int(src, bad);
  return rc;
}

int tensor_copy (nn_tensor *dst, const nn_tensor *src) {
  if (dst->numel != src->numel)
    return nn_seterr(NN_ESHAPE, "sizes differ: %s has %lld elements, %s has %lld",
                     shape_str(dst).s, (long long)dst->numel, shape_str(src).s,
                     (long long)src->numel);
  nn_device dd = dst->storage->device, sd = src->storage->device;
  if (dst->dtype != src->dtype) {
    if (dd == sd) {
      if (overlap(dst, src) && dst->offset != src->offset)
        return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "copy: %s overlaps %s at another place",
                             shape_str(dst).s, shape_str(src).s);
      return convert(dst, src);      /* element i reads only element i: in place is fine */
    }
    /* across devices: move src's values as they are, then convert there */
    nn_tensor *moved;
    int rc = tensor_to(&moved, src, dd);
    if (rc == NN_OK) rc = convert(dst, moved);
    tensor_release(moved);
    return rc;
  }
  if (dd == NN_CPU && sd == NN_CPU) {
    memmove(tensor_data(dst), tensor_data(src), (size_t)src->numel * sizeof(float));
    return NN_OK;
  }
  return cuda_memcpy(tensor_data(dst), dd, tensor_data(src), sd, (size_t)src->numel);
}

int tensor_to (nn_tensor **out, const nn_tensor *t, nn_device device) {
  int rc = tensor_new_dtype(out, device, t->dtype, t->ndim, t->shape);
  if (rc != NN_OK) return rc;
  rc = tensor_copy(*out, t);
  if (rc != NN_OK) { tensor_release(*out); *out = NULL; }
  return rc;
}

int tensor_move (nn_tensor *t, nn_device device) {
  if (t->storage->device == device) return NN_OK;
  nn_storage *fresh;
  int rc = storage_new(&fresh, device, (size_t)t->numel);
  if (rc != NN_OK) return rc;
  rc = cuda_memcpy(fresh->data, device, tensor_data(t), t->storage->device, (size_t)t->numel);
  if (rc != NN_OK) { storage_release(fresh); return rc; }
  storage_release(t->storage);     /* views of the old block keep it */
  t->storage = fresh;
  t->offset = 0;
  return NN_OK;
}

static nn_device default_device = NN_CPU;

nn_device tensor_default_device (void) { return default_device; }

int tensor_set_default_device (nn_device device) {
  char why[256];
  if (device == NN_CUDA && !cuda_available(why, sizeof why))
    return nn_seterr(NN_EDEVICE, "CUDA is not available: %s", why);
  default_device = device;
  return NN_OK;
}

static int check_index (const nn_tensor *t, int64_t i) {
  if (i < 0 || i >= t->numel)
    return nn_seterr(NN_EARG, "index %lld is outside %s", (long long)i + 1, shape_str(t).s);
  return NN_OK;
}

int tensor_get (float *value, const nn_tensor *t, int64_t i) {
  int rc = check_index(t, i);
  if (rc != NN_OK) return rc;
  if (t->storage->device == NN_CPU) { *value = tensor_data(t)[i]; return NN_OK; }
  return cuda_memcpy(value, NN_CPU, tensor_data(t) + i, NN_CUDA, 1);
}

int tensor_set (nn_tensor *t, int64_t i, float value) {
  int rc = check_index(t, i);
  if (rc != NN_OK) return rc;
  if (t->storage->device == NN_CPU) { tensor_data(t)[i] = value; return NN_OK; }
  return cuda_memcpy(tensor_data(t) + i, NN_CUDA, &value, NN_CPU, 1);
}

int tensor_get_number (double *value, const nn_tensor *t, int64_t i) {
  float f = 0.0f;                /* the 4 bytes of element i, whichever its type */
  int rc = tensor_get(&f, t, i);
  if (rc != NN_OK) return rc;
  if (t->dtype == NN_I32) { int32_t k; memcpy(&k, &f, sizeof k); *value = k; }
  else *value = f;
  return NN_OK;
}

/* value as an int32: a whole number in int32's range, else NN_EARG */
static int to_int32 (int32_t *r, double value) {
  int64_t k = 0;
  int rc = nn_double_to_int(&k, value, INT32_MIN, INT32_MAX, "an int32 element");
  if (rc == NN_OK) *r = (int32_t)k;
  return rc;
}

int tensor_set_number (nn_tensor *t, int64_t i, double value) {
  if (t->dtype != NN_I32) return tensor_set(t, i, (float)value);
  int32_t k = 0;
  float f;
  int rc = to_int32(&k, value);
  if (rc != NN_OK) return rc;
  memcpy(&f, &k, sizeof f);
  return tensor_set(t, i, f);
}

/* --- filling and random numbers -------------------------------------------------- */

#define ON_CPU(t) ((t)->storage->device == NN_CPU)

int tensor_fill (nn_tensor *t, double value) {
  size_t n = (size_t)t->numel;
  float f = (float)value;
  if (t->dtype == NN_I32) {     /* the int's 4 bytes, written as they are */
    int32_t k = 0;
    int rc = to_int32(&k, value);
    if (rc != NN_OK) return rc;
    memcpy(&f, &k, sizeof f);
  }
  return ON_CPU(t) ? cpu_fill(tensor_data(t), f, n) : cuda_fill(tensor_data(t), f, n);
}

int tensor_arange (nn_tensor *t, double start, double step) {
  int rc = tensor_check_float(t, NN_ROLE_OUT, "arange");
  if (rc != NN_OK) return rc;
  size_t n = (size_t)t->numel;
  return ON_CPU(t) ? cpu_arange(tensor_data(t), start, step, n)
                   : cuda_arange(tensor_data(t), start, step, n);
}

/* The generator's whole state: the key (seed) and the next unused block.
** The default seed is fixed, as PyTorch's is, so a script that never seeds
** still gives the same numbers run after run. */
static uint64_t rng_seed = 67280421310721u, rng_offset = 0;

void nn_manual_seed (uint64_t seed) { rng_seed = seed; rng_offset = 0; }
void nn_rng_get_state (uint64_t *seed, uint64_t *offset) { *seed = rng_seed; *offset = rng_offset; }
void nn_rng_set_state (uint64_t seed, uint64_t offset) { rng_seed = seed; rng_offset = offset; }

uint64_t nn_rng_reserve (uint64_t blocks) {
  uint64_t first = rng_offset;
  rng_offset += blocks;
  return first;
}

int tensor_uniform (nn_tensor *t, float lo, float hi) {
  int rc = tensor_check_float(t, NN_ROLE_OUT, "uniform");
  if (rc != NN_OK) return rc;
  size_t n = (size_t)t->numel;
  uint64_t block0 = nn_rng_reserve((n + 3) / 4);
  return ON_CPU(t) ? cpu_uniform(tensor_data(t), n, rng_seed, block0, lo, hi)
                   : cuda_uniform(tensor_data(t), n, rng_seed, block0, lo, hi);
}

int tensor_normal (nn_tensor *t, float mean, float std) {
  int rc = tensor_check_float(t, NN_ROLE_OUT, "normal");
  if (rc != NN_OK) return rc;
  size_t n = (size_t)t->numel;
  uint64_t block0 = nn_rng_reserve((n + 3) / 4);
  return ON_CPU(t) ? cpu_normal(tensor_data(t), n, rng_seed, block0, mean, std)
                   : cuda_normal(tensor_data(t), n, rng_seed, block0, mean, std);
}

/* --- element-wise ---------------------------------------------------------------- */

static int same_device (const char *what, const nn_tensor *a, const nn_tensor *b) {
  if (a->storage->device != b->storage->device)
    return nn_seterr(NN_EDEVICE, "%s: tensors are on different devices: %s is on %s, %s is on %s",
                     what, shape_str(a).s, device_name(a->storage->device), shape_str(b).s,
                     device_name(b->storage->device));
  return NN_OK;
}

/* 1 when a and b share elements of one storage */
static int overlap (const nn_tensor *a, const nn_tensor *b) {
  if (a->storage != b->storage || a->numel == 0 || b->numel == 0) return 0;
  return a->offset < b->offset + (size_t)b->numel && b->offset < a->offset + (size_t)a->numel;
}

/* An element-wise op reads element i of its input and writes element i of
** out: in place (out is the input, element for element) is fine, but out
** over another part of the same memory would read what it has already
** overwritten.  `broadcast`: the input is a row read for every row of out,
** which out may not touch at all. */
static int check_apart (const nn_tensor *out, const nn_tensor *in, int broadcast) {
  if (overlap(out, in) && (broadcast || out->offset != in->offset))
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "the output %s overlaps an input %s in memory "
                         "at another place: the op would read what it has overwritten (pass "
                         "a tensor of its own, or the input itself to work in place)",
                         shape_str(out).s, shape_str(in).s);
  return NN_OK;
}

/* out must hold a's shape (same numel), on a's device, and be a itself or apart from it */
static int check_out (const nn_tensor *out, const nn_tensor *a) {
  int rc = tensor_check_float(a, NN_ROLE_INPUT, "an element-wise op");
  if (rc == NN_OK) rc = tensor_check_float(out, NN_ROLE_OUT, "an element-wise op");
  if (rc != NN_OK) return rc;
  if (out->numel != a->numel)
    return nn_seterr(NN_ESHAPE, "output %s does not match input %s", shape_str(out).s,
                     shape_str(a).s);
  rc = same_device("output", out, a);
  if (rc == NN_OK) rc = check_apart(out, a, 0);
  return rc;
}

/* out must be float32, on like's device, and hold as many elements as the
** result's shape (ndim, shape), in row-major order: its own shape may differ,
** as before broadcasting (a layer's reshaped buffer, nn/join.c's matrices) */
static int check_result (const nn_tensor *out, int ndim, const int64_t *shape,
                         const nn_tensor *like, const char *what) {
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) numel *= shape[d];   /* <= 2^40: bcast_shapes checked it */
  int rc = tensor_check_float(out, NN_ROLE_OUT, what);
  if (rc != NN_OK) return rc;
  if (out->numel != numel) {
    nn_tensor t = { 0 };
    t.ndim = ndim;
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d];
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "%s: the output %s does not hold the result's "
                         "shape %s", what, shape_str(out).s, shape_str(&t).s);
  }
  if ((rc = same_device("output", out, like)) != NN_OK) return nn_blame(rc, NN_ROLE_OUT);
  return NN_OK;
}

/* out over operand k of plan p: only as the operand itself, read element
** for element (in place); a stretched operand may not lie in out at all */
static int check_operand (const nn_tensor *out, const nn_tensor *in, const nn_bcast *p, int k) {
  if (in == NULL) return NN_OK;
  return check_apart(out, in, !bcast_is_full(p, k) || in->numel != out->numel);
}

static nn_binop reversed (nn_binop op) {
  switch (op) {
    case NN_SUB: return NN_RSUB;             case NN_RSUB: return NN_SUB;
    case NN_DIV: return NN_RDIV;             case NN_RDIV: return NN_DIV;
    case NN_POWER: return NN_RPOWER;         case NN_RPOWER: return NN_POWER;
    case NN_FLOOR_DIVIDE: return NN_RFLOOR_DIVIDE;
    case NN_RFLOOR_DIVIDE: return NN_FLOOR_DIVIDE;
    case NN_REMAINDER: return NN_RREMAINDER; case NN_RREMAINDER: return NN_REMAINDER;
    default: return op;                      /* add, mul, maximum, minimum commute */
  }
}

/* The checks and the plan of an op of two tensors that broadcast (the
** binary ops, the comparisons): one device, out of the broadcast shape, out
** apart from each operand unless it is that operand element for element. */
static int plan_pair (nn_bcast *p, nn_tensor *out, const nn_tensor *a, const nn_tensor *b,
                      const char *name) {
  int rc, ndim;
  int64_t shape[NN_MAXDIM];
  if ((rc = same_device(name, a, b)) != NN_OK) return rc;
  if ((rc = tensor_broadcast_shape(&ndim, shape, a, b)) != NN_OK) return rc;
  if ((rc = check_result(out, ndim, shape, a, name)) != NN_OK) return rc;
  const nn_tensor *ops[2] = { a, b };
  bcast_plan(p, ndim, shape, 2, ops);
  if ((rc = check_operand(out, a, p, 0)) != NN_OK) return rc;
  return check_operand(out, b, p, 1);
}

int tensor_binary (nn_tensor *out, const nn_tensor *a, const nn_tensor *b, nn_binop op) {
  int rc;
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  const char *name = binop_name(op);
  nn_bcast p;
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, name)) != NN_OK) return rc;
  if ((rc = tensor_check_float(b, NN_ROLE_INPUT + 1, name)) != NN_OK) return rc;
  if ((rc = plan_pair(&p, out, a, b, name)) != NN_OK) return rc;
  size_t n = (size_t)out->numel;
  if (n == 0) return NN_OK;
  float *o = tensor_data(out), *x = tensor_data(a), *y = tensor_data(b);
  int cpu = ON_CPU(a);
  int64_t N = p.shape[p.ndim - 1];
  /* the fast paths: one shape; a row of the last dim over the rows of the
  ** other (the bias add), on either side */
  int row_b = p.ndim == 2 && p.stride[0][0] == N && p.stride[0][1] == 1 &&
              p.stride[1][0] == 0 && p.stride[1][1] == 1;
  int row_a = p.ndim == 2 && p.stride[1][0] == N && p.stride[1][1] == 1 &&
              p.stride[0][0] == 0 && p.stride[0][1] == 1;
  if (bcast_is_full(&p, 0) && bcast_is_full(&p, 1))
    return cpu ? cpu_binary(o, x, y, n, n, op) : cuda_binary(o, x, y, n, n, op);
  if (row_b) return cpu ? cpu_binary(o, x, y, n, (size_t)N, op) : cuda_binary(o, x, y, n, (size_t)N, op);
  if (row_a)
    return cpu ? cpu_binary(o, y, x, n, (size_t)N, reversed(op))
               : cuda_binary(o, y, x, n, (size_t)N, reversed(op));
  return cpu ? cpu_binary_bcast(o, x, y, &p, op) : cuda_binary_bcast(o, x, y, &p, op);
}

int tensor_binary_scalar (nn_tensor *out, const nn_tensor *a, float s, nn_binop op) {
  if ((unsigned)op >= NN_BINOP_COUNT) return nn_seterr(NN_EARG, "unknown binary op %d", (int)op);
  int rc = check_out(out, a);
  if (rc != NN_OK) return rc;
  size_t n = (size_t)a->numel;
  if (n == 0) return NN_OK;
  return ON_CPU(a) ? cpu_binary_scalar(tensor_data(out), tensor_data(a), s, n, op)
                   : cuda_binary_scalar(tensor_data(out), tensor_data(a), s, n, op);
}

int tensor_compare (nn_tensor *out, const nn_tensor *a, const nn_tensor *b, nn_cmpop op) {
  int rc;
  if ((unsigned)op >= NN_CMPOP_COUNT) return nn_seterr(NN_EARG, "unknown comparison %d", (int)op);
  nn_bcast p;
  if ((rc = plan_pair(&p, out, a, b, cmpop_name(op))) != NN_OK) return rc;
  if (out->numel == 0) return NN_OK;
  int ai = a->dtype == NN_I32, bi = b->dtype == NN_I32;
  return ON_CPU(a) ? cpu_compare(tensor_data(out), tensor_data(a), ai, tensor_data(b), bi, 0.0, &p, op)
                   : cuda_compare(tensor_data(out), tensor_data(a), ai, tensor_data(b), bi, 0.0, &p, op);
}

int tensor_compare_scalar (nn_tensor *out, const nn_tensor *a, double s, nn_cmpop op) {
  int rc;
  if ((unsigned)op >= NN_CMPOP_COUNT) return nn_seterr(NN_EARG, "unknown comparison %d", (int)op);
  if ((rc = check_result(out, a->ndim, a->shape, a, cmpop_name(op))) != NN_OK) return rc;
  nn_bcast p;
  const nn_tensor *ops[2] = { a, NULL };
  bcast_plan(&p, a->ndim, a->shape, 2, ops);
  if ((rc = check_operand(out, a, &p, 0)) != NN_OK) return rc;
  if (out->numel == 0) return NN_OK;
  int ai = a->dtype == NN_I32;
  if (!ai) s = (double)(float)s;          /* float32 against float32, as PyTorch */
  return ON_CPU(a) ? cpu_compare(tensor_data(out), tensor_data(a), ai, NULL, 0, s, &p, op)
                   : cuda_compare(tensor_data(out), tensor_data(a), ai, NULL, 0, s, &p, op);
}

int tensor_where (nn_tensor *out, const nn_tensor *cond, const nn_tensor *a, float sa,
                  const nn_tensor *b, float sb) {
  int rc, ndim;
  int64_t shape[NN_MAXDIM];
  if (a != NULL && (rc = same_device("where", cond, a)) != NN_OK) return nn_blame(rc, NN_ROLE_INPUT + 1);
  if (b != NULL && (rc = same_device("where", cond, b)) != NN_OK) return nn_blame(rc, NN_ROLE_INPUT + 2);
  if (a != NULL && (rc = tensor_check_float(a, NN_ROLE_INPUT + 1, "where")) != NN_OK) return rc;
  if (b != NULL && (rc = tensor_check_float(b, NN_ROLE_INPUT + 2, "where")) != NN_OK) return rc;
  ndim = cond->ndim;
  for (int d = 0; d < ndim; d++) shape[d] = cond->shape[d];
  if (a != NULL && (rc = bcast_shapes(&ndim, shape, ndim, shape, a->ndim, a->shape,
                                      NN_ROLE_INPUT + 1)) != NN_OK) return rc;
  if (b != NULL && (rc = bcast_shapes(&ndim, shape, ndim, shape, b->ndim, b->shape,
                                      NN_ROLE_INPUT + 2)) != NN_OK) return rc;
  if ((rc = check_result(out, ndim, shape, cond, "where")) != NN_OK) return rc;
  nn_bcast p;
  const nn_tensor *ops[3] = { cond, a, b };
  bcast_plan(&p, ndim, shape, 3, ops);
  for (int k = 0; k < 3; k++)
    if ((rc = check_operand(out, ops[k], &p, k)) != NN_OK) return rc;
  if (out->numel == 0) return NN_OK;
  int ci = cond->dtype == NN_I32;
  const float *x = a ? tensor_data(a) : NULL, *y = b ? tensor_data(b) : NULL;
  return ON_CPU(cond) ? cpu_where(tensor_data(out), tensor_data(cond), ci, x, sa, y, sb, &p)
                      : cuda_where(tensor_data(out), tensor_data(cond), ci, x, sa, y, sb, &p);
}

/* A mask of a's shape: a != 0 (any), or a == 0 (all: every element is
** nonzero when none is zero).  *mask is NULL on error. */
static int zero_mask (nn_tensor **mask, const nn_tensor *a, int all) {
  int rc = tensor_new(mask, a->storage->device, a->ndim, a->shape);
  if (rc == NN_OK) rc = tensor_compare_scalar(*mask, a, 0.0, all ? NN_EQ : NN_NE);
  if (rc != NN_OK) {
    tensor_release(*mask);
    *mask = NULL;
  }
  return rc;
}

/* any: some element of a != 0; all: no element of a == 0.  Counted as a
** sum of 0/1 in double: exact, and > 0 exactly when one is there. */
int tensor_any_all (int *result, const nn_tensor *a, int all) {
  *result = all;
  if (a->numel == 0) return NN_OK;
  nn_tensor *mask;
  double count = 0.0;
  int rc = zero_mask(&mask, a, all);
  if (rc == NN_OK) rc = tensor_reduce_all(&count, mask, NN_SUM);
  tensor_release(mask);
  if (rc == NN_OK) *result = all ? count == 0.0 : count > 0.0;
  return rc;
}

/* The same per dim: the counts are summed into out (as floats, but a
** positive count never rounds to 0), then out = count > 0 (any) or
** count == 0 (all), in place. */
int tensor_any_all_dim (nn_tensor *out, const nn_tensor *a, int d, int all) {
  if (d < 0 || d >= a->ndim)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "dim %d is out of range for %s (it has %d dims)",
                         d + 1, shape_str(a).s, a->ndim);
  nn_tensor *mask;
  int rc = zero_mask(&mask, a, all);
  if (rc == NN_OK) rc = tensor_reduce_dim(out, mask, d, NN_SUM);
  tensor_release(mask);
  if (rc == NN_OK) rc = tensor_compare_scalar(out, out, 0.0, all ? NN_EQ : NN_GT);
  return rc;
}

int tensor_sum_to_size (nn_tensor *out, const nn_tensor *a) {
  int rc, ndim;
  int64_t shape[NN_MAXDIM];
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, "sum_to_size")) != NN_OK) return rc;
  if ((rc = tensor_check_float(out, NN_ROLE_OUT, "sum_to_size")) != NN_OK) return rc;
  if ((rc = same_device("sum_to_size", out, a)) != NN_OK) return nn_blame(rc, NN_ROLE_OUT);
  int fits = bcast_shapes(&ndim, shape, out->ndim, out->shape, a->ndim, a->shape,
                          NN_ROLE_OUT) == NN_OK && ndim == a->ndim;
  for (int d = 0; fits && d < ndim; d++) fits = shape[d] == a->shape[d];
  if (!fits)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "sum_to_size: %s does not broadcast to %s, so "
                         "%s cannot be summed down to it", shape_str(out).s, shape_str(a).s,
                         shape_str(a).s);
  if (overlap(out, a))
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "sum_to_size: the output %s shares memory with "
                         "the input %s", shape_str(out).s, shape_str(a).s);
  if (out->numel == 0) return NN_OK;
  if (a->numel == 0) return tensor_fill(out, 0.0);        /* empty sums */
  nn_bcast p;
  const nn_tensor *ops[2] = { out, a };
  bcast_plan(&p, a->ndim, a->shape, 2, ops);
  if (ON_CPU(a)) return cpu_sum_to(tensor_data(out), tensor_data(a), &p, (size_t)out->numel);
  /* On the GPU, one block of dims summed over, (outer, n, inner) with n the
  ** block (a bias gradient, a full sum), is a reduction along a dim: the
  ** reduction kernels share it among threads, where sum_to_kernel gives
  ** each output element one thread (a full sum would be one thread's loop).
  ** The plan's dims alternate between kept and summed (neighbours of one
  ** kind merge), so the block is one dim. */
  int first = -1, blocks = 0;
  for (int d = 0; d < p.ndim; d++)
    if (p.stride[0][d] == 0) { blocks++; first = d; }
  if (blocks == 1) {
    size_t outer = 1, inner = 1;
    for (int d = 0; d < first; d++) outer *= (size_t)p.shape[d];
    for (int d = first + 1; d < p.ndim; d++) inner *= (size_t)p.shape[d];
    return cuda_reduce_dim(tensor_data(out), tensor_data(a), outer, (size_t)p.shape[first], inner,
                           NN_SUM);
  }
  return cuda_sum_to(tensor_data(out), tensor_data(a), &p, (size_t)out->numel);
}

int tensor_unary (nn_tensor *out, const nn_tensor *a, nn_unop op, float p, float q) {
  if ((unsigned)op >= NN_UNOP_COUNT) return nn_seterr(NN_EARG, "unknown unary op %d", (int)op);
  int rc = check_out(out, a);
  if (rc != NN_OK) return rc;
  size_t n = (size_t)a->numel;
  if (n == 0) return NN_OK;
  return ON_CPU(a) ? cpu_unary(tensor_data(out), tensor_data(a), n, op, p, q)
                   : cuda_unary(tensor_data(out), tensor_data(a), n, op, p, q);
}

/* --- reductions -------------------------------------------------------------------- */

#define EXACT_FLOAT_INTS (INT64_C(1) << 24)   /* 2^24: every whole number up to it is a float */

int tensor_unary_backward (nn_tensor *grad_in, const nn_tensor *grad_out,
                           const nn_tensor *saved, nn_unop op, float p) {
  int rc;
  if (op != NN_RELU && op != NN_LEAKY_RELU && op != NN_SIGMOID && op != NN_TANH)
    return nn_seterr(NN_EARG, "%s has no backward here", unop_name(op));
  if ((rc = check_out(grad_in, grad_out)) != NN_OK) return rc;
  if ((rc = check_out(saved, grad_out)) != NN_OK) return rc;
  size_t n = (size_t)grad_out->numel;
  if (n == 0) return NN_OK;
  return ON_CPU(grad_out)
      ? cpu_unary_backward(tensor_data(grad_in), tensor_data(grad_out), tensor_data(saved), n, op, p)
      : cuda_unary_backward(tensor_data(grad_in), tensor_data(grad_out), tensor_data(saved), n, op, p);
}

int tensor_reduce_all (double *result, const nn_tensor *a, nn_redop op) {
  int rc = tensor_check_float(a, NN_ROLE_INPUT, redop_name(op));
  if (rc != NN_OK) return rc;
  size_t n = (size_t)a->numel;
  if (n == 0 && op != NN_SUM)
    return nn_seterr(NN_EARG, "%s of an empty tensor %s", redop_name(op), shape_str(a).s);
  return ON_CPU(a) ? cpu_reduce_all(result, tensor_data(a), n, op)
                   : cuda_reduce_all(result, tensor_data(a), n, op);
}

int tensor_all_finite (int *finite, const nn_tensor *a) {
  *finite = 1;
  if (a->dtype != NN_F32 || a->numel == 0) return NN_OK;
  if (ON_CPU(a)) {
    *finite = cpu_all_finite(tensor_data(a), (size_t)a->numel);
    return NN_OK;
  }
  double sum;
  int rc = cuda_reduce_all(&sum, tensor_data(a), (size_t)a->numel, NN_SUM);
  if (rc == NN_OK) *finite = isfinite(sum) != 0;
  return rc;
}

int tensor_reduce_dim (nn_tensor *out, const nn_tensor *a, int d, nn_redop op) {
  int arg = op == NN_ARGMAX || op == NN_ARGMIN;
  int rc = tensor_check_float(a, NN_ROLE_INPUT, redop_name(op));
  if (rc != NN_OK) return rc;
  if (arg && out->dtype != NN_I32)
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "%s writes int32 indices: the output is %s",
                         redop_name(op), dtype_name(out->dtype));
  if (!arg && (rc = tensor_check_float(out, NN_ROLE_OUT, redop_name(op))) != NN_OK) return rc;
  if (d < 0 || d >= a->ndim)
    return nn_seterr(NN_EARG, "dim %d is out of range for %s (it has %d dims)", d + 1,
                     shape_str(a).s, a->ndim);
  size_t outer = 1, inner = 1, n = (size_t)a->shape[d];
  for (int i = 0; i < d; i++) outer *= (size_t)a->shape[i];
  for (int i = d + 1; i < a->ndim; i++) inner *= (size_t)a->shape[i];
  if (n == 0 && op != NN_SUM)
    return nn_seterr(NN_EARG, "%s over an empty dim %d of %s", redop_name(op), d + 1,
                     shape_str(a).s);
  /* indices are int32: a dim past 2^31 - 1 has indices they cannot hold */
  if (arg && (int64_t)n > INT32_MAX)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INDEX, "%s over dim %d of %s: the dim has %lld "
                         "elements, and indices are int32, up to 2^31 - 1 = 2147483647",
                         redop_name(op), d + 1, shape_str(a).s, (long long)n);
  if ((int64_t)(outer * inner) != out->numel)
    return nn_seterr(NN_ESHAPE, "output %s does not hold %s reduced over dim %d",
                     shape_str(out).s, shape_str(a).s, d + 1);
  if ((rc = same_device("output", out, a)) != NN_OK) return rc;
  if (outer * inner == 0) return NN_OK;
  void *o = tensor_data(out);      /* floats, or int32 indices for ARGMAX / ARGMIN */
  return ON_CPU(a) ? cpu_reduce_dim(o, tensor_data(a), outer, n, inner, op)
                   : cuda_reduce_dim(o, tensor_data(a), outer, n, inner, op);
}

int tensor_var_all (double *result, const nn_tensor *a) {
  int rc = tensor_check_float(a, NN_ROLE_INPUT, "var");
  if (rc != NN_OK) return rc;
  if (a->numel == 0) return nn_seterr(NN_EARG, "variance of an empty tensor %s", shape_str(a).s);
  return ON_CPU(a) ? cpu_var_all(result, tensor_data(a), (size_t)a->numel)
                   : cuda_var_all(result, tensor_data(a), (size_t)a->numel);
}

/* --- matrix multiply ---------------------------------------------------------------- */

/* A product as tensor_matmul sees it: op(a) (batch..., M, K) @ op(b)
** (batch..., K, N) -> (batch..., M, N), with a 1-D a read as (1, K) and a
** 1-D b as (K, 1).  The batch dims are aligned from the right, as NumPy
** broadcasts: bsize[i] is the result's size, and bstride_a[i] (bstride_b[i])
** the step in a's (b's) matrices from one index of dim i to the next: the
** row-major stride over a's own batch dims, or 0 where a has size 1 (or no
** such dim) and is read again for every index, never copied. */
typedef struct matmul_plan {
  int64_t M, N, K;
  int64_t lda, ldb;                 /* the stored row lengths of a and b */
  int nb;                           /* batch dims, 0 .. NN_MAXDIM - 2 */
  int64_t bsize[NN_MAXDIM], bstride_a[NN_MAXDIM], bstride_b[NN_MAXDIM];
  nn_tensor result;                 /* only ndim, shape and numel: the result's shape */
} matmul_plan;

static int plan_matmul (matmul_plan *p, const nn_tensor *a, const nn_tensor *b, int trans_a,
                        int trans_b) {
  if (a->ndim < 1 || b->ndim < 1)
    return nn_seterr_arg(NN_ESHAPE, a->ndim < 1 ? NN_ROLE_INPUT : NN_ROLE_INPUT + 1,
                         "matmul needs tensors of 1 to 5 dims, got %s @ %s", shape_str(a).s,
                         shape_str(b).s);
  if ((a->ndim == 1 && trans_a) || (b->ndim == 1 && trans_b))
    return nn_seterr_arg(NN_EARG, a->ndim == 1 && trans_a ? NN_ROLE_INPUT : NN_ROLE_INPUT + 1,
                         "matmul: a 1-D tensor has no transpose (%s @ %s)", shape_str(a).s,
                         shape_str(b).s);
  /* a as a matrix (am, ak), b as (bk, bn): the last two dims, or a row / a column */
  int64_t am = a->ndim == 1 ? 1 : a->shape[a->ndim - 2], ak = a->shape[a->ndim - 1];
  int64_t bk = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
  int64_t bn = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
  p->M = trans_a ? ak : am;
  p->K = trans_a ? am : ak;
  p->N = trans_b ? bk : bn;
  p->lda = ak;
  p->ldb = bn;
  if ((trans_b ? bn : bk) != p->K)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "inner dimensions differ: %s%s @ %s%s",
                         shape_str(a).s, trans_a ? "^T" : "", shape_str(b).s,
                         trans_b ? "^T" : "");
  /* the batch dims, right-aligned; each side's stride counts its own matrices */
  int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
  p->nb = na > nbb ? na : nbb;
  int64_t step_a = 1, step_b = 1;
  for (int i = p->nb - 1; i >= 0; i--) {
    int ia = i - (p->nb - na), ib = i - (p->nb - nbb);     /* < 0: the side lacks the dim */
    int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "batch dims do not broadcast: %s @ %s "
                           "(dim %d of the batch: %lld against %lld; sizes must be equal, or "
                           "one of them 1)", shape_str(a).s, shape_str(b).s, i + 1,
                           (long long)sa, (long long)sb);
    p->bsize[i] = sa == 1 ? sb : sa;
    p->bstride_a[i] = sa == 1 ? 0 : step_a;
    p->bstride_b[i] = sb == 1 ? 0 : step_b;
    step_a *= sa;          /* products of a's own sizes: no overflow */
    step_b *= sb;
  }
  /* the result: batch..., then M unless a is 1-D, N unless b is 1-D */
  nn_tensor *r = &p->result;
  memset(r, 0, sizeof *r);
  for (int i = 0; i < p->nb; i++) r->shape[r->ndim++] = p->bsize[i];
  if (a->ndim > 1) r->shape[r->ndim++] = p->M;
  if (b->ndim > 1) r->shape[r->ndim++] = p->N;
  int rc = nn_shape_numel(&r->numel, r->ndim, r->shape);
  return rc == NN_OK ? NN_OK : nn_blame(rc, NN_ROLE_INPUT + 1);
}

int tensor_matmul_shape (int *ndim, int64_t *shape, const nn_tensor *a, const nn_tensor *b,
                         int trans_a, int trans_b) {
  matmul_plan p;
  int rc = plan_matmul(&p, a, b, trans_a, trans_b);
  if (rc != NN_OK) return rc;
  *ndim = p.result.ndim;
  memcpy(shape, p.result.shape, sizeof p.result.shape);
  return NN_OK;
}

/* The batch of p as few dims as it can be: dims of size 1 dropped, and a
** dim merged into the next where one step of it is the next's whole run in
** a, in b and in out alike (out is contiguous: its stride is always the
** next's size times its own).  (2,5) with a's strides (5,1) and b's (5,1)
** becomes (10): one strided batch; (2,5) with a's (1,0) and b's (0,1) stays
** two dims.  Strides come out in floats. */
static int collapse_batch (int64_t *size, int64_t *sa, int64_t *sb, const matmul_plan *p,
                           const nn_tensor *a, const nn_tensor *b) {
  int n = 0;
  int64_t mat_a = a->ndim == 1 ? a->shape[0] : a->shape[a->ndim - 2] * a->shape[a->ndim - 1];
  int64_t mat_b = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2] * b->shape[b->ndim - 1];
  for (int i = 0; i < p->nb; i++) {
    if (p->bsize[i] == 1) continue;
    if (n > 0 && sa[n - 1] == p->bstride_a[i] * p->bsize[i] &&
        sb[n - 1] == p->bstride_b[i] * p->bsize[i]) {
      size[n - 1] *= p->bsize[i];
      sa[n - 1] = p->bstride_a[i];
      sb[n - 1] = p->bstride_b[i];
      continue;
    }
    size[n] = p->bsize[i];
    sa[n] = p->bstride_a[i];
    sb[n] = p->bstride_b[i];
    n++;
  }
  for (int i = 0; i < n; i++) { sa[i] *= mat_a; sb[i] *= mat_b; }
  return n;
}

int tensor_matmul (nn_tensor *out, const nn_tensor *a, const nn_tensor *b,
                   int trans_a, int trans_b, float alpha, float beta) {
  int rc;
  if ((rc = tensor_check_float(a, NN_ROLE_INPUT, "matmul")) != NN_OK ||
      (rc = tensor_check_float(b, NN_ROLE_INPUT + 1, "matmul")) != NN_OK ||
      (rc = tensor_check_float(out, NN_ROLE_OUT, "matmul")) != NN_OK)
    return rc;
  matmul_plan p;
  if ((rc = plan_matmul(&p, a, b, trans_a, trans_b)) != NN_OK) return rc;
  if ((rc = same_device("matmul", a, b)) != NN_OK) return rc;
  if (!same_shape(out, p.result.ndim, p.result.shape))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "output is %s, the product is %s",
                         shape_str(out).s, shape_str(&p.result).s);
  if ((rc = same_device("matmul output", out, a)) != NN_OK) return nn_blame(rc, NN_ROLE_OUT);
  int64_t M = p.M, N = p.N, K = p.K;
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || p.lda > INT32_MAX || p.ldb > INT32_MAX)
    return nn_seterr(NN_EARG, "matmul: a size exceeds the BLAS's 32-bit int");
  /* out over a or b (b:mm(a, b)): the GEMM would read what it has written.
  ** Compute into a block of its own, then copy. */
  if (overlap(out, a) || overlap(out, b)) {
    nn_tensor *tmp;
    rc = tensor_new_like(&tmp, out);
    if (rc != NN_OK) return rc;
    if (beta != 0.0f) rc = tensor_copy(tmp, out);
    if (rc == NN_OK) rc = tensor_matmul(tmp, a, b, trans_a, trans_b, alpha, beta);
    if (rc == NN_OK) rc = tensor_copy(out, tmp);
    tensor_release(tmp);
    return rc;
  }
  if (out->numel == 0) return NN_OK;
  if (K == 0)   /* an empty sum: out = beta * out (the BLAS rejects lda = 0) */
    return beta == 0.0f ? tensor_fill(out, 0.0f) : tensor_binary_scalar(out, out, beta, NN_MUL);
  int64_t size[NN_MAXDIM], sa[NN_MAXDIM], sb[NN_MAXDIM];
  int nd = collapse_batch(size, sa, sb, &p, a, b);
  int lda = (int)p.lda, ldb = (int)p.ldb;
  if (nd == 0)        /* one matrix (perhaps with batch dims of size 1) */
    return ON_CPU(a) ? cpu_matmul(tensor_data(out), tensor_data(a), tensor_data(b), (int)M,
                                  (int)N, (int)K, trans_a, trans_b, lda, ldb, alpha, beta)
                     : cuda_matmul(tensor_data(out), tensor_data(a), tensor_data(b), (int)M,
                                   (int)N, (int)K, trans_a, trans_b, lda, ldb, alpha, beta);
  return ON_CPU(a)
      ? cpu_matmul_batched(tensor_data(out), tensor_data(a), tensor_data(b), (int)M, (int)N,
                           (int)K, trans_a, trans_b, lda, ldb, alpha, beta, nd, size, sa, sb)
      : cuda_matmul_batched(tensor_data(out), tensor_data(a), tensor_data(b), (int)M, (int)N,
                            (int)K, trans_a, trans_b, lda, ldb, alpha, beta, nd, size, sa, sb);
}

int nn_cuda_available (char *reason, size_t len) { return cuda_available(reason, len); }
int nn_cuda_device_count (void) { return cuda_device_count(); }
int nn_cuda_synchronize (void) { return cuda_synchronize(); }
size_t nn_cuda_memory_allocated (void) { return cuda_memory_allocated(); }
size_t nn_cuda_memory_reserved (void) { return cuda_memory_reserved(); }
void nn_cuda_empty_cache (void) { cuda_empty_cache(); }
void nn_cuda_set_oom_hook (void (*hook) (void *ud), void *ud) { cuda_set_oom_hook(hook, ud); }

/* --- gathering, shuffling, one-hot -------------------------------------------------- */

/* The shared checks of index_select and one_hot: out and its input on one
** device, and no storage shared between them (a gather into its own source
** would read rows it has already overwritten). */
static int apart (const char *what, const nn_tensor *out, const nn_tensor *in, const char *name) {
  int rc = same_device(what, out, in);
  if (rc != NN_OK) return rc;
  if (out->storage == in->storage)
    return nn_seterr(NN_EARG, "%s: the output %s shares memory with %s %s", what,
                     shape_str(out).s, name, shape_str(in).s);
  return NN_OK;
}

int tensor_index_select (nn_tensor *out, const nn_tensor *src, const nn_tensor *idx, int base) {
  int rc;
  if (src->ndim < 1)
    return nn_seterr(NN_ESHAPE, "index_select: src must have at least 1 dim, got a 0-dim tensor");
  if (idx->ndim != 1)
    return nn_seterr(NN_ESHAPE, "index_select: the indices must be 1-D, got %s", shape_str(idx).s);
  /* out: (K, src's trailing sizes) */
  int fits = out->ndim == src->ndim && out->shape[0] == idx->shape[0];
  for (int d = 1; d < src->ndim && fits; d++) fits = out->shape[d] == src->shape[d];
  if (!fits)
    return nn_seterr(NN_ESHAPE, "index_select: output %s does not hold %lld rows of %s",
                     shape_str(out).s, (long long)idx->shape[0], shape_str(src).s);
  if ((rc = same_device("index_select", src, idx)) != NN_OK) return rc;
  if (out->dtype != src->dtype)      /* indices are either dtype; rows move as they are */
    return nn_seterr_arg(NN_EARG, NN_ROLE_OUT, "index_select: the output is %s, src is %s",
                         dtype_name(out->dtype), dtype_name(src->dtype));
  if ((rc = apart("index_select", out, src, "src")) != NN_OK) return rc;
  if ((rc = apart("index_select", out, idx, "the indices")) != NN_OK) return rc;
  size_t k = (size_t)idx->numel, rows = (size_t)src->shape[0];
  if (out->numel == 0) return NN_OK;      /* no rows asked for, or rows of no floats */
  size_t row_len = (size_t)out->numel / k;
  int64_t bad = -1;
  int i32 = idx->dtype == NN_I32;
  rc = ON_CPU(src) ? cpu_index_select(tensor_data(out), tensor_data(src), tensor_data(idx), i32,
                                      k, rows, row_len, base, &bad)
                   : cuda_index_select(tensor_data(out), tensor_data(src), tensor_data(idx), i32,
                                       k, rows, row_len, base, &bad);
  if (rc != NN_OK || bad < 0) return rc;
  double v = 0.0;
  if ((rc = tensor_get_number(&v, idx, bad)) != NN_OK) return rc;
  if (v >= (double)base && v < (double)base + (double)rows)   /* in range, so not whole */
    return nn_seterr(NN_EARG, "index_select: index %.9g at position %lld is not a whole number",
                     (double)v, (long long)bad + base);
  return nn_seterr(NN_EARG, "index_select: index %.9g at position %lld is outside %d..%lld "
                   "(the rows of %s)", (double)v, (long long)bad + base, base,
                   (long long)rows - 1 + base, shape_str(src).s);
}

int tensor_randperm (nn_tensor *out, int base) {
  size_t n = (size_t)out->numel;
  int i32 = out->dtype == NN_I32;
  if (i32 && (base < 0 || (int64_t)n - 1 + base > INT32_MAX))
    return nn_seterr(NN_EARG, "randperm: values %d..%lld do not all fit int32 "
                     "(up to 2^31 - 1 = 2147483647)", base, (long long)n - 1 + base);
  if (!i32 && (base < 0 || (int64_t)n - 1 + base > EXACT_FLOAT_INTS))
    return nn_seterr(NN_EARG, "randperm: values %d..%lld are not all exact in float32 "
                     "(whole numbers are, up to 2^24 = 16777216)", base,
                     (long long)n - 1 + base);
  uint64_t block0 = nn_rng_reserve(n > 1 ? (uint64_t)(n / 2) : 0);   /* ceil((n-1)/2) */
  if (ON_CPU(out)) return cpu_randperm(tensor_data(out), i32, n, rng_seed, block0, base);
  float *host = malloc((n ? n : 1) * sizeof *host);
  if (host == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  int rc = cpu_randperm(host, i32, n, rng_seed, block0, base);
  if (rc == NN_OK) rc = cuda_memcpy(tensor_data(out), NN_CUDA, host, NN_CPU, n);
  free(host);
  return rc;
}

int tensor_one_hot (nn_tensor *out, const nn_tensor *labels) {
  int rc;
  if (out->ndim != 2)
    return nn_seterr(NN_ESHAPE, "one_hot: the output must be 2-D (B, C), got %s", shape_str(out).s);
  int column = labels->ndim == 1 || (labels->ndim == 2 && labels->shape[1] == 1);
  if (!column || labels->shape[0] != out->shape[0])
    return nn_seterr(NN_ESHAPE, "one_hot: labels must be (B) or (B, 1) with B = %lld rows of "
                     "the output %s, got %s", (long long)out->shape[0], shape_str(out).s,
                     shape_str(labels).s);
  if ((rc = apart("one_hot", out, labels, "the labels")) != NN_OK) return rc;
  if ((rc = tensor_check_float(out, NN_ROLE_OUT, "one_hot")) != NN_OK) return rc;
  size_t b = (size_t)out->shape[0], c = (size_t)out->shape[1];
  if (b == 0) return NN_OK;
  int64_t bad = -1;
  int i32 = labels->dtype == NN_I32;      /* labels: int32 or whole float32 */
  rc = ON_CPU(out) ? cpu_one_hot(tensor_data(out), tensor_data(labels), i32, b, c, &bad)
                   : cuda_one_hot(tensor_data(out), tensor_data(labels), i32, b, c, &bad);
  if (rc != NN_OK || bad < 0) return rc;
  double v = 0.0;
  if ((rc = tensor_get_number(&v, labels, bad)) != NN_OK) return rc;
  if (v >= 1.0 && v <= (double)c)
    return nn_seterr(NN_EARG, "one_hot: label %.9g at row %lld is not a whole number",
                     (double)v, (long long)bad + 1);
  return nn_seterr(NN_EARG, "one_hot: label %.9g at row %lld is outside 1..%lld", (double)v,
                   (long long)bad + 1, (long long)c);
}
