/*
** l_functional.c -- the layers' pure pairs as plain Lua functions:
** nn.functional (also nn.F), as PyTorch's torch.nn.functional.
**
**   y = nn.F.linear(x, w, b, 'relu')          -- linear_forward, no module
**   gx, gw, gb = nn.F.linear_backward(gz, x, w)
**   y = nn.F.conv2d(x, w, b, {stride = 2, padding = 1})
**
** Each returns new tensors (the pairs themselves write into preallocated
** ones: nn/nn.h); nothing is kept between calls, so the caller passes what
** a backward needs (x, y, a mask, saved statistics).  The losses' pairs
** join the same table from l_criterion.c.
*/
#include <string.h>

#include "bindings.h"
#include "nn.h"

/* a new tensor of t's shape and device, pushed */
static nn_tensor *push_like (lua_State *L, const nn_tensor *t) {
  return nn_push_new(L, t->storage->device, t->ndim, t->shape);
}

/* the activation named at arg ("relu", ...; none or nil: "linear") */
static nn_activation check_act (lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) return NN_ACT_NONE;
  return (nn_activation)luaL_checkoption(L, arg, NULL, nn_activation_names);
}

/* nn.F.linear(x, weight [, bias [, activation]]) -> y = act(x W^T + b)
** x: (B, in), weight: (out, in), bias: (out) or nil, y: (B, out). */
static int f_linear (lua_State *L) {
  nn_tensor *x = checktensor(L, 1), *w = checktensor(L, 2);
  nn_tensor *b = lua_isnoneornil(L, 3) ? NULL : checktensor(L, 3);
  nn_activation act = check_act(L, 4);
  int64_t shape[2] = { x->shape[0], w->ndim == 2 ? w->shape[0] : 0 };
  nn_tensor *y = nn_push_new(L, x->storage->device, 2, shape);
  int rc = linear_forward(y, x, w, b, act);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2,
                            NN_ROLE_INPUT + 2, 3, -1);
  return 1;
}

/* nn.F.linear_backward(grad_z, x, weight [, {bias = true, grad_input = true}])
** -> grad_x (or nil), grad_weight, grad_bias (or nil): equations (4)-(6) of
** nn/linear.c.  grad_z is dL/dz at the pre-activation: for a fused
** activation, nn.F.activation_backward first. */
static int f_linear_backward (lua_State *L) {
  static const char *const keys[] = { "bias", "grad_input", NULL };
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2), *w = checktensor(L, 3);
  nn_check_keys(L, 4, "linear_backward", keys);
  int bias = nn_opt_boolean(L, 4, "bias", 1), need = nn_opt_boolean(L, 4, "grad_input", 1);
  lua_settop(L, 3);
  nn_tensor *gx = NULL, *gw, *gb = NULL;
  if (need) gx = push_like(L, x); else lua_pushnil(L);
  gw = push_like(L, w);
  if (bias) {
    int64_t n = w->ndim == 2 ? w->shape[0] : 0;
    gb = nn_push_new(L, w->storage->device, 1, &n);
  } else lua_pushnil(L);
  int rc = linear_backward(gx, gw, gb, g, x, w, 0.0f);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_GRAD_OUT, 1, NN_ROLE_INPUT + 1, 2,
                            NN_ROLE_INPUT + 2, 3, -1);
  return 3;
}

/* nn.F.activation(x, name) -> y; name: relu, sigmoid, tanh, softmax,
** log_softmax or linear.  nn.F.relu(x) ... are the same with the name fixed. */
static int activation_with (lua_State *L, nn_activation act) {
  nn_tensor *x = checktensor(L, 1);
  nn_tensor *y = push_like(L, x);
  int rc = activation_forward(y, x, act);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 1;
}

