/*
** l_data.c -- IDX files, and gathering and shuffling rows for batches.
**
** Glue only: the work is in io/idx.c and tensor/ (tensor_index_select,
** tensor_randperm, tensor_one_hot).  Indices are 1-based here, as
** everywhere on the Lua side: nn.randperm(5) holds 1..5, and
** x:index_select(idx) picks rows idx[i].
**
** Added to nn.core (so to nn):     index_select, randperm; and the method
**                                  t:index_select(idx [, out])
** Added as nn.core.data, the C half of lua/nn/data.lua:
**                                  load_idx, one_hot, gather; and the
**                                  transforms' random_crop, random_hflip,
**                                  normalize_channels (nn/augment.h)
*/
#include <string.h>

#include "bindings.h"
#include "idx.h"
#include "augment.h"


/* The output at arg: a new tensor of `shape` on `dev` when arg is none or
** nil, else the tensor there resized to `shape` in place (its storage is
** kept when large enough, so a loop that passes the same out allocates
** nothing).  Leaves the output on top of the stack.  Raises at arg for a
** layer's parameter or persistent buffer whose shape would change (they
** are fixed: tensor_fix_shape), and tensor_resize gives a view that would
** grow past its own elements a block of its own, so no out writes into
** memory that someone else owns. */
static nn_tensor *output_at (lua_State *L, int arg, nn_device dev, nn_dtype dt, int ndim,
                             const int64_t *shape) {
  if (lua_isnoneornil(L, arg)) {
    TensorBox *box = newbox(L);
    int rc = tensor_new_dtype(&box->t, dev, dt, ndim, shape);
    if (rc != NN_OK) nn_raise(L, 0, rc);
    nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
    return box->t;
  }
  nn_tensor *out = checktensor_any(L, arg);
  if (out->storage->device != dev)
    luaL_argerror(L, arg, lua_pushfstring(L, "out is on %s, the result belongs on %s",
                                          device_name(out->storage->device), device_name(dev)));
  const nn_storage *before = out->storage;
  int rc = tensor_resize(out, ndim, shape);
  if (rc != NN_OK) nn_raise(L, arg, rc);
  if (out->storage != before) nn_gc_account(L, (size_t)out->numel * sizeof(float));
  lua_pushvalue(L, arg);
  return out;
}

/* Raise (bad argument #arg) when the output at arg shares memory with the
** input `in`: it is checked before output_at resizes it, which would
** reshape the input under the caller's feet. */
static void check_apart (lua_State *L, int arg, const nn_tensor *in, const char *name) {
  nn_tensor *out = lua_isnoneornil(L, arg) ? NULL : checktensor_any(L, arg);
  if (out != NULL && out->storage == in->storage)
    luaL_argerror(L, arg, lua_pushfstring(L, "out shares memory with %s %s", name,
                                          shape_str(in).s));
}

/* nn.data.load_idx(path) -> tensor: an IDX file, gzip'd or plain (io/idx.h),
** as a CPU float32 tensor of its sizes holding the raw values (0..255 for
** the images of MNIST).  Errors: "load_idx: <path>: <reason>" for a missing
** or unreadable file, a bad magic number, a truncated or corrupt file. */
static int l_load_idx (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  TensorBox *box = newbox(L);
  int rc = idx_load(&box->t, path);
  if (rc != NN_OK) return luaL_error(L, "load_idx: %s", nn_errmsg());
  nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  return 1;
}

/* The form with a dim: src:index_select(dim, idx) -> a new tensor, src's
** shape with #idx along dim, as torch.index_select(src, dim, idx) (1-based
** idx; dim 1-based or negative from the end). */
static int index_select_dim (lua_State *L) {
  nn_tensor *src = checktensor_any(L, 1);
  luaL_argcheck(L, src->ndim >= 1, 1, "index_select needs a tensor with at least 1 dim");
  lua_Integer d = luaL_checkinteger(L, 2), given = d;
  if (d < 0) d += src->ndim + 1;
  if (d < 1 || d > src->ndim)
    luaL_argerror(L, 2, lua_pushfstring(L, "dim %I is out of range for %s (it has %d dims)",
                                        given, shape_str(src).s, src->ndim));
  nn_tensor *idx = checktensor_any(L, 3);
  if (idx->ndim != 1)
    luaL_argerror(L, 3, lua_pushfstring(L, "the indices must be 1-D, got %s", shape_str(idx).s));
  int64_t shape[NN_MAXDIM];
  memcpy(shape, src->shape, sizeof shape);
  shape[d - 1] = idx->shape[0];
  TensorBox *box = newbox(L);
  int rc = tensor_new_dtype(&box->t, src->storage->device, src->dtype, src->ndim, shape);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  rc = tensor_index_select_dim(box->t, src, (int)d - 1, idx, 1);
  if (rc != NN_OK) nn_raise_by_role(L, rc, 3, NN_ROLE_INPUT, 1, NN_ROLE_INDEX, 3, -1);
  return 1;
}

