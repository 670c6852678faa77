/*
** l_module.c -- layers as Lua userdata: nn.Linear, nn.ReLU, ... (nn/nn.h).
**
** One metatable, "nn.Module", for every layer type: the C layer carries its
** own type (name, passes, field names), so the Lua side needs no table per
** layer.  A layer shows its buffers as fields, and they are the live
** tensors the layer computes in, not copies:
**
**   l = nn.Linear(3, 2)
**   y = l:forward(x)         -- y is l.output: the next forward overwrites it
**   l:backward(g)            -- returns l.grad_input; l.grad_weight += ...
**   l.weight, l.bias, l.grad_weight, l.grad_bias, l.output, l.grad_input
**   l:parameters()           -- {weight, bias}, {grad_weight, grad_bias}
**   l:to('cuda'), l:cuda(), l:cpu(), l.device   -- moves every tensor above
**
** The tensor structs behind these fields never change for the life of the
** layer (nn.h), so each field's Lua box is made once and kept in the
** layer's user value: `l.output == l.output`, and reading a field in a loop
** allocates nothing.
*/
#include <string.h>

#include "bindings.h"
#include "nn.h"

#define MODULE_MT "nn.Module"

typedef struct ModuleBox { nn_module *m; } ModuleBox;   /* m is NULL after __gc */

static nn_module *checkmodule (lua_State *L, int arg) {
  ModuleBox *box = (ModuleBox *)luaL_checkudata(L, arg, MODULE_MT);
  luaL_argcheck(L, box->m != NULL, arg, "layer already freed");
  return box->m;
}

/* Push the Lua box of a tensor field of the layer at index 1, made once and
** cached in its user value under `name`; nil when the layer has no such
** tensor (a Linear without bias). */
static void push_field (lua_State *L, nn_tensor *t, const char *name) {
  if (t == NULL) { lua_pushnil(L); return; }
  lua_getiuservalue(L, 1, 1);
  if (lua_getfield(L, -1, name) == LUA_TNIL) {
    lua_pop(L, 1);
    pushtensor(L, tensor_retain(t));
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
  }
  lua_remove(L, -2);
}

/* A new layer box on the stack, empty until `rc`'s constructor filled it. */
static ModuleBox *newmodule (lua_State *L) {
  ModuleBox *box = (ModuleBox *)lua_newuserdatauv(L, sizeof(ModuleBox), 1);
  box->m = NULL;
  luaL_setmetatable(L, MODULE_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  return box;
}

static size_t bytes_of (const nn_tensor *t) {
  return t ? (size_t)t->numel * sizeof(float) : 0;
}

/* Constructors: fill the box pushed by newmodule, or raise.  The collector
** is told of the parameters' bytes (see nn_gc_account). */
static int finish_new (lua_State *L, int rc) {
  if (rc != NN_OK) return nn_raise(L, 0, rc);
  nn_module *m = ((ModuleBox *)lua_touserdata(L, -1))->m;
  size_t bytes = bytes_of(m->weight) + bytes_of(m->grad_weight) + bytes_of(m->bias)
                 + bytes_of(m->grad_bias);
  for (int i = 0; i < NN_MAXSTATE; i++) bytes += bytes_of(m->state[i]);
  nn_gc_account(L, bytes);
  return 1;
}

/* After a pass: a buffer that got new memory is new C memory to account for. */
static void account_if_moved (lua_State *L, const nn_tensor *t, const nn_storage *before) {
  if (t->storage != before) nn_gc_account(L, bytes_of(t));
}


/* --- options (see bindings.h) ------------------------------------------------- */

void nn_check_keys (lua_State *L, int arg, const char *who, const char *const keys[]) {
  if (lua_isnoneornil(L, arg)) return;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    int known = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; keys[i] != NULL && !known; i++) known = strcmp(keys[i], lua_tostring(L, -1)) == 0;
    if (!known) {
      const char *key = luaL_tolstring(L, -1, NULL);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 0; keys[i] != NULL; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        luaL_addstring(&b, keys[i]);
      }
      luaL_pushresult(&b);
      luaL_argerror(L, arg, lua_pushfstring(L, "%s has no option '%s' (options: %s)", who, key,
                                            lua_tostring(L, -1)));
    }
  }
}

