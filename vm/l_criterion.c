/*
** l_criterion.c -- losses as Lua userdata: nn.MSELoss, nn.CrossEntropyLoss, ...
** and as plain functions: nn.functional.mse_loss, ... (nn.F for short).
**
** One metatable, "nn.Criterion", for every loss (nn/criterion.h):
**
**   crit = nn.CrossEntropyLoss()             -- or {reduction = 'sum'}
**   loss = crit:forward(logits, target)      -- a Lua number
**   g = crit:backward()                      -- dL/dlogits: the live crit.grad_input
**   crit.reduction, crit.eps                 -- the options, read generically
**   crit:config()                            -- {type = 'CrossEntropyLoss', reduction = 'mean'}
**   nn.core.loss_types[cfg.type](cfg)        -- the same loss again
**
** backward() with no arguments differentiates at the last forward's input
** and target (the Keras/PyTorch habit); crit:backward(input, target) names
** them, as Torch7 did.
**
** Nothing here is per loss: each loss type describes itself (its name, what
** it takes, its options with their kinds, defaults and ranges), and one
** constructor, one option reader and one config() serve them all.  Errors
** blame the argument whose role the C side recorded (nn_raise_by_role).
*/
#include <string.h>

#include "bindings.h"
#include "nn.h"

#define CRITERION_MT "nn.Criterion"

typedef struct CriterionBox { nn_criterion *c; } CriterionBox;   /* c: NULL after __gc */

/* user values of the box */
enum { UV_GRAD = 1, UV_INPUT, UV_TARGET };

static nn_criterion *checkcriterion (lua_State *L, int arg) {
  CriterionBox *box = (CriterionBox *)nn_checkudata(L, arg, CRITERION_MT, "loss");  /* a dot */
  luaL_argcheck(L, box->c != NULL, arg, "loss already freed");
  return box->c;
}

/* the Lua box of grad_input, made once (its struct never changes) */
static void push_grad_input (lua_State *L, nn_criterion *c) {
  if (lua_getiuservalue(L, 1, UV_GRAD) == LUA_TNIL) {
    lua_pop(L, 1);
    pushtensor(L, tensor_retain(c->grad_input));
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, UV_GRAD);
  }
}


/* --- options, as the type describes them --------------------------------------- */

/* "'mean' or 'sum'": the choices of o, pushed */
static const char *push_choices (lua_State *L, const nn_option *o) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; o->choices[i] != NULL; i++) {
    if (i > 0) luaL_addstring(&b, o->choices[i + 1] == NULL ? " or " : ", ");
    luaL_addchar(&b, '\'');
    luaL_addstring(&b, o->choices[i]);
    luaL_addchar(&b, '\'');
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* The value of option o (of loss `who`) at stack index idx: the index of a
** choice, or a number; nil is the default.  Raises bad argument #arg,
** naming the loss, the option and what it takes.  The range of a number is
** checked by the C side (criterion_check_option). */
static double check_option (lua_State *L, int idx, int arg, const char *who,
                            const nn_option *o) {
  idx = lua_absindex(L, idx);
  int t = lua_type(L, idx);
  if (t == LUA_TNIL || t == LUA_TNONE) return o->dflt;
  if (o->kind == NN_OPT_CHOICE) {
    if (t == LUA_TSTRING)
      for (int i = 0; o->choices[i] != NULL; i++)
        if (strcmp(o->choices[i], lua_tostring(L, idx)) == 0) return i;
    const char *want = push_choices(L, o);
    const char *got = t == LUA_TSTRING ? lua_pushfstring(L, "'%s'", lua_tostring(L, idx))
                                       : luaL_typename(L, idx);
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be %s, got %s", who, o->name,
                                          want, got));
  }
  if (t != LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s must be a number, got %s", who, o->name,
                                          luaL_typename(L, idx)));
  return lua_tonumber(L, idx);
}

/* the value v of option o, as Lua shows it: the choice's name, or the number */
static void push_option (lua_State *L, const nn_option *o, double v) {
  if (o->kind == NN_OPT_CHOICE) lua_pushstring(L, o->choices[(int)v]);
  else lua_pushnumber(L, v);
}

