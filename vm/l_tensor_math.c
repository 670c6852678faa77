/*
** l_tensor_math.c -- the element-wise tensor ops that broadcast, compare,
** select and round: binary ops of any two shapes that broadcast, the
** operators ^ // %, comparisons and masks (eq ... ge, where, masked_fill,
** any, all, isnan, isinf, maximum, minimum), more unary math (sin cos erf
** rsqrt floor round sign) and sum_to_size.
**
** Glue only, as l_tensor.c: the numbers are computed in tensor/ (the
** formulas in tensor/elementwise.h, the broadcasting in tensor/broadcast.c).
** nn_open_tensor_math adds these to the tensor methods and to nn.core, so
** each is both t:f(...) and nn.f(...).
**
** Broadcasting follows NumPy's rules (as PyTorch): shapes are aligned from
** the right, a missing leading dim counts as 1, and a dim of size 1
** stretches to the other's size.  (3x1) with (1x4) gives (3x4), (2) with
** (3x2) gives (3x2); (3x2) with (4) raises "shapes [3x2] and [4] do not
** broadcast: dim 2 has 2 and 4".  An in-place op (a:add_(b)) keeps a's
** shape: the broadcast shape must be a's.
**
** Masks are float32 tensors of 0 and 1 (PyTorch gives bool tensors), so
** that mask * x and mask:sum() work as they are.  Lua 5.4 turns what the
** __eq, __lt and __le metamethods return into a boolean, so `a < b` cannot
** give a mask: write a:lt(b) (or nn.lt(a, b)).  `a == b` stays Lua's
** identity test of two values.
*/
#include <math.h>
#include <string.h>

#include "bindings.h"

/* A new float32 tensor of (ndim, shape) on t's device, pushed. */
static nn_tensor *push_shape_of (lua_State *L, const nn_tensor *t, int ndim,
                                 const int64_t *shape) {
  return nn_push_new(L, t->storage->device, ndim, shape);
}

static int raise_type (lua_State *L, int arg, const char *want) {
  return luaL_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s", want,
                                               tensor_typename(L, arg)));
}

/* A float32 tensor at arg, or NULL when a number is there (into *s);
** raises for anything else (a freed tensor: "tensor already freed"). */
static nn_tensor *tensor_or_number (lua_State *L, int arg, double *s) {
  if (luaL_testudata(L, arg, TENSOR_MT)) return checktensor(L, arg);
  if (!lua_isnumber(L, arg)) raise_type(L, arg, "nn.Tensor or number");
  *s = lua_tonumber(L, arg);
  return NULL;
}

/* --- binary ops, broadcast ---------------------------------------------------- */

/* a (op) b, a and b tensors that broadcast or numbers (not both numbers),
** into a new tensor of the broadcast shape; in place (inplace: a:add_(b))
** into a, whose shape the broadcast shape must then be.  A number on the
** left (nn.sub(2, t), nn.pow(2, t)) takes the reversed op `rop`. */
static int binary_op (lua_State *L, nn_binop op, nn_binop rop, int inplace) {
  double sa = 0.0, sb = 0.0;
  nn_tensor *a = inplace ? checktensor(L, 1) : tensor_or_number(L, 1, &sa);
  nn_tensor *b = tensor_or_number(L, 2, &sb);
  int rc;
  if (a == NULL) {                       /* number (op) tensor */
    if (b == NULL) return raise_type(L, 1, "nn.Tensor");
    nn_tensor *out = push_shape_of(L, b, b->ndim, b->shape);
    rc = tensor_binary_scalar(out, b, (float)sa, rop);
    if (rc != NN_OK) nn_raise(L, 1, rc);
    return 1;
  }
  nn_tensor *out = a;
  if (b != NULL && !inplace) {
    int ndim;
    int64_t shape[NN_MAXDIM];
    if ((rc = tensor_broadcast_shape(&ndim, shape, a, b)) != NN_OK) return nn_raise(L, 2, rc);
    out = push_shape_of(L, a, ndim, shape);
  }
  else if (b != NULL) {                  /* in place: a must hold the broadcast shape */
    int ndim;
    int64_t shape[NN_MAXDIM], numel = 1;
    if ((rc = tensor_broadcast_shape(&ndim, shape, a, b)) != NN_OK) return nn_raise(L, 2, rc);
    for (int d = 0; d < ndim; d++) numel *= shape[d];
    if (numel != a->numel) {
      nn_tensor r = { 0 };
      r.ndim = ndim;
      memcpy(r.shape, shape, sizeof shape);
      return luaL_argerror(L, 2, lua_pushfstring(L, "in place, the result must keep self's "
                           "shape %s, but %s and %s broadcast to %s", shape_str(a).s,
                           shape_str(a).s, shape_str(b).s, shape_str(&r).s));
    }
  }
  else if (!inplace) out = push_shape_of(L, a, a->ndim, a->shape);
  rc = b ? tensor_binary(out, a, b, op) : tensor_binary_scalar(out, a, (float)sb, op);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  if (inplace) lua_settop(L, 1);
  return 1;
}

