/*
** linear.c -- the fully connected layer (Linear, or Dense in Keras): its
** pure pair linear_forward / linear_backward, the module that owns its
** buffers, and the weight initialisers.
*/
#include <math.h>
#include <stdio.h>

#include "nn.h"
#include "linear.h"

static int check_devices (const nn_tensor *a, const nn_tensor *b, int role) {
  if (b != NULL && a->storage->device != b->storage->device)
    return nn_seterr_arg(NN_EDEVICE, role, "linear: tensors on %s and %s",
                         device_name(a->storage->device), device_name(b->storage->device));
  return NN_OK;
}

/* y (rows, n) = f(y + b) in place, b: (n) or NULL.  The switch on f is
** outside the loops (one loop per f), so each loop vectorises. */
static inline void bias_act_loop (float *y, const float *b, int64_t rows, int64_t n, int act) {
  for (int64_t r = 0; r < rows; r++) {
    float *yr = y + r * n;
    if (b != NULL) for (int64_t j = 0; j < n; j++) yr[j] = nn_bias_act(yr[j], b[j], act);
    else for (int64_t j = 0; j < n; j++) yr[j] = nn_bias_act(yr[j], 0.0f, act);
  }
}

static int bias_act (nn_tensor *y, const nn_tensor *bias, nn_activation act) {
  int64_t rows = y->shape[0], n = y->shape[1];
  const float *b = bias ? tensor_data(bias) : NULL;
  int ew = act == NN_ACT_RELU || act == NN_ACT_SIGMOID || act == NN_ACT_TANH ? (int)act : 0;
  if (rows * n == 0 || (b == NULL && ew == 0)) return NN_OK;
  if (y->storage->device == NN_CUDA) return nncuda_bias_act(tensor_data(y), b, rows, n, ew);
  float *yp = tensor_data(y);
  switch (ew) {
    case NN_ACT_RELU: bias_act_loop(yp, b, rows, n, NN_ACT_RELU); break;
    case NN_ACT_SIGMOID: bias_act_loop(yp, b, rows, n, NN_ACT_SIGMOID); break;
    case NN_ACT_TANH: bias_act_loop(yp, b, rows, n, NN_ACT_TANH); break;
    default: bias_act_loop(yp, b, rows, n, NN_ACT_NONE); break;
  }
  return NN_OK;
}

/* (6) db = beta db + 1^T g: a pass over g's rows, in order */
static int bias_grad (nn_tensor *db, const nn_tensor *g, float beta) {
  int64_t rows = g->shape[0], n = g->shape[1];
  if (n == 0) return NN_OK;
  if (g->storage->device == NN_CUDA)
    return nncuda_sum_rows(tensor_data(db), tensor_data(g), rows, n, beta);
  float *d = tensor_data(db);
  const float *gp = tensor_data(g);
  for (int64_t j = 0; j < n; j++) d[j] = beta == 0.0f ? 0.0f : beta * d[j];
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < n; j++) d[j] += gp[r * n + j];
  return NN_OK;
}