/* The options table at arg (nil: every default) into v[], one per option
** of type.  An unknown key raises, naming the loss and its options; `type`
** is allowed when it names this loss, so that a config() table rebuilds
** it. */
static void read_options (lua_State *L, int arg, const nn_criterion_type *type, double *v) {
  const char *who = type->name;
  for (int i = 0; i < type->noptions; i++) v[i] = type->options[i]->dflt;
  if (lua_isnoneornil(L, arg)) return;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {          /* every key is known */
    int known = 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -2);
      for (int i = 0; i < type->noptions && !known; i++)
        known = strcmp(type->options[i]->name, key) == 0;
      if (!known && strcmp(key, "type") == 0) {
        const char *name = lua_tostring(L, -1);
        if (name == NULL || strcmp(name, who) != 0)
          luaL_argerror(L, arg, lua_pushfstring(L, "%s: the config is of type %s",
                                                who, luaL_tolstring(L, -1, NULL)));
        known = 1;
      }
    }
    if (!known) {
      luaL_Buffer b;
      const char *key = luaL_tolstring(L, -2, NULL);
      luaL_buffinit(L, &b);
      for (int i = 0; i < type->noptions; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        luaL_addstring(&b, type->options[i]->name);
      }
      luaL_pushresult(&b);
      luaL_argerror(L, arg, lua_pushfstring(L, "%s has no option '%s' (options: %s)", who, key,
                                            lua_tostring(L, -1)));
    }
    lua_pop(L, 1);
  }
  for (int i = 0; i < type->noptions; i++) {
    lua_getfield(L, arg, type->options[i]->name);
    v[i] = check_option(L, -1, arg, who, type->options[i]);
    lua_pop(L, 1);
    if (criterion_check_option(type, i, v[i]) != NN_OK) nn_raise(L, arg, NN_EARG);
  }
}

/* nn.MSELoss([opts]), nn.CategoricalCrossentropy{eps = 1e-7}, ...: the one
** constructor, its loss type in upvalue 1. */
static int l_new_loss (lua_State *L) {
  const nn_criterion_type *type = lua_touserdata(L, lua_upvalueindex(1));
  double v[NN_LOSS_MAXOPT];
  read_options(L, 1, type, v);
  lua_settop(L, 1);
  CriterionBox *box = (CriterionBox *)lua_newuserdatauv(L, sizeof(CriterionBox), 3);
  box->c = NULL;
  luaL_setmetatable(L, CRITERION_MT);
  int rc = criterion_new(&box->c, type, v);
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  nn_gc_account(L, sizeof(nn_criterion) + 2 * NN_GC_TENSOR_BYTES);   /* + grad_input, work */
  return 1;
}


/* --- methods ---------------------------------------------------------------------- */

/* The error of c's pair, blamed by the role the C side recorded: the input
** is argument 2 of c:forward(input, target) (#1 once Lua counts self out),
** the target argument 3. */
static int raise_loss_error (lua_State *L, int rc) {
  return nn_raise_by_role(L, rc, 0, NN_ROLE_INPUT, 2, NN_ROLE_TARGET, 3, -1);
}

/* crit:forward(input, target) -> loss (a number).  Keeps both for backward(). */
static int c_forward (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  nn_tensor *x = checktensor(L, 2);
  nn_tensor *target = nn_check_target(L, 3);
  double loss;
  int rc = criterion_forward(c, x, target, &loss);
  if (rc != NN_OK) return raise_loss_error(L, rc);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, UV_INPUT);
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 1, UV_TARGET);
  lua_pushnumber(L, loss);
  return 1;
}

/* crit:backward([input, target]) -> grad_input, dL/dinput (the live
** crit.grad_input).  Errors: no arguments and no forward before. */
static int c_backward (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, UV_INPUT);
    lua_getiuservalue(L, 1, UV_TARGET);
    if (lua_isnil(L, 2))
      return luaL_error(L, "%s: backward() before forward(): give input and target, "
                        "or call forward first", c->type->name);
  }
  nn_tensor *x = checktensor(L, 2);
  nn_tensor *target = nn_check_target(L, 3);
  int rc = criterion_backward(c, x, target);
  if (rc != NN_OK) return raise_loss_error(L, rc);
  lua_settop(L, 1);
  push_grad_input(L, c);
  return 1;
}

