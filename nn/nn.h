/*
** nn.h -- layers and losses: a forward and a backward pass, by hand.
**
** A plain C library on top of tensor.h (no lua.h): a C program could build
** and train a network with it.  Each layer lives in its own file (linear.c,
** activation.c, softmax.c, dropout.c, batchnorm.c, reshape.c, join.c), and
** above every forward/backward pair sits the derivation of its gradient:
** shapes, forward formula, Jacobian or chain-rule step, final formula, and
** where it comes from, with numbered equations.  The losses are in
** criterion.h.
**
** Each layer's math is a pure pair (linear_forward, linear_backward ...:
** see "the pure pairs" below); a layer (nn_module) owns its buffers and
** calls its pair.  Every pass writes into the buffers and
** they are reused while the shape stays the same, so a steady training loop
** allocates nothing:
**   output       y = f(x), written by forward
**   grad_input   dL/dx, one per input, written (overwritten) by backward
**   grad[i]      dL/dparam[i] (grad_weight, grad_bias), ACCUMULATED (+=) by backward
**                until module_zero_grad(), as in PyTorch and Torch7, so that
**                gradients of several batches can be summed
** The tensor structs themselves never change for the life of the layer (a
** resize swaps the storage under them), so the Lua side can hold
** `layer.output` once and see every later pass through it.
**
** Conventions: tensors are (batch, features) row-major; a layer's inputs
** are kept (retained) by forward, because backward needs them, and their
** shapes are recorded: a backward after another layer resized a kept input
** is an error, never a read out of bounds.  grad_out must have the
** output's shape.  Errors come back as NN_* codes with nn_errmsg(), and
** the message names the layer: "Linear(3 -> 2): expected input [B x 3], got
** [4x5]".
*/
#ifndef NN_NN_H
#define NN_NN_H

#include "tensor.h"
#include "criterion.h"   /* losses, their fused gradients, metrics; nn_gives */

#define NN_MAXPARAM  2   /* parameters of one layer: weight, bias */
#define NN_MAXBUFFER 4   /* tensors a layer keeps besides them (running_mean, mask, ...) */
#define NN_MAXOPT   12   /* options that configure it (in_features, p, eps, ...; a pair: 2) */
#define NN_MAXINPUT  8   /* inputs of one forward (Add: 2, Concat: up to 8) */

typedef struct nn_module nn_module;

/* An activation fused into a layer (Keras's Dense(..., activation='relu')):
** applied in the same pass as the bias, so no second buffer and no second
** layer.  The element-wise ones take their derivative from the output y:
** relu'(z) = [y > 0], sigmoid' = y (1 - y), tanh' = 1 - y^2. */
typedef enum nn_activation {
  NN_ACT_NONE, NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_SOFTMAX, NN_ACT_LOG_SOFTMAX,
  NN_ACT_COUNT
} nn_activation;
/* "relu", ...; "linear" for NN_ACT_NONE (Keras's name for no activation) */
const char *activation_name (nn_activation a);
/* the names in nn_activation's order, NULL-ended (an option's choices) */
extern const char *const nn_activation_names[];

/* --- how a layer type describes itself ----------------------------------------
**
** Everything that is said about a layer type is said once, in its
** nn_module_type: its options (with their kinds, defaults and ranges), its
** parameters and buffers by name, how many inputs it takes, the shape it
** gives for a shape it gets, and its passes.  The Lua side builds the
** constructor nn.Linear(...), the fields (l.eps, l.weight), summary(), and
** checkpoints from this description alone: nothing switches on a name. */

/* (nn_option, the description of one option, is in criterion.h: losses
** have options too) */

/* The shape a layer gives for the shapes it gets (batch dim included). */
typedef struct nn_shape { int ndim; int64_t d[NN_MAXDIM]; } nn_shape;

/* what m's output holds */
nn_gives module_gives (const nn_module *m);

