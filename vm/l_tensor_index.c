/*
** l_tensor_index.c -- index ops, sorting and sampling (tensor/index.c):
**
**   t:gather(dim, index)                  nn.gather(t, dim, index)
**   t:scatter_add(dim, index, src)        t:scatter_add_(dim, index, src)
**   t:index_add(dim, index, src)          t:index_add_(dim, index, src)
**   t:sort([dim [, descending]])          -> values, indices
**   t:topk(k [, dim [, largest [, sorted]]]) -> values, indices
**   nn.multinomial(probs, n [, replacement]), probs:multinomial(...)
**   nn.bernoulli(p), p:bernoulli()
**
** Each is a method of nn.Tensor and a function of nn.core (so of nn), as
** luv's `nn.f(x)` and `x:f()`.  Indices are 1-based at this face, as
** everywhere in Lua; index results are int32 tensors.  Dims are 1-based, and
** a negative dim counts from the end (-1 = the last), as PyTorch.
*/
#include <string.h>

#include "bindings.h"

/* A new tensor of `shape` and dtype dt on dev, on the stack. */
static nn_tensor *push_new_dtype (lua_State *L, nn_device dev, nn_dtype dt, int ndim,
                                  const int64_t *shape) {
  TensorBox *box = newbox(L);
  int rc = tensor_new_dtype(&box->t, dev, dt, ndim, shape);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  return box->t;
}

/* The dim at arg, 1-based or negative from the end, as 0-based; `dflt`
** (0-based, or -1 for none: then the argument is required) when absent. */
static int dim_at (lua_State *L, int arg, const nn_tensor *t, int dflt) {
  if (dflt >= 0 && lua_isnoneornil(L, arg)) return dflt;
  lua_Integer d = luaL_checkinteger(L, arg);
  lua_Integer given = d;
  if (d < 0) d += t->ndim + 1;
  if (d < 1 || d > t->ndim)
    luaL_argerror(L, arg, lua_pushfstring(L, "dim %I is out of range for %s (it has %d dims)",
                                          given, shape_str(t).s, t->ndim));
  return (int)d - 1;
}

/* nn.gather(t, dim, index) or t:gather(dim, index) -> out, as torch.gather:
** out[i][j] = t[index[i][j]][j] for dim 1, t[i][index[i][j]] for dim 2, and
** so on.  index: int32 (or whole float32) 1-based, with t's ndim and t's
** sizes except along dim (PyTorch allows them smaller; nnlua asks equal);
** out has index's shape and t's dtype, a new tensor.  Errors: bad argument
** #1 (t 0-dim; devices), #2 (dim), #3 (an index out of range: "gather:
** index 6 at position 3 is outside 1..5 (dim 2 of [2x5])", or not whole;
** position is flat and 1-based; shapes). */
static int l_gather (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "gather needs a tensor with at least 1 dim");
  int d = dim_at(L, 2, t, -1);
  nn_tensor *index = checktensor_any(L, 3);
  nn_tensor *out = push_new_dtype(L, t->storage->device, t->dtype, index->ndim, index->shape);
  int rc = tensor_gather(out, t, d, index, 1);
  if (rc != NN_OK)
    nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INDEX, 3, NN_ROLE_OUT, 3, -1);
  return 1;
}

/* The shared body of scatter_add(_) and index_add(_): arguments (t, dim,
** index, src); in place on t, or on a copy of t. */
static int add_at (lua_State *L, int inplace, int per_elem) {
  nn_tensor *t = checktensor(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "needs a tensor with at least 1 dim");
  int d = dim_at(L, 2, t, -1);
  nn_tensor *index = checktensor_any(L, 3);
  nn_tensor *src = checktensor(L, 4);
  nn_tensor *out = t;
  if (!inplace) {
    out = push_new_dtype(L, t->storage->device, NN_F32, t->ndim, t->shape);
    int rc = tensor_copy(out, t);
    if (rc != NN_OK) nn_raise(L, 1, rc);
  }
  int rc = per_elem ? tensor_scatter_add(out, d, index, src, 1)
                    : tensor_index_add(out, d, index, src, 1);
  if (rc != NN_OK)
    nn_raise_by_role(L, rc, 1, NN_ROLE_OUT, 1, NN_ROLE_INDEX, 3, NN_ROLE_INPUT, 4, -1);
  if (inplace) lua_settop(L, 1);
  return 1;
}

