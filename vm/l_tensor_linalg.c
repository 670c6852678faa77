/*
** l_tensor_linalg.c -- the tensor methods of batched products and of the
** reductions beyond sum/mean/max/min: bmm, outer, norm, prod, cumsum,
** logsumexp, softmax, log_softmax.
**
** Glue only, as l_tensor.c: check the arguments, call the tensor library
** (tensor.h, "more math"; reduce_ext.c), turn a failure into a Lua error
** that names the argument.  Each function is both a method, t:norm(), and
** a field of nn, nn.norm(t) (luv's rule: one C function, two faces).  Dims
** are 1-based, or negative from the end (-1: the last), as in l_tensor.c.
** Everything here takes float32 tensors only (checktensor).
*/
#include <math.h>

#include "bindings.h"

/* A dim argument of t: 1..ndim or -ndim..-1, returned 0-based. */
static int check_dim (lua_State *L, int arg, const nn_tensor *t) {
  lua_Integer d0 = luaL_checkinteger(L, arg), d = d0;
  if (d < 0 && d >= -(lua_Integer)t->ndim) d += t->ndim + 1;
  if (d < 1 || d > t->ndim)
    luaL_argerror(L, arg, lua_pushfstring(L, "dim %I is out of range for %s (it has %d dims)",
                                          (lua_Integer)d0, shape_str(t).s, t->ndim));
  return (int)d - 1;
}

/* A new tensor of t's shape less dim d (kept as size 1 with keepdim), on
** t's device, pushed. */
static nn_tensor *push_reduced (lua_State *L, const nn_tensor *t, int d, int keepdim) {
  int64_t shape[NN_MAXDIM];
  int n = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (i != d) shape[n++] = t->shape[i];
    else if (keepdim) shape[n++] = 1;
  }
  return nn_push_new(L, t->storage->device, n, shape);
}

/* The error of a call whose C side is f(out, t, ...): out is ours, so any
** role but the input's or the index's is a plain error. */
static int raise_op (lua_State *L, int rc, int dim_arg) {
  return nn_raise_by_role(L, rc, 0, NN_ROLE_INPUT, 1, NN_ROLE_INDEX, dim_arg, -1);
}

/* --- products ----------------------------------------------------------------- */

/* nn.bmm(a, b [, trans_a [, trans_b]]) -> op(a) @ op(b), as torch.bmm:
** a (B, M, K), b (B, K, N), one batch size on both (bmm does not broadcast:
** a:matmul(b) does), -> (B, M, N), a new tensor.  trans_a / trans_b
** transpose each matrix (a flag, not a copy).  Errors (bad argument): not
** 3-D, batch sizes that differ, inner dimensions that differ, int32,
** different devices. */
static int t_bmm (lua_State *L) {
  nn_tensor *a = checktensor(L, 1);
  nn_tensor *b = checktensor(L, 2);
  if (a->ndim != 3 || b->ndim != 3)
    luaL_argerror(L, a->ndim != 3 ? 1 : 2,
                  lua_pushfstring(L, "bmm needs two 3-D tensors (batch, rows, columns), got "
                                  "%s @ %s", shape_str(a).s, shape_str(b).s));
  if (a->shape[0] != b->shape[0])
    luaL_argerror(L, 2, lua_pushfstring(L, "bmm: batch sizes differ: %s @ %s (bmm does not "
                                        "broadcast; matmul does)", shape_str(a).s,
                                        shape_str(b).s));
  return nn_tensor_matmul(L);      /* the product itself is a:matmul(b)'s */
}

/* a:outer(b) -> (M, N) with out[i][j] = a[i] * b[j], as torch.outer.
** a (M) and b (N) 1-D.  Errors (bad argument): not 1-D, int32, devices. */
static int t_outer (lua_State *L) {
  nn_tensor *a = checktensor(L, 1);
  nn_tensor *b = checktensor(L, 2);
  if (a->ndim != 1 || b->ndim != 1)
    luaL_argerror(L, a->ndim != 1 ? 1 : 2,
                  lua_pushfstring(L, "outer needs two 1-D tensors, got %s and %s",
                                  shape_str(a).s, shape_str(b).s));
  int64_t shape[2] = { a->shape[0], b->shape[0] };
  nn_tensor *out = nn_push_new(L, a->storage->device, 2, shape);
  int rc = tensor_outer(out, a, b);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 2, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2, -1);
  return 1;
}

/* --- reductions --------------------------------------------------------------- */

