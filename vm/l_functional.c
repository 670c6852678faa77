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
#include "pool.h"

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

/* nn.F.linear_backward(grad_z, x, weight [, {bias = true, grad_input = true,
** grad_weight = t, grad_bias = t, accumulate = true}]) -> grad_x (or nil), grad_weight,
** grad_bias (or nil): equations (4)-(6) of nn/linear.c.  grad_z is dL/dz at
** the pre-activation: for a fused activation, nn.F.activation_backward
** first.  grad_weight / grad_bias given: tensors of weight's shape (of
** (out)) on its device that the gradients are ADDED to (beta = 1, as a
** layer's accumulate) and returned, instead of new ones: the autograd
** engine's leaves take them so (lua/nn/autograd_ops.lua); with accumulate
** = false they are overwritten (beta = 0: a step's zero_grad fused in, as
** layer:backward(g, {accumulate = false})).  Errors: as the
** pair's, a given gradient of the wrong shape or device, grad_weight
** without grad_bias or the other way round (with a bias) (#4). */
static nn_tensor *given_grad (lua_State *L, const char *key, const nn_tensor *like, int64_t n) {
  if (!lua_istable(L, 4) || lua_getfield(L, 4, key) == LUA_TNIL) {
    if (lua_istable(L, 4)) lua_pop(L, 1);
    return NULL;
  }
  nn_tensor *t = totensor(L, -1);
  int ok = t != NULL && t->dtype == NN_F32 && t->storage->device == like->storage->device
           && (n < 0 ? t->ndim == like->ndim && t->numel == like->numel
                       && (like->ndim != 2 || (t->shape[0] == like->shape[0]
                                               && t->shape[1] == like->shape[1]))
                     : t->ndim == 1 && t->numel == n);
  if (!ok)
    luaL_argerror(L, 4, lua_pushfstring(L, "linear_backward: %s must be a float32 tensor of "
                                        "%s's shape on its device", key,
                                        n < 0 ? "weight" : "the bias"));
  lua_pop(L, 1);            /* still referenced by the options table */
  return t;
}

static int f_linear_backward (lua_State *L) {
  static const char *const keys[] = { "bias", "grad_input", "grad_weight", "grad_bias",
                                      "accumulate", NULL };
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2), *w = checktensor(L, 3);
  nn_check_keys(L, 4, "linear_backward", keys);
  int bias = nn_opt_boolean(L, 4, "bias", 1), need = nn_opt_boolean(L, 4, "grad_input", 1);
  int acc = nn_opt_boolean(L, 4, "accumulate", 1);
  int64_t n = w->ndim == 2 ? w->shape[0] : 0;
  nn_tensor *given_w = given_grad(L, "grad_weight", w, -1);
  nn_tensor *given_b = bias ? given_grad(L, "grad_bias", w, n) : NULL;
  if (bias && (given_w == NULL) != (given_b == NULL))     /* the pair takes one beta */
    luaL_argerror(L, 4, "linear_backward: give grad_weight and grad_bias together (or neither)");
  lua_settop(L, 4);
  nn_tensor *gx = NULL, *gw, *gb = NULL;
  if (need) gx = push_like(L, x); else lua_pushnil(L);
  if (given_w) { lua_getfield(L, 4, "grad_weight"); gw = given_w; }
  else gw = push_like(L, w);
  if (given_b) { lua_getfield(L, 4, "grad_bias"); gb = given_b; }
  else if (bias) gb = nn_push_new(L, w->storage->device, 1, &n);
  else lua_pushnil(L);
  /* new gradients are set (beta 0), given ones accumulate (beta 1) unless
  ** told accumulate = false */
  int rc = linear_backward(gx, gw, gb, g, x, w, given_w && acc ? 1.0f : 0.0f);
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

/* The value at the top of the stack as a height and a width: a whole number
** for both, or a pair {h, w}, each in lo .. 2^31 - 1; nil gives dflt.
** Raises at arg naming `who` and `key`. */
static void to_pair (lua_State *L, int arg, const char *who, const char *key, int64_t lo,
                     int64_t dflt, int64_t *hw) {
  if (lua_isnil(L, -1)) { hw[0] = hw[1] = dflt; return; }
  int pair = lua_istable(L, -1);
  if (pair && luaL_len(L, -1) != 2)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be an integer or a pair {h, w}",
                                          who, key));
  for (int k = 0; k < 2; k++) {
    if (pair) lua_geti(L, -1, k + 1); else lua_pushvalue(L, -1);
    int isint = 0;                     /* a number, not a string that converts */
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint || v < lo || v > 2147483647)
      luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be %s integer%s (at most 2^31 - 1)",
                                            who, key, lo > 0 ? "a positive" : "a non-negative",
                                            " or a pair {h, w} of them"));
    hw[k] = (int64_t)v;
    lua_pop(L, 1);
  }
}

