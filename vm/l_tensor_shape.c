/*
** l_tensor_shape.c -- the shape ops of nn.Tensor: transpose, permute, t,
** squeeze, unsqueeze, flatten, expand/broadcast_to, tile/repeat, select,
** split, chunk, tril, triu; and nn.cat, nn.stack.
**
** Glue only (the work is in tensor/shape.c).  Dims are 1-based and a
** negative dim counts from the end (-1: the last), as everywhere in nnlua;
** every function takes either dtype and keeps it.  Tensors have no
** strides, so what is not a contiguous piece of the input is a copy:
**   views   squeeze, unsqueeze, flatten; select, narrow, split and chunk
**           along dim 1
**   copies  transpose, permute, t, expand, broadcast_to, tile, repeat;
**           select, narrow, split and chunk along any other dim; tril,
**           triu; nn.cat, nn.stack
** (PyTorch gives views for all of the first group of copies; nnlua's are
** contiguous copies, the layout llm.c keeps its activations in.)
*/
#include <stdlib.h>

#include "bindings.h"

/* A dim argument for a tensor of `ndim` dims: 1..ndim, or -ndim..-1 from
** the end; returned 0-based.  The error names the tensor's shape.  A
** non-integer (2.5, nan, inf) raises luaL_checkinteger's error. */
static int dim_arg (lua_State *L, int arg, const nn_tensor *t, int ndim) {
  lua_Integer d = luaL_checkinteger(L, arg);
  lua_Integer z = d < 0 ? d + ndim : d - 1;     /* d < 0: no overflow in d + ndim */
  if (z < 0 || z >= ndim)
    luaL_argerror(L, arg, lua_pushfstring(L, "dim %I is out of range for %s (expected %d..%d "
                                          "or -%d..-1)", (lua_Integer)d, shape_str(t).s,
                                          ndim > 0, ndim, ndim));
  return (int)z;
}

static int opt_dim_arg (lua_State *L, int arg, const nn_tensor *t, int ndim, int dflt) {
  return lua_isnoneornil(L, arg) ? dflt : dim_arg(L, arg, t, ndim);
}

/* The result of a C call that made box->t: raise blaming `index_arg` for
** an index or dim (NN_ROLE_INDEX) and `x_arg` for the input; else tell the
** collector about a copy's bytes (nn_gc_account: without it, a loop of
** x:t() piles up 16 MiB blocks the collector does not know of, each call
** on fresh pages; a view owns no new elements). */
static int finish (lua_State *L, TensorBox *box, int rc, int x_arg, int index_arg) {
  if (rc != NN_OK) nn_raise_by_role(L, rc, 0, NN_ROLE_INDEX, index_arg, NN_ROLE_INPUT, x_arg, -1);
  if (!box->t->view) nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  return 1;
}

/* Integers at first..top, or one table of them at first: n of them into v
** (at most NN_MAXDIM).  Each in lo..NN_MAX_NUMEL. */
static int read_ints (lua_State *L, int first, int64_t *v, lua_Integer lo, const char *what) {
  int top = lua_gettop(L), table = lua_istable(L, first);
  int n = table ? (int)luaL_len(L, first) : top - first + 1;
  if (n > NN_MAXDIM)
    luaL_argerror(L, first, lua_pushfstring(L, "at most %d %s, got %d", NN_MAXDIM, what, n));
  for (int i = 0; i < n; i++) {
    int arg = table ? first : first + i;
    if (table) lua_geti(L, first, i + 1);
    else lua_pushvalue(L, arg);
    int isint;
    lua_Integer x = lua_tointegerx(L, -1, &isint);
    if (!isint || x < lo || x > NN_MAX_NUMEL)
      luaL_argerror(L, arg, lua_pushfstring(L, "%s %d must be an integer in %I..2^40, got %s",
                                            what, i + 1, lo, luaL_tolstring(L, -1, NULL)));
    v[i] = x;
    lua_pop(L, 1);
  }
  return n;
}

