/*
** fuzz_idx.c -- libFuzzer target for the IDX reader (io/idx.c).
**
**   make fuzz                   build with clang -fsanitize=fuzzer,address,undefined
**                               and run FUZZ_SECONDS from fuzz/corpus/idx/
**
** Each input goes through both entry points: idx_load_mem, and idx_load on
** a memory-backed file (memfd) holding the same bytes, which takes zlib's
** path: a plain file passed through, or a gzip stream (the seeds include
** one) inflated.  Any input must come back as NN_OK or an error code, never
** a crash, a read past the input, a leak or undefined behaviour; and
**   - on NN_OK the tensor is exactly what the header promised: the input is
**     the header plus numel elements of the type, to the byte;
**   - a plain input gets the same answer from both paths (the same code,
**     and on NN_OK the same floats).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "idx.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void check_promise (const nn_tensor *t, const uint8_t *data, size_t size) {
  static const unsigned char bytes[16] = { [0x08] = 1, [0x09] = 1, [0x0B] = 2, [0x0C] = 4,
                                           [0x0D] = 4, [0x0E] = 8 };
  if (t == NULL || size < 4 || t->ndim != data[3] || t->storage->device != NN_CPU) abort();
  size_t want = 4 + 4 * (size_t)t->ndim + (size_t)t->numel * bytes[data[2] & 15];
  if (want != size) abort();
}

/* idx_load on a memfd holding the input; made once, rewritten per input */
static int load_through_file (nn_tensor **out, const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz_idx", MFD_CLOEXEC);
    if (fd < 0) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0) abort();
  if (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size) abort();
  return idx_load(out, path);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  nn_tensor *m = NULL, *f = NULL;
  int rc_mem = idx_load_mem(&m, data, size);
  if (rc_mem != NN_OK && (m != NULL || nn_errmsg()[0] == '\0')) abort();
  int rc_file = load_through_file(&f, data, size);
  if (rc_file != NN_OK && (f != NULL || nn_errmsg()[0] == '\0')) abort();
  if (rc_mem == NN_OK) check_promise(m, data, size);
  int gzipped = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!gzipped) {
    if (rc_mem != rc_file) abort();
    if (rc_mem == NN_OK && (m->numel != f->numel ||
        memcmp(tensor_data(m), tensor_data(f), (size_t)m->numel * sizeof(float)) != 0))
      abort();
  }
  /* read every element of f, so ASan sees any that was not allocated */
  volatile float sink = 0.0f;
  for (int64_t i = 0; f != NULL && i < f->numel; i++) sink += tensor_data(f)[i] * 0.0f;
  (void)sink;
  tensor_release(m);
  tensor_release(f);
  return 0;
}
