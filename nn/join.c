/*
** join.c -- layers of several inputs: Add (a residual connection, x + f(x))
** and Concat (joining branches).  Pure pairs add_forward / add_backward and
** concat_forward / concat_backward, and the modules that own their buffers.
*/
#include <string.h>

#include "nn.h"
#include "join.h"

/* t seen as a (rows, n) matrix, on the stack: the same memory, no copy */
static nn_tensor as_matrix (const nn_tensor *t, int64_t rows, int64_t n) {
  nn_tensor v = *t;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = n;
  return v;
}

static nn_tensor as_vector (const nn_tensor *t) {
  nn_tensor v = *t;
  v.ndim = 1;
  v.shape[0] = t->numel;
  return v;
}

/* 1 when small's dims are the trailing dims of big's (small may be big's shape) */
static int is_suffix (const nn_shape *big, const nn_shape *small) {
  if (small->ndim > big->ndim) return 0;
  for (int i = 1; i <= small->ndim; i++)
    if (small->d[small->ndim - i] != big->d[big->ndim - i]) return 0;
  return 1;
}

/*
** Add:  y = a + b
**
** Shapes   a: (d_1, ..., d_k)   b: the same, or its trailing dims (d_j, ..., d_k),
**   repeated over the leading ones (NumPy's broadcasting, without its size-1
**   dims); or a and b the other way round.  y has the larger shape.
**   Seen as matrices: the larger is (R, N), the smaller (N) when it
**   broadcasts, R = the product of the dims it lacks.
**
** Forward   y_{rn} = a_{rn} + b_n                                          \tag{1}
**
** Backward, given g = dL/dy:
**   \partial y_{rn} / \partial a_{sm} = \delta_{rs} \delta_{nm}:  dL/da = g    \tag{2}
**   \partial y_{rn} / \partial b_m = \delta_{nm} for every r: b is used R
**   times, and each use adds its share (the same sum as a bias):
**   dL/db_n = \sum_r g_{rn}                                                \tag{3}
**   When b has a's shape, R = 1 and (3) is dL/db = g.
** Source: the chain rule for a variable used several times; Goodfellow,
** Bengio & Courville, Deep Learning (2016), sec. 6.5.2.  He et al., "Deep
** residual learning for image recognition", CVPR 2016, for y = x + f(x).
*/
int add_forward (nn_tensor *y, const nn_tensor *a, const nn_tensor *b) {
  nn_shape sa = shape_of(a), sb = shape_of(b);
  int a_big = a->numel >= b->numel;
  const nn_tensor *big = a_big ? a : b, *small = a_big ? b : a;
  if (!(a_big ? is_suffix(&sa, &sb) : is_suffix(&sb, &sa)))
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "add: %s and %s do not broadcast: "
                         "one must have the other's shape or its trailing dims",
                         shape_str(a).s, shape_str(b).s);
  if (y->numel != big->numel)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "add: y %s does not hold %s", shape_str(y).s,
                         shape_str(big).s);
  if (big->numel == 0) return NN_OK;
  int64_t n = small->numel, rows = n ? big->numel / n : 0;
  nn_tensor yv = as_matrix(y, rows, n), bigv = as_matrix(big, rows, n), sv = as_vector(small);
  return tensor_binary(&yv, &bigv, &sv, NN_ADD);                            /* (1) */
}

/* grad (the input's shape) from g: a copy when the shapes agree, (3) when it broadcast */
static int add_grad (nn_tensor *grad, const nn_tensor *g) {
  if (grad->numel == g->numel) return tensor_copy(grad, g);                 /* (2) */
  if (grad->numel == 0) return NN_OK;
  int64_t n = grad->numel, rows = g->numel / n;
  nn_tensor gv = as_matrix(g, rows, n), dv = as_vector(grad);
  return tensor_reduce_dim(&dv, &gv, 0, NN_SUM);                            /* (3) */
}

int add_backward (nn_tensor *grad_a, nn_tensor *grad_b, const nn_tensor *grad_y) {
  int rc = NN_OK;
  if (grad_a != NULL) rc = add_grad(grad_a, grad_y);
  if (rc == NN_OK && grad_b != NULL) rc = add_grad(grad_b, grad_y);
  return rc;
}

/* dst (rows, cols) at dst_ld <- src at src_ld, on either device */
static int copy_block (float *dst, int64_t dst_ld, const float *src, int64_t src_ld,
                       int64_t rows, int64_t cols, nn_device dev) {
  if (rows * cols == 0) return NN_OK;
  if (dev == NN_CUDA) return nncuda_copy_2d(dst, dst_ld, src, src_ld, rows, cols);
  for (int64_t r = 0; r < rows; r++)
    memcpy(dst + r * dst_ld, src + r * src_ld, (size_t)cols * sizeof(float));
  return NN_OK;
}

