/*
** safetensors.c -- read and write safetensors checkpoints (see safetensors.h).
**
** Reading checks everything before it trusts anything: the header size
** against the file's length, the header through jansson with duplicate keys
** rejected (the format forbids them), each entry's dtype, shape and offsets,
** the byte count of each tensor against its shape, and that the tensors tile
** the buffer exactly.  Only then are the tensors allocated and filled, in
** the order of their offsets, so a file is read front to back once.
**
** Writing builds the header with jansson (insertion order: __metadata__,
** then the tensors by name), pads it with spaces to a multiple of 8, and
** writes header and data to a temporary file that is renamed into place.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "safetensors.h"
#include "replace.h"
#include "half.h"

/* The data is little-endian in the file; we copy float32 values to and from
** it with memcpy, which is right only on a little-endian host (x86-64,
** aarch64 as Debian runs them).  The header size and the F16/BF16/F64
** conversions are decoded byte by byte and do not depend on this. */
#if defined(__BYTE_ORDER__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors.c copies float32 data with memcpy: little-endian hosts only");
#endif
_Static_assert(sizeof(float) == 4, "float must be IEEE-754 binary32");

/* --- dtypes ------------------------------------------------------------------ */

typedef enum st_dtype { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I32, ST_I64, ST_NDTYPE } st_dtype;

static const char *const dtype_names[ST_NDTYPE] = { "F32", "F16", "BF16", "F64", "I32", "I64" };
static const size_t dtype_sizes[ST_NDTYPE] = { 4, 2, 2, 8, 4, 8 };

/* The nnlua dtype an entry loads as: int32 for the integer types. */
static nn_dtype loads_as (st_dtype d) { return d == ST_I32 || d == ST_I64 ? NN_I32 : NN_F32; }

