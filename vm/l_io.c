/*
** l_io.c -- checkpoints, JSON and images for Lua: the glue over io/.
**
** Adds to nn.core (lua/nn/safetensors.lua gathers them as nn.safetensors,
** nn.json and nn.image):
**   safetensors_save(path, tensors, metadata)   safetensors_load(path)
**   json_encode(value [, opts])   json_decode(text)   json_null
**   image_load(path)   image_save_pgm(path, t)   image_save_png(path, t [, opts])
**   terminal_size([fd])
**
** C memory that a Lua error could strand (a loaded file, a jansson tree, a
** jansson string) lives in a small userdata with a __gc, made before the
** first call that can raise, so a raise in the middle frees it.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/ioctl.h>

#include <jansson.h>

#include "bindings.h"
#include "safetensors.h"
#include "image.h"

#define ST_BOX_MT "nn.io.SafetensorsFile"
#define JSON_BOX_MT "nn.io.Json"

/* Deepest nesting json.encode follows (jansson's parser stops at 2048). */
#define JSON_MAX_DEPTH 1000

/* --- GC-owned C memory ----------------------------------------------------- */

typedef struct StBox { st_file *f; } StBox;
typedef struct JsonBox { json_t *root; char *text; } JsonBox;

static int st_box_gc (lua_State *L) {
  StBox *box = (StBox *)luaL_checkudata(L, 1, ST_BOX_MT);
  st_free(box->f);
  box->f = NULL;
  return 0;
}

static int json_box_gc (lua_State *L) {
  JsonBox *box = (JsonBox *)luaL_checkudata(L, 1, JSON_BOX_MT);
  json_decref(box->root);
  free(box->text);
  box->root = NULL;
  box->text = NULL;
  return 0;
}

static JsonBox *new_json_box (lua_State *L) {
  JsonBox *box = (JsonBox *)lua_newuserdatauv(L, sizeof *box, 0);
  box->root = NULL;
  box->text = NULL;
  luaL_setmetatable(L, JSON_BOX_MT);
  return box;
}

/* --- paths ------------------------------------------------------------------------ */

const char *nn_checkpath (lua_State *L, int arg) {
  size_t len;
  const char *path = luaL_checklstring(L, arg, &len);
  size_t nul = strlen(path);
  if (nul != len)
    luaL_argerror(L, arg, lua_pushfstring(L, "the path holds a NUL byte at byte %I (C would "
                                          "cut it there)", (lua_Integer)nul + 1));
  return path;
}

/* --- safetensors ---------------------------------------------------------------- */

/* The metadata table at arg (string -> string) as the text of a JSON
** object, pushed on the stack; nothing is pushed (and 0 returned) when the
** argument is nil.  Raises naming the bad key or value. */
static int push_metadata_json (lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  /* first pass: types, so nothing is allocated before a raise */
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    size_t klen, vlen;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, arg, lua_pushfstring(L, "metadata keys must be strings, got a %s key",
                                            luaL_typename(L, -2)));
    const char *k = lua_tolstring(L, -2, &klen);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, arg, lua_pushfstring(L, "metadata['%s'] must be a string, got %s", k,
                                            luaL_typename(L, -1)));
    const char *v = lua_tolstring(L, -1, &vlen);
    if (strlen(k) != klen || strlen(v) != vlen)
      luaL_argerror(L, arg, lua_pushfstring(L, "metadata['%s'] holds a NUL byte", k));
    lua_pop(L, 1);
  }
  /* second pass: the JSON object (kept in a box while it is built) */
  JsonBox *box = new_json_box(L);
  if ((box->root = json_object()) == NULL) return luaL_error(L, "out of memory");
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
    json_t *s = json_string(v);
    if (s == NULL || json_object_set_new(box->root, k, s) != 0)
      luaL_argerror(L, arg, lua_pushfstring(L, "metadata['%s'] is not valid UTF-8", k));
    lua_pop(L, 1);
  }
  if ((box->text = json_dumps(box->root, JSON_COMPACT)) == NULL)
    return luaL_error(L, "out of memory");
  lua_pushstring(L, box->text);
  lua_remove(L, -2);                      /* the box: collected later */
  return 1;
}

