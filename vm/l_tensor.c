/*
** l_tensor.c -- the nn.Tensor userdata: constructors, shape, math, printing.
**
** Glue only: every function checks its arguments, calls the tensor library,
** and turns a failure into a Lua error that names the argument.  The
** numbers are computed in tensor/.  Indices and dims are 1-based here, as in
** Torch7 and in Lua itself; a negative dim counts from the end (-1: last).
** Out-of-place ops return a new tensor; the `_` form (add_, exp_) writes into
** self and returns self, as PyTorch does.
*/
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>

#include "bindings.h"

/* --- boxes, checks and errors ------------------------------------------------ */

nn_tensor *totensor (lua_State *L, int arg) {
  TensorBox *box = (TensorBox *)luaL_testudata(L, arg, TENSOR_MT);
  return box ? box->t : NULL;
}

const char *tensor_typename (lua_State *L, int arg) {
  return luaL_testudata(L, arg, TENSOR_MT) ? "freed tensor" : luaL_typename(L, arg);
}

void nn_check_self (lua_State *L, int arg, const char *tname, const char *var) {
  lua_Debug ar;
  if (arg != 1 || luaL_testudata(L, 1, tname) != NULL || !lua_getstack(L, 0, &ar)) return;
  const char *got = lua_isnone(L, 1) ? "no value"
                    : luaL_testudata(L, 1, TENSOR_MT) ? TENSOR_MT : luaL_typename(L, 1);
  int top = lua_gettop(L);
  lua_getinfo(L, "nf", &ar);                 /* pushes the running function */
  int dot = ar.name != NULL && ar.namewhat != NULL && strcmp(ar.namewhat, "method") != 0;
  if (dot && luaL_getmetatable(L, tname) == LUA_TTABLE
      && lua_getfield(L, -1, "methods") == LUA_TTABLE
      && lua_getfield(L, -1, ar.name) == LUA_TFUNCTION && lua_rawequal(L, -1, -4))
    luaL_argerror(L, 1, lua_pushfstring(L, "%s expected, got %s; a method takes a colon: "
                                        "%s:%s(...)", tname, got, var,
                                        ar.name));
  lua_settop(L, top);                        /* the function and what was looked up */
}

void *nn_checkudata (lua_State *L, int arg, const char *tname, const char *var) {
  void *box = luaL_testudata(L, arg, tname);
  if (box != NULL) return box;
  if (arg == 1) nn_check_self(L, 1, tname, var);
  return luaL_checkudata(L, arg, tname);      /* raises Lua's own message */
}

nn_tensor *checktensor_any (lua_State *L, int arg) {
  TensorBox *box = (TensorBox *)nn_checkudata(L, arg, TENSOR_MT, "t");
  luaL_argcheck(L, box->t != NULL, arg, "tensor already freed");
  return box->t;
}

nn_tensor *checktensor (lua_State *L, int arg) {
  nn_tensor *t = checktensor_any(L, arg);
  if (t->dtype != NN_F32)
    luaL_argerror(L, arg, lua_pushfstring(L, "float32 tensor expected, got %s tensor %s: "
                                          "convert with :float()", dtype_name(t->dtype),
                                          shape_str(t).s));
  return t;
}

/* One user value: the autograd node of a recorded tensor (lua/nn/autograd.lua
** keeps it there, not in a weak table: the collector traverses a weak-keyed
** table of every recorded tensor again and again, 30% of a small op's cost). */
TensorBox *newbox (lua_State *L) {
  TensorBox *box = (TensorBox *)lua_newuserdatauv(L, sizeof(TensorBox), 1);
  box->t = NULL;
  luaL_setmetatable(L, TENSOR_MT);
  nn_gc_account(L, NN_GC_TENSOR_BYTES);   /* the C struct(s) behind it (see nn_gc_account) */
  return box;
}

void pushtensor (lua_State *L, nn_tensor *t) {
  newbox(L)->t = t;
}

int nn_raise (lua_State *L, int arg, int rc) {
  if (arg > 0 && (rc == NN_ESHAPE || rc == NN_EARG || rc == NN_EDEVICE))
    return luaL_argerror(L, arg, nn_errmsg());
  return luaL_error(L, "%s", nn_errmsg());
}

int nn_raise_by_role (lua_State *L, int rc, int dflt, ...) {
  int role = nn_errrole(), arg = dflt;
  va_list ap;
  va_start(ap, dflt);
  for (int r = va_arg(ap, int); r != -1; r = va_arg(ap, int)) {
    int a = va_arg(ap, int);
    if (role != NN_ROLE_NONE && r == role) { arg = a; break; }
  }
  va_end(ap);
  return nn_raise(L, arg, rc);
}

/* Tell the collector about the C bytes a new Lua value holds.  Lua sees only
** the 8-byte box, so a loop that drops tensors would otherwise pile up
** garbage (the old Torch7 trap): large tensors megabytes per collection,
** and small ones (a 4x4 tensor is ~300 bytes of C: its struct, its
** storage, 64 bytes of floats) so many boxes awaiting their __gc that the
** collector, which runs a few finalizers per step, falls behind: 10 million
** zeros(4, 4) grew to gigabytes.  So every byte counts: the bytes are
** summed here, and every 4 MiB of them advances the incremental collector
** as if that much Lua memory had been allocated.
** Why 4 MiB and not every KB: a step of n KB runs the collector until it
** has done n KB of work or ended its cycle, and Lua's own heap (about 1 MB)
** is a whole cycle's work.  Stepped by every KB, a loop that makes 8 MB of
** tensors a step (an MLP trained through the autograd engine: each op's
** output and gradient is a new tensor) ran some eight full cycles a step,
** 8% of its time in the collector (perf).  Once per 4 MiB it runs at most
** one cycle per 4 MiB made; the garbage that can wait for it is 4 MiB of
** tensors, well inside the 20 MB that spec/gc_spec.lua allows. */
#define NN_GC_STEP_BYTES ((size_t)4 << 20)
static size_t gc_pending;            /* bytes not yet reported: below 4 MiB */
void nn_gc_account (lua_State *L, size_t bytes) {
  gc_pending += bytes;
  if (gc_pending < NN_GC_STEP_BYTES) return;
  size_t kb = gc_pending >> 10;
  gc_pending &= 1023;
  lua_gc(L, LUA_GCSTEP, kb > INT32_MAX ? INT32_MAX : (int)kb);
}

/* The bytes of a tensor freed before its box is collected (see
** t_autograd_release) are no longer garbage the collector must be paced
** for: taken off what is not yet reported (what was reported is spent). */
static void nn_gc_forgive (size_t bytes) {
  gc_pending = bytes < gc_pending ? gc_pending - bytes : 0;
}

static void gc_account (lua_State *L, const nn_tensor *t) {
  nn_gc_account(L, (size_t)t->numel * sizeof(float));   /* 4 bytes for either dtype */
}

nn_tensor *nn_push_new (lua_State *L, nn_device dev, int ndim, const int64_t *shape) {
  TensorBox *box = newbox(L);
  int rc = tensor_new(&box->t, dev, ndim, shape);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  gc_account(L, box->t);
  return box->t;
}

static nn_tensor *push_like (lua_State *L, const nn_tensor *like) {
  return nn_push_new(L, like->storage->device, like->ndim, like->shape);
}

