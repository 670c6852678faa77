/*
** l_optim.c -- the optimizer updates of nn/optim.c, for lua/nn/optim.lua.
**
** lua/nn/optim.lua keeps an optimizer as a Lua table (opt.name, opt.lr,
** opt.momentum, opt.betas ...) and its state as a list, one table of tensors
** per parameter index: states[i].exp_avg.  The functions here read those
** tables as they are at the call, so a changed opt.momentum counts from the
** next step.  They live in the sub-table nn.core.optim_update:
**
**   check(opt) -> nil | message          the hyper-parameters, as nn/optim.c checks them
**   state_names(opt) -> all, used        the state tensors' names: all of this
**                                        kind, and those these settings use
**   step(opt, lr, step, params, grads, states) -> true | nil, message
**
** step() checks every parameter, gradient and state tensor before it writes
** anything, so a bad call changes nothing; then, per parameter index, it
** makes the state tensors that are missing (on the parameter's device) and
** runs the fused update: one C call per parameter tensor.  Problems with
** the arguments come back as nil, message, for the Lua caller to raise at
** its user's line.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bindings.h"
#include "optim.h"

/* --- reading an optimizer table -------------------------------------------------- */

/* A message about the optimizer's fields; the first one found is kept. */
typedef struct ReadErr { char msg[200]; } ReadErr;