/* nn.F.activation_backward(grad_y, y, name) -> grad_x, from the OUTPUT y
** (relu'(x) = [y > 0], sigmoid' = y (1 - y), ...: nn/activation.c (2)-(6)). */
static int f_activation_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *y = checktensor(L, 2);
  nn_activation act = (nn_activation)luaL_checkoption(L, 3, NULL, nn_activation_names);
  if (g->numel != y->numel)
    return luaL_argerror(L, 1, lua_pushfstring(L, "grad_y %s does not match y %s",
                                               shape_str(g).s, shape_str(y).s));
  nn_tensor *gx = push_like(L, y);
  int rc = activation_backward(gx, g, y, act);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 1, NN_ROLE_GRAD_OUT, 1, NN_ROLE_INPUT + 1, 2, -1);
  return 1;
}

static int f_activation (lua_State *L) {
  nn_activation act = (nn_activation)luaL_checkoption(L, 2, NULL, nn_activation_names);
  return activation_with(L, act);
}
static int f_relu (lua_State *L) { return activation_with(L, NN_ACT_RELU); }
static int f_sigmoid (lua_State *L) { return activation_with(L, NN_ACT_SIGMOID); }
static int f_tanh (lua_State *L) { return activation_with(L, NN_ACT_TANH); }
static int f_softmax (lua_State *L) { return activation_with(L, NN_ACT_SOFTMAX); }
static int f_log_softmax (lua_State *L) { return activation_with(L, NN_ACT_LOG_SOFTMAX); }

/* nn.F.leaky_relu(x [, negative_slope = 0.01]) -> y;
** nn.F.leaky_relu_backward(grad_y, x [, negative_slope]) -> grad_x (from x). */
static int f_leaky_relu (lua_State *L) {
  nn_tensor *x = checktensor(L, 1);
  float slope = (float)luaL_optnumber(L, 2, 0.01);
  nn_tensor *y = push_like(L, x);
  int rc = leaky_relu_forward(y, x, slope);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 1;
}

static int f_leaky_relu_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2);
  float slope = (float)luaL_optnumber(L, 3, 0.01);
  nn_tensor *gx = push_like(L, x);
  int rc = leaky_relu_backward(gx, g, x, slope);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 1;
}

/* nn.F.dropout(x, p [, training = true]) -> y, mask (empty in evaluation);
** nn.F.dropout_backward(grad_y, mask) -> grad_x.  Draws from the one generator. */
static int f_dropout (lua_State *L) {
  nn_tensor *x = checktensor(L, 1);
  double p = luaL_checknumber(L, 2);
  luaL_argcheck(L, p >= 0.0 && p <= 1.0, 2, "p must be in [0, 1]");
  int training = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  nn_tensor *y = push_like(L, x);
  nn_tensor *mask = push_like(L, x);
  int rc = dropout_forward(y, mask, x, (float)p, training);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 2;
}

static int f_dropout_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *mask = checktensor(L, 2);
  nn_tensor *gx = push_like(L, g);
  int rc = dropout_backward(gx, g, mask);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT + 1, 2, -1);
  return 1;
}

/* nn.F.batch_norm(x, running_mean, running_var [, {weight, bias, training =
** true, eps = 1e-5, momentum = 0.1}]) -> y, save_mean, save_invstd.
** x: (B, C), (B, C, L) or (B, C, H, W), each channel normalised over all
** but dim 2; the running statistics (C) move in training, in place. */
static int f_batch_norm (lua_State *L) {
  static const char *const keys[] = { "weight", "bias", "training", "eps", "momentum", NULL };
  nn_tensor *x = checktensor(L, 1), *rm = checktensor(L, 2), *rv = checktensor(L, 3);
  nn_check_keys(L, 4, "batch_norm", keys);
  nn_tensor *gamma = NULL, *beta = NULL;
  if (lua_istable(L, 4)) {
    if (lua_getfield(L, 4, "weight") != LUA_TNIL) gamma = checktensor(L, -1);
    if (lua_getfield(L, 4, "bias") != LUA_TNIL) beta = checktensor(L, -1);
    lua_pop(L, 2);
  }
  int training = nn_opt_boolean(L, 4, "training", 1);
  double eps = nn_opt_number(L, 4, "eps", 1e-5), mom = nn_opt_number(L, 4, "momentum", 0.1);
  luaL_argcheck(L, eps > 0, 4, "eps must be > 0");
  lua_settop(L, 4);
  int64_t C = x->ndim >= 2 ? x->shape[1] : 0;
  nn_tensor *y = push_like(L, x);
  nn_tensor *sm = nn_push_new(L, x->storage->device, 1, &C);
  nn_tensor *si = nn_push_new(L, x->storage->device, 1, &C);
  int rc = batchnorm_forward(y, rm, rv, sm, si, x, gamma, beta, eps, mom, training);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 4,
                                           NN_ROLE_INPUT + 2, 4, -1);
  return 3;
}

