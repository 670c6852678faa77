/*
** batchnorm.c -- BatchNorm1d and BatchNorm2d (Ioffe & Szegedy, "Batch
** Normalization: accelerating deep network training by reducing internal
** covariate shift", ICML 2015), as PyTorch's nn.BatchNorm1d on (B, C) or
** (B, C, L) and nn.BatchNorm2d on (B, C, H, W).
**
** One math for all three: x is seen as (B, C, L), with L = 1 for (B, C),
** L for (B, C, L) and L = H W for (B, C, H, W), and each channel c is
** normalised over its n = B L values.  The two layer types differ only in
** the shapes they take (and their names).
**
** The derivation is above the pair batchnorm_forward / batchnorm_backward;
** the math of one channel, shared with the GPU, is in batchnorm.h; here
** are the checks, and the loop over the channels (on the CPU, OpenMP) or
** the launch of one CUDA thread per channel.
*/
#include <math.h>
#include <stdio.h>

#include "nn.h"
#include "batchnorm.h"

/* The checks every pass makes: t is (C) on x's device */
static int check_channels (const nn_tensor *t, int64_t C, const nn_tensor *x, int role,
                           const char *what) {
  if (t == NULL) return NN_OK;
  if (t->ndim != 1 || t->shape[0] != C)
    return nn_seterr_arg(NN_ESHAPE, role, "batchnorm: %s must be [%lld], got %s", what,
                         (long long)C, shape_str(t).s);
  if (t->storage->device != x->storage->device)
    return nn_seterr_arg(NN_EDEVICE, role, "batchnorm: %s is on %s, x on %s", what,
                         device_name(t->storage->device), device_name(x->storage->device));
  return NN_OK;
}

static const float *data_or_null (const nn_tensor *t) { return t ? tensor_data(t) : NULL; }

/* L: the positions of each channel, the product of x's dims after the
** second (1 for (B, C)) */
static int64_t positions (const nn_tensor *x) {
  int64_t L = 1;
  for (int i = 2; i < x->ndim; i++) L *= x->shape[i];
  return L;
}

