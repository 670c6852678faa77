/*
** dropout.c -- Dropout (Srivastava, Hinton, Krizhevsky, Sutskever &
** Salakhutdinov, "Dropout: a simple way to prevent neural networks from
** overfitting", JMLR 15, 2014), in its "inverted" form.
*/
#include "nn.h"

enum { MASK };   /* state[MASK]: the mask of the last training forward */
enum { P };      /* hyper[P]: the probability of dropping an element */

/*
** Dropout, training:  y = x \odot m,   m_k = [u_k >= p] / (1 - p),  u_k ~ U[0, 1)
**
** Shapes   x, m, y: any shape, the same.   p in [0, 1].
**   Each element survives with probability 1 - p.  Dividing the survivors
**   by 1 - p ("inverted" dropout) keeps E[y_k] = x_k, so evaluation needs no
**   rescaling: there y = x.
**
** Backward: m is a constant drawn in forward, so y is linear in x with the
**   diagonal Jacobian  \partial y_k / \partial x_l = \delta_{kl} m_k :
**   dL/dx_k = g_k m_k          =>  dx = g \odot m
**
** Edge cases, as PyTorch: p = 0 is the identity (and draws nothing); p = 1
** drops everything, y = 0 (the scale 1/(1-p) is then never used).
** The draws come from the framework's Philox generator (nn_manual_seed), so
** a seed fixes the mask, on either device.
*/
static int dropout_forward (nn_module *m, const nn_tensor *x) {
  float p = m->hyper[P];
  nn_tensor *mask = m->state[MASK];
  int rc = resize_as(m->output, x);
  if (rc != NN_OK) return rc;
  if (!m->training || p == 0.0f) {         /* evaluation: y = x, and no mask */
    int64_t zero = 0;
    if ((rc = tensor_resize(mask, 1, &zero)) != NN_OK) return rc;
    return tensor_copy(m->output, x);
  }
  if ((rc = resize_as(mask, x)) != NN_OK) return rc;
  /* u ~ U[0,1), then m = [u >= p] / (1 - p), then y = x m */
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  if ((rc = tensor_uniform(mask, 0.0f, 1.0f)) != NN_OK) return rc;
  if ((rc = tensor_unary(mask, mask, NN_STEP, p, scale)) != NN_OK) return rc;
  return tensor_binary(m->output, x, mask, NN_MUL);
}

static int dropout_backward (nn_module *m, const nn_tensor *g) {
  int rc = resize_as(m->grad_input, g);
  if (rc != NN_OK) return rc;
  /* the forward that made the output decides: dx = g m if it drew a mask,
     else dx = g (mode changes in between do not matter) */
  if (m->state[MASK]->numel == 0 && g->numel != 0) return tensor_copy(m->grad_input, g);
  return tensor_binary(m->grad_input, g, m->state[MASK], NN_MUL);
}

static const nn_module_type dropout_type = {
  .name = "Dropout", .forward = dropout_forward, .backward = dropout_backward,
  .state_names = { "mask" }, .hyper_names = { "p" }
};

int dropout_new (nn_module **out, float p) {
  int64_t zero = 0;
  *out = NULL;
  if (!(p >= 0.0f && p <= 1.0f))
    return nn_seterr(NN_EARG, "Dropout: p must be in [0, 1], got %g", (double)p);
  int rc = module_alloc(out, &dropout_type);
  if (rc == NN_OK) rc = tensor_new(&(*out)->state[MASK], tensor_default_device(), 1, &zero);
  if (rc != NN_OK) { module_free(*out); *out = NULL; return rc; }
  (*out)->hyper[P] = p;
  return NN_OK;
}
