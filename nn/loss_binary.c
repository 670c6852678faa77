/* loss_binary.c -- STUB, to be written: BCELoss, BCEWithLogitsLoss. */
#include "nn.h"
int bce_loss_new (nn_criterion **out, nn_redop reduction) { (void)reduction; *out = NULL; return nn_seterr(NN_EARG, "not yet"); }
int bce_with_logits_loss_new (nn_criterion **out, nn_redop reduction) { (void)reduction; *out = NULL; return nn_seterr(NN_EARG, "not yet"); }
