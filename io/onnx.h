/*
** onnx.h -- ONNX model files (.onnx) and tensor files (.pb), read and written
** through protobuf-c.
**
** The format: an ONNX file is one protocol-buffer message, onnx.ModelProto,
** defined by onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto;
** Debian's libonnx-dev ships it as /usr/include/onnx/onnx.proto).  The
** Makefile runs protoc-c on that file at build time into
** $(BUILD)/gen/onnx/onnx.pb-c.{c,h}: the encoder and decoder are generated,
** never written by hand.  A tensor file (the conformance tests'
** input_0.pb) is one onnx.TensorProto.
**
** This file adds what protobuf-c does not check: that a tensor's claimed
** shape fits in memory sizes, and that its data holds exactly that many
** elements, BEFORE anything is allocated for it.  protobuf-c itself
** allocates while it unpacks, but never more than a small multiple of the
** file's size; we cap the file at ONNX_MAX_FILE bytes.
** A plain C library on tensor.h and protobuf-c (no lua.h): errors come back
** as a code with the reason in nn_errmsg(), naming the file and the field.
*/
#ifndef NN_ONNX_H
#define NN_ONNX_H

#include <stddef.h>
#include <stdint.h>
#include "tensor.h"
#include "onnx/onnx.pb-c.h"

/* The largest file we read: 2 GiB, protobuf's own limit for one message. */
#define ONNX_MAX_FILE ((size_t)2147483647u)

/* TensorProto.DataType values (onnx.proto, enum DataType). */
enum {
  ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_UINT16 = 4, ONNX_INT16 = 5,
  ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_STRING = 8, ONNX_BOOL = 9, ONNX_FLOAT16 = 10,
  ONNX_DOUBLE = 11
};

/* The name of a DataType ("FLOAT", "INT64", ...; "?" for one we do not know). */
const char *onnx_dtype_name (int data_type);

/* Read a whole file (at most ONNX_MAX_FILE bytes) into a fresh malloc'd
** buffer.  Errors: NN_EIO (open, read), NN_EFORMAT (too large), NN_ENOMEM. */
int onnx_read_bytes (unsigned char **buf, size_t *len, const char *path);

/* Decode a ModelProto (free with onnx_model_free).  `what` names the source
** in messages ("<path>", "<memory>").  Errors: NN_EFORMAT ("<what>: not an
** ONNX model (protobuf-c could not decode it)"), NN_ENOMEM. */
int onnx_model_unpack (Onnx__ModelProto **out, const unsigned char *buf, size_t len,
                       const char *what);
void onnx_model_free (Onnx__ModelProto *m);            /* NULL is fine */
/* The same for a TensorProto (free with onnx_tensor_free). */
int onnx_tensor_unpack (Onnx__TensorProto **out, const unsigned char *buf, size_t len,
                        const char *what);
void onnx_tensor_free (Onnx__TensorProto *t);          /* NULL is fine */

/* The element count of a TensorProto, checked: every dim >= 0, at most
** NN_MAXDIM of them (nnlua's tensors), the product free of overflow, and the
** data present holds exactly that many elements (raw_data's bytes /
** the element size, or the count of the repeated field of its type).  An
** external-data tensor, a string tensor or a type we do not read is refused.
** Errors: NN_EFORMAT "<what>: tensor '<name>': <reason>". */
int onnx_tensor_check (int64_t *numel, const Onnx__TensorProto *t, const char *what);

/* A checked TensorProto as a new CPU nnlua tensor: FLOAT, DOUBLE and FLOAT16
** as float32 (DOUBLE rounds to nearest, FLOAT16 is exact); INT32, INT16,
** INT8, UINT16, UINT8 and BOOL as int32.  (INT64 is read with
** onnx_tensor_int64.)  Errors: those of onnx_tensor_check, NN_EFORMAT for
** INT64 here, NN_ENOMEM. */
int onnx_tensor_to_nn (nn_tensor **out, const Onnx__TensorProto *t, const char *what);
/* Element i (0 <= i < numel, numel from onnx_tensor_check) of an INT64 tensor. */
int64_t onnx_tensor_int64 (const Onnx__TensorProto *t, int64_t i);

/* Encode m and write it to path: to "<path>.tmp.<pid>", then renamed over
** path, so a failed write leaves the old file.  Errors: NN_EIO, NN_ENOMEM. */
int onnx_model_write (const char *path, const Onnx__ModelProto *m);

#endif