typedef struct nn_module_type {
  const char *name;                      /* "Linear" */
  const char *doc;                       /* one line: what it computes, with shapes */
  int min_inputs, max_inputs;            /* 1, 1 for most; Add 2, 2 */
  const char *params[NN_MAXPARAM];       /* m->param[i] is params[i] ("weight") */
  const char *buffers[NN_MAXBUFFER];     /* m->buffer[i] is buffers[i] ("running_mean") */
  int persistent_buffers;                /* the first n buffers are state a checkpoint keeps */
  nn_option options[NN_MAXOPT];          /* m->opt[i] is options[i]; ends at a NULL name */
  /* Optional: what the ranges cannot say (Concat's dim is not 0): NN_EARG
  ** naming the option, or NN_OK. */
  int (*check_options) (const double *opt);
  /* Make the parameters and buffers from m->opt (checked against the
  ** ranges already).  NULL: the layer has none. */
  int (*init) (nn_module *m);
  /* The output's shape for inputs of shapes in[0 .. n-1]: NN_ESHAPE, blaming
  ** the input at fault (NN_ROLE_INPUT + k), when they do not fit.  module_forward
  ** calls it before the pass; summary() calls it with a batch of 1. */
  int (*output_shape) (const nn_module *m, int n, const nn_shape *in, nn_shape *out);
  /* y = f(x[0], ..., x[n-1]) into m->output, already of the shape above.
  ** The inputs are also kept in m->input[]. */
  int (*forward) (nn_module *m, int n, const nn_tensor *const *x, int flags);
  /* dL/dx[k] from dL/dy into m->grad_input[k]; parameter gradients += (or =,
  ** NN_BACKWARD_OVERWRITE_GRADS).  grad_out has the output's shape, and
  ** the kept inputs the shapes they had at forward (both checked before). */
  int (*backward) (nn_module *m, const nn_tensor *grad_out, int flags);
  /* Optional: what the output holds, when it is a distribution a loss may
  ** want the logits of instead (NN_GIVES_PROBABILITIES for Softmax, or a
  ** Dense whose fused activation is softmax); NULL: NN_GIVES_VALUES. */
  nn_gives (*gives) (const nn_module *m);
  /* 1: the output is a view of the input (Flatten, Identity); 0: the layer
  ** writes its own output buffer, so an input that is that very buffer
  ** (l(l(x))) is copied first. */
  int views_input;
  /* Optional: the text inside "Linear(...)"; NULL lists the options. */
  void (*describe) (const nn_module *m, char *buf, size_t len);
} nn_module_type;

/* Every layer type, NULL-ended (module.c): the one list a new layer joins. */
extern const nn_module_type *const nn_module_types[];
/* The type named `name` ("Linear"), or NULL. */
const nn_module_type *module_type_find (const char *name);

struct nn_module {
  const nn_module_type *type;
  int training;                   /* 1: training mode (Dropout, BatchNorm) */
  double opt[NN_MAXOPT];          /* the option values, in the type's order */
  int n_inputs;                   /* of the last forward; 0 before (or after a failed one) */
  nn_tensor *input[NN_MAXINPUT];  /* its inputs, retained for backward */
  nn_shape input_shape[NN_MAXINPUT]; /* their shapes then: backward checks they still hold */
  nn_tensor *output;              /* y */
  nn_tensor *grad_input[NN_MAXINPUT]; /* dL/dx[k], one per possible input */
  nn_tensor *param[NN_MAXPARAM];  /* NULL where the layer has none (no bias) */
  nn_tensor *grad[NN_MAXPARAM];   /* dL/dparam[i] */
  nn_tensor *buffer[NN_MAXBUFFER];
  int state;                      /* what the last forward left for backward (per layer) */
};

/* --- every layer ------------------------------------------------------------ */

/* Flags of a forward and a backward (or-ed):
**   NN_FORWARD_NO_ACTIVATION  leave out the layer's fused activation: the
**     output is the pre-activation z (the logits, for a criterion that takes
**     them: Model's Softmax + cross-entropy); the backward that follows then
**     skips the activation's backward too
**   NN_BACKWARD_NO_GRAD_INPUT  only the parameter gradients: grad_input is
**     left as it was (the first layer of a network, whose dL/dx nobody
**     reads: for Linear, one GEMM of three saved)
**   NN_BACKWARD_OVERWRITE_GRADS  the parameter gradients are set, not
**     accumulated: module_zero_grad and this backward in one pass (a
**     training step's; for Linear, GEMMs with beta 0 and no fill) */
enum { NN_FORWARD_NO_ACTIVATION = 1, NN_BACKWARD_NO_GRAD_INPUT = 2,
       NN_BACKWARD_OVERWRITE_GRADS = 4 };

