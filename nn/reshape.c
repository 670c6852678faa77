/*
** reshape.c -- layers that only change how the numbers are seen: Flatten
** and Identity.  No arithmetic, and no copy: the output is a view of the
** input's storage, the grad_input a view of grad_output's.
*/
#include "nn.h"

/*
** Flatten:  (B, d_1, ..., d_k) -> (B, d_1 d_2 ... d_k)
**   y is x read in the same (row-major) order, so the Jacobian is the
**   identity matrix and dx is g seen in x's shape:
**   dL/dx_{b, i_1..i_k} = g_{b, flat(i_1..i_k)}   =>  dx = reshape(g, shape(x))
**   A 1-D input (B) becomes (B, 1), as in PyTorch's nn.Flatten.
*/
static int flatten_forward (nn_module *m, const nn_tensor *x) {
  if (x->ndim < 1)
    return nn_seterr(NN_ESHAPE, "Flatten: expected input [B x ...], got a scalar %s",
                     shape_str(x).s);
  int64_t shape[2] = { x->shape[0], x->shape[0] ? x->numel / x->shape[0] : 0 };
  return tensor_alias(m->output, x, 2, shape);
}

static int flatten_backward (nn_module *m, const nn_tensor *g) {
  return tensor_alias(m->grad_input, g, m->input->ndim, m->input->shape);
}

/*
** Identity:  y = x,  dx = g.  A placeholder, e.g. where a model has an
** optional layer switched off.
*/
static int identity_forward (nn_module *m, const nn_tensor *x) {
  return tensor_alias(m->output, x, x->ndim, x->shape);
}

static int identity_backward (nn_module *m, const nn_tensor *g) {
  return tensor_alias(m->grad_input, g, g->ndim, g->shape);
}

static const nn_module_type flatten_type = {
  .name = "Flatten", .forward = flatten_forward, .backward = flatten_backward
};
static const nn_module_type identity_type = {
  .name = "Identity", .forward = identity_forward, .backward = identity_backward
};

int flatten_new (nn_module **out) { return module_alloc(out, &flatten_type); }
int identity_new (nn_module **out) { return module_alloc(out, &identity_type); }