/* nn.safetensors.save(path, tensors, [metadata])
** Writes the tensors (a table name -> tensor, names non-empty strings) and
** the metadata (a table string -> string) to path, atomically (see
** io/safetensors.h: temporary file, fsync, rename, directory fsync).
** Errors: a bad argument names the key; "safetensors.save: <path>: <reason>"
** when the file cannot be written, and then the old file is untouched. */
static int l_safetensors_save (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    size_t len;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "tensor names must be strings, got a %s key",
                                          luaL_typename(L, -2)));
    const char *name = lua_tolstring(L, -2, &len);
    if (totensor(L, -1) == NULL)
      luaL_argerror(L, 2, lua_pushfstring(L, "tensors['%s'] must be a tensor, got %s", name,
                                          tensor_typename(L, -1)));
    if (len == 0 || strlen(name) != len || strcmp(name, "__metadata__") == 0)
      luaL_argerror(L, 2, lua_pushfstring(L, "'%s' cannot name a tensor (empty, a NUL byte, "
                                          "or __metadata__)", name));
    n++;
    lua_pop(L, 1);
  }
  lua_settop(L, 3);
  const char *meta = push_metadata_json(L, 3) ? lua_tostring(L, -1) : NULL;
  /* the name and tensor arrays, in GC-owned memory; the strings and tensors
     they point to stay alive in the table at 2 */
  const char **names = (const char **)lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 1), 0);
  nn_tensor **tensors = (nn_tensor **)lua_newuserdatauv(L, sizeof(nn_tensor *) * ((size_t)n + 1), 0);
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, 2) != 0 && i < n) {
    names[i] = lua_tostring(L, -2);
    tensors[i] = totensor(L, -1);
    luaL_argcheck(L, tensors[i] != NULL, 2, "tensor already freed");
    i++;
    lua_pop(L, 1);
  }
  int rc = st_save(path, n, names, tensors, meta);
  if (rc != NN_OK) return luaL_error(L, "safetensors.save: %s", nn_errmsg());
  return 0;
}

/* nn.safetensors.load(path) -> tensors, metadata
** tensors: a table name -> CPU float32 tensor; metadata: a table string ->
** string (empty when the file has no __metadata__).  Every field of the
** file is checked first (io/safetensors.c); nothing is returned from a file
** that fails a check.  Errors: "safetensors.load: <path>: <reason>". */
static int l_safetensors_load (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  StBox *box = (StBox *)lua_newuserdatauv(L, sizeof *box, 0);
  box->f = NULL;
  luaL_setmetatable(L, ST_BOX_MT);
  int rc = st_load(&box->f, path);
  if (rc != NN_OK) return luaL_error(L, "safetensors.load: %s", nn_errmsg());
  st_file *f = box->f;
  lua_createtable(L, 0, f->n);
  for (int i = 0; i < f->n; i++) {
    pushtensor(L, tensor_retain(f->tensors[i]));
    nn_gc_account(L, (size_t)f->tensors[i]->numel * sizeof(float));
    lua_setfield(L, -2, f->names[i]);
  }
  lua_createtable(L, 0, f->n_meta);
  for (int i = 0; i < f->n_meta; i++) {
    lua_pushstring(L, f->meta_values[i]);
    lua_setfield(L, -2, f->meta_keys[i]);
  }
  return 2;
}

/* --- JSON ------------------------------------------------------------------------ */

/* The value that stands for JSON null: a light userdata NULL (as lua-cjson's
** cjson.null), so that [1, null, 3] keeps its length and {"a": null} its
** key. */
#define JSON_NULL_VALUE NULL

static int is_json_null (lua_State *L, int idx) {
  return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == JSON_NULL_VALUE;
}

typedef struct encoder {
  lua_State *L;
  int seen;                       /* stack index of the set of tables being encoded */
  int precision;                  /* significant digits the floats need, 15..17 */
} encoder;

/* The fewest significant digits, from 15 to 17, that print d so that it
** reads back exactly (17 always do).  jansson prints every real of a text
** with one precision: json.encode takes the largest any value needs, so
** that 0.1 is written "0.1", not "0.10000000000000001". */
static int digits_needed (double d) {
  char buf[40];
  for (int p = 15; p < 17; p++) {
    snprintf(buf, sizeof buf, "%.*g", p, d);
    if (strtod(buf, NULL) == d) return p;
  }
  return 17;
}

