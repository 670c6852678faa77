/*
** tensor.h -- the nnlua tensor library: float32, row-major, contiguous.
**
** A plain C library: it knows nothing of Lua.  Every function that can fail
** on user input returns NN_OK or an error code and leaves the reason in
** nn_errmsg(); nothing here ends the process on user input.
**
** Ownership, in one paragraph.  An nn_storage is a block of floats on one
** device, reference counted.  An nn_tensor is a shape over a storage at an
** offset (so views share the block), and is itself reference counted, so
** that a layer and a Lua variable can hold the very same tensor: when the
** layer resizes its buffer, the Lua variable sees the new shape.  Create with
** tensor_new*() (refcount 1), share with tensor_retain(), drop with
** tensor_release(); the last release frees.
**
** Conventions: outputs first, then inputs, then sizes (as llm.c and THNN).
** Outputs are preallocated by the caller and may alias an input where a
** function says so.  Dimensions and indices are 0-based here; the Lua
** bindings present them 1-based, as Torch7 did.
*/
#ifndef NN_TENSOR_H
#define NN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAXDIM 5

typedef enum nn_device { NN_CPU = 0, NN_CUDA = 1 } nn_device;

/* The element types.  Both are 4 bytes, so a block holds the same number of
** elements of either, and nn_storage counts elements, not bytes.
**   NN_F32  float32: what every math op and every layer takes.
**   NN_I32  int32: indices (argmax, sort, topk, gather), class targets and
**           token ids, exact up to 2^31 - 1 = 2,147,483,647, where float32
**           is exact only up to 2^24 = 16,777,216.  (PyTorch's indices are
**           int64; nnlua's int32 is its documented limit: an index op on a
**           dim longer than 2^31 - 1 is refused.)  Ops that only move,
**           compare or index elements take it; the others refuse it with
**           tensor_check_float's error. */
typedef enum nn_dtype { NN_F32 = 0, NN_I32 = 1 } nn_dtype;

/* error codes; the message is in nn_errmsg() */
enum {
  NN_OK = 0,
  NN_ESHAPE,    /* shapes do not fit together */
  NN_EDEVICE,   /* wrong device, or the device is not available */
  NN_EARG,      /* a bad value: negative size, dim out of range, ... */
  NN_ENOMEM,    /* host or device allocation failed */
  NN_ECUDA,     /* the CUDA runtime or cuBLAS reported an error */
  NN_EIO,       /* a file could not be opened, read, written or renamed */
  NN_EFORMAT    /* a file is not what it claims: bad magic, truncated, corrupt */
};

typedef struct nn_storage {
  float *data;        /* host pointer (NN_CPU) or device pointer (NN_CUDA) */
  size_t numel;       /* capacity in floats */
  int refcount;
  nn_device device;
} nn_storage;

typedef struct nn_tensor {
  nn_storage *storage;
  size_t offset;               /* in floats, from storage->data */
  int ndim;                    /* 0 .. NN_MAXDIM; 0 is a scalar of one element */
  int64_t shape[NN_MAXDIM];
  int64_t numel;               /* product of shape (1 when ndim == 0) */
  int refcount;
  int fixed;                   /* its shape is fixed: tensor_resize refuses to
                                  change it (a layer's parameter or buffer) */
  int view;                    /* it shares a block made for another tensor
                                  (tensor_view, _narrow, _alias): it never grows
                                  within that block, into its parent's elements */
  nn_dtype dtype;              /* NN_F32 unless made otherwise (tensor_new_dtype) */
} nn_tensor;

/* --- errors ------------------------------------------------------------- */