static int same_shape (const nn_tensor *a, const nn_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

/* The CPU loop hands the channels to the threads of the one OpenMP team
** as they come free (schedule(dynamic), as nn/optim.c and cpu_gemm.c: a
** thread on a core another process shares takes fewer), in chunks of
** channel_chunk(L): one channel when its runs of L floats are a cache line
** or more, else enough channels that two threads seldom write one line (L
** = 1: 16 adjacent channels, 64 bytes of each row).  Below PARALLEL_MIN
** elements one thread does it all: waking the team costs more than it
** saves.  Each channel is computed by the same function whatever thread
** takes it, so the results do not depend on the number of threads. */
#define PARALLEL_MIN 65536
static int channel_chunk (int64_t L) { return L >= 16 ? 1 : (int)((16 + L - 1) / L); }

/*
** BatchNorm1d, BatchNorm2d:  y = \gamma \hat{x} + \beta,   \hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}
**
** Shapes   x, y, g = dL/dy: (B, C, L)   \gamma, \beta, \mu, \sigma^2: (C)
**   B = batch size; L = 1 for BatchNorm1d on (B, C), L itself for
**   BatchNorm1d on (B, C, L), L = H W for BatchNorm2d on (B, C, H, W) (the
**   same memory: (b, c, h, w) is (b, c, l) with l = h W + w).  Every channel c is normalised on its own, over its
**   n = B L values: the B examples at every position l (a convolution's
**   feature map shares its statistics across the image, as its weights).
**   Below, the index c is left out, and i runs over the n pairs (b, l):
**   all sums are over the batch and the positions.
**
** Forward, training (statistics of this batch):
**   \mu      = (1/n) \sum_i x_i                                            \tag{1}
**   \sigma^2 = (1/n) \sum_i (x_i - \mu)^2              biased: divides by n  \tag{2}
**   r        = 1 / \sqrt{\sigma^2 + \epsilon}          ("invstd", saved for backward)  \tag{3}
**   \hat{x}_i = (x_i - \mu) r,     y_i = \gamma \hat{x}_i + \beta                 \tag{4}
**   and the running estimates move towards the batch's (momentum m):
**   running_mean = (1 - m) running_mean + m \mu
**   running_var  = (1 - m) running_var  + m \sigma^2 n / (n - 1)     unbiased   \tag{5}
**   (the unbiased variance here but the biased one in \hat{x}: PyTorch's
**   choice, which we follow exactly).  Sums are accumulated in double.
** Forward, evaluation: the same with \mu = running_mean, \sigma^2 = running_var.
**
** Backward, evaluation: \mu and r are constants, y_i = \gamma r (x_i - \mu) + \beta,
**   a diagonal Jacobian:
**   dL/dx_i = g_i \gamma r                                                     \tag{6}
**
** Backward, training: \mu and \sigma^2 are functions of every x_i of the
**   channel, so x_i reaches L along three paths: directly through its own
**   \hat{x}_i, through \mu (which every \hat{x}_k uses), and through \sigma^2
**   (idem).  The chain rule sums the three:
**   dL/d\hat{x}_i = \gamma g_i
**   dL/d\sigma^2  = \sum_k dL/d\hat{x}_k (x_k - \mu) (-1/2) r^3
**   dL/d\mu       = \sum_k dL/d\hat{x}_k (-r)  +  dL/d\sigma^2 (-2/n) \sum_k (x_k - \mu)
**                 = -r \sum_k dL/d\hat{x}_k      (the last sum is 0: \mu is the mean)
**   dL/dx_i = dL/d\hat{x}_i r  +  dL/d\sigma^2 2 (x_i - \mu) / n  +  dL/d\mu / n
**   Substituting, with x_k - \mu = \hat{x}_k / r, everything has a factor \gamma r / n:
**   dL/dx_i = (\gamma r / n) (n g_i - \sum_k g_k - \hat{x}_i \sum_k g_k \hat{x}_k)  \tag{7}
**             direct path      via \mu      via \sigma^2
**   The two subtractions remove from g its mean and its component along
**   \hat{x}: a shift or a stretch of the channel's x does not change \hat{x},
**   so it cannot change L.
**
** Parameters (either mode; \gamma and \beta are shared by the n values, so sum):
**   dL/d\gamma = \sum_i g_i \hat{x}_i          dL/d\beta = \sum_i g_i          \tag{8}
**
** Conventions: grad_x is overwritten; grad_gamma (the layer's weight) and
** grad_beta (its bias) accumulate (+=).  With affine = false there is no \gamma, \beta
** (\gamma = 1, \beta = 0, no parameters).  Backward uses the statistics of
** the forward that made the output (batchnorm.c keeps which): a layer
** switched to evaluation between forward and backward still gets the
** training formula.
**
** One value per channel in training (n = 1: a batch of 1 with L = 1, or a
** 1x1 image): \sigma^2 = 0, \hat{x} = 0, and the unbiased variance divides
** by n - 1 = 0.  PyTorch refuses it ("Expected more than 1 value per
** channel when training"), and so do we, with NN_EARG.  A batch of 1 with
** L > 1 is fine (n = L), and in evaluation any n is.  B = 0 gives an empty
** output and, as in PyTorch, leaves the running estimates alone.
**
** One channel is one sequential loop over its n values, so on the CPU the
** channels go to the OpenMP threads, and on the GPU to one thread each:
** for L = 1 thread c reads x[b C + c], and the threads of a warp read
** C-adjacent floats, one coalesced load per b; for L > 1 each thread walks
** its own runs of L floats.  Each channel writes only its own y, dx and
** dgamma[c] (+= included): no atomics, and the sums run in one order on
** both devices and any number of threads.
**
** Source: Ioffe & Szegedy, "Batch Normalization: accelerating deep network
** training by reducing internal covariate shift", ICML 2015, sec. 3,
** Algorithm 1 and the chain rule below it (sec. 3.2 for convolutions: the
** statistics of a feature map over the batch and the positions); the
** simplified dx as in cs231n's "batchnorm_backward_alt" and Kevin Zakka,
** "Deriving the Gradient for the Backward Pass of Batch Normalization" (2016).
*/
int batchnorm_forward (nn_tensor *y, nn_tensor *running_mean, nn_tensor *running_var,
                       nn_tensor *save_mean, nn_tensor *save_invstd, const nn_tensor *x,
                       const nn_tensor *gamma, const nn_tensor *beta, double eps,
                       double momentum, int training) {
  if (x->ndim < 2)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "batchnorm: expected x [B x C x ...], "
                         "got %s", shape_str(x).s);
  int64_t B = x->shape[0], C = x->shape[1], L = positions(x);
  int rc = y->numel == x->numel ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT,
                                 "batchnorm: y %s does not match x %s", shape_str(y).s,
                                 shape_str(x).s);
  if (rc == NN_OK) rc = check_channels(running_mean, C, x, NN_ROLE_OUT, "running_mean");
  if (rc == NN_OK) rc = check_channels(running_var, C, x, NN_ROLE_OUT, "running_var");
  if (rc == NN_OK) rc = check_channels(save_mean, C, x, NN_ROLE_OUT, "save_mean");
  if (rc == NN_OK) rc = check_channels(save_invstd, C, x, NN_ROLE_OUT, "save_invstd");
  if (rc == NN_OK) rc = check_channels(gamma, C, x, NN_ROLE_INPUT + 1, "gamma");
  if (rc == NN_OK) rc = check_channels(beta, C, x, NN_ROLE_INPUT + 2, "beta");
  if (rc != NN_OK) return rc;
  if (training && B * L == 1)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "batchnorm: expected more than 1 value per "
                         "channel when training, got input %s", shape_str(x).s);
  if (x->numel == 0) return NN_OK;     /* an empty batch has nothing to normalise or learn */
  float *yp = tensor_data(y), *rmean = tensor_data(running_mean);
  float *rvar = tensor_data(running_var), *smean = tensor_data(save_mean);
  float *sinvstd = tensor_data(save_invstd);
  const float *xp = tensor_data(x), *g = data_or_null(gamma), *b = data_or_null(beta);
  /* (1)-(5) per channel: nn_batchnorm_forward_channel (batchnorm.h) */
  if (x->storage->device == NN_CUDA)
    return nncuda_batchnorm_forward(yp, rmean, rvar, smean, sinvstd, xp, g, b, B, C, L, eps,
                                    momentum, training);
  #pragma omp parallel for schedule(dynamic, channel_chunk(L)) if (x->numel >= PARALLEL_MIN)
  for (int64_t c = 0; c < C; c++)
    nn_batchnorm_forward_channel(yp, rmean, rvar, smean, sinvstd, xp, g, b, B, C, L, c, eps,
                                 momentum, training);
  return NN_OK;
}

