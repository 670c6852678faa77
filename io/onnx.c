/*
** onnx.c -- ONNX files through protobuf-c: read, check, convert, write.
** See onnx.h for the format and the contract.
**
** The checks that protobuf-c cannot make, because they are about meaning and
** not about the wire format:
**   a dim < 0, more dims than nnlua's tensors hold (NN_MAXDIM), a product of
**   dims that overflows int64, and a claimed element count that the data
**   present does not hold (a "1 GB" tensor in a 1 KB file).  All are found
**   by onnx_tensor_check before onnx_tensor_to_nn allocates, so what we
**   allocate for a tensor is bounded by the bytes the file really holds.
** Byte order: raw_data is little-endian (onnx.proto); we read it with memcpy,
** which is right on the little-endian machines nnlua runs on (x86-64, arm64).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "onnx.h"
#include "replace.h"
#include "half.h"

const char *onnx_dtype_name (int data_type) {
  switch (data_type) {
    case ONNX_FLOAT: return "FLOAT";     case ONNX_UINT8: return "UINT8";
    case ONNX_INT8: return "INT8";       case ONNX_UINT16: return "UINT16";
    case ONNX_INT16: return "INT16";     case ONNX_INT32: return "INT32";
    case ONNX_INT64: return "INT64";     case ONNX_STRING: return "STRING";
    case ONNX_BOOL: return "BOOL";       case ONNX_FLOAT16: return "FLOAT16";
    case ONNX_DOUBLE: return "DOUBLE";   case 12: return "UINT32";
    case 13: return "UINT64";            case 14: return "COMPLEX64";
    case 15: return "COMPLEX128";        case 16: return "BFLOAT16";
    default: return "?";
  }
}

int onnx_read_bytes (unsigned char **buf, size_t *len, const char *path) {
  *buf = NULL;
  *len = 0;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return nn_seterr(NN_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(fp);
    return nn_seterr(NN_EIO, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > ONNX_MAX_FILE) {
    fclose(fp);
    return nn_seterr(NN_EFORMAT, "%s: %lld bytes, more than the %zu an ONNX file may hold",
                     path, (long long)st.st_size, ONNX_MAX_FILE);
  }
  size_t n = (size_t)st.st_size;
  unsigned char *b = malloc(n > 0 ? n : 1);
  if (b == NULL) {
    fclose(fp);
    return nn_seterr(NN_ENOMEM, "%s: out of host memory for %zu bytes", path, n);
  }
  if (fread(b, 1, n, fp) != n) {
    free(b);
    fclose(fp);
    return nn_seterr(NN_EIO, "%s: short read", path);
  }
  fclose(fp);
  *buf = b;
  *len = n;
  return NN_OK;
}

int onnx_model_unpack (Onnx__ModelProto **out, const unsigned char *buf, size_t len,
                       const char *what) {
  *out = onnx__model_proto__unpack(NULL, len, buf);
  if (*out == NULL)
    return nn_seterr(NN_EFORMAT, "%s: not an ONNX model (protobuf-c could not decode it: "
                     "truncated, corrupt or another format)", what);
  return NN_OK;
}

void onnx_model_free (Onnx__ModelProto *m) {
  if (m != NULL) onnx__model_proto__free_unpacked(m, NULL);
}

int onnx_tensor_unpack (Onnx__TensorProto **out, const unsigned char *buf, size_t len,
                        const char *what) {
  *out = onnx__tensor_proto__unpack(NULL, len, buf);
  if (*out == NULL)
    return nn_seterr(NN_EFORMAT, "%s: not an ONNX tensor (protobuf-c could not decode it: "
                     "truncated, corrupt or another format)", what);
  return NN_OK;
}

void onnx_tensor_free (Onnx__TensorProto *t) {
  if (t != NULL) onnx__tensor_proto__free_unpacked(t, NULL);
}

/* Bytes per element in raw_data, and the count of the repeated field that
** holds the type otherwise; 0 for a type we do not read. */
static size_t elem_size (int dt) {
  switch (dt) {
    case ONNX_FLOAT: case ONNX_INT32: return 4;
    case ONNX_DOUBLE: case ONNX_INT64: return 8;
    case ONNX_INT16: case ONNX_UINT16: case ONNX_FLOAT16: return 2;
    case ONNX_INT8: case ONNX_UINT8: case ONNX_BOOL: return 1;
    default: return 0;
  }
}

static size_t field_count (const Onnx__TensorProto *t, int dt) {
  switch (dt) {
    case ONNX_FLOAT: return t->n_float_data;
    case ONNX_DOUBLE: return t->n_double_data;
    case ONNX_INT64: return t->n_int64_data;
    default: return t->n_int32_data;
  }
}

static const char *tname (const Onnx__TensorProto *t) {
  return t->name != NULL ? t->name : "";
}