/* crit:config() -> {type = 'CategoricalCrossentropy', reduction = 'mean',
** eps = 1e-07}: what a checkpoint stores; nn.core.loss_types[cfg.type](cfg)
** builds the same loss again. */
static int c_config (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  lua_createtable(L, 0, c->type->noptions + 1);
  lua_pushstring(L, c->type->name);
  lua_setfield(L, -2, "type");
  for (int i = 0; i < c->type->noptions; i++) {
    push_option(L, c->type->options[i], c->opt[i]);
    lua_setfield(L, -2, c->type->options[i]->name);
  }
  return 1;
}

/* "nn.CategoricalCrossentropy(reduction=mean, eps=1e-07)" */
static int c_tostring (lua_State *L) {
  CriterionBox *box = (CriterionBox *)luaL_checkudata(L, 1, CRITERION_MT);
  if (box->c == NULL) { lua_pushliteral(L, "nn.Criterion (freed)"); return 1; }
  const nn_criterion_type *type = box->c->type;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "nn.%s(", type->name);
  luaL_addvalue(&b);
  for (int i = 0; i < type->noptions; i++) {
    lua_pushfstring(L, "%s%s=", i > 0 ? ", " : "", type->options[i]->name);
    luaL_addvalue(&b);
    push_option(L, type->options[i], box->c->opt[i]);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

static int c_gc (lua_State *L) {
  CriterionBox *box = (CriterionBox *)luaL_checkudata(L, 1, CRITERION_MT);
  criterion_free(box->c);
  box->c = NULL;
  return 0;
}

/* crit(input, target) is crit:forward(input, target) */
static int c_call (lua_State *L) { return c_forward(L); }

/* methods, then grad_input, output (the last loss), name, doc, and the
** options by name (crit.reduction, crit.eps) */
static int c_index (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  const char *key = lua_tostring(L, 2);
  if (key == NULL) return 1;
  lua_settop(L, 2);
  if (strcmp(key, "grad_input") == 0) { push_grad_input(L, c); return 1; }
  if (strcmp(key, "output") == 0 || strcmp(key, "loss") == 0) lua_pushnumber(L, c->loss);
  else if (strcmp(key, "name") == 0) lua_pushstring(L, c->type->name);
  else if (strcmp(key, "doc") == 0) lua_pushstring(L, c->type->doc);
  else if (strcmp(key, "takes") == 0) lua_pushstring(L, nn_gives_names[c->type->takes]);
  else {
    lua_pushnil(L);
    for (int i = 0; i < c->type->noptions; i++)
      if (strcmp(key, c->type->options[i]->name) == 0) {
        push_option(L, c->type->options[i], c->opt[i]);
        break;
      }
  }
  return 1;
}

static int c_newindex (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  return luaL_error(L, "%s: field '%s' cannot be assigned", c->type->name,
                    luaL_tolstring(L, 2, NULL));
}

static const luaL_Reg metameth[] = {
  {"__gc", c_gc},
  {"__tostring", c_tostring},
  {"__call", c_call},
  {"__newindex", c_newindex},
  {"__index", NULL},
  {NULL, NULL}
};

static const luaL_Reg meth[] = {
  {"forward", c_forward}, {"backward", c_backward},
  {"config", c_config},
  {NULL, NULL}
};


/* --- nn.functional: the pairs without a module ------------------------------------
**
**   F.mse_loss(x, t [, reduction = 'mean'])           -> loss (a number)
**   F.mse_loss_backward(x, t [, reduction = 'mean'])  -> dL/dx (a new tensor)
**   ... l1_loss, bce_loss, bce_with_logits_loss, cross_entropy, nll_loss,
**   categorical_crossentropy(x, t [, eps = 1e-7 [, reduction = 'mean']])
**
** Errors blame x (#1) or the target (#2) by the role the C side recorded,
** and a bad eps or reduction by its own number. */

typedef int (*pair_forward) (double *loss, nn_tensor *work, const nn_tensor *x,
                             const nn_tensor *target, nn_redop reduction);
typedef int (*pair_backward) (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                              nn_redop reduction);

/* the reduction at arg ('mean' when absent), as every loss describes it */
static nn_redop check_reduction (lua_State *L, int arg, const char *who) {
  return check_option(L, arg, arg, who, &nn_loss_reduction_option) == 1 ? NN_SUM : NN_MEAN;
}

/* CategoricalCrossentropy's eps at arg, its default when absent */
static double check_eps (lua_State *L, int arg) {
  const nn_criterion_type *type = &categorical_crossentropy_type;
  double eps = check_option(L, arg, arg, type->name, type->options[1]);
  if (criterion_check_option(type, 1, eps) != NN_OK) nn_raise(L, arg, NN_EARG);
  return eps;
}

static int raise_pair_error (lua_State *L, int rc) {
  return nn_raise_by_role(L, rc, 0, NN_ROLE_INPUT, 1, NN_ROLE_TARGET, 2, -1);
}

static int push_loss (lua_State *L, int rc, double loss) {
  if (rc != NN_OK) return raise_pair_error(L, rc);
  lua_pushnumber(L, loss);
  return 1;
}

/* dL/dx into a new tensor of x's shape, GC-owned before the pair runs */
static nn_tensor *push_grad (lua_State *L, const nn_tensor *x) {
  TensorBox *box = newbox(L);
  int rc = tensor_new_like(&box->t, x);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  nn_gc_account(L, (size_t)x->numel * sizeof(float));
  return box->t;
}

static int functional_forward (lua_State *L, const char *who, pair_forward f) {
  nn_tensor *x = checktensor(L, 1), *target = nn_check_target(L, 2);
  nn_redop r = check_reduction(L, 3, who);
  double loss = 0.0;
  int rc = f(&loss, NULL, x, target, r);
  return push_loss(L, rc, loss);
}

static int functional_backward (lua_State *L, const char *who, pair_backward f) {
  nn_tensor *x = checktensor(L, 1), *target = nn_check_target(L, 2);
  nn_redop r = check_reduction(L, 3, who);
  nn_tensor *grad = push_grad(L, x);
  int rc = f(grad, x, target, r);
  if (rc != NN_OK) return raise_pair_error(L, rc);
  return 1;
}

static int f_mse (lua_State *L) {
  return functional_forward(L, "MSELoss", mse_loss_forward);
}
static int f_mse_backward (lua_State *L) {
  return functional_backward(L, "MSELoss", mse_loss_backward);
}
static int f_l1 (lua_State *L) {
  return functional_forward(L, "L1Loss", l1_loss_forward);
}
static int f_l1_backward (lua_State *L) {
  return functional_backward(L, "L1Loss", l1_loss_backward);
}
static int f_bce (lua_State *L) {
  return functional_forward(L, "BCELoss", bce_loss_forward);
}
static int f_bce_backward (lua_State *L) {
  return functional_backward(L, "BCELoss", bce_loss_backward);
}
static int f_bce_logits (lua_State *L) {
  return functional_forward(L, "BCEWithLogitsLoss", bce_with_logits_loss_forward);
}
static int f_bce_logits_backward (lua_State *L) {
  return functional_backward(L, "BCEWithLogitsLoss", bce_with_logits_loss_backward);
}
static int f_cross_entropy (lua_State *L) {
  return functional_forward(L, "CrossEntropyLoss", cross_entropy_loss_forward);
}
static int f_cross_entropy_backward (lua_State *L) {
  return functional_backward(L, "CrossEntropyLoss", cross_entropy_loss_backward);
}
static int f_nll (lua_State *L) {
  return functional_forward(L, "NLLLoss", nll_loss_forward);
}
static int f_nll_backward (lua_State *L) {
  return functional_backward(L, "NLLLoss", nll_loss_backward);
}

/* nn.F.softmax_cross_entropy_backward(y, target [, {log = false,
** reduction = 'mean'}]) -> dL/dz: the fused gradient s (T p - t) of a
** Softmax (log: LogSoftmax) whose output is y and whose input was z, followed
** by categorical cross-entropy (log: NLL), from y alone
** (nn/loss_classification.c).  Models train with CrossEntropyLoss on the
** logits instead; this is the same gradient for a learner who has only the
** probabilities.  Errors: as the losses' (shapes, class indices, devices). */
static int f_softmax_xent_backward (lua_State *L) {
  static const char *const keys[] = { "log", "reduction", NULL };
  nn_tensor *y = checktensor(L, 1), *target = nn_check_target(L, 2);
  nn_check_keys(L, 3, "softmax_cross_entropy_backward", keys);
  int is_log = nn_opt_boolean(L, 3, "log", 0);
  nn_redop r = NN_MEAN;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "reduction");
    r = check_reduction(L, lua_gettop(L), "softmax_cross_entropy_backward");
    lua_pop(L, 1);
  }
  const char *as = is_log ? "NLLLoss" : "CategoricalCrossentropy";   /* the loss it stands for */
  nn_tensor *grad = push_grad(L, y);
  int rc = softmax_cross_entropy_backward(grad, y, target, is_log, r, as);
  if (rc != NN_OK) return raise_pair_error(L, rc);
  return 1;
}