/* opts[key] at arg as a (height, width) pair (to_pair): absent, dflt for
** both. */
static void opt_pair (lua_State *L, int arg, const char *who, const char *key, int64_t dflt,
                      int64_t min, int64_t out[2]) {
  if (lua_istable(L, arg)) lua_getfield(L, arg, key); else lua_pushnil(L);
  to_pair(L, arg, who, key, min, dflt, out);
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

/* --- pooling: nn/pool.c's pairs -------------------------------------------- */

/* The window of nn.F.max_pool2d / avg_pool2d: kernel_size at arg k, the
** options table at arg k + 1 (stride = kernel_size, padding = 0, dilation
** = 1 (max only), ceil_mode = false, count_include_pad = true (avg only)). */
static nn_pool2d check_pool (lua_State *L, int k, const char *who, int max) {
  static const char *const max_keys[] = { "stride", "padding", "dilation", "ceil_mode", NULL };
  static const char *const avg_keys[] = { "stride", "padding", "ceil_mode",
                                          "count_include_pad", NULL };
  nn_pool2d g;
  int64_t hw[2];
  lua_pushvalue(L, k);
  if (lua_isnil(L, -1)) luaL_argerror(L, k, lua_pushfstring(L, "%s: kernel_size must be given",
                                                            who));
  to_pair(L, k, who, "kernel_size", 1, 1, hw);
  lua_pop(L, 1);
  g.kh = hw[0]; g.kw = hw[1];
  nn_check_keys(L, k + 1, who, max ? max_keys : avg_keys);
  int opts = lua_istable(L, k + 1);
  if (opts) lua_getfield(L, k + 1, "stride"); else lua_pushnil(L);
  to_pair(L, k + 1, who, "stride", 1, 0, hw);
  g.sh = hw[0] ? hw[0] : g.kh;
  g.sw = hw[1] ? hw[1] : g.kw;
  if (opts) lua_getfield(L, k + 1, "padding"); else lua_pushnil(L);
  to_pair(L, k + 1, who, "padding", 0, 0, hw);
  g.ph = hw[0]; g.pw = hw[1];
  if (max && opts) lua_getfield(L, k + 1, "dilation"); else lua_pushnil(L);
  to_pair(L, k + 1, who, "dilation", 1, 1, hw);
  g.dh = hw[0]; g.dw = hw[1];
  lua_pop(L, 3);
  g.ceil_mode = nn_opt_boolean(L, k + 1, "ceil_mode", 0);
  g.count_include_pad = max ? 1 : nn_opt_boolean(L, k + 1, "count_include_pad", 1);
  return g;
}

/* (B, C, H_out, W_out) for x (B, C, H, W) and window g, by the rule the
** pair checks again (an x of another rank gets a 1-D placeholder: the pair
** then names x) */
static int pooled_shape (const nn_tensor *x, const nn_pool2d *g, int64_t *shape) {
  if (x->ndim != 4 || g->sh < 1 || g->sw < 1) { shape[0] = 0; return 1; }
  shape[0] = x->shape[0];
  shape[1] = x->shape[1];
  shape[2] = nn_pool_out_size(x->shape[2], g->kh, g->sh, g->ph, g->dh, g->ceil_mode);
  shape[3] = nn_pool_out_size(x->shape[3], g->kw, g->sw, g->pw, g->dw, g->ceil_mode);
  if (shape[2] < 1 || shape[3] < 1) { shape[0] = 0; return 1; }
  return 4;
}

/* an empty int32 tensor on x's device, pushed */
static nn_tensor *push_indices (lua_State *L, const nn_tensor *x) {
  nn_tensor *t;
  int64_t zero = 0;
  int rc = tensor_new_dtype(&t, x->storage->device, NN_I32, 1, &zero);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  pushtensor(L, t);
  return t;
}

/* nn.F.max_pool2d(x, kernel_size [, {stride = kernel_size, padding = 0,
** dilation = 1, ceil_mode = false}]) -> y, indices (int32, 1-based in each
** plane); nn.F.max_pool2d_backward(grad_y, x, indices, kernel_size [, opts])
** -> grad_x.  x: (B, C, H, W); each size a number or a pair {h, w}. */
static int f_max_pool2d (lua_State *L) {
  nn_tensor *x = checktensor(L, 1);
  nn_pool2d g = check_pool(L, 2, "max_pool2d", 1);
  lua_settop(L, 3);
  int64_t shape[4];
  nn_tensor *y = nn_push_new(L, x->storage->device, pooled_shape(x, &g, shape), shape);
  nn_tensor *idx = push_indices(L, x);
  int rc = max_pool2d_forward(y, idx, x, &g);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 2, NN_ROLE_INPUT, 1, -1);
  return 2;
}

