/* batchnorm.c -- STUB, to be written: BatchNorm1d. */
#include "nn.h"
int batchnorm1d_new (nn_module **out, int64_t num_features, float eps, float momentum,
                     int affine) {
  (void)num_features; (void)eps; (void)momentum; (void)affine;
  *out = NULL; return nn_seterr(NN_EARG, "BatchNorm1d: not yet");
}