/* Raise at arg when the sizes (each already 0 .. 2^40; -1 skipped: a view
** infers it) multiply to more than 2^40 elements. */
static void check_numel (lua_State *L, int arg, int ndim, const int64_t *shape) {
  int64_t known[NN_MAXDIM], numel;
  int n = 0;
  for (int i = 0; i < ndim; i++) if (shape[i] >= 0) known[n++] = shape[i];
  if (nn_shape_numel(&numel, n, known) != NN_OK) luaL_argerror(L, arg, nn_errmsg());
}

/* A shape from the arguments first..last: either integers, or one table of
** integers at `first`.  Raises naming the bad argument: a size that is not
** an integer (inf, nan, 2.5), below lo, or above 2^40; and, without -1 in
** it, sizes whose product is above 2^40 (nn_shape_numel, tensor.h). */
static int read_shape (lua_State *L, int first, int last, int64_t *shape, int allow_infer) {
  int ndim = 0;
  const lua_Integer lo = allow_infer ? -1 : 0;
  if (lua_istable(L, first)) {
    ndim = (int)luaL_len(L, first);
    luaL_argcheck(L, ndim <= NN_MAXDIM, first, "a tensor has at most 5 dims");
    for (int i = 0; i < ndim; i++) {
      lua_geti(L, first, i + 1);
      int isint;
      lua_Integer v = lua_tointegerx(L, -1, &isint);
      if (!isint || v < lo)
        luaL_argerror(L, first, lua_pushfstring(L, "size %d must be an integer >= %d, got %s",
                                                i + 1, (int)lo, luaL_tolstring(L, -1, NULL)));
      if (v > NN_MAX_NUMEL)
        luaL_argerror(L, first, lua_pushfstring(L, "size %d is %I, above the limit of 2^40 "
                                                "elements", i + 1, (lua_Integer)v));
      shape[i] = v;
      lua_pop(L, 1);
    }
    check_numel(L, first, ndim, shape);
    return ndim;
  }
  luaL_argcheck(L, last - first + 1 <= NN_MAXDIM, first, "a tensor has at most 5 dims");
  for (int a = first; a <= last; a++) {
    lua_Integer v = luaL_checkinteger(L, a);
    luaL_argcheck(L, v >= lo, a, allow_infer ? "size must be >= 0 or -1" : "size must be >= 0");
    if (v > NN_MAX_NUMEL)
      luaL_argerror(L, a, lua_pushfstring(L, "size %I is above the limit of 2^40 elements",
                                          (lua_Integer)v));
    shape[ndim++] = v;
  }
  check_numel(L, first, ndim, shape);
  return ndim;
}

/* A dim argument: 1..ndim or -ndim..-1, returned 0-based. */
static int check_dim (lua_State *L, int arg, const nn_tensor *t) {
  lua_Integer d = luaL_checkinteger(L, arg);
  if (d < 0) d += t->ndim + 1;
  if (d < 1 || d > t->ndim)
    luaL_argerror(L, arg, lua_pushfstring(L, "dim %I is out of range for %s (it has %d dims)",
                                          (lua_Integer)luaL_checkinteger(L, arg), shape_str(t).s,
                                          t->ndim));
  return (int)d - 1;
}

/* --- constructors -------------------------------------------------------------- */

/* The constructors below make their tensor on the default device
** (nn.set_default_device; the CPU unless changed), as PyTorch's factories. */

/* The options table {dtype = 'float32' | 'int32'} at arg (nil: float32);
** unknown keys and dtypes raise, naming arg. */
static nn_dtype opt_dtype (lua_State *L, int arg) {
  static const char *const keys[] = { "dtype", NULL };
  if (lua_isnoneornil(L, arg)) return NN_F32;
  nn_check_keys(L, arg, "tensor options", keys);
  lua_getfield(L, arg, "dtype");
  const char *name = lua_tostring(L, -1);
  nn_dtype dt = NN_F32;
  if (lua_isnil(L, -1) || (name != NULL && strcmp(name, "float32") == 0)) dt = NN_F32;
  else if (name != NULL && strcmp(name, "int32") == 0) dt = NN_I32;
  else luaL_argerror(L, arg, lua_pushfstring(L, "dtype must be 'float32' or 'int32', got %s",
                                             name ? name : luaL_typename(L, -1)));
  lua_pop(L, 1);
  return dt;
}

/* The arguments of a factory: sizes at 1..n, and an options table after
** them (only after at least one size: a lone table is the shape). */
static int factory_args (lua_State *L, nn_dtype *dt) {
  int n = lua_gettop(L);
  *dt = NN_F32;
  if (n >= 2 && lua_type(L, n) == LUA_TTABLE) { *dt = opt_dtype(L, n); n--; }
  return n;
}

/* nn.tensor.zeros(3, 4) or zeros{3, 4}, and zeros(3, 4, {dtype = 'int32'});
** ones likewise; rand, randn (float32 only) likewise. */
static int new_filled (lua_State *L, int kind) {
  int64_t shape[NN_MAXDIM];
  nn_dtype dt;
  int n = factory_args(L, &dt);
  if (dt != NN_F32 && kind >= 2)
    luaL_argerror(L, n + 1, "random numbers are float32: draw them, then convert with :int()");
  int ndim = read_shape(L, 1, n, shape, 0);
  nn_tensor *t = nn_push_new(L, tensor_default_device(), ndim, shape);
  t->dtype = dt;     /* a fresh tensor: its 4-byte elements are not written yet */
  int rc = kind == 0 ? tensor_fill(t, 0.0f)
         : kind == 1 ? tensor_fill(t, 1.0f)
         : kind == 2 ? tensor_uniform(t, 0.0f, 1.0f)
         : tensor_normal(t, 0.0f, 1.0f);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  return 1;
}
static int t_zeros (lua_State *L) { return new_filled(L, 0); }
static int t_ones (lua_State *L) { return new_filled(L, 1); }
static int t_rand (lua_State *L) { return new_filled(L, 2); }
static int t_randn (lua_State *L) { return new_filled(L, 3); }

/* nn.tensor.full(3, 4, value [, {dtype = 'int32'}]) or full({3, 4}, value):
** an int32 value must be a whole number in int32's range. */
static int t_full (lua_State *L) {
  nn_dtype dt;
  int n = factory_args(L, &dt);
  double value = luaL_checknumber(L, n);
  int64_t shape[NN_MAXDIM];
  int ndim = n > 1 ? read_shape(L, 1, n - 1, shape, 0) : 0;
  nn_tensor *t = nn_push_new(L, tensor_default_device(), ndim, shape);
  t->dtype = dt;
  int rc = tensor_fill(t, value);
  if (rc != NN_OK) nn_raise(L, n, rc);
  return 1;
}

/* nn.tensor.arange([start,] stop [, step]): start, start+step, ... < stop,
** half-open as in PyTorch and numpy.  start, stop and step must be finite,
** step non-zero, and the count at most 2^40. */
static int t_arange (lua_State *L) {
  double start = 0.0, stop, step = 1.0;
  int one = lua_gettop(L) == 1, stop_arg = one ? 1 : 2;
  if (one) stop = luaL_checknumber(L, 1);
  else {
    start = luaL_checknumber(L, 1);
    stop = luaL_checknumber(L, 2);
    step = luaL_optnumber(L, 3, 1.0);
  }
  luaL_argcheck(L, isfinite(start), 1, "start must be finite");
  luaL_argcheck(L, isfinite(stop), stop_arg, "stop must be finite");
  luaL_argcheck(L, step != 0.0 && isfinite(step), 3, "step must be finite and non-zero");
  double count = ceil((stop - start) / step);   /* inf when stop - start overflows */
  int64_t n = 0;
  if (!(count <= 0) && nn_double_to_int(&n, count, 0, NN_MAX_NUMEL, "arange: the count") != NN_OK)
    luaL_argerror(L, stop_arg, nn_errmsg());
  nn_tensor *t = nn_push_new(L, tensor_default_device(), 1, &n);
  int rc = tensor_arange(t, start, step);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  return 1;
}

