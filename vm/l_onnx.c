/*
** l_onnx.c -- ONNX files for Lua: a ModelProto as a plain Lua table, and back.
**
** Adds to nn.core (lua/nn/onnx.lua builds nn.onnx on them):
**   onnx_read(path) -> model table        onnx_decode(bytes) -> model table
**   onnx_read_tensor(path) -> tensor table (a .pb file of one TensorProto)
**   onnx_write(path, model table)
**
** The table mirrors onnx.proto's field names (ModelProto, GraphProto, ...):
**   model = { ir_version = 8, producer_name = "nnlua", producer_version = "0.1",
**             opset_import = { {domain = "", version = 13}, ... },
**             graph = { name = "...", node = {...}, initializer = {...},
**                       input = {...}, output = {...}, value_info = {...} } }
**   node = { op_type = "Gemm", name = "...", domain = "", input = {"x", "w"},
**            output = {"y"}, attribute = {transB = 1, alpha = 1.0, ...},
**            attribute_type = {transB = "INT", alpha = "FLOAT"} }
**     An attribute's value: INT an integer, FLOAT a float, STRING a string,
**     INTS / FLOATS / STRINGS a list of those, TENSOR a tensor table.  On
**     writing, the Lua type chooses (math.type: 1 is an INT, 1.0 a FLOAT; a
**     list of integers INTS; an empty list the list type attribute_type
**     names, else INTS); a GRAPH, SPARSE_TENSOR or TYPE_PROTO attribute
**     reads as false, its type in attribute_type, and is refused on
**     writing (as any boolean is), never written as something else.
**   tensor = { name = "w", data_type = 1, dims = {10, 784}, tensor = <nn tensor> }
**     FLOAT, DOUBLE and FLOAT16 as a float32 tensor; INT32, INT16, INT8,
**     UINT16, UINT8 and BOOL as an int32 tensor; INT64 as a list of Lua
**     integers, int64_data = {...}, with no tensor (shapes, axes, indices).
**   value info = { name = "x", elem_type = 1, shape = {"batch", 784} }
**     each dim an integer (dim_value) or a string (dim_param, "" when neither
**     is set); shape is nil when the type has none.
**
** Every size check is in io/onnx.c, before an allocation: a tensor's dims
** against the data present.  The decoded message lives in a userdata with a
** __gc while the table is built, and so does the arena the writer builds
** its message in, so a Lua error in the middle leaks nothing.
*/
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "onnx.h"

#define MODEL_BOX_MT "nn.io.OnnxModel"
#define TENSOR_BOX_MT "nn.io.OnnxTensor"
#define ARENA_MT "nn.io.OnnxArena"

/* The most entries any one list of a written model may have: far above any
** real model, and small enough that n * sizeof(pointer) never overflows. */
#define ONNX_MAX_LIST 100000000

/* --- GC-owned C memory ----------------------------------------------------- */

typedef struct ModelBox { Onnx__ModelProto *m; } ModelBox;
typedef struct PbTensorBox { Onnx__TensorProto *t; } PbTensorBox;

static int model_box_gc (lua_State *L) {
  ModelBox *box = (ModelBox *)luaL_checkudata(L, 1, MODEL_BOX_MT);
  onnx_model_free(box->m);
  box->m = NULL;
  return 0;
}

static int tensor_box_gc (lua_State *L) {
  PbTensorBox *box = (PbTensorBox *)luaL_checkudata(L, 1, TENSOR_BOX_MT);
  onnx_tensor_free(box->t);
  box->t = NULL;
  return 0;
}

/* The writer's arena: every block of the message it builds, freed at once. */
typedef struct Block { struct Block *next; } Block;
typedef struct Arena { Block *head; } Arena;

static int arena_gc (lua_State *L) {
  Arena *a = (Arena *)luaL_checkudata(L, 1, ARENA_MT);
  while (a->head != NULL) {
    Block *b = a->head;
    a->head = b->next;
    free(b);
  }
  return 0;
}

/* n zeroed bytes that live as long as the arena; raises when out of memory */
static void *arena_alloc (lua_State *L, Arena *a, size_t n) {
  if (n > ((size_t)1 << 40)) luaL_error(L, "onnx: a block of %zu bytes is too large", n);
  Block *b = calloc(1, sizeof(Block) + n + 16);
  if (b == NULL) luaL_error(L, "onnx: out of host memory");
  b->next = a->head;
  a->head = b;
  return (char *)b + sizeof(Block) + (16 - sizeof(Block) % 16) % 16;
}

