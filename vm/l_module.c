/*
** l_module.c -- layers as Lua userdata: nn.Linear, nn.ReLU, ... (nn/nn.h).
**
** One metatable, "nn.Module", for every layer type: the C layer carries its
** own type description (name, options, parameters, buffers, passes: nn/nn.h),
** so the Lua side needs no table per layer.  The constructors nn.Linear,
** nn.ReLU, ... are made here from the registry nn_module_types[], one
** closure per type: a new layer needs no binding code.  A layer shows its buffers as fields, and they are the live
** tensors the layer computes in, not copies:
**
**   l = nn.Linear(3, 2)
**   y = l:forward(x)         -- y is l.output: the next forward overwrites it
**   l:backward(g)            -- returns l.grad_input; l.grad_weight += ...
**   l.weight, l.bias, l.grad_weight, l.grad_bias, l.output, l.grad_input
**   l:parameters()           -- {weight, bias}, {grad_weight, grad_bias}
**   l.in_features, l.eps ... -- its options; l:config() all of them
**   add:forward(a, b)        -- several inputs; add:backward(g) -> ga, gb
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

/* m is NULL after __gc; hooks counts the hooks set (on_forward,
** on_backward), so a pass without any pays one test */
typedef struct ModuleBox { nn_module *m; int hooks; } ModuleBox;

static ModuleBox *checkbox (lua_State *L, int arg) {
  ModuleBox *box = (ModuleBox *)nn_checkudata(L, arg, MODULE_MT, "layer");   /* layer.forward(x): a dot */
  luaL_argcheck(L, box->m != NULL, arg, "layer already freed");
  return box;
}

static nn_module *checkmodule (lua_State *L, int arg) {
  return checkbox(L, arg)->m;
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
  ModuleBox *box = (ModuleBox *)lua_newuserdatauv(L, sizeof(ModuleBox), 2);   /* fields, hooks */
  box->m = NULL;
  box->hooks = 0;
  luaL_setmetatable(L, MODULE_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  return box;
}

static size_t bytes_of (const nn_tensor *t) {
  return t ? (size_t)t->numel * sizeof(float) : 0;
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


/* --- constructors -------------------------------------------------------------
** nn.Linear(3, 2, {bias = false}): the options a type gives a position come
** first, in order, then at most one table of options by name (any option,
** positional ones included: nn.Linear{in_features = 3, out_features = 2},
** which is what a checkpoint's config holds; its `type` key, if any, must
** name this type).  Each value is checked against the option's kind and
** range by the type's description (module_check_option). */

/* "in_features, out_features, bias, ..." */
static const char *option_names (lua_State *L, const nn_module_type *t) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < NN_MAXOPT && t->options[i].name != NULL; i++) {
    if (t->options[i].hw_width) continue;             /* part of the option before */
    if (i > 0) luaL_addstring(&b, ", ");
    luaL_addstring(&b, t->options[i].name);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* The value at the top of the stack as option i's number, or raise at `arg`. */
static double option_value (lua_State *L, const nn_module_type *t, int i, int arg) {
  const nn_option *o = &t->options[i];
  int ok = 0;
  double v = 0.0;
  switch (o->kind) {
    case NN_OPT_BOOL:
      ok = lua_isboolean(L, -1);
      v = lua_toboolean(L, -1);
      if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "%s: option '%s' must be a boolean, "
                             "got %s", t->name, o->name, luaL_typename(L, -1)));
      return v;
    case NN_OPT_CHOICE: {
      const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      for (int c = 0; name != NULL && o->choices[c] != NULL; c++)
        if (strcmp(name, o->choices[c]) == 0) return c;
      module_check_option(t, i, -1);          /* its message lists the choices */
      return luaL_argerror(L, arg, lua_pushfstring(L, "%s, got %s", nn_errmsg(),
                                                   luaL_tolstring(L, -1, NULL)));
    }
    default:
      v = lua_tonumberx(L, -1, &ok);
      if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be %s, got %s", t->name,
                             o->name, o->kind == NN_OPT_INT ? "an integer" : "a number",
                             luaL_typename(L, -1)));
      if (module_check_option(t, i, v) != NN_OK) luaL_argerror(L, arg, nn_errmsg());
      return v;
  }
}