/* The shape of a nested table: follow first elements down to a number. */
static int nested_shape (lua_State *L, int idx, int64_t *shape) {
  int ndim = 0;
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (ndim == NN_MAXDIM) luaL_argerror(L, 1, "nested deeper than 5 dims");
    shape[ndim++] = (int64_t)luaL_len(L, -1);
    lua_geti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  return ndim;
}

/* "[2][1]": where in the nested table we are, for error messages. */
static const char *where (lua_State *L, const int64_t *pos, int depth) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < depth; i++) {
    lua_pushfstring(L, "[%d]", (int)pos[i]);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* Copy the table at the top of the stack, at depth d, into dst: floats, or
** int32 (each a whole number in range) when dt is NN_I32. */
static void flatten (lua_State *L, float **dst, const int64_t *shape, int ndim, int d, int64_t *pos,
                     nn_dtype dt) {
  int64_t n = (int64_t)luaL_len(L, -1);
  if (n != shape[d])
    luaL_argerror(L, 1, lua_pushfstring(L, "ragged nested table: t%s has %d elements, expected %d",
                                        where(L, pos, d), (int)n, (int)shape[d]));
  for (int64_t i = 1; i <= n; i++) {
    pos[d] = i;
    int type = lua_geti(L, -1, i);
    if (d + 1 < ndim) {
      if (type != LUA_TTABLE)
        luaL_argerror(L, 1, lua_pushfstring(L, "t%s is a %s, expected a table",
                                            where(L, pos, d + 1), luaL_typename(L, -1)));
      flatten(L, dst, shape, ndim, d + 1, pos, dt);
    }
    else {
      if (type != LUA_TNUMBER)
        luaL_argerror(L, 1, lua_pushfstring(L, "t%s is a %s, expected a number",
                                            where(L, pos, d + 1), luaL_typename(L, -1)));
      if (dt == NN_I32) {
        lua_Integer k;
        if (!lua_isinteger(L, -1)) {   /* 3.0 is 3; 2.5, nan, inf are refused */
          double v = lua_tonumber(L, -1);
          if (!(v >= -0x1p31 && v < 0x1p31) || v != floor(v))
            luaL_argerror(L, 1, lua_pushfstring(L, "t%s is %f, not a whole number in int32's "
                                                "range", where(L, pos, d + 1), v));
          k = (lua_Integer)v;
        }
        else k = lua_tointeger(L, -1);
        if (k < INT32_MIN || k > INT32_MAX)
          luaL_argerror(L, 1, lua_pushfstring(L, "t%s is %I, outside int32 (-2147483648 .. "
                                              "2147483647)", where(L, pos, d + 1), k));
        int32_t v32 = (int32_t)k;
        memcpy((*dst)++, &v32, sizeof v32);
      }
      else *(*dst)++ = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
  }
}

/* nn.tensor{{1, 2}, {3, 4}}: a tensor from a nested table (Torch7's name);
** nn.tensor({1, 2}, {dtype = 'int32'}) makes int32 elements exactly (every
** one a whole number in int32's range), where a float32 tensor would round
** integers above 2^24. */
static int t_from_table (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  nn_dtype dt = opt_dtype(L, 2);
  lua_settop(L, 1);
  int64_t shape[NN_MAXDIM];
  int ndim = nested_shape(L, 1, shape);
  /* build into a plain host buffer owned by a new CPU tensor */
  nn_tensor *t = nn_push_new(L, NN_CPU, ndim, shape);
  t->dtype = dt;
  float *p = tensor_data(t);
  int64_t pos[NN_MAXDIM];
  lua_pushvalue(L, 1);
  if (ndim > 0) flatten(L, &p, shape, ndim, 0, pos, dt);
  lua_pop(L, 1);
  int rc = tensor_move(t, tensor_default_device());   /* then to the default device */
  if (rc != NN_OK) nn_raise(L, 0, rc);
  return 1;
}

/* nn.tensor{...}: the __call of the nn.tensor table (arg 1 is that table). */
static int t_call (lua_State *L) {
  lua_remove(L, 1);
  return t_from_table(L);
}

/* An element's value as Lua sees it: an integer for an int32 tensor. */
static void push_element (lua_State *L, const nn_tensor *t, double v) {
  if (t->dtype == NN_I32) lua_pushinteger(L, (lua_Integer)v);
  else lua_pushnumber(L, v);
}

/* element i of a host block of dtype dt, pushed */
static void push_host (lua_State *L, const float *x, int64_t i, nn_dtype dt) {
  if (dt == NN_I32) lua_pushinteger(L, ((const int32_t *)(const void *)x)[i]);
  else lua_pushnumber(L, x[i]);
}

static void push_nested (lua_State *L, const float *x, const int64_t *shape, int ndim,
                         nn_dtype dt) {
  lua_createtable(L, (int)shape[0], 0);
  int64_t row = 1;
  for (int i = 1; i < ndim; i++) row *= shape[i];
  for (int64_t i = 0; i < shape[0]; i++) {
    if (ndim == 1) push_host(L, x, i, dt);
    else push_nested(L, x + i * row, shape + 1, ndim - 1, dt);
    lua_rawseti(L, -2, i + 1);
  }
}

/* t:totable() -> nested tables (a number for a 0-dim tensor). */
static int t_totable (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  nn_tensor *host = t;
  if (t->storage->device != NN_CPU) {
    int rc = tensor_to(&host, t, NN_CPU);
    if (rc != NN_OK) nn_raise(L, 0, rc);
    pushtensor(L, host);   /* so the GC frees it even if a push below raises */
  }
  if (host->ndim == 0) push_host(L, tensor_data(host), 0, host->dtype);
  else push_nested(L, tensor_data(host), host->shape, host->ndim, host->dtype);
  return 1;
}

/* --- shape --------------------------------------------------------------------- */

static void push_shape (lua_State *L, const nn_tensor *t) {
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) {
    lua_pushinteger(L, t->shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

/* t:size() -> {3, 4};  t:size(d) -> the size of dim d */
static int t_size (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  if (lua_isnoneornil(L, 2)) push_shape(L, t);
  else lua_pushinteger(L, t->shape[check_dim(L, 2, t)]);
  return 1;
}

static int t_dim (lua_State *L) { lua_pushinteger(L, checktensor_any(L, 1)->ndim); return 1; }
static int t_numel (lua_State *L) { lua_pushinteger(L, checktensor_any(L, 1)->numel); return 1; }

/* #t: the size of the first dim, as len() in PyTorch (1 for a 0-dim tensor). */
static int t_len (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
  return 1;
}

/* t:view(2, 6) or t:view{2, 6}: the same storage with another shape. */
static int t_view (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int64_t shape[NN_MAXDIM];
  int ndim = read_shape(L, 2, lua_gettop(L), shape, 1);
  TensorBox *box = newbox(L);
  int rc = tensor_view(&box->t, t, ndim, shape);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  return 1;
}

/* t:narrow(d, start, length) -> indices start .. start+length-1 of dim d
** (negative d from the end), as torch.narrow: a view for d = 1, a copy
** (tensor_narrow_dim) for any other dim, since there are no strides.
** Errors: d out of range, start < 1, length < 0, a range past the end. */
static int t_narrow (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "cannot narrow a 0-dim tensor");
  int d = check_dim(L, 2, t);
  lua_Integer start = luaL_checkinteger(L, 3);
  lua_Integer length = luaL_checkinteger(L, 4);
  if (start < 1)                                 /* so start - 1 cannot wrap */
    luaL_argerror(L, 3, lua_pushfstring(L, "start must be >= 1, got %I (dim %d of %s)",
                                        (lua_Integer)start, d + 1, shape_str(t).s));
  if (length < 0)
    luaL_argerror(L, 4, lua_pushfstring(L, "length must be >= 0, got %I (dim %d of %s)",
                                        (lua_Integer)length, d + 1, shape_str(t).s));
  TensorBox *box = newbox(L);
  int rc = d == 0 ? tensor_narrow(&box->t, t, start - 1, length)
                  : tensor_narrow_dim(&box->t, t, d, start - 1, length);
  if (rc != NN_OK) nn_raise(L, 3, rc);
  if (d != 0) gc_account(L, box->t);     /* a copy: its bytes, as clone's */
  return 1;
}

/* t:slice(i [, j]): rows i..j inclusive as a view, read as string.sub reads
** its bounds: negatives count from the end, and the range is clipped to the
** rows there are, so x:slice(k, k + batch_size - 1) gives the short last
** batch, and an empty range gives 0 rows. */
/* The rows slice(i, j) takes of `rows`: its first, 1-based (1 when none),
** and how many.  One rule for t_slice and the autograd's record of it. */
static void slice_range (int64_t rows, lua_Integer i, lua_Integer j, int64_t *first,
                         int64_t *length) {
  if (i < 0) i = i < -rows ? 1 : i + rows + 1;
  else if (i == 0) i = 1;
  if (j < 0) j += rows + 1;
  else if (j > rows) j = rows;
  *length = j >= i ? j - i + 1 : 0;
  *first = *length == 0 ? 1 : i;
}

static int t_slice (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  luaL_argcheck(L, t->ndim >= 1, 1, "cannot slice a 0-dim tensor");
  int64_t first, length;
  slice_range(t->shape[0], luaL_checkinteger(L, 2), luaL_optinteger(L, 3, -1), &first, &length);
  TensorBox *box = newbox(L);
  int rc = tensor_narrow(&box->t, t, first - 1, length);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  return 1;
}

/* nn.core._slice_range(rows, i [, j]) -> first, length: the rows t:slice(i,
** j) takes of a tensor of `rows` rows (the autograd records slice as the
** narrow it is; autograd.lua takes the function off nn at load).  rows is
** a tensor's size: 0 <= rows, so -rows and j + rows + 1 cannot overflow. */
static int t_slice_range (lua_State *L) {
  lua_Integer rows = luaL_checkinteger(L, 1);
  luaL_argcheck(L, rows >= 0 && rows <= (lua_Integer)INT64_MAX / 2, 1, "rows must be a size");
  int64_t first, length;
  slice_range(rows, luaL_checkinteger(L, 2), luaL_optinteger(L, 3, -1), &first, &length);
  lua_pushinteger(L, first);
  lua_pushinteger(L, length);
  return 2;
}

static int t_clone (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  TensorBox *box = newbox(L);
  int rc = tensor_to(&box->t, t, t->storage->device);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  gc_account(L, box->t);
  return 1;
}

/* dst:copy(src) -> dst; same number of elements, any shapes and devices. */
static int t_copy (lua_State *L) {
  nn_tensor *dst = checktensor_any(L, 1);
  nn_tensor *src = checktensor_any(L, 2);
  int rc = tensor_copy(dst, src);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  lua_settop(L, 1);
  return 1;
}

/* t:to('cuda' | 'cpu'): t itself when it is there already, else a copy. */
static int to_device (lua_State *L, nn_device dev) {
  nn_tensor *t = checktensor_any(L, 1);
  if (t->storage->device == dev) { lua_settop(L, 1); return 1; }
  TensorBox *box = newbox(L);
  int rc = tensor_to(&box->t, t, dev);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  gc_account(L, box->t);
  return 1;
}

/* t:int() (also t:long(), for PyTorch's spelling: nnlua's integers are
** int32) and t:float(): t itself when it has that dtype already, else a
** converted copy on t's device.  To int32 truncates toward zero; a nan, an
** inf or a value outside int32's range raises (tensor_copy). */
static int to_dtype (lua_State *L, nn_dtype dt) {
  nn_tensor *t = checktensor_any(L, 1);
  if (t->dtype == dt) { lua_settop(L, 1); return 1; }
  TensorBox *box = newbox(L);
  int rc = tensor_new_dtype(&box->t, t->storage->device, dt, t->ndim, t->shape);
  if (rc == NN_OK) gc_account(L, box->t);
  if (rc == NN_OK) rc = tensor_copy(box->t, t);
  if (rc != NN_OK) nn_raise(L, 1, rc);
  return 1;
}

static int t_int (lua_State *L) { return to_dtype(L, NN_I32); }
static int t_float (lua_State *L) { return to_dtype(L, NN_F32); }

nn_device nn_checkdevice (lua_State *L, int arg) {
  static const char *const names[] = { "cpu", "cuda", NULL };
  return luaL_checkoption(L, arg, NULL, names) == 1 ? NN_CUDA : NN_CPU;
}

static int t_to (lua_State *L) { checktensor_any(L, 1); return to_device(L, nn_checkdevice(L, 2)); }
static int t_cuda (lua_State *L) { return to_device(L, NN_CUDA); }
static int t_cpu (lua_State *L) { return to_device(L, NN_CPU); }

/* Flat 0-based index from the 1-based indices at args first.. (one per dim). */
static int64_t flat_index (lua_State *L, const nn_tensor *t, int first, int count) {
  if (count != t->ndim)
    luaL_argerror(L, first, lua_pushfstring(L, "%s needs %d indices (one per dim), got %d",
                                            shape_str(t).s, t->ndim, count));
  int64_t flat = 0;
  for (int d = 0; d < t->ndim; d++) {
    lua_Integer i = luaL_checkinteger(L, first + d);
    if (i < 1 || i > t->shape[d])
      luaL_argerror(L, first + d, lua_pushfstring(L, "index %I is outside 1..%I (dim %d of %s)",
                                                  (lua_Integer)i, (lua_Integer)t->shape[d], d + 1,
                                                  shape_str(t).s));
    flat = flat * t->shape[d] + (i - 1);
  }
  return flat;
}

/* t:get(i, j, ...) -> the element; for debugging, not for loops. */
static int t_get (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  double v;
  int rc = tensor_get_number(&v, t, flat_index(L, t, 2, lua_gettop(L) - 1));
  if (rc != NN_OK) nn_raise(L, 2, rc);
  push_element(L, t, v);
  return 1;
}

/* t:set(i, j, ..., value) -> t */
static int t_set (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int top = lua_gettop(L);
  double v = luaL_checknumber(L, top);
  int rc = tensor_set_number(t, flat_index(L, t, 2, top - 2), v);
  if (rc != NN_OK) nn_raise(L, top, rc);
  lua_settop(L, 1);
  return 1;
}

/* t:data_ptr() -> the address of the first element, as an integer (PyTorch's
** name): two tensors with one data_ptr share memory, and a layer's buffer
** that keeps its data_ptr across steps was not reallocated. */
static int t_data_ptr (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  lua_pushinteger(L, (lua_Integer)(intptr_t)tensor_data(t));
  return 1;
}

/* t:item() -> the value of a one-element tensor */
static int t_item (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  luaL_argcheck(L, t->numel == 1, 1, lua_pushfstring(L, "item() needs one element, %s has %I",
                                                     shape_str(t).s, (lua_Integer)t->numel));
  double v;
  int rc = tensor_get_number(&v, t, 0);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  push_element(L, t, v);
  return 1;
}

static int t_fill_ (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int rc = tensor_fill(t, luaL_checknumber(L, 2));
  if (rc != NN_OK) nn_raise(L, 2, rc);
  lua_settop(L, 1);
  return 1;
}

static int t_zero_ (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int rc = tensor_fill(t, 0.0f);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  lua_settop(L, 1);
  return 1;
}

/* --- element-wise math ------------------------------------------------------- */

/* a (op) x with x a tensor (the two broadcast) or a number; into a new
** tensor or into a (l_tensor_math.c). */
static int binary (lua_State *L, nn_binop op, int inplace) {
  return nn_tensor_binary(L, op, inplace);
}

static int t_add (lua_State *L) { return binary(L, NN_ADD, 0); }
static int t_sub (lua_State *L) { return binary(L, NN_SUB, 0); }
static int t_mul (lua_State *L) { return binary(L, NN_MUL, 0); }
static int t_div (lua_State *L) { return binary(L, NN_DIV, 0); }
static int t_add_ (lua_State *L) { return binary(L, NN_ADD, 1); }
static int t_sub_ (lua_State *L) { return binary(L, NN_SUB, 1); }
static int t_mul_ (lua_State *L) { return binary(L, NN_MUL, 1); }
static int t_div_ (lua_State *L) { return binary(L, NN_DIV, 1); }

/* The metamethods: a number may stand on either side (2 - t, 2 / t). */
static int arith (lua_State *L, nn_binop op, nn_binop rop) {
  if (totensor(L, 1) == NULL && lua_isnumber(L, 1) && luaL_testudata(L, 2, TENSOR_MT)) {
    nn_tensor *b = checktensor(L, 2);        /* a freed one: "tensor already freed" */
    nn_tensor *out = push_like(L, b);
    int rc = tensor_binary_scalar(out, b, (float)lua_tonumber(L, 1), rop);
    if (rc != NN_OK) nn_raise(L, 0, rc);
    return 1;
  }
  return binary(L, op, 0);
}

static int m_add (lua_State *L) { return arith(L, NN_ADD, NN_ADD); }
static int m_sub (lua_State *L) { return arith(L, NN_SUB, NN_RSUB); }
static int m_mul (lua_State *L) { return arith(L, NN_MUL, NN_MUL); }
static int m_div (lua_State *L) { return arith(L, NN_DIV, NN_RDIV); }

/* f(a; p, q) into a new tensor or into a; p and q from args 2 and 3 when the
** op takes them (clamp: lo, hi).  pow is l_tensor_math.c's (it broadcasts). */
static int unary (lua_State *L, nn_unop op, int inplace) {
  nn_tensor *a = checktensor(L, 1);
  float p = 0.0f, q = 0.0f;
  if (op == NN_CLAMP) {
    p = (float)luaL_optnumber(L, 2, -HUGE_VAL);
    q = (float)luaL_optnumber(L, 3, HUGE_VAL);
    luaL_argcheck(L, p <= q, 2, "clamp needs lo <= hi");
  }
  nn_tensor *out = inplace ? a : push_like(L, a);
  int rc = tensor_unary(out, a, op, p, q);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  if (inplace) lua_settop(L, 1);
  return 1;
}

static int t_neg (lua_State *L) { return unary(L, NN_NEG, 0); }
static int t_exp (lua_State *L) { return unary(L, NN_EXP, 0); }
static int t_log (lua_State *L) { return unary(L, NN_LOG, 0); }
static int t_sqrt (lua_State *L) { return unary(L, NN_SQRT, 0); }
static int t_abs (lua_State *L) { return unary(L, NN_ABS, 0); }
static int t_relu (lua_State *L) { return unary(L, NN_RELU, 0); }
static int t_sigmoid (lua_State *L) { return unary(L, NN_SIGMOID, 0); }
static int t_tanh (lua_State *L) { return unary(L, NN_TANH, 0); }
static int t_clamp (lua_State *L) { return unary(L, NN_CLAMP, 0); }
static int t_neg_ (lua_State *L) { return unary(L, NN_NEG, 1); }
static int t_exp_ (lua_State *L) { return unary(L, NN_EXP, 1); }
static int t_log_ (lua_State *L) { return unary(L, NN_LOG, 1); }
static int t_sqrt_ (lua_State *L) { return unary(L, NN_SQRT, 1); }
static int t_abs_ (lua_State *L) { return unary(L, NN_ABS, 1); }
static int t_relu_ (lua_State *L) { return unary(L, NN_RELU, 1); }
static int t_sigmoid_ (lua_State *L) { return unary(L, NN_SIGMOID, 1); }
static int t_tanh_ (lua_State *L) { return unary(L, NN_TANH, 1); }
static int t_clamp_ (lua_State *L) { return unary(L, NN_CLAMP, 1); }

/* -t: the __unm metamethod (Lua passes t twice; the copy is ignored). */
static int m_unm (lua_State *L) { lua_settop(L, 1); return unary(L, NN_NEG, 0); }

/* --- reductions ---------------------------------------------------------------- */

/* A new tensor with t's shape less dim d (kept as size 1 with keepdim), of
** dtype dt: float32 for values, int32 for indices. */
static nn_tensor *push_reduced (lua_State *L, const nn_tensor *t, int d, int keepdim,
                                nn_dtype dt) {
  int64_t shape[NN_MAXDIM];
  int n = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (i != d) shape[n++] = t->shape[i];
    else if (keepdim) shape[n++] = 1;
  }
  TensorBox *box = newbox(L);
  int rc = tensor_new_dtype(&box->t, t->storage->device, dt, n, shape);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  gc_account(L, box->t);
  return box->t;
}

/* t reduced along d into a new tensor on the stack; ARGMAX and ARGMIN give
** int32 indices, made 1-based here (an int32 add: no float on the way). */
static nn_tensor *reduce_dim (lua_State *L, nn_tensor *t, int d, int keepdim, nn_redop op) {
  int arg = op == NN_ARGMAX || op == NN_ARGMIN;
  nn_tensor *out = push_reduced(L, t, d, keepdim, arg ? NN_I32 : NN_F32);
  int rc = tensor_reduce_dim(out, t, d, op);
  if (rc == NN_OK && arg) rc = tensor_index_shift(out, 1);        /* 0-based -> 1-based */
  if (rc != NN_OK) nn_raise(L, 2, rc);
  return out;
}

/* t:sum() -> number;  t:sum(d [, keepdim]) -> tensor.  Likewise mean. */
static int reduce (lua_State *L, nn_redop op) {
  nn_tensor *t = checktensor(L, 1);
  if (lua_isnoneornil(L, 2)) {
    double r;
    int rc = tensor_reduce_all(&r, t, op);
    if (rc != NN_OK) nn_raise(L, 1, rc);
    lua_pushnumber(L, r);
    return 1;
  }
  int d = check_dim(L, 2, t);
  reduce_dim(L, t, d, lua_toboolean(L, 3), op);
  return 1;
}

/* t:max() -> number;  t:max(d [, keepdim]) -> values (float32), indices
** (int32, 1-based, as torch.max(t, d) but 1-based).  Along a dim longer
** than 2^31 - 1 elements this raises (bad argument, "... up to 2^31 - 1").
** nan is skipped unless a whole row is nan: then index 1. */
static int reduce_with_index (lua_State *L, nn_redop op, nn_redop argop) {
  nn_tensor *t = checktensor(L, 1);
  if (lua_isnoneornil(L, 2)) return reduce(L, op);
  int d = check_dim(L, 2, t);
  int keepdim = lua_toboolean(L, 3);
  reduce_dim(L, t, d, keepdim, op);
  reduce_dim(L, t, d, keepdim, argop);
  return 2;
}

/* t:argmax() -> 1-based flat index, a Lua integer, exact at any size;
** t:argmax(d [, keepdim]) -> int32 tensor of 1-based indices: a dim longer
** than 2^31 - 1 raises, as max's.  All nan: the first index, 1.  (Compare
** them with float labels after :float(), exact up to 2^24.) */
static int arg_reduce (lua_State *L, nn_redop argop) {
  nn_tensor *t = checktensor(L, 1);
  if (lua_isnoneornil(L, 2)) {
    double r;
    int rc = tensor_reduce_all(&r, t, argop);
    if (rc != NN_OK) nn_raise(L, 1, rc);
    lua_pushinteger(L, (lua_Integer)r + 1);
    return 1;
  }
  int d = check_dim(L, 2, t);
  reduce_dim(L, t, d, lua_toboolean(L, 3), argop);
  return 1;
}

static int t_sum (lua_State *L) { return reduce(L, NN_SUM); }
static int t_mean (lua_State *L) { return reduce(L, NN_MEAN); }
static int t_max (lua_State *L) { return reduce_with_index(L, NN_MAX, NN_ARGMAX); }
static int t_min (lua_State *L) { return reduce_with_index(L, NN_MIN, NN_ARGMIN); }
static int t_argmax (lua_State *L) { return arg_reduce(L, NN_ARGMAX); }
static int t_argmin (lua_State *L) { return arg_reduce(L, NN_ARGMIN); }

/* t:var(), t:std(): unbiased (divides by n - 1) as PyTorch's defaults; nan
** for a single element. */
static double unbiased_var (lua_State *L) {
  nn_tensor *t = checktensor(L, 1);
  double v;
  int rc = tensor_var_all(&v, t);
  if (rc != NN_OK) nn_raise(L, 1, rc);
  return t->numel > 1 ? v * (double)t->numel / (double)(t->numel - 1) : NAN;
}
static int t_var (lua_State *L) { lua_pushnumber(L, unbiased_var(L)); return 1; }
static int t_std (lua_State *L) { lua_pushnumber(L, sqrt(unbiased_var(L))); return 1; }

/* --- matrix multiply -------------------------------------------------------------- */

/* a:matmul(b [, trans_a [, trans_b]]) -> op(a) @ op(b), a new tensor, as
** torch.matmul: 2-D (M,K) @ (K,N) -> (M,N); batched (..., M, K) @
** (..., K, N) -> (..., M, N) with the batch dims broadcast (3 to 5 dims, or
** 2 on one side); 1-D as a row on the left, a column on the right, its dim
** dropped: (K) @ (K) -> 0-dim.  trans_a / trans_b transpose the last two
** dims (a flag, never a copy; not for a 1-D operand).  Errors (bad
** argument): inner dimensions differ, batch dims that do not broadcast,
** 0-dim or int32 tensors, tensors on different devices. */
int nn_tensor_matmul (lua_State *L) {
  nn_tensor *a = checktensor(L, 1);
  nn_tensor *b = checktensor(L, 2);
  int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
  int ndim;
  int64_t shape[NN_MAXDIM];
  int rc = tensor_matmul_shape(&ndim, shape, a, b, ta, tb);
  if (rc != NN_OK) return nn_raise_by_role(L, rc, 2, NN_ROLE_INPUT, 1, NN_ROLE_INPUT + 1, 2, -1);
  nn_tensor *out = nn_push_new(L, a->storage->device, ndim, shape);
  rc = tensor_matmul(out, a, b, ta, tb, 1.0f, 0.0f);
  if (rc != NN_OK) nn_raise(L, 2, rc);
  return 1;
}

/* out:mm(a, b [, trans_a [, trans_b]]) -> out = op(a) @ op(b), no allocation;
** out has the shape matmul would give (any of its cases). */
static int t_mm (lua_State *L) {
  nn_tensor *out = checktensor(L, 1);
  nn_tensor *a = checktensor(L, 2);
  nn_tensor *b = checktensor(L, 3);
  int rc = tensor_matmul(out, a, b, lua_toboolean(L, 4), lua_toboolean(L, 5), 1.0f, 0.0f);
  if (rc != NN_OK)
    return nn_raise_by_role(L, rc, 3, NN_ROLE_OUT, 1, NN_ROLE_INPUT, 2, NN_ROLE_INPUT + 1, 3, -1);
  lua_settop(L, 1);
  return 1;
}

/* --- metatable ----------------------------------------------------------------------- */

static int t_gc (lua_State *L) {
  TensorBox *box = (TensorBox *)luaL_checkudata(L, 1, TENSOR_MT);
  tensor_release(box->t);
  box->t = NULL;
  return 0;
}

/* A short default; lua/nn/repr.lua replaces it with the full printout. */
static int t_tostring (lua_State *L) {
  TensorBox *box = (TensorBox *)luaL_checkudata(L, 1, TENSOR_MT);
  if (box->t == NULL) lua_pushliteral(L, "nn.Tensor (freed)");
  else lua_pushfstring(L, "nn.Tensor%s %s", shape_str(box->t).s,
                       device_name(box->t->storage->device));
  return 1;
}

/* The integer key at idx as a 0-based index into a dim of n (negatives
** from the end), or -1 when the key is not a number (then t[key] is a
** method, a field or nil).  A number that is not an integer (2.5, nan,
** inf), or one out of range (math.maxinteger too), raises: "index 4 is
** out of range for [3x4] (dim 1 has 3: 1..3 or -3..-1)". */
static int64_t index_key (lua_State *L, const nn_tensor *t) {
  if (lua_type(L, 2) != LUA_TNUMBER) return -1;
  int isint;
  lua_Integer i = lua_tointegerx(L, 2, &isint);
  if (!isint)
    luaL_error(L, "tensor index must be an integer, got %s", luaL_tolstring(L, 2, NULL));
  if (t->ndim == 0) luaL_error(L, "cannot index a 0-dim tensor (use t:item())");
  lua_Integer n = t->shape[0], z = i < 0 ? i + n : i - 1;
  if (z < 0 || z >= n)
    luaL_error(L, "index %I is out of range for %s (dim 1 has %I: 1..%I or -%I..-1)", i,
               shape_str(t).s, n, n, n);
  return z;
}

/* Row z of t (0-based) as a view of t's shape without dim 1. */
static void push_row (lua_State *L, nn_tensor *t, int64_t z) {
  TensorBox *box = newbox(L);           /* first: it may raise, nothing is held yet */
  nn_tensor *row = NULL;
  int rc = tensor_narrow(&row, t, z, 1);
  if (rc == NN_OK) rc = tensor_view(&box->t, row, t->ndim - 1, t->shape + 1);
  tensor_release(row);
  if (rc != NN_OK) nn_raise(L, 0, rc);
}

/* t[i]: row i as a view (of t's shape without dim 1) when t has 2 dims or
** more, element i as a number when t is 1-D; negative i counts from the
** end (t[-1]: the last), so t[i][j] is element (i, j).  t.method, and the
** read-only fields t.shape, t.ndim, t.device, t.dtype.  Any other string
** key goes to the metatable's __getfield(t, key) when Lua has set one (the
** autograd fields t.grad, t.requires_grad, t.grad_fn, t.is_leaf live in
** lua/nn/autograd.lua); else nil.  Errors: i not an integer or out of
** range, t 0-dim. */
static int t_index (lua_State *L) {
  luaL_checkudata(L, 1, TENSOR_MT);
  lua_pushvalue(L, 2);
  /* a method is found even on a freed tensor, so that the method itself
     refuses it by its own name (t:sum(1): "calling 'sum' on bad self") */
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  nn_tensor *t = checktensor_any(L, 1);
  int64_t z = index_key(L, t);
  if (z >= 0) {
    if (t->ndim >= 2) { push_row(L, t, z); return 1; }
    double v;
    int rc = tensor_get_number(&v, t, z);
    if (rc != NN_OK) nn_raise(L, 0, rc);
    push_element(L, t, v);
    return 1;
  }
  if (lua_type(L, 2) != LUA_TSTRING) { lua_pushnil(L); return 1; }
  const char *key = lua_tostring(L, 2);
  if (strcmp(key, "shape") == 0) push_shape(L, t);
  else if (strcmp(key, "ndim") == 0) lua_pushinteger(L, t->ndim);
  else if (strcmp(key, "device") == 0) lua_pushstring(L, device_name(t->storage->device));
  else if (strcmp(key, "dtype") == 0) lua_pushstring(L, dtype_name(t->dtype));
  else if (luaL_getmetafield(L, 1, "__getfield") == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);                 /* a field kept in Lua: t.grad, t.requires_grad, */
    lua_pushvalue(L, 2);                 /* t.grad_fn, t.is_leaf (lua/nn/autograd.lua) */
    lua_call(L, 2, 1);
  }
  else lua_pushnil(L);
  return 1;
}

/* t[i] = v: writes row i (or element i of a 1-D t).  v is a number (every
** element of the row takes it), or a tensor of the row's numel (its shape,
** or any shape of as many elements) on t's device.  An int32 t takes whole
** numbers only: a number with a fraction, or a float32 tensor, is refused
** (convert with :int()); a float32 t takes either dtype.  t.name = v for a
** string name goes to the metatable's __setfield(t, name, v) when Lua has
** set one (t.grad = nil, t.requires_grad = true: lua/nn/autograd.lua),
** which returns false for a name it does not know.  Errors: as t[i],
** and a key that is not a number ("cannot assign to field 'x' of a
** tensor"), a value of another type, a tensor of the wrong size. */
static int t_newindex (lua_State *L) {
  nn_tensor *t = checktensor_any(L, 1);
  int64_t z = index_key(L, t);
  if (z < 0 && lua_type(L, 2) == LUA_TSTRING
      && luaL_getmetafield(L, 1, "__setfield") == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);                 /* t.grad = nil, t.requires_grad = true: the */
    lua_pushvalue(L, 2);                 /* fields kept in Lua (lua/nn/autograd.lua); */
    lua_pushvalue(L, 3);                 /* it returns false for a name it does not know */
    lua_call(L, 3, 1);
    if (lua_toboolean(L, -1)) return 0;
    lua_pop(L, 1);
  }
  if (z < 0)
    return luaL_error(L, "cannot assign to field '%s' of a tensor (only t[i] = v)",
                      luaL_tolstring(L, 2, NULL));
  nn_tensor *v = totensor(L, 3);
  if (v == NULL && !lua_isnumber(L, 3))
    return luaL_error(L, "t[%I] = v: v must be a number or a tensor, got %s",
                      lua_tointeger(L, 2), tensor_typename(L, 3));
  long long i = (long long)lua_tointeger(L, 2);   /* as the user wrote it, for messages */
  int rc;
  if (t->ndim == 1 && v == NULL) rc = tensor_set_number(t, z, lua_tonumber(L, 3));
  else {
    nn_tensor *row = NULL;
    rc = tensor_narrow(&row, t, z, 1);
    if (rc != NN_OK) return nn_raise(L, 0, rc);
    if (v == NULL) rc = tensor_fill(row, lua_tonumber(L, 3));
    else if (v->numel != row->numel || (t->dtype == NN_I32 && v->dtype != NN_I32)) {
      nn_tensor want = { .ndim = t->ndim - 1 };
      for (int d = 1; d < t->ndim; d++) want.shape[d - 1] = t->shape[d];
      rc = v->numel != row->numel
         ? nn_seterr(NN_ESHAPE, "t[%lld] = v: v is %s, the row is %s (%lld elements)",
                     i, shape_str(v).s, shape_str(&want).s,
                     (long long)row->numel)
         : nn_seterr(NN_EARG, "t[%lld] = v: t is int32, v is %s (convert with :int())",
                     i, dtype_name(v->dtype));
    }
    else if (v->storage->device != t->storage->device)
      rc = nn_seterr(NN_EDEVICE, "t[%lld] = v: t is on %s, v on %s", i,
                     device_name(t->storage->device), device_name(v->storage->device));
    else rc = tensor_copy(row, v);
    tensor_release(row);
  }
  if (rc != NN_OK) return luaL_error(L, "%s", nn_errmsg());
  return 0;
}