/* "at key 'x'" or "at index 3" or "" (the top value), pushed. */
static const char *push_where (lua_State *L, int key) {
  if (key == 0) return lua_pushliteral(L, "");
  if (lua_type(L, key) == LUA_TSTRING) return lua_pushfstring(L, " (at key '%s')", lua_tostring(L, key));
  return lua_pushfstring(L, " (at index %d)", (int)lua_tointeger(L, key));
}

/* Is the table at idx an array, keys exactly 1..n with n >= 1?  Then its
** length; 0 for an object (string keys only, or empty).  Raises for a key
** that is neither. */
static lua_Integer table_kind (lua_State *L, int idx, int key) {
  lua_Integer count = 0, maxkey = 0;
  int strings = 0, others = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) == LUA_TSTRING) strings = 1;
    else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      if (lua_tointeger(L, -1) > maxkey) maxkey = lua_tointeger(L, -1);
    } else others = 1;
  }
  if (!strings && !others && maxkey == count) return count;     /* 1..n, or empty */
  if (!others && maxkey == 0) return 0;                         /* string keys */
  return luaL_error(L, "json.encode: a table is neither an array (keys 1..n) nor an object "
                    "(string keys only)%s", push_where(L, key));
}

/* Convert the value at idx (absolute) and attach it to parent: at key (a
** stack index holding a string) for an object, appended for an array, or
** into box->root for the top.  A container is attached before it is filled,
** so everything made so far hangs on the box's root when a raise comes. */
static void encode_value (encoder *e, JsonBox *box, json_t *parent, int idx, int key,
                          int depth) {
  lua_State *L = e->L;
  json_t *v = NULL;
  lua_Integer n = -1;             /* >= 0 when a table: its array length, or 0 */
  switch (lua_type(L, idx)) {
    case LUA_TNIL: v = json_null(); break;
    case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) v = json_integer((json_int_t)lua_tointeger(L, idx));
      else {
        double d = lua_tonumber(L, idx);
        if (!isfinite(d))
          luaL_error(L, "json.encode: %s has no JSON form%s", d != d ? "nan" : "inf",
                     push_where(L, key));
        int p = digits_needed(d);
        if (p > e->precision) e->precision = p;
        v = json_real(d);
      }
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if ((v = json_stringn(s, len)) == NULL)
        luaL_error(L, "json.encode: a string is not valid UTF-8%s", push_where(L, key));
      break;
    }
    case LUA_TLIGHTUSERDATA:
      if (is_json_null(L, idx)) { v = json_null(); break; }
      /* fall through */
    default:
      if (lua_type(L, idx) != LUA_TTABLE) {
        /* the type, or the __name of a userdata's metatable ("nn.Tensor") */
        const char *type = luaL_getmetafield(L, idx, "__name") == LUA_TSTRING
                           ? lua_tostring(L, -1) : luaL_typename(L, idx);
        luaL_error(L, "json.encode: cannot encode a %s%s", type, push_where(L, key));
      }
      if (depth >= JSON_MAX_DEPTH)
        luaL_error(L, "json.encode: tables nested deeper than %d%s", JSON_MAX_DEPTH,
                   push_where(L, key));
      lua_pushvalue(L, idx);
      if (lua_rawget(L, e->seen) != LUA_TNIL)
        luaL_error(L, "json.encode: a table contains itself (a cycle)%s", push_where(L, key));
      lua_pop(L, 1);
      n = table_kind(L, idx, key);
      v = n > 0 ? json_array() : json_object();
      break;
  }
  if (v == NULL) luaL_error(L, "json.encode: out of memory");
  /* attach (the *_new calls take v over, also when they fail) */
  int bad = 0;
  if (parent == NULL) box->root = v;
  else if (json_is_array(parent)) bad = json_array_append_new(parent, v) != 0;
  else {
    size_t klen;
    const char *k = lua_tolstring(L, key, &klen);
    bad = json_object_setn_new(parent, k, klen, v) != 0;
    if (bad) luaL_error(L, "json.encode: a key is not valid UTF-8%s", push_where(L, key));
  }
  if (bad) luaL_error(L, "json.encode: out of memory");
  if (n < 0) return;

  /* fill the table: mark it as in progress, so a cycle is seen */
  luaL_checkstack(L, 8, "json.encode: nested too deep");
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, e->seen);
  if (n > 0) {
    for (lua_Integer i = 1; i <= n; i++) {
      lua_pushinteger(L, i);
      lua_geti(L, idx, i);
      encode_value(e, box, v, lua_gettop(L), lua_gettop(L) - 1, depth + 1);
      lua_pop(L, 2);
    }
  } else {
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      encode_value(e, box, v, lua_gettop(L), lua_gettop(L) - 1, depth + 1);
      lua_pop(L, 1);
    }
  }
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, e->seen);
}