/*
** Linear (Dense):  y = f(x W^T + b)
**
** Shapes   x: (B, in)   W: (out, in)   b: (out)   z, y: (B, out)     B = batch size
**   W is stored (out, in), as in PyTorch and Torch7: row j holds the weights
**   into output unit j.  (Keras stores the transpose, (in, out).)
**
** Forward
**   z_{bj} = \sum_i x_{bi} W_{ji} + b_j                                  \tag{1}
**   y_{bj} = f(z)_{bj}       f: the fused activation, or none (y = z)    \tag{2}
**
** Backward, given g = dL/dy, shape (B, out):
**   Through the activation first (activation.c, softmax.c: each f here has
**   a derivative that the output y alone gives):
**   dL/dz = f'(z)^T g                      relu: g [y > 0]; sigmoid: g y (1 - y) ...  \tag{3}
**   Then, with g standing for dL/dz:
**   Jacobian  \partial z_{bj} / \partial x_{ci} = \delta_{bc} W_{ji}
**     (block-diagonal: one copy of W per example).  We never build it; we apply
**     its transpose to g (a vector-Jacobian product):
**   dL/dx_{bi} = \sum_j g_{bj} W_{ji}      =>  dx = g W       (B, in)    \tag{4}
**   dL/dW_{ji} = \sum_b g_{bj} x_{bi}      =>  dW = g^T x     (out, in)  \tag{5}
**   dL/db_j    = \sum_b g_{bj}             =>  db = 1^T g     (out)      \tag{6}
**   The sums over b are there because W and b are shared by every example
**   of the batch: each example adds its own share to their gradients.
**
** Convention (llm.c): dx is overwritten; dW and db are first scaled by beta
** and then get their share: beta 1 accumulates (+=, as PyTorch and Torch7
** until zero_grad), beta 0 sets them (a training step's zero_grad fused in).
** cblas_sgemm, row-major:   z   = x W^T : NoTrans, Trans    M=B    N=out  K=in
**                           dW  = g^T x : Trans,   NoTrans  M=out  N=in   K=B   (+ beta dW)
**                           dx  = g W   : NoTrans, NoTrans  M=B    N=in   K=out
** (1)'s "+ b" and (2) run in one pass over z after the GEMM (nn_bias_act,
** linear.h), and (6) is one pass over g: neither is worth a GEMM.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.5.
*/
int linear_forward (nn_tensor *y, const nn_tensor *x, const nn_tensor *weight,
                    const nn_tensor *bias, nn_activation act) {
  int64_t out = weight->ndim == 2 ? weight->shape[0] : -1;
  int64_t in = weight->ndim == 2 ? weight->shape[1] : -1;
  int rc = weight->ndim == 2 ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1,
                               "linear: weight must be 2-D (out, in), got %s",
                               shape_str(weight).s);
  if (rc == NN_OK && (x->ndim != 2 || x->shape[1] != in))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "linear: x %s does not fit weight %s: "
                       "expected [B x %lld]", shape_str(x).s, shape_str(weight).s, (long long)in);
  if (rc == NN_OK && bias != NULL && (bias->ndim != 1 || bias->shape[0] != out))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 2, "linear: bias must be [%lld], got %s",
                       (long long)out, shape_str(bias).s);
  if (rc == NN_OK && (y->ndim != 2 || y->shape[0] != x->shape[0] || y->shape[1] != out))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "linear: y must be [%lldx%lld], got %s",
                       (long long)x->shape[0], (long long)out, shape_str(y).s);
  if (rc == NN_OK) rc = check_devices(x, weight, NN_ROLE_INPUT + 1);
  if (rc == NN_OK) rc = check_devices(x, bias, NN_ROLE_INPUT + 2);
  if (rc == NN_OK) rc = check_devices(x, y, NN_ROLE_OUT);
  if (rc == NN_OK && (act < NN_ACT_NONE || act >= NN_ACT_COUNT))
    rc = nn_seterr(NN_EARG, "linear: unknown activation %d", (int)act);
  if (rc != NN_OK) return rc;
  /* (1) z = x W^T, then + b and (2) f in one pass over z */
  rc = tensor_matmul(y, x, weight, 0, 1, 1.0f, 0.0f);                      /* (1) */
  if (rc == NN_OK) rc = bias_act(y, bias, act);                            /* (1), (2) */
  if (rc == NN_OK && (act == NN_ACT_SOFTMAX || act == NN_ACT_LOG_SOFTMAX))
    rc = softmax_forward(y, y, act == NN_ACT_LOG_SOFTMAX);                 /* (2) */
  return rc;
}