/* nn.F.batch_norm_backward(grad_y, x, save_mean, save_invstd [, weight [,
** batch = true]]) -> grad_x, grad_weight, grad_bias (nil without weight).
** batch: the forward normalised with the batch's statistics (training). */
static int f_batch_norm_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2);
  nn_tensor *sm = checktensor(L, 3), *si = checktensor(L, 4);
  nn_tensor *gamma = lua_isnoneornil(L, 5) ? NULL : checktensor(L, 5);
  int batch = lua_isnoneornil(L, 6) || lua_toboolean(L, 6);
  lua_settop(L, 6);
  nn_tensor *gx = push_like(L, x), *gg = NULL, *gb = NULL;
  if (gamma) {
    gg = push_like(L, gamma);
    gb = push_like(L, gamma);
    tensor_fill(gg, 0.0f);
    tensor_fill(gb, 0.0f);
  } else { lua_pushnil(L); lua_pushnil(L); }
  int rc = batchnorm_backward(gx, gg, gb, g, x, sm, si, gamma, batch);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_GRAD_OUT, 1, NN_ROLE_INPUT + 1, 2,
                            NN_ROLE_INPUT + 2, 3, NN_ROLE_INPUT + 3, 4, NN_ROLE_INPUT + 4, 5, -1);
  return 3;
}

/* nn.F.add(a, b) -> a + b, b of a's shape or of its trailing dims (or the
** other way round); nn.F.add_backward(grad_y, a, b) -> grad_a, grad_b. */
static int f_add (lua_State *L) {
  nn_tensor *a = checktensor(L, 1), *b = checktensor(L, 2);
  nn_tensor *y = push_like(L, a->numel >= b->numel ? a : b);
  int rc = add_forward(y, a, b);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 2, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2, -1);
  return 1;
}

static int f_add_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *a = checktensor(L, 2), *b = checktensor(L, 3);
  const nn_tensor *big = a->numel >= b->numel ? a : b;
  if (g->numel != big->numel)
    return luaL_argerror(L, 1, lua_pushfstring(L, "grad_y %s does not match %s",
                                               shape_str(g).s, shape_str(big).s));
  nn_tensor *ga = push_like(L, a), *gb = push_like(L, b);
  int rc = add_backward(ga, gb, g);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 2;
}

/* the list of tensors at arg, into x[] (at most NN_MAXINPUT); returns n */
static int check_list (lua_State *L, int arg, nn_tensor **x) {
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_Integer n = luaL_len(L, arg);
  luaL_argcheck(L, n >= 1 && n <= NN_MAXINPUT, arg, "expected a list of 1 to 8 tensors");
  for (int k = 0; k < (int)n; k++) {
    lua_geti(L, arg, k + 1);
    x[k] = totensor(L, -1);
    if (x[k] == NULL)
      luaL_argerror(L, arg, lua_pushfstring(L, "entry %d is a %s, not a tensor", k + 1,
                                            tensor_typename(L, -1)));
    lua_pop(L, 1);
  }
  return (int)n;
}

