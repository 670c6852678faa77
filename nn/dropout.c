/*
** dropout.c -- Dropout (Srivastava, Hinton, Krizhevsky, Sutskever &
** Salakhutdinov, "Dropout: a simple way to prevent neural networks from
** overfitting", JMLR 15, 2014), in its "inverted" form.
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