/* The value at the top of the stack into opt[i] (and, for a height-width
** option, opt[i + 1]: a number sets both, a list {h, w} each), or raise at
** `arg`. */
static void set_option (lua_State *L, const nn_module_type *t, int i, int arg, double *opt) {
  if (!t->options[i].hw || !lua_istable(L, -1)) {
    opt[i] = option_value(L, t, i, arg);
    if (t->options[i].hw) opt[i + 1] = opt[i];
    return;
  }
  if (luaL_len(L, -1) != 2)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be an integer or a pair {h, w}, "
                                          "got a table of %d", t->name, t->options[i].name,
                                          (int)luaL_len(L, -1)));
  for (int k = 0; k < 2; k++) {
    lua_geti(L, -1, k + 1);
    opt[i + k] = option_value(L, t, i, arg);
    lua_pop(L, 1);
  }
}

/* 1 if the table at arg is not the options table but a pair {h, w} for the
** option at that position (nn.Conv2d(1, 8, {3, 5})) */
static int is_hw_value (lua_State *L, const nn_module_type *t, int nopt, int arg) {
  int i = 0;
  while (i < nopt && t->options[i].positional != arg) i++;
  if (i == nopt || !t->options[i].hw) return 0;
  int listed = lua_rawgeti(L, arg, 1) != LUA_TNIL;
  lua_pop(L, 1);
  return listed;
}

static int l_new_module (lua_State *L) {
  const nn_module_type *t = (const nn_module_type *)lua_touserdata(L, lua_upvalueindex(1));
  double opt[NN_MAXOPT];
  int given[NN_MAXOPT] = { 0 }, nopt = 0, top = lua_gettop(L), table = 0;
  while (nopt < NN_MAXOPT && t->options[nopt].name != NULL) nopt++;
  /* positional values, up to a table */
  while (top > 0 && lua_isnil(L, top)) top--;          /* nn.BatchNorm1d(3, nil) */
  for (int arg = 1; arg <= top; arg++) {
    if (lua_istable(L, arg) && arg == top && !is_hw_value(L, t, nopt, arg)) {
      table = arg;
      break;
    }
    if (lua_isnil(L, arg)) continue;                    /* that option's default */
    int i = 0;
    while (i < nopt && t->options[i].positional != arg) i++;
    if (i == nopt)
      luaL_argerror(L, arg, lua_pushfstring(L, "%s takes %s", t->name, nopt == 0 ?
                    "no options" : lua_pushfstring(L, "options %s, by position or in a table "
                    "after them", option_names(L, t))));
    lua_pushvalue(L, arg);
    set_option(L, t, i, arg, opt);
    given[i] = 1;
    if (t->options[i].hw) given[i + 1] = 1;
    lua_pop(L, 1);
  }
  /* the table: every key must be an option, or `type` naming this type */
  if (table) {
    lua_pushnil(L);
    while (lua_next(L, table) != 0) {
      const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      int i = 0;
      while (key != NULL && i < nopt && (t->options[i].hw_width
                                          || strcmp(key, t->options[i].name) != 0)) i++;
      if (key != NULL && strcmp(key, "type") == 0 && lua_type(L, -1) == LUA_TSTRING
          && strcmp(lua_tostring(L, -1), t->name) == 0) { lua_pop(L, 1); continue; }
      if (key == NULL || i == nopt) {
        const char *bad = luaL_tolstring(L, -2, NULL);
        luaL_argerror(L, table, lua_pushfstring(L, "%s has no option '%s' (options: %s)",
                      t->name, bad, option_names(L, t)));
      }
      if (given[i])
        luaL_argerror(L, table, lua_pushfstring(L, "%s: option '%s' is given twice, by "
                      "position and by name", t->name, key));
      set_option(L, t, i, table, opt);
      given[i] = 1;
      if (t->options[i].hw) given[i + 1] = 1;
      lua_pop(L, 1);
    }
  }
  for (int i = 0; i < nopt; i++) {
    if (given[i]) continue;
    if (t->options[i].required)
      luaL_argerror(L, t->options[i].positional ? t->options[i].positional : 1,
                    lua_pushfstring(L, "%s: %s must be given (a %s)", t->name,
                                    t->options[i].name, t->options[i].kind == NN_OPT_INT
                                    ? "positive integer" : "value"));
    opt[i] = t->options[i].dflt;
  }
  ModuleBox *box = newmodule(L);
  int rc = module_new(&box->m, t, opt);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  nn_module *m = box->m;
  /* the struct, its tensors' structs (output, grad_inputs, parameters and
  ** their gradients, buffers: counted as all there may be), their floats */
  size_t bytes = sizeof(nn_module) + (1 + (size_t)t->max_inputs + 2 * NN_MAXPARAM
                                      + NN_MAXBUFFER) * NN_GC_TENSOR_BYTES;
  for (int i = 0; i < NN_MAXPARAM; i++) bytes += 2 * bytes_of(m->param[i]);
  for (int i = 0; i < NN_MAXBUFFER; i++) bytes += bytes_of(m->buffer[i]);
  nn_gc_account(L, bytes);
  return 1;
}