/* O, the product of the dims before d; I, after d */
static void outer_inner (const nn_tensor *t, int d, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < d; i++) *outer *= t->shape[i];
  for (int i = d + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

/* The output shape for n pieces along d, or NN_ESHAPE blaming the piece at fault */
static int concat_shape (int n, const nn_shape *in, int d, nn_shape *out) {
  if (d < 0 || d >= in[0].ndim)
    return nn_seterr_arg(NN_EARG, NN_ROLE_INPUT, "concat: dim %d is out of range for a "
                         "%d-D input", d + 1, in[0].ndim);
  *out = in[0];
  for (int k = 1; k < n; k++) {
    int fits = in[k].ndim == in[0].ndim;
    for (int i = 0; fits && i < in[0].ndim; i++) fits = i == d || in[k].d[i] == in[0].d[i];
    if (!fits) {
      nn_tensor a = { .ndim = in[0].ndim }, b = { .ndim = in[k].ndim };
      memcpy(a.shape, in[0].d, sizeof a.shape);
      memcpy(b.shape, in[k].d, sizeof b.shape);
      return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + k, "concat: input %d %s does not fit "
                           "input 1 %s: every dim but %d must agree", k + 1, shape_str(&b).s,
                           shape_str(&a).s, d + 1);
    }
    out->d[d] += in[k].d[d];
  }
  return NN_OK;
}

/*
** Concat along dim d:  y = [x_0, x_1, ..., x_{n-1}]
**
** Shapes   x_k: (d_1, ..., c_k, ..., d_m), every dim but d equal;
**   y: the same with c = \sum_k c_k at d.  Row-major, y is O blocks
**   (O = the product of the dims before d), and block o of y is block o
**   of x_0, then of x_1, ...: each x_k is a (O, c_k I) matrix (I = the
**   product of the dims after d) copied into columns [s_k, s_k + c_k I)
**   of y seen as (O, c I), s_k = (c_0 + ... + c_{k-1}) I.
**
** Forward   y[o, s_k + j] = x_k[o, j]                                      \tag{1}
**
** Backward  each element of y is one element of one x_k, so the Jacobian
**   is a permutation, and its transpose cuts g back into pieces:
**   dL/dx_k[o, j] = g[o, s_k + j]                                          \tag{2}
** Source: Torch7's nn.JoinTable; PyTorch's torch.cat.
*/
int concat_forward (nn_tensor *y, int n, const nn_tensor *const *x, int d) {
  nn_shape in[NN_MAXINPUT], out;
  if (n < 1 || n > NN_MAXINPUT)
    return nn_seterr(NN_EARG, "concat: 1 to %d inputs, got %d", NN_MAXINPUT, n);
  for (int k = 0; k < n; k++) in[k] = shape_of(x[k]);
  int rc = concat_shape(n, in, d, &out);
  if (rc == NN_OK && (y->ndim != out.ndim || memcmp(y->shape, out.d, sizeof(int64_t) * (size_t)out.ndim)))
    rc = nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "concat: y is %s, the pieces make %lld along "
                       "dim %d", shape_str(y).s, (long long)out.d[d], d + 1);
  for (int k = 0; rc == NN_OK && k < n; k++)
    if (x[k]->storage->device != y->storage->device)
      rc = nn_seterr_arg(NN_EDEVICE, NN_ROLE_INPUT + k, "concat: input %d is on %s, y on %s",
                         k + 1, device_name(x[k]->storage->device),
                         device_name(y->storage->device));
  int64_t O, I, ld, s = 0;
  outer_inner(y, d, &O, &I);
  ld = y->shape[d] * I;
  for (int k = 0; rc == NN_OK && k < n; k++) {
    int64_t cols = x[k]->shape[d] * I;
    rc = copy_block(tensor_data(y) + s, ld, tensor_data(x[k]), cols, O, cols,     /* (1) */
                    y->storage->device);
    s += cols;
  }
  return rc;
}

