/*
** safetensors.h -- checkpoint files: named tensors and a string map.
**
** The format (https://github.com/huggingface/safetensors, README "Format"):
**
**   8 bytes    N, the header size: an unsigned 64-bit little-endian integer
**   N bytes    the header: a UTF-8 JSON object that starts with '{' and may
**              end in spaces (we pad it to a multiple of 8, so the data that
**              follows is 8-byte aligned).  For each tensor, by name:
**                "w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [b, e]}
**              and optionally "__metadata__": {"key": "value", ...}, a map of
**              strings to strings.  No key appears twice.
**   the rest   the byte buffer: each tensor's elements, row-major and
**              little-endian, at [b, e) counted from the buffer's start.  The
**              tensors tile the buffer exactly: no holes, no overlaps, nothing
**              after the last one.
**
** nnlua writes F32 (float32 tensors) and I32 (int32 tensors), and reads
** those, F16, BF16 and F64, which it converts to float32 (F64 rounds to
** nearest; F16 and BF16 are exact), and I64, which it reads as int32 when
** every value fits (else NN_EFORMAT naming the element).
** A plain C library on top of tensor.h and jansson (no lua.h): every error
** comes back as a code with the reason in nn_errmsg(), and the message names
** the file and the tensor.
*/
#ifndef NN_SAFETENSORS_H
#define NN_SAFETENSORS_H

#include <stddef.h>
#include "tensor.h"

/* The largest header we read: 100 MB, as the reference implementation. */
#define ST_MAX_HEADER 100000000u

/* A loaded file.  Tensors are CPU float32 or int32, in the order of their names
** (strcmp); the metadata pairs are in the order of their keys. */
typedef struct st_file {
  int n;                   /* number of tensors */
  char **names;            /* n names */
  nn_tensor **tensors;     /* n tensors, one reference each (st_free drops it) */
  int n_meta;              /* number of metadata pairs (0 without __metadata__) */
  char **meta_keys;        /* n_meta keys */
  char **meta_values;      /* n_meta values */
} st_file;

/* Write n tensors under their names, and the metadata, to `path`, atomically:
** the bytes go to a temporary file "<dir>/.<base>.tmp.<pid>.XXXXXX" in the
** same directory (<pid>: the writer's process id), which is flushed,
** fsynced, closed and renamed over `path`; then the directory is fsynced, so
** the rename itself is on disk.  A crash or a kill at any moment leaves
** either the old file or the new one at `path` (and perhaps the temporary
** file beside it: an orphan).  After a save succeeds, the orphans of earlier
** saves to the same file are removed: those whose <pid> is no live process
** (kill(pid, 0) fails with ESRCH); those of live writers stay.  The new file
** keeps the mode of the file it replaces, or gets 0666 & ~umask.
**   What it replaces: nothing, or a regular file.  A symbolic link is
** followed to the regular file it leads to, and that file is replaced (the
** temporary file goes beside it), so the link stays a link, as editors do.
** Anything else at `path` -- a directory, a FIFO, a device, a socket, a
** dangling link or a link to such a file -- is refused (NN_EIO, saying what
** it is) before anything is written.
**   names      n distinct non-empty strings, none "__metadata__"; written in
**              strcmp order, so the same tensors give the same bytes
**   tensors    n tensors, any device (CUDA ones are copied to the host)
**   metadata_json  NULL (no __metadata__) or the text of a JSON object whose
**              values are strings
** Errors: NN_EARG (a bad name or metadata; nothing is written), NN_EIO (the
** path and strerror: nothing at `path` changed, the temporary file is
** removed), NN_ENOMEM, NN_ECUDA. */
int st_save (const char *path, int n, const char *const *names, nn_tensor *const *tensors,
             const char *metadata_json);

/* Read a whole file into *out (NULL on error; free with st_free).  Every
** field of the header is checked against the format above and against the
** file's length before anything is allocated for the tensors.
** Errors: NN_EIO (cannot open or read), NN_EFORMAT ("<path>: <reason>",
** naming the tensor where there is one), NN_ENOMEM.  Nothing leaks. */
int st_load (st_file **out, const char *path);
/* The same from a buffer of len bytes (the fuzz target's entry); messages
** name the file "<memory>". */
int st_load_mem (st_file **out, const unsigned char *buf, size_t len);
void st_free (st_file *f);                  /* NULL is fine */

#endif
