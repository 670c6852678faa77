/*
** batchnorm.c -- BatchNorm1d (Ioffe & Szegedy, "Batch Normalization:
** accelerating deep network training by reducing internal covariate shift",
** ICML 2015), as PyTorch's nn.BatchNorm1d on a (B, C) input.
**
** Only 2-D input (B, C) is taken here: PyTorch's BatchNorm1d also takes
** (B, C, L), which this layer refuses with NN_ESHAPE (flatten the L into B
** first, or wait for a BatchNorm over more dims).
*/
#include <math.h>
#include <stdio.h>

#include "nn.h"

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

/*
** BatchNorm1d:  y = \gamma \hat{x} + \beta,   \hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}
**
** Shapes   x, y, g = dL/dy: (B, C)   \gamma, \beta, \mu, \sigma^2: (C)    B = batch size
**   Every feature (column) c is normalised on its own, over the B examples
**   of the batch; below, the index c is left out: all sums run over the batch.
**
** Forward, training (statistics of this batch):
**   \mu      = (1/B) \sum_b x_b
**   \sigma^2 = (1/B) \sum_b (x_b - \mu)^2              biased: divides by B
**   r        = 1 / \sqrt{\sigma^2 + \epsilon}          ("invstd", saved for backward)
**   \hat{x}_b = (x_b - \mu) r,     y_b = \gamma \hat{x}_b + \beta
**   and the running estimates move towards the batch's (momentum m):
**   running_mean = (1 - m) running_mean + m \mu
**   running_var  = (1 - m) running_var  + m \sigma^2 B / (B - 1)     unbiased
**   (the unbiased variance here but the biased one in \hat{x}: PyTorch's
**   choice, which we follow exactly).  Sums are accumulated in double.
** Forward, evaluation: the same with \mu = running_mean, \sigma^2 = running_var.
**
** Backward, evaluation: \mu and r are constants, y_b = \gamma r (x_b - \mu) + \beta,
**   a diagonal Jacobian:
**   dL/dx_b = g_b \gamma r
**
** Backward, training: \mu and \sigma^2 are functions of every x_b of the
**   batch, so x_b reaches L along three paths: directly through its own
**   \hat{x}_b, through \mu (which every \hat{x}_k uses), and through \sigma^2
**   (idem).  The chain rule sums the three:
**   dL/d\hat{x}_b = \gamma g_b
**   dL/d\sigma^2  = \sum_k dL/d\hat{x}_k (x_k - \mu) (-1/2) r^3
**   dL/d\mu       = \sum_k dL/d\hat{x}_k (-r)  +  dL/d\sigma^2 (-2/B) \sum_k (x_k - \mu)
**                 = -r \sum_k dL/d\hat{x}_k      (the last sum is 0: \mu is the mean)
**   dL/dx_b = dL/d\hat{x}_b r  +  dL/d\sigma^2 2 (x_b - \mu) / B  +  dL/d\mu / B
**   Substituting, with x_k - \mu = \hat{x}_k / r, everything has a factor \gamma r / B:
**   dL/dx_b = (\gamma r / B) (B g_b - \sum_k g_k - \hat{x}_b \sum_k g_k \hat{x}_k)
**             direct path      via \mu      via \sigma^2
**   The two subtractions remove from g its mean and its component along
**   \hat{x}: a shift or a stretch of the batch's x does not change \hat{x},
**   so it cannot change L.
**
** Parameters (either mode; \gamma and \beta are shared by the batch, so sum):
**   dL/d\gamma = \sum_b g_b \hat{x}_b          dL/d\beta = \sum_b g_b
**
** Conventions: grad_input is overwritten; grad_weight (\gamma) and grad_bias
** (\beta) accumulate (+=).  With affine = false there is no \gamma, \beta
** (\gamma = 1, \beta = 0, no parameters).  Backward uses the statistics of
** the forward that made the output (hyper[FWD]): a layer switched to
** evaluation between forward and backward still gets the training formula.
**
** Batch size 1 in training: \sigma^2 = 0, \hat{x} = 0, and the unbiased
** variance divides by B - 1 = 0.  PyTorch refuses it ("Expected more than 1
** value per channel when training"), and so do we, with NN_EARG.  In
** evaluation a batch of 1 is fine.  B = 0 gives an empty output and, as in
** PyTorch, leaves the running estimates alone.
**
** CPU loops, one feature at a time (the CUDA kernel comes with the GPU
** backend).  Source: Ioffe & Szegedy (2015), sec. 3, Algorithm 1 and the
** chain rule below it; the simplified dx as in cs231n's "batchnorm_backward_alt"
** and Kevin Zakka, "Deriving the Gradient for the Backward Pass of Batch
** Normalization" (2016).
*/
static int batchnorm_forward (nn_module *m, const nn_tensor *x) {
  int64_t C = m->state[RUNNING_MEAN]->numel;
  int rc = module_need_cpu(m, x);
  m->hyper[FWD] = FWD_NONE;            /* until this forward has succeeded */
  if (rc != NN_OK) return rc;
  if (x->ndim != 2 || x->shape[1] != C)
    return nn_seterr(NN_ESHAPE, "BatchNorm1d(%lld): expected input [B x %lld], got %s",
                     (long long)C, (long long)C, shape_str(x).s);
  int64_t B = x->shape[0];
  if (m->training && B == 1)
    return nn_seterr(NN_EARG, "BatchNorm1d: expected more than 1 value per channel when "
                     "training, got input %s", shape_str(x).s);
  if ((rc = resize_as(m->output, x)) != NN_OK) return rc;

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

  m->hyper[FWD] = batch ? FWD_BATCH : FWD_RUNNING;
  if (B == 0) return NN_OK;            /* empty batch: nothing to normalise or learn */
  for (int64_t c = 0; c < C; c++) {
    double mean, var;
    if (batch) {
      /* mean over the batch, then the biased variance around it (two passes) */
      double s = 0.0, ss = 0.0;
      for (int64_t b = 0; b < B; b++) s += xp[b * C + c];
      mean = s / (double)B;
      for (int64_t b = 0; b < B; b++) {
        double d = xp[b * C + c] - mean;
        ss += d * d;
      }
      var = ss / (double)B;
      /* running estimates: the unbiased variance, B / (B - 1) */
      rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * mean);
      rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * var * (double)B / (double)(B - 1));
    } else {
      mean = rmean[c];
      var = rvar[c];
    }
    double invstd = 1.0 / sqrt(var + eps);
    smean[c] = (float)mean;
    sinvstd[c] = (float)invstd;
    /* y = gamma xhat + beta; (x - mean) first, so no large terms cancel */
    double gam = gamma ? gamma[c] : 1.0, bet = beta ? beta[c] : 0.0;
    for (int64_t b = 0; b < B; b++)
      y[b * C + c] = (float)(gam * ((xp[b * C + c] - mean) * invstd) + bet);
  }
  return NN_OK;
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
  for (int64_t c = 0; c < C; c++) {
    double mean = smean[c], invstd = sinvstd[c];
    double gam = gamma ? gamma[c] : 1.0;
    /* sum g and sum g xhat over the batch: db and dgamma, and dx's two sums */
    double sg = 0.0, sgx = 0.0;
    for (int64_t b = 0; b < B; b++) {
      double gb = gp[b * C + c];
      sg += gb;
      sgx += gb * (xp[b * C + c] - mean) * invstd;
    }
    if (dgamma) dgamma[c] += (float)sgx;
    if (dbeta) dbeta[c] += (float)sg;
    if (batch) {
      /* dx = (gamma invstd / B) (B g - sum g - xhat sum(g xhat)) */
      double k = gam * invstd / (double)B;
      for (int64_t b = 0; b < B; b++) {
        double xhat = (xp[b * C + c] - mean) * invstd;
        dx[b * C + c] = (float)(k * ((double)B * gp[b * C + c] - sg - xhat * sgx));
      }
    } else {
      /* dx = g gamma invstd: the statistics are constants */
      double k = gam * invstd;
      for (int64_t b = 0; b < B; b++) dx[b * C + c] = (float)(k * gp[b * C + c]);
    }
  }
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
