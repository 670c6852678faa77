/*
** nn.h -- layers and losses: a forward and a backward pass, by hand.
**
** A plain C library on top of tensor.h (no lua.h): a C program could build
** and train a network with it.  Each layer lives in its own file (linear.c,
** activation.c, softmax.c, dropout.c, batchnorm.c, reshape.c) and each loss
** family in loss_*.c, and above every forward/backward pair sits the
** derivation of its gradient: shapes, forward formula, Jacobian or
** chain-rule step, final formula, and where it comes from.
**
** A layer (nn_module) owns its buffers.  Every pass writes into them and
** they are reused while the shape stays the same, so a steady training loop
** allocates nothing:
**   output       y = f(x), written by forward
**   grad_input   dL/dx, written (overwritten) by backward
**   grad_weight, grad_bias   dL/dW, dL/db, ACCUMULATED (+=) by backward
**                until module_zero_grad(), as in PyTorch and Torch7, so that
**                gradients of several batches can be summed
** The tensor structs themselves never change for the life of the layer (a
** resize swaps the storage under them), so the Lua side can hold
** `layer.output` once and see every later pass through it.
**
** Conventions: tensors are (batch, features) row-major; a layer's input is
** kept (retained) by forward, because backward needs it; grad_out must have
** the output's shape.  Errors come back as NN_* codes with nn_errmsg(), and
** the message names the layer: "Linear(3 -> 2): expected input [B x 3], got
** [4x5]".
*/
#ifndef NN_NN_H
#define NN_NN_H

#include "tensor.h"

#define NN_MAXSTATE 4    /* extra tensors a layer keeps (running_mean, mask, ...) */
#define NN_MAXHYPER 3    /* numbers that configure it (p, eps, momentum, ...) */

typedef struct nn_module nn_module;

/* An activation fused into a layer (Keras's Dense(..., activation='relu')):
** applied to the layer's own output in place, so no second buffer and no
** second layer.  The element-wise ones take their derivative from the
** output y: relu'(x) = [y > 0], sigmoid' = y (1 - y), tanh' = 1 - y^2. */
typedef enum nn_activation {
  NN_ACT_NONE, NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_SOFTMAX, NN_ACT_LOG_SOFTMAX,
  NN_ACT_COUNT
} nn_activation;
/* "relu", ...; "linear" for NN_ACT_NONE (Keras's name for no activation) */
const char *activation_name (nn_activation a);

/* What makes a Linear a Linear: its passes, and the names under which the
** Lua side shows its extra tensors and numbers. */
typedef struct nn_module_type {
  const char *name;                                          /* "Linear" */
  /* y = f(x) into m->output.  x is already retained in m->input. */
  int (*forward) (nn_module *m, const nn_tensor *x);
  /* grad_in = (dy/dx)^T grad_out into m->grad_input; parameter gradients
  ** += their share.  grad_out has the output's shape (checked before). */
  int (*backward) (nn_module *m, const nn_tensor *grad_out);
  /* m->state[i] is shown as state_names[i]; hyper[i] as hyper_names[i] */
  const char *state_names[NN_MAXSTATE];
  const char *hyper_names[NN_MAXHYPER];
  /* Optional: the sizes shown in the description, "3 -> 2" for Linear(3 -> 2);
  ** NULL shows the name and the hyper numbers, "Dropout(p=0.5)". */
  void (*describe) (const nn_module *m, char *buf, size_t len);
  /* 1: backward honours NN_BACKWARD_OVERWRITE_GRADS itself (else
  ** module_backward_ex zeroes the gradients first) */
  int overwrites_grads;
} nn_module_type;

struct nn_module {
  const nn_module_type *type;
  int training;                   /* 1: training mode (Dropout, BatchNorm) */
  nn_tensor *input;               /* x of the last forward, retained; NULL before */
  nn_tensor *output;              /* y */
  nn_tensor *grad_input;          /* dL/dx */
  nn_tensor *weight, *bias;       /* NULL where the layer has none */
  nn_tensor *grad_weight, *grad_bias;
  nn_tensor *state[NN_MAXSTATE];  /* per layer: see its type's state_names */
  float hyper[NN_MAXHYPER];       /* per layer: see its type's hyper_names */
  nn_activation activation;       /* a fused activation after the layer (Linear) */
  int backward_flags;             /* NN_BACKWARD_*, set only inside module_backward_ex */
};

/* --- every layer ------------------------------------------------------------ */

/* y = m(x): keeps x for backward, then runs the layer's forward.  The result
** is m->output.  Errors: NN_ESHAPE (naming the layer and both shapes),
** NN_EDEVICE, NN_ENOMEM. */
int module_forward (nn_module *m, nn_tensor *x);
/* dL/dx from dL/dy, into m->grad_input; parameter gradients accumulate.
** Errors: NN_EARG (no forward yet), NN_ESHAPE (grad_out is not the
** output's shape), NN_EDEVICE. */
int module_backward (nn_module *m, const nn_tensor *grad_out);
/* module_backward with flags (or-ed):
**   NN_BACKWARD_PRE_ACTIVATION  grad_out is dL/dz at the pre-activation z of
**     the layer's fused activation, whose backward is skipped: the entry for
**     the fused Softmax + cross-entropy gradient, dL/dz = (p - y) / B
**     (NN_EARG if the layer has no activation)
**   NN_BACKWARD_NO_GRAD_INPUT  only the parameter gradients: grad_input is
**     left as it was (the first layer of a network, whose dL/dx nobody
**     reads: for Linear, one GEMM of three saved)
**   NN_BACKWARD_OVERWRITE_GRADS  the parameter gradients are set, not
**     accumulated: module_zero_grad and this backward in one pass (a
**     training step's; for Linear, GEMMs with beta 0 and no fill)
** Errors: those of module_backward. */
enum { NN_BACKWARD_PRE_ACTIVATION = 1, NN_BACKWARD_NO_GRAD_INPUT = 2,
       NN_BACKWARD_OVERWRITE_GRADS = 4 };