static int f_max_pool2d_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2), *idx = checktensor_any(L, 3);
  nn_pool2d w = check_pool(L, 4, "max_pool2d_backward", 1);
  lua_settop(L, 5);
  nn_tensor *gx = push_like(L, x);
  int rc = max_pool2d_backward(gx, g, idx, &w);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 4, NN_ROLE_GRAD_OUT, 1, NN_ROLE_OUT, 2, NN_ROLE_INPUT + 1, 3,
                            -1);
  return 1;
}

/* nn.F.avg_pool2d(x, kernel_size [, {stride = kernel_size, padding = 0,
** ceil_mode = false, count_include_pad = true}]) -> y;
** nn.F.avg_pool2d_backward(grad_y, x, kernel_size [, opts]) -> grad_x. */
static int f_avg_pool2d (lua_State *L) {
  nn_tensor *x = checktensor(L, 1);
  nn_pool2d g = check_pool(L, 2, "avg_pool2d", 0);
  lua_settop(L, 3);
  int64_t shape[4];
  nn_tensor *y = nn_push_new(L, x->storage->device, pooled_shape(x, &g, shape), shape);
  int rc = avg_pool2d_forward(y, x, &g);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 2, NN_ROLE_INPUT, 1, -1);
  return 1;
}

static int f_avg_pool2d_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2);
  nn_pool2d w = check_pool(L, 3, "avg_pool2d_backward", 0);
  lua_settop(L, 4);
  nn_tensor *gx = push_like(L, x);
  int rc = avg_pool2d_backward(gx, g, &w);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 3, NN_ROLE_GRAD_OUT, 1, NN_ROLE_OUT, 2, -1);
  return 1;
}

/* nn.F.adaptive_avg_pool2d(x, output_size) -> y (B, C, H_out, W_out);
** nn.F.adaptive_avg_pool2d_backward(grad_y, x) -> grad_x. */
static int f_adaptive_avg_pool2d (lua_State *L) {
  nn_tensor *x = checktensor(L, 1);
  int64_t hw[2];
  lua_pushvalue(L, 2);
  if (lua_isnil(L, -1)) luaL_argerror(L, 2, "adaptive_avg_pool2d: output_size must be given");
  to_pair(L, 2, "adaptive_avg_pool2d", "output_size", 1, 1, hw);
  lua_settop(L, 2);
  int64_t shape[4] = { x->ndim == 4 ? x->shape[0] : 0, x->ndim == 4 ? x->shape[1] : 0, hw[0],
                       hw[1] };
  nn_tensor *y = nn_push_new(L, x->storage->device, x->ndim == 4 ? 4 : 1, shape);
  int rc = adaptive_avg_pool2d_forward(y, x);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT, 1, -1);
  return 1;
}

static int f_adaptive_avg_pool2d_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *x = checktensor(L, 2);
  nn_tensor *gx = push_like(L, x);
  int rc = adaptive_avg_pool2d_backward(gx, g);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 1, NN_ROLE_GRAD_OUT, 1, NN_ROLE_OUT, 2, -1);
  return 1;
}

/* nn.F.dropout2d(x, p [, training = true]) -> y, mask ((B, C, 1, 1), empty
** in evaluation); nn.F.dropout2d_backward(grad_y, mask) -> grad_x. */
static int f_dropout2d (lua_State *L) {
  nn_tensor *x = checktensor(L, 1);
  double p = luaL_checknumber(L, 2);
  luaL_argcheck(L, p >= 0.0 && p <= 1.0, 2, "p must be in [0, 1]");
  int training = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  nn_tensor *y = push_like(L, x);
  int64_t zero = 0;
  nn_tensor *mask = nn_push_new(L, x->storage->device, 1, &zero);
  int rc = dropout2d_forward(y, mask, x, (float)p, training);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 2;
}

static int f_dropout2d_backward (lua_State *L) {
  nn_tensor *g = checktensor(L, 1), *mask = checktensor(L, 2);
  nn_tensor *gx = push_like(L, g);
  int rc = dropout2d_backward(gx, g, mask);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 1, NN_ROLE_INPUT + 1, 2, -1);
  return 1;
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
  {"max_pool2d", f_max_pool2d}, {"max_pool2d_backward", f_max_pool2d_backward},
  {"avg_pool2d", f_avg_pool2d}, {"avg_pool2d_backward", f_avg_pool2d_backward},
  {"adaptive_avg_pool2d", f_adaptive_avg_pool2d},
  {"adaptive_avg_pool2d_backward", f_adaptive_avg_pool2d_backward},
  {"dropout2d", f_dropout2d}, {"dropout2d_backward", f_dropout2d_backward},
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