/* l_tensor.c's add, sub, mul, div (and their _ forms) come through here */
int nn_tensor_binary (lua_State *L, nn_binop op, int inplace) {
  nn_binop rop = op == NN_SUB ? NN_RSUB : op == NN_DIV ? NN_RDIV : op;
  return binary_op(L, op, rop, inplace);
}

/* t:pow(p) or nn.pow(a, b): a ^ b, element-wise; a and b tensors that
** broadcast or numbers (powf, C99's special cases: pow(x, 0) = 1, a
** negative base to a fractional power is nan).  Also t ^ p, 2 ^ t, a ^ b. */
static int t_pow (lua_State *L) { return binary_op(L, NN_POWER, NN_RPOWER, 0); }
static int t_pow_ (lua_State *L) { return binary_op(L, NN_POWER, NN_RPOWER, 1); }

/* a:floor_divide(b) = floor(a / b), as torch.div(a, b, rounding_mode='floor')
** (PyTorch's floor_divide and Python's //, which Lua's // also is):
** 7 // 2 = 3, -7 // 2 = -4, 7 // -2 = -4; x // 0 = +-inf (nan for 0 // 0).
** Also a // b.  The formula is in tensor/elementwise.h (nn_floor_divide). */
static int t_floor_divide (lua_State *L) {
  return binary_op(L, NN_FLOOR_DIVIDE, NN_RFLOOR_DIVIDE, 0);
}
static int t_floor_divide_ (lua_State *L) {
  return binary_op(L, NN_FLOOR_DIVIDE, NN_RFLOOR_DIVIDE, 1);
}

/* a:remainder(b) = a - floor(a / b) * b, with the sign of b (torch.remainder,
** Python's % and Lua's %): 7 % 3 = 1, -7 % 3 = 2, 7 % -3 = -2; x % 0 = nan.
** Also a % b. */
static int t_remainder (lua_State *L) { return binary_op(L, NN_REMAINDER, NN_RREMAINDER, 0); }
static int t_remainder_ (lua_State *L) { return binary_op(L, NN_REMAINDER, NN_RREMAINDER, 1); }

/* nn.maximum(a, b), nn.minimum(a, b): the larger (smaller) of each pair,
** broadcast; a nan in either gives nan (torch.maximum; fmax would skip it).
** a or b may be a number. */
static int t_maximum (lua_State *L) { return binary_op(L, NN_MAXIMUM, NN_MAXIMUM, 0); }
static int t_minimum (lua_State *L) { return binary_op(L, NN_MINIMUM, NN_MINIMUM, 0); }

/* The operators: t ^ x, t // x, t % x, and with a number on the left. */
static int m_pow (lua_State *L) { return t_pow(L); }
static int m_idiv (lua_State *L) { return t_floor_divide(L); }
static int m_mod (lua_State *L) { return t_remainder(L); }

/* --- comparisons and masks ---------------------------------------------------- */