/* --- methods ---------------------------------------------------------------------- */

/* push grad_input k's box (named "grad_input" for the first, "grad_input<k+1>" after) */
static void push_grad_input (lua_State *L, nn_module *m, int k) {
  char name[24];
  if (k == 0) strcpy(name, "grad_input");
  else snprintf(name, sizeof name, "grad_input%d", k + 1);
  push_field(L, m->grad_input[k], name);
}

/* --- hooks -----------------------------------------------------------------------
** layer:on_forward(fn) and layer:on_backward(fn), as PyTorch's
** register_forward_hook and register_full_backward_hook: fn is called after
** each successful pass with the live tensors,
**   fn(layer, input, output)              after forward
**   fn(layer, grad_input, grad_output)    after backward
** (input and grad_input: the tensor, or a list of them for a layer of
** several inputs; grad_input is nil when the pass did not compute it, as
** the first layer of a training step).  Hooks run in the order they were
** set.  A hook that returns false asks training to stop: model:train
** ends after the current batch and names the hook (nn.take_stop_request).
** An error in a hook propagates from the pass.  Each call returns a handle:
** handle:remove() takes the hook off (a second remove does nothing).
**
** The hooks live in the layer's second user value, {forward = {h1, ...},
** backward = {...}}, each h a handle table {fn, layer, kind}. */

#define HANDLE_MT "nn.HookHandle"
#define STOP_KEY "nn.stop_request"

/* push the list of `kind` hooks of the layer at index 1 (creating the
** table when `create`), or nothing and return 0 */
static int push_hooks (lua_State *L, int layer, const char *kind, int create) {
  if (lua_getiuservalue(L, layer, 2) != LUA_TTABLE) {
    lua_pop(L, 1);
    if (!create) return 0;
    lua_createtable(L, 0, 2);
    lua_newtable(L); lua_setfield(L, -2, "forward");
    lua_newtable(L); lua_setfield(L, -2, "backward");
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, layer, 2);
  }
  lua_getfield(L, -1, kind);
  lua_remove(L, -2);
  return 1;
}

static int add_hook (lua_State *L, const char *kind) {
  ModuleBox *box = checkbox(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  push_hooks(L, 1, kind, 1);
  lua_createtable(L, 0, 3);                    /* the handle */
  lua_pushvalue(L, 2); lua_setfield(L, -2, "fn");
  lua_pushvalue(L, 1); lua_setfield(L, -2, "layer");
  lua_pushstring(L, kind); lua_setfield(L, -2, "kind");
  luaL_setmetatable(L, HANDLE_MT);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, luaL_len(L, -3) + 1);
  box->hooks++;
  return 1;
}

/* layer:on_forward(fn) -> handle: fn(layer, input, output) is called after
** each forward of this layer, with the live tensors (input: a list for a
** layer of several inputs), as PyTorch's register_forward_hook.  A hook
** that returns false stops model:train after the current batch.
** handle:remove() takes it off.  Errors: fn is not a function. */
static int m_on_forward (lua_State *L) { return add_hook(L, "forward"); }
/* layer:on_backward(fn) -> handle: fn(layer, grad_input, grad_output) is
** called after each backward of this layer, with the live tensors
** (grad_input: nil when the pass did not compute it, as for the first
** layer of a training step; a list for a layer of several inputs), as
** PyTorch's register_full_backward_hook.  A hook that returns false stops
** model:train after the current batch.  handle:remove() takes it off.
** Errors: fn is not a function. */
static int m_on_backward (lua_State *L) { return add_hook(L, "backward"); }