/* bfloat16 is the top half of a float32: shift it back. */
static float bf16_to_float (uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* n elements of `dtype`, little-endian bytes at src, to float32 at dst. */
static void convert (float *dst, const unsigned char *src, size_t n, st_dtype dtype) {
  for (size_t i = 0; i < n; i++) {
    const unsigned char *b = src + i * dtype_sizes[dtype];
    if (dtype == ST_F16) dst[i] = half_to_float((uint16_t)(b[0] | b[1] << 8));
    else if (dtype == ST_BF16) dst[i] = bf16_to_float((uint16_t)(b[0] | b[1] << 8));
    else {                                /* F64: round to nearest float */
      uint64_t bits = 0;
      double d;
      for (int k = 7; k >= 0; k--) bits = bits << 8 | b[k];
      memcpy(&d, &bits, sizeof d);
      dst[i] = (float)d;
    }
  }
}

/* --- where the bytes come from: a file or a buffer ----------------------------- */

typedef struct st_source {
  const char *where;              /* the path, or "<memory>", for messages */
  FILE *f;                        /* a file: data starts at byte `base` */
  uint64_t base, pos;             /* pos: the file position, relative to base */
  const unsigned char *mem;       /* or a buffer holding the data */
} st_source;

/* len bytes at offset `off` of the data buffer (checked to lie inside it). */
static int source_read (st_source *s, void *dst, uint64_t off, size_t len) {
  if (s->f == NULL) {
    memcpy(dst, s->mem + off, len);
    return NN_OK;
  }
  if (off != s->pos && fseeko(s->f, (off_t)(s->base + off), SEEK_SET) != 0)
    return nn_seterr(NN_EIO, "%s: cannot seek: %s", s->where, strerror(errno));
  size_t got = fread(dst, 1, len, s->f);
  s->pos = off + got;
  if (got != len) {
    if (ferror(s->f)) return nn_seterr(NN_EIO, "%s: read error: %s", s->where, strerror(errno));
    return nn_seterr(NN_EFORMAT, "%s: file is truncated (it shrank while being read)", s->where);
  }
  return NN_OK;
}

/* --- the header ---------------------------------------------------------------- */

/* One tensor of the header, checked. */
typedef struct st_entry {
  const char *name;               /* points into the parsed JSON */
  st_dtype dtype;
  int ndim;
  int64_t shape[NN_MAXDIM];
  uint64_t begin, end;            /* [begin, end) in the data buffer */
  int slot;                       /* its index in st_file (name order) */
} st_entry;

static int by_offset (const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int by_name (const void *a, const void *b) {
  return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int by_string (const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON integer that is >= 0, into *v; 0 if the value is anything else. */
static int json_uint (const json_t *j, uint64_t *v) {
  if (!json_is_integer(j) || json_integer_value(j) < 0) return 0;
  *v = (uint64_t)json_integer_value(j);
  return 1;
}

/* Check one tensor entry `name`: {"dtype", "shape", "data_offsets"} and no
** other field; the offsets inside a buffer of data_len bytes, and as many
** bytes as the shape needs. */
static int parse_entry (st_entry *e, const char *where, const char *name, const json_t *j,
                        uint64_t data_len) {
  const char *key;
  json_t *v;
  e->name = name;
  if (!json_is_object(j))
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': entry is not an object", where, name);
  json_object_foreach((json_t *)j, key, v) {
    if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 && strcmp(key, "data_offsets") != 0)
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': unknown field '%s' (expected dtype, shape, "
                       "data_offsets)", where, name, key);
  }
  /* dtype */
  const json_t *dt = json_object_get(j, "dtype");
  if (!json_is_string(dt))
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': dtype %s", where, name,
                     dt ? "is not a string" : "is missing");
  int d;
  for (d = 0; d < ST_NDTYPE && strcmp(dtype_names[d], json_string_value(dt)) != 0; d++) {}
  if (d == ST_NDTYPE)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': dtype %.32s is not supported (only F32, "
                     "I32, and F16, BF16, F64 converted to F32, I64 to I32)", where, name,
                     json_string_value(dt));
  e->dtype = (st_dtype)d;
  /* shape: up to 5 sizes >= 0; numel checked as tensor_new will (at most 2^40) */
  const json_t *sh = json_object_get(j, "shape");
  if (!json_is_array(sh))
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': shape %s", where, name,
                     sh ? "is not an array" : "is missing");
  if (json_array_size(sh) > NN_MAXDIM)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': shape has %zu dims (at most %d)", where,
                     name, json_array_size(sh), NN_MAXDIM);
  e->ndim = (int)json_array_size(sh);
  uint64_t numel = 1;
  for (int i = 0; i < e->ndim; i++) {
    uint64_t s;
    if (!json_uint(json_array_get(sh, (size_t)i), &s) || s > (UINT64_C(1) << 40))
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': shape[%d] is not an integer in "
                       "[0, 2^40]", where, name, i);
    if (s > 0 && numel > (UINT64_C(1) << 40) / s)
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': shape is too large", where, name);
    numel *= s;
    e->shape[i] = (int64_t)s;
  }
  /* data_offsets: [begin, end], begin <= end <= data_len, end - begin = bytes */
  const json_t *off = json_object_get(j, "data_offsets");
  if (!json_is_array(off) || json_array_size(off) != 2
      || !json_uint(json_array_get(off, 0), &e->begin)
      || !json_uint(json_array_get(off, 1), &e->end))
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': data_offsets %s", where, name,
                     off ? "is not two integers >= 0" : "is missing");
  if (e->begin > e->end || e->end > data_len)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] are outside the "
                     "data buffer of %llu bytes (the file may be truncated)", where, name,
                     (unsigned long long)e->begin, (unsigned long long)e->end,
                     (unsigned long long)data_len);
  if (e->end - e->begin != numel * dtype_sizes[d])
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, "
                     "but %llu elements of %s need %llu", where, name,
                     (unsigned long long)e->begin, (unsigned long long)e->end,
                     (unsigned long long)(e->end - e->begin), (unsigned long long)numel,
                     dtype_names[d], (unsigned long long)(numel * dtype_sizes[d]));
  return NN_OK;
}

