/*
** idx.h -- IDX files, the format of MNIST and Fashion-MNIST, gzip'd or plain.
**
** The layout, from LeCun, Cortes & Burges, "The MNIST database of
** handwritten digits" (yann.lecun.com/exdb/mnist, "THE IDX FILE FORMAT"):
**
**   bytes 0, 1   zero
**   byte 2       the element type:  0x08 unsigned byte   0x09 signed byte
**                                   0x0B int16   0x0C int32
**                                   0x0D float32 0x0E float64
**   byte 3       the number of dims, 1..5 here (an nnlua tensor has at most 5)
**   then         one big-endian uint32 size per dim
**   then         the elements, big-endian, row-major: exactly the product of
**                the sizes, and nothing after them
**
** So train-images-idx3-ubyte starts 00 00 08 03, then 60000, 28, 28.  A
** size of 0 is allowed (an empty tensor: a valid, if useless, file); more
** than IDX_MAX_NUMEL elements is taken for a corrupt header.
**
** Both readers return a new CPU float32 tensor of those sizes holding the
** raw values, not scaled (0..255 for unsigned bytes); int32 values beyond
** 2^24 and float64 values round to the nearest float32.  A plain C library
** (no lua.h): errors come back as codes with the reason in nn_errmsg(),
** which starts with the file's path:
**   NN_EIO      the file cannot be opened or read (with strerror)
**   NN_EFORMAT  not an IDX file ("bad magic number: ..."), an unknown type,
**               0 or more than 5 dims, "truncated: expected N bytes of data,
**               found M", "trailing bytes" (after the data, or after the end
**               of the gzip stream: a gzip file may hold several members one
**               after another, and nothing else), or a corrupt gzip stream
**               (with zlib's message)
**   NN_ENOMEM   the tensor does not fit in memory
*/
#ifndef NN_IDX_H
#define NN_IDX_H

#include <stddef.h>
#include "tensor.h"

#define IDX_MAX_NUMEL (INT64_C(1) << 31)   /* 8 GiB as float32: beyond any IDX dataset */

/* Read the IDX file at `path`, gzip'd or plain (zlib tells them apart by
** the gzip magic 1f 8b).  *out is NULL on error. */
int idx_load (nn_tensor **out, const char *path);

/* The same from len bytes in memory (plain IDX, not gzip'd): what the fuzz
** target calls.  Messages name the source "<memory>". */
int idx_load_mem (nn_tensor **out, const unsigned char *buf, size_t len);

#endif