/* nn.index_select(src, idx [, out]) or src:index_select(idx [, out]) -> out:
** the rows idx[1], idx[2], ... of src (along dim 1), gathered into a new
** tensor (K, ...) or into out, resized.  idx: a 1-D tensor, int32 or whole
** numbers in float32, 1..N on src's device; src of either dtype (out has
** it).  src:index_select(dim, idx), with a number before idx, gathers along
** dim (index_select_dim, above).  Errors: bad argument #2 for an index out
** of range ("index 11 at position 3 is outside 1..10 (the rows of [10x4])")
** or not whole, or idx not 1-D; #3 for an out on another device, of
** another dtype, or sharing src's memory. */
static int l_index_select (lua_State *L) {
  if (lua_type(L, 2) == LUA_TNUMBER) return index_select_dim(L);
  nn_tensor *src = checktensor_any(L, 1);
  nn_tensor *idx = checktensor_any(L, 2);
  luaL_argcheck(L, src->ndim >= 1, 1, "index_select needs a tensor with at least 1 dim");
  if (idx->ndim != 1)
    luaL_argerror(L, 2, lua_pushfstring(L, "the indices must be 1-D, got %s", shape_str(idx).s));
  check_apart(L, 3, src, "src");
  check_apart(L, 3, idx, "the indices");
  int64_t shape[NN_MAXDIM];
  memcpy(shape, src->shape, sizeof shape);
  shape[0] = idx->shape[0];
  nn_tensor *out = output_at(L, 3, src->storage->device, src->dtype, src->ndim, shape);
  int rc = tensor_index_select(out, src, idx, 1);
  if (rc != NN_OK) nn_raise_by_role(L, rc, 2, NN_ROLE_OUT, 3, -1);
  return 1;
}

/* nn.randperm(n [, out]) -> a tensor (n) holding 1..n in random order (as
** torch.randperm(n) + 1), drawn from the global generator: nn.manual_seed
** makes it repeatable, and each call advances the generator.  float32 by
** default; nn.randperm(n, {dtype = 'int32'}) gives int32, with the very
** same numbers.  out: a tensor to fill instead (float32 or int32), resized
** to (n), on any device.  Errors: n not an integer in 0 .. 2^24 (float32)
** or 0 .. 2^31 - 1 (int32); an unknown option or dtype. */
static int l_randperm (lua_State *L) {
  static const char *const keys[] = { "dtype", NULL };
  lua_Integer n = luaL_checkinteger(L, 1);     /* inf, nan, 2.5: "no integer representation" */
  nn_dtype dt = NN_F32;
  nn_tensor *given = NULL;
  if (lua_istable(L, 2)) {
    nn_check_keys(L, 2, "randperm", keys);
    lua_getfield(L, 2, "dtype");
    if (!lua_isnil(L, -1)) {
      static const char *const names[] = { "float32", "float", "int32", "int", NULL };
      dt = luaL_checkoption(L, -1, NULL, names) >= 2 ? NN_I32 : NN_F32;
    }
    lua_pop(L, 1);
  } else if (!lua_isnoneornil(L, 2)) {
    given = checktensor_any(L, 2);
    dt = given->dtype;
  }
  if (dt == NN_I32)
    luaL_argcheck(L, n >= 0 && n <= INT32_MAX, 1, "n must be in 0 .. 2^31 - 1 for int32");
  else
    luaL_argcheck(L, n >= 0 && n <= (INT64_C(1) << 24), 1,
                  "n must be in 0 .. 2^24 (16777216): float32 holds whole numbers exactly up "
                  "to it (ask {dtype = 'int32'} for more)");
  int64_t shape[1] = { n };
  nn_tensor *out;
  if (given == NULL) {
    TensorBox *box = newbox(L);
    int rc = tensor_new_dtype(&box->t, NN_CPU, dt, 1, shape);
    if (rc != NN_OK) nn_raise(L, 0, rc);
    nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
    out = box->t;
  } else {
    out = output_at(L, 2, given->storage->device, given->dtype, 1, shape);
  }
  int rc = tensor_randperm(out, 1);
  if (rc != NN_OK) nn_raise(L, 0, rc);
  return 1;
}