double nn_opt_number (lua_State *L, int arg, const char *key, double dflt) {
  if (!lua_istable(L, arg)) return dflt;
  int t = lua_getfield(L, arg, key);
  double v = dflt;
  if (t != LUA_TNIL) {
    int isnum;
    v = lua_tonumberx(L, -1, &isnum);
    if (!isnum) luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a number, got %s",
                                                       key, luaL_typename(L, -1)));
  }
  lua_pop(L, 1);
  return v;
}

int nn_opt_boolean (lua_State *L, int arg, const char *key, int dflt) {
  if (!lua_istable(L, arg)) return dflt;
  int t = lua_getfield(L, arg, key);
  int v = dflt;
  if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a boolean, got %s", key,
                                          luaL_typename(L, -1)));
  lua_pop(L, 1);
  return v;
}

/* A positional number, or the option `key` of a table at arg:
** nn.Dropout(0.2) and nn.Dropout{p = 0.2} are the same. */
static double number_or_opt (lua_State *L, int arg, const char *who, const char *key,
                             double dflt) {
  if (lua_type(L, arg) == LUA_TNUMBER) return lua_tonumber(L, arg);
  const char *keys[] = { key, NULL };
  nn_check_keys(L, arg, who, keys);
  return nn_opt_number(L, arg, key, dflt);
}

static int64_t check_size (lua_State *L, int arg, const char *what) {
  int isint;
  lua_Integer v = lua_tointegerx(L, arg, &isint);
  if (!isint || v < 1)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a positive integer, got %s", what,
                                          luaL_tolstring(L, arg, NULL)));
  return (int64_t)v;
}


/* --- constructors ---------------------------------------------------------------- */

static const char *const init_names[] = {
  "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
  "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", NULL
};

/* The fused activation named by opts.activation at arg (nil or "linear": none). */
static nn_activation check_activation (lua_State *L, int arg) {
  nn_activation act = NN_ACT_NONE;
  if (lua_istable(L, arg) && lua_getfield(L, arg, "activation") != LUA_TNIL) {
    const char *name = lua_tostring(L, -1);
    for (act = NN_ACT_NONE; name != NULL && act < NN_ACT_COUNT; act++)
      if (strcmp(name, activation_name(act)) == 0) break;
    if (name == NULL || act == NN_ACT_COUNT)
      luaL_argerror(L, arg, lua_pushfstring(L, "activation must be relu, sigmoid, tanh, "
                    "softmax, log_softmax or linear, got %s", luaL_tolstring(L, -1, NULL)));
  }
  return act;
}

/* nn.Linear(in_features, out_features [, {bias = true, init = 'glorot_uniform',
**           activation = nil}])
** y = x W^T + b, x: (B, in) -> y: (B, out); W: (out, in).  init is one of
** glorot_uniform (Keras's default), glorot_normal, he_uniform, he_normal,
** or their other names xavier_* and kaiming_*; seeded by nn.manual_seed.
** activation ('relu', 'sigmoid', 'tanh', 'softmax', 'log_softmax') is fused:
** y = f(x W^T + b) in the layer's own output (nn/linear.c).
** Errors: a size that is not a positive integer, an unknown option. */
static int l_linear (lua_State *L) {
  static const char *const keys[] = { "bias", "init", "activation", NULL };
  int64_t in = check_size(L, 1, "in_features");
  int64_t out = check_size(L, 2, "out_features");
  nn_check_keys(L, 3, "Linear", keys);
  int bias = nn_opt_boolean(L, 3, "bias", 1);
  int init = 0;
  if (lua_istable(L, 3) && lua_getfield(L, 3, "init") != LUA_TNIL) {
    const char *name = lua_tostring(L, -1);
    for (init = 0; name != NULL && init_names[init] != NULL; init++)
      if (strcmp(name, init_names[init]) == 0) break;
    if (name == NULL || init_names[init] == NULL)
      luaL_argerror(L, 3, lua_pushfstring(L, "init must be glorot_uniform, glorot_normal, "
                    "he_uniform or he_normal, got %s", luaL_tolstring(L, -1, NULL)));
    init %= 4;   /* xavier_* = glorot_*, kaiming_* = he_* */
  }
  nn_activation act = check_activation(L, 3);
  ModuleBox *box = newmodule(L);
  return finish_new(L, linear_act_new(&box->m, in, out, bias, (nn_init)init, act));
}