/* A new layer of `type` with options opt[] (in the type's order; NULL: every
** default).  Errors: NN_EARG naming the option and its range (a required
** option missing, an integer that is not, a value out of range), NN_ENOMEM. */
int module_new (nn_module **out, const nn_module_type *type, const double *opt);
/* NN_OK if v is a valid value of option i of type; else NN_EARG, with a
** message "p must be in [0, 1], got 1.5". */
int module_check_option (const nn_module_type *type, int i, double v);
/* y = m(x[0], ..., x[n-1]): keeps the inputs for backward, then runs the
** layer's forward.  The result is m->output.  Errors: NN_EARG (n out of
** the type's range), NN_ESHAPE (naming the layer and the shapes, blaming
** the input: NN_ROLE_INPUT + k), NN_EDEVICE, NN_ENOMEM. */
int module_forward (nn_module *m, int n, nn_tensor *const *x, int flags);
/* dL/dx[k] from dL/dy, into m->grad_input[k]; parameter gradients
** accumulate (or are set, NN_BACKWARD_OVERWRITE_GRADS).  Errors: NN_EARG
** (no forward yet; a kept input resized since, by another layer or by
** hand), NN_ESHAPE (grad_out is not the output's shape), NN_EDEVICE. */
int module_backward (nn_module *m, const nn_tensor *grad_out, int flags);
/* grad_weight = grad_bias = 0 */
int module_zero_grad (nn_module *m);
/* Move the layer to `dev` (layer:to('cuda')): parameters, gradients,
** buffers and the output and grad_input tensors, each in place
** (tensor_move), so the Lua side's layer.weight follows.  The kept inputs
** are dropped.  A forward does the same for whatever the layer holds
** besides parameters, so a ReLU or a Dropout follows its input by itself; a
** layer with parameters on another device than x is an error.
** Errors: those of tensor_move (the layer may then be half moved: move it
** again). */
int module_to (nn_module *m, nn_device dev);
/* 1: training mode; 0: evaluation mode */
void module_set_training (nn_module *m, int training);
/* "Linear(3 -> 2)", "Dropout(p=0.5)": what __tostring shows. */
void module_describe (const nn_module *m, char *buf, size_t len);
void module_free (nn_module *m);                 /* NULL is fine */
/* The output shape m gives for inputs of shapes in[0 .. n-1] (summary).
** Errors: as module_forward's shape errors. */
int module_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out);

/* For the layer files: a parameter (with its gradient) or a buffer of
** `ndim` sizes on the default device, filled with `value`. */
int module_new_param (nn_module *m, int i, int ndim, const int64_t *shape, float value);
int module_new_buffer (nn_module *m, int i, int ndim, const int64_t *shape, float value);
/* Give t the shape of `like` (reusing its storage when it fits). */
int resize_as (nn_tensor *t, const nn_tensor *like);
/* t's shape as an nn_shape */
nn_shape shape_of (const nn_tensor *t);

/* --- the layer types (one file each) -------------------------------------------- */

extern const nn_module_type linear_type;      /* linear.c */
extern const nn_module_type relu_type, leaky_relu_type, sigmoid_type, tanh_type; /* activation.c */
extern const nn_module_type softmax_type, log_softmax_type;   /* softmax.c */
extern const nn_module_type dropout_type;     /* dropout.c */
extern const nn_module_type batchnorm1d_type, batchnorm2d_type; /* batchnorm.c */
extern const nn_module_type flatten_type, identity_type;      /* reshape.c */
extern const nn_module_type add_type, concat_type;            /* join.c */
extern const nn_module_type conv2d_type;      /* conv.c */
extern const nn_module_type maxpool2d_type, avgpool2d_type, adaptive_avgpool2d_type; /* pool.c */
extern const nn_module_type dropout2d_type;   /* dropout.c */

/* How Linear's weight starts.  fan_in = in_features, fan_out = out_features.
**   GLOROT_UNIFORM  U(-a, a), a = sqrt(6 / (fan_in + fan_out))   Glorot & Bengio (2010)
**   GLOROT_NORMAL   N(0, s^2), s = sqrt(2 / (fan_in + fan_out))  idem
**   HE_UNIFORM      U(-a, a), a = sqrt(6 / fan_in)              He et al. (2015)
**   HE_NORMAL       N(0, s^2), s = sqrt(2 / fan_in)             idem
** The bias starts at 0.  Keras's Dense uses GLOROT_UNIFORM; He suits ReLU. */
typedef enum nn_init {
  NN_INIT_GLOROT_UNIFORM, NN_INIT_GLOROT_NORMAL, NN_INIT_HE_UNIFORM, NN_INIT_HE_NORMAL
} nn_init;
/* Fill a Linear-shaped weight w (out, in) by the given scheme (seeded by
** nn_manual_seed).  Errors: NN_EARG. */
int init_weight (nn_tensor *w, nn_init init);