/* --- the autograd dispatch ---------------------------------------------------------
**
** lua/nn/autograd.lua records ops on tensors that require grad by putting,
** in place of a method (t:mul), a function (nn.mul, nn.F.linear) or a
** metamethod (__mul), a dispatcher: a C closure of (raw, rec) that
**   - when recording is on and an argument is a recorded tensor (or an
**     entry of a table argument: nn.cat's list, nn.F.batch_norm's
**     {weight, bias}), calls rec(raw, ...) (Lua:
**     runs raw and records the node);
**   - else runs raw itself, in this very call frame: raw sees the caller's
**     call as its own, so its errors read exactly as before ("bad argument
**     #1 to 'matmul'" for a:matmul(b), the caller's line), and an
**     unrecorded call costs one table lookup per tensor argument.
** An error from rec is raised again as raw's would have been: a "bad
** argument #k" through luaL_argerror in this frame (the name and the
** numbering of the caller's call), anything else with the caller's line.
** raw must be a C function without upvalues (it runs with ours).  A tensor
** is recorded when its box's user value holds a node (see newbox). */
static int ag_enabled = 1;

static int ag_is_recorded (lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA || luaL_testudata(L, idx, TENSOR_MT) == NULL) return 0;
  int hit = lua_getiuservalue(L, idx, 1) > LUA_TNIL;    /* LUA_TNONE, LUA_TNIL: no */
  lua_pop(L, 1);
  return hit;
}