/* nn.json.encode(value, [{indent = n}]) -> string
** JSON through jansson.  Tables with keys exactly 1..n (n >= 1) become
** arrays, tables with string keys objects, with keys sorted (the same
** table gives the same text); an empty table becomes {} (there is no way
** to write an empty array).  Integers stay integers; floats are written
** with the 15 to 17 significant digits that make every one of them read
** back exactly.  nil and nn.json.null
** become null.  indent: 0 (the default) writes one line; 1..31 spaces per
** level writes one value per line.
** Errors: NaN or inf, a string that is not UTF-8, a function, userdata or
** thread, a table with other keys (0, 1.5, a mix of 1..n and strings), a
** table that contains itself, nesting deeper than 1000. */
static int l_json_encode (lua_State *L) {
  static const char *const keys[] = { "indent", NULL };
  nn_check_keys(L, 2, "json.encode", keys);
  double indent = nn_opt_number(L, 2, "indent", 0);
  luaL_argcheck(L, indent >= 0 && indent <= 31 && indent == floor(indent), 2,
                "json.encode: indent must be an integer in 0..31");
  lua_settop(L, 1);
  lua_newtable(L);                          /* 2: tables being encoded */
  JsonBox *box = new_json_box(L);           /* 3 */
  encoder e = { L, 2, 15 };
  encode_value(&e, box, NULL, 1, 0, 0);
  size_t flags = JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(e.precision)
               | (indent > 0 ? JSON_INDENT((int)indent) : JSON_COMPACT);
  if ((box->text = json_dumps(box->root, flags)) == NULL)
    return luaL_error(L, "json.encode: out of memory");
  lua_pushstring(L, box->text);
  return 1;
}