/* t:transpose(d1, d2) -> a copy of t with dims d1 and d2 swapped (torch's
** transpose(...).contiguous()).  t: any dims; d1, d2 in 1..ndim or negative.
** Errors: a dim out of range ("dim 3 is out of range for [3x4]"). */
static int t_transpose (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int d1 = dim_arg(L, 2, t, t->ndim), d2 = dim_arg(L, 3, t, t->ndim);
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_transpose(&box->t, t, d1, d2), 1, 2);
}

/* t:permute(2, 3, 1) or t:permute{2, 3, 1} -> a copy whose dim i is t's
** dim p[i] (torch.permute(...).contiguous()).  One entry per dim of t, each
** once.  Errors: the wrong count, a dim out of range or repeated. */
static int t_permute (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int table = lua_istable(L, 2);
  int n = table ? (int)luaL_len(L, 2) : lua_gettop(L) - 1;
  if (n != t->ndim)
    luaL_argerror(L, 2, lua_pushfstring(L, "permute of %s needs %d dims, got %d",
                                        shape_str(t).s, t->ndim, n));
  int perm[NN_MAXDIM], seen[NN_MAXDIM] = { 0 };
  for (int i = 0; i < n; i++) {
    int arg = table ? 2 : 2 + i;
    if (table) {
      lua_geti(L, 2, i + 1);
      int isint;
      lua_Integer d = lua_tointegerx(L, -1, &isint);
      if (!isint) luaL_argerror(L, 2, lua_pushfstring(L, "entry %d is not an integer", i + 1));
      lua_Integer z = d < 0 ? d + n : d - 1;
      if (z < 0 || z >= n)
        luaL_argerror(L, 2, lua_pushfstring(L, "dim %I is out of range for %s", d,
                                            shape_str(t).s));
      perm[i] = (int)z;
      lua_pop(L, 1);
    }
    else perm[i] = dim_arg(L, arg, t, n);
    if (seen[perm[i]]++)
      luaL_argerror(L, arg, lua_pushfstring(L, "dim %d appears twice in the permutation",
                                            perm[i] + 1));
  }
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_permute(&box->t, t, n, perm), 1, 2);
}

/* t:t() -> the transpose of a 2-D t (a copy, (N, M) from (M, N)); a 1-D or
** 0-dim t itself, as torch.Tensor.t.  Errors: more than 2 dims. */
static int t_t (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  if (t->ndim < 2) { lua_settop(L, 1); return 1; }
  if (t->ndim > 2)
    luaL_argerror(L, 1, lua_pushfstring(L, "t() takes a tensor of at most 2 dims, got %s "
                                        "(use transpose(d1, d2))", shape_str(t).s));
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_transpose(&box->t, t, 0, 1), 1, 1);
}

/* t:squeeze() -> a view without t's size-1 dims; t:squeeze(d) -> without
** dim d if its size is 1, else t's shape (as torch). */
static int t_squeeze (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int d = lua_isnoneornil(L, 2) ? -1 : dim_arg(L, 2, t, t->ndim);
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_squeeze(&box->t, t, d), 1, 2);
}

/* t:unsqueeze(d) -> a view with a size-1 dim inserted so that it is dim d
** of the result: d in 1..ndim+1, or -(ndim+1)..-1 (-1: a new last dim).
** Errors: t has 5 dims already; d out of range. */
static int t_unsqueeze (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int d = dim_arg(L, 2, t, t->ndim + 1);
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_unsqueeze(&box->t, t, d), 1, 2);
}

/* t:flatten([start [, end]]) -> a view with dims start..end (default 1,
** -1) merged: (2, 3, 4):flatten(2) is (2, 12).  A 0-dim t gives (1). */
static int t_flatten (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int s = 0, e = 0;
  if (t->ndim > 0) {
    s = opt_dim_arg(L, 2, t, t->ndim, 0);
    e = opt_dim_arg(L, 3, t, t->ndim, t->ndim - 1);
  }
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_flatten(&box->t, t, s, e), 1, 2);
}

