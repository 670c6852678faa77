/*
** cuda_losses.cu -- the CUDA launchers of the losses (losses.h), the fused
** Softmax + cross-entropy gradient, and the metrics (metrics.h).
**
** Each kernel runs the NN_HD function that the CPU loop calls, in one thread
** per row (classification losses, categorical accuracy, confusion matrix)
** or per element (binary and regression losses, binary and regression
** accuracy): a kernel here differs from the CPU only in how the rows are
** spread over threads.  The op (which loss, which test) is a runtime
** argument: every thread takes the same branch, so a warp does not diverge.
** Each thread writes its own row (element) of the output only: no atomics,
** except flag_bad's, which keeps the lowest bad item whatever the order of
** the threads.  The sums of the losses and the counts of the hits are the
** callers', with the tensor library's deterministic reduction.
*/
#include "cuda_util.cuh"
extern "C" {
#include "nn.h"
}
#include "losses.h"
#include "metrics.h"

/* --- classification losses: one thread per row ---------------------------------- */

/* Row b's target, or false after flagging b: its index is not a class (the
** row is then skipped, so a bad index never becomes an address). */
static __device__ bool row_target (const float **tr, int64_t *k, const float *t, size_t b,
                                   int64_t C, int is_index) {
  if (nn_row_target(tr, k, t, (int64_t)b, C, is_index)) return true;
  flag_bad(b);
  return false;
}

static __global__ void class_loss_rows_kernel (float *loss, const float *x, const float *t,
                                               int64_t B, int64_t C, int is_index,
                                               nn_class_loss_op op, double lo) {
  GRID_STRIDE(b, B) {
    const float *tr;
    int64_t k;
    if (!row_target(&tr, &k, t, b, C, is_index)) continue;
    loss[b] = (float)nn_class_row_loss(op, 0.0, x + b * C, tr, k, C, lo);
  }
}

static __global__ void class_grad_rows_kernel (float *dx, const float *x, const float *t,
                                               int64_t B, int64_t C, int is_index,
                                               nn_class_loss_op op, double s, double lo) {
  GRID_STRIDE(b, B) {
    const float *tr;
    int64_t k;
    if (!row_target(&tr, &k, t, b, C, is_index)) continue;
    nn_class_row_grad(op, dx + b * C, x + b * C, tr, k, C, s, lo);
  }
}

static __global__ void softmax_xent_grad_rows_kernel (float *dz, const float *y, const float *t,
                                                      int64_t B, int64_t C, int is_index,
                                                      double s, int y_is_log) {
  GRID_STRIDE(b, B) {
    const float *tr;
    int64_t k;
    if (!row_target(&tr, &k, t, b, C, is_index)) continue;
    nn_softmax_xent_row_grad(dz + b * C, y + b * C, tr, k, C, s, y_is_log);
  }
}

int nncuda_class_loss_rows (float *loss, int64_t *bad, const float *x, const float *t,
                            int64_t B, int64_t C, int is_index, nn_class_loss_op op,
                            double lo) {
  return cuda_run_checked((size_t)B, bad, class_loss_rows_kernel, loss, x, t, B, C, is_index,
                          op, lo);
}

int nncuda_class_grad_rows (float *dx, int64_t *bad, const float *x, const float *t,
                            int64_t B, int64_t C, int is_index, nn_class_loss_op op,
                            double s, double lo) {
  return cuda_run_checked((size_t)B, bad, class_grad_rows_kernel, dx, x, t, B, C, is_index, op,
                          s, lo);
}

int nncuda_softmax_xent_grad_rows (float *dz, int64_t *bad, const float *y, const float *t,
                                   int64_t B, int64_t C, int is_index, double s,
                                   int y_is_log) {
  return cuda_run_checked((size_t)B, bad, softmax_xent_grad_rows_kernel, dz, y, t, B, C,
                          is_index, s, y_is_log);
}

/* --- binary and regression losses: one thread per element ------------------------ */

/* BCELoss's input must be a probability: flag and skip any other */
static __device__ bool elem_ok (nn_elem_loss_op op, float x, size_t i) {
  if (op != NN_LOSS_BCE || nn_is_probability(x)) return true;
  flag_bad(i);
  return false;
}

static __global__ void elem_loss_kernel (float *loss, const float *x, const float *t, int64_t n,
                                         nn_elem_loss_op op) {
  GRID_STRIDE(i, n) {
    if (!elem_ok(op, x[i], i)) continue;
    loss[i] = (float)nn_elem_loss(op, x[i], t[i]);
  }
}

static __global__ void elem_grad_kernel (float *dx, const float *x, const float *t, int64_t n,
                                         nn_elem_loss_op op, double s) {
  GRID_STRIDE(i, n) {
    if (!elem_ok(op, x[i], i)) continue;
    dx[i] = nn_elem_grad(op, x[i], t[i], s);
  }
}

int nncuda_elem_loss (float *loss, int64_t *bad, const float *x, const float *t, int64_t n,
                      nn_elem_loss_op op) {
  return cuda_run_checked((size_t)n, bad, elem_loss_kernel, loss, x, t, n, op);
}

int nncuda_elem_grad (float *dx, int64_t *bad, const float *x, const float *t, int64_t n,
                      nn_elem_loss_op op, double s) {
  return cuda_run_checked((size_t)n, bad, elem_grad_kernel, dx, x, t, n, op, s);
}

/* --- metrics: one thread per row (element), 1 for a hit ------------------------- */

static __global__ void class_hits_kernel (float *hit, const float *pred, const float *t,
                                          int64_t B, int64_t C, int is_index) {
  GRID_STRIDE(b, B)
    hit[b] = (float)nn_class_hit(pred, t, (int64_t)b, C, is_index);
}

static __global__ void elem_hits_kernel (float *hit, const float *pred, const float *t,
                                         int64_t n, nn_elem_hit_op op, float param) {
  GRID_STRIDE(i, n)
    hit[i] = (float)nn_elem_hit(op, pred[i], t[i], param);
}

static __global__ void confusion_pairs_kernel (float *pairs, const float *pred, const float *t,
                                               int64_t B, int64_t C, int is_index) {
  GRID_STRIDE(b, B) {
    pairs[2 * b] = (float)nn_true_class(t, (int64_t)b, C, is_index);
    pairs[2 * b + 1] = (float)nn_row_argmax(pred + b * C, C);
  }
}

int nncuda_class_hits (float *hit, const float *pred, const float *t, int64_t B, int64_t C,
                       int is_index) {
  return cuda_run((size_t)B, class_hits_kernel, hit, pred, t, B, C, is_index);
}

int nncuda_elem_hits (float *hit, const float *pred, const float *t, int64_t n,
                      nn_elem_hit_op op, float param) {
  return cuda_run((size_t)n, elem_hits_kernel, hit, pred, t, n, op, param);
}

int nncuda_confusion_pairs (float *pairs, const float *pred, const float *t, int64_t B,
                            int64_t C, int is_index) {
  return cuda_run((size_t)B, confusion_pairs_kernel, pairs, pred, t, B, C, is_index);
}