/* handle:remove(): the hook is called no more.  Returns nothing. */
static int h_remove (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "layer");                 /* 2 */
  lua_getfield(L, 1, "kind");                  /* 3 */
  ModuleBox *box = (ModuleBox *)luaL_testudata(L, 2, MODULE_MT);
  if (box == NULL || lua_type(L, 3) != LUA_TSTRING)
    return luaL_argerror(L, 1, "not a hook handle");
  if (!push_hooks(L, 2, lua_tostring(L, 3), 0)) return 0;
  lua_Integer n = luaL_len(L, 4);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 4, i);
    int found = lua_rawequal(L, -1, 1);
    lua_pop(L, 1);
    if (!found) continue;
    for (; i < n; i++) { lua_rawgeti(L, 4, i + 1); lua_rawseti(L, 4, i); }
    lua_pushnil(L);
    lua_rawseti(L, 4, n);
    box->hooks--;
    break;
  }
  return 0;
}

/* "hook handle: forward hook of nn.Linear(3 -> 2)" */
static int h_tostring (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "kind");                  /* 2 */
  lua_getfield(L, 1, "layer");                 /* 3 */
  const char *layer = luaL_tolstring(L, 3, NULL);
  lua_pushfstring(L, "hook handle: %s hook of %s", lua_type(L, 2) == LUA_TSTRING
                  ? lua_tostring(L, 2) : "?", layer);
  return 1;
}

/* Call the `kind` hooks of the layer at index 1 with (layer, a, b), where a
** and b are at the given stack indices (0: nil).  The list is copied first,
** so a hook may remove itself or add others; those apply from the next
** pass. */
static void call_hooks (lua_State *L, const char *kind, int a, int b) {
  if (!push_hooks(L, 1, kind, 0)) return;
  lua_Integer n = luaL_len(L, -1);
  int list = lua_gettop(L);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) { lua_rawgeti(L, list, i); lua_rawseti(L, -2, i); }
  int copy = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, copy, i);
    lua_getfield(L, -1, "fn");
    lua_remove(L, -2);
    lua_pushvalue(L, 1);
    if (a) lua_pushvalue(L, a); else lua_pushnil(L);
    if (b) lua_pushvalue(L, b); else lua_pushnil(L);
    lua_call(L, 3, 1);
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
      luaL_tolstring(L, 1, NULL);
      lua_pushfstring(L, "a %s hook of %s returned false", kind, lua_tostring(L, -1));
      lua_setfield(L, LUA_REGISTRYINDEX, STOP_KEY);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, list - 1);
}

/* nn.take_stop_request() -> why, or nil: the last stop a hook asked for
** (returning false), cleared by this call.  model:train calls it after
** each batch. */
static int l_take_stop_request (lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, STOP_KEY);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, STOP_KEY);
  return 1;
}

/* layer:forward(x [, x2, ...] [, {activation = true}]) -> output (the live
** layer.output).  Several inputs for a layer that takes them (nn.Add,
** nn.Concat).  activation = false leaves out a fused activation (a Dense's
** output is then its logits; the backward that follows knows).
** Errors: a wrong number of inputs; an input of the wrong shape or device,
** blamed by its position. */
static int m_forward (lua_State *L) {
  static const char *const keys[] = { "activation", NULL };
  ModuleBox *box = checkbox(L, 1);
  nn_module *m = box->m;
  int top = lua_gettop(L), flags = 0;
  if (top >= 3 && lua_istable(L, top)) {
    nn_check_keys(L, top, "forward", keys);
    if (!nn_opt_boolean(L, top, "activation", 1)) flags |= NN_FORWARD_NO_ACTIVATION;
    top--;
  }
  int n = top - 1;
  nn_tensor *x[NN_MAXINPUT];
  if (n < 1) checktensor(L, 2);          /* "nn.Tensor expected, got no value" */
  if (n > NN_MAXINPUT)
    luaL_argerror(L, 2 + NN_MAXINPUT, lua_pushfstring(L, "at most %d inputs", NN_MAXINPUT));
  for (int k = 0; k < n; k++) x[k] = checktensor(L, 2 + k);
  const nn_storage *before = m->output->storage;
  int rc = module_forward(m, n, x, flags);
  if (rc != NN_OK) {
    if (nn_errrole() >= NN_ROLE_INPUT) return nn_raise(L, 2 + nn_errrole() - NN_ROLE_INPUT, rc);
    return nn_raise(L, 2, rc);
  }
  account_if_moved(L, m->output, before);
  if (box->hooks > 0) {               /* fn(layer, input or {inputs}, output) */
    lua_settop(L, 1 + n);
    int in = 2;
    if (n > 1) {
      lua_createtable(L, n, 0);
      for (int k = 0; k < n; k++) { lua_pushvalue(L, 2 + k); lua_rawseti(L, -2, k + 1); }
      in = lua_gettop(L);
    }
    push_field(L, m->output, "output");
    call_hooks(L, "forward", in, lua_gettop(L));
  }
  lua_settop(L, 1);
  push_field(L, m->output, "output");
  return 1;
}