static int ag_any_recorded (lua_State *L, int top) {
  for (int i = 1; i <= top; i++) {
    int type = lua_type(L, i);
    if (type == LUA_TUSERDATA && ag_is_recorded(L, i)) return 1;
    if (type == LUA_TTABLE) {            /* a list of tensors, or an options table */
      lua_Unsigned n = lua_rawlen(L, i);
      for (lua_Unsigned k = 1; k <= n; k++) {   /* every entry: the op reads them all */
        lua_rawgeti(L, i, (lua_Integer)k);
        int hit = ag_is_recorded(L, -1);
        lua_pop(L, 1);
        if (hit) return 1;
      }
      static const char *const keys[] = { "weight", "bias", NULL };
      for (int k = 0; keys[k]; k++) {
        lua_pushstring(L, keys[k]);
        lua_rawget(L, i);
        int hit = ag_is_recorded(L, -1);
        lua_pop(L, 1);
        if (hit) return 1;
      }
    }
  }
  return 0;
}

/* raise msg (at the top) as raw would have: see above */
static int ag_reraise (lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  if (msg == NULL || lua_type(L, -1) != LUA_TSTRING) return lua_error(L);
  const char *lua_at = strstr(msg, ".lua:");          /* "...autograd_ops.lua:123: " */
  if (lua_at != NULL && strstr(msg, "autograd") != NULL && strstr(msg, "autograd") < lua_at) {
    const char *colon = strstr(lua_at + 5, ": ");
    if (colon != NULL) msg = colon + 2;
  }
  int k = 0, used = 0;
  if (sscanf(msg, "bad argument #%d to '%*[^']' (%n", &k, &used) == 1 && used > 0 && k > 0) {
    size_t len = strlen(msg + used);
    lua_pushlstring(L, msg + used, len > 0 && msg[used + len - 1] == ')' ? len - 1 : len);
    return luaL_argerror(L, k, lua_tostring(L, -1));
  }
  return luaL_error(L, "%s", msg);
}