/* t:norm([p [, dim [, keepdim]]]) -> the p-norm (\sum |x|^p)^{1/p}, as
** torch.norm: over all elements a number; over dim a tensor (t's shape
** without dim, or with it as 1 when keepdim).  p: 2 (default), 1,
** math.huge (the largest |x|), or any p > 0.  The 2-norm sums in double;
** other p scale by the largest |x| first, so no power overflows.  The norm
** of no elements is 0.  Errors (bad argument): p <= 0, nan or not a number;
** dim not an integer or out of range; int32. */
static int t_norm (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  double p = luaL_optnumber(L, 2, 2.0);
  if (!(p > 0.0))
    luaL_argerror(L, 2, lua_pushfstring(L, "p must be > 0 (1, 2, math.huge or any other "
                                        "positive number), got %f", p));
  if (lua_isnoneornil(L, 3)) {
    double r;
    int rc = tensor_norm_all(&r, t, p);
    if (rc != NN_OK) return raise_op(L, rc, 3);
    lua_pushnumber(L, r);
    return 1;
  }
  int d = check_dim(L, 3, t);
  nn_tensor *out = push_reduced(L, t, d, lua_toboolean(L, 4));
  int rc = tensor_norm_dim(out, t, d, p);
  if (rc != NN_OK) return raise_op(L, rc, 3);
  return 1;
}

/* t:prod([dim [, keepdim]]) -> the product of all elements (a number), or
** along dim (a tensor), as torch.prod; in double, rounded once.  The empty
** product is 1.  Errors (bad argument): dim out of range; int32. */
static int t_prod (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  if (lua_isnoneornil(L, 2)) {
    double r;
    int rc = tensor_prod_all(&r, t);
    if (rc != NN_OK) return raise_op(L, rc, 2);
    lua_pushnumber(L, r);
    return 1;
  }
  int d = check_dim(L, 2, t);
  nn_tensor *out = push_reduced(L, t, d, lua_toboolean(L, 3));
  int rc = tensor_prod_dim(out, t, d);
  if (rc != NN_OK) return raise_op(L, rc, 2);
  return 1;
}

/* t:logsumexp(dim [, keepdim]) -> log \sum exp(x) along dim, as
** torch.logsumexp: shifted by the max, so 1e4 + log 2 comes out of {1e4,
** 1e4}, not inf; a row of -inf (or of no elements) gives -inf.  Errors (bad
** argument): dim missing or out of range; int32. */
static int t_logsumexp (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  int d = check_dim(L, 2, t);
  nn_tensor *out = push_reduced(L, t, d, lua_toboolean(L, 3));
  int rc = tensor_logsumexp_dim(out, t, d);
  if (rc != NN_OK) return raise_op(L, rc, 2);
  return 1;
}

/* --- scans and softmax ---------------------------------------------------------- */

/* f(t, dim) -> a new tensor of t's shape */
static int map_dim (lua_State *L, int op) {
  nn_tensor *t = checktensor(L, 1);
  int d = check_dim(L, 2, t);
  nn_tensor *out = nn_push_new(L, t->storage->device, t->ndim, t->shape);
  int rc = op == 0 ? tensor_cumsum(out, t, d) : tensor_softmax(out, t, d, op == 2);
  if (rc != NN_OK) return raise_op(L, rc, 2);
  return 1;
}

/* t:cumsum(dim) -> the running sums along dim, as torch.cumsum (in
** double).  Errors (bad argument): dim missing or out of range; int32. */
static int t_cumsum (lua_State *L) { return map_dim(L, 0); }

/* t:softmax(dim) -> exp(x) / \sum exp(x) along dim, as torch.softmax;
** t:log_softmax(dim) -> its log, as torch.log_softmax.  Max-shifted (the
** Softmax layer's formulas, nn/softmax.c), on any dim.  A line of -inf is
** nan, as in PyTorch.  Errors (bad argument): dim missing or out of range;
** int32. */
static int t_softmax (lua_State *L) { return map_dim(L, 1); }
static int t_log_softmax (lua_State *L) { return map_dim(L, 2); }

static const luaL_Reg linalg_funcs[] = {
  {"bmm", t_bmm}, {"outer", t_outer}, {"norm", t_norm}, {"prod", t_prod},
  {"logsumexp", t_logsumexp}, {"cumsum", t_cumsum}, {"softmax", t_softmax},
  {"log_softmax", t_log_softmax},
  {NULL, NULL}
};

void nn_open_tensor_linalg (lua_State *L) {
  /* t:norm(...): the tensor methods table (see nn_open_tensor) */
  luaL_getmetatable(L, TENSOR_MT);
  if (lua_getfield(L, -1, "methods") == LUA_TTABLE) luaL_setfuncs(L, linalg_funcs, 0);
  lua_pop(L, 2);
  /* nn.norm(t, ...): the table on top (nn.core, which lua/nn/init.lua copies into nn) */
  luaL_setfuncs(L, linalg_funcs, 0);
}