/* layer:backward(grad_output [, {grad_input = true, accumulate = true}])
** -> grad_input (the live layer.grad_input; one per input, for a layer of
** several); grad_weight and grad_bias accumulate until layer:zero_grad().
** grad_input = false computes only the parameter gradients and returns
** nothing (the first layer of a network); accumulate = false sets the
** parameter gradients instead of adding to them: zero_grad and backward in
** one pass (a training step).
** Errors: no forward before; a kept input resized since; a gradient of
** another shape or device. */
static int m_backward (lua_State *L) {
  static const char *const keys[] = { "grad_input", "accumulate", NULL };
  ModuleBox *box = checkbox(L, 1);
  nn_module *m = box->m;
  nn_tensor *g = checktensor(L, 2);
  nn_check_keys(L, 3, "backward", keys);
  int need = nn_opt_boolean(L, 3, "grad_input", 1);
  int flags = need ? 0 : NN_BACKWARD_NO_GRAD_INPUT;
  if (!nn_opt_boolean(L, 3, "accumulate", 1)) flags |= NN_BACKWARD_OVERWRITE_GRADS;
  const nn_storage *before[NN_MAXINPUT];
  for (int k = 0; k < m->type->max_inputs; k++) before[k] = m->grad_input[k]->storage;
  int rc = module_backward(m, g, flags);
  if (rc != NN_OK) return nn_raise(L, 2, rc);
  if (box->hooks > 0) {               /* fn(layer, grad_input or {...} or nil, grad_output) */
    lua_settop(L, 2);
    int gi = 0;
    if (need) {
      if (m->n_inputs > 1) lua_createtable(L, m->n_inputs, 0);
      for (int k = 0; k < m->n_inputs; k++) {
        push_grad_input(L, m, k);
        if (m->n_inputs > 1) lua_rawseti(L, -2, k + 1);
      }
      gi = lua_gettop(L);
    }
    call_hooks(L, "backward", gi, 2);
  }
  if (!need) return 0;
  lua_settop(L, 1);
  for (int k = 0; k < m->n_inputs; k++) {
    account_if_moved(L, m->grad_input[k], before[k]);
    push_grad_input(L, m, k);
  }
  return m->n_inputs;
}

static int m_zero_grad (lua_State *L) {
  int rc = module_zero_grad(checkmodule(L, 1));
  if (rc != NN_OK) return nn_raise(L, 0, rc);
  lua_settop(L, 1);
  return 1;
}

/* "grad_" .. name: the field of param i's gradient */
static const char *grad_name (lua_State *L, const char *param) {
  return lua_pushfstring(L, "grad_%s", param);
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
  for (int i = 0; i < NN_MAXPARAM; i++) {
    const char *name = m->type->params[i];
    if (name == NULL || m->param[i] == NULL) continue;
    n++;
    push_field(L, m->param[i], name); lua_rawseti(L, 2, n);
    push_field(L, m->grad[i], grad_name(L, name)); lua_remove(L, -2); lua_rawseti(L, 3, n);
    lua_pushstring(L, name); lua_rawseti(L, 4, n);
  }
  return 3;
}

