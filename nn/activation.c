/*
** activation.c -- element-wise activations: ReLU, LeakyReLU, Sigmoid, Tanh,
** as pure pairs (activation_forward / activation_backward, and LeakyReLU's
** own pair, whose slope is a number) and the modules that own their buffers.
*/
#include <math.h>

#include "nn.h"

static const nn_unop unops[NN_ACT_COUNT] = {
  [NN_ACT_RELU] = NN_RELU, [NN_ACT_SIGMOID] = NN_SIGMOID, [NN_ACT_TANH] = NN_TANH
};

static int check_act (nn_activation act) {
  if (act < NN_ACT_NONE || act >= NN_ACT_COUNT)
    return nn_seterr(NN_EARG, "activation: unknown activation %d", (int)act);
  return NN_OK;
}

/*
** Activations:  y = f(x), element by element
**
** All four share one shape of derivation.  y = f(x) element by element, any
** shape, so output unit k depends on input unit k only:
**
**   y_k = f(x_k)                                                          \tag{1}
**   Jacobian  \partial y_k / \partial x_l = \delta_{kl} f'(x_k)     (diagonal)
**   dL/dx_k = \sum_l g_l \partial y_l / \partial x_k = g_k f'(x_k)
**           =>  dx = g \odot f'(x)        (\odot: element-wise product)  \tag{2}
**
** So backward is one element-wise pass.  What differs is f', and whether it
** is cheaper from the input x or from the output y that forward already
** computed:
**   ReLU     y = max(x, 0)             (Nair & Hinton, ICML 2010)
**            f'(x) = [x > 0] = [y > 0]; undefined at 0, where we use 0
**            (PyTorch).  dx = g \odot [y > 0]                            \tag{3}
**   LeakyReLU  y = x if x > 0, a x otherwise   (Maas, Hannun & Ng, ICML 2013)
**            f'(x) = 1 if x > 0, a otherwise (a at the kink, as PyTorch);
**            from x, since a may be 0 or negative.  dx = g \odot f'(x)   \tag{4}
**   Sigmoid  y = 1 / (1 + e^{-x}),  f'(x) = y (1 - y)  (from y)
**            dx = g \odot y \odot (1 - y)                                \tag{5}
**   Tanh     y = tanh(x),  f'(x) = 1 - y^2             (from y)
**            dx = g \odot (1 - y^2)                                      \tag{6}
** The per-element formulas live in tensor/elementwise.h (nn_relu_backward,
** ..., shared with the GPU); here each pair says which op it is and what
** it reads.  Softmax and LogSoftmax, row functions, are in softmax.c.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.3.
*/
int activation_forward (nn_tensor *y, const nn_tensor *x, nn_activation act) {
  int rc = check_act(act);
  if (rc != NN_OK) return rc;
  switch (act) {
    case NN_ACT_NONE: return y == x ? NN_OK : tensor_copy(y, x);
    case NN_ACT_SOFTMAX: return softmax_forward(y, x, 0);
    case NN_ACT_LOG_SOFTMAX: return softmax_forward(y, x, 1);
    default: return tensor_unary(y, x, unops[act], 0.0f, 0.0f);           /* (1) */
  }
}

int activation_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *y,
                         nn_activation act) {
  int rc = check_act(act);
  if (rc != NN_OK) return rc;
  switch (act) {
    case NN_ACT_NONE: return grad_x == grad_y ? NN_OK : tensor_copy(grad_x, grad_y);
    case NN_ACT_SOFTMAX: return softmax_backward(grad_x, grad_y, y, 0);
    case NN_ACT_LOG_SOFTMAX: return softmax_backward(grad_x, grad_y, y, 1);
    /* (2) with (3), (5) or (6): f' from the output y */
    default: return tensor_unary_backward(grad_x, grad_y, y, unops[act], 0.0f);
  }
}

int leaky_relu_forward (nn_tensor *y, const nn_tensor *x, float negative_slope) {
  return tensor_unary(y, x, NN_LEAKY_RELU, negative_slope, 0.0f);          /* (1) */
}

int leaky_relu_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *x,
                         float negative_slope) {
  return tensor_unary_backward(grad_x, grad_y, x, NN_LEAKY_RELU, negative_slope);  /* (4) */
}


/* --- the modules ------------------------------------------------------------------
** ReLU, Sigmoid and Tanh differ only in their nn_activation, which the
** type's name gives; the one pair does the rest. */

static nn_activation act_of (const nn_module *m) {
  return m->type == &relu_type ? NN_ACT_RELU
       : m->type == &sigmoid_type ? NN_ACT_SIGMOID : NN_ACT_TANH;
}

static int act_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return activation_forward(m->output, x[0], act_of(m));
}

static int act_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return activation_backward(m->grad_input[0], g, m->output, act_of(m));
}

#define ELEMENTWISE(NAME, DOC)                                            \
  { .name = NAME, .doc = DOC, .min_inputs = 1, .max_inputs = 1,           \
    .forward = act_module_forward, .backward = act_module_backward }

const nn_module_type relu_type = ELEMENTWISE("ReLU", "y = max(x, 0), any shape");
const nn_module_type sigmoid_type = ELEMENTWISE("Sigmoid", "y = 1 / (1 + e^-x), any shape");
const nn_module_type tanh_type = ELEMENTWISE("Tanh", "y = tanh(x), any shape");

enum { SLOPE };                                           /* m->opt[] */

static int leaky_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return leaky_relu_forward(m->output, x[0], (float)m->opt[SLOPE]);
}

static int leaky_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return leaky_relu_backward(m->grad_input[0], g, m->input[0], (float)m->opt[SLOPE]);
}

const nn_module_type leaky_relu_type = {
  .name = "LeakyReLU", .doc = "y = x if x > 0, negative_slope * x otherwise; any shape",
  .min_inputs = 1, .max_inputs = 1,
  .options = {
    { .name = "negative_slope", .kind = NN_OPT_NUMBER, .positional = 1, .dflt = 0.01,
      .min = -HUGE_VAL, .max = HUGE_VAL, .doc = "the slope for x <= 0" },
  },
  .forward = leaky_module_forward, .backward = leaky_module_backward
};