static int l_relu (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, relu_new(&b->m)); }
static int l_sigmoid (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, sigmoid_new(&b->m)); }
static int l_tanh (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, tanh_new(&b->m)); }
static int l_softmax (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, softmax_new(&b->m)); }
static int l_log_softmax (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, log_softmax_new(&b->m)); }
static int l_flatten (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, flatten_new(&b->m)); }
static int l_identity (lua_State *L) { ModuleBox *b = newmodule(L); return finish_new(L, identity_new(&b->m)); }

/* nn.LeakyReLU([negative_slope = 0.01]), or {negative_slope = ...} */
static int l_leaky_relu (lua_State *L) {
  float slope = (float)number_or_opt(L, 1, "LeakyReLU", "negative_slope", 0.01);
  ModuleBox *box = newmodule(L);
  return finish_new(L, leaky_relu_new(&box->m, slope));
}

/* nn.Dropout([p = 0.5]), or {p = ...}.  Errors: p outside [0, 1]. */
static int l_dropout (lua_State *L) {
  float p = (float)number_or_opt(L, 1, "Dropout", "p", 0.5);
  luaL_argcheck(L, p >= 0.0f && p <= 1.0f, 1, "Dropout: p must be in [0, 1]");
  ModuleBox *box = newmodule(L);
  return finish_new(L, dropout_new(&box->m, p));
}

/* nn.BatchNorm1d(num_features [, {eps = 1e-5, momentum = 0.1, affine = true}])
** As PyTorch: x: (B, num_features). */
static int l_batchnorm1d (lua_State *L) {
  static const char *const keys[] = { "eps", "momentum", "affine", NULL };
  int64_t n = check_size(L, 1, "num_features");
  nn_check_keys(L, 2, "BatchNorm1d", keys);
  double eps = nn_opt_number(L, 2, "eps", 1e-5);
  double momentum = nn_opt_number(L, 2, "momentum", 0.1);
  int affine = nn_opt_boolean(L, 2, "affine", 1);
  luaL_argcheck(L, eps > 0, 2, "BatchNorm1d: eps must be > 0");
  luaL_argcheck(L, momentum >= 0 && momentum <= 1, 2, "BatchNorm1d: momentum must be in [0, 1]");
  ModuleBox *box = newmodule(L);
  return finish_new(L, batchnorm1d_new(&box->m, n, (float)eps, (float)momentum, affine));
}


/* --- methods ---------------------------------------------------------------------- */

/* layer:forward(input) -> output (the live layer.output) */
static int m_forward (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  nn_tensor *x = checktensor(L, 2);
  const nn_storage *before = m->output->storage;
  int rc = module_forward(m, x);
  if (rc != NN_OK) return nn_raise(L, 2, rc);
  account_if_moved(L, m->output, before);
  lua_settop(L, 1);
  push_field(L, m->output, "output");
  return 1;
}

/* layer:backward(grad_output [, need_grad_input = true [, accumulate = true]])
** -> grad_input (the live layer.grad_input); grad_weight and grad_bias
** accumulate until layer:zero_grad().  need_grad_input = false computes only
** the parameter gradients and returns nothing (the first layer of a
** network); accumulate = false sets the parameter gradients instead of
** adding to them: zero_grad and backward in one pass (a training step).
** layer:backward_pre_activation(grad_pre [, need_grad_input]): the same, but
** grad_pre is dL/dz before the layer's fused activation, whose own backward
** is skipped (Model's fused Softmax + cross-entropy gradient uses it).
** Errors: no forward before; a gradient of another shape or device; for
** backward_pre_activation, a layer without a fused activation. */
static int backward_with (lua_State *L, int flags) {
  nn_module *m = checkmodule(L, 1);
  nn_tensor *g = checktensor(L, 2);
  int need = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  if (!need) flags |= NN_BACKWARD_NO_GRAD_INPUT;
  if (!lua_isnoneornil(L, 4) && !lua_toboolean(L, 4)) flags |= NN_BACKWARD_OVERWRITE_GRADS;
  const nn_storage *before = m->grad_input->storage;
  int rc = module_backward_ex(m, g, flags);
  if (rc != NN_OK) return nn_raise(L, 2, rc);
  if (!need) return 0;
  account_if_moved(L, m->grad_input, before);
  lua_settop(L, 1);
  push_field(L, m->grad_input, "grad_input");
  return 1;
}