int concat_backward (nn_tensor *const *grad_x, int n, const nn_tensor *grad_y, int d) {
  int64_t O, I, ld, s = 0;
  if (d < 0 || d >= grad_y->ndim)
    return nn_seterr_arg(NN_EARG, NN_ROLE_GRAD_OUT, "concat: dim %d is out of range for %s",
                         d + 1, shape_str(grad_y).s);
  outer_inner(grad_y, d, &O, &I);
  ld = grad_y->shape[d] * I;
  for (int k = 0; k < n; k++) {
    const nn_tensor *gx = grad_x[k];
    int64_t cols = gx->ndim == grad_y->ndim ? gx->shape[d] * I : -1;
    if (cols < 0 || gx->numel != O * cols || s + cols > ld)
      return nn_seterr_arg(NN_ESHAPE, NN_ROLE_OUT, "concat: grad_x %d %s does not fit "
                           "grad_y %s", k + 1, shape_str(gx).s, shape_str(grad_y).s);
    if (gx->storage->device != grad_y->storage->device)
      return nn_seterr_arg(NN_EDEVICE, NN_ROLE_OUT, "concat: grad_x %d is on %s, grad_y on %s",
                           k + 1, device_name(gx->storage->device),
                           device_name(grad_y->storage->device));
    int rc = copy_block(tensor_data(gx), cols, tensor_data(grad_y) + s, ld, O, cols,   /* (2) */
                        grad_y->storage->device);
    if (rc != NN_OK) return rc;
    s += cols;
  }
  return NN_OK;
}


/* --- the modules ---------------------------------------------------------------------- */

static int add_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  (void)m; (void)n;
  int a_big = 1;
  int64_t na = 1, nb = 1;
  for (int i = 0; i < in[0].ndim; i++) na *= in[0].d[i];
  for (int i = 0; i < in[1].ndim; i++) nb *= in[1].d[i];
  a_big = na >= nb;
  if (!(a_big ? is_suffix(&in[0], &in[1]) : is_suffix(&in[1], &in[0]))) {
    nn_tensor a = { .ndim = in[0].ndim }, b = { .ndim = in[1].ndim };
    memcpy(a.shape, in[0].d, sizeof a.shape);
    memcpy(b.shape, in[1].d, sizeof b.shape);
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_INPUT + 1, "Add: %s and %s do not broadcast: one "
                         "must have the other's shape or its trailing dims", shape_str(&a).s,
                         shape_str(&b).s);
  }
  *out = a_big ? in[0] : in[1];
  return NN_OK;
}

static int add_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)n; (void)flags;
  return add_forward(m->output, x[0], x[1]);
}

static int add_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return add_backward(m->grad_input[0], m->grad_input[1], g);
}

const nn_module_type add_type = {
  .name = "Add", .doc = "y = a + b, b of a's shape or of its trailing dims (or the other way "
                        "round); layer:forward(a, b)",
  .min_inputs = 2, .max_inputs = 2, .output_shape = add_output_shape,
  .forward = add_module_forward, .backward = add_module_backward
};

enum { DIM };                                            /* m->opt[] */

/* the 0-based dim: opt is 1-based, negative counts from the end (-1: the last) */
static int concat_dim (const nn_module *m, int ndim) {
  int d = (int)m->opt[DIM];
  return d < 0 ? ndim + d : d - 1;
}

static int concat_check_options (const double *opt) {
  if (opt[DIM] == 0)
    return nn_seterr(NN_EARG, "Concat: dim must not be 0: dims count from 1 (and -1 is "
                     "the last)");
  return NN_OK;
}

static int concat_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  return concat_shape(n, in, concat_dim(m, in[0].ndim), out);
}

static int concat_module_forward (nn_module *m, int n, const nn_tensor *const *x, int flags) {
  (void)flags;
  return concat_forward(m->output, n, x, concat_dim(m, x[0]->ndim));
}

static int concat_module_backward (nn_module *m, const nn_tensor *g, int flags) {
  if (flags & NN_BACKWARD_NO_GRAD_INPUT) return NN_OK;
  return concat_backward(m->grad_input, m->n_inputs, g, concat_dim(m, g->ndim));
}

const nn_module_type concat_type = {
  .name = "Concat", .doc = "joins its inputs along dim (1-based; -1 the last): "
                           "layer:forward(x1, x2, ...)",
  .min_inputs = 1, .max_inputs = NN_MAXINPUT, .output_shape = concat_output_shape,
  .options = {
    { .name = "dim", .kind = NN_OPT_INT, .positional = 1, .dflt = -1, .min = -NN_MAXDIM,
      .max = NN_MAXDIM,
      .doc = "the dim to join along, 1-based; negative counts from the end" },
  },
  .check_options = concat_check_options,
  .forward = concat_module_forward, .backward = concat_module_backward
};