/* nn.data.one_hot(labels, num_classes [, out]) -> (B, num_classes): row b is
** 1 at column labels[b], 0 elsewhere.  labels: (B) or (B, 1), int32 or
** whole numbers in float32, 1..num_classes (1-based, as the losses take them).  Errors: bad argument
** #1 for a label out of range ("label 11 at row 7 is outside 1..10") or a
** bad shape, #2 for num_classes not a positive integer. */
static int l_one_hot (lua_State *L) {
  nn_tensor *labels = checktensor_any(L, 1);
  int isint;
  lua_Integer c = lua_tointegerx(L, 2, &isint);
  if (!isint || c < 1)
    luaL_argerror(L, 2, lua_pushfstring(L, "num_classes must be a positive integer, got %s",
                                        luaL_tolstring(L, 2, NULL)));
  /* float32 labels cannot name a class past 2^24 exactly; int32 ones can */
  if (labels->dtype == NN_F32 && c > (INT64_C(1) << 24))
    luaL_argerror(L, 2, lua_pushfstring(L, "num_classes must be at most 2^24 (16777216): "
                                        "labels are float32 (int32 labels go further), got %I",
                                        (lua_Integer)c));
  if (c > INT32_MAX)
    luaL_argerror(L, 2, lua_pushfstring(L, "num_classes must be at most 2^31 - 1, got %I",
                                        (lua_Integer)c));
  int column = labels->ndim == 1 || (labels->ndim == 2 && labels->shape[1] == 1);
  if (!column)
    luaL_argerror(L, 1, lua_pushfstring(L, "labels must be (B) or (B, 1), got %s",
                                        shape_str(labels).s));
  check_apart(L, 3, labels, "the labels");
  int64_t shape[2] = { labels->shape[0], c };
  nn_tensor *out = output_at(L, 3, labels->storage->device, NN_F32, 2, shape);
  int rc = tensor_one_hot(out, labels);
  if (rc != NN_OK) nn_raise(L, 1, rc);
  return 1;
}

/* nn.core.data.gather(out, src, perm, first, count): the DataLoader's one
** call per tensor per batch.  out is resized to `count` rows of src's shape
** (in place: the storage stays) and gets
**   perm a tensor:  the rows perm[first], ..., perm[first+count-1] of src
**   perm nil:       the rows first, ..., first+count-1 of src, in order
** Errors as index_select's; a range outside perm or src. */
static int l_gather (lua_State *L) {
  nn_tensor *out = checktensor_any(L, 1);
  nn_tensor *src = checktensor_any(L, 2);
  nn_tensor *perm = lua_isnil(L, 3) ? NULL : checktensor_any(L, 3);
  lua_Integer first = luaL_checkinteger(L, 4);
  lua_Integer count = luaL_checkinteger(L, 5);
  luaL_argcheck(L, src->ndim >= 1, 2, "gather needs a tensor with at least 1 dim");
  luaL_argcheck(L, first >= 1, 4, "first must be >= 1");     /* so first - 1 cannot wrap */
  luaL_argcheck(L, count >= 0, 5, "count must be >= 0");
  check_apart(L, 1, src, "src");
  if (perm) check_apart(L, 1, perm, "perm");
  int64_t shape[NN_MAXDIM];
  memcpy(shape, src->shape, sizeof shape);
  shape[0] = count;
  /* a view of the rows of perm (or of src) that this batch takes; made
     first, so a count past the rows is refused before out is resized, and
     boxed, so the collector frees it if a check below raises */
  TensorBox *box = newbox(L);
  int rc = tensor_narrow(&box->t, perm ? perm : src, first - 1, count);
  if (rc != NN_OK) nn_raise(L, 4, rc);
  nn_tensor *range = box->t;
  output_at(L, 1, src->storage->device, out->dtype, src->ndim, shape);
  rc = perm ? tensor_index_select(out, src, range, 1) : tensor_copy(out, range);
  if (rc != NN_OK) nn_raise(L, perm ? 3 : 2, rc);
  return 0;
}

/* --- the transforms' C half (nn/augment.c); lua/nn/data.lua checks the
** arguments first and names the transform, these check again ------------- */

/* out at 1 resized to (B, C, oh, ow) of the 4-D x at 2 (left as it is when x
** is not 4-D: the C function then says so); out must be apart from x
** unless in_place and out is x itself */
static nn_tensor *transform_out (lua_State *L, const nn_tensor *x, int64_t oh, int64_t ow,
                                 int in_place) {
  nn_tensor *out = checktensor_any(L, 1);
  if (!(in_place && out->storage == x->storage && out->offset == x->offset))
    check_apart(L, 1, x, "x");
  if (x->ndim == 4) {
    int64_t shape[4] = { x->shape[0], x->shape[1], oh, ow };
    output_at(L, 1, x->storage->device, NN_F32, 4, shape);
    lua_pop(L, 1);
  }
  return out;
}