/* t:expand(2, 3, 4) or t:expand{2, 3, 4}, t:broadcast_to{2, 3, 4} -> t
** broadcast to that shape by NumPy's and PyTorch's rules: t's dims align
** with the last ones; a size-1 dim repeats; new leading dims are added; -1
** keeps t's size.  A copy (PyTorch's is a view of stride 0; there are no
** strides here).  Errors: a shape that t does not broadcast to, the
** message naming both ("cannot expand [3x1] to [2x4]: dim 1 is 3, not 1
** or 4"). */
static int t_expand (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int64_t shape[NN_MAXDIM];
  int n = read_ints(L, 2, shape, -1, "size");
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_expand(&box->t, t, n, shape), 1, 2);
}

/* t:tile(2, 3) or t:tile{2, 3} -> t repeated 2 times along dim 1 and 3
** times along dim 2 (torch.tile): with fewer reps than dims, the reps are
** 1 for the leading dims; with more, t takes new leading dims of size 1.
** t["repeat"](t, ...) is torch's Tensor.repeat (`repeat` is a Lua keyword,
** so t:repeat(...) does not parse): the same, but it needs at least one
** rep per dim, as torch's does.  A copy.  Errors: a negative rep, more
** than 5 dims, a result above 2^40 elements. */
static int tile (lua_State *L, int strict) {
  nn_tensor *t = checktensor_any(L, 1);
  int64_t reps[NN_MAXDIM], full[NN_MAXDIM];
  int n = read_ints(L, 2, reps, 0, "rep");
  if (n < t->ndim && strict)
    luaL_argerror(L, 2, lua_pushfstring(L, "repeat of %s needs at least %d reps (one per dim), "
                                        "got %d", shape_str(t).s, t->ndim, n));
  int m = n < t->ndim ? t->ndim : n;
  for (int i = 0; i < m; i++) full[i] = i < m - n ? 1 : reps[i - (m - n)];
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_tile(&box->t, t, m, full), 1, 2);
}
static int t_tile (lua_State *L) { return tile(L, 0); }
static int t_repeat (lua_State *L) { return tile(L, 1); }

/* t:select(d, i) -> index i of dim d, that dim dropped (torch.select): a
** view for d = 1, a copy for the others.  i in 1..size, or negative from
** the end.  Errors: d or i out of range. */
static int t_select (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int d = dim_arg(L, 2, t, t->ndim);
  lua_Integer i = luaL_checkinteger(L, 3), n = t->shape[d];
  lua_Integer z = i < 0 ? i + n : i - 1;
  if (z < 0 || z >= n)
    luaL_argerror(L, 3, lua_pushfstring(L, "index %I is outside 1..%I or -%I..-1 (dim %d of %s)",
                                        i, n, n, d + 1, shape_str(t).s));
  TensorBox *box = newbox(L);
  return finish(L, box, tensor_select(&box->t, t, d, z), 1, 3);
}

/* The tensors of the list at arg: checked, into a userdata array kept on
** the stack (so nothing leaks if a check raises).  Returns their count. */
static const nn_tensor **list_arg (lua_State *L, int arg, int *count) {
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_Integer n = luaL_len(L, arg);
  luaL_argcheck(L, n >= 1, arg, "the list of tensors is empty");
  luaL_argcheck(L, n <= 1 << 20, arg, "more than 2^20 tensors in the list");
  const nn_tensor **xs = (const nn_tensor **)lua_newuserdatauv(L, (size_t)n * sizeof *xs, 0);
  for (lua_Integer k = 1; k <= n; k++) {
    lua_geti(L, arg, k);
    xs[k - 1] = totensor(L, -1);
    if (xs[k - 1] == NULL)
      luaL_argerror(L, arg, lua_pushfstring(L, "entry %I of the list is a %s, not a tensor", k,
                                            tensor_typename(L, -1)));
    lua_pop(L, 1);
  }
  *count = (int)n;
  return xs;
}