/* Sorted by offset, the tensors must tile [0, data_len): each starts where
** the previous ended. */
static int check_tiling (const char *where, const st_entry *e, int n, uint64_t data_len) {
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    if (e[i].begin < at)
      return nn_seterr(NN_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data buffer",
                       where, e[i - 1].name, e[i].name);
    if (e[i].begin > at)
      return nn_seterr(NN_EFORMAT, "%s: a hole in the data buffer: bytes [%llu, %llu) before "
                       "tensor '%s' belong to no tensor", where, (unsigned long long)at,
                       (unsigned long long)e[i].begin, e[i].name);
    at = e[i].end;
  }
  if (at != data_len)
    return nn_seterr(NN_EFORMAT, "%s: the tensors end at byte %llu of the data buffer, but it "
                     "has %llu bytes", where, (unsigned long long)at,
                     (unsigned long long)data_len);
  return NN_OK;
}

/* The metadata object: string values only.  Fills keys/values (pointers into
** the JSON), sorted by key. */
static int parse_metadata (const char *where, const json_t *meta, const char **keys,
                           const char **values) {
  const char *key;
  json_t *v;
  int i = 0;
  if (!json_is_object(meta))
    return nn_seterr(NN_EFORMAT, "%s: __metadata__ is not an object", where);
  json_object_foreach((json_t *)meta, key, v) {
    if (!json_is_string(v))
      return nn_seterr(NN_EFORMAT, "%s: __metadata__['%s'] is not a string", where, key);
    keys[i++] = key;
  }
  qsort(keys, (size_t)i, sizeof *keys, by_string);
  for (int k = 0; k < i; k++) values[k] = json_string_value(json_object_get(meta, keys[k]));
  return NN_OK;
}

static char *dup_string (const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

void st_free (st_file *f) {
  if (f == NULL) return;
  for (int i = 0; i < f->n; i++) {
    if (f->names) free(f->names[i]);
    if (f->tensors) tensor_release(f->tensors[i]);
  }
  for (int i = 0; i < f->n_meta; i++) {
    if (f->meta_keys) free(f->meta_keys[i]);
    if (f->meta_values) free(f->meta_values[i]);
  }
  free(f->names);
  free(f->tensors);
  free(f->meta_keys);
  free(f->meta_values);
  free(f);
}

/* n I64 values at src to int32 at dst; the first that int32 cannot hold is
** refused (an index would otherwise wrap around, silently). */
static int narrow_i64 (int32_t *dst, const unsigned char *src, size_t n, size_t first,
                       const char *where, const char *name) {
  for (size_t i = 0; i < n; i++) {
    uint64_t bits = 0;
    for (int k = 7; k >= 0; k--) bits = bits << 8 | src[i * 8 + (size_t)k];
    int64_t v;
    memcpy(&v, &bits, sizeof v);
    if (v < INT32_MIN || v > INT32_MAX)
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': element %zu is %lld, outside int32 "
                       "(nnlua's integer dtype holds -2147483648 .. 2147483647)", where, name,
                       first + i + 1, (long long)v);
    dst[i] = (int32_t)v;
  }
  return NN_OK;
}

/* Fill tensor t from entry e, converting when the dtype is not F32 or I32. */
static int fill_tensor (nn_tensor *t, const st_entry *e, st_source *src) {
  size_t numel = (size_t)t->numel, esize = dtype_sizes[e->dtype];
  if (e->dtype == ST_F32 || e->dtype == ST_I32)    /* 4 bytes each, as stored */
    return source_read(src, tensor_data(t), e->begin, numel * 4);
  unsigned char chunk[4096 * 8];          /* 4096 elements of up to 8 bytes */
  for (size_t i = 0; i < numel; i += 4096) {
    size_t k = numel - i < 4096 ? numel - i : 4096;
    int rc = source_read(src, chunk, e->begin + i * esize, k * esize);
    if (rc != NN_OK) return rc;
    if (e->dtype == ST_I64) {
      rc = narrow_i64(tensor_data_i32(t) + i, chunk, k, i, src->where, e->name);
      if (rc != NN_OK) return rc;
    }
    else convert(tensor_data(t) + i, chunk, k, e->dtype);
  }
  return NN_OK;
}