/* a:eq(b), nn.eq(a, b); ne, lt, le, gt, ge likewise: 1.0 where a op b holds,
** else 0.0, a float32 mask of the broadcast shape (PyTorch: bool).  a and b
** are tensors of either dtype, or one of them a number.  Each pair is
** compared as doubles: exact for float32 and int32 alike (a float32 tensor
** against a number compares with the number rounded to float32, as
** PyTorch: nn.tensor{0.1}:eq(0.1) is 1).  nan is unequal to everything.
** Not as operators: Lua makes booleans of what < <= == return. */
static int compare (lua_State *L, nn_cmpop op) {
  static const nn_cmpop flipped[NN_CMPOP_COUNT] = { NN_EQ, NN_NE, NN_GT, NN_GE, NN_LT, NN_LE };
  nn_tensor *a = luaL_testudata(L, 1, TENSOR_MT) ? checktensor_any(L, 1) : NULL;
  nn_tensor *b = luaL_testudata(L, 2, TENSOR_MT) ? checktensor_any(L, 2) : NULL;
  if (a == NULL && (b == NULL || !lua_isnumber(L, 1)))
    return raise_type(L, 1, b ? "nn.Tensor or number" : "nn.Tensor");
  if (b == NULL && !lua_isnumber(L, 2)) return raise_type(L, 2, "nn.Tensor or number");
  int rc;
  if (a && b) {
    int ndim;
    int64_t shape[NN_MAXDIM];
    if ((rc = tensor_broadcast_shape(&ndim, shape, a, b)) != NN_OK) return nn_raise(L, 2, rc);
    nn_tensor *out = push_shape_of(L, a, ndim, shape);
    rc = tensor_compare(out, a, b, op);
  }
  else {
    nn_tensor *t = a ? a : b;
    double s = lua_tonumber(L, a ? 2 : 1);
    nn_tensor *out = push_shape_of(L, t, t->ndim, t->shape);
    rc = tensor_compare_scalar(out, t, s, a ? op : flipped[op]);
  }
  if (rc != NN_OK) nn_raise(L, 2, rc);
  return 1;
}

static int t_eq (lua_State *L) { return compare(L, NN_EQ); }
static int t_ne (lua_State *L) { return compare(L, NN_NE); }
static int t_lt (lua_State *L) { return compare(L, NN_LT); }
static int t_le (lua_State *L) { return compare(L, NN_LE); }
static int t_gt (lua_State *L) { return compare(L, NN_GT); }
static int t_ge (lua_State *L) { return compare(L, NN_GE); }

/* where(cond, a, b) into a new tensor; cond at arg c, a and b at args x, y */
static int where_args (lua_State *L, int c, int x, int y) {
  nn_tensor *cond = checktensor_any(L, c);
  double sa = 0.0, sb = 0.0;
  nn_tensor *a = tensor_or_number(L, x, &sa), *b = tensor_or_number(L, y, &sb);
  int ndim = cond->ndim, rc = NN_OK;
  int64_t shape[NN_MAXDIM];
  memcpy(shape, cond->shape, sizeof shape);
  nn_tensor shaped = { 0 };               /* the shape so far, as a tensor for the helper */
  const nn_tensor *next[2] = { a, b };
  const int arg[2] = { x, y };
  for (int k = 0; k < 2; k++) {
    if (next[k] == NULL) continue;
    shaped.ndim = ndim;
    memcpy(shaped.shape, shape, sizeof shape);
    if ((rc = tensor_broadcast_shape(&ndim, shape, &shaped, next[k])) != NN_OK)
      return nn_raise(L, arg[k], rc);
  }
  nn_tensor *out = push_shape_of(L, cond, ndim, shape);
  rc = tensor_where(out, cond, a, (float)sa, b, (float)sb);
  if (rc != NN_OK) nn_raise_by_role(L, rc, c, NN_ROLE_INPUT, c, NN_ROLE_INPUT + 1, x,
                                    NN_ROLE_INPUT + 2, y, -1);
  return 1;
}

/* nn.where(cond, a, b): a where cond is nonzero, else b, element-wise; the
** three broadcast together (torch.where).  cond: a tensor of either dtype
** (a mask such as x:gt(0); nan counts as nonzero); a, b: float32 tensors
** or numbers.  The result is a new float32 tensor of the broadcast shape. */
static int l_where (lua_State *L) { return where_args(L, 1, 2, 3); }

/* x:where(cond, y): PyTorch's method form, nn.where(cond, x, y). */
static int t_where (lua_State *L) { return where_args(L, 2, 1, 3); }

/* t:masked_fill(mask, v): a copy of t with v wherever mask is nonzero;
** t:masked_fill_(mask, v) does it in t and returns t.  mask: a tensor of
** either dtype whose shape broadcasts to t's; v: a number. */
static int masked_fill (lua_State *L, int inplace) {
  nn_tensor *t = checktensor(L, 1);
  nn_tensor *mask = checktensor_any(L, 2);
  float v = (float)luaL_checknumber(L, 3);
  int ndim, rc;
  int64_t shape[NN_MAXDIM];
  if ((rc = tensor_broadcast_shape(&ndim, shape, t, mask)) != NN_OK) return nn_raise(L, 2, rc);
  int fits = ndim == t->ndim;
  for (int d = 0; d < ndim && fits; d++) fits = shape[d] == t->shape[d];
  if (!fits)
    return luaL_argerror(L, 2, lua_pushfstring(L, "the mask %s does not broadcast to self's "
                                               "shape %s", shape_str(mask).s, shape_str(t).s));
  nn_tensor *out = inplace ? t : push_shape_of(L, t, t->ndim, t->shape);
  rc = tensor_where(out, mask, NULL, v, t, 0.0f);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  if (inplace) lua_settop(L, 1);
  return 1;
}
static int t_masked_fill (lua_State *L) { return masked_fill(L, 0); }
static int t_masked_fill_ (lua_State *L) { return masked_fill(L, 1); }