/* dim at arg, 1-based or negative from the end, as 0-based for ndim dims */
static int check_dim (lua_State *L, int arg, int ndim) {
  lua_Integer d = luaL_checkinteger(L, arg);
  if (d < 0) d += ndim + 1;
  luaL_argcheck(L, d >= 1 && d <= ndim, arg, "dim out of range");
  return (int)d - 1;
}

/* nn.F.concat({x1, x2, ...}, dim) -> y, joined along dim (1-based);
** nn.F.concat_backward(grad_y, {x1, x2, ...}, dim) -> {grad_x1, ...}. */
static int f_concat (lua_State *L) {
  nn_tensor *x[NN_MAXINPUT];
  int n = check_list(L, 1, x);
  int d = check_dim(L, 2, x[0]->ndim);
  nn_shape out = shape_of(x[0]);
  for (int k = 1; k < n; k++) if (x[k]->ndim == out.ndim) out.d[d] += x[k]->shape[d];
  nn_tensor *y = nn_push_new(L, x[0]->storage->device, out.ndim, out.d);
  int rc = concat_forward(y, n, (const nn_tensor *const *)x, d);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 1;
}

static int f_concat_backward (lua_State *L) {
  nn_tensor *x[NN_MAXINPUT], *gx[NN_MAXINPUT];
  nn_tensor *g = checktensor(L, 1);
  int n = check_list(L, 2, x);
  int d = check_dim(L, 3, g->ndim);
  lua_settop(L, 3);
  lua_createtable(L, n, 0);
  for (int k = 0; k < n; k++) {
    gx[k] = push_like(L, x[k]);
    lua_rawseti(L, 4, k + 1);
  }
  int rc = concat_backward(gx, n, g, d);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 1;
}

/* --- Conv2d -------------------------------------------------------------------- */

/* opts[key] at arg as a (height, width) pair: a whole number n gives (n, n),
** {h, w} each; absent: (dflt, dflt).  Each in [min, 2^31 - 1]. */
static void opt_pair (lua_State *L, int arg, const char *who, const char *key, int64_t dflt,
                      int64_t min, int64_t out[2]) {
  out[0] = out[1] = dflt;
  if (lua_isnoneornil(L, arg)) return;
  int pairlike = lua_getfield(L, arg, key) == LUA_TTABLE;
  if (lua_isnil(L, -1)) { lua_pop(L, 1); return; }
  if (pairlike && luaL_len(L, -1) != 2)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be an integer or a pair {h, w}",
                                          who, key));
  for (int k = 0; k < 2; k++) {
    if (pairlike) lua_geti(L, -1, k + 1);
    int isint = 0;
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint || v < min || v > INT32_MAX)
      luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be %s%s integer%s below 2^31",
                                            who, key, pairlike ? "a pair {h, w} of " : "a ",
                                            min > 0 ? "positive" : "non-negative",
                                            pairlike ? "s" : ""));
    out[k] = (int64_t)v;
    if (pairlike) lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* the options of nn.F.conv2d and conv2d_backward at arg */
static nn_conv2d_params check_conv_opts (lua_State *L, int arg, const char *who) {
  nn_conv2d_params p;
  int64_t groups[2];
  opt_pair(L, arg, who, "stride", 1, 1, p.stride);
  opt_pair(L, arg, who, "padding", 0, 0, p.padding);
  opt_pair(L, arg, who, "dilation", 1, 1, p.dilation);
  opt_pair(L, arg, who, "groups", 1, 1, groups);
  p.groups = groups[0];
  return p;
}