int linear_backward (nn_tensor *grad_x, nn_tensor *grad_weight, nn_tensor *grad_bias,
                     const nn_tensor *grad_y, const nn_tensor *x, const nn_tensor *weight,
                     float beta) {
  int rc = weight->ndim == 2 ? NN_OK : nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 2,
                               "linear: weight must be 2-D (out, in), got %s",
                               shape_str(weight).s);
  int64_t out = rc == NN_OK ? weight->shape[0] : 0, in = rc == NN_OK ? weight->shape[1] : 0;
  if (rc == NN_OK && (x->ndim != 2 || x->shape[1] != in))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "linear: x must be [B x %lld], got %s",
                       (long long)in, shape_str(x).s);
  if (rc == NN_OK && (grad_y->ndim != 2 || grad_y->shape[0] != x->shape[0]
                      || grad_y->shape[1] != out))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_GRAD_OUT, "linear: grad_y must be [%lldx%lld], "
                       "got %s", (long long)x->shape[0], (long long)out, shape_str(grad_y).s);
  if (rc == NN_OK && grad_bias != NULL && grad_bias->numel != out)
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "linear: grad_bias must be [%lld], got %s",
                       (long long)out, shape_str(grad_bias).s);
  if (rc == NN_OK) rc = check_devices(x, grad_y, NN_ROLE_GRAD_OUT);
  if (rc == NN_OK) rc = check_devices(x, weight, NN_ROLE_INPUT + 2);
  if (rc == NN_OK) rc = check_devices(x, grad_bias, NN_ROLE_OUT);
  if (rc != NN_OK) return rc;
  /* (4) dx = g W, unless nobody reads it (the first layer) */
  if (grad_x != NULL) rc = tensor_matmul(grad_x, grad_y, weight, 0, 0, 1.0f, 0.0f);  /* (4) */
  /* (5) dW = g^T x + beta dW (beta 0: the step's zero_grad fused in) */
  if (rc == NN_OK) rc = tensor_matmul(grad_weight, grad_y, x, 1, 0, 1.0f, beta);     /* (5) */
  /* (6) db = 1^T g + beta db: sum g over the batch */
  if (rc == NN_OK && grad_bias != NULL) rc = bias_grad(grad_bias, grad_y, beta);    /* (6) */
  return rc;
}


/* --- the module ---------------------------------------------------------------- */

enum { WEIGHT, BIAS };                         /* m->param[] */
enum { GRAD_PRE };                             /* m->buffer[]: dL/dz, (3) */
enum { IN_FEATURES, OUT_FEATURES, HAS_BIAS, INIT, ACTIVATION };   /* m->opt[] */
/* m->state: 1 when the last forward applied the activation */

static int linear_init (nn_module *m) {
  int64_t in = (int64_t)m->opt[IN_FEATURES], out = (int64_t)m->opt[OUT_FEATURES], zero = 0;
  int64_t wshape[2] = { out, in }, bshape[1] = { out };
  int rc = module_new_param(m, WEIGHT, 2, wshape, 0.0f);
  if (rc == NN_OK && m->opt[HAS_BIAS] != 0) rc = module_new_param(m, BIAS, 1, bshape, 0.0f);
  if (rc == NN_OK) rc = module_new_buffer(m, GRAD_PRE, 1, &zero, 0.0f);
  /* xavier_* = glorot_*, kaiming_* = he_*: the choices' second half */
  if (rc == NN_OK) rc = init_weight(m->param[WEIGHT], (nn_init)((int)m->opt[INIT] % 4));
  return rc;
}

static int linear_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)n;
  int64_t fin = (int64_t)m->opt[IN_FEATURES], fout = (int64_t)m->opt[OUT_FEATURES];
  if (in[0].ndim != 2 || in[0].d[1] != fin) {
    nn_tensor t = { .ndim = in[0].ndim };
    for (int i = 0; i < in[0].ndim; i++) t.shape[i] = in[0].d[i];
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "Linear(%lld -> %lld): expected input "
                         "[B x %lld], got %s", (long long)fin, (long long)fout, (long long)fin,
                         shape_str(&t).s);
  }
  out->ndim = 2;
  out->d[0] = in[0].d[0];
  out->d[1] = fout;
  return NN_OK;
}

static int linear_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n;
  nn_activation act = (flags & NN_FORWARD_NO_ACTIVATION) ? NN_ACT_NONE
                                                         : (nn_activation)m->opt[ACTIVATION];
  m->state = act != NN_ACT_NONE;
  return linear_forward(m->output, x[0], m->param[WEIGHT], m->param[BIAS], act);
}

static int linear_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  int rc = NN_OK;
  if (m->state) {            /* (3): g becomes dL/dz, from g and the output y */
    nn_tensor *dz = m->buffer[GRAD_PRE];
    rc = resize_as(dz, m->output);
    if (rc == NN_OK) rc = activation_backward(dz, g, m->output, (nn_activation)m->opt[ACTIVATION]);
    g = dz;
  }
  if (rc != NN_OK) return rc;
  float beta = (flags & NN_BACKWARD_OVERWRITE_GRADS) ? 0.0f : 1.0f;
  return linear_backward((flags & NN_BACKWARD_NO_GRAD_INPUT) ? NULL : m->grad_input[0],
                         m->grad[WEIGHT], m->grad[BIAS], g, m->input[0], m->param[WEIGHT], beta);
}

