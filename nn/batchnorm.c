/*
** batchnorm.c -- BatchNorm1d (Ioffe & Szegedy, "Batch Normalization:
** accelerating deep network training by reducing internal covariate shift",
** ICML 2015), as PyTorch's nn.BatchNorm1d on a (B, C) input.
**
** Only 2-D input (B, C) is taken here: PyTorch's BatchNorm1d also takes
** (B, C, L), which this layer refuses with NN_ESHAPE (flatten the L into B
** first, or wait for a BatchNorm over more dims).
**
** The math of one feature (channel), and its derivation, is in batchnorm.h;
** here are the checks, and the loop over the channels (on the CPU) or the
** launch of one CUDA thread per channel.
*/
#include <stdio.h>

#include "nn.h"
#include "batchnorm.h"

/* state[RUNNING_MEAN], state[RUNNING_VAR]: (C), the estimates evaluation
** normalises with.  state[SAVE_MEAN], state[SAVE_INVSTD]: (C), the mean and
** 1/sqrt(var + eps) the last forward normalised with (the batch's in
** training, the running ones in evaluation), kept for backward. */
enum { RUNNING_MEAN, RUNNING_VAR, SAVE_MEAN, SAVE_INVSTD };
/* hyper[EPS], hyper[MOMENTUM]: as PyTorch.  hyper[FWD]: which statistics the
** last forward used (FWD_BATCH, FWD_RUNNING), or FWD_NONE when there was no
** forward or it failed; not named, so the Lua side does not show it. */
enum { EPS, MOMENTUM, FWD };
enum { FWD_NONE, FWD_BATCH, FWD_RUNNING };

static int batchnorm_forward (nn_module *m, const nn_tensor *x) {
  int64_t C = m->state[RUNNING_MEAN]->numel;
  int rc;
  m->hyper[FWD] = FWD_NONE;            /* until this forward has succeeded */
  if (x->ndim != 2 || x->shape[1] != C)
    return nn_seterr(NN_ESHAPE, "BatchNorm1d(%lld): expected input [B x %lld], got %s",
                     (long long)C, (long long)C, shape_str(x).s);
  int64_t B = x->shape[0];
  if (m->training && B == 1)
    return nn_seterr(NN_EARG, "BatchNorm1d: expected more than 1 value per channel when "
                     "training, got input %s", shape_str(x).s);
  if ((rc = resize_as(m->output, x)) != NN_OK) return rc;

  /* module_forward has put the parameters, the statistics and the buffers
  ** on x's device: every pointer below is of that device */
  const float *xp = tensor_data(x);
  float *y = tensor_data(m->output);
  float *rmean = tensor_data(m->state[RUNNING_MEAN]);
  float *rvar = tensor_data(m->state[RUNNING_VAR]);
  float *smean = tensor_data(m->state[SAVE_MEAN]);
  float *sinvstd = tensor_data(m->state[SAVE_INVSTD]);
  const float *gamma = m->weight ? tensor_data(m->weight) : NULL;
  const float *beta = m->bias ? tensor_data(m->bias) : NULL;
  double eps = m->hyper[EPS], mom = m->hyper[MOMENTUM];
  int batch = m->training;

  if (B > 0) {                         /* an empty batch has nothing to normalise or learn */
    if (x->storage->device == NN_CUDA)
      rc = nncuda_batchnorm_forward(y, rmean, rvar, smean, sinvstd, xp, gamma, beta, B, C, eps,
                                    mom, batch);
    else
      for (int64_t c = 0; c < C; c++)
        nn_batchnorm_forward_channel(y, rmean, rvar, smean, sinvstd, xp, gamma, beta, B, C, c,
                                     eps, mom, batch);
  }
  if (rc == NN_OK) m->hyper[FWD] = batch ? FWD_BATCH : FWD_RUNNING;
  return rc;
}