/* --- the pure pairs ----------------------------------------------------------------
** Each layer's math as two stateless functions, outputs first, in the
** manner of llm.c and THNN: they know nothing of nn_module, and a module
** is a thin owner of buffers that calls them.  Every output is
** preallocated by the caller with the shape given, on the inputs' device
** (NN_ESHAPE / NN_EDEVICE otherwise, blaming NN_ROLE_OUT).  The
** derivation of each sits above it in its file, with numbered equations.
** Convention (llm.c): grad_x is overwritten; parameter gradients are
** scaled by `beta` first (beta 1: +=, beta 0: =) and then get their share. */

/* linear.c.  x: (B, in), weight: (out, in), bias: (out) or NULL, y: (B, out).
** y = act(x W^T + b): the GEMM, then bias and activation in one pass. */
int linear_forward (nn_tensor *y, const nn_tensor *x, const nn_tensor *weight,
                    const nn_tensor *bias, nn_activation act);
/* grad_y: (B, out) = dL/dz at the pre-activation (activation_backward first
** if there is one).  grad_x (B, in) or NULL (not needed: one GEMM saved);
** grad_weight (out, in); grad_bias (out) or NULL. */
int linear_backward (nn_tensor *grad_x, nn_tensor *grad_weight, nn_tensor *grad_bias,
                     const nn_tensor *grad_y, const nn_tensor *x, const nn_tensor *weight,
                     float beta);

/* activation.c.  Element-wise, any shape; y and x of one shape.  p: the
** LeakyReLU slope (ignored by the others).  grad_x = grad_y * f'(.), from
** the output y (relu, sigmoid, tanh, softmax, log_softmax) or the input x
** (leaky_relu: pass x as y).  y may be x, grad_x may be grad_y. */
int activation_forward (nn_tensor *y, const nn_tensor *x, nn_activation act);
int activation_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *y,
                         nn_activation act);
int leaky_relu_forward (nn_tensor *y, const nn_tensor *x, float negative_slope);
int leaky_relu_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *x,
                         float negative_slope);

/* softmax.c.  Along the last dim of x (..., C): each row becomes
** probabilities (log = 0) or their logarithms (log = 1); grad_x from
** grad_y and the saved y.  y may be x, grad_x may be grad_y. */
int softmax_forward (nn_tensor *y, const nn_tensor *x, int log);
int softmax_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *y, int log);

/* dropout.c.  training: draws mask (x's shape) = [u >= p] / (1 - p) with
** u ~ U[0, 1) from the one generator, y = x * mask; evaluation (or p = 0):
** y = x and mask is emptied.  grad_x = grad_y * mask (grad_y when mask is
** empty). */
int dropout_forward (nn_tensor *y, nn_tensor *mask, const nn_tensor *x, float p, int training);
int dropout_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *mask);

/* batchnorm.c.  x, y: (B, C, ...), seen as (B, C, L) with L the product
** of the dims after C (1 for (B, C), H W for (B, C, H, W)); each channel
** is normalised over its B L values.  gamma, beta: (C) or NULL (affine =
** false); running_mean, running_var: (C), moved in training; save_mean,
** save_invstd: (C), written for backward.  training needs B L >= 2.
** backward: batch = 1 if the forward used the batch's statistics. */
int batchnorm_forward (nn_tensor *y, nn_tensor *running_mean, nn_tensor *running_var,
                       nn_tensor *save_mean, nn_tensor *save_invstd, const nn_tensor *x,
                       const nn_tensor *gamma, const nn_tensor *beta, double eps,
                       double momentum, int training);
int batchnorm_backward (nn_tensor *grad_x, nn_tensor *grad_gamma, nn_tensor *grad_beta,
                        const nn_tensor *grad_y, const nn_tensor *x,
                        const nn_tensor *save_mean, const nn_tensor *save_invstd,
                        const nn_tensor *gamma, int batch);

/* join.c.  add: y = a + b, where b has a's shape or is a's trailing dims
** (a row broadcast over the leading dims; or a and b the other way round);
** the backward sums grad_y over the broadcast dims for the smaller one.
** concat: y = [x_0, ..., x_{n-1}] along dim d (0-based), every other dim
** equal; the backward cuts grad_y back into pieces. */
int add_forward (nn_tensor *y, const nn_tensor *a, const nn_tensor *b);
int add_backward (nn_tensor *grad_a, nn_tensor *grad_b, const nn_tensor *grad_y);
int concat_forward (nn_tensor *y, int n, const nn_tensor *const *x, int d);
int concat_backward (nn_tensor *const *grad_x, int n, const nn_tensor *grad_y, int d);

