/* loss_classification.c -- STUB, to be written: CrossEntropyLoss, NLLLoss, CategoricalCrossentropy. */
#include "nn.h"
int cross_entropy_loss_new (nn_criterion **out, nn_redop reduction) { (void)reduction; *out = NULL; return nn_seterr(NN_EARG, "not yet"); }
int nll_loss_new (nn_criterion **out, nn_redop reduction) { (void)reduction; *out = NULL; return nn_seterr(NN_EARG, "not yet"); }
int categorical_crossentropy_new (nn_criterion **out, nn_redop reduction, float eps) { (void)reduction; (void)eps; *out = NULL; return nn_seterr(NN_EARG, "not yet"); }