static int batchnorm_backward (nn_module *m, const nn_tensor *g) {
  const nn_tensor *x = m->input;
  int64_t C = m->state[RUNNING_MEAN]->numel;
  if (m->hyper[FWD] == FWD_NONE)
    return nn_seterr(NN_EARG, "BatchNorm1d(%lld): backward needs a successful forward "
                     "first (the last one failed)", (long long)C);
  /* the output (hence g) has the shape of the input the last forward took */
  int64_t B = x->shape[0];
  int rc = resize_as(m->grad_input, x);
  if (rc != NN_OK) return rc;

  const float *xp = tensor_data(x), *gp = tensor_data(g);
  float *dx = tensor_data(m->grad_input);
  const float *smean = tensor_data(m->state[SAVE_MEAN]);
  const float *sinvstd = tensor_data(m->state[SAVE_INVSTD]);
  const float *gamma = m->weight ? tensor_data(m->weight) : NULL;
  float *dgamma = m->grad_weight ? tensor_data(m->grad_weight) : NULL;
  float *dbeta = m->grad_bias ? tensor_data(m->grad_bias) : NULL;
  int batch = m->hyper[FWD] == FWD_BATCH;

  if (B == 0) return NN_OK;            /* empty batch: no gradient to add */
  if (x->storage->device == NN_CUDA)
    return nncuda_batchnorm_backward(dx, dgamma, dbeta, gp, xp, smean, sinvstd, gamma, B, C,
                                     batch);
  for (int64_t c = 0; c < C; c++)
    nn_batchnorm_backward_channel(dx, dgamma, dbeta, gp, xp, smean, sinvstd, gamma, B, C, c,
                                  batch);
  return NN_OK;
}

/* "4, eps=1e-05, momentum=0.1": the describe hook replaces module_describe's
** list of hyper numbers, so they are printed here. */
static void batchnorm_describe (const nn_module *m, char *buf, size_t len) {
  snprintf(buf, len, "%lld, eps=%g, momentum=%g%s", (long long)m->state[RUNNING_MEAN]->numel,
           (double)m->hyper[EPS], (double)m->hyper[MOMENTUM],
           m->weight ? "" : ", affine=false");
}

static const nn_module_type batchnorm1d_type = {
  .name = "BatchNorm1d", .forward = batchnorm_forward, .backward = batchnorm_backward,
  .state_names = { "running_mean", "running_var", "save_mean", "save_invstd" },
  .hyper_names = { "eps", "momentum" },
  .describe = batchnorm_describe
};

int batchnorm1d_new (nn_module **out, int64_t num_features, float eps, float momentum,
                     int affine) {
  nn_module *m;
  *out = NULL;
  if (num_features < 1)
    return nn_seterr(NN_EARG, "BatchNorm1d: num_features must be positive, got %lld",
                     (long long)num_features);
  if (!(eps > 0.0f))
    return nn_seterr(NN_EARG, "BatchNorm1d: eps must be > 0, got %g", (double)eps);
  if (!(momentum >= 0.0f && momentum <= 1.0f))
    return nn_seterr(NN_EARG, "BatchNorm1d: momentum must be in [0, 1], got %g",
                     (double)momentum);
  int rc = module_alloc(&m, &batchnorm1d_type);
  if (rc != NN_OK) return rc;
  int64_t shape[1] = { num_features };
  /* gamma = 1, beta = 0: the layer starts as the plain normalisation */
  if (affine) {
    rc = module_new_param(&m->weight, 1, shape, 1.0f);
    if (rc == NN_OK) rc = module_new_param(&m->grad_weight, 1, shape, 0.0f);
    if (rc == NN_OK) rc = module_new_param(&m->bias, 1, shape, 0.0f);
    if (rc == NN_OK) rc = module_new_param(&m->grad_bias, 1, shape, 0.0f);
  }
  if (rc == NN_OK) rc = module_new_param(&m->state[RUNNING_MEAN], 1, shape, 0.0f);
  if (rc == NN_OK) rc = module_new_param(&m->state[RUNNING_VAR], 1, shape, 1.0f);
  if (rc == NN_OK) rc = module_new_param(&m->state[SAVE_MEAN], 1, shape, 0.0f);
  if (rc == NN_OK) rc = module_new_param(&m->state[SAVE_INVSTD], 1, shape, 0.0f);
  if (rc != NN_OK) { module_free(m); return rc; }
  m->hyper[EPS] = eps;
  m->hyper[MOMENTUM] = momentum;
  m->hyper[FWD] = FWD_NONE;
  *out = m;
  return NN_OK;
}
