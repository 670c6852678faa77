/*
** l_criterion.c -- losses as Lua userdata: nn.MSELoss, nn.CrossEntropyLoss, ...
**
** One metatable, "nn.Criterion", for every loss (nn/nn.h):
**
**   crit = nn.CrossEntropyLoss()             -- or {reduction = 'sum'}
**   loss = crit:forward(logits, target)      -- a Lua number
**   g = crit:backward()                      -- dL/dlogits: the live crit.grad_input
**
** backward() with no arguments differentiates at the last forward's input
** and target (the Keras/PyTorch habit); crit:backward(input, target) names
** them, as Torch7 did.
*/
#include <string.h>

#include "bindings.h"
#include "nn.h"

#define CRITERION_MT "nn.Criterion"

typedef struct CriterionBox { nn_criterion *c; } CriterionBox;   /* c: NULL after __gc */

/* user values of the box */
enum { UV_GRAD = 1, UV_INPUT, UV_TARGET };

static nn_criterion *checkcriterion (lua_State *L, int arg) {
  CriterionBox *box = (CriterionBox *)luaL_checkudata(L, arg, CRITERION_MT);
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

/* nn.XLoss([{reduction = 'mean' | 'sum'}]): every loss takes this option;
** `extra` names one more number option (or NULL). */
static CriterionBox *new_criterion (lua_State *L, const char *who, const char *extra,
                                    nn_redop *reduction) {
  const char *keys[] = { "reduction", extra, NULL };
  nn_check_keys(L, 1, who, keys);
  *reduction = NN_MEAN;
  if (lua_istable(L, 1) && lua_getfield(L, 1, "reduction") != LUA_TNIL) {
    const char *r = lua_tostring(L, -1);
    if (r != NULL && strcmp(r, "sum") == 0) *reduction = NN_SUM;
    else if (r == NULL || strcmp(r, "mean") != 0)
      luaL_argerror(L, 1, lua_pushfstring(L, "%s: reduction must be 'mean' or 'sum', got %s",
                                          who, luaL_tolstring(L, -1, NULL)));
  }
  lua_settop(L, 1);
  CriterionBox *box = (CriterionBox *)lua_newuserdatauv(L, sizeof(CriterionBox), 3);
  box->c = NULL;
  luaL_setmetatable(L, CRITERION_MT);
  return box;
}

static int finish_new (lua_State *L, int rc) {
  if (rc != NN_OK) return nn_raise(L, 0, rc);
  return 1;
}

/* a loss whose only option is the reduction */
static int simple_loss (lua_State *L, const char *who,
                        int (*create) (nn_criterion **out, nn_redop reduction)) {
  nn_redop r;
  CriterionBox *box = new_criterion(L, who, NULL, &r);
  return finish_new(L, create(&box->c, r));
}

static int l_mse (lua_State *L) { return simple_loss(L, "MSELoss", mse_loss_new); }
static int l_l1 (lua_State *L) { return simple_loss(L, "L1Loss", l1_loss_new); }
static int l_cross_entropy (lua_State *L) { return simple_loss(L, "CrossEntropyLoss", cross_entropy_loss_new); }
static int l_nll (lua_State *L) { return simple_loss(L, "NLLLoss", nll_loss_new); }
static int l_bce (lua_State *L) { return simple_loss(L, "BCELoss", bce_loss_new); }
static int l_bce_logits (lua_State *L) { return simple_loss(L, "BCEWithLogitsLoss", bce_with_logits_loss_new); }

/* nn.CategoricalCrossentropy([{eps = 1e-7, reduction = 'mean'}]): Keras's,
** on probabilities, clipped to [eps, 1 - eps]. */
static int l_categorical_crossentropy (lua_State *L) {
  nn_redop r;
  double eps = nn_opt_number(L, 1, "eps", 1e-7);
  luaL_argcheck(L, eps >= 0 && eps < 0.5, 1, "CategoricalCrossentropy: eps must be in [0, 0.5)");
  CriterionBox *box = new_criterion(L, "CategoricalCrossentropy", "eps", &r);
  return finish_new(L, categorical_crossentropy_new(&box->c, r, (float)eps));
}


/* --- methods ---------------------------------------------------------------------- */

/* A shape or device error is blamed on the input, argument #1 of
** c:forward(input, target); a bad value on the tensor its message names:
** "target[3] = 0 is not a class index ..." on #2, "input[2] = 1.5 is not
** a probability ..." on #1. */
static int raise_loss_error (lua_State *L, int rc) {
  int target = rc == NN_EARG && strstr(nn_errmsg(), ": target[") != NULL;
  return nn_raise(L, target ? 3 : 2, rc);
}

/* crit:forward(input, target) -> loss (a number).  Keeps both for backward(). */
static int c_forward (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  nn_tensor *x = checktensor(L, 2);
  nn_tensor *target = checktensor(L, 3);
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
  nn_tensor *target = checktensor(L, 3);
  int rc = criterion_backward(c, x, target);
  if (rc != NN_OK) return raise_loss_error(L, rc);
  lua_settop(L, 1);
  push_grad_input(L, c);
  return 1;
}

/* crit:softmax_backward(y, target [, log = false]) -> dL/dz (the live
** crit.grad_input, which then holds the gradient at the logits z, not at y).
** y: (B, C) the output of a Softmax (or, with log = true, a LogSoftmax)
** whose input was z; crit a CategoricalCrossentropy (or NLLLoss).  The fused,
** stable gradient s (T p - t) of the pair (nn/loss_classification.c), which
** Model uses in place of the two backward passes.
** Errors: crit is another loss; the shapes and targets as forward. */
static int c_softmax_backward (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  nn_tensor *y = checktensor(L, 2);
  nn_tensor *target = checktensor(L, 3);
  int is_log = lua_toboolean(L, 4);
  const char *want = is_log ? "NLLLoss" : "CategoricalCrossentropy";
  if (strcmp(c->type->name, want) != 0)
    return luaL_error(L, "%s: softmax_backward needs a %s after a %s", c->type->name, want,
                      is_log ? "LogSoftmax" : "Softmax");
  int rc = criterion_softmax_grad(c->grad_input, c, y, target, is_log);
  if (rc != NN_OK) return raise_loss_error(L, rc);
  lua_settop(L, 1);
  push_grad_input(L, c);
  return 1;
}

static int c_tostring (lua_State *L) {
  CriterionBox *box = (CriterionBox *)luaL_checkudata(L, 1, CRITERION_MT);
  if (box->c == NULL) lua_pushliteral(L, "nn.Criterion (freed)");
  else lua_pushfstring(L, "nn.%s(reduction=%s)", box->c->type->name,
                       box->c->reduction == NN_SUM ? "sum" : "mean");
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

/* methods, then grad_input, output (the last loss), reduction, name */
static int c_index (lua_State *L) {
  nn_criterion *c = checkcriterion(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  const char *key = lua_tostring(L, 2);
  if (key == NULL) return 1;
  lua_settop(L, 2);
  if (strcmp(key, "grad_input") == 0) push_grad_input(L, c);
  else if (strcmp(key, "output") == 0 || strcmp(key, "loss") == 0) lua_pushnumber(L, c->loss);
  else if (strcmp(key, "reduction") == 0)
    lua_pushstring(L, c->reduction == NN_SUM ? "sum" : "mean");
  else if (strcmp(key, "name") == 0) lua_pushstring(L, c->type->name);
  else lua_pushnil(L);
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
  {"softmax_backward", c_softmax_backward},
  {"forward", c_forward}, {"backward", c_backward},
  {NULL, NULL}
};

static const luaL_Reg constructors[] = {
  {"MSELoss", l_mse}, {"L1Loss", l_l1},
  {"CrossEntropyLoss", l_cross_entropy}, {"NLLLoss", l_nll},
  {"BCELoss", l_bce}, {"BCEWithLogitsLoss", l_bce_logits},
  {"CategoricalCrossentropy", l_categorical_crossentropy},
  {NULL, NULL}
};

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
  luaL_setfuncs(L, constructors, 0);
}
