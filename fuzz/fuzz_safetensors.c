/*
** fuzz_safetensors.c -- libFuzzer target for the checkpoint reader.
**
** Feeds arbitrary bytes to st_load_mem, the parser that st_load shares
** (io/safetensors.c), under AddressSanitizer, UndefinedBehaviorSanitizer
** and LeakSanitizer: any crash, out-of-bounds read, overflow or leak on a
** truncated or corrupt file is a bug.  A file that loads is freed again.
**   make fuzz                        (seeds: fuzz/corpus/safetensors/)
**   build-fuzz/fuzz_safetensors -max_total_time=60 fuzz/corpus/safetensors
*/
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  st_file *f = NULL;
  if (st_load_mem(&f, data, size) == NN_OK) st_free(f);
  return 0;
}
