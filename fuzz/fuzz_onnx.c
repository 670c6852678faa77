/*
** fuzz_onnx.c -- libFuzzer target for the ONNX reader (io/onnx.c).
**
** Feeds arbitrary bytes to what nn.onnx.read and nn.onnx.read_tensor run in
** C: protobuf-c's generated decoder of ModelProto (and of TensorProto), then
** the checks of io/onnx.c and the conversion of every tensor in the model --
** initializers and TENSOR attributes -- to an nnlua tensor.  Under
** AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer any crash,
** out-of-bounds read, overflow or leak is a bug; and since a tensor is
** allocated only after its dims are checked against the bytes present, no
** input of at most 64 KB (make fuzz's -max_len) may allocate more than a
** small multiple of that.  A model that decodes is encoded again (the
** writer's packing), then freed.
**   make fuzz                        (seeds: fuzz/corpus/onnx/)
**   build-fuzz/fuzz_onnx -max_total_time=60 fuzz/corpus/onnx
*/
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void convert (const Onnx__TensorProto *t) {
  int64_t numel;
  if (onnx_tensor_check(&numel, t, "<fuzz>") != NN_OK) return;
  if (t->data_type == ONNX_INT64) {
    volatile uint64_t sum = 0;   /* unsigned: wraps, no UB */
    for (int64_t i = 0; i < numel; i++) sum += (uint64_t)onnx_tensor_int64(t, i);
    return;
  }
  nn_tensor *x = NULL;
  if (onnx_tensor_to_nn(&x, t, "<fuzz>") == NN_OK) tensor_release(x);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  Onnx__ModelProto *m = NULL;
  if (onnx_model_unpack(&m, data, size, "<fuzz>") == NN_OK) {
    const Onnx__GraphProto *g = m->graph;
    if (g != NULL) {
      for (size_t i = 0; i < g->n_initializer; i++) convert(g->initializer[i]);
      for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_attribute; k++)
          if (g->node[i]->attribute[k]->t != NULL) convert(g->node[i]->attribute[k]->t);
    }
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf != NULL) {
      onnx__model_proto__pack(m, buf);
      free(buf);
    }
    onnx_model_free(m);
  }
  Onnx__TensorProto *t = NULL;
  if (onnx_tensor_unpack(&t, data, size, "<fuzz>") == NN_OK) {
    convert(t);
    onnx_tensor_free(t);
  }
  return 0;
}
