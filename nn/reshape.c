/*
** reshape.c -- layers that only change how the numbers are seen: Flatten
** and Identity.  No arithmetic, and no copy: the output is a view of the
** input's storage, the grad_input a view of grad_output's.
*/
#include "nn.h"

/*
** Flatten:  (B, d_1, ..., d_k) -> (B, d_1 d_2 ... d_k)
**   y = reshape(x, (B, d_1 d_2 ... d_k))                                   \tag{1}
**   y is x read in the same (row-major) order, so the Jacobian is the
**   identity matrix and dx is g seen in x's shape:
**   dL/dx_{b, i_1..i_k} = g_{b, flat(i_1..i_k)}   =>  dx = reshape(g, shape(x))   \tag{2}
**   A 1-D input (B) becomes (B, 1), as in PyTorch's nn.Flatten.
*/
static int flatten_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)m; (void)n;
  if (in[0].ndim < 1)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT, "Flatten: expected input [B x ...], got a "
                         "scalar []");
  int64_t rest = 1;                 /* the product of the dims after the batch */
  for (int i = 1; i < in[0].ndim; i++) rest *= in[0].d[i];
  out->ndim = 2;
  out->d[0] = in[0].d[0];
  out->d[1] = rest;
  return NN_OK;
}

static int flatten_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  int64_t shape[2] = { x[0]->shape[0], 1 };
  for (int i = 1; i < x[0]->ndim; i++) shape[1] *= x[0]->shape[i];   /* d_1 d_2 ... d_k */
  return tensor_alias(m->output, x[0], 2, shape);                           /* (1) */
}

static int flatten_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return tensor_alias(m->grad_input[0], g, m->input[0]->ndim, m->input[0]->shape);  /* (2) */
}

/*
** Identity:  y = x,  dx = g.  A placeholder, e.g. where a model has an
** optional layer switched off.
*/
static int identity_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return tensor_alias(m->output, x[0], x[0]->ndim, x[0]->shape);
}

static int identity_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return tensor_alias(m->grad_input[0], g, g->ndim, g->shape);
}

const nn_module_type flatten_type = {
  .name = "Flatten", .doc = "(B, d1, d2, ...) -> (B, d1*d2*...), a view",
  .min_inputs = 1, .max_inputs = 1, .output_shape = flatten_output_shape,
  .forward = flatten_forward, .backward = flatten_backward, .views_input = 1
};
const nn_module_type identity_type = {
  .name = "Identity", .doc = "y = x, a view", .min_inputs = 1, .max_inputs = 1,
  .forward = identity_forward, .backward = identity_backward, .views_input = 1
};