/* t:scatter_add(dim, index, src) -> a copy of t with src added at index;
** t:scatter_add_(dim, index, src) -> t, added in place (torch's
** Tensor.scatter_add_): for dim 1, t[index[i][j]][j] += src[i][j]; for dim
** 2, t[i][index[i][j]] += src[i][j].  index int32 (or whole float32),
** 1-based, src's shape; src has t's sizes except along dim.  Every index is
** checked before any add: on an error t is unchanged.  On CUDA the adds are
** atomicAdd, so where several go to one element the order of the float
** additions, and so the last bits of the sum, may vary between runs (as in
** PyTorch).  Errors: bad argument #2 (dim), #3 (an index out of range or
** not whole, naming its flat 1-based position and the bound; shape), #4
** (src's shape or dtype), #1 (t int32; devices). */
static int l_scatter_add (lua_State *L) { return add_at(L, 0, 1); }
static int l_scatter_add_ (lua_State *L) { return add_at(L, 1, 1); }

/* t:index_add(dim, index, src) / t:index_add_(dim, index, src): as torch's
** Tensor.index_add_: t[..., index[j], ...] += src[..., j, ...] along dim.
** index 1-D (k), int32 or whole float32, 1-based; src is t's shape with k
** along dim.  Checked, and on CUDA added, as scatter_add. */
static int l_index_add (lua_State *L) { return add_at(L, 0, 0); }
static int l_index_add_ (lua_State *L) { return add_at(L, 1, 0); }

/* values, indices (int32) of a topk or sort of t, k along d */
static int sort_k (lua_State *L, nn_tensor *t, int64_t k, int d, int descending, int topk,
                   int karg) {
  int64_t shape[NN_MAXDIM];
  memcpy(shape, t->shape, sizeof shape);
  shape[d] = k;
  nn_tensor *v = push_new_dtype(L, t->storage->device, NN_F32, t->ndim, shape);
  nn_tensor *i = push_new_dtype(L, t->storage->device, NN_I32, t->ndim, shape);
  int rc = topk ? tensor_topk(v, i, t, k, d, descending, 1)
                : tensor_sort(v, i, t, d, descending, 1);
  if (rc != NN_OK) nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INDEX, karg, -1);
  return 2;
}

/* t:sort([dim [, descending]]) -> values, indices, as torch.sort(t, dim,
** descending, stable=True) with 1-based indices: each row along dim (the
** last by default) in ascending order (descending when asked), equal values
** in their original order, nan after every number (first when
** descending).  values float32, indices int32, both of t's shape; new
** tensors.  On the CPU a merge sort per row; on CUDA a bitonic sort per row
** in shared memory for rows up to 2048 elements, and for longer rows a
** fallback: copied to the host, sorted there and copied back (slow).  Errors: bad argument #1 (int32, 0-dim),
** #2 (dim). */
static int l_sort (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "sort needs a tensor with at least 1 dim");
  int d = dim_at(L, 2, t, t->ndim - 1);
  int descending = lua_toboolean(L, 3);
  return sort_k(L, t, t->shape[d], d, descending, 0, 2);
}

/* t:topk(k [, dim [, largest [, sorted]]]) -> values, indices: the k largest
** (largest = true, the default) or smallest of each row along dim (the last
** by default), as torch.topk with 1-based int32 indices; always in sorted
** order (largest first, or smallest first), so sorted = false gives the
** same.  Ties keep their original order; nan counts as the largest.  On
** CUDA as sort (a full sort of each row, then the first k kept).  Errors: bad argument #2 (k not an integer in
** 0..n), #3 (dim), #1 (int32, 0-dim). */
static int l_topk (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "topk needs a tensor with at least 1 dim");
  lua_Integer k = luaL_checkinteger(L, 2);
  int d = dim_at(L, 3, t, t->ndim - 1);
  int largest = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
  if (k < 0 || k > t->shape[d])
    luaL_argerror(L, 2, lua_pushfstring(L, "k = %I is outside 0..%I (dim %d of %s)", k,
                                        (lua_Integer)t->shape[d], d + 1, shape_str(t).s));
  return sort_k(L, t, (int64_t)k, d, largest, 1, 2);
}

