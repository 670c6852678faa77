/*
** bindings.h -- what the Lua binding files of vm/ share.
**
** vm/ is thin glue: one metatable per userdata type, argument checks and
** conversions.  It turns the tensor library's error codes into Lua errors
** that name the argument, as `bad argument #2 to 'matmul' (inner dimensions
** differ: [3x4] @ [5x5])`.
*/
#ifndef NN_BINDINGS_H
#define NN_BINDINGS_H

#include <lua.h>
#include <lauxlib.h>
#include "tensor.h"

#define TENSOR_MT "nn.Tensor"   /* registry key, and the __name in type errors */

/* The userdata that Lua holds: one reference to a tensor; NULL after __gc
** (or while a constructor has not filled it yet), and an empty box is fine. */
typedef struct TensorBox { nn_tensor *t; } TensorBox;

/* The float32 tensor at stack index arg: what every op that does arithmetic
** takes.  Raises "bad argument #arg (nn.Tensor expected, got X)" for
** another value, and "(float32 tensor expected, got int32 tensor [3]:
** convert with :float())" for an int32 one. */
nn_tensor *checktensor (lua_State *L, int arg);
/* The tensor at arg, of either dtype: for what only moves, compares or
** indexes elements (shape, views, copies, printing, index arguments). */
nn_tensor *checktensor_any (lua_State *L, int arg);
/* The tensor at arg, or NULL if the value there is not a tensor. */
nn_tensor *totensor (lua_State *L, int arg);
/* The type name of the value at arg for a message: "freed tensor" for a
** tensor box already freed (which totensor also gives as NULL), else
** luaL_typename's. */
const char *tensor_typename (lua_State *L, int arg);
/* A method called with a dot, a Python habit: t.sum(), layer.forward(x),
** loss.forward(y, t).  When arg is 1, the value there is not a `tname`
** userdata, the running C function is the method `name` of tname's
** metatable's `methods` table, and the call was not written with a colon,
** raises "bad argument #1 to 'name' (tname expected, got T; a method takes
** a colon: var:name(...))".  Otherwise it returns, and the caller's own
** check gives Lua's usual message (with a colon, Lua's "calling 'name' on
** bad self").  So nn.exp(x), the same C function called as a plain
** function with a tensor, is fine, and only a missing or foreign first
** argument gets the hint.  Called by nn_checkudata, on its error path only. */
void nn_check_self (lua_State *L, int arg, const char *tname, const char *var);
/* The `tname` userdata at arg, as luaL_checkudata; when it is not one, and
** arg is 1, the dot-call hint of nn_check_self first.  The checkers of
** tensors, layers and losses take their boxes through it, so a good
** argument costs one metatable test, as with luaL_checkudata alone. */
void *nn_checkudata (lua_State *L, int arg, const char *tname, const char *var);
/* Push a new empty box; fill box->t afterwards.  If filling fails, raising
** is safe: the GC collects the empty box. */
TensorBox *newbox (lua_State *L);
/* A new tensor of `shape` on `dev`, pushed on the stack (its bytes told to
** the collector); raises on failure. */
nn_tensor *nn_push_new (lua_State *L, nn_device dev, int ndim, const int64_t *shape);
/* Push t, taking over one reference the caller holds. */
void pushtensor (lua_State *L, nn_tensor *t);
/* The device named at arg: 'cpu' or 'cuda' (raises "invalid option" else). */
nn_device nn_checkdevice (lua_State *L, int arg);
/* Tell the collector that C memory of `bytes` now hangs on a Lua value, so
** that it paces itself by the floats and not only by the small boxes (see
** l_tensor.c).  Layers call it for their parameters and buffers. */
void nn_gc_account (lua_State *L, size_t bytes);
/* What one tensor costs in C besides its floats (its struct and its
** storage's, with malloc's headers): what a new box reports at least. */
#define NN_GC_TENSOR_BYTES (sizeof(nn_tensor) + sizeof(nn_storage) + 32)
/* Raise the library's last error: for NN_ESHAPE, NN_EARG and NN_EDEVICE as a
** bad argument #arg (when arg > 0), else as a plain error.  Never returns. */
int nn_raise (lua_State *L, int arg, int rc);
/* Raise the library's last error, blaming the Lua argument that plays the
** role the C side recorded with it (nn_seterr_arg): the arguments follow as
** pairs (role, Lua argument), ended by -1.  An error with no role, or with
** one the pairs do not name, blames `dflt` (0: a plain error).  For
** example out:mm(a, b), whose C call is tensor_matmul(out, a, b):
**   nn_raise_by_role(L, rc, 3, NN_ROLE_OUT, 1, NN_ROLE_INPUT, 2,
**                    NN_ROLE_INPUT + 1, 3, -1)
** Never returns. */
int nn_raise_by_role (lua_State *L, int rc, int dflt, ...);