/* layer:buffers([{persistent = false}]) -> {name = tensor}: the tensors a
** layer keeps that are not parameters (BatchNorm's running_mean and
** running_var, Dropout's mask).  persistent = true: only the state a
** checkpoint keeps (the running statistics). */
static int m_buffers (lua_State *L) {
  static const char *const keys[] = { "persistent", NULL };
  nn_module *m = checkmodule(L, 1);
  nn_check_keys(L, 2, "buffers", keys);
  int only = nn_opt_boolean(L, 2, "persistent", 0);
  lua_settop(L, 1);
  lua_newtable(L);
  for (int i = 0; i < NN_MAXBUFFER && m->type->buffers[i] != NULL; i++) {
    if (only && i >= m->type->persistent_buffers) break;
    push_field(L, m->buffer[i], m->type->buffers[i]);
    lua_setfield(L, 2, m->type->buffers[i]);
  }
  return 1;
}

/* option i's value as Lua shows it: an integer, a number, a boolean, a
** name; a height-width option as {h, w} */
static void push_option (lua_State *L, const nn_module *m, int i) {
  const nn_option *o = &m->type->options[i];
  if (o->hw) {
    lua_createtable(L, 2, 0);
    for (int k = 0; k < 2; k++) {
      lua_pushinteger(L, (lua_Integer)m->opt[i + k]);
      lua_rawseti(L, -2, k + 1);
    }
    return;
  }
  switch (o->kind) {
    case NN_OPT_INT: lua_pushinteger(L, (lua_Integer)m->opt[i]); break;
    case NN_OPT_BOOL: lua_pushboolean(L, m->opt[i] != 0); break;
    case NN_OPT_CHOICE: lua_pushstring(L, o->choices[(int)m->opt[i]]); break;
    default: lua_pushnumber(L, m->opt[i]); break;
  }
}

/* layer:config() -> {type = "Linear", in_features = 3, ...}: every option,
** what a checkpoint stores; nn[config.type](config) builds the same layer. */
static int m_config (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  lua_newtable(L);
  lua_pushstring(L, m->type->name);
  lua_setfield(L, -2, "type");
  for (int i = 0; i < NN_MAXOPT && m->type->options[i].name != NULL; i++) {
    if (m->type->options[i].hw_width) continue;
    push_option(L, m, i);
    lua_setfield(L, -2, m->type->options[i].name);
  }
  return 1;
}

/* a Lua list of sizes at arg as an nn_shape */
static nn_shape check_shape (lua_State *L, int arg) {
  nn_shape s;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_Integer n = luaL_len(L, arg);
  luaL_argcheck(L, n <= NN_MAXDIM, arg, "a shape has at most 5 sizes");
  s.ndim = (int)n;
  for (int i = 0; i < s.ndim; i++) {
    int ok;
    lua_geti(L, arg, i + 1);
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < 0)
      luaL_argerror(L, arg, lua_pushfstring(L, "size %d must be an integer >= 0", i + 1));
    s.d[i] = (int64_t)v;
    lua_pop(L, 1);
  }
  return s;
}

