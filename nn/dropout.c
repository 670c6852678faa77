/*
** dropout.c -- Dropout (Srivastava, Hinton, Krizhevsky, Sutskever &
** Salakhutdinov, "Dropout: a simple way to prevent neural networks from
** overfitting", JMLR 15, 2014), in its "inverted" form, and Dropout2d,
** which drops whole channels of a (B, C, H, W) input.
*/
#include "nn.h"

/*
** Dropout, training:
**   m_k = [u_k >= p] / (1 - p),   u_k ~ U[0, 1)                           \tag{1}
**   y = x \odot m                                                         \tag{2}
**
** Shapes   x, m, y: any shape, the same.   p in [0, 1].
**   Each element survives with probability 1 - p.  Dividing the survivors
**   by 1 - p ("inverted" dropout) keeps E[y_k] = x_k, so evaluation needs no
**   rescaling: there y = x.
**
** Backward: m is a constant drawn in forward, so y is linear in x with the
**   diagonal Jacobian  \partial y_k / \partial x_l = \delta_{kl} m_k :
**   dL/dx_k = g_k m_k          =>  dx = g \odot m                        \tag{3}
**   (after an evaluation forward there is no mask: dx = g)
**
** Edge cases, as PyTorch: p = 0 is the identity (and draws nothing); p = 1
** drops everything, y = 0 (the scale 1/(1-p) is then never used).
** The draws come from the framework's Philox generator (nn_manual_seed), so
** a seed fixes the mask, on either device.
*/
int dropout_forward (nn_tensor *y, nn_tensor *mask, const nn_tensor *x, float p, int training) {
  int rc;
  if (!(p >= 0.0f && p <= 1.0f))
    return nn_seterr(NN_EARG, "dropout: p must be in [0, 1], got %g", (double)p);
  if (y->numel != x->numel)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "dropout: y %s does not match x %s",
                         shape_str(y).s, shape_str(x).s);
  if (!training || p == 0.0f) {        /* evaluation: y = x, and no mask */
    int64_t zero = 0;
    if ((rc = tensor_resize(mask, 1, &zero)) != NN_OK) return rc;
    return y == x ? NN_OK : tensor_copy(y, x);
  }
  if ((rc = resize_as(mask, x)) != NN_OK) return rc;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  if ((rc = tensor_uniform(mask, 0.0f, 1.0f)) != NN_OK) return rc;          /* (1) u */
  if ((rc = tensor_unary(mask, mask, NN_STEP, p, scale)) != NN_OK) return rc; /* (1) m */
  return tensor_binary(y, x, mask, NN_MUL);                                 /* (2) */
}

int dropout_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *mask) {
  /* the forward that made the output decides: dx = g m if it drew a mask,
     else dx = g (mode changes in between do not matter) */
  if (mask->numel == 0 && grad_y->numel != 0)
    return grad_x == grad_y ? NN_OK : tensor_copy(grad_x, grad_y);
  if (mask->numel != grad_y->numel)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "dropout: mask %s does not match "
                         "grad_y %s", shape_str(mask).s, shape_str(grad_y).s);
  return tensor_binary(grad_x, grad_y, mask, NN_MUL);                       /* (3) */
}


/* --- the module -------------------------------------------------------------------- */

enum { MASK };   /* m->buffer[MASK]: the mask of the last training forward */
enum { P };      /* m->opt[P]: the probability of dropping an element */

static int dropout_init (nn_module *m) {
  int64_t zero = 0;
  return module_new_buffer(m, MASK, 1, &zero, 0.0f);
}

static int dropout_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return dropout_forward(m->output, m->buffer[MASK], x[0], (float)m->opt[P], m->training);
}

static int dropout_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return dropout_backward(m->grad_input[0], g, m->buffer[MASK]);
}

const nn_module_type dropout_type = {
  .name = "Dropout", .doc = "zeroes each element with probability p in training, scales "
                            "the rest by 1/(1-p); y = x in evaluation",
  .min_inputs = 1, .max_inputs = 1, .buffers = { "mask" },
  .options = {
    { .name = "p", .kind = NN_OPT_NUMBER, .positional = 1, .dflt = 0.5, .min = 0, .max = 1,
      .doc = "the probability of dropping an element" },
  },
  .init = dropout_init,
  .forward = dropout_module_forward, .backward = dropout_module_backward
};