int onnx_tensor_check (int64_t *numel, const Onnx__TensorProto *t, const char *what) {
  int dt = t->has_data_type ? t->data_type : 0;
  if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': its data is in an external file, which "
                     "nnlua does not read", what, tname(t));
  if (t->segment != NULL)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': segmented tensors are not read", what, tname(t));
  size_t es = elem_size(dt);
  if (es == 0)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': data_type %d (%s) is not read (FLOAT, "
                     "DOUBLE, FLOAT16, INT64, INT32, INT16, INT8, UINT16, UINT8, BOOL are)",
                     what, tname(t), dt, onnx_dtype_name(dt));
  if (t->n_dims > NN_MAXDIM)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': %zu dims, more than the %d nnlua's "
                     "tensors hold", what, tname(t), t->n_dims, NN_MAXDIM);
  int64_t n = 1;
  for (size_t i = 0; i < t->n_dims; i++) {
    if (t->dims[i] < 0)
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': dims[%zu] = %lld is negative", what,
                       tname(t), i, (long long)t->dims[i]);
    if (nn_size_mul(&n, n, t->dims[i]) != NN_OK)
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': the product of its dims overflows",
                       what, tname(t));
  }
  /* the data present must hold exactly n elements: checked before anything
     is allocated, so a small file cannot claim a large tensor */
  size_t have;
  if (t->has_raw_data) {
    if (t->raw_data.len % es != 0)
      return nn_seterr(NN_EFORMAT, "%s: tensor '%s': raw_data has %zu bytes, not a multiple "
                       "of %zu (%s)", what, tname(t), t->raw_data.len, es, onnx_dtype_name(dt));
    have = t->raw_data.len / es;
  } else {
    have = field_count(t, dt);
  }
  if ((uint64_t)have != (uint64_t)n)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': its dims claim %lld elements but its data "
                     "holds %zu", what, tname(t), (long long)n, have);
  *numel = n;
  return NN_OK;
}

/* element i of the tensor as a double (every type we read is exact in one,
** but INT64 beyond 2^53, which onnx_tensor_int64 reads instead) */
static double elem_at (const Onnx__TensorProto *t, int dt, int64_t i) {
  if (t->has_raw_data) {
    const uint8_t *p = t->raw_data.data + (size_t)i * elem_size(dt);
    switch (dt) {
      case ONNX_FLOAT: { float v; memcpy(&v, p, 4); return v; }
      case ONNX_DOUBLE: { double v; memcpy(&v, p, 8); return v; }
      case ONNX_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
      case ONNX_INT64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
      case ONNX_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
      case ONNX_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
      case ONNX_FLOAT16: { uint16_t v; memcpy(&v, p, 2); return half_to_float(v); }
      case ONNX_INT8: return (int8_t)p[0];
      case ONNX_UINT8: return p[0];
      case ONNX_BOOL: return p[0] != 0;
      default: return 0;
    }
  }
  switch (dt) {
    case ONNX_FLOAT: return t->float_data[i];
    case ONNX_DOUBLE: return t->double_data[i];
    case ONNX_INT64: return (double)t->int64_data[i];
    /* the narrow types sit in int32_data, one per entry (onnx.proto);
       FLOAT16 as its bits */
    case ONNX_FLOAT16: return half_to_float((uint16_t)t->int32_data[i]);
    case ONNX_INT8: return (int8_t)t->int32_data[i];
    case ONNX_UINT8: return (uint8_t)t->int32_data[i];
    case ONNX_INT16: return (int16_t)t->int32_data[i];
    case ONNX_UINT16: return (uint16_t)t->int32_data[i];
    case ONNX_BOOL: return t->int32_data[i] != 0;
    default: return t->int32_data[i];
  }
}

int64_t onnx_tensor_int64 (const Onnx__TensorProto *t, int64_t i) {
  if (t->has_raw_data) {
    int64_t v;
    memcpy(&v, t->raw_data.data + (size_t)i * 8, 8);
    return v;
  }
  return t->int64_data[i];
}

int onnx_tensor_to_nn (nn_tensor **out, const Onnx__TensorProto *t, const char *what) {
  *out = NULL;
  int64_t n;
  int rc = onnx_tensor_check(&n, t, what);
  if (rc != NN_OK) return rc;
  int dt = t->data_type;
  if (dt == ONNX_INT64)
    return nn_seterr(NN_EFORMAT, "%s: tensor '%s': INT64 is read as integers, not as a "
                     "tensor", what, tname(t));
  int is_float = dt == ONNX_FLOAT || dt == ONNX_DOUBLE || dt == ONNX_FLOAT16;
  int64_t shape[NN_MAXDIM];
  for (size_t i = 0; i < t->n_dims; i++) shape[i] = t->dims[i];
  nn_tensor *x;
  rc = tensor_new_dtype(&x, NN_CPU, is_float ? NN_F32 : NN_I32, (int)t->n_dims, shape);
  if (rc != NN_OK) return rc;
  if (n == 0) {
    /* nothing to copy; and an empty repeated field is a NULL pointer, which
       memcpy must not get even for 0 bytes (found by fuzz_onnx) */
  } else if (is_float) {
    float *d = tensor_data(x);
    if (dt == ONNX_FLOAT && t->has_raw_data) memcpy(d, t->raw_data.data, (size_t)n * 4);
    else if (dt == ONNX_FLOAT) memcpy(d, t->float_data, (size_t)n * 4);
    else for (int64_t i = 0; i < n; i++) d[i] = (float)elem_at(t, dt, i);
  } else {
    int32_t *d = tensor_data_i32(x);
    for (int64_t i = 0; i < n; i++) d[i] = (int32_t)elem_at(t, dt, i);
  }
  *out = x;
  return NN_OK;
}

/* io_replace_file's writer of a packed model */
typedef struct onnx_bytes { const uint8_t *buf; size_t len; } onnx_bytes;

static int write_bytes (FILE *fp, void *ctx, int *err) {
  const onnx_bytes *b = ctx;
  if (fwrite(b->buf, 1, b->len, fp) != b->len) { *err = errno; return NN_EIO; }
  return NN_OK;
}

int onnx_model_write (const char *path, const Onnx__ModelProto *m) {
  size_t len = onnx__model_proto__get_packed_size(m);
  uint8_t *buf = malloc(len > 0 ? len : 1);
  if (buf == NULL) return nn_seterr(NN_ENOMEM, "%s: out of host memory for %zu bytes", path, len);
  onnx__model_proto__pack(m, buf);
  onnx_bytes bytes = { buf, len };
  int rc = io_replace_file(path, write_bytes, &bytes);
  free(buf);
  return rc;
}