/* conv.c.  Conv2d on NCHW, as PyTorch's: x (B, C, H, W), weight (Cout,
** C/groups, kh, kw), bias (Cout) or NULL, y (B, Cout, Ho, Wo) with
** Ho = floor((H + 2 padding_h - dilation_h (kh - 1) - 1) / stride_h) + 1
** (Wo likewise).  By im2col and GEMMs; cols, mat, grad_cols are scratch
** the pair resizes on x's device (unused on the 1x1 path; the layer keeps
** them as buffers).  backward: grad_x (B, C, H, W) or NULL (not needed);
** grad_weight (Cout, C/groups, kh, kw); grad_bias (Cout) or NULL;
** cols_ready 1: cols still holds the forward's im2col of this x (the GPU
** only: the CPU computes a few images' columns at a time, again in the
** backward). */
typedef struct nn_conv2d_params {
  int64_t stride[2], padding[2], dilation[2];   /* (h, w) each */
  int64_t groups;
} nn_conv2d_params;
/* The shape of conv2d_forward's y, (B, Cout, Ho, Wo), into shape[4]; the
** forward's errors for x, weight and p (NN_ESHAPE, NN_EARG). */
int conv2d_output_shape (int64_t shape[4], const nn_tensor *x, const nn_tensor *weight,
                         const nn_conv2d_params *p);
int conv2d_forward (nn_tensor *y, nn_tensor *cols, nn_tensor *mat, const nn_tensor *x,
                    const nn_tensor *weight, const nn_tensor *bias, const nn_conv2d_params *p);
int conv2d_backward (nn_tensor *grad_x, nn_tensor *grad_weight, nn_tensor *grad_bias,
                     nn_tensor *cols, nn_tensor *mat, nn_tensor *grad_cols,
                     const nn_tensor *grad_y, const nn_tensor *x, const nn_tensor *weight,
                     const nn_conv2d_params *p, int cols_ready, float beta);
/* pool.c.  x, grad_x: (B, C, H, W); y, grad_y: (B, C, H_out, W_out), H_out
** and W_out by the window g (struct nn_pool2d: kernel, stride, padding,
** dilation, ceil_mode, count_include_pad; pool.h) as PyTorch's rules give
** them.  max: indices (int32, on x's device) is resized to y's shape and
** gets each window's argmax, 1-based in its plane (ih W + iw + 1); the
** backward routes g to them.  avg: the dilation of g is ignored (1).
** adaptive: H_out, W_out are y's (grad_y's).  The backwards gather per
** input pixel (no atomics): deterministic on both devices.  Errors:
** NN_ESHAPE (x not [B x C x H x W] with C, H, W >= 1, or too small for the
** window: H_out or W_out < 1, naming the sizes; y, grad_y or indices not
** of the output's shape), NN_EARG (a size < 1, padding < 0 or above
** kernel_size / 2; indices not int32; int32 x), NN_EDEVICE.
** Source: PyTorch 1.13's pooling (aten/src/ATen/native/Pool.h and
** cpu/MaxPoolKernel.cpp, AvgPoolKernel.cpp, AdaptiveAvgPoolKernel.cpp). */
struct nn_pool2d;
int max_pool2d_forward (nn_tensor *y, nn_tensor *indices, const nn_tensor *x,
                        const struct nn_pool2d *g);
int max_pool2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *indices,
                         const struct nn_pool2d *g);
int avg_pool2d_forward (nn_tensor *y, const nn_tensor *x, const struct nn_pool2d *g);
int avg_pool2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const struct nn_pool2d *g);
int adaptive_avg_pool2d_forward (nn_tensor *y, const nn_tensor *x);
int adaptive_avg_pool2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y);

/* dropout.c.  Dropout2d: x, y: (B, C, H, W); in training mask (B, C, 1, 1)
** = [u >= p] / (1 - p), one draw per channel of each example, and y = x *
** mask (whole planes zeroed); evaluation (or p = 0): y = x, mask emptied.
** The backward: grad_x = grad_y * mask (dropout_backward's rule, broadcast
** over H, W).  Errors: NN_EARG (p outside [0, 1]), NN_ESHAPE (x not 4-D;
** y not x's shape; a mask that is not [B x C x 1 x 1] of grad_y's B, C).
** Source: Tompson et al., CVPR 2015; PyTorch 1.13, torch.nn.Dropout2d. */
int dropout2d_forward (nn_tensor *y, nn_tensor *mask, const nn_tensor *x, float p, int training);
int dropout2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *mask);

#endif