/* t:any() -> true when some element is nonzero; t:all() -> true when every
** element is (nan counts as nonzero; any of an empty tensor is false, all
** is true).  t:any(dim [, keepdim]) -> a 0/1 float32 mask with dim
** removed (kept as size 1 with keepdim), as t:sum(dim).  Either dtype. */
static int any_all (lua_State *L, int all) {
  nn_tensor *t = checktensor_any(L, 1);
  int rc;
  if (lua_isnoneornil(L, 2)) {
    int r;
    if ((rc = tensor_any_all(&r, t, all)) != NN_OK) nn_raise(L, 1, rc);
    lua_pushboolean(L, r);
    return 1;
  }
  lua_Integer d = luaL_checkinteger(L, 2);
  if (d < 0) d += t->ndim + 1;
  if (d < 1 || d > t->ndim)
    return luaL_argerror(L, 2, lua_pushfstring(L, "dim %I is out of range for %s (it has %d "
                                               "dims)", (lua_Integer)luaL_checkinteger(L, 2),
                                               shape_str(t).s, t->ndim));
  int keepdim = lua_toboolean(L, 3), n = 0;
  int64_t shape[NN_MAXDIM];
  for (int i = 0; i < t->ndim; i++) {
    if (i != d - 1) shape[n++] = t->shape[i];
    else if (keepdim) shape[n++] = 1;
  }
  nn_tensor *out = push_shape_of(L, t, n, shape);
  if ((rc = tensor_any_all_dim(out, t, (int)d - 1, all)) != NN_OK) nn_raise(L, 2, rc);
  return 1;
}
static int t_any (lua_State *L) { return any_all(L, 0); }
static int t_all (lua_State *L) { return any_all(L, 1); }

/* --- unary ops --------------------------------------------------------------------- */

/* f(t) into a new tensor, or into t (the _ forms, which return t) */
static int unary (lua_State *L, nn_unop op, int inplace) {
  nn_tensor *a = checktensor(L, 1);
  nn_tensor *out = inplace ? a : push_shape_of(L, a, a->ndim, a->shape);
  int rc = tensor_unary(out, a, op, 0.0f, 0.0f);
  if (rc != NN_OK) nn_raise(L, 1, rc);
  if (inplace) lua_settop(L, 1);
  return 1;
}

/* t:sin(), cos(), erf() (the error function, 2/sqrt(pi) \int_0^x e^{-t^2} dt),
** rsqrt() (1 / sqrt(t)), floor(), round() (half to even, as torch.round:
** 0.5 -> 0, 1.5 -> 2, 2.5 -> 2), sign() (-1, 0 or 1; nan stays nan); each
** with an _ form that writes into t.  isnan(), isinf(): 0/1 float32 masks. */
static int t_sin (lua_State *L) { return unary(L, NN_SIN, 0); }
static int t_cos (lua_State *L) { return unary(L, NN_COS, 0); }
static int t_erf (lua_State *L) { return unary(L, NN_ERF, 0); }
static int t_rsqrt (lua_State *L) { return unary(L, NN_RSQRT, 0); }
static int t_floor (lua_State *L) { return unary(L, NN_FLOOR, 0); }
static int t_round (lua_State *L) { return unary(L, NN_ROUND, 0); }
static int t_sign (lua_State *L) { return unary(L, NN_SIGN, 0); }
static int t_sin_ (lua_State *L) { return unary(L, NN_SIN, 1); }
static int t_cos_ (lua_State *L) { return unary(L, NN_COS, 1); }
static int t_erf_ (lua_State *L) { return unary(L, NN_ERF, 1); }
static int t_rsqrt_ (lua_State *L) { return unary(L, NN_RSQRT, 1); }
static int t_floor_ (lua_State *L) { return unary(L, NN_FLOOR, 1); }
static int t_round_ (lua_State *L) { return unary(L, NN_ROUND, 1); }
static int t_sign_ (lua_State *L) { return unary(L, NN_SIGN, 1); }
static int t_isnan (lua_State *L) { return unary(L, NN_ISNAN, 0); }
static int t_isinf (lua_State *L) { return unary(L, NN_ISINF, 0); }