static int raise_transform (lua_State *L, int rc) {
  return nn_raise_by_role(L, rc, 2, NN_ROLE_OUT, 1, NN_ROLE_INPUT, 2, -1);
}

/* nn.core.data.random_crop(out, x, size_h, size_w, padding [, top, left]) -> out:
** x (B, C, H, W) zero-padded by `padding`, each image cropped to (size_h,
** size_w) at offsets drawn from the generator (one Philox block per image),
** or at (top, left) for every image when given (0-based offsets into the
** padded image: the specs' hook).  out is resized to (B, C, size_h,
** size_w) and must not share x's memory. */
static int l_random_crop (lua_State *L) {
  nn_tensor *x = checktensor(L, 2);
  lua_Integer sh = luaL_checkinteger(L, 3), sw = luaL_checkinteger(L, 4);
  lua_Integer pad = luaL_checkinteger(L, 5);
  lua_Integer top = luaL_optinteger(L, 6, -1), left = luaL_optinteger(L, 7, -1);
  luaL_argcheck(L, sh >= 1 && sh <= NN_MAX_NUMEL, 3, "size must be a positive integer");
  luaL_argcheck(L, sw >= 1 && sw <= NN_MAX_NUMEL, 4, "size must be a positive integer");
  luaL_argcheck(L, pad >= 0 && pad <= NN_MAX_NUMEL, 5, "padding must be an integer >= 0");
  luaL_argcheck(L, lua_isnoneornil(L, 6) || (top >= 0 && left >= 0), 6,
                "top and left must be integers >= 0");
  nn_tensor *out = transform_out(L, x, sh, sw, 0);
  int rc = augment_random_crop(out, x, sh, sw, pad, top, left);
  if (rc != NN_OK) return raise_transform(L, rc);
  lua_settop(L, 1);
  return 1;
}

/* nn.core.data.random_hflip(out, x, p) -> out: each image of x (B, C, H, W)
** flipped left-right with probability p (one Philox block per image).
** out may be x itself (in place). */
static int l_random_hflip (lua_State *L) {
  nn_tensor *x = checktensor(L, 2);
  double p = luaL_checknumber(L, 3);
  nn_tensor *out = transform_out(L, x, x->ndim == 4 ? x->shape[2] : 0,
                                 x->ndim == 4 ? x->shape[3] : 0, 1);
  int rc = augment_random_hflip(out, x, p);
  if (rc != NN_OK) return raise_transform(L, rc);
  lua_settop(L, 1);
  return 1;
}

/* nn.core.data.normalize_channels(out, x, mean, std) -> out: (x[b, c] -
** mean[c]) / std[c] for x (B, C, H, W); mean and std: CPU float32 tensors
** of 1 value or C.  out may be x itself (in place). */
static int l_normalize_channels (lua_State *L) {
  nn_tensor *x = checktensor(L, 2), *mean = checktensor(L, 3), *std = checktensor(L, 4);
  luaL_argcheck(L, mean->storage->device == NN_CPU && mean->ndim == 1, 3,
                "mean must be a 1-D CPU tensor");
  luaL_argcheck(L, std->storage->device == NN_CPU && std->ndim == 1, 4,
                "std must be a 1-D CPU tensor");
  luaL_argcheck(L, std->numel == mean->numel, 4, "std must have as many values as mean");
  nn_tensor *out = transform_out(L, x, x->ndim == 4 ? x->shape[2] : 0,
                                 x->ndim == 4 ? x->shape[3] : 0, 1);
  int rc = augment_normalize(out, x, tensor_data(mean), tensor_data(std), mean->numel);
  if (rc != NN_OK) return raise_transform(L, rc);
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"index_select", l_index_select},
  {"randperm", l_randperm},
  {NULL, NULL}
};

static const luaL_Reg data_funcs[] = {
  {"load_idx", l_load_idx},
  {"one_hot", l_one_hot},
  {"gather", l_gather},
  {"random_crop", l_random_crop},
  {"random_hflip", l_random_hflip},
  {"normalize_channels", l_normalize_channels},
  {NULL, NULL}
};

void nn_open_data (lua_State *L) {
  luaL_setfuncs(L, core_funcs, 0);
  luaL_newlib(L, data_funcs);
  lua_setfield(L, -2, "data");
  /* t:index_select(idx): the tensor methods table (see nn_open_tensor) */
  luaL_getmetatable(L, TENSOR_MT);
  if (lua_getfield(L, -1, "methods") == LUA_TTABLE) {
    lua_pushcfunction(L, l_index_select);
    lua_setfield(L, -2, "index_select");
  }
  lua_pop(L, 2);
}