/* The message of the last error on this thread.  Valid until the next error. */
const char *nn_errmsg (void);
/* Record an error (printf-style) and return its code, so a caller can write
** `return nn_seterr(NN_ESHAPE, "...", ...)`. */
int nn_seterr (int code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

/* Which argument an error blames, by the role it plays in the C call.  The
** bindings turn the role into `bad argument #n to 'f'` for the Lua argument
** that plays it (nn_raise_by_role in vm/bindings.h), so no binding has to
** read the message to know whom to blame.  NN_ROLE_INPUT + k is the k-th
** input, from 0: x (or a), then b, ...; a layer of several inputs counts
** them the same way. */
enum {
  NN_ROLE_NONE = 0,   /* no argument: memory, CUDA, a file, or not known */
  NN_ROLE_OUT,        /* a preallocated output */
  NN_ROLE_TARGET,     /* a loss's target */
  NN_ROLE_GRAD_OUT,   /* dL/dy given to a backward */
  NN_ROLE_INDEX,      /* an index or a dim */
  NN_ROLE_INPUT       /* + k: the k-th input */
};
/* nn_seterr, blaming the argument that plays `role`. */
int nn_seterr_arg (int code, int role, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;
/* The role the last error blames (NN_ROLE_NONE after a plain nn_seterr). */
int nn_errrole (void);
/* Blame `role` for the last error, whose message stays; returns code, for
** `return nn_blame(rc, NN_ROLE_OUT)` after a helper reported it. */
int nn_blame (int code, int role);

/* --- sizes: checked arithmetic on user numbers ---------------------------
** Every size, offset, count and product that comes from a user's number is
** computed with these, so that nothing wraps around (signed overflow is
** undefined behaviour in C) and no huge size reaches an allocator. */

/* The most elements a tensor may have, and so the largest size of a dim:
** 2^40 floats, 4 TiB.  Larger shapes are refused with NN_EARG. */
#define NN_MAX_NUMEL (INT64_C(1) << 40)
/* *r = a + b, *r = a * b; NN_EARG ("size arithmetic overflows int64") when
** the exact result does not fit an int64_t (*r is then unchanged). */
int nn_size_add (int64_t *r, int64_t a, int64_t b);
int nn_size_mul (int64_t *r, int64_t a, int64_t b);
/* *numel = the product of shape[0 .. ndim-1] (1 for ndim 0).  Errors: NN_EARG
** for ndim outside 0..5, a negative size, or a product (or a single size)
** above NN_MAX_NUMEL; the message names the size ("size 2 ..."). */
int nn_shape_numel (int64_t *numel, int ndim, const int64_t *shape);
/* A double (a Lua number) as a whole number in lo..hi.  Errors: NN_EARG for
** inf, -inf, nan, a fraction or a value outside lo..hi, the message
** starting with `what` ("arange: the element count ..."). */
int nn_double_to_int (int64_t *r, double v, int64_t lo, int64_t hi, const char *what);

/* "[64x784]": a shape as text, in a struct so that no malloc is needed. */
typedef struct nn_shapestr { char s[96]; } nn_shapestr;
nn_shapestr shape_str (const nn_tensor *t);
const char *device_name (nn_device d);   /* "cpu" or "cuda" */
const char *dtype_name (nn_dtype d);     /* "float32" or "int32" */
/* NN_OK when t is float32; else NN_EARG blaming `role`: "<op> takes float32
** tensors, got int32 (convert with :float())".  Every op that does
** arithmetic on its elements calls it first. */
int tensor_check_float (const nn_tensor *t, int role, const char *op);

/* --- life cycle ---------------------------------------------------------- */

/* A new tensor of the given shape on a device, contents uninitialised.
** *out is NULL on error.  Errors: NN_EARG (ndim > 5, negative size),
** NN_ENOMEM, NN_EDEVICE (CUDA requested but not available). */
int tensor_new (nn_tensor **out, nn_device device, int ndim, const int64_t *shape);
/* tensor_new with an element type (tensor_new makes NN_F32). */
int tensor_new_dtype (nn_tensor **out, nn_device device, nn_dtype dtype, int ndim,
                      const int64_t *shape);
/* A new tensor with the shape, device and dtype of `like`. */
int tensor_new_like (nn_tensor **out, const nn_tensor *like);
/* A tensor of shape (0) on the default device: a buffer that a layer or a
** loss resizes on its first pass. */
int tensor_new_empty (nn_tensor **out);
nn_tensor *tensor_retain (nn_tensor *t);
void tensor_release (nn_tensor *t);           /* NULL is fine */

/* Give t a new shape in place.  Keeps the storage when it is large enough
** (views of t then see what is written next, as in Torch7); otherwise
** allocates a new one (contents then undefined) and views keep the old.
** This is how layers reuse their buffers.  A view (t->view) keeps its block
** only while it does not grow beyond its own elements: a one-row view never
** grows into its parent's other rows.  Errors: NN_EARG (a bad shape; or t is
** fixed, tensor_fix_shape, and the shape would change: "a layer's parameter
** or buffer cannot be resized"), NN_ENOMEM. */
int tensor_resize (nn_tensor *t, int ndim, const int64_t *shape);
/* Fix t's shape: tensor_resize and tensor_alias then refuse to change it
** (its values may still change; tensor_move may still move it).  A layer
** marks its parameters, their gradients and its persistent buffers so that
** no `out` argument from outside can reshape or reallocate them. */
void tensor_fix_shape (nn_tensor *t);

/* First float of t: storage->data + offset.  On CUDA a device pointer. */
static inline float *tensor_data (const nn_tensor *t) {
  return t->storage->data + t->offset;
}
/* The same address for an NN_I32 tensor (elements are 4 bytes either way). */
static inline int32_t *tensor_data_i32 (const nn_tensor *t) {
  return (int32_t *)(void *)(t->storage->data + t->offset);
}

/* --- views (share storage) and copies ------------------------------------ */

/* A view of t with another shape and the same numel.  One entry of shape may
** be -1: it is inferred.  Errors: NN_ESHAPE. */
int tensor_view (nn_tensor **out, nn_tensor *t, int ndim, const int64_t *shape);
/* Make t, in place, a view of src with another shape of the same numel:
** t drops its own storage and shares src's (so a tensor that Lua holds, a
** layer's output, can follow its input without a new struct).
** t becomes a view (t->view): a later resize that grows it gets a block of
** its own.  Errors: NN_ESHAPE (numel differs), NN_EARG (ndim > 5; t fixed
** by tensor_fix_shape and the shape or block would change). */
int tensor_alias (nn_tensor *t, const nn_tensor *src, int ndim, const int64_t *shape);
/* Rows [start, start + length) of t along dim 0, as a view.  Errors: NN_EARG
** (any start and length, even near INT64_MAX, are checked without overflow),
** blaming NN_ROLE_INDEX. */
int tensor_narrow (nn_tensor **out, nn_tensor *t, int64_t start, int64_t length);
/* dst = src, element by element; same numel, any devices (this is how data
** moves between host and GPU) and any dtypes: int32 to float32 rounds above
** 2^24 as any int-to-float conversion; float32 to int32 truncates toward
** zero (as C and PyTorch), and a nan, an inf or a value outside int32's
** range is refused rather than turned into an arbitrary integer
** (NN_EARG "element 7 is nan: it has no int32 value"; dst is then partly
** written).  Errors: NN_ESHAPE, NN_EARG, NN_ECUDA, NN_ENOMEM. */
int tensor_copy (nn_tensor *dst, const nn_tensor *src);
/* A new tensor on `device` holding a copy of t, of t's dtype. */
int tensor_to (nn_tensor **out, const nn_tensor *t, nn_device device);
/* Move t itself to `device`, in place: a new block there holding t's
** values, and t drops the old one (as PyTorch's module.to() replaces
** param.data).  Whoever holds t (a layer, a Lua variable) sees it moved;
** a view of t made before keeps the old block.  Nothing happens when t is
** there already.  Errors: NN_EDEVICE, NN_ENOMEM, NN_ECUDA; t is unchanged. */
int tensor_move (nn_tensor *t, nn_device device);
/* The device that new tensors and layers go on when none is named: the
** CPU, until tensor_set_default_device (nn.set_default_device).  Errors:
** NN_EDEVICE (CUDA is not available: <reason>). */
nn_device tensor_default_device (void);
int tensor_set_default_device (nn_device device);
/* Element i (flat, 0-based) as a float, and the reverse; for debugging and
** printing.  On CUDA each call is a device copy. */
int tensor_get (float *value, const nn_tensor *t, int64_t i);
int tensor_set (nn_tensor *t, int64_t i, float value);
/* The same for either dtype, as a double: exact for every int32 and every
** float32.  tensor_set_number stores a float32 rounded, and an int32 only
** when value is a whole number in int32's range (NN_EARG otherwise). */
int tensor_get_number (double *value, const nn_tensor *t, int64_t i);
int tensor_set_number (nn_tensor *t, int64_t i, double value);

/* --- filling ------------------------------------------------------------- */

/* Every element = value: a float32 rounded; an int32 only when value is a
** whole number in int32's range (NN_EARG otherwise). */
int tensor_fill (nn_tensor *t, double value);
/* t[i] = start + i * step */
int tensor_arange (nn_tensor *t, double start, double step);

/* --- random numbers ------------------------------------------------------
** One framework-wide generator: Philox4x32-10 (Salmon, Moraes, Dror & Shaw,
** "Parallel random numbers: as easy as 1, 2, 3", SC'11).  The key is the
** seed; the counter is a block index that advances by ceil(numel / 4) per
** call, and element i of a call takes lane i % 4 of block (offset + i / 4),
** so any device can produce the same numbers in parallel. */
void nn_manual_seed (uint64_t seed);
void nn_rng_get_state (uint64_t *seed, uint64_t *offset);
void nn_rng_set_state (uint64_t seed, uint64_t offset);
/* Reserve `blocks` Philox blocks and return the first block index. */
uint64_t nn_rng_reserve (uint64_t blocks);
/* Uniform in [lo, hi); normal with mean and std (Box-Muller). */
int tensor_uniform (nn_tensor *t, float lo, float hi);
int tensor_normal (nn_tensor *t, float mean, float std);

/* --- element-wise math ----------------------------------------------------
** The per-element formulas live in elementwise.h, shared by both backends.
**
** Broadcasting (NumPy's rules, as PyTorch): the shapes of two (or three)
** operands are aligned from the right; a missing leading dim counts as size
** 1, and a dim of size 1 stretches to the other's size.  (3x1) with (1x4)
** gives (3x4); (2) with (3x2) gives (3x2); (3x2) with (4) is an error.  A
** dim that stretches is read with a stride of 0: nothing is copied. */
typedef enum nn_binop {
  NN_ADD, NN_SUB, NN_MUL, NN_DIV,
  NN_RSUB, NN_RDIV,     /* b - a, b / a: for `2 - t` and `2 / t` */
  NN_POWER, NN_RPOWER,  /* a ^ b, b ^ a */
  NN_FLOOR_DIVIDE, NN_RFLOOR_DIVIDE,   /* floor(a / b), floor(b / a) as PyTorch */
  NN_REMAINDER, NN_RREMAINDER,         /* a mod b (sign of b), b mod a */
  NN_MAXIMUM, NN_MINIMUM,              /* element-wise max / min; nan propagates */
  NN_BINOP_COUNT
} nn_binop;

typedef enum nn_unop {
  NN_NEG, NN_EXP, NN_LOG, NN_SQRT, NN_ABS,
  NN_RELU, NN_SIGMOID, NN_TANH,
  NN_POW,               /* x ^ p */
  NN_CLAMP,             /* min(max(x, p), q) */
  NN_LEAKY_RELU,        /* x > 0 ? x : p * x */
  NN_STEP,              /* x >= p ? q : 0: a step of height q at p (Dropout's mask) */
  NN_SIN, NN_COS, NN_ERF, NN_RSQRT,    /* rsqrt(x) = 1 / sqrt(x) */
  NN_FLOOR, NN_ROUND,   /* round: half to even, as PyTorch (rintf) */
  NN_SIGN,              /* -1, 0 or 1; sign(nan) = nan */
  NN_ISNAN, NN_ISINF,   /* 1 or 0 (a float32 mask) */
  NN_UNOP_COUNT
} nn_unop;

/* Comparisons: out = (a op b) as 1.0 or 0.0, a float32 mask (PyTorch gives
** bool).  nan compares false, except NE, true. */
typedef enum nn_cmpop { NN_EQ, NN_NE, NN_LT, NN_LE, NN_GT, NN_GE, NN_CMPOP_COUNT } nn_cmpop;

const char *binop_name (nn_binop op);   /* "add", ... as the Lua methods */
const char *unop_name (nn_unop op);
const char *cmpop_name (nn_cmpop op);   /* "eq", ... */

/* The broadcast shape of a and b (NumPy's rules, above) into *ndim and
** shape[NN_MAXDIM].  Errors: NN_ESHAPE blaming NN_ROLE_INPUT + 1: "shapes
** [3x2] and [4] do not broadcast: dim 2 has 2 and 4" (the dim counted from 1
** in the broadcast shape); NN_EARG when the broadcast shape would have more
** than NN_MAX_NUMEL (2^40) elements. */
int tensor_broadcast_shape (int *ndim, int64_t *shape, const nn_tensor *a, const nn_tensor *b);

/* out = a (op) b, broadcast.  out has the broadcast shape of a and b; it
** may be a, or b, when that one has the broadcast shape itself (in place:
** a:add_(b) needs the broadcast shape to be a's), and must otherwise share
** no memory with them.  A bias row, b of shape (N) or (1,N) against a's
** (..., N), is the broadcast the layers run: it takes a loop of its own.
** Errors: NN_ESHAPE (shapes that do not broadcast; out's shape), NN_EDEVICE,
** NN_EARG (an int32 operand; out overlapping an input). */
int tensor_binary (nn_tensor *out, const nn_tensor *a, const nn_tensor *b, nn_binop op);
/* out = a (op) s.  out may be a. */
int tensor_binary_scalar (nn_tensor *out, const nn_tensor *a, float s, nn_binop op);
/* out = f(a; p, q).  out may be a. */
int tensor_unary (nn_tensor *out, const nn_tensor *a, nn_unop op, float p, float q);
/* The backward of an activation: grad_in = grad_out * f'(.), element-wise.
** `saved` is what f' is cheapest from: the input x for NN_RELU and
** NN_LEAKY_RELU (p = slope), the output y = f(x) for NN_SIGMOID and NN_TANH.
** All three have one shape; grad_in may alias grad_out.  Errors: NN_ESHAPE,
** NN_EDEVICE, NN_EARG (an op with no backward here). */
int tensor_unary_backward (nn_tensor *grad_in, const nn_tensor *grad_out,
                           const nn_tensor *saved, nn_unop op, float p);

/* out = (a op b) as 1.0 / 0.0, broadcast; out float32 of the broadcast
** shape.  a and b may be float32 or int32: each element is compared as a
** double, which holds every value of both exactly.  out must share no
** memory with a or b unless it is one of them of the same shape.  Errors as
** tensor_binary's (int32 is accepted). */
int tensor_compare (nn_tensor *out, const nn_tensor *a, const nn_tensor *b, nn_cmpop op);
/* out = (a op s); a float32 or int32, compared as a double with s (a float32
** a compares with s rounded to float32 first, as PyTorch: t:eq(0.1) finds
** the elements that hold 0.1's float32).  out of a's shape. */
int tensor_compare_scalar (nn_tensor *out, const nn_tensor *a, double s, nn_cmpop op);
/* out = cond != 0 ? a : b, element-wise, the three broadcast together.
** cond float32 or int32 (nan counts as nonzero); a and b float32, or NULL to
** stand for the numbers sa and sb.  out float32 of the broadcast shape; it
** may be a or b when that one has that shape (masked_fill_), else shares no
** memory with the inputs.  Errors as tensor_binary's, blaming NN_ROLE_INPUT
** (cond), NN_ROLE_INPUT + 1 (a) or + 2 (b). */
int tensor_where (nn_tensor *out, const nn_tensor *cond, const nn_tensor *a, float sa,
                  const nn_tensor *b, float sb);
/* Is any (all == 0) or every (all == 1) element of a nonzero?  a float32
** or int32; nan counts as nonzero, as PyTorch.  any of an empty tensor is
** 0, all is 1. */
int tensor_any_all (int *result, const nn_tensor *a, int all);
/* The same along dim d: out (a's shape without d, as tensor_reduce_dim's)
** holds 1.0 or 0.0.  Errors: NN_EARG (d out of range), NN_ESHAPE (out). */
int tensor_any_all_dim (nn_tensor *out, const nn_tensor *a, int d, int all);
/* out = a summed down to out's shape: the reverse of broadcasting out's
** shape to a's, what the backward of a broadcast op gives its smaller
** operand (PyTorch's sum_to_size).  out's shape must broadcast to exactly
** a's shape; each of its elements is the sum, in double, of the elements of
** a that it was stretched over.  out shares no memory with a.  Errors:
** NN_ESHAPE ("[2x3] does not broadcast to [4x3]"), NN_EDEVICE, NN_EARG. */
int tensor_sum_to_size (nn_tensor *out, const nn_tensor *a);

/* --- reductions ---------------------------------------------------------- */
typedef enum nn_redop { NN_SUM, NN_MEAN, NN_MAX, NN_MIN, NN_ARGMAX, NN_ARGMIN, NN_REDOP_COUNT } nn_redop;
const char *redop_name (nn_redop op);

/* Over all elements.  Sums accumulate in double.  For ARGMAX/ARGMIN the
** result is the 0-based flat index of the first extreme (a double: exact at
** any size); nan is skipped unless every value is nan, and then it is 0.  Errors: NN_EARG
** (MAX/MIN/ARG* of an empty tensor). */
int tensor_reduce_all (double *result, const nn_tensor *a, nn_redop op);
/* *finite = 1 when no element of a is NaN, +Inf or -Inf, else 0 (int32
** tensors are always finite): the check model:train{stop_on_nan} runs on
** every activation and gradient of every batch, so it is a pass over memory
** and nothing more.  CPU: the exponent bits tested with integer ORs (which
** vectorise, unlike a float compare chain), over the OpenMP threads; CUDA:
** the sum in double, finite exactly when every element is (float32 values
** cannot overflow a double sum).  Errors: NN_ECUDA. */
int tensor_all_finite (int *finite, const nn_tensor *a);
/* Along dim d: out has a's shape without d (its numel is a's / shape[d]).
** For ARGMAX/ARGMIN out is an int32 tensor (NN_EARG, blaming NN_ROLE_OUT,
** otherwise) and gets 0-based indices; a dim longer than 2^31 - 1
** (2147483647) elements is refused (NN_EARG, blaming NN_ROLE_INDEX).  For
** the others out is float32.  A nan is skipped unless all are nan; then
** the answer is the first index, 0. */
int tensor_reduce_dim (nn_tensor *out, const nn_tensor *a, int d, nn_redop op);
/* Population variance over all elements (divides by n), in double. */
int tensor_var_all (double *result, const nn_tensor *a);

/* --- matrix multiply -----------------------------------------------------
** out = alpha * op(a) @ op(b) + beta * out, op(x) = x or x^T (a flag, never a
** copy), as torch.matmul (with its alpha and beta, as torch.baddbmm):
**   2-D @ 2-D   op(a): (M,K), op(b): (K,N), out: (M,N).
**   batched     a: (..., M, K), b: (..., K, N), 3 to 5 dims on either side
**               (or 2: one matrix for every batch entry); op() transposes
**               the last two dims.  The leading (batch) dims broadcast by
**               NumPy's rules, aligned from the right: sizes equal, or one of
**               them 1 (or absent), e.g. (2,1,3,4) @ (5,4,6) -> (2,5,3,6).
**               out: (batch..., M, N).  A broadcast dim is read with a
**               stride of 0, never copied.
**   1-D         as torch.matmul: a 1-D a (K) is a row (1,K) and b's 1-D a
**               column (K,1), whose size-1 dim is dropped from the result:
**               (K) @ (K) -> 0-dim (the dot product), (M,K) @ (K) -> (M),
**               (K) @ (..., K, N) -> (..., N), (..., M, K) @ (K) -> (..., M).
**               A 1-D operand takes no transpose flag.
** All float32, on one device.  2-D: cblas_sgemm (sgemv for one row) on the
** CPU, cublasSgemm on the GPU.  Batched: one cblas_sgemm per matrix (in
** parallel over the batch with OpenMP when the matrices are small), and
** cublasSgemmStridedBatched (one call per run of uniform strides).
** out may share memory with a or b (the product goes through a copy then).
** Errors: NN_ESHAPE ("inner dimensions differ: [3x4] @ [5x5]", blaming b;
** "batch dims do not broadcast: [2x3x4x5] @ [3x5x2]"; "matmul needs tensors
** of 1 to 5 dims ..."; the output's shape, blaming out), NN_EARG (a
** transpose flag on a 1-D operand; a size past the BLAS's 32-bit int),
** NN_EDEVICE, NN_ECUDA, NN_ENOMEM. */
int tensor_matmul (nn_tensor *out, const nn_tensor *a, const nn_tensor *b,
                   int trans_a, int trans_b, float alpha, float beta);
/* The shape of tensor_matmul's result (*ndim dims into shape[NN_MAXDIM]),
** for a binding to allocate out; the same errors as tensor_matmul's for
** shapes and flags (a and b blamed as NN_ROLE_INPUT, NN_ROLE_INPUT + 1). */
int tensor_matmul_shape (int *ndim, int64_t *shape, const nn_tensor *a, const nn_tensor *b,
                         int trans_a, int trans_b);

/* --- more math: outer products, norms, products, logsumexp, cumsum, softmax
** (reduce_ext.c, cuda_reduce_ext.cu; the one-line formulas in reduce_ext.h).
** Float32 only.  A dim d is 0-based, or negative from the end (-1: last);
** a tensor is seen about d as (outer, n, inner), as tensor_reduce_dim sees
** it: a reduction's out has outer * inner elements (a's shape without d, or
** with it as 1: keepdim is the caller's view), a scan's or a softmax's has
** a's shape.  Sums and products run in double, one rounding at the end.
** Common errors: NN_EARG (int32; dim out of range, blaming NN_ROLE_INDEX;
** out over the input), NN_ESHAPE (out's shape), NN_EDEVICE, NN_ECUDA. */

/* out (M,N) = a (M) b (N)^T, out_ij = a_i b_j (torch.outer): a GEMM with
** K = 1.  Errors: NN_ESHAPE (a or b not 1-D, blaming it). */
int tensor_outer (nn_tensor *out, const nn_tensor *a, const nn_tensor *b);
/* The p-norm ||x||_p = (\sum |x_i|^p)^{1/p} of all elements (*result) or of
** each line along d (out), as torch.norm: p = 2 (Euclid), 1, inf (the
** largest |x_i|) or any p > 0.  p = 1, 2 sum in double; other p scale by
** the largest |x_i| first, so nothing overflows before the result does.
** An empty tensor or line has norm 0; a nan gives nan.  Errors: NN_EARG
** (p <= 0 or nan: "norm: p must be > 0 ..."). */
int tensor_norm_all (double *result, const nn_tensor *a, double p);
int tensor_norm_dim (nn_tensor *out, const nn_tensor *a, int d, double p);
/* The product of all elements, or of each line along d (torch.prod), in
** double; the empty product is 1. */
int tensor_prod_all (double *result, const nn_tensor *a);
int tensor_prod_dim (nn_tensor *out, const nn_tensor *a, int d);
/* log \sum_k e^{x_k} of each line along d (torch.logsumexp), shifted by
** the line's max so that no e^x overflows: large inputs are exact; a line
** of -inf, or an empty one, gives -inf; a +inf gives inf; a nan nan. */
int tensor_logsumexp_dim (nn_tensor *out, const nn_tensor *a, int d);
/* out_k = \sum_{i <= k} a_i along d (torch.cumsum), accumulated in double.
** out has a's shape; it may be a (in place). */
int tensor_cumsum (nn_tensor *out, const nn_tensor *a, int d);
/* softmax (log = 0) or log-softmax (log = 1) along d (torch.softmax,
** torch.log_softmax): the Softmax layer's max-shifted formulas (nn/softmax.c)
** on any dim.  A line of -inf, or holding +inf or nan, is nan, as PyTorch.
** out has a's shape; it may be a (in place). */
int tensor_softmax (nn_tensor *out, const nn_tensor *a, int d, int log);

/* --- shape: transposes, joins, splits, masks by position (tensor/shape.c) --
** Tensors have no strides, so an op whose result is not a contiguous piece
** of its input is a copy: transpose, permute, expand, tile, cat, stack,
** narrow and select along any dim but the first, tril and triu.  Every such
** copy is one strided copy (backend.h): on the CPU cache-blocked where two
** dims trade places (tiles of 32x32, OpenMP over tiles), on CUDA the shared
** memory transpose of a 32x33 tile.  The views (squeeze, unsqueeze, flatten,
** narrow and select along dim 0) share x's storage.  Every function takes
** either dtype and gives its result x's dtype, on x's device; *out is NULL
** on error.  Dims are 0-based; the errors blame NN_ROLE_INDEX for a dim or
** an index, NN_ROLE_INPUT + k for the k-th tensor of a list. */

/* out = x with its dims reordered: out's dim i is x's dim perm[i]; a copy.
** x: n dims, perm a permutation of 0..n-1.  As torch.permute followed by
** .contiguous().  Errors: NN_EARG (n is not x's ndim, a dim out of range
** or repeated). */
int tensor_permute (nn_tensor **out, const nn_tensor *x, int n, const int *perm);
/* out = x with dims d1 and d2 swapped (a permute); a copy.  Errors: NN_EARG. */
int tensor_transpose (nn_tensor **out, const nn_tensor *x, int d1, int d2);
/* Views.  squeeze: x without dim `dim` when its size is 1 (else x's shape),
** or without every size-1 dim when dim is -1.  unsqueeze: a size-1 dim
** inserted before dim `dim` (0..ndim).  flatten: dims start..end merged into
** one.  Errors: NN_EARG (a dim out of range; unsqueeze of a 5-dim tensor). */
int tensor_squeeze (nn_tensor **out, nn_tensor *x, int dim);
int tensor_unsqueeze (nn_tensor **out, nn_tensor *x, int dim);
int tensor_flatten (nn_tensor **out, nn_tensor *x, int start, int end);
/* out (shape) = x broadcast to `shape`, by NumPy's rules: x's dims align
** with the last ones of shape; a size-1 dim of x repeats, a size -1 in
** shape keeps x's size (only where x has that dim).  A copy.  Errors:
** NN_ESHAPE ("cannot expand [3x1] to [2x4]: dim 1 is 3, not 1 or 4"),
** NN_EARG (more than 5 dims, fewer than x has). */
int tensor_expand (nn_tensor **out, const nn_tensor *x, int ndim, const int64_t *shape);
/* out = x tiled reps[i] times along each dim, as torch.Tensor.repeat (and
** torch.tile when n >= x's ndim): with n > x's ndim, x takes leading size-1
** dims.  out's size i = x's size i * reps[i].  A copy.  Errors: NN_EARG (n
** below x's ndim or above 5, a negative rep, a size above 2^40). */
int tensor_tile (nn_tensor **out, const nn_tensor *x, int n, const int64_t *reps);
/* Indices start .. start+length-1 of dim `dim`: a view for dim 0
** (tensor_narrow), a copy for the others.  Errors: NN_EARG. */
int tensor_narrow_dim (nn_tensor **out, nn_tensor *x, int dim, int64_t start, int64_t length);
/* Index i of dim `dim`, that dim dropped (as torch.select): a view for
** dim 0, a copy for the others.  Errors: NN_EARG. */
int tensor_select (nn_tensor **out, nn_tensor *x, int dim, int64_t i);
/* out = the n tensors xs[0..n-1] joined along dim (cat: an existing dim, all
** sizes equal off it; stack: a new dim 0..ndim, all shapes equal).  One
** dtype and one device.  Errors: NN_EARG (n = 0, a dim out of range, stack
** to 6 dims), NN_ESHAPE, NN_EDEVICE, NN_EARG for a dtype that differs: the
** message names the position ("tensor 2 of the list is int32, tensor 1 is
** float32"), the role NN_ROLE_INPUT + k. */
int tensor_cat (nn_tensor **out, const nn_tensor *const *xs, int n, int dim);
int tensor_stack (nn_tensor **out, const nn_tensor *const *xs, int n, int dim);
/* Lower (tril) and upper (triu) triangle of the last two dims, the rest
** zero: element (r, c) is kept when c - r <= k (tril) or c - r >= k (triu),
** k the diagonal offset, as torch.tril/triu.  A copy.  Errors: NN_EARG
** (fewer than 2 dims). */
int tensor_tril (nn_tensor **out, const nn_tensor *x, int64_t k);
int tensor_triu (nn_tensor **out, const nn_tensor *x, int64_t k);

/* --- CUDA ------------------------------------------------------------------ */

/* 1 when a CUDA device can be used; else 0 and why in `reason`. */
int nn_cuda_available (char *reason, size_t len);
/* The CUDA devices present (0 without a usable one).  nnlua uses device 0. */
int nn_cuda_device_count (void);
/* Wait until the GPU has done all the work queued so far (for timing: the
** ops return once their kernel is queued).  Errors: NN_ECUDA. */
int nn_cuda_synchronize (void);
/* The caching allocator (tensor/cuda_alloc.cu): bytes in live tensors, at their
** rounded block sizes; bytes held from CUDA, those plus the cached free
** blocks; and a way to give the cached ones back.  As PyTorch's
** torch.cuda.memory_allocated, memory_reserved and empty_cache. */
size_t nn_cuda_memory_allocated (void);
size_t nn_cuda_memory_reserved (void);
void nn_cuda_empty_cache (void);
/* `hook(ud)` runs when cudaMalloc fails, before the cache is emptied and
** the allocation tried once more.  The Lua host runs a full garbage
** collection there: device memory is invisible to Lua's collector, so
** tensors that Lua has dropped may still hold blocks that this frees. */
void nn_cuda_set_oom_hook (void (*hook) (void *ud), void *ud);

/* --- gathering, shuffling, one-hot: what a DataLoader is made of -----------
** Indices and labels are int32, or whole numbers held as float32 (exact up
** to 2^24 = 16,777,216, far above the rows of any dataset we read). */

/* out = the rows of src picked by idx, along dim 0: row i of out is row
** idx[i] - base of src.  `base` is what the indices count from: 0 from C, 1
** from the Lua face (Torch7's index), so the binding needs no converted
** copy.  src: (N, ...) with at least 1 dim, of either dtype; idx: (K),
** int32 or float32 whole numbers in base .. base+N-1; out: (K, ...) with
** src's trailing sizes and dtype, preallocated,
** sharing no storage with src or idx.  All three on one device.
** Errors: NN_ESHAPE (src 0-dim, idx not 1-D, out's shape), NN_EDEVICE,
** NN_EARG ("index 11 at position 3 is outside 1..10 (the rows of
** [10x4])", "index 2.5 at position 3 is not a whole number"; positions
** count from base as the indices do); out is then partly written. */
int tensor_index_select (nn_tensor *out, const nn_tensor *src, const nn_tensor *idx, int base);

/* out (n elements, any shape) = a random permutation of base, base+1, ...,
** base+n-1.  The Fisher-Yates shuffle in Durstenfeld's form (Knuth, TAOCP
** vol. 2, sec. 3.4.2, Algorithm P): for i = n-1 down to 1, swap x[i] with
** x[j], j uniform in 0..i.  Swap k (k = 0, 1, ...) takes j from the 64-bit
** number in lanes 2(k%2), 2(k%2)+1 of Philox block block0 + k/2, modulo
** i+1 (the modulo bias is below n / 2^64: nil in practice).  So it reserves
** ceil((n-1)/2) blocks of the global generator: nn_manual_seed makes it
** repeatable, and a checkpoint that saves the generator's state resumes the
** very same shuffles.  Shuffled on the host, then copied to a CUDA out.
** out is float32, or int32 (tensor_new_dtype) holding the same numbers.
** Errors: NN_EARG (base < 0, or base + n - 1 > 2^24 for a float32 out: not
** exact in float32; > 2^31 - 1 for an int32 out),
** NN_ENOMEM, NN_ECUDA. */
int tensor_randperm (nn_tensor *out, int base);

/* out (B, C): row b is the one-hot vector of class labels[b]: 1 at column
** labels[b] (1-based, 1..C, the losses' convention), 0 elsewhere.
** labels: (B) or (B, 1), int32 or whole numbers as float32.  One device.
** Errors: NN_ESHAPE, NN_EDEVICE, NN_EARG ("label 11 at row 7 is outside
** 1..10", "label 2.5 at row 3 is not a whole number"; rows 1-based). */
int tensor_one_hot (nn_tensor *out, const nn_tensor *labels);

/* --- index ops, sorting and sampling (tensor/index.c) ------------------------
** Index tensors are int32 (argmax, sort, topk, multinomial give them); the
** index arguments of gather, scatter_add, index_add and index_select take
** int32 or float32 whole numbers.  As tensor_index_select, each takes
** `base`: what the indices count from (0 from C, 1 from Lua).  A bad index
** is an NN_EARG blaming NN_ROLE_INDEX that names its position (flat, counted
** from base) and the bound: "gather: index 6 at position 3 is outside 1..5
** (dim 2 of [2x5])", "... index 2.5 at position 3 is not a whole number".
** The layout of a dim-d op: a tensor is seen as (outer, n, inner), with n
** its size along d, and the other tensors have the same outer and inner. */

/* t += delta, t int32 (the 0-based indices of tensor_reduce_dim made
** 1-based).  The caller keeps the results in int32's range (outside it they
** wrap around, in unsigned arithmetic: never undefined behaviour).
** Errors: NN_EARG (t float32). */
int tensor_index_shift (nn_tensor *t, int32_t delta);

/* out[o, j, i] = src[o, idx[j] - base, i]: torch.index_select(src, d, idx).
** idx 1-D of k entries; out: src's shape with k along d, preallocated,
** sharing no storage with src or idx; out has src's dtype (either).  For
** d = 0 this is tensor_index_select.  Errors: NN_ESHAPE, NN_EDEVICE,
** NN_EARG (a bad index; d out of range). */
int tensor_index_select_dim (nn_tensor *out, const nn_tensor *src, int d, const nn_tensor *idx,
                             int base);

/* out[o, j, i] = src[o, index[o, j, i] - base, i]: torch.gather(src, d,
** index).  index has src's ndim and src's sizes except along d (PyTorch
** lets them be smaller; nnlua asks them equal); out has index's shape and
** src's dtype.  Errors: NN_ESHAPE, NN_EDEVICE, NN_EARG (a bad index; out
** shares storage with src or index). */
int tensor_gather (nn_tensor *out, const nn_tensor *src, int d, const nn_tensor *index, int base);

/* out[o, index[o, j, i] - base, i] += src[o, j, i]: torch's
** out.scatter_add_(d, index, src).  index and src one shape, out's sizes
** except along d; all float32 but index.  Every index is checked before
** anything is added, so on an error out is unchanged.  On CUDA the adds
** are atomicAdd: where two go to one element their order, and so the
** float rounding of the sum, may differ between runs (as in PyTorch).
** Errors: NN_ESHAPE, NN_EDEVICE, NN_EARG. */
int tensor_scatter_add (nn_tensor *out, int d, const nn_tensor *index, const nn_tensor *src,
                        int base);

/* out[o, index[j] - base, i] += src[o, j, i]: torch's out.index_add_(d,
** index, src).  index 1-D of k entries; src is out's shape with k along d.
** Checked and on CUDA added as tensor_scatter_add. */
int tensor_index_add (nn_tensor *out, int d, const nn_tensor *index, const nn_tensor *src,
                      int base);

/* values, indices = a sorted along d (torch.sort(a, d, descending,
** stable=True)): every row along d in ascending (or descending) order,
** equal values in their original order, nan after every number (before
** them when descending, as PyTorch).  indices (int32) holds the positions,
** counted from base, the values came from.  values: a's shape and dtype
** float32; indices: a's shape, int32; neither shares storage with a.  A
** merge sort per row on the CPU.  On CUDA a bitonic sort per row in shared
** memory (one block a row) for rows up to 2048 elements; longer rows are
** copied to the host, sorted there and copied back (a documented fallback).
** Errors: NN_ESHAPE, NN_EDEVICE, NN_EARG (dim; a dim over 2^31 - 1), NN_ENOMEM. */
int tensor_sort (nn_tensor *values, nn_tensor *indices, const nn_tensor *a, int d,
                 int descending, int base);

/* values, indices = the k largest (or smallest) of each row of a along d,
** in sorted order (largest first, or smallest first), as torch.topk; ties
** and nan as tensor_sort (nan counts as the largest).  values and indices
** have a's shape with k along d.  `sorted` false is allowed and gives the
** same sorted order.  Errors: NN_EARG (k outside 0..n), and tensor_sort's. */
int tensor_topk (nn_tensor *values, nn_tensor *indices, const nn_tensor *a, int64_t k, int d,
                 int largest, int base);

/* out (int32, (B, n)) = n class indices per row of probs (B, C), counted
** from base, drawn in proportion to the row's weights (they need not sum
** to 1), with or without replacement: torch.multinomial.  Draw j of row b
** is element e = b * n + j of the call and takes the uniform that
** tensor_uniform would give element e (lane e % 4 of Philox block
** block0 + e / 4; the call reserves ceil(B * n / 4) blocks), so seeding and
** then nn.tensor.rand(B * n) shows the uniforms.  The class is by inverse
** CDF over the weights in play (index.h, multinomial_row), in double;
** without replacement a drawn class leaves play.  Errors: NN_ESHAPE,
** NN_EDEVICE, NN_EARG ("multinomial: row 2 of probs has a negative, inf or
** nan weight" / "has no positive weight" / "has 2 classes of positive
** weight, fewer than the 3 draws without replacement"). */
int tensor_multinomial (nn_tensor *out, const nn_tensor *probs, int64_t n, int replacement,
                        int base);

/* out[i] = 1 when u_i < p[i], else 0 (float32): a Bernoulli(p[i]) draw,
** u_i the uniform tensor_uniform gives element i (the call reserves
** ceil(numel / 4) blocks).  out has p's shape and may be p.  Errors:
** NN_EARG ("bernoulli: p at position 3 is 1.5, outside [0, 1]"; nan too;
** position 1-based; out is then unchanged), NN_ESHAPE, NN_EDEVICE. */
int tensor_bernoulli (nn_tensor *out, const nn_tensor *p);

#endif