int batchnorm_backward (nn_tensor *grad_x, nn_tensor *grad_gamma, nn_tensor *grad_beta,
                        const nn_tensor *grad_y, const nn_tensor *x,
                        const nn_tensor *save_mean, const nn_tensor *save_invstd,
                        const nn_tensor *gamma, int batch) {
  if (x->ndim < 2)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "batchnorm: expected x [B x C x ...], "
                         "got %s", shape_str(x).s);
  int64_t B = x->shape[0], C = x->shape[1], L = positions(x);
  int rc = NN_OK;
  if (!same_shape(grad_y, x))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_GRAD_OUT, "batchnorm: grad_y %s does not match x %s",
                       shape_str(grad_y).s, shape_str(x).s);
  if (rc == NN_OK && grad_x->numel != x->numel)
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "batchnorm: grad_x %s does not match x %s",
                       shape_str(grad_x).s, shape_str(x).s);
  if (rc == NN_OK && grad_y->storage->device != x->storage->device)
    rc = nn_seterr_arg(NN_EDEVICE, NN_ROLE_GRAD_OUT, "batchnorm: grad_y is on %s, x on %s",
                       device_name(grad_y->storage->device), device_name(x->storage->device));
  if (rc == NN_OK) rc = check_channels(grad_gamma, C, x, NN_ROLE_OUT, "grad_gamma");
  if (rc == NN_OK) rc = check_channels(grad_beta, C, x, NN_ROLE_OUT, "grad_beta");
  if (rc == NN_OK) rc = check_channels(save_mean, C, x, NN_ROLE_INPUT + 2, "save_mean");
  if (rc == NN_OK) rc = check_channels(save_invstd, C, x, NN_ROLE_INPUT + 3, "save_invstd");
  if (rc == NN_OK) rc = check_channels(gamma, C, x, NN_ROLE_INPUT + 4, "gamma");
  if (rc != NN_OK || x->numel == 0) return rc;   /* empty batch: no gradient to add */
  float *dx = tensor_data(grad_x), *dgamma = grad_gamma ? tensor_data(grad_gamma) : NULL;
  float *dbeta = grad_beta ? tensor_data(grad_beta) : NULL;
  const float *xp = tensor_data(x), *gp = tensor_data(grad_y), *g = data_or_null(gamma);
  const float *smean = tensor_data(save_mean), *sinvstd = tensor_data(save_invstd);
  /* (6) or (7), and (8), per channel: nn_batchnorm_backward_channel (batchnorm.h) */
  if (x->storage->device == NN_CUDA)
    return nncuda_batchnorm_backward(dx, dgamma, dbeta, gp, xp, smean, sinvstd, g, B, C, L,
                                     batch);
  #pragma omp parallel for schedule(dynamic, channel_chunk(L)) if (x->numel >= PARALLEL_MIN)
  for (int64_t c = 0; c < C; c++)
    nn_batchnorm_backward_channel(dx, dgamma, dbeta, gp, xp, smean, sinvstd, g, B, C, L, c,
                                  batch);
  return NN_OK;
}


