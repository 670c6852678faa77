/*
** activation.c -- element-wise activations: ReLU, LeakyReLU, Sigmoid, Tanh.
**
** All four share one shape of derivation.  y = f(x) element by element, any
** shape, so output unit k depends on input unit k only:
**
**   Jacobian  \partial y_k / \partial x_l = \delta_{kl} f'(x_k)     (diagonal)
**   dL/dx_k = \sum_l g_l \partial y_l / \partial x_k = g_k f'(x_k)
**           =>  dx = g \odot f'(x)        (\odot: element-wise product)
**
** So backward is one element-wise pass.  What differs is f', and whether it
** is cheaper from the input x or from the output y that forward already
** computed.  The per-element formulas live in tensor/elementwise.h (shared
** with the GPU); here each layer says which op it is and what it keeps.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 6.3.
*/
#include "nn.h"

/* y = f(x) with tensor op `op` and parameter p */
static int activation_forward (nn_module *m, const nn_tensor *x, nn_unop op, float p) {
  int rc = resize_as(m->output, x);
  if (rc == NN_OK) rc = tensor_unary(m->output, x, op, p, 0.0f);
  return rc;
}

/* dx = g * f'(saved), saved = x or y */
static int activation_backward (nn_module *m, const nn_tensor *g, const nn_tensor *saved,
                                nn_unop op, float p) {
  int rc = resize_as(m->grad_input, g);
  if (rc == NN_OK) rc = tensor_unary_backward(m->grad_input, g, saved, op, p);
  return rc;
}

/*
** ReLU:  y = max(x, 0)                   (Nair & Hinton, ICML 2010)
**   f'(x) = 1 if x > 0, 0 if x < 0; undefined at 0, where we use 0 (PyTorch).
**   dx = g \odot [x > 0]          kept: x
*/
static int relu_forward (nn_module *m, const nn_tensor *x) {
  return activation_forward(m, x, NN_RELU, 0.0f);
}
static int relu_backward (nn_module *m, const nn_tensor *g) {
  return activation_backward(m, g, m->input, NN_RELU, 0.0f);
}

/*
** LeakyReLU:  y = x if x > 0, a x otherwise, a = negative_slope (0.01)
**   (Maas, Hannun & Ng, ICML 2013 workshop): a small slope for x < 0, so
**   a unit that went negative still gets a gradient.
**   dx = g \odot (x > 0 ? 1 : a)  kept: x
*/
enum { SLOPE };
static int leaky_relu_forward (nn_module *m, const nn_tensor *x) {
  return activation_forward(m, x, NN_LEAKY_RELU, m->hyper[SLOPE]);
}
static int leaky_relu_backward (nn_module *m, const nn_tensor *g) {
  return activation_backward(m, g, m->input, NN_LEAKY_RELU, m->hyper[SLOPE]);
}

/*
** Sigmoid:  y = 1 / (1 + e^{-x})
**   f'(x) = e^{-x} / (1 + e^{-x})^2 = y (1 - y)
**   dx = g \odot y \odot (1 - y)   kept: y (the output)
*/
static int sigmoid_forward (nn_module *m, const nn_tensor *x) {
  return activation_forward(m, x, NN_SIGMOID, 0.0f);
}
static int sigmoid_backward (nn_module *m, const nn_tensor *g) {
  return activation_backward(m, g, m->output, NN_SIGMOID, 0.0f);
}

/*
** Tanh:  y = tanh x = (e^x - e^{-x}) / (e^x + e^{-x})
**   f'(x) = 1 - tanh^2 x = 1 - y^2
**   dx = g \odot (1 - y^2)         kept: y (the output)
*/
static int tanh_forward (nn_module *m, const nn_tensor *x) {
  return activation_forward(m, x, NN_TANH, 0.0f);
}
static int tanh_backward (nn_module *m, const nn_tensor *g) {
  return activation_backward(m, g, m->output, NN_TANH, 0.0f);
}

static const nn_module_type relu_type = {
  .name = "ReLU", .forward = relu_forward, .backward = relu_backward
};
static const nn_module_type leaky_relu_type = {
  .name = "LeakyReLU", .forward = leaky_relu_forward, .backward = leaky_relu_backward,
  .hyper_names = { "negative_slope" }
};
static const nn_module_type sigmoid_type = {
  .name = "Sigmoid", .forward = sigmoid_forward, .backward = sigmoid_backward
};
static const nn_module_type tanh_type = {
  .name = "Tanh", .forward = tanh_forward, .backward = tanh_backward
};

int relu_new (nn_module **out) { return module_alloc(out, &relu_type); }
int sigmoid_new (nn_module **out) { return module_alloc(out, &sigmoid_type); }
int tanh_new (nn_module **out) { return module_alloc(out, &tanh_type); }

int leaky_relu_new (nn_module **out, float negative_slope) {
  *out = NULL;
  if (!(negative_slope == negative_slope))
    return nn_seterr(NN_EARG, "LeakyReLU: negative_slope must be a number, got nan");
  int rc = module_alloc(out, &leaky_relu_type);
  if (rc == NN_OK) (*out)->hyper[SLOPE] = negative_slope;
  return rc;
}
