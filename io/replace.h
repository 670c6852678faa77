/* io/replace.h -- writing a file so that it is whole or not there: how
** nnlua's writers replace a file (safetensors checkpoints, PGM and PNG
** images, ONNX models). */
#ifndef NN_IO_REPLACE_H
#define NN_IO_REPLACE_H

#include <stdio.h>

/* Writes the file's bytes to fp.  Returns NN_OK; or NN_EIO with the errno
** of a failed stdio call in *saved_errno (io_replace_file words it); or
** any error code with its message already set by nn_seterr. */
typedef int (*io_writer) (FILE *fp, void *ctx, int *saved_errno);

/* Replace the file at path by what write(fp, ctx) writes, atomically:
**   - the file replaced is path itself when nothing or a regular file is
**     there, or the regular file a symbolic link leads to (the link stays);
**     a directory, FIFO, device, socket or dangling link is refused before
**     anything is written;
**   - the bytes go to a new temporary file ".<base>.tmp.<pid>.XXXXXX"
**     beside it (mkstemp: never an existing file, never through a link),
**     with the old file's mode (else 0666 & ~umask), fsynced, renamed over
**     it, and the directory fsynced; on any failure the temporary file is
**     removed and nothing at path changed;
**   - temporary files of earlier writers that died are removed.
** Errors: NN_EIO ("<path>: <what>: <strerror>"), or the writer's own. */
int io_replace_file (const char *path, io_writer write, void *ctx);

#endif
