/*
** l_metrics.c -- the counting of nn/metrics.c, for lua/nn/metrics.lua:
**
**   nn.metric_class_hits(pred, target)              -> integer
**   nn.metric_binary_hits(pred, target, threshold)  -> integer
**   nn.metric_within_hits(pred, target, tolerance)  -> integer
**   nn.metric_confusion(cm, pred, target)           -> cm (counts added)
**
** Shapes and meanings are in nn/nn.h; errors name pred (#1) or the matrix.
** A target of class indices may be int32: it is read through a float32
** copy (nn_check_target), exact for classes up to 2^24.
*/
#include "bindings.h"
#include "nn.h"

static int push_hits (lua_State *L, int rc, int64_t hits) {
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  lua_pushinteger(L, (lua_Integer)hits);
  return 1;
}

static int l_class_hits (lua_State *L) {
  nn_tensor *pred = checktensor(L, 1), *target = nn_check_target(L, 2);
  int64_t hits;
  int rc = metric_class_hits(&hits, pred, target);
  return push_hits(L, rc, hits);
}

static int l_binary_hits (lua_State *L) {
  nn_tensor *pred = checktensor(L, 1), *target = nn_check_target(L, 2);
  float threshold = (float)luaL_optnumber(L, 3, 0.5);
  int64_t hits;
  int rc = metric_binary_hits(&hits, pred, target, threshold);
  return push_hits(L, rc, hits);
}

static int l_within_hits (lua_State *L) {
  nn_tensor *pred = checktensor(L, 1), *target = nn_check_target(L, 2);
  float tolerance = (float)luaL_checknumber(L, 3);
  luaL_argcheck(L, tolerance >= 0, 3, "tolerance must be >= 0");
  int64_t hits;
  int rc = metric_within_hits(&hits, pred, target, tolerance);
  return push_hits(L, rc, hits);
}

static int l_confusion (lua_State *L) {
  nn_tensor *cm = checktensor(L, 1), *pred = checktensor(L, 2);
  nn_tensor *target = nn_check_target(L, 3);
  int rc = metric_confusion(cm, pred, target);
  if (rc != NN_OK) return nn_raise(L, 2, rc);
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {
  {"metric_class_hits", l_class_hits},
  {"metric_binary_hits", l_binary_hits},
  {"metric_within_hits", l_within_hits},
  {"metric_confusion", l_confusion},
  {NULL, NULL}
};

void nn_open_metrics (lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
}