/* nn.cat(list, [d]) -> the tensors of list joined along dim d (default 1),
** as torch.cat: all of one dtype and device, all sizes equal off dim d.
** A new tensor.  Errors (naming the list position): an empty list, an
** entry that is not a tensor, a dtype, a device or a shape that differs. */
static int t_cat (lua_State *L) {
  int n;
  lua_settop(L, 2);                    /* the list's array goes above the dim */
  const nn_tensor **xs = list_arg(L, 1, &n);
  int d = opt_dim_arg(L, 2, xs[0], xs[0]->ndim, 0);
  TensorBox *box = newbox(L);
  int rc = tensor_cat(&box->t, xs, n, d);
  if (rc != NN_OK) nn_raise(L, nn_errrole() == NN_ROLE_INDEX ? 2 : 1, rc);
  nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  return 1;
}

/* nn.stack(list, [d]) -> the tensors of list, all of one shape, joined
** along a new dim d (default 1; 1..ndim+1 or negative), as torch.stack.
** Errors: as nn.cat's, and a result of more than 5 dims. */
static int t_stack (lua_State *L) {
  int n;
  lua_settop(L, 2);                    /* the list's array goes above the dim */
  const nn_tensor **xs = list_arg(L, 1, &n);
  int d = opt_dim_arg(L, 2, xs[0], xs[0]->ndim + 1, 0);
  TensorBox *box = newbox(L);
  int rc = tensor_stack(&box->t, xs, n, d);
  if (rc != NN_OK) nn_raise(L, nn_errrole() == NN_ROLE_INDEX ? 2 : 1, rc);
  nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  return 1;
}

/* Push the pieces of t along dim d of the given sizes, as a list. */
static int push_pieces (lua_State *L, nn_tensor *t, int d, const int64_t *sizes, int64_t n) {
  lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
  int64_t at = 0;
  for (int64_t k = 0; k < n; k++) {
    TensorBox *box = newbox(L);
    int rc = tensor_narrow_dim(&box->t, t, d, at, sizes[k]);
    if (rc != NN_OK) nn_raise(L, 0, rc);
    if (!box->t->view) nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
    lua_rawseti(L, -2, (lua_Integer)k + 1);
    at += sizes[k];
  }
  return 1;
}

/* Pieces of equal size `size` along d, the last one shorter (PyTorch's
** rule); one piece, empty, when the dim is 0. */
static int split_even (lua_State *L, nn_tensor *t, int d, int64_t size, int64_t count) {
  int64_t len = t->shape[d];
  /* ceil(len / size) without len + size - 1, which overflows for a huge size */
  int64_t n = count > 0 ? count : (len == 0 ? 1 : len / size + (len % size != 0));
  int64_t *sizes = (int64_t *)lua_newuserdatauv(L, (size_t)n * sizeof *sizes, 0);
  for (int64_t k = 0, at = 0; k < n; k++) {
    sizes[k] = len - at < size ? len - at : size;
    at += sizes[k];
  }
  return push_pieces(L, t, d, sizes, n);
}

