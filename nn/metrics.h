/*
** metrics.h -- the tests behind the accuracies, for both devices: one row
** (categorical accuracy, confusion matrix) or one element (binary and
** regression accuracy).  metrics.c loops over the rows (elements) on the
** CPU; nn/cuda_losses.cu runs the same functions in one CUDA thread per row
** (element) (NN_HD, elementwise.h).
**
** Definitions, as Keras's metrics of the same names:
**   categorical accuracy  argmax_c pred_{bc} == class of target b
**                         (the index itself, or argmax_c t_{bc}); ties go
**                         to the first maximum, as argmax everywhere in nnlua
**   binary accuracy       (pred > threshold) == (target > 0.5), per element
**   regression accuracy   |pred - target| <= tolerance, per element
**   confusion matrix      cm[i][j] = examples of true class i predicted as j
*/
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <math.h>

#include "elementwise.h"
#include "nn_cuda.h"
#include "losses.h"          /* nn_class_index */

/* 0-based argmax of a row of n >= 1 floats (the first of equal maxima) */
NN_HD int64_t nn_row_argmax (const float *r, int64_t n) {
  int64_t k = 0;
  for (int64_t j = 1; j < n; j++) if (r[j] > r[k]) k = j;
  return k;
}

/* The true class of row b, 0-based: the index t[b] (t: (B), is_index) or
** the argmax of t's row b (t: (B, C)).  -1 for an index that is not a
** class: a miss, not an error (a metric does not reject what the loss has
** accepted or will reject). */
NN_HD int64_t nn_true_class (const float *t, int64_t b, int64_t C, int is_index) {
  return is_index ? nn_class_index(t[b], C) : nn_row_argmax(t + b * C, C);
}

/* 1 when row b of pred (B, C) picks its true class */
NN_HD int nn_class_hit (const float *pred, const float *t, int64_t b, int64_t C, int is_index) {
  return nn_row_argmax(pred + b * C, C) == nn_true_class(t, b, C, is_index);
}

/* 1 when pred, cut at the threshold, says what the target says */
NN_HD int nn_binary_hit (float p, float t, float threshold) {
  return (p > threshold) == (t > 0.5f);
}

/* 1 when pred is within the tolerance of the target */
NN_HD int nn_within_hit (float p, float t, float tolerance) {
  return fabsf(p - t) <= tolerance;
}

/* The two element tests by name, for the kernel that serves both. */
typedef enum nn_elem_hit_op { NN_HIT_BINARY, NN_HIT_WITHIN } nn_elem_hit_op;

NN_HD int nn_elem_hit (nn_elem_hit_op op, float p, float t, float param) {
  return op == NN_HIT_BINARY ? nn_binary_hit(p, t, param) : nn_within_hit(p, t, param);
}

/* === the CUDA launchers (nn/cuda_losses.cu) =====================================
** Device pointers; B, n >= 1.  One thread per row (element) writes 1 for a
** hit and 0 for a miss, which a sum then counts. */

/* hit[b] = nn_class_hit(pred, t, b, C, is_index) */
NN_CUDA_FN(int nncuda_class_hits (float *hit, const float *pred, const float *t, int64_t B,
                                  int64_t C, int is_index))
/* hit[i] = nn_elem_hit(op, pred[i], t[i], param) */
NN_CUDA_FN(int nncuda_elem_hits (float *hit, const float *pred, const float *t, int64_t n,
                                 nn_elem_hit_op op, float param))
/* pairs (B, 2): row b = (true class, predicted class), 0-based, or
** (-1, predicted) for an index that is not a class */
NN_CUDA_FN(int nncuda_confusion_pairs (float *pairs, const float *pred, const float *t,
                                       int64_t B, int64_t C, int is_index))

#endif