/* --- decoding: protobuf-c's structs -> Lua tables --------------------------- */

static void set_str (lua_State *L, const char *key, const char *v) {
  lua_pushstring(L, v != NULL ? v : "");
  lua_setfield(L, -2, key);
}

static void set_int (lua_State *L, const char *key, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, key);
}

static void push_strings (lua_State *L, size_t n, char **s) {
  lua_createtable(L, (int)(n < 1000000 ? n : 0), 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, s[i] != NULL ? s[i] : "");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* Push the tensor table of t; `what` names the file (and the context). */
static void push_tensor (lua_State *L, const Onnx__TensorProto *t, const char *what) {
  int64_t numel;
  int rc = onnx_tensor_check(&numel, t, what);
  if (rc != NN_OK) luaL_error(L, "%s", nn_errmsg());
  lua_createtable(L, 0, 5);
  set_str(L, "name", t->name);
  set_int(L, "data_type", t->data_type);
  lua_createtable(L, (int)t->n_dims, 0);
  for (size_t i = 0; i < t->n_dims; i++) {
    lua_pushinteger(L, t->dims[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "dims");
  if (t->data_type == ONNX_INT64) {
    /* numel is the count of int64s really present: bounded by the file */
    lua_createtable(L, (int)(numel < 1000000 ? numel : 0), 0);
    for (int64_t i = 0; i < numel; i++) {
      lua_pushinteger(L, onnx_tensor_int64(t, i));
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "int64_data");
  } else {
    TensorBox *box = newbox(L);
    rc = onnx_tensor_to_nn(&box->t, t, what);
    if (rc != NN_OK) luaL_error(L, "%s", nn_errmsg());
    nn_gc_account(L, (size_t)numel * 4);
    lua_setfield(L, -2, "tensor");
  }
}

static const char *attr_type_name (int type) {
  switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "SPARSE_TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "TYPE_PROTO";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "GRAPHS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "SPARSE_TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "UNDEFINED";
  }
}

/* the attribute's type: its `type` field, or (files older than IR version
   2 leave it unset) the one field that holds a value */
static int attr_type (const Onnx__AttributeProto *a) {
  if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) return a->type;
  if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
  if (a->t != NULL) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
  if (a->n_floats > 0) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
  if (a->n_ints > 0) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  if (a->n_strings > 0) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
  return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

/* push the value of attribute a (of node `node`) */
static void push_attr_value (lua_State *L, const Onnx__AttributeProto *a, int type,
                             const char *what, const char *node) {
  switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: lua_pushnumber(L, a->f); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: lua_pushinteger(L, a->i); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
      lua_pushlstring(L, (const char *)a->s.data, a->s.len); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
      if (a->t == NULL)
        luaL_error(L, "%s: node '%s': attribute '%s' is a TENSOR without a tensor", what, node,
                   a->name);
      push_tensor(L, a->t, what);
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
      lua_createtable(L, (int)(a->n_floats < 1000000 ? a->n_floats : 0), 0);
      for (size_t i = 0; i < a->n_floats; i++) {
        lua_pushnumber(L, a->floats[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
      lua_createtable(L, (int)(a->n_ints < 1000000 ? a->n_ints : 0), 0);
      for (size_t i = 0; i < a->n_ints; i++) {
        lua_pushinteger(L, a->ints[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
      lua_createtable(L, (int)(a->n_strings < 1000000 ? a->n_strings : 0), 0);
      for (size_t i = 0; i < a->n_strings; i++) {
        lua_pushlstring(L, (const char *)a->strings[i].data, a->strings[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    default: lua_pushboolean(L, 0); break;   /* a graph, ...: the importer names it */
  }
}

static void push_node (lua_State *L, const Onnx__NodeProto *n, const char *what) {
  lua_createtable(L, 0, 7);
  set_str(L, "op_type", n->op_type);
  set_str(L, "name", n->name);
  set_str(L, "domain", n->domain);
  push_strings(L, n->n_input, n->input);
  lua_setfield(L, -2, "input");
  push_strings(L, n->n_output, n->output);
  lua_setfield(L, -2, "output");
  lua_createtable(L, 0, (int)(n->n_attribute < 1000 ? n->n_attribute : 0));
  lua_createtable(L, 0, 0);
  for (size_t i = 0; i < n->n_attribute; i++) {
    const Onnx__AttributeProto *a = n->attribute[i];
    if (a->name == NULL || a->name[0] == '\0')
      luaL_error(L, "%s: node '%s' (%s): attribute %d has no name", what,
                 n->name != NULL ? n->name : "", n->op_type != NULL ? n->op_type : "",
                 (int)i + 1);
    int type = attr_type(a);
    lua_pushstring(L, attr_type_name(type));
    lua_setfield(L, -2, a->name);
    push_attr_value(L, a, type, what, n->name != NULL ? n->name : "");
    lua_setfield(L, -3, a->name);
  }
  lua_setfield(L, -3, "attribute_type");
  lua_setfield(L, -2, "attribute");
}

static void push_value_info (lua_State *L, const Onnx__ValueInfoProto *v) {
  lua_createtable(L, 0, 3);
  set_str(L, "name", v->name);
  const Onnx__TypeProto *tp = v->type;
  if (tp != NULL && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
      tp->tensor_type != NULL) {
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type) set_int(L, "elem_type", tt->elem_type);
    if (tt->shape != NULL) {
      lua_createtable(L, (int)(tt->shape->n_dim < 1000 ? tt->shape->n_dim : 0), 0);
      for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
          lua_pushinteger(L, d->dim_value);
        else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
          lua_pushstring(L, d->dim_param != NULL ? d->dim_param : "");
        else
          lua_pushliteral(L, "");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      lua_setfield(L, -2, "shape");
    }
  }
}

static void push_value_infos (lua_State *L, size_t n, Onnx__ValueInfoProto **v) {
  lua_createtable(L, (int)(n < 1000000 ? n : 0), 0);
  for (size_t i = 0; i < n; i++) {
    push_value_info(L, v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* push the table of the model in the box at the top of the stack */
static void push_model (lua_State *L, const Onnx__ModelProto *m, const char *what) {
  lua_createtable(L, 0, 8);
  if (m->has_ir_version) set_int(L, "ir_version", m->ir_version);
  set_str(L, "producer_name", m->producer_name);
  set_str(L, "producer_version", m->producer_version);
  set_str(L, "domain", m->domain);
  set_str(L, "doc_string", m->doc_string);
  if (m->has_model_version) set_int(L, "model_version", m->model_version);
  lua_createtable(L, (int)(m->n_opset_import < 1000 ? m->n_opset_import : 0), 0);
  for (size_t i = 0; i < m->n_opset_import; i++) {
    lua_createtable(L, 0, 2);
    set_str(L, "domain", m->opset_import[i]->domain);
    set_int(L, "version", m->opset_import[i]->version);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "opset_import");
  const Onnx__GraphProto *g = m->graph;
  if (g == NULL) luaL_error(L, "%s: the model has no graph", what);
  lua_createtable(L, 0, 7);
  set_str(L, "name", g->name);
  set_str(L, "doc_string", g->doc_string);
  lua_createtable(L, (int)(g->n_node < 1000000 ? g->n_node : 0), 0);
  for (size_t i = 0; i < g->n_node; i++) {
    push_node(L, g->node[i], what);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "node");
  lua_createtable(L, (int)(g->n_initializer < 1000000 ? g->n_initializer : 0), 0);
  for (size_t i = 0; i < g->n_initializer; i++) {
    push_tensor(L, g->initializer[i], what);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "initializer");
  if (g->n_sparse_initializer > 0)
    luaL_error(L, "%s: the graph has sparse initializers, which nnlua does not read", what);
  push_value_infos(L, g->n_input, g->input);
  lua_setfield(L, -2, "input");
  push_value_infos(L, g->n_output, g->output);
  lua_setfield(L, -2, "output");
  push_value_infos(L, g->n_value_info, g->value_info);
  lua_setfield(L, -2, "value_info");
  lua_setfield(L, -2, "graph");
}

/* the model in buf (len bytes) as a table; `what` names it in messages */
static int decode_model (lua_State *L, const unsigned char *buf, size_t len, const char *what) {
  ModelBox *box = (ModelBox *)lua_newuserdatauv(L, sizeof *box, 0);
  box->m = NULL;
  luaL_setmetatable(L, MODEL_BOX_MT);
  int rc = onnx_model_unpack(&box->m, buf, len, what);
  if (rc != NN_OK) return luaL_error(L, "%s", nn_errmsg());
  push_model(L, box->m, what);
  /* the table holds copies of everything: the unpacked model goes now, not
     at the next collection, which cannot know its size (the box stays, to
     free it when push_model raises) */
  onnx_model_free(box->m);
  box->m = NULL;
  return 1;
}

/* A file's bytes, in a userdata (pushed) whose __gc frees them. */
typedef struct BytesBox { unsigned char *buf; size_t len; } BytesBox;
#define BYTES_BOX_MT "nn.io.OnnxBytes"

static int bytes_box_gc (lua_State *L) {
  BytesBox *box = (BytesBox *)luaL_checkudata(L, 1, BYTES_BOX_MT);
  free(box->buf);
  box->buf = NULL;
  return 0;
}

static BytesBox *push_file (lua_State *L, const char *path) {
  BytesBox *box = (BytesBox *)lua_newuserdatauv(L, sizeof *box, 0);
  box->buf = NULL;
  box->len = 0;
  luaL_setmetatable(L, BYTES_BOX_MT);
  int rc = onnx_read_bytes(&box->buf, &box->len, path);
  if (rc != NN_OK) luaL_error(L, "%s", nn_errmsg());
  return box;
}

/* nn.core.onnx_read(path) -> model table.
** Errors: "<path>: <reason>" for a file that cannot be read, is not an ONNX
** model, or holds a tensor whose dims and data disagree (naming it). */
static int l_onnx_read (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  BytesBox *bytes = push_file(L, path);
  decode_model(L, bytes->buf, bytes->len, path);
  free(bytes->buf);                  /* now: the file may be large (see decode_model) */
  bytes->buf = NULL;
  return 1;
}

/* nn.core.onnx_decode(bytes) -> model table: the same from a string
** (messages name it "<memory>"). */
static int l_onnx_decode (lua_State *L) {
  size_t len;
  const unsigned char *buf = (const unsigned char *)luaL_checklstring(L, 1, &len);
  return decode_model(L, buf, len, "<memory>");
}

/* nn.core.onnx_read_tensor(path) -> tensor table: a file of one
** TensorProto (the conformance tests' input_0.pb, output_0.pb). */
static int l_onnx_read_tensor (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  BytesBox *bytes = push_file(L, path);
  PbTensorBox *box = (PbTensorBox *)lua_newuserdatauv(L, sizeof *box, 0);
  box->t = NULL;
  luaL_setmetatable(L, TENSOR_BOX_MT);
  int rc = onnx_tensor_unpack(&box->t, bytes->buf, bytes->len, path);
  if (rc != NN_OK) return luaL_error(L, "%s", nn_errmsg());
  free(bytes->buf);                  /* now, as onnx_read does (see decode_model) */
  bytes->buf = NULL;
  push_tensor(L, box->t, path);
  onnx_tensor_free(box->t);
  box->t = NULL;
  return 1;
}

/* --- encoding: Lua tables -> protobuf-c's structs ---------------------------- */

/* The writer's context: the arena, and the path of the field being built,
** for messages ("graph.node[3].attribute.alpha"). */
typedef struct Enc { lua_State *L; Arena *a; } Enc;

static int enc_fail (Enc *e, const char *where, const char *msg) {
  return luaL_error(e->L, "onnx_write: %s: %s", where, msg);
}

/* a copy in the arena of the string at idx (or of dflt when it is nil) */
static char *enc_str (Enc *e, int idx, const char *dflt, const char *where) {
  size_t len;
  if (lua_isnil(e->L, idx)) {
    if (dflt == NULL) return NULL;
    len = strlen(dflt);
    char *s = arena_alloc(e->L, e->a, len + 1);
    memcpy(s, dflt, len);
    return s;
  }
  if (lua_type(e->L, idx) != LUA_TSTRING) enc_fail(e, where, "a string expected");
  const char *v = lua_tolstring(e->L, idx, &len);
  if (strlen(v) != len) enc_fail(e, where, "the string holds a NUL byte");
  char *s = arena_alloc(e->L, e->a, len + 1);
  memcpy(s, v, len);
  return s;
}

/* field `key` of the table at the top, as a string in the arena */
static char *enc_field_str (Enc *e, const char *key, const char *dflt, const char *where) {
  lua_getfield(e->L, -1, key);
  char buf[256];
  snprintf(buf, sizeof buf, "%s.%s", where, key);
  char *s = enc_str(e, -1, dflt, buf);
  lua_pop(e->L, 1);
  return s;
}

/* the length of the list at idx (a table, checked) */
static size_t enc_len (Enc *e, int idx, const char *where) {
  if (!lua_istable(e->L, idx)) enc_fail(e, where, "a list (table) expected");
  lua_Unsigned n = lua_rawlen(e->L, idx);
  if (n > ONNX_MAX_LIST) enc_fail(e, where, "too many entries");
  return (size_t)n;
}

static int64_t enc_int (Enc *e, int idx, const char *where) {
  if (!lua_isinteger(e->L, idx)) enc_fail(e, where, "an integer expected");
  return (int64_t)lua_tointeger(e->L, idx);
}

/* the list field `key` of the table at the top as strings; *n its length */
static char **enc_strings (Enc *e, const char *key, size_t *n, const char *where) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s.%s", where, key);
  lua_getfield(e->L, -1, key);
  if (lua_isnil(e->L, -1)) { lua_pop(e->L, 1); *n = 0; return NULL; }
  *n = enc_len(e, -1, buf);
  char **s = arena_alloc(e->L, e->a, *n * sizeof(char *) + 1);
  for (size_t i = 0; i < *n; i++) {
    lua_rawgeti(e->L, -1, (lua_Integer)i + 1);
    s[i] = enc_str(e, -1, NULL, buf);
    lua_pop(e->L, 1);
  }
  lua_pop(e->L, 1);
  return s;
}

/* the tensor table at the top as a TensorProto */
static Onnx__TensorProto *enc_tensor (Enc *e, const char *where) {
  lua_State *L = e->L;
  if (!lua_istable(L, -1)) enc_fail(e, where, "a tensor table expected");
  Onnx__TensorProto *t = arena_alloc(L, e->a, sizeof *t);
  onnx__tensor_proto__init(t);
  t->name = enc_field_str(e, "name", "", where);
  lua_getfield(L, -1, "tensor");
  nn_tensor *x = lua_isnil(L, -1) ? NULL : totensor(L, -1);
  if (!lua_isnil(L, -1) && x == NULL) enc_fail(e, where, "field 'tensor' must be an nn tensor");
  lua_pop(L, 1);   /* the table still holds it, so x stays alive */
  if (x != NULL) {
    if (x->storage->device != NN_CPU)
      enc_fail(e, where, "the tensor is on the GPU: move it to the CPU first");
    t->has_data_type = 1;
    t->data_type = x->dtype == NN_F32 ? ONNX_FLOAT : ONNX_INT32;
    t->n_dims = (size_t)x->ndim;
    t->dims = arena_alloc(L, e->a, sizeof(int64_t) * NN_MAXDIM);
    for (int i = 0; i < x->ndim; i++) t->dims[i] = x->shape[i];
    /* raw_data points into the tensor's own storage: no copy */
    t->has_raw_data = 1;
    t->raw_data.len = (size_t)x->numel * 4;
    t->raw_data.data = (uint8_t *)tensor_data(x);
    return t;
  }
  /* INT64: dims and int64_data */
  lua_getfield(L, -1, "data_type");
  int64_t dt = lua_isnil(L, -1) ? ONNX_INT64 : enc_int(e, -1, where);
  lua_pop(L, 1);
  if (dt != ONNX_INT64)
    enc_fail(e, where, "a tensor table needs 'tensor' (an nn tensor) or INT64 'int64_data'");
  t->has_data_type = 1;
  t->data_type = ONNX_INT64;
  lua_getfield(L, -1, "int64_data");
  t->n_int64_data = enc_len(e, -1, where);
  t->int64_data = arena_alloc(L, e->a, t->n_int64_data * sizeof(int64_t) + 1);
  for (size_t i = 0; i < t->n_int64_data; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    t->int64_data[i] = enc_int(e, -1, where);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "dims");
  if (lua_isnil(L, -1)) {            /* a list: one dim */
    t->n_dims = 1;
    t->dims = arena_alloc(L, e->a, sizeof(int64_t));
    t->dims[0] = (int64_t)t->n_int64_data;
  } else {
    t->n_dims = enc_len(e, -1, where);
    t->dims = arena_alloc(L, e->a, t->n_dims * sizeof(int64_t) + 1);
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      t->dims[i] = enc_int(e, -1, where);
      lua_pop(L, 1);
      if (t->dims[i] < 0 || nn_size_mul(&n, n, t->dims[i]) != NN_OK)
        enc_fail(e, where, "dims must be sizes >= 0 whose product fits");
    }
    if ((uint64_t)n != (uint64_t)t->n_int64_data)
      enc_fail(e, where, "the product of dims differs from the length of int64_data");
  }
  lua_pop(L, 1);
  return t;
}

static int cmp_str (const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the attribute map at the top (name -> value) as AttributeProtos, sorted
** by name so the same model gives the same bytes */
static void enc_attributes (Enc *e, Onnx__NodeProto *n, const char *where) {
  lua_State *L = e->L;
  lua_getfield(L, -1, "attribute");
  if (lua_isnil(L, -1)) { lua_pop(L, 1); return; }
  if (!lua_istable(L, -1)) enc_fail(e, where, "attribute must be a table of name = value");
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) enc_fail(e, where, "attribute names must be strings");
    if (++count > ONNX_MAX_LIST) enc_fail(e, where, "too many attributes");
    lua_pop(L, 1);
  }
  char **names = arena_alloc(L, e->a, count * sizeof(char *) + 1);
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    names[k++] = enc_str(e, -1, NULL, where);
  }
  qsort(names, count, sizeof(char *), cmp_str);
  n->n_attribute = count;
  n->attribute = arena_alloc(L, e->a, count * sizeof(Onnx__AttributeProto *) + 1);
  for (size_t i = 0; i < count; i++) {
    char w[300];
    snprintf(w, sizeof w, "%s.attribute.%s", where, names[i]);
    Onnx__AttributeProto *a = arena_alloc(L, e->a, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = names[i];
    a->has_type = 1;
    /* an empty list's kind, from attribute_type as the reader gave it: 0
       INTS, 1 FLOATS, 2 STRINGS (a list's entries say it otherwise) */
    int declared = 0, top = lua_gettop(L);
    if (lua_getfield(L, -2, "attribute_type") == LUA_TTABLE
        && lua_getfield(L, -1, names[i]) == LUA_TSTRING) {
      const char *t = lua_tostring(L, -1);
      declared = strcmp(t, "FLOATS") == 0 ? 1 : strcmp(t, "STRINGS") == 0 ? 2 : 0;
    }
    lua_settop(L, top);
    lua_getfield(L, -1, names[i]);
    switch (lua_type(L, -1)) {
      case LUA_TNUMBER:
        if (lua_isinteger(L, -1)) {
          a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
          a->has_i = 1;
          a->i = (int64_t)lua_tointeger(L, -1);
        } else {
          a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
          a->has_f = 1;
          a->f = (float)lua_tonumber(L, -1);
        }
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        a->has_s = 1;
        a->s.data = arena_alloc(L, e->a, len + 1);
        memcpy(a->s.data, s, len);
        a->s.len = len;
        break;
      }
      case LUA_TTABLE: {
        lua_getfield(L, -1, "dims");
        lua_getfield(L, -2, "tensor");
        int is_tensor = !lua_isnil(L, -1) || !lua_isnil(L, -2);
        lua_pop(L, 2);
        if (is_tensor) {
          a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
          a->t = enc_tensor(e, w);
          break;
        }
        size_t len = enc_len(e, -1, w);
        int kind = len == 0 ? declared : 0;     /* 0 ints, 1 floats, 2 strings */
        for (size_t j = 0; j < len; j++) {
          lua_rawgeti(L, -1, (lua_Integer)j + 1);
          if (lua_type(L, -1) == LUA_TSTRING) kind = 2;
          else if (lua_type(L, -1) != LUA_TNUMBER) enc_fail(e, w, "a list of numbers or strings expected");
          else if (!lua_isinteger(L, -1) && kind == 0) kind = 1;
          lua_pop(L, 1);
        }
        if (kind == 2) {
          a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
          a->n_strings = len;
          a->strings = arena_alloc(L, e->a, len * sizeof(ProtobufCBinaryData) + 1);
          for (size_t j = 0; j < len; j++) {
            lua_rawgeti(L, -1, (lua_Integer)j + 1);
            size_t sl;
            const char *s = lua_tolstring(L, -1, &sl);
            if (s == NULL || lua_type(L, -1) != LUA_TSTRING) enc_fail(e, w, "a list of strings expected");
            a->strings[j].data = arena_alloc(L, e->a, sl + 1);
            memcpy(a->strings[j].data, s, sl);
            a->strings[j].len = sl;
            lua_pop(L, 1);
          }
        } else if (kind == 1) {
          a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
          a->n_floats = len;
          a->floats = arena_alloc(L, e->a, len * sizeof(float) + 1);
          for (size_t j = 0; j < len; j++) {
            lua_rawgeti(L, -1, (lua_Integer)j + 1);
            a->floats[j] = (float)lua_tonumber(L, -1);
            lua_pop(L, 1);
          }
        } else {
          a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
          a->n_ints = len;
          a->ints = arena_alloc(L, e->a, len * sizeof(int64_t) + 1);
          for (size_t j = 0; j < len; j++) {
            lua_rawgeti(L, -1, (lua_Integer)j + 1);
            a->ints[j] = (int64_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
          }
        }
        break;
      }
      default:
        enc_fail(e, w, "an integer, a float, a string, a list or a tensor table expected");
    }
    lua_pop(L, 1);
    n->attribute[i] = a;
  }
  lua_pop(L, 1);
}

/* the value-info list field `key` of the graph table at the top */
static Onnx__ValueInfoProto **enc_value_infos (Enc *e, const char *key, size_t *count) {
  lua_State *L = e->L;
  char where[64];
  snprintf(where, sizeof where, "graph.%s", key);
  lua_getfield(L, -1, key);
  if (lua_isnil(L, -1)) { lua_pop(L, 1); *count = 0; return NULL; }
  size_t n = enc_len(e, -1, where);
  Onnx__ValueInfoProto **v = arena_alloc(L, e->a, n * sizeof *v + 1);
  for (size_t i = 0; i < n; i++) {
    char w[96];
    snprintf(w, sizeof w, "%s[%zu]", where, i + 1);
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    if (!lua_istable(L, -1)) enc_fail(e, w, "a value info table expected");
    Onnx__ValueInfoProto *vi = arena_alloc(L, e->a, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = enc_field_str(e, "name", NULL, w);
    if (vi->name == NULL) enc_fail(e, w, "a name expected");
    Onnx__TypeProto *tp = arena_alloc(L, e->a, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = arena_alloc(L, e->a, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    lua_getfield(L, -1, "elem_type");
    tt->has_elem_type = 1;
    tt->elem_type = lua_isnil(L, -1) ? ONNX_FLOAT : (int32_t)enc_int(e, -1, w);
    lua_pop(L, 1);
    lua_getfield(L, -1, "shape");
    if (!lua_isnil(L, -1)) {
      size_t nd = enc_len(e, -1, w);
      Onnx__TensorShapeProto *sp = arena_alloc(L, e->a, sizeof *sp);
      onnx__tensor_shape_proto__init(sp);
      sp->n_dim = nd;
      sp->dim = arena_alloc(L, e->a, nd * sizeof *sp->dim + 1);
      for (size_t j = 0; j < nd; j++) {
        Onnx__TensorShapeProto__Dimension *d = arena_alloc(L, e->a, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        lua_rawgeti(L, -1, (lua_Integer)j + 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
          d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
          d->dim_param = enc_str(e, -1, NULL, w);
        } else {
          d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
          d->dim_value = enc_int(e, -1, w);
        }
        lua_pop(L, 1);
        sp->dim[j] = d;
      }
      tt->shape = sp;
    }
    lua_pop(L, 2);
    v[i] = vi;
  }
  lua_pop(L, 1);
  *count = n;
  return v;
}

/* nn.core.onnx_write(path, model): the model table (as onnx_read gives it)
** to an .onnx file.  Errors: "onnx_write: <field>: <what was expected>" for
** a malformed table, nothing written; "<path>: <reason>" when the file
** cannot be written. */
static int l_onnx_write (lua_State *L) {
  const char *path = nn_checkpath(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  Arena *arena = (Arena *)lua_newuserdatauv(L, sizeof *arena, 0);   /* 3 */
  arena->head = NULL;
  luaL_setmetatable(L, ARENA_MT);
  Enc e = { L, arena };
  lua_pushvalue(L, 2);
  Onnx__ModelProto *m = arena_alloc(L, arena, sizeof *m);
  onnx__model_proto__init(m);
  lua_getfield(L, -1, "ir_version");
  m->has_ir_version = 1;
  m->ir_version = lua_isnil(L, -1) ? 8 : enc_int(&e, -1, "ir_version");
  lua_pop(L, 1);
  m->producer_name = enc_field_str(&e, "producer_name", NULL, "model");
  m->producer_version = enc_field_str(&e, "producer_version", NULL, "model");
  m->doc_string = enc_field_str(&e, "doc_string", NULL, "model");
  lua_getfield(L, -1, "opset_import");
  m->n_opset_import = enc_len(&e, -1, "opset_import");
  m->opset_import = arena_alloc(L, arena, m->n_opset_import * sizeof(void *) + 1);
  for (size_t i = 0; i < m->n_opset_import; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    if (!lua_istable(L, -1)) enc_fail(&e, "opset_import", "a list of {domain, version} expected");
    Onnx__OperatorSetIdProto *o = arena_alloc(L, arena, sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = enc_field_str(&e, "domain", "", "opset_import");
    lua_getfield(L, -1, "version");
    o->has_version = 1;
    o->version = enc_int(&e, -1, "opset_import.version");
    lua_pop(L, 2);
    m->opset_import[i] = o;
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "graph");
  if (!lua_istable(L, -1)) enc_fail(&e, "graph", "a table expected");
  Onnx__GraphProto *g = arena_alloc(L, arena, sizeof *g);
  onnx__graph_proto__init(g);
  m->graph = g;
  g->name = enc_field_str(&e, "name", "graph", "graph");
  g->doc_string = enc_field_str(&e, "doc_string", NULL, "graph");
  lua_getfield(L, -1, "node");
  g->n_node = enc_len(&e, -1, "graph.node");
  g->node = arena_alloc(L, arena, g->n_node * sizeof(void *) + 1);
  for (size_t i = 0; i < g->n_node; i++) {
    char w[64];
    snprintf(w, sizeof w, "graph.node[%zu]", i + 1);
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    if (!lua_istable(L, -1)) enc_fail(&e, w, "a node table expected");
    Onnx__NodeProto *n = arena_alloc(L, arena, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = enc_field_str(&e, "op_type", NULL, w);
    if (n->op_type == NULL) enc_fail(&e, w, "op_type expected");
    n->name = enc_field_str(&e, "name", NULL, w);
    n->domain = enc_field_str(&e, "domain", NULL, w);
    n->input = enc_strings(&e, "input", &n->n_input, w);
    n->output = enc_strings(&e, "output", &n->n_output, w);
    enc_attributes(&e, n, w);
    lua_pop(L, 1);
    g->node[i] = n;
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "initializer");
  if (!lua_isnil(L, -1)) {
    g->n_initializer = enc_len(&e, -1, "graph.initializer");
    g->initializer = arena_alloc(L, arena, g->n_initializer * sizeof(void *) + 1);
    for (size_t i = 0; i < g->n_initializer; i++) {
      char w[64];
      snprintf(w, sizeof w, "graph.initializer[%zu]", i + 1);
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      g->initializer[i] = enc_tensor(&e, w);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  g->input = enc_value_infos(&e, "input", &g->n_input);
  g->output = enc_value_infos(&e, "output", &g->n_output);
  g->value_info = enc_value_infos(&e, "value_info", &g->n_value_info);
  int rc = onnx_model_write(path, m);
  if (rc != NN_OK) return luaL_error(L, "%s", nn_errmsg());
  return 0;
}

static const luaL_Reg onnx_funcs[] = {
  {"onnx_read", l_onnx_read},
  {"onnx_decode", l_onnx_decode},
  {"onnx_read_tensor", l_onnx_read_tensor},
  {"onnx_write", l_onnx_write},
  {NULL, NULL}
};

void nn_open_onnx (lua_State *L) {
  luaL_newmetatable(L, MODEL_BOX_MT);
  lua_pushcfunction(L, model_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, TENSOR_BOX_MT);
  lua_pushcfunction(L, tensor_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, BYTES_BOX_MT);
  lua_pushcfunction(L, bytes_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, ARENA_MT);
  lua_pushcfunction(L, arena_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_setfuncs(L, onnx_funcs, 0);
}