int module_backward_ex (nn_module *m, const nn_tensor *grad_out, int flags);
/* grad_weight = grad_bias = 0 */
int module_zero_grad (nn_module *m);
/* Move the layer to `dev` (layer:to('cuda')): parameters, gradients,
** state (running statistics, masks) and the output and grad_input buffers,
** each in place (tensor_move), so the Lua side's layer.weight follows.  The
** kept input is dropped.  A forward does the same for whatever the layer
** holds besides parameters, so a ReLU or a Dropout follows its input by
** itself; a layer with parameters on another device than x is an error.
** Errors: those of tensor_move (the layer may then be half moved: move it
** again). */
int module_to (nn_module *m, nn_device dev);
/* 1: training mode; 0: evaluation mode */
void module_set_training (nn_module *m, int training);
/* "Linear(3 -> 2)", "Dropout(p=0.5)": what __tostring shows. */
void module_describe (const nn_module *m, char *buf, size_t len);
void module_free (nn_module *m);                 /* NULL is fine */

/* For the layer files: a zeroed module of `type` with empty output and
** grad_input tensors on the CPU, in training mode. */
int module_alloc (nn_module **out, const nn_module_type *type);
/* A new tensor of `ndim` sizes, filled with 0: a parameter or its gradient. */
int module_new_param (nn_tensor **out, int ndim, const int64_t *shape, float value);
/* Give t the shape of `like` (reusing its storage when it fits). */
int resize_as (nn_tensor *t, const nn_tensor *like);

/* --- the layers -----------------------------------------------------------------
** Each constructor returns NN_OK and the layer in *out, or an error code
** (NN_EARG for a bad size or value, NN_ENOMEM) with *out NULL. */

/* How Linear's weight starts.  fan_in = in_features, fan_out = out_features.
**   GLOROT_UNIFORM  U(-a, a), a = sqrt(6 / (fan_in + fan_out))   Glorot & Bengio (2010)
**   GLOROT_NORMAL   N(0, s^2), s = sqrt(2 / (fan_in + fan_out))  idem
**   HE_UNIFORM      U(-a, a), a = sqrt(6 / fan_in)              He et al. (2015)
**   HE_NORMAL       N(0, s^2), s = sqrt(2 / fan_in)             idem
** The bias starts at 0.  Keras's Dense uses GLOROT_UNIFORM; He suits ReLU. */
typedef enum nn_init {
  NN_INIT_GLOROT_UNIFORM, NN_INIT_GLOROT_NORMAL, NN_INIT_HE_UNIFORM, NN_INIT_HE_NORMAL
} nn_init;

/* y = x W^T + b.  x: (B, in), W: (out, in), b: (out), y: (B, out). */
int linear_new (nn_module **out, int64_t in_features, int64_t out_features, int with_bias,
                nn_init init);
/* The same, with a fused activation: y = act(x W^T + b). */
int linear_act_new (nn_module **out, int64_t in_features, int64_t out_features, int with_bias,
                    nn_init init, nn_activation act);
/* Fill a Linear-shaped weight w (out, in) by the given scheme (seeded by
** nn_manual_seed).  Errors: NN_EARG. */
int init_weight (nn_tensor *w, nn_init init);

/* Element-wise activations, any shape. */
int relu_new (nn_module **out);
int leaky_relu_new (nn_module **out, float negative_slope);
int sigmoid_new (nn_module **out);
int tanh_new (nn_module **out);

/* Along the last dim of x (..., C): each row becomes probabilities
** (Softmax) or their logarithms (LogSoftmax). */
int softmax_new (nn_module **out);
int log_softmax_new (nn_module **out);
/* The row functions of those two layers, for a layer that fuses them:
** y = softmax(x) (log = 0) or log_softmax(x) (log = 1) along the last dim,
** and dx = the backward from g and the saved y.  y may be x, dx may be g;
** out tensors are preallocated with x's shape, on x's device (NN_EDEVICE
** otherwise). */
int softmax_rows (nn_tensor *y, const nn_tensor *x, int log);
int softmax_rows_backward (nn_tensor *dx, const nn_tensor *g, const nn_tensor *y, int log);

/* Zeroes each element with probability p in training, scales the rest by
** 1/(1-p); identity in evaluation.  0 <= p <= 1. */
int dropout_new (nn_module **out, float p);

/* Normalises each feature over the batch.  x: (B, C). */
int batchnorm1d_new (nn_module **out, int64_t num_features, float eps, float momentum,
                     int affine);

/* (B, d1, d2, ...) -> (B, d1*d2*...), a view. */
int flatten_new (nn_module **out);
/* y = x */
int identity_new (nn_module **out);


#include "criterion.h"   /* losses, their fused gradients, and metrics */

#endif