/* --- the module ------------------------------------------------------------------------ */

/* m->buffer[RUNNING_MEAN], [RUNNING_VAR]: (C), the estimates evaluation
** normalises with (persistent: a checkpoint keeps them).  [SAVE_MEAN],
** [SAVE_INVSTD]: (C), the mean and 1/sqrt(var + eps) the last forward
** normalised with (the batch's in training, the running ones in
** evaluation), kept for backward. */
enum { RUNNING_MEAN, RUNNING_VAR, SAVE_MEAN, SAVE_INVSTD };
enum { GAMMA, BETA };                                   /* m->param[] */
enum { NUM_FEATURES, EPS, MOMENTUM, AFFINE };           /* m->opt[] */
/* m->state: which statistics the last forward used, or FWD_NONE when there
** was no forward or it failed */
enum { FWD_NONE, FWD_BATCH, FWD_RUNNING };

static int batchnorm_init (nn_module *m) {
  int64_t shape[1] = { (int64_t)m->opt[NUM_FEATURES] };
  int rc = NN_OK;
  /* gamma = 1, beta = 0: the layer starts as the plain normalisation */
  if (m->opt[AFFINE] != 0) {
    rc = module_new_param(m, GAMMA, 1, shape, 1.0f);
    if (rc == NN_OK) rc = module_new_param(m, BETA, 1, shape, 0.0f);
  }
  if (rc == NN_OK) rc = module_new_buffer(m, RUNNING_MEAN, 1, shape, 0.0f);
  if (rc == NN_OK) rc = module_new_buffer(m, RUNNING_VAR, 1, shape, 1.0f);
  if (rc == NN_OK) rc = module_new_buffer(m, SAVE_MEAN, 1, shape, 0.0f);
  if (rc == NN_OK) rc = module_new_buffer(m, SAVE_INVSTD, 1, shape, 0.0f);
  m->state = FWD_NONE;
  return rc;
}

/* "[2x5x3]": an nn_shape as shape_str shows a tensor's */
static nn_shapestr shape_text_of (const nn_shape *in) {
  nn_tensor t = { .ndim = in->ndim };
  for (int i = 0; i < in->ndim; i++) t.shape[i] = in->d[i];
  return shape_str(&t);
}

/* BatchNorm1d: (B, C) or (B, C, L), as PyTorch's */
static int batchnorm1d_output_shape (const nn_module *m, int n, const nn_shape *in,
                                     nn_shape *out) {
  (void)n;
  int64_t C = (int64_t)m->opt[NUM_FEATURES];
  if ((in[0].ndim != 2 && in[0].ndim != 3) || in[0].d[1] != C)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "BatchNorm1d(%lld): expected input "
                         "[B x %lld] or [B x %lld x L], got %s", (long long)C, (long long)C,
                         (long long)C, shape_text_of(&in[0]).s);
  *out = in[0];
  return NN_OK;
}

/* BatchNorm2d: (B, C, H, W) only */
static int batchnorm2d_output_shape (const nn_module *m, int n, const nn_shape *in,
                                     nn_shape *out) {
  (void)n;
  int64_t C = (int64_t)m->opt[NUM_FEATURES];
  if (in[0].ndim != 4 || in[0].d[1] != C)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "BatchNorm2d(%lld): expected input "
                         "[B x %lld x H x W], got %s", (long long)C, (long long)C,
                         shape_text_of(&in[0]).s);
  *out = in[0];
  return NN_OK;
}