static int f_cce (lua_State *L) {
  nn_tensor *x = checktensor(L, 1), *target = nn_check_target(L, 2);
  double eps = check_eps(L, 3);
  nn_redop r = check_reduction(L, 4, "CategoricalCrossentropy");
  double loss = 0.0;
  int rc = categorical_crossentropy_forward(&loss, NULL, x, target, eps, r);
  return push_loss(L, rc, loss);
}

static int f_cce_backward (lua_State *L) {
  nn_tensor *x = checktensor(L, 1), *target = nn_check_target(L, 2);
  double eps = check_eps(L, 3);
  nn_redop r = check_reduction(L, 4, "CategoricalCrossentropy");
  nn_tensor *grad = push_grad(L, x);
  int rc = categorical_crossentropy_backward(grad, x, target, eps, r);
  if (rc != NN_OK) return raise_pair_error(L, rc);
  return 1;
}

static const luaL_Reg functional[] = {
  {"mse_loss", f_mse}, {"mse_loss_backward", f_mse_backward},
  {"l1_loss", f_l1}, {"l1_loss_backward", f_l1_backward},
  {"bce_loss", f_bce}, {"bce_loss_backward", f_bce_backward},
  {"bce_with_logits_loss", f_bce_logits}, {"bce_with_logits_loss_backward", f_bce_logits_backward},
  {"cross_entropy", f_cross_entropy}, {"cross_entropy_backward", f_cross_entropy_backward},
  {"nll_loss", f_nll}, {"nll_loss_backward", f_nll_backward},
  {"categorical_crossentropy", f_cce}, {"categorical_crossentropy_backward", f_cce_backward},
  {"softmax_cross_entropy_backward", f_softmax_xent_backward},
  {NULL, NULL}
};


/* Into the table on top (nn.core): the Criterion metatable, a constructor
** per loss type (nn.MSELoss, ...) also listed in loss_types, and the pairs
** in the table `functional` (shared with the layers: made if absent). */
void nn_open_criterion (lua_State *L) {
  luaL_newmetatable(L, CRITERION_MT);
  luaL_setfuncs(L, metameth, 0);
  luaL_newlibtable(L, meth);
  luaL_setfuncs(L, meth, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "methods");
  lua_pushcclosure(L, c_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setfield(L, -2, "Criterion");   /* nn.core.Criterion: the metatable */

  lua_newtable(L);                     /* nn.core.loss_types */
  for (int i = 0; nn_criterion_types[i] != NULL; i++) {
    const nn_criterion_type *type = nn_criterion_types[i];
    lua_pushlightuserdata(L, (void *)type);
    lua_pushcclosure(L, l_new_loss, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, type->name);  /* loss_types[name] */
    lua_setfield(L, -3, type->name);  /* nn.core[name] */
  }
  lua_setfield(L, -2, "loss_types");

  if (lua_getfield(L, -1, "functional") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "functional");
  }
  luaL_setfuncs(L, functional, 0);
  lua_pop(L, 1);
}
