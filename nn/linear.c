/*
** linear.c -- the fully connected layer (Linear, or Dense in Keras), and
** the weight initialisers.
*/
#include <math.h>
#include <stdio.h>

#include "nn.h"

/* state[ONES]: a (B) vector of 1s, for the bias gradient;
** state[GRAD_PRE]: dL/dz at the pre-activation z, when an activation is fused */
enum { ONES, GRAD_PRE };

/*
** Linear (Dense):  y = x W^T + b
**
** Shapes   x: (B, in)   W: (out, in)   b: (out)   y: (B, out)     B = batch size
**   W is stored (out, in), as in PyTorch and Torch7: row j holds the weights
**   into output unit j.  (Keras stores the transpose, (in, out).)
**
** Forward  y_{bj} = \sum_i x_{bi} W_{ji} + b_j
**
** Backward, given g = dL/dy, shape (B, out):
**   Jacobian  \partial y_{bj} / \partial x_{ci} = \delta_{bc} W_{ji}
**     (block-diagonal: one copy of W per example).  We never build it; we apply
**     its transpose to g (a vector-Jacobian product):
**   dL/dx_{bi} = \sum_j g_{bj} W_{ji}      =>  dx = g W       (B, in)
**   dL/dW_{ji} = \sum_b g_{bj} x_{bi}      =>  dW = g^T x     (out, in)
**   dL/db_j    = \sum_b g_{bj}             =>  db = 1^T g     (out)
**   The sums over b are there because W and b are shared by every example
**   of the batch: each example adds its own share to their gradients.
**
** Convention: grad_input is overwritten (or, with NN_BACKWARD_NO_GRAD_INPUT,
** not computed); grad_weight and grad_bias accumulate (+=), or with
** NN_BACKWARD_OVERWRITE_GRADS are overwritten (GEMM beta 0 in place of 1).
** cblas_sgemm, row-major:   y   = x W^T : NoTrans, Trans    M=B    N=out  K=in
**                           dW += g^T x : Trans,   NoTrans  M=out  N=in   K=B   beta=1
**                           dx  = g W   : NoTrans, NoTrans  M=B    N=in   K=out
**                           db += 1^T g : (1,B) @ (B,out)   M=1    N=out  K=B   beta=1
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.5.
**
** Fused activation (Keras's Dense(..., activation = 'relu')):  y = f(z),
** z = x W^T + b.  f runs in place on the output, so z itself is not kept;
** each f here has a derivative that the output alone gives (activation.c,
** softmax.c): backward first turns g = dL/dy into dL/dz = f'(z)^T g, into
** state[GRAD_PRE], then goes on as above with dL/dz in place of g.
*/
static int apply_activation (nn_module *m) {
  switch (m->activation) {
    case NN_ACT_NONE: return NN_OK;
    case NN_ACT_RELU: return tensor_unary(m->output, m->output, NN_RELU, 0.0f, 0.0f);
    case NN_ACT_SIGMOID: return tensor_unary(m->output, m->output, NN_SIGMOID, 0.0f, 0.0f);
    case NN_ACT_TANH: return tensor_unary(m->output, m->output, NN_TANH, 0.0f, 0.0f);
    case NN_ACT_SOFTMAX: return softmax_rows(m->output, m->output, 0);
    case NN_ACT_LOG_SOFTMAX: return softmax_rows(m->output, m->output, 1);
    default: return nn_seterr(NN_EARG, "Linear: unknown activation %d", (int)m->activation);
  }
}

/* dL/dz from g = dL/dy and the output y = f(z), into state[GRAD_PRE].
** relu'(z) = [z > 0] = [y > 0], so relu's backward can read y in place of z. */
static int activation_grad (nn_module *m, const nn_tensor *g, const nn_tensor **gz) {
  nn_tensor *dz = m->state[GRAD_PRE];
  const nn_tensor *y = m->output;
  int rc = resize_as(dz, y);
  if (rc != NN_OK) return rc;
  *gz = dz;
  switch (m->activation) {
    case NN_ACT_RELU: return tensor_unary_backward(dz, g, y, NN_RELU, 0.0f);
    case NN_ACT_SIGMOID: return tensor_unary_backward(dz, g, y, NN_SIGMOID, 0.0f);
    case NN_ACT_TANH: return tensor_unary_backward(dz, g, y, NN_TANH, 0.0f);
    case NN_ACT_SOFTMAX: return softmax_rows_backward(dz, g, y, 0);
    case NN_ACT_LOG_SOFTMAX: return softmax_rows_backward(dz, g, y, 1);
    default: *gz = g; return NN_OK;
  }
}