/* --- sum_to_size ------------------------------------------------------------------ */

/* t:sum_to_size(2, 3) or t:sum_to_size{2, 3}: t summed down to a shape that
** broadcasts to t's (torch.Tensor.sum_to_size): each element of the result
** is the sum (in double) of the elements of t it stretches over.  This is
** the backward of a broadcast op: if y = a + b with b (3) and y (2x3), then
** dL/db = (dL/dy):sum_to_size(3).  Raises when the shape does not broadcast
** to t's. */
static int t_sum_to_size (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  int64_t shape[NN_MAXDIM];
  int ndim = 0, top = lua_gettop(L), tab = lua_istable(L, 2);
  int count = tab ? (int)luaL_len(L, 2) : top - 1;
  luaL_argcheck(L, count <= NN_MAXDIM, 2, "a tensor has at most 5 dims");
  for (int i = 0; i < count; i++) {
    int isint = 0, arg = tab ? 2 : i + 2;
    if (tab) lua_geti(L, 2, i + 1);
    lua_Integer v = lua_tointegerx(L, tab ? -1 : arg, &isint);
    if (!isint || v < 0 || v > NN_MAX_NUMEL)
      luaL_argerror(L, arg, lua_pushfstring(L, "size %d must be an integer in 0 .. 2^40, got %s",
                                            i + 1, luaL_tolstring(L, tab ? -1 : arg, NULL)));
    if (tab) lua_pop(L, 1);
    shape[ndim++] = v;
  }
  int64_t numel;
  if (nn_shape_numel(&numel, ndim, shape) != NN_OK) luaL_argerror(L, 2, nn_errmsg());
  nn_tensor *out = push_shape_of(L, t, ndim, shape);
  int rc = tensor_sum_to_size(out, t);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  return 1;
}

/* --- registration ------------------------------------------------------------------ */

/* methods, and also nn.f (the same C function) */
static const luaL_Reg math_meth[] = {
  {"pow", t_pow}, {"pow_", t_pow_},
  {"floor_divide", t_floor_divide}, {"floor_divide_", t_floor_divide_},
  {"remainder", t_remainder}, {"remainder_", t_remainder_},
  {"maximum", t_maximum}, {"minimum", t_minimum},
  {"eq", t_eq}, {"ne", t_ne}, {"lt", t_lt}, {"le", t_le}, {"gt", t_gt}, {"ge", t_ge},
  {"masked_fill", t_masked_fill}, {"masked_fill_", t_masked_fill_},
  {"any", t_any}, {"all", t_all}, {"isnan", t_isnan}, {"isinf", t_isinf},
  {"sin", t_sin}, {"cos", t_cos}, {"erf", t_erf}, {"rsqrt", t_rsqrt},
  {"floor", t_floor}, {"round", t_round}, {"sign", t_sign},
  {"sin_", t_sin_}, {"cos_", t_cos_}, {"erf_", t_erf_}, {"rsqrt_", t_rsqrt_},
  {"floor_", t_floor_}, {"round_", t_round_}, {"sign_", t_sign_},
  {"sum_to_size", t_sum_to_size},
  {NULL, NULL}
};

/* the operators; not __eq, __lt, __le (Lua makes their results booleans) */
static const luaL_Reg math_metameth[] = {
  {"__pow", m_pow}, {"__idiv", m_idiv}, {"__mod", m_mod},
  {NULL, NULL}
};

void nn_open_tensor_math (lua_State *L) {
  luaL_setfuncs(L, math_meth, 0);            /* nn.core.eq, ... */
  lua_pushcfunction(L, l_where);             /* nn.where(cond, a, b) */
  lua_setfield(L, -2, "where");
  luaL_getmetatable(L, TENSOR_MT);
  luaL_setfuncs(L, math_metameth, 0);
  if (lua_getfield(L, -1, "methods") == LUA_TTABLE) {
    luaL_setfuncs(L, math_meth, 0);
    lua_pushcfunction(L, t_where);           /* x:where(cond, y) */
    lua_setfield(L, -2, "where");
  }
  lua_pop(L, 2);
}