static int ag_dispatch (lua_State *L) {
  int top = lua_gettop(L);
  if (ag_enabled && ag_any_recorded(L, top)) {
    lua_pushvalue(L, lua_upvalueindex(2));             /* rec */
    lua_pushvalue(L, lua_upvalueindex(1));             /* raw */
    lua_rotate(L, 1, 2);                               /* rec, raw, args... */
    if (lua_pcall(L, top + 1, LUA_MULTRET, 0) != LUA_OK) return ag_reraise(L);
    return lua_gettop(L);
  }
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* nn.core._autograd_wrap(raw, rec) -> the dispatcher (above).
** Errors: raw not a C function without upvalues; rec not a function. */
static int t_autograd_wrap (lua_State *L) {
  luaL_argcheck(L, lua_tocfunction(L, 1) != NULL && lua_getupvalue(L, 1, 1) == NULL, 1,
                "a C function without upvalues expected");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_pushcclosure(L, ag_dispatch, 2);
  return 1;
}

/* nn.core._autograd_release(t) -> true when t's memory was freed now, false
** when something else shares it (a view, another tensor on its storage).
** For lua/nn/autograd.lua's backward only: a gradient that flowed inside
** backward and that no Lua value other than the caller's local can reach
** (proved there, not here) is given back at once instead of waiting for
** the collector, so the next op reuses warm memory and the collector is
** not paced for bytes that are no longer garbage.  The box is left empty,
** as after __gc: any later use raises "tensor already freed", never reads
** freed memory.  Errors: t not a tensor. */
static int t_autograd_release (lua_State *L) {
  TensorBox *box = (TensorBox *)luaL_checkudata(L, 1, TENSOR_MT);
  nn_tensor *t = box->t;
  if (t == NULL || t->refcount != 1 || t->storage->refcount != 1) {
    lua_pushboolean(L, 0);             /* shared, or already empty: left alone */
    return 1;
  }
  nn_gc_forgive(t->storage->numel * sizeof(float));
  box->t = NULL;                       /* empty first: the box never points at freed memory */
  tensor_release(t);
  lua_pushboolean(L, 1);
  return 1;
}

/* nn.core._autograd_set_enabled(on): whether the dispatchers record. */
static int t_autograd_set_enabled (lua_State *L) {
  ag_enabled = lua_toboolean(L, 1);
  return 0;
}

static const luaL_Reg metameth[] = {
  {"__gc", t_gc},
  {"__close", t_gc},
  {"__tostring", t_tostring},
  {"__len", t_len},
  {"__add", m_add},
  {"__sub", m_sub},
  {"__mul", m_mul},
  {"__div", m_div},
  {"__unm", m_unm},
  {"__index", NULL},     /* set below, with the method table as upvalue */
  {"__newindex", t_newindex},
  {NULL, NULL}
};

/* Methods; the same C functions are also nn.add(a, b), nn.exp(t), ... */
static const luaL_Reg meth[] = {
  {"totable", t_totable}, {"size", t_size}, {"dim", t_dim}, {"numel", t_numel},
  {"view", t_view}, {"reshape", t_view}, {"narrow", t_narrow}, {"slice", t_slice},
  {"clone", t_clone}, {"copy", t_copy}, {"copy_", t_copy},
  {"get", t_get}, {"set", t_set}, {"item", t_item}, {"data_ptr", t_data_ptr}, {"fill_", t_fill_}, {"zero_", t_zero_},
  {"add", t_add}, {"sub", t_sub}, {"mul", t_mul}, {"div", t_div},
  {"add_", t_add_}, {"sub_", t_sub_}, {"mul_", t_mul_}, {"div_", t_div_},
  {"neg", t_neg}, {"exp", t_exp}, {"log", t_log}, {"sqrt", t_sqrt}, {"abs", t_abs},
  {"relu", t_relu}, {"sigmoid", t_sigmoid}, {"tanh", t_tanh}, {"clamp", t_clamp},
  {"neg_", t_neg_}, {"exp_", t_exp_}, {"log_", t_log_}, {"sqrt_", t_sqrt_}, {"abs_", t_abs_},
  {"relu_", t_relu_}, {"sigmoid_", t_sigmoid_}, {"tanh_", t_tanh_},
  {"clamp_", t_clamp_},
  {"sum", t_sum}, {"mean", t_mean}, {"max", t_max}, {"min", t_min},
  {"argmax", t_argmax}, {"argmin", t_argmin}, {"var", t_var}, {"std", t_std},
  {"matmul", nn_tensor_matmul}, {"mm", t_mm},
  {NULL, NULL}
};

/* Only as methods: nn.cuda is a namespace, not t:cuda(). */
static const luaL_Reg device_meth[] = {
  {"to", t_to}, {"cuda", t_cuda}, {"cpu", t_cpu},
  {"int", t_int}, {"long", t_int}, {"float", t_float},
  {NULL, NULL}
};

/* in nn.core only: the autograd dispatch (lua/nn/autograd.lua) */
static const luaL_Reg autograd_fn[] = {
  {"_autograd_wrap", t_autograd_wrap}, {"_autograd_set_enabled", t_autograd_set_enabled},
  {"_autograd_release", t_autograd_release}, {"_slice_range", t_slice_range},
  {NULL, NULL}
};

static const luaL_Reg constructors[] = {
  {"zeros", t_zeros}, {"ones", t_ones}, {"full", t_full}, {"rand", t_rand},
  {"randn", t_randn}, {"arange", t_arange}, {"from_table", t_from_table},
  {NULL, NULL}
};

void nn_open_tensor (lua_State *L) {
  /* the metatable, as liolib.c's createmeta() */
  luaL_newmetatable(L, TENSOR_MT);
  luaL_setfuncs(L, metameth, 0);
  luaL_newlibtable(L, meth);
  luaL_setfuncs(L, meth, 0);
  luaL_setfuncs(L, device_meth, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "methods");   /* so Lua code can add methods */
  lua_pushcclosure(L, t_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  /* nn.core.tensor = constructors; and the methods as plain functions */
  luaL_newlib(L, constructors);
  lua_createtable(L, 0, 1);            /* nn.tensor{...} calls from_table */
  lua_pushcfunction(L, t_call);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "tensor");
  luaL_setfuncs(L, meth, 0);
  luaL_setfuncs(L, autograd_fn, 0);
  luaL_getmetatable(L, TENSOR_MT);    /* nn.core.Tensor: the metatable itself */
  lua_setfield(L, -2, "Tensor");
}