/* Push the Lua value of j. */
static void decode_value (lua_State *L, const json_t *j) {
  luaL_checkstack(L, 4, "json.decode: nested too deep");
  switch (json_typeof(j)) {
    case JSON_OBJECT: {
      const char *k;
      size_t klen;
      json_t *v;
      lua_createtable(L, 0, (int)json_object_size(j));
      json_object_keylen_foreach((json_t *)j, k, klen, v) {
        lua_pushlstring(L, k, klen);
        decode_value(L, v);
        lua_rawset(L, -3);
      }
      break;
    }
    case JSON_ARRAY: {
      size_t n = json_array_size(j);
      lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
      for (size_t i = 0; i < n; i++) {
        decode_value(L, json_array_get(j, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(j)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(j)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushlightuserdata(L, JSON_NULL_VALUE); break;
  }
}

/* nn.json.decode(text) -> value
** Objects become tables with string keys, arrays tables 1..n, integers Lua
** integers, other numbers floats, null nn.json.null (a sentinel, not nil).
** Any JSON value is accepted at the top, and strings may hold \u0000.
** Errors: "json.decode: <reason> (line L, column C)" for text that is not
** JSON, and for an object with a key twice (RFC 8259 leaves that open; we
** refuse it, as safetensors requires). */
static int l_json_decode (lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  JsonBox *box = new_json_box(L);
  json_error_t err;
  box->root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                         &err);
  if (box->root == NULL)
    return luaL_error(L, "json.decode: %s (line %d, column %d)", err.text, err.line, err.column);
  decode_value(L, box->root);
  return 1;
}

/* --- images ----------------------------------------------------------------------- */

/* nn.image.load(path) -> tensor (H, W), CPU, values in [0, 1]
** PGM (P5, P2) or PNG, told apart by their first bytes (io/image.h).
** Errors: "image.load: <path>: <reason>" for a missing, unknown, corrupt or
** truncated file. */
static int l_image_load (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  TensorBox *box = newbox(L);
  int rc = image_load(&box->t, path);
  if (rc != NN_OK) return luaL_error(L, "image.load: %s", nn_errmsg());
  nn_gc_account(L, (size_t)box->t->numel * sizeof(float));
  return 1;
}

/* nn.image.save_pgm(path, t): t a 2-D tensor (H, W), values clamped to
** [0, 1] (NaN as 0), written as an 8-bit binary PGM.  The file is replaced
** atomically (a directory, FIFO or device at path is refused).
** Errors: bad argument #2 unless t is 2-D and non-empty; "image.save_pgm:
** <path>: <reason>" when the file cannot be written. */
static int l_image_save_pgm (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  nn_tensor *t = checktensor(L, 2);
  int rc = image_save_pgm(path, t);
  if (rc == NN_ESHAPE) return luaL_argerror(L, 2, nn_errmsg());
  if (rc != NN_OK) return luaL_error(L, "image.save_pgm: %s", nn_errmsg());
  return 0;
}

/* nn.image.save(path, t [, {normalize = false}]) -> path: t a 2-D tensor
** (H, W), any device, written as an 8-bit grayscale PNG (io/image.h):
** values clamped to [0, 1], or with normalize = true scaled from t's min..max
** to 0..255 (a constant image is black).  The file is replaced atomically.
** Errors: bad argument #2 unless t is a 2-D non-empty float32 tensor;
** bad argument #3 for an unknown option; "image.save: <path>: <reason>"
** when the file cannot be written. */
static int l_image_save_png (lua_State *L) {
  static const char *const keys[] = { "normalize", NULL };
  const char *path = nn_checkpath(L, 1);
  nn_tensor *t = checktensor(L, 2);
  nn_check_keys(L, 3, "image.save", keys);
  int normalize = nn_opt_boolean(L, 3, "normalize", 0);
  float lo = 0.0f, hi = 1.0f;
  if (normalize && t->numel > 0) {
    double mn, mx;
    int rc = tensor_reduce_all(&mn, t, NN_MIN);
    if (rc == NN_OK) rc = tensor_reduce_all(&mx, t, NN_MAX);
    if (rc != NN_OK) return nn_raise(L, 2, rc);
    lo = (float)mn;
    hi = (float)mx;
  }
  int rc = image_save_png(path, t, lo, hi);
  if (rc == NN_ESHAPE) return luaL_argerror(L, 2, nn_errmsg());
  if (rc != NN_OK) return luaL_error(L, "image.save: %s", nn_errmsg());
  lua_settop(L, 1);
  return 1;
}

/* --- the terminal ------------------------------------------------------------------ */

/* nn.core.terminal_size([fd = 1]) -> columns, rows of the terminal on the
** file descriptor (ioctl TIOCGWINSZ), or nil when it is not a terminal or
** does not say.  lua/nn/repr.lua and the progress bar size themselves by it.
** Errors: bad argument #1 unless fd is an integer 0..1023. */
static int l_terminal_size (lua_State *L) {
  lua_Integer fd = luaL_optinteger(L, 1, 1);
  luaL_argcheck(L, fd >= 0 && fd < 1024, 1, "a file descriptor 0..1023 expected");
  struct winsize ws;
  if (ioctl((int)fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) { lua_pushnil(L); return 1; }
  lua_pushinteger(L, ws.ws_col);
  lua_pushinteger(L, ws.ws_row);
  return 2;
}

/* --- registration ------------------------------------------------------------------ */

static const luaL_Reg io_funcs[] = {
  {"safetensors_save", l_safetensors_save},
  {"safetensors_load", l_safetensors_load},
  {"json_encode", l_json_encode},
  {"json_decode", l_json_decode},
  {"image_load", l_image_load},
  {"image_save_pgm", l_image_save_pgm},
  {"image_save_png", l_image_save_png},
  {"terminal_size", l_terminal_size},
  {NULL, NULL}
};

void nn_open_io (lua_State *L) {
  luaL_newmetatable(L, ST_BOX_MT);
  lua_pushcfunction(L, st_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, JSON_BOX_MT);
  lua_pushcfunction(L, json_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_setfuncs(L, io_funcs, 0);
  lua_pushlightuserdata(L, JSON_NULL_VALUE);
  lua_setfield(L, -2, "json_null");
}