/* The shared reader: header text hdr[0, hlen), then data_len bytes of data
** that `src` reads.  Validates the header, then allocates and fills. */
static int load_common (st_file **out, const char *where, const char *hdr, size_t hlen,
                        uint64_t data_len, st_source *src) {
  json_error_t jerr;
  json_t *root = NULL;
  st_entry *e = NULL, **named = NULL;
  const char **mkeys = NULL, **mvalues = NULL;
  st_file *f = NULL;
  const json_t *meta = NULL;
  int rc = NN_OK, n = 0, n_meta = 0;
  *out = NULL;
  if (hlen == 0 || hdr[0] != '{') {
    rc = nn_seterr(NN_EFORMAT, "%s: the header does not start with '{' (not a safetensors "
                   "file?)", where);
    goto done;
  }
  root = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    rc = nn_seterr(NN_EFORMAT, "%s: the header is not valid JSON: %s (at byte %d of it)",
                   where, jerr.text, jerr.position);
    goto done;
  }
  /* root is an object: the text starts with '{' and parsed */
  size_t entries = json_object_size(root);
  meta = json_object_get(root, "__metadata__");
  if (meta != NULL) entries--;
  if (entries > (size_t)INT32_MAX || json_object_size(meta) > (size_t)INT32_MAX) {
    rc = nn_seterr(NN_EFORMAT, "%s: too many entries in the header", where);
    goto done;
  }
  e = calloc(entries + 1, sizeof *e);
  named = calloc(entries + 1, sizeof *named);
  mkeys = calloc(json_object_size(meta) + 1, sizeof *mkeys);
  mvalues = calloc(json_object_size(meta) + 1, sizeof *mvalues);
  if (e == NULL || named == NULL || mkeys == NULL || mvalues == NULL) {
    rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", where);
    goto done;
  }
  if (meta != NULL) {
    if ((rc = parse_metadata(where, meta, mkeys, mvalues)) != NN_OK) goto done;
    n_meta = (int)json_object_size(meta);
  }
  {
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
      if (v == meta) continue;
      if ((rc = parse_entry(&e[n], where, key, v, data_len)) != NN_OK) goto done;
      n++;
    }
  }
  qsort(e, (size_t)n, sizeof *e, by_offset);
  if ((rc = check_tiling(where, e, n, data_len)) != NN_OK) goto done;
  for (int i = 0; i < n; i++) named[i] = &e[i];
  qsort(named, (size_t)n, sizeof *named, by_name);
  for (int i = 0; i < n; i++) named[i]->slot = i;

  /* The header is sound: allocate.  Every array is zeroed first, so st_free
  ** can run at any point below. */
  f = calloc(1, sizeof *f);
  if (f == NULL) { rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", where); goto done; }
  f->names = calloc((size_t)n + 1, sizeof *f->names);
  f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
  f->meta_keys = calloc((size_t)n_meta + 1, sizeof *f->meta_keys);
  f->meta_values = calloc((size_t)n_meta + 1, sizeof *f->meta_values);
  f->n = n;
  f->n_meta = n_meta;
  if (!f->names || !f->tensors || !f->meta_keys || !f->meta_values) {
    rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", where);
    goto done;
  }
  for (int i = 0; i < n_meta; i++) {
    if (!(f->meta_keys[i] = dup_string(mkeys[i])) || !(f->meta_values[i] = dup_string(mvalues[i]))) {
      rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", where);
      goto done;
    }
  }
  /* tensors in the order of their offsets: the file is read front to back */
  for (int i = 0; i < n; i++) {
    int s = e[i].slot;
    if (!(f->names[s] = dup_string(e[i].name))) {
      rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", where);
      goto done;
    }
    if ((rc = tensor_new_dtype(&f->tensors[s], NN_CPU, loads_as(e[i].dtype), e[i].ndim,
                               e[i].shape)) != NN_OK
        || (rc = fill_tensor(f->tensors[s], &e[i], src)) != NN_OK) {
      if (rc == NN_ENOMEM)
        nn_seterr(NN_ENOMEM, "%s: tensor '%s': out of host memory", where, e[i].name);
      goto done;
    }
  }

done:
  if (rc != NN_OK) st_free(f);
  else *out = f;
  free(e);
  free(named);
  free(mkeys);
  free(mvalues);
  json_decref(root);
  return rc;
}