static int m_backward (lua_State *L) { return backward_with(L, 0); }
static int m_backward_pre_activation (lua_State *L) {
  return backward_with(L, NN_BACKWARD_PRE_ACTIVATION);
}

static int m_zero_grad (lua_State *L) {
  int rc = module_zero_grad(checkmodule(L, 1));
  if (rc != NN_OK) return nn_raise(L, 0, rc);
  lua_settop(L, 1);
  return 1;
}

/* layer:parameters() -> {weight, bias}, {grad_weight, grad_bias}, {"weight", "bias"}
** As Torch7's: the live tensors, in the same order in both lists; empty
** lists for a layer without parameters. */
static int m_parameters (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  lua_settop(L, 1);
  lua_createtable(L, 2, 0);
  lua_createtable(L, 2, 0);
  lua_createtable(L, 2, 0);
  int n = 0;
  if (m->weight != NULL) {
    n++;
    push_field(L, m->weight, "weight"); lua_rawseti(L, 2, n);
    push_field(L, m->grad_weight, "grad_weight"); lua_rawseti(L, 3, n);
    lua_pushliteral(L, "weight"); lua_rawseti(L, 4, n);
  }
  if (m->bias != NULL) {
    n++;
    push_field(L, m->bias, "bias"); lua_rawseti(L, 2, n);
    push_field(L, m->grad_bias, "grad_bias"); lua_rawseti(L, 3, n);
    lua_pushliteral(L, "bias"); lua_rawseti(L, 4, n);
  }
  return 3;
}

/* layer:buffers() -> {name = tensor}: the tensors a layer keeps that are
** not parameters (BatchNorm's running_mean and running_var, Dropout's mask). */
static int m_buffers (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  lua_settop(L, 1);
  lua_newtable(L);
  for (int i = 0; i < NN_MAXSTATE && m->type->state_names[i] != NULL; i++) {
    push_field(L, m->state[i], m->type->state_names[i]);
    lua_setfield(L, 2, m->type->state_names[i]);
  }
  return 1;
}