/* a fused softmax makes the output a distribution */
static nn_gives linear_gives (const nn_module *m) {
  nn_activation act = (nn_activation)m->opt[ACTIVATION];
  return act == NN_ACT_SOFTMAX ? NN_GIVES_PROBABILITIES
       : act == NN_ACT_LOG_SOFTMAX ? NN_GIVES_LOG_PROBABILITIES : NN_GIVES_VALUES;
}

static void linear_describe (const nn_module *m, char *buf, size_t len) {
  nn_activation act = (nn_activation)m->opt[ACTIVATION];
  snprintf(buf, len, "%lld -> %lld%s%s%s", (long long)m->opt[IN_FEATURES],
           (long long)m->opt[OUT_FEATURES], m->param[BIAS] ? "" : ", no bias",
           act ? ", " : "", act ? activation_name(act) : "");
}

static const char *const init_names[] = {
  "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
  "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", NULL
};

const nn_module_type linear_type = {
  .name = "Linear", .doc = "y = f(x W^T + b): x (B, in) -> y (B, out), W (out, in), b (out)",
  .min_inputs = 1, .max_inputs = 1,
  .params = { "weight", "bias" }, .buffers = { "grad_pre_activation" },
  .options = {
    { .name = "in_features", .kind = NN_OPT_INT, .positional = 1, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .doc = "input size" },
    { .name = "out_features", .kind = NN_OPT_INT, .positional = 2, .required = 1, .min = 1,
      .max = NN_OPT_SIZE_MAX, .doc = "output size" },
    { .name = "bias", .kind = NN_OPT_BOOL, .dflt = 1, .doc = "learn an additive bias b" },
    { .name = "init", .kind = NN_OPT_CHOICE, .dflt = NN_INIT_GLOROT_UNIFORM,
      .choices = init_names,
      .doc = "how W starts (b starts at 0); seeded by nn.manual_seed" },
    { .name = "activation", .kind = NN_OPT_CHOICE, .dflt = NN_ACT_NONE,
      .choices = nn_activation_names, .doc = "an activation fused into the layer's pass" },
  },
  .init = linear_init, .output_shape = linear_output_shape,
  .forward = linear_module_forward, .backward = linear_module_backward,
  .describe = linear_describe, .gives = linear_gives
};

/*
** Initialisers.  The aim (Glorot & Bengio, "Understanding the difficulty of
** training deep feedforward neural networks", AISTATS 2010): keep the
** variance of the activations, and of the gradients, the same from layer to
** layer.  For y = W x with W_{ji} of variance s^2 and n inputs of unit
** variance, Var(y_j) = n s^2; forward wants s^2 = 1 / fan_in, backward
** 1 / fan_out, and Glorot's compromise is s^2 = 2 / (fan_in + fan_out).
** ReLU zeroes half of its inputs, halving the variance, so He et al.
** ("Delving deep into rectifiers", ICCV 2015) double it: s^2 = 2 / fan_in.
** A uniform U(-a, a) has variance a^2 / 3, so a = sqrt(3 s^2).
*/
int init_weight (nn_tensor *w, nn_init init) {
  if (w->ndim != 2) return nn_seterr(NN_EARG, "init_weight: expected a 2-D weight, got %s",
                                     shape_str(w).s);
  double fan_out = (double)w->shape[0], fan_in = (double)w->shape[1];
  double var;
  switch (init) {
    case NN_INIT_GLOROT_UNIFORM: case NN_INIT_GLOROT_NORMAL:
      var = 2.0 / (fan_in + fan_out); break;
    case NN_INIT_HE_UNIFORM: case NN_INIT_HE_NORMAL:
      var = 2.0 / fan_in; break;
    default:
      return nn_seterr(NN_EARG, "init_weight: unknown scheme %d", (int)init);
  }
  if (init == NN_INIT_GLOROT_UNIFORM || init == NN_INIT_HE_UNIFORM) {
    float a = (float)sqrt(3.0 * var);
    return tensor_uniform(w, -a, a);
  }
  return tensor_normal(w, 0.0f, (float)sqrt(var));
}