/* The file path at arg: a string (raises "string expected" otherwise) with
** no NUL byte in it, which C would silently cut the path at (raises "bad
** argument #arg (the path holds a NUL byte at byte n)").  Every binding
** that hands a path to io/ takes it through here. */
const char *nn_checkpath (lua_State *L, int arg);

/* Options come as a table, `nn.Linear(3, 2, {bias = false})`.  A key that
** is not in `keys` (NULL-ended) raises, naming `who` and the known keys, so
** a typo does not pass unseen; nil at arg is no options.  nn_opt_number and
** nn_opt_boolean read opts[key], or dflt when opts or the key is absent, and
** raise when the value has another type. */
void nn_check_keys (lua_State *L, int arg, const char *who, const char *const keys[]);
double nn_opt_number (lua_State *L, int arg, const char *key, double dflt);
int nn_opt_boolean (lua_State *L, int arg, const char *key, int dflt);

/* The C core of `require 'nn'`: tensors, random numbers, CUDA queries. */
int luaopen_nn_core (lua_State *L);
/* Registers the tensor metatable and adds the tensor functions to the table
** on top of the stack (nn.core); called by luaopen_nn_core. */
void nn_open_tensor (lua_State *L);
/* Register the layer (nn.Module) and loss (nn.Criterion) metatables and add
** their constructors, nn.Linear ... nn.MSELoss ..., to the table on top. */
void nn_open_module (lua_State *L);
void nn_open_criterion (lua_State *L);
/* Each adds its functions to the table on top of the stack (nn.core):
**   nn_open_optim   (l_optim.c):   the fused optimizer updates of nn/optim.c
**   nn_open_data    (l_data.c):    IDX files, gather and shuffle for batches
**   nn_open_io      (l_io.c):      safetensors checkpoints, JSON, images
**   nn_open_metrics (l_metrics.c): accuracies, confusion matrix
** (the fused Softmax + cross-entropy gradient is the CrossEntropyLoss's, in
** nn/loss_classification.c; nn.F.softmax_cross_entropy_backward in
** l_criterion.c gives it from probabilities) */
void nn_open_optim (lua_State *L);
void nn_open_data (lua_State *L);
void nn_open_io (lua_State *L);
/* nn_open_onnx (l_onnx.c): onnx_read, onnx_decode, onnx_read_tensor,
** onnx_write: ONNX files as plain Lua tables (lua/nn/onnx.lua uses them) */
void nn_open_onnx (lua_State *L);
void nn_open_metrics (lua_State *L);
/* nn_open_functional (l_functional.c): the layers' pure pairs as nn.core.functional */
void nn_open_functional (lua_State *L);
/* nn_open_tensor_index (l_tensor_index.c): gather, scatter_add, index_add,
** sort, topk, multinomial, bernoulli, as nn.core functions and tensor
** methods.  nn_check_target: the class-target tensor at arg, float32; an
** int32 one is converted to a float32 copy that replaces it at arg (exact
** for class indices up to 2^24 = 16777216), for the losses and metrics. */
void nn_open_tensor_index (lua_State *L);
nn_tensor *nn_check_target (lua_State *L, int arg);
/* nn_open_tensor_math (l_tensor_math.c): broadcast binary ops, comparisons and
** masks, where, more unary math, sum_to_size, the operators ^ // %: as tensor
** methods and in the table on top (nn.core).  Called after nn_open_tensor.
** nn_tensor_binary: a (op) b for t:add(b), t:add_(b) (inplace), a + b ...,
** with b a tensor that broadcasts with a, or a number. */
void nn_open_tensor_math (lua_State *L);
int nn_tensor_binary (lua_State *L, nn_binop op, int inplace);
/* nn_open_tensor_linalg (l_tensor_linalg.c): bmm, outer, norm, prod, cumsum,
** logsumexp, softmax, log_softmax as tensor methods and in the table on top */
void nn_open_tensor_linalg (lua_State *L);
/* a:matmul(b [, trans_a [, trans_b]]) with its arguments at 1..4 (l_tensor.c;
** nn.bmm checks its own rules, then calls it). */
int nn_tensor_matmul (lua_State *L);
/* nn_open_tensor_shape (l_tensor_shape.c): the shape ops as tensor methods
** and in nn.core (transpose, permute, t, squeeze, ..., tril, triu), and
** nn.cat, nn.stack; after nn_open_tensor. */
void nn_open_tensor_shape (lua_State *L);

#endif