/* opt[key] as a number (0 when absent) */
static double get_number (lua_State *L, int opt, const char *who, const char *key,
                          ReadErr *err) {
  int isnum = 1;
  double v = 0.0;
  if (lua_getfield(L, opt, key) != LUA_TNIL) v = lua_tonumberx(L, -1, &isnum);
  if (!isnum && err->msg[0] == '\0')
    snprintf(err->msg, sizeof err->msg, "%s: %s must be a number, got %s", who, key,
             luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/* opt[key] as a boolean (false when absent) */
static int get_boolean (lua_State *L, int opt, const char *who, const char *key, ReadErr *err) {
  int t = lua_getfield(L, opt, key), v = lua_toboolean(L, -1);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN && err->msg[0] == '\0')
    snprintf(err->msg, sizeof err->msg, "%s: %s must be a boolean, got %s", who, key,
             luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/* The hyper-parameters of the optimizer table at index opt (opt.name says
** which one it is).  0, or 1 with err->msg set when a field has the wrong
** type; the range of each value is optim_check's. */
static int read_hyper (lua_State *L, int opt, nn_optim_hyper *h, ReadErr *err) {
  memset(h, 0, sizeof *h);
  err->msg[0] = '\0';
  if (!lua_istable(L, opt)) {
    snprintf(err->msg, sizeof err->msg, "expected an optimizer, got %s", luaL_typename(L, opt));
    return 1;
  }
  lua_getfield(L, opt, "name");
  const char *name = lua_tostring(L, -1);
  for (h->kind = 0; h->kind < NN_OPTIM_KIND_COUNT; h->kind++)
    if (name != NULL && strcmp(name, optim_name(h->kind)) == 0) break;
  lua_pop(L, 1);
  if (h->kind == NN_OPTIM_KIND_COUNT) {
    snprintf(err->msg, sizeof err->msg, "not an optimizer: its name is %s",
             name ? name : "missing");
    return 1;
  }
  const char *who = optim_name(h->kind);
  h->lr = get_number(L, opt, who, "lr", err);
  h->weight_decay = get_number(L, opt, who, "weight_decay", err);
  switch (h->kind) {
    case NN_OPTIM_SGD:
      h->momentum = get_number(L, opt, who, "momentum", err);
      h->dampening = get_number(L, opt, who, "dampening", err);
      h->nesterov = get_boolean(L, opt, who, "nesterov", err);
      break;
    case NN_OPTIM_ADAGRAD:
      h->lr_decay = get_number(L, opt, who, "lr_decay", err);
      h->eps = get_number(L, opt, who, "eps", err);
      h->initial_accumulator_value = get_number(L, opt, who, "initial_accumulator_value", err);
      break;
    case NN_OPTIM_RMSPROP:
      h->alpha = get_number(L, opt, who, "alpha", err);
      h->eps = get_number(L, opt, who, "eps", err);
      h->momentum = get_number(L, opt, who, "momentum", err);
      h->centered = get_boolean(L, opt, who, "centered", err);
      break;
    default: {   /* Adam, AdamW: betas = {beta1, beta2} */
      int ok1 = 0, ok2 = 0;
      h->eps = get_number(L, opt, who, "eps", err);
      h->amsgrad = get_boolean(L, opt, who, "amsgrad", err);
      if (lua_getfield(L, opt, "betas") == LUA_TTABLE && lua_rawlen(L, -1) == 2) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        h->beta1 = lua_tonumberx(L, -2, &ok1);
        h->beta2 = lua_tonumberx(L, -1, &ok2);
        lua_pop(L, 2);
      }
      lua_pop(L, 1);
      if ((!ok1 || !ok2) && err->msg[0] == '\0')
        snprintf(err->msg, sizeof err->msg, "%s: betas must be a table of two numbers", who);
      break;
    }
  }
  return err->msg[0] != '\0';
}

/* nn.core.optim_update.check(opt) -> nil, or the message of the first bad
** hyper-parameter ("Adam: lr must be a number >= 0, got -1") */
static int l_check (lua_State *L) {
  nn_optim_hyper h;
  ReadErr err;
  if (read_hyper(L, 1, &h, &err)) lua_pushstring(L, err.msg);
  else if (optim_check(&h) != NN_OK) lua_pushstring(L, nn_errmsg());
  else lua_pushnil(L);
  return 1;
}

/* nn.core.optim_update.state_names(opt) -> {all names}, {names these settings use} */
static int l_state_names (lua_State *L) {
  nn_optim_hyper h;
  ReadErr err;
  if (read_hyper(L, 1, &h, &err)) return luaL_error(L, "%s", err.msg);
  lua_newtable(L);
  lua_newtable(L);
  for (int slot = 0, n_all = 0, n_used = 0; slot < NN_OPTIM_MAXSTATE; slot++) {
    const char *name = optim_state_name(h.kind, slot);
    float init;
    if (name == NULL) break;
    lua_pushstring(L, name);
    lua_rawseti(L, -3, ++n_all);
    if (optim_state_used(&h, slot, &init)) {
      lua_pushstring(L, name);
      lua_rawseti(L, -2, ++n_used);
    }
  }
  return 2;
}


/* --- one step ----------------------------------------------------------------- */

/* nil, message (formatted) for the Lua caller to raise */
static int fail (lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushnil(L);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return 2;
}

static int same_shape (const nn_tensor *a, const nn_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return 1;
}

/* Stack positions of step()'s arguments. */
enum { OPT = 1, LR, STEP, PARAMS, GRADS, STATES };

/* The tensor list[i] (list at stack index `list`), or NULL; leaves nothing on the stack. */
static nn_tensor *list_tensor (lua_State *L, int list, lua_Integer i) {
  lua_rawgeti(L, list, i);
  nn_tensor *t = totensor(L, -1);
  lua_pop(L, 1);
  return t;
}

/* states[i][name of slot] for every slot into state[] (NULL where absent);
** NULL, or a message when states[i] or an entry has the wrong type. */
static const char *read_state (lua_State *L, const nn_optim_hyper *h, lua_Integer i,
                               nn_tensor *state[NN_OPTIM_MAXSTATE]) {
  const char *who = optim_name(h->kind);
  for (int s = 0; s < NN_OPTIM_MAXSTATE; s++) state[s] = NULL;
  if (lua_rawgeti(L, STATES, i) == LUA_TNIL) { lua_pop(L, 1); return NULL; }
  if (!lua_istable(L, -1))
    return lua_pushfstring(L, "%s:step: the state of params[%d] is a %s, not a table", who,
                           (int)i, luaL_typename(L, -1));
  for (int s = 0; s < NN_OPTIM_MAXSTATE && optim_state_name(h->kind, s) != NULL; s++) {
    const char *name = optim_state_name(h->kind, s);
    if (lua_getfield(L, -1, name) != LUA_TNIL && (state[s] = totensor(L, -1)) == NULL)
      return lua_pushfstring(L, "%s:step: the state %s of params[%d] is a %s, not a tensor",
                             who, name, (int)i, tensor_typename(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return NULL;
}

/* Everything that can be wrong with parameter i, checked before any update. */
static const char *check_one (lua_State *L, const nn_optim_hyper *h, lua_Integer i) {
  const char *who = optim_name(h->kind);
  nn_tensor *p = list_tensor(L, PARAMS, i), *g = list_tensor(L, GRADS, i);
  nn_tensor *state[NN_OPTIM_MAXSTATE];
  if (p == NULL) {
    lua_rawgeti(L, PARAMS, i);
    return lua_pushfstring(L, "%s:step: params[%d] is a %s, not a tensor", who, (int)i,
                           tensor_typename(L, -1));
  }
  if (g == NULL) {
    lua_rawgeti(L, GRADS, i);
    return lua_pushfstring(L, "%s:step: grads[%d] is a %s, not a tensor", who, (int)i,
                           tensor_typename(L, -1));
  }
  if (g->storage->device != p->storage->device)
    return lua_pushfstring(L, "%s:step: grads[%d] is on %s but params[%d] is on %s", who, (int)i,
                           device_name(g->storage->device), (int)i,
                           device_name(p->storage->device));
  if (!same_shape(g, p))
    return lua_pushfstring(L, "%s:step: grads[%d] has shape %s but params[%d] has %s", who,
                           (int)i, shape_str(g).s, (int)i, shape_str(p).s);
  const char *err = read_state(L, h, i, state);
  if (err != NULL) return err;
  for (int s = 0; s < NN_OPTIM_MAXSTATE; s++) {
    const nn_tensor *t = state[s];
    if (t == NULL) continue;
    if (!same_shape(t, p))
      return lua_pushfstring(L, "%s:step: params[%d] has shape %s but its state %s has %s: "
                             "these are not the parameters the optimizer has stepped "
                             "(opt:reset() starts over)", who, (int)i, shape_str(p).s,
                             optim_state_name(h->kind, s), shape_str(t).s);
    if (t->storage->device != p->storage->device)
      return lua_pushfstring(L, "%s:step: params[%d] is on %s but its state %s is on %s "
                             "(move the optimizer too: opt:to('%s'))", who, (int)i,
                             device_name(p->storage->device), optim_state_name(h->kind, s),
                             device_name(t->storage->device), device_name(p->storage->device));
  }
  /* the library's own checks (hyper-parameters, shapes, one device) */
  if (optim_check_tensors(h, p, (const nn_tensor *const *)state, g) != NN_OK)
    return lua_pushfstring(L, "%s (params[%d])", nn_errmsg(), (int)i);
  return NULL;
}

/* Make the state tensors of parameter i that h uses and that are missing,
** in states[i] (made too when missing).  *fresh = 1 when slot 0 is new. */
static int make_state (lua_State *L, const nn_optim_hyper *h, lua_Integer i, const nn_tensor *p,
                       int *fresh) {
  *fresh = 0;
  if (lua_rawgeti(L, STATES, i) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, STATES, i);
  }
  for (int s = 0; s < NN_OPTIM_MAXSTATE; s++) {
    const char *name = optim_state_name(h->kind, s);
    float init;
    if (name == NULL || !optim_state_used(h, s, &init)) continue;
    if (lua_getfield(L, -1, name) != LUA_TNIL) { lua_pop(L, 1); continue; }
    lua_pop(L, 1);
    TensorBox *box = newbox(L);
    int rc = tensor_new_like(&box->t, p);
    if (rc == NN_OK) rc = tensor_fill(box->t, init);
    if (rc != NN_OK) return rc;
    nn_gc_account(L, (size_t)p->numel * sizeof(float));
    lua_setfield(L, -2, name);
    if (s == 0) *fresh = 1;
  }
  lua_pop(L, 1);
  return NN_OK;
}

/* nn.core.optim_update.step(opt, lr, step, params, grads, states) -> true,
** or nil and a message (nothing changed then).
**   lr      the rate of this step (lua/nn/optim.lua applies the decay)
**   step    this step's number from 1: Adam's bias corrections, Adagrad's lr_decay
**   params, grads   equal-length lists of tensors, as layer:parameters() gives
**   states  the optimizer's list of per-index state tables: empty before the
**           first step, filled by it, and of #params entries from then on */
static int l_step (lua_State *L) {
  nn_optim_hyper h;
  ReadErr rerr;
  const char *err;
  if (read_hyper(L, OPT, &h, &rerr)) return fail(L, "%s", rerr.msg);
  const char *who = optim_name(h.kind);
  h.lr = luaL_checknumber(L, LR);
  lua_Integer step = luaL_checkinteger(L, STEP);
  luaL_checktype(L, STATES, LUA_TTABLE);
  if (!lua_istable(L, PARAMS))
    return fail(L, "%s:step: params must be a list of tensors, got %s", who,
                luaL_typename(L, PARAMS));
  if (!lua_istable(L, GRADS))
    return fail(L, "%s:step: grads must be a list of tensors, got %s", who,
                luaL_typename(L, GRADS));
  lua_settop(L, STATES);
  lua_Integer n = (lua_Integer)lua_rawlen(L, PARAMS);
  lua_Integer known = (lua_Integer)lua_rawlen(L, STATES);
  if ((lua_Integer)lua_rawlen(L, GRADS) != n)
    return fail(L, "%s:step: %d params but %d grads", who, (int)n, (int)lua_rawlen(L, GRADS));
  if (known != 0 && known != n)
    return fail(L, "%s:step: %d params, but the optimizer has state for %d: these are not the "
                "parameters it has stepped (opt:reset() starts over)", who, (int)n, (int)known);
  if (optim_check(&h) != NN_OK) return fail(L, "%s", nn_errmsg());
  for (lua_Integer i = 1; i <= n; i++) {
    if ((err = check_one(L, &h, i)) != NULL) return fail(L, "%s", err);
    lua_settop(L, STATES);
  }
  /* all is well: from here on nothing fails but an allocation */
  for (lua_Integer i = 1; i <= n; i++) {
    nn_tensor *p = list_tensor(L, PARAMS, i), *g = list_tensor(L, GRADS, i);
    nn_tensor *state[NN_OPTIM_MAXSTATE];
    int fresh, rc = make_state(L, &h, i, p, &fresh);
    if (rc == NN_OK && read_state(L, &h, i, state) == NULL)
      rc = optim_step(p, state, g, &h, (int64_t)step, fresh);
    if (rc != NN_OK) return luaL_error(L, "%s:step: params[%d]: %s", who, (int)i, nn_errmsg());
    lua_settop(L, STATES);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"check", l_check},
  {"state_names", l_state_names},
  {"step", l_step},
  {NULL, NULL}
};

void nn_open_optim (lua_State *L) {
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "optim_update");
}