/* nn.F.conv2d(x, weight [, bias [, {stride = 1, padding = 0, dilation = 1,
** groups = 1}]]) -> y: Conv2d's forward, no module (nn/conv.c, (1)-(3)).
** x: (B, C, H, W), weight: (Cout, C/groups, kh, kw), bias: (Cout) or nil;
** stride, padding, dilation each n or {h, w}. */
static int f_conv2d (lua_State *L) {
  static const char *const keys[] = { "stride", "padding", "dilation", "groups", NULL };
  nn_tensor *x = checktensor(L, 1), *w = checktensor(L, 2);
  nn_tensor *b = lua_isnoneornil(L, 3) ? NULL : checktensor(L, 3);
  nn_check_keys(L, 4, "conv2d", keys);
  nn_conv2d_params p = check_conv_opts(L, 4, "conv2d");
  lua_settop(L, 4);
  int64_t shape[4], zero = 0;
  int rc = conv2d_output_shape(shape, x, w, &p);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2, -1);
  nn_device dev = x->storage->device;
  nn_tensor *cols = nn_push_new(L, dev, 1, &zero), *mat = nn_push_new(L, dev, 1, &zero);
  nn_tensor *y = nn_push_new(L, dev, 4, shape);
  rc = conv2d_forward(y, cols, mat, x, w, b, &p);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2,
                            NN_ROLE_INPUT + 2, 3, -1);
  return 1;
}

/* nn.F.conv2d_backward(grad_y, x, weight [, opts]) -> grad_x (or nil),
** grad_weight, grad_bias (or nil): nn/conv.c's (4)-(9).  opts: conv2d's,
** and bias = true, grad_input = true. */
static int f_conv2d_backward (lua_State *L) {
  static const char *const keys[] = { "stride", "padding", "dilation", "groups", "bias",
                                      "grad_input", NULL };
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2), *w = checktensor(L, 3);
  nn_check_keys(L, 4, "conv2d_backward", keys);
  nn_conv2d_params p = check_conv_opts(L, 4, "conv2d_backward");
  int bias = nn_opt_boolean(L, 4, "bias", 1), need = nn_opt_boolean(L, 4, "grad_input", 1);
  lua_settop(L, 4);
  int64_t shape[4], zero = 0;
  int rc = conv2d_output_shape(shape, x, w, &p);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 2, NN_ROLE_INPUT + 1, 3, -1);
  nn_device dev = x->storage->device;
  nn_tensor *cols = nn_push_new(L, dev, 1, &zero), *mat = nn_push_new(L, dev, 1, &zero);
  nn_tensor *dcols = nn_push_new(L, dev, 1, &zero);
  nn_tensor *gx = NULL, *gw, *gb = NULL;
  if (need) gx = push_like(L, x); else lua_pushnil(L);
  gw = push_like(L, w);
  if (bias) gb = nn_push_new(L, dev, 1, &shape[1]); else lua_pushnil(L);
  rc = conv2d_backward(gx, gw, gb, cols, mat, dcols, g, x, w, &p, 0, 0.0f);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 1, NN_ROLE_GRAD_OUT, 1, NN_ROLE_INPUT + 1, 2,
                            NN_ROLE_INPUT + 2, 3, -1);
  return 3;
}

static const luaL_Reg functions[] = {
  {"linear", f_linear}, {"linear_backward", f_linear_backward},
  {"activation", f_activation}, {"activation_backward", f_activation_backward},
  {"relu", f_relu}, {"sigmoid", f_sigmoid}, {"tanh", f_tanh},
  {"softmax", f_softmax}, {"log_softmax", f_log_softmax},
  {"leaky_relu", f_leaky_relu}, {"leaky_relu_backward", f_leaky_relu_backward},
  {"dropout", f_dropout}, {"dropout_backward", f_dropout_backward},
  {"batch_norm", f_batch_norm}, {"batch_norm_backward", f_batch_norm_backward},
  {"add", f_add}, {"add_backward", f_add_backward},
  {"concat", f_concat}, {"concat_backward", f_concat_backward},
  {"conv2d", f_conv2d}, {"conv2d_backward", f_conv2d_backward},
  {NULL, NULL}
};

/* Adds the functions to nn.core.functional (made here if the losses'
** binding has not made it yet), on the table on top of the stack. */
void nn_open_functional (lua_State *L) {
  if (lua_getfield(L, -1, "functional") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "functional");
  }
  luaL_setfuncs(L, functions, 0);
  lua_pop(L, 1);
}