/* The header size: 8 bytes, little-endian. */
static uint64_t read_u64le (const unsigned char *b) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = v << 8 | b[k];
  return v;
}

/* Checks the header size n against the file's length `len` (all of it). */
static int check_header_size (const char *where, uint64_t n, uint64_t len) {
  if (n > ST_MAX_HEADER)
    return nn_seterr(NN_EFORMAT, "%s: header size %llu is absurd (more than %u bytes): not a "
                     "safetensors file, or a corrupt one", where, (unsigned long long)n,
                     ST_MAX_HEADER);
  if (n > len - 8)
    return nn_seterr(NN_EFORMAT, "%s: header size %llu runs past the end of the file (%llu "
                     "bytes): the file is truncated", where, (unsigned long long)n,
                     (unsigned long long)len);
  return NN_OK;
}

int st_load_mem (st_file **out, const unsigned char *buf, size_t len) {
  const char *where = "<memory>";
  *out = NULL;
  if (len < 8)
    return nn_seterr(NN_EFORMAT, "%s: %zu bytes is too short for a safetensors file (the "
                     "header size alone is 8)", where, len);
  uint64_t n = read_u64le(buf);
  int rc = check_header_size(where, n, len);
  if (rc != NN_OK) return rc;
  st_source src = { where, NULL, 0, 0, buf + 8 + n };
  return load_common(out, where, (const char *)buf + 8, (size_t)n, len - 8 - n, &src);
}