/*
** Dropout2d, training (Tompson, Goroshin, Jain, LeCun & Bregler,
** "Efficient object localization using convolutional networks", CVPR 2015:
** "spatial dropout"):
**   m_{bc} = [u_{bc} >= p] / (1 - p),   u_{bc} ~ U[0, 1)                    \tag{1}
**   y_{bchw} = x_{bchw} m_{bc}                                             \tag{2}
**
** Shapes   x, y: (B, C, H, W)   m: (B, C, 1, 1), one draw per channel of
**   each example, broadcast over the plane.   p in [0, 1].
**   Neighbouring pixels of a convolution's feature map are strongly
**   correlated, so dropping single pixels hardly regularises: their
**   neighbours carry the same signal.  Dropping whole channels does.  As in
**   Dropout, the survivors are scaled by 1 / (1 - p), so E[y] = x and
**   evaluation is the identity.
**
** Backward: m is a constant of the forward; y_{bchw} depends only on
**   x_{bchw}, with the factor m_{bc}:
**   dL/dx_{bchw} = g_{bchw} m_{bc}   =>   dx = g \odot m (broadcast over H, W)   \tag{3}
**   (after an evaluation forward there is no mask: dx = g)
**
** Input: 4-D only.  PyTorch 1.13 takes (C, H, W) too, but reads a 3-D
** input as (N, C, L) and drops 1-D channels (with a warning that this will
** change): here a 3-D or any other rank is an error; add the batch dim
** (x:view(1, C, H, W)).  p = 0 and p = 1 as Dropout.  The draws come from
** the one Philox generator (nn_manual_seed): one per (b, c), in that
** order, so a seed fixes the mask on either device.
*/
int dropout2d_forward (nn_tensor *y, nn_tensor *mask, const nn_tensor *x, float p, int training) {
  int rc;
  if (!(p >= 0.0f && p <= 1.0f))
    return nn_seterr(NN_EARG, "Dropout2d: p must be in [0, 1], got %g", (double)p);
  if (x->ndim != 4)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "Dropout2d: expected input [B x C x H x W], "
                         "got %s%s", shape_str(x).s, x->ndim == 3 ? " (add the batch dim: "
                         "x:view(1, C, H, W))" : "");
  if (y->ndim != 4 || y->numel != x->numel || y->shape[0] != x->shape[0]
      || y->shape[1] != x->shape[1] || y->shape[2] != x->shape[2] || y->shape[3] != x->shape[3])
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "Dropout2d: y %s does not match x %s",
                         shape_str(y).s, shape_str(x).s);
  if (!training || p == 0.0f) {        /* evaluation: y = x, and no mask */
    int64_t zero = 0;
    if ((rc = tensor_resize(mask, 1, &zero)) != NN_OK) return rc;
    return y == x ? NN_OK : tensor_copy(y, x);
  }
  int64_t shape[4] = { x->shape[0], x->shape[1], 1, 1 };
  if ((rc = tensor_resize(mask, 4, shape)) != NN_OK) return rc;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  if ((rc = tensor_uniform(mask, 0.0f, 1.0f)) != NN_OK) return rc;          /* (1) u */
  if ((rc = tensor_unary(mask, mask, NN_STEP, p, scale)) != NN_OK) return rc; /* (1) m */
  return tensor_binary(y, x, mask, NN_MUL);                       /* (2), broadcast over H, W */
}

int dropout2d_backward (nn_tensor *grad_x, const nn_tensor *grad_y, const nn_tensor *mask) {
  if (mask->numel == 0 && grad_y->numel != 0)       /* an evaluation forward: dx = g */
    return grad_x == grad_y ? NN_OK : tensor_copy(grad_x, grad_y);
  if (grad_y->ndim != 4 || mask->ndim != 4 || mask->shape[0] != grad_y->shape[0]
      || mask->shape[1] != grad_y->shape[1] || mask->shape[2] != 1 || mask->shape[3] != 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "Dropout2d: mask %s does not match "
                         "grad_y %s (a mask [B x C x 1 x 1] for grad_y [B x C x H x W])",
                         shape_str(mask).s, shape_str(grad_y).s);
  return tensor_binary(grad_x, grad_y, mask, NN_MUL);                       /* (3) */
}

static int dropout2d_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)m; (void)n;
  if (in[0].ndim != 4) {
    nn_tensor t = { .ndim = in[0].ndim };
    for (int i = 0; i < in[0].ndim; i++) t.shape[i] = in[0].d[i];
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "Dropout2d: expected input [B x C x H x W], "
                         "got %s%s", shape_str(&t).s, in[0].ndim == 3 ? " (add the batch "
                         "dim: x:view(1, C, H, W))" : "");
  }
  *out = in[0];
  return NN_OK;
}

static int dropout2d_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return dropout2d_forward(m->output, m->buffer[MASK], x[0], (float)m->opt[P], m->training);
}

static int dropout2d_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return dropout2d_backward(m->grad_input[0], g, m->buffer[MASK]);
}

const nn_module_type dropout2d_type = {
  .name = "Dropout2d", .doc = "zeroes whole channels of x (B, C, H, W) with probability p in "
                              "training, scales the rest by 1/(1-p); y = x in evaluation",
  .min_inputs = 1, .max_inputs = 1, .buffers = { "mask" },
  .options = {
    { .name = "p", .kind = NN_OPT_NUMBER, .positional = 1, .dflt = 0.5, .min = 0, .max = 1,
      .doc = "the probability of dropping a channel" },
  },
  .init = dropout_init, .output_shape = dropout2d_output_shape,
  .forward = dropout2d_module_forward, .backward = dropout2d_module_backward
};