/* layer:train([on = true]) -> layer; layer:evaluate() -> layer (alias eval) */
static int m_train (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  module_set_training(m, lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}

static int m_evaluate (lua_State *L) {
  module_set_training(checkmodule(L, 1), 0);
  lua_settop(L, 1);
  return 1;
}

/* layer:to('cuda' | 'cpu') -> layer, moved: parameters, gradients, state and
** buffers, each tensor in place (nn/nn.h, module_to), so that a Lua variable
** holding layer.weight sees it moved.  layer:cuda(), layer:cpu() likewise.
** Errors: an unknown device; CUDA is not available: <reason>; out of
** memory (then move it again, or back). */
static int move_to (lua_State *L, nn_device dev) {
  int rc = module_to(checkmodule(L, 1), dev);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  lua_settop(L, 1);
  return 1;
}
static int m_to (lua_State *L) { return move_to(L, nn_checkdevice(L, 2)); }
static int m_cuda (lua_State *L) { return move_to(L, NN_CUDA); }
static int m_cpu (lua_State *L) { return move_to(L, NN_CPU); }

static int m_tostring (lua_State *L) {
  ModuleBox *box = (ModuleBox *)luaL_checkudata(L, 1, MODULE_MT);
  char buf[160];
  if (box->m == NULL) { lua_pushliteral(L, "nn.Module (freed)"); return 1; }
  module_describe(box->m, buf, sizeof buf);
  lua_pushfstring(L, "nn.%s", buf);
  return 1;
}

static int m_gc (lua_State *L) {
  ModuleBox *box = (ModuleBox *)luaL_checkudata(L, 1, MODULE_MT);
  module_free(box->m);
  box->m = NULL;
  return 0;
}

/* layer(x) is layer:forward(x), as PyTorch's module(x) */
static int m_call (lua_State *L) { return m_forward(L); }

/* The fields: methods first, then the live tensors, then the names the
** layer's type gives its extra tensors and numbers. */
static int m_index (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  const char *key = lua_tostring(L, 2);
  const nn_module_type *t = m->type;
  if (key == NULL) return 1;
  lua_settop(L, 2);
  if (strcmp(key, "output") == 0) push_field(L, m->output, key);
  else if (strcmp(key, "grad_input") == 0) push_field(L, m->grad_input, key);
  else if (strcmp(key, "weight") == 0) push_field(L, m->weight, key);
  else if (strcmp(key, "bias") == 0) push_field(L, m->bias, key);
  else if (strcmp(key, "grad_weight") == 0) push_field(L, m->grad_weight, key);
  else if (strcmp(key, "grad_bias") == 0) push_field(L, m->grad_bias, key);
  else if (strcmp(key, "training") == 0) lua_pushboolean(L, m->training);
  else if (strcmp(key, "name") == 0) lua_pushstring(L, t->name);
  else if (strcmp(key, "device") == 0)      /* the parameters', else the output's */
    lua_pushstring(L, device_name((m->weight ? m->weight : m->output)->storage->device));
  else if (strcmp(key, "activation") == 0) {
    if (m->activation != NN_ACT_NONE) lua_pushstring(L, activation_name(m->activation));
    else lua_pushnil(L);
  }
  else {
    lua_pushnil(L);
    for (int i = 0; i < NN_MAXSTATE && t->state_names[i] != NULL; i++)
      if (strcmp(key, t->state_names[i]) == 0) push_field(L, m->state[i], key);
    for (int i = 0; i < NN_MAXHYPER && t->hyper_names[i] != NULL; i++)
      if (strcmp(key, t->hyper_names[i]) == 0) lua_pushnumber(L, m->hyper[i]);
  }
  return 1;
}

/* Fields are read-only: a parameter is changed in place, w:copy(t). */
static int m_newindex (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  return luaL_error(L, "%s: field '%s' cannot be assigned; change a parameter in place, "
                    "as layer.weight:copy(t)", m->type->name, luaL_tolstring(L, 2, NULL));
}

static const luaL_Reg metameth[] = {
  {"__gc", m_gc},
  {"__tostring", m_tostring},
  {"__call", m_call},
  {"__newindex", m_newindex},
  {"__index", NULL},      /* set below, with the method table as upvalue */
  {NULL, NULL}
};

static const luaL_Reg meth[] = {
  {"forward", m_forward}, {"backward", m_backward}, {"zero_grad", m_zero_grad},
  {"backward_pre_activation", m_backward_pre_activation},
  {"parameters", m_parameters}, {"buffers", m_buffers},
  {"train", m_train}, {"evaluate", m_evaluate}, {"eval", m_evaluate},
  {"to", m_to}, {"cuda", m_cuda}, {"cpu", m_cpu},
  {NULL, NULL}
};

static const luaL_Reg constructors[] = {
  {"Linear", l_linear}, {"Dense", l_linear},
  {"ReLU", l_relu}, {"LeakyReLU", l_leaky_relu}, {"Sigmoid", l_sigmoid}, {"Tanh", l_tanh},
  {"Softmax", l_softmax}, {"LogSoftmax", l_log_softmax},
  {"Dropout", l_dropout}, {"BatchNorm1d", l_batchnorm1d},
  {"Flatten", l_flatten}, {"Identity", l_identity},
  {NULL, NULL}
};

void nn_open_module (lua_State *L) {
  luaL_newmetatable(L, MODULE_MT);
  luaL_setfuncs(L, metameth, 0);
  luaL_newlibtable(L, meth);
  luaL_setfuncs(L, meth, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "methods");   /* so Lua code can add methods */
  lua_pushcclosure(L, m_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setfield(L, -2, "Module");    /* nn.core.Module: the metatable */
  luaL_setfuncs(L, constructors, 0);
}