/* layer:output_shape(shape [, shape2, ...]) -> shape: what forward would
** give for inputs of these shapes (lists of sizes, batch included), as
** summary() shows it.  Errors: shapes the layer does not take. */
static int m_output_shape (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  int n = lua_gettop(L) - 1;
  nn_shape in[NN_MAXINPUT], out;
  luaL_argcheck(L, n >= 1 && n <= NN_MAXINPUT, 2, "expected 1 to 8 shapes");
  for (int k = 0; k < n; k++) in[k] = check_shape(L, 2 + k);
  int rc = module_output_shape(m, n, in, &out);
  if (rc != NN_OK) {
    int role = nn_errrole();
    return nn_raise(L, role >= NN_ROLE_INPUT ? 2 + role - NN_ROLE_INPUT : 2, rc);
  }
  lua_createtable(L, out.ndim, 0);
  for (int i = 0; i < out.ndim; i++) {
    lua_pushinteger(L, (lua_Integer)out.d[i]);
    lua_rawseti(L, -2, i + 1);
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
  if (rc != NN_OK) return nn_raise(L, 0, rc);
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

/* layer(x) is layer:forward(x), as PyTorch's module(x).  layer(s, ...) with
** a symbolic tensor among its arguments (nn.Input{784}, or another layer's
** symbolic output: a table whose metatable has __symbolic_call, set by
** lua/nn/graph.lua) builds a graph instead: that function gets the layer and
** the same arguments, and refuses a mix of symbolic and real tensors.
** Checked here and not in a Lua wrapper of __call, so a call on real tensors
** costs one type test per argument and its errors still name the caller's
** variable ('l'); any other table goes to forward, which refuses it. */
static int m_call (lua_State *L) {
  int top = lua_gettop(L);
  for (int i = 2; i <= top; i++) {
    if (lua_type(L, i) != LUA_TTABLE) continue;
    int t = luaL_getmetafield(L, i, "__symbolic_call");    /* pushes nothing when nil */
    if (t == LUA_TFUNCTION) {
      lua_insert(L, 1);
      lua_call(L, top, LUA_MULTRET);
      return lua_gettop(L);
    }
    if (t != LUA_TNIL) lua_pop(L, 1);
  }
  return m_forward(L);
}

/* The fields: methods first, then the live tensors (output, grad_input,
** the parameters and their gradients, the buffers), then the options, all
** by the names the layer's type gives them. */
static int m_index (lua_State *L) {
  nn_module *m = checkmodule(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  const char *key = lua_tostring(L, 2);
  const nn_module_type *t = m->type;
  if (key == NULL || lua_type(L, 2) != LUA_TSTRING) return 1;
  lua_settop(L, 2);
  if (strcmp(key, "output") == 0) { push_field(L, m->output, key); return 1; }
  if (strcmp(key, "grad_input") == 0) { push_grad_input(L, m, 0); return 1; }
  if (strcmp(key, "training") == 0) { lua_pushboolean(L, m->training); return 1; }
  if (strcmp(key, "name") == 0) { lua_pushstring(L, t->name); return 1; }
  if (strcmp(key, "gives") == 0) { lua_pushstring(L, nn_gives_names[module_gives(m)]); return 1; }
  if (strcmp(key, "device") == 0) {       /* the parameters', else the output's */
    const nn_tensor *p = m->param[0] ? m->param[0] : m->param[1] ? m->param[1] : m->output;
    lua_pushstring(L, device_name(p->storage->device));
    return 1;
  }
  for (int i = 0; i < NN_MAXPARAM; i++) {
    const char *name = t->params[i];
    if (name == NULL) continue;
    if (strcmp(key, name) == 0) {                /* nil: a Linear without bias */
      if (m->param[i] == NULL) { lua_pushnil(L); return 1; }
      push_field(L, m->param[i], key);
      return 1;
    }
    if (strncmp(key, "grad_", 5) == 0 && strcmp(key + 5, name) == 0) {
      if (m->grad[i] == NULL) { lua_pushnil(L); return 1; }
      push_field(L, m->grad[i], key);
      return 1;
    }
  }
  for (int i = 0; i < NN_MAXBUFFER && t->buffers[i] != NULL; i++)
    if (strcmp(key, t->buffers[i]) == 0) { push_field(L, m->buffer[i], key); return 1; }
  for (int i = 0; i < NN_MAXOPT && t->options[i].name != NULL; i++)
    if (!t->options[i].hw_width && strcmp(key, t->options[i].name) == 0) {
      push_option(L, m, i);
      return 1;
    }
  for (int k = 1; k < m->n_inputs; k++) {
    char name[24];
    snprintf(name, sizeof name, "grad_input%d", k + 1);
    if (strcmp(key, name) == 0) { push_grad_input(L, m, k); return 1; }
  }
  lua_pushnil(L);
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
  {"parameters", m_parameters}, {"buffers", m_buffers}, {"config", m_config},
  {"output_shape", m_output_shape},
  {"train", m_train}, {"evaluate", m_evaluate}, {"eval", m_evaluate},
  {"to", m_to}, {"cuda", m_cuda}, {"cpu", m_cpu},
  {"on_forward", m_on_forward}, {"on_backward", m_on_backward},
  {NULL, NULL}
};

/* The description of type t as a Lua table (nn.core.module_types[name]):
** {name, doc, min_inputs, max_inputs, params = {...}, buffers = {...},
**  persistent = {...}, options = {{name, kind, default, min, max,
**  choices, positional, required, doc}, ...}, new = constructor} */
static void push_type (lua_State *L, const nn_module_type *t) {
  static const char *const kinds[] = { "integer", "number", "boolean", "choice" };
  lua_newtable(L);
  lua_pushstring(L, t->name); lua_setfield(L, -2, "name");
  lua_pushstring(L, t->doc ? t->doc : ""); lua_setfield(L, -2, "doc");
  lua_pushinteger(L, t->min_inputs); lua_setfield(L, -2, "min_inputs");
  lua_pushinteger(L, t->max_inputs); lua_setfield(L, -2, "max_inputs");
  lua_newtable(L);
  for (int i = 0, n = 0; i < NN_MAXPARAM; i++)
    if (t->params[i]) { lua_pushstring(L, t->params[i]); lua_rawseti(L, -2, ++n); }
  lua_setfield(L, -2, "params");
  lua_newtable(L);
  lua_newtable(L);
  for (int i = 0; i < NN_MAXBUFFER && t->buffers[i]; i++) {
    lua_pushstring(L, t->buffers[i]);
    lua_rawseti(L, -3, i + 1);
    if (i < t->persistent_buffers) {
      lua_pushstring(L, t->buffers[i]);
      lua_rawseti(L, -2, i + 1);
    }
  }
  lua_setfield(L, -3, "persistent");
  lua_setfield(L, -2, "buffers");
  lua_newtable(L);
  for (int i = 0, n = 0; i < NN_MAXOPT && t->options[i].name; i++) {
    const nn_option *o = &t->options[i];
    if (o->hw_width) continue;                  /* shown as part of the one before */
    lua_newtable(L);
    lua_pushboolean(L, o->hw); lua_setfield(L, -2, "hw");
    lua_pushstring(L, o->name); lua_setfield(L, -2, "name");
    lua_pushstring(L, kinds[o->kind]); lua_setfield(L, -2, "kind");
    lua_pushinteger(L, o->positional); lua_setfield(L, -2, "positional");
    lua_pushboolean(L, o->required); lua_setfield(L, -2, "required");
    if (!o->required) {
      if (o->kind == NN_OPT_BOOL) lua_pushboolean(L, o->dflt != 0);
      else if (o->kind == NN_OPT_CHOICE) lua_pushstring(L, o->choices[(int)o->dflt]);
      else if (o->kind == NN_OPT_INT) lua_pushinteger(L, (lua_Integer)o->dflt);
      else lua_pushnumber(L, o->dflt);
      lua_setfield(L, -2, "default");
    }
    if (o->kind == NN_OPT_INT || o->kind == NN_OPT_NUMBER) {
      lua_pushnumber(L, o->min); lua_setfield(L, -2, "min");
      lua_pushnumber(L, o->max); lua_setfield(L, -2, "max");
      lua_pushboolean(L, o->min_excluded); lua_setfield(L, -2, "min_excluded");
    }
    if (o->kind == NN_OPT_CHOICE) {
      lua_newtable(L);
      for (int c = 0; o->choices[c]; c++) { lua_pushstring(L, o->choices[c]); lua_rawseti(L, -2, c + 1); }
      lua_setfield(L, -2, "choices");
    }
    lua_pushstring(L, o->doc ? o->doc : ""); lua_setfield(L, -2, "doc");
    lua_rawseti(L, -2, ++n);
  }
  lua_setfield(L, -2, "options");
}

/* Adds to the table on top (nn.core): the metatable as Module, a
** constructor per registered type (nn.Linear ...), its alias nn.Dense, and
** module_types, the descriptions by name. */
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
  lua_newtable(L);                  /* module_types */
  for (int i = 0; nn_module_types[i] != NULL; i++) {
    const nn_module_type *t = nn_module_types[i];
    lua_pushlightuserdata(L, (void *)t);
    lua_pushcclosure(L, l_new_module, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, t->name);   /* nn.core.Linear */
    push_type(L, t);
    lua_insert(L, -2);
    lua_setfield(L, -2, "new");
    lua_setfield(L, -2, t->name);
  }
  lua_setfield(L, -2, "module_types");
  lua_getfield(L, -1, "Linear");    /* Keras's name for it */
  lua_setfield(L, -2, "Dense");
  luaL_newmetatable(L, HANDLE_MT);  /* hook handles */
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, h_remove);
  lua_setfield(L, -2, "remove");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, h_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_take_stop_request);
  lua_setfield(L, -2, "take_stop_request");
}