int st_load (st_file **out, const char *path) {
  *out = NULL;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return nn_seterr(NN_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  unsigned char head[8];
  char *hdr = NULL;
  int rc = NN_OK;
  if (fstat(fileno(fp), &st) != 0) {
    rc = nn_seterr(NN_EIO, "%s: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = nn_seterr(NN_EIO, "%s: not a regular file", path);
    goto done;
  }
  uint64_t len = (uint64_t)st.st_size;
  if (len < 8) {
    rc = nn_seterr(NN_EFORMAT, "%s: %llu bytes is too short for a safetensors file (the header "
                   "size alone is 8)", path, (unsigned long long)len);
    goto done;
  }
  if (fread(head, 1, 8, fp) != 8) {
    rc = nn_seterr(NN_EIO, "%s: cannot read the header size", path);
    goto done;
  }
  uint64_t n = read_u64le(head);
  if ((rc = check_header_size(path, n, len)) != NN_OK) goto done;
  hdr = malloc(n + 1);
  if (hdr == NULL) { rc = nn_seterr(NN_ENOMEM, "%s: out of host memory", path); goto done; }
  if (fread(hdr, 1, n, fp) != n) {
    rc = nn_seterr(NN_EFORMAT, "%s: file is truncated (it shrank while being read)", path);
    goto done;
  }
  st_source src = { path, fp, 8 + n, 0, NULL };
  rc = load_common(out, path, hdr, (size_t)n, len - 8 - n, &src);
done:
  free(hdr);
  fclose(fp);
  return rc;
}

/* --- writing ------------------------------------------------------------------- */

/* A name and its index in the caller's arrays, to sort by name. */
typedef struct st_named { const char *name; int index; } st_named;

static int by_named (const void *a, const void *b) {
  return strcmp(((const st_named *)a)->name, ((const st_named *)b)->name);
}

/* The header text for the tensors in `order` (sorted by name), with the
** metadata object `meta` (or NULL) first.  *text is malloc'ed. */
static int build_header (char **text, int n, const st_named *order, nn_tensor *const *tensors,
                         json_t *meta) {
  json_t *root = json_object();
  int rc = NN_OK;
  uint64_t at = 0;
  *text = NULL;
  if (root == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  if (meta != NULL && json_object_set(root, "__metadata__", meta) != 0)
    rc = nn_seterr(NN_ENOMEM, "out of host memory");
  for (int k = 0; k < n && rc == NN_OK; k++) {
    const nn_tensor *t = tensors[order[k].index];
    uint64_t bytes = (uint64_t)t->numel * 4;
    json_t *shape = json_array();
    for (int d = 0; shape != NULL && d < t->ndim; d++)
      if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0) {
        json_decref(shape);
        shape = NULL;
      }
    /* "o" hands shape over to the entry */
    json_t *entry = shape == NULL ? NULL
      : json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->dtype == NN_I32 ? "I32" : "F32",
                  "shape", shape, "data_offsets",
                  (json_int_t)at, (json_int_t)(at + bytes));
    if (entry == NULL) rc = nn_seterr(NN_ENOMEM, "out of host memory");
    else if (json_object_set_new(root, order[k].name, entry) != 0)
      rc = nn_seterr(NN_EARG, "tensor name '%s' is not valid UTF-8", order[k].name);
    at += bytes;
  }
  if (rc == NN_OK && (*text = json_dumps(root, JSON_COMPACT)) == NULL)
    rc = nn_seterr(NN_ENOMEM, "out of host memory");
  json_decref(root);
  return rc;
}

/* The metadata text as a JSON object of strings, rebuilt with its keys in
** sorted order (so the file bytes do not depend on how it was written).
** *out is NULL when text is NULL. */
static int parse_save_metadata (json_t **out, const char *text) {
  json_error_t jerr;
  *out = NULL;
  if (text == NULL) return NN_OK;
  json_t *in = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *v;
  if (in == NULL) return nn_seterr(NN_EARG, "metadata is not valid JSON: %s", jerr.text);
  size_t n = json_object_size(in), i = 0;
  const char **keys = calloc(n + 1, sizeof *keys), *key;
  json_t *sorted = json_object();
  int rc = NN_OK;
  if (!json_is_object(in)) rc = nn_seterr(NN_EARG, "metadata is not a JSON object");
  else if (keys == NULL || sorted == NULL) rc = nn_seterr(NN_ENOMEM, "out of host memory");
  else {
    json_object_foreach(in, key, v) {
      if (!json_is_string(v) && rc == NN_OK)
        rc = nn_seterr(NN_EARG, "metadata['%s'] is not a string", key);
      keys[i++] = key;
    }
    qsort(keys, i, sizeof *keys, by_string);
    for (size_t k = 0; k < i && rc == NN_OK; k++)
      if (json_object_set(sorted, keys[k], json_object_get(in, keys[k])) != 0)
        rc = nn_seterr(NN_ENOMEM, "out of host memory");
  }
  free(keys);
  json_decref(in);
  if (rc != NN_OK) json_decref(sorted);
  else *out = sorted;
  return rc;
}

/* Write t's floats to fp (from the host; a CUDA tensor is copied first). */
static int write_tensor (FILE *fp, const nn_tensor *t, int *saved_errno) {
  nn_tensor *host = NULL;
  int rc = NN_OK;
  if (t->storage->device != NN_CPU && (rc = tensor_to(&host, t, NN_CPU)) != NN_OK) return rc;
  const nn_tensor *src = host ? host : t;
  size_t n = (size_t)src->numel;
  if (n > 0 && fwrite(tensor_data(src), sizeof(float), n, fp) != n) {
    *saved_errno = errno;
    rc = NN_EIO;
  }
  tensor_release(host);
  return rc;
}

/* What st_save writes, in order: the header's size (8 bytes, little-endian,
** byte by byte), the header, its padding, then each tensor's data. */
typedef struct st_body {
  size_t padded;
  const char *text;
  size_t hlen;
  int n;
  const st_named *order;
  nn_tensor *const *tensors;
} st_body;

static int write_body (FILE *fp, void *ctx, int *err) {
  const st_body *b = ctx;
  unsigned char head[8];
  for (int k = 0; k < 8; k++) head[k] = (unsigned char)((uint64_t)b->padded >> (8 * k));
  if (fwrite(head, 1, 8, fp) != 8 || fwrite(b->text, 1, b->hlen, fp) != b->hlen) {
    *err = errno;
    return NN_EIO;
  }
  for (size_t k = b->hlen; k < b->padded; k++)
    if (fputc(' ', fp) == EOF) { *err = errno; return NN_EIO; }
  for (int k = 0; k < b->n; k++) {
    int rc = write_tensor(fp, b->tensors[b->order[k].index], err);
    if (rc != NN_OK) return rc;
  }
  return NN_OK;
}

int st_save (const char *path, int n, const char *const *names, nn_tensor *const *tensors,
             const char *metadata_json) {
  int rc;
  st_named *order = NULL;
  json_t *meta = NULL;
  char *text = NULL;
  const char *base = strrchr(path, '/');
  size_t hlen = 0, padded = 0;
  base = base ? base + 1 : path;

  /* check the arguments before touching the disk */
  if (n < 0) return nn_seterr(NN_EARG, "%s: negative tensor count %d", path, n);
  if (*base == '\0') return nn_seterr(NN_EIO, "%s: not a file name", path);
  for (int i = 0; i < n; i++) {
    if (names[i] == NULL || names[i][0] == '\0')
      return nn_seterr(NN_EARG, "%s: tensor %d has an empty name", path, i + 1);
    if (strcmp(names[i], "__metadata__") == 0)
      return nn_seterr(NN_EARG, "%s: '__metadata__' cannot name a tensor", path);
    if (tensors[i] == NULL)
      return nn_seterr(NN_EARG, "%s: tensor '%s' is NULL", path, names[i]);
  }
  if ((rc = parse_save_metadata(&meta, metadata_json)) != NN_OK) return rc;
  order = malloc(((size_t)n + 1) * sizeof *order);
  if (order == NULL) { rc = nn_seterr(NN_ENOMEM, "out of host memory"); goto done; }
  for (int i = 0; i < n; i++) order[i] = (st_named){ names[i], i };
  qsort(order, (size_t)n, sizeof *order, by_named);
  for (int i = 1; i < n; i++)
    if (strcmp(order[i - 1].name, order[i].name) == 0) {
      rc = nn_seterr(NN_EARG, "%s: two tensors are named '%s'", path, order[i].name);
      goto done;
    }
  if ((rc = build_header(&text, n, order, tensors, meta)) != NN_OK) goto done;
  hlen = strlen(text);
  padded = (hlen + 7) / 8 * 8;
  if (padded > ST_MAX_HEADER) {
    rc = nn_seterr(NN_EARG, "%s: the header would be %zu bytes (at most %u)", path, padded,
                   ST_MAX_HEADER);
    goto done;
  }

  st_body body = { padded, text, hlen, n, order, tensors };
  rc = io_replace_file(path, write_body, &body);
  goto done;

done:
  free(order);
  free(text);
  json_decref(meta);
  return rc;
}
