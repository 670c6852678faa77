/*
** broadcast.c -- NumPy's broadcasting rules, and the plans (broadcast.h)
** that the backends walk.
**
** Source: NumPy's "Broadcasting" (numpy.org/doc/stable/user/basics.broadcasting.html),
** which PyTorch follows (pytorch.org/docs/stable/notes/broadcasting.html):
** two dims are compatible when they are equal or one of them is 1; shapes
** are compared from the last dim backwards, and a missing dim is a 1.
*/
#include "broadcast.h"

static nn_shapestr dims_str (int ndim, const int64_t *shape) {
  nn_tensor t = { 0 };
  t.ndim = ndim;
  for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
  return shape_str(&t);
}

int bcast_shapes (int *ndim, int64_t *shape, int na, const int64_t *sa, int nb,
                  const int64_t *sb, int role) {
  int n = na > nb ? na : nb;
  int64_t r[NN_MAXDIM] = { 0 };
  for (int d = 0; d < n; d++) {            /* d: a dim of the result, from the left */
    int ea = d - (n - na), eb = d - (n - nb);
    int64_t x = ea >= 0 ? sa[ea] : 1, y = eb >= 0 ? sb[eb] : 1;
    if (x != y && x != 1 && y != 1)
      return nn_seterr_arg(NN_ESHAPE, role, "shapes %s and %s do not broadcast: dim %d has "
                           "%lld and %lld", dims_str(na, sa).s, dims_str(nb, sb).s, d + 1,
                           (long long)x, (long long)y);
    r[d] = x == 1 ? y : x;
  }
  int64_t numel;             /* (2^21 x 1) with (1 x 2^20): more than 2^40 elements */
  if (nn_shape_numel(&numel, n, r) != NN_OK)
    return nn_seterr_arg(NN_EARG, role, "shapes %s and %s broadcast to %s, more than 2^40 "
                         "elements", dims_str(na, sa).s, dims_str(nb, sb).s, dims_str(n, r).s);
  *ndim = n;
  for (int d = 0; d < n; d++) shape[d] = r[d];
  return NN_OK;
}

int tensor_broadcast_shape (int *ndim, int64_t *shape, const nn_tensor *a, const nn_tensor *b) {
  return bcast_shapes(ndim, shape, a->ndim, a->shape, b->ndim, b->shape, NN_ROLE_INPUT + 1);
}

void bcast_plan (nn_bcast *p, int ndim, const int64_t *shape, int n,
                 const nn_tensor *const *ops) {
  int64_t st[NN_BCAST_MAXIN][NN_MAXDIM] = { { 0 } };
  /* each operand's strides over out's dims, aligned from the right */
  for (int k = 0; k < n; k++) {
    const nn_tensor *t = ops[k];
    if (t == NULL) continue;                  /* a number: stride 0 everywhere */
    int64_t s = 1;
    for (int e = t->ndim - 1; e >= 0; e--) {
      int d = e + (ndim - t->ndim);
      st[k][d] = t->shape[e] == 1 ? 0 : s;
      s *= t->shape[e];
    }
  }
  /* drop out's dims of size 1, and merge neighbours every operand walks as one */
  p->ndim = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    int m = p->ndim - 1, merge = m >= 0;
    for (int k = 0; k < n && merge; k++) merge = p->stride[k][m] == st[k][d] * shape[d];
    if (merge) {
      p->shape[m] *= shape[d];
      for (int k = 0; k < n; k++) p->stride[k][m] = st[k][d];
    }
    else {
      p->shape[p->ndim] = shape[d];
      for (int k = 0; k < n; k++) p->stride[k][p->ndim] = st[k][d];
      p->ndim++;
    }
  }
  if (p->ndim == 0) {                         /* one element: offset 0 in each */
    p->ndim = 1;
    p->shape[0] = 1;
    for (int k = 0; k < n; k++) p->stride[k][0] = 0;
  }
  for (int k = n; k < NN_BCAST_MAXIN; k++)
    for (int d = 0; d < p->ndim; d++) p->stride[k][d] = 0;
}

int bcast_is_full (const nn_bcast *p, int k) {
  int64_t s = 1;
  for (int d = p->ndim - 1; d >= 0; d--) {
    if (p->shape[d] > 1 && p->stride[k][d] != s) return 0;
    s *= p->shape[d];
  }
  return 1;
}