static int linear_forward (nn_module *m, const nn_tensor *x) {
  const nn_tensor *w = m->weight;
  int64_t in = w->shape[1], out_features = w->shape[0];
  if (x->ndim != 2 || x->shape[1] != in)
    return nn_seterr(NN_ESHAPE, "Linear(%lld -> %lld): expected input [B x %lld], got %s",
                     (long long)in, (long long)out_features, (long long)in, shape_str(x).s);
  int64_t shape[2] = { x->shape[0], out_features };
  int rc = tensor_resize(m->output, 2, shape);
  /* y = x W^T, then + b on every row */
  if (rc == NN_OK) rc = tensor_matmul(m->output, x, w, 0, 1, 1.0f, 0.0f);
  if (rc == NN_OK && m->bias != NULL) rc = tensor_binary(m->output, m->output, m->bias, NN_ADD);
  if (rc == NN_OK) rc = apply_activation(m);
  return rc;
}

static int linear_backward (nn_module *m, const nn_tensor *g) {
  const nn_tensor *x = m->input;
  int rc = NN_OK;
  /* through the fused activation first: g becomes dL/dz */
  if (m->activation != NN_ACT_NONE && !(m->backward_flags & NN_BACKWARD_PRE_ACTIVATION))
    rc = activation_grad(m, g, &g);
  /* dx = g W, unless nobody reads it (the first layer) */
  if (!(m->backward_flags & NN_BACKWARD_NO_GRAD_INPUT)) {
    if (rc == NN_OK) rc = resize_as(m->grad_input, x);
    if (rc == NN_OK) rc = tensor_matmul(m->grad_input, g, m->weight, 0, 0, 1.0f, 0.0f);
  }
  /* dW += g^T x (or = g^T x when the step's zero_grad is fused in: beta 0) */
  float beta = (m->backward_flags & NN_BACKWARD_OVERWRITE_GRADS) ? 0.0f : 1.0f;
  if (rc == NN_OK) rc = tensor_matmul(m->grad_weight, g, x, 1, 0, 1.0f, beta);
  if (rc != NN_OK || m->bias == NULL) return rc;
  /* db += 1^T g: sum g over the batch, as a (1,B) @ (B,out) product */
  nn_tensor *ones = m->state[ONES], row, gb;
  if (ones->numel != g->shape[0]) {
    int64_t shape[1] = { g->shape[0] };
    if ((rc = tensor_resize(ones, 1, shape)) != NN_OK) return rc;
    if ((rc = tensor_fill(ones, 1.0f)) != NN_OK) return rc;
  }
  /* the same memory seen as 2-D matrices, on the stack: no allocation */
  row = *ones;
  row.ndim = 2; row.shape[0] = 1; row.shape[1] = g->shape[0];
  gb = *m->grad_bias;
  gb.ndim = 2; gb.shape[0] = 1; gb.shape[1] = m->grad_bias->numel;
  return tensor_matmul(&gb, &row, g, 0, 0, 1.0f, beta);
}

static void linear_describe (const nn_module *m, char *buf, size_t len) {
  snprintf(buf, len, "%lld -> %lld%s%s%s", (long long)m->weight->shape[1],
           (long long)m->weight->shape[0], m->bias ? "" : ", no bias",
           m->activation ? ", " : "", m->activation ? activation_name(m->activation) : "");
}

static const nn_module_type linear_type = {
  .name = "Linear", .forward = linear_forward, .backward = linear_backward,
  .overwrites_grads = 1,
  .state_names = { "ones", "grad_pre_activation" }, .describe = linear_describe
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

int linear_new (nn_module **out, int64_t in_features, int64_t out_features, int with_bias,
                nn_init init) {
  return linear_act_new(out, in_features, out_features, with_bias, init, NN_ACT_NONE);
}

int linear_act_new (nn_module **out, int64_t in_features, int64_t out_features, int with_bias,
                    nn_init init, nn_activation act) {
  nn_module *m;
  *out = NULL;
  if (in_features < 1 || out_features < 1)
    return nn_seterr(NN_EARG, "Linear: sizes must be positive, got in_features=%lld, "
                     "out_features=%lld", (long long)in_features, (long long)out_features);
  int rc = module_alloc(&m, &linear_type);
  if (rc != NN_OK) return rc;
  int64_t wshape[2] = { out_features, in_features }, bshape[1] = { out_features }, zero = 0;
  rc = module_new_param(&m->weight, 2, wshape, 0.0f);
  if (rc == NN_OK) rc = module_new_param(&m->grad_weight, 2, wshape, 0.0f);
  if (rc == NN_OK && with_bias) rc = module_new_param(&m->bias, 1, bshape, 0.0f);
  if (rc == NN_OK && with_bias) rc = module_new_param(&m->grad_bias, 1, bshape, 0.0f);
  if (rc == NN_OK) rc = tensor_new(&m->state[ONES], tensor_default_device(), 1, &zero);
  if (rc == NN_OK) rc = tensor_new(&m->state[GRAD_PRE], tensor_default_device(), 1, &zero);
  if (rc == NN_OK && (act < NN_ACT_NONE || act >= NN_ACT_COUNT))
    rc = nn_seterr(NN_EARG, "Linear: unknown activation %d", (int)act);
  m->activation = act;
  if (rc == NN_OK) rc = init_weight(m->weight, init);
  if (rc != NN_OK) { module_free(m); return rc; }
  *out = m;
  return NN_OK;
}