static int batchnorm_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  m->state = FWD_NONE;                 /* until this forward has succeeded */
  /* n = B L = 1 in training (x holds one value per channel): the pair
  ** refuses it too; here the message names the layer */
  if (m->training && x[0]->numel == (int64_t)m->opt[NUM_FEATURES])
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "%s(%lld): expected more than 1 value per "
                         "channel when training, got input %s", m->type->name,
                         (long long)m->opt[NUM_FEATURES], shape_str(x[0]).s);
  int rc = batchnorm_forward(m->output, m->buffer[RUNNING_MEAN], m->buffer[RUNNING_VAR],
                             m->buffer[SAVE_MEAN], m->buffer[SAVE_INVSTD], x[0],
                             m->param[GAMMA], m->param[BETA], m->opt[EPS], m->opt[MOMENTUM],
                             m->training);
  if (rc == NN_OK) m->state = m->training ? FWD_BATCH : FWD_RUNNING;
  return rc;
}

static int batchnorm_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (m->state == FWD_NONE)
    return nn_seterr(NN_EARG, "%s(%lld): backward needs a successful forward first (the "
                     "last one failed)", m->type->name, (long long)m->opt[NUM_FEATURES]);
  /* the channel loop accumulates into dgamma, dbeta: set means zero first */
  int rc = (flags & NN_BACKWARD_OVERWRITE_GRADS) ? module_zero_grad(m) : NN_OK;
  /* NN_BACKWARD_NO_GRAD_INPUT: dx costs nothing beside dgamma's sums; it
  ** is computed all the same, into the layer's own buffer */
  if (rc == NN_OK && (flags & NN_BACKWARD_NO_GRAD_INPUT))
    rc = resize_as(m->grad_input[0], m->input[0]);
  if (rc != NN_OK) return rc;
  return batchnorm_backward(m->grad_input[0], m->grad[GAMMA], m->grad[BETA], g, m->input[0],
                            m->buffer[SAVE_MEAN], m->buffer[SAVE_INVSTD], m->param[GAMMA],
                            m->state == FWD_BATCH);
}

/* "4, eps=1e-05, momentum=0.1" */
static void batchnorm_describe (const nn_module *m, char *buf, size_t len) {
  snprintf(buf, len, "%lld, eps=%g, momentum=%g%s", (long long)m->opt[NUM_FEATURES],
           m->opt[EPS], m->opt[MOMENTUM], m->param[GAMMA] ? "" : ", affine=false");
}

/* The options both types take, in m->opt[]'s order */
#define BATCHNORM_OPTIONS {                                                                  \
    { .name = "num_features", .kind = NN_OPT_INT, .positional = 1, .required = 1, .min = 1,   \
      .max = NN_OPT_SIZE_MAX, .doc = "C, the channels (features)" },                          \
    { .name = "eps", .kind = NN_OPT_NUMBER, .dflt = 1e-5, .min = 0, .max = HUGE_VAL,          \
      .min_excluded = 1, .doc = "added to the variance" },                                    \
    { .name = "momentum", .kind = NN_OPT_NUMBER, .dflt = 0.1, .min = 0, .max = 1,             \
      .doc = "how far the running estimates move towards each batch's" },                     \
    { .name = "affine", .kind = NN_OPT_BOOL, .dflt = 1,                                       \
      .doc = "learn gamma (weight) and beta (bias)" },                                        \
  }

const nn_module_type batchnorm1d_type = {
  .name = "BatchNorm1d", .doc = "normalises each feature of x (B, C) over the batch (or of "
                                "x (B, C, L) over the batch and L), then y = gamma xhat + beta",
  .min_inputs = 1, .max_inputs = 1,
  .params = { "weight", "bias" },
  .buffers = { "running_mean", "running_var", "save_mean", "save_invstd" },
  .persistent_buffers = 2,
  .options = BATCHNORM_OPTIONS,
  .init = batchnorm_init, .output_shape = batchnorm1d_output_shape,
  .forward = batchnorm_module_forward, .backward = batchnorm_module_backward,
  .describe = batchnorm_describe
};

const nn_module_type batchnorm2d_type = {
  .name = "BatchNorm2d", .doc = "normalises each channel of x (B, C, H, W) over the batch and "
                                "the image, then y = gamma xhat + beta",
  .min_inputs = 1, .max_inputs = 1,
  .params = { "weight", "bias" },
  .buffers = { "running_mean", "running_var", "save_mean", "save_invstd" },
  .persistent_buffers = 2,
  .options = BATCHNORM_OPTIONS,
  .init = batchnorm_init, .output_shape = batchnorm2d_output_shape,
  .forward = batchnorm_module_forward, .backward = batchnorm_module_backward,
  .describe = batchnorm_describe
};