/* t:split(size, [d]) -> a list of pieces along dim d (default 1) of `size`
** each, the last one shorter when size does not divide it; t:split({s1,
** s2, ...}, [d]) -> pieces of those sizes, which must sum to the dim's.
** As torch.split.  Views along dim 1, copies along the others.  Errors:
** size < 1, sizes that do not sum to the dim, d out of range. */
static int t_split (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "cannot split a 0-dim tensor");
  int d = opt_dim_arg(L, 3, t, t->ndim, 0);
  if (!lua_istable(L, 2)) {
    lua_Integer size = luaL_checkinteger(L, 2);
    if (size < 1)
      luaL_argerror(L, 2, lua_pushfstring(L, "split size must be >= 1, got %I", size));
    return split_even(L, t, d, size, 0);
  }
  lua_Integer n = luaL_len(L, 2);
  luaL_argcheck(L, n >= 1 && n <= 1 << 20, 2, "expected 1 to 2^20 sizes");
  int64_t *sizes = (int64_t *)lua_newuserdatauv(L, (size_t)n * sizeof *sizes, 0);
  int64_t sum = 0;
  for (lua_Integer k = 1; k <= n; k++) {
    lua_geti(L, 2, k);
    int isint;
    lua_Integer s = lua_tointegerx(L, -1, &isint);
    if (!isint || s < 0 || s > t->shape[d] - sum)
      luaL_argerror(L, 2, lua_pushfstring(L, "size %I is %s: the sizes must be integers >= 0 "
                                          "summing to %I (dim %d of %s)", k,
                                          luaL_tolstring(L, -1, NULL), (lua_Integer)t->shape[d],
                                          d + 1, shape_str(t).s));
    sizes[k - 1] = s;
    sum += s;
    lua_pop(L, 1);
  }
  if (sum != t->shape[d])
    luaL_argerror(L, 2, lua_pushfstring(L, "the sizes sum to %I, not %I (dim %d of %s)",
                                        (lua_Integer)sum, (lua_Integer)t->shape[d], d + 1,
                                        shape_str(t).s));
  return push_pieces(L, t, d, sizes, n);
}

/* t:chunk(n, [d]) -> at most n pieces along dim d (default 1), each of
** ceil(size / n) but the last (torch.chunk: so fewer than n when the size
** is small, 6 in 4 chunks gives 2, 2, 2); n empty pieces of an empty dim.
** Views along dim 1, copies along the others.  Errors: n < 1. */
static int t_chunk (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "cannot chunk a 0-dim tensor");
  lua_Integer n = luaL_checkinteger(L, 2);
  if (n < 1 || n > 1 << 20)
    luaL_argerror(L, 2, lua_pushfstring(L, "chunks must be 1..2^20, got %I", n));
  int d = opt_dim_arg(L, 3, t, t->ndim, 0);
  int64_t len = t->shape[d];
  if (len == 0) return split_even(L, t, d, 0, n);
  return split_even(L, t, d, (len + n - 1) / n, 0);
}

/* t:tril([k]), t:triu([k]) -> a copy of t with the elements above (tril)
** or below (triu) diagonal k of its last two dims set to 0 (torch.tril,
** torch.triu): k = 0 the main diagonal, k > 0 above, k < 0 below.  t has
** at least 2 dims; either dtype. */
static int tri (lua_State *L, int upper) {
  nn_tensor *t = checktensor_any(L, 1);
  lua_Integer k = luaL_optinteger(L, 2, 0);
  TensorBox *box = newbox(L);
  int rc = upper ? tensor_triu(&box->t, t, k) : tensor_tril(&box->t, t, k);
  return finish(L, box, rc, 1, 2);
}
static int t_tril (lua_State *L) { return tri(L, 0); }
static int t_triu (lua_State *L) { return tri(L, 1); }

static const luaL_Reg shape_meth[] = {
  {"transpose", t_transpose}, {"permute", t_permute}, {"t", t_t},
  {"squeeze", t_squeeze}, {"unsqueeze", t_unsqueeze}, {"flatten", t_flatten},
  {"expand", t_expand}, {"broadcast_to", t_expand},
  {"tile", t_tile}, {"repeat", t_repeat}, {"select", t_select},
  {"split", t_split}, {"chunk", t_chunk}, {"tril", t_tril}, {"triu", t_triu},
  {NULL, NULL}
};

/* Only in nn: nn.cat(list, d), nn.stack(list, d). */
static const luaL_Reg shape_fn[] = {
  {"cat", t_cat}, {"stack", t_stack},
  {NULL, NULL}
};

void nn_open_tensor_shape (lua_State *L) {
  luaL_getmetatable(L, TENSOR_MT);
  lua_getfield(L, -1, "methods");
  luaL_setfuncs(L, shape_meth, 0);
  lua_pop(L, 2);
  luaL_setfuncs(L, shape_meth, 0);   /* nn.transpose(t, 1, 2), ... */
  luaL_setfuncs(L, shape_fn, 0);
}
