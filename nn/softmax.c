/* softmax.c -- STUB, to be written: Softmax and LogSoftmax along the last dim. */
#include "nn.h"
int softmax_new (nn_module **out) { *out = NULL; return nn_seterr(NN_EARG, "Softmax: not yet"); }
int log_softmax_new (nn_module **out) { *out = NULL; return nn_seterr(NN_EARG, "LogSoftmax: not yet"); }