/* nn.multinomial(probs, n [, replacement]) or probs:multinomial(n [,
** replacement]) -> int32 class indices (1-based): (n) for probs (C), (B, n)
** for probs (B, C), as torch.multinomial + 1.  The weights of a row need not
** sum to 1, but must be >= 0, finite, and not all 0; without replacement
** (the default, as PyTorch) a row needs at least n classes of positive
** weight.  Drawn from the global generator by inverse CDF: draw j of row b
** takes the uniform that nn.tensor.rand(B * n) would give element
** (b - 1) * n + j after the same seed (tensor.h, tensor_multinomial), on
** either device.  Errors: bad argument #1 (shape, a bad row: "row 2 of probs
** has a negative, inf or nan weight"), #2 (n not an integer in 0 .. 2^31 - 1,
** or above C without replacement). */
static int l_multinomial (lua_State *L) {
  nn_tensor *probs = checktensor(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  int replacement = lua_toboolean(L, 3);
  luaL_argcheck(L, n >= 0 && n <= INT32_MAX, 2, "n must be an integer in 0 .. 2^31 - 1");
  if (probs->ndim != 1 && probs->ndim != 2)
    luaL_argerror(L, 1, lua_pushfstring(L, "probs must be (C) or (B, C), got %s",
                                        shape_str(probs).s));
  int64_t shape[2] = { probs->shape[0], n };
  if (probs->ndim == 1) shape[0] = n;
  nn_tensor *out = push_new_dtype(L, probs->storage->device, NN_I32, probs->ndim, shape);
  int rc = tensor_multinomial(out, probs, (int64_t)n, replacement, 1);
  if (rc != NN_OK)
    nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2, -1);
  return 1;
}

/* nn.bernoulli(p) or p:bernoulli() -> a new float32 tensor of p's shape:
** element i is 1 with probability p[i], else 0 (torch.bernoulli): 1 when
** u_i < p[i], u_i the uniform nn.tensor.rand would give element i after the
** same seed.  Errors: bad argument #1 for a p outside [0, 1] or nan ("p at
** position 3 is 1.5, outside [0, 1]", 1-based flat position) or int32. */
static int l_bernoulli (lua_State *L) {
  nn_tensor *p = checktensor(L, 1);
  nn_tensor *out = push_new_dtype(L, p->storage->device, NN_F32, p->ndim, p->shape);
  int rc = tensor_bernoulli(out, p);
  if (rc != NN_OK) nn_raise(L, 1, rc);
  return 1;
}

/* See bindings.h.  The copy replaces the value at arg (so the collector
** owns it, and a loss that keeps its target keeps the copy); an int32 class
** index converts exactly up to 2^24 = 16777216. */
nn_tensor *nn_check_target (lua_State *L, int arg) {
  nn_tensor *t = checktensor_any(L, arg);
  if (t->dtype == NN_F32) return t;
  arg = lua_absindex(L, arg);
  nn_tensor *f = push_new_dtype(L, t->storage->device, NN_F32, t->ndim, t->shape);
  int rc = tensor_copy(f, t);
  if (rc != NN_OK) nn_raise(L, arg, rc);
  lua_replace(L, arg);
  return f;
}

static const luaL_Reg funcs[] = {
  {"gather", l_gather},
  {"scatter_add", l_scatter_add},
  {"scatter_add_", l_scatter_add_},
  {"index_add", l_index_add},
  {"index_add_", l_index_add_},
  {"sort", l_sort},
  {"topk", l_topk},
  {"multinomial", l_multinomial},
  {"bernoulli", l_bernoulli},
  {NULL, NULL}
};

void nn_open_tensor_index (lua_State *L) {
  luaL_setfuncs(L, funcs, 0);                 /* nn.core.gather, ... */
  /* t:gather(...), ...: the tensor methods table (see nn_open_tensor) */
  luaL_getmetatable(L, TENSOR_MT);
  if (lua_getfield(L, -1, "methods") == LUA_TTABLE) luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 2);
}
