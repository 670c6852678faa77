/*
** broadcast.h -- how a broadcast op walks its operands (internal to tensor/).
**
** NumPy's rules (tensor.h) stretch a dim of size 1, or a missing leading
** dim, to the other operand's size.  Nothing is copied: an operand is read
** through strides, and a stretched dim has stride 0.  tensor.c builds one
** plan per call (broadcast.c), and both backends walk it:
**
**   out: `ndim` dims of `shape`, contiguous, row-major (out's own layout)
**   operand k: element (i_0, ..., i_{ndim-1}) of out reads it at
**              sum_d i_d * stride[k][d]   (stride 0 where it stretches)
**
** The plan is coalesced: dims of size 1 are dropped, and two neighbouring
** dims are merged wherever every operand steps through them as through one
** (stride[d] == stride[d+1] * shape[d+1]: both contiguous, or both
** stretched).  So (4096x4096) + (4096) becomes the bias row (4096, 4096)
** with strides (4096, 1) and (0, 1), a same-shape op becomes one dim of
** stride 1, and at most 5 dims are ever walked.  After coalescing the last
** dim's stride of each operand is 1 or 0: the CPU's inner loop runs over it
** contiguously (or over one repeated value).
**
** Plain data plus one NN_HD function, so cpu.c and the .cu files read the
** very same plan (a CUDA kernel takes it by value).
*/
#ifndef NN_BROADCAST_H
#define NN_BROADCAST_H

#include "tensor.h"
#include "elementwise.h"   /* NN_HD */

#define NN_BCAST_MAXIN 3   /* where(cond, a, b) has three operands */

typedef struct nn_bcast {
  int ndim;                                   /* >= 1 after coalescing */
  int64_t shape[NN_MAXDIM];
  int64_t stride[NN_BCAST_MAXIN][NN_MAXDIM];  /* in elements; 0 = stretched */
} nn_bcast;

/* The offset in operand k of out's flat element i (row-major over shape). */
NN_HD int64_t nn_bcast_offset (const nn_bcast *p, int k, int64_t i) {
  int64_t off = 0;
  for (int d = p->ndim - 1; d > 0; d--) {
    int64_t n = p->shape[d], q = i / n;
    off += (i - q * n) * p->stride[k][d];
    i = q;
  }
  return off + i * p->stride[k][0];
}

/* broadcast.c.  The broadcast shape of shapes (na, sa) and (nb, sb) into
** (*ndim, shape); NN_ESHAPE blaming `role` when they do not broadcast,
** NN_EARG when the result would have more than NN_MAX_NUMEL elements. */
int bcast_shapes (int *ndim, int64_t *shape, int na, const int64_t *sa, int nb,
                  const int64_t *sb, int role);
/* The coalesced plan of an op whose out has shape (ndim, shape) and whose
** operands are ops[0 .. n-1], each of a shape that broadcasts to it (NULL:
** a number, read with stride 0 everywhere). */
void bcast_plan (nn_bcast *p, int ndim, const int64_t *shape, int n,
                 const nn_tensor *const *ops);
/* 1 when operand k of the plan has out's layout (it is read element i for i) */
int bcast_is_full (const nn_bcast *p, int k);

#endif
