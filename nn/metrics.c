/*
** metrics.c -- how often a model is right, counted over a batch: the
** accuracies that Model reports beside the loss, and the confusion matrix.
**
** Each function counts hits; the caller (lua/nn/metrics.lua) divides by the
** number of samples it has seen, so that a whole epoch's accuracy is the
** hits of all its batches over all its samples, not a mean of batch means
** (which would weigh a short last batch as much as a full one).
**
** Definitions, as Keras's metrics of the same names:
**   categorical accuracy  argmax_c pred_{bc} == class of target b
**                         (the index itself, or argmax_c t_{bc}); ties go
**                         to the first maximum, as argmax everywhere in nnlua
**   binary accuracy       (pred > threshold) == (target > 0.5), per element
**   regression accuracy   |pred - target| <= tolerance, per element
**   confusion matrix      cm[i][j] = examples of true class i predicted as j
*/
#include <math.h>

#include "nn.h"

static int need_cpu (const char *who, const nn_tensor *pred, const nn_tensor *target) {
  if (pred->storage->device != NN_CPU || target->storage->device != NN_CPU)
    return nn_seterr(NN_EDEVICE, "%s: runs on the cpu only until the GPU backend gives it "
                     "a kernel (pred on %s, target on %s)", who,
                     device_name(pred->storage->device), device_name(target->storage->device));
  return NN_OK;
}

/* 0-based argmax of a row of n >= 1 floats (the first of equal maxima) */
static int64_t row_argmax (const float *r, int64_t n) {
  int64_t k = 0;
  for (int64_t j = 1; j < n; j++) if (r[j] > r[k]) k = j;
  return k;
}

/* pred (B, C) against a (B) index or (B, C) target: the true class of
** each row, 0-based, or -1 for an index that is not a class (counted as a
** miss: a metric does not reject what the loss has accepted or will reject). */
static int check_classes (const char *who, const nn_tensor *pred, const nn_tensor *target,
                          int *is_index) {
  int rc = need_cpu(who, pred, target);
  if (rc != NN_OK) return rc;
  if (pred->ndim != 2 || pred->shape[1] < 1)
    return nn_seterr(NN_ESHAPE, "%s: pred must be (B, C) class scores, got %s", who,
                     shape_str(pred).s);
  int64_t B = pred->shape[0], C = pred->shape[1];
  if (target->ndim == 1 && target->shape[0] == B) *is_index = 1;
  else if (target->ndim == 2 && target->shape[0] == B && target->shape[1] == C) *is_index = 0;
  else
    return nn_seterr(NN_ESHAPE, "%s: pred %s needs a target [%lld] of class indices or %s "
                     "of probabilities, got %s", who, shape_str(pred).s, (long long)B,
                     shape_str(pred).s, shape_str(target).s);
  return NN_OK;
}

static int64_t true_class (const float *tp, int64_t b, int64_t C, int is_index) {
  if (!is_index) return row_argmax(tp + b * C, C);
  double v = tp[b];
  return v >= 1.0 && v <= (double)C && v == floor(v) ? (int64_t)v - 1 : -1;
}

int metric_class_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target) {
  int is_index;
  int rc = check_classes("categorical accuracy", pred, target, &is_index);
  *hits = 0;
  if (rc != NN_OK) return rc;
  int64_t B = pred->shape[0], C = pred->shape[1];
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  for (int64_t b = 0; b < B; b++)
    *hits += row_argmax(pp + b * C, C) == true_class(tp, b, C, is_index);
  return NN_OK;
}

int metric_confusion (nn_tensor *cm, const nn_tensor *pred, const nn_tensor *target) {
  int is_index;
  int rc = check_classes("confusion matrix", pred, target, &is_index);
  if (rc != NN_OK) return rc;
  int64_t B = pred->shape[0], C = pred->shape[1];
  if (cm->ndim != 2 || cm->shape[0] != C || cm->shape[1] != C || cm->storage->device != NN_CPU)
    return nn_seterr(NN_ESHAPE, "confusion matrix: the matrix must be [%lldx%lld] on the cpu "
                     "for pred %s, got %s", (long long)C, (long long)C, shape_str(pred).s,
                     shape_str(cm).s);
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  float *m = tensor_data(cm);
  for (int64_t b = 0; b < B; b++) {
    int64_t k = true_class(tp, b, C, is_index);
    if (k >= 0) m[k * C + row_argmax(pp + b * C, C)] += 1.0f;
  }
  return NN_OK;
}

/* pred and target with one numel (so (B), (B, 1) and (B, K) all work) */
static int check_same (const char *who, const nn_tensor *pred, const nn_tensor *target) {
  int rc = need_cpu(who, pred, target);
  if (rc == NN_OK && pred->numel != target->numel)
    rc = nn_seterr(NN_ESHAPE, "%s: pred %s and target %s differ in size", who,
                   shape_str(pred).s, shape_str(target).s);
  return rc;
}

int metric_binary_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target,
                        float threshold) {
  int rc = check_same("binary accuracy", pred, target);
  *hits = 0;
  if (rc != NN_OK) return rc;
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  for (int64_t i = 0; i < pred->numel; i++) *hits += (pp[i] > threshold) == (tp[i] > 0.5f);
  return NN_OK;
}

int metric_within_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target,
                        float tolerance) {
  int rc = check_same("regression accuracy", pred, target);
  *hits = 0;
  if (rc != NN_OK) return rc;
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  for (int64_t i = 0; i < pred->numel; i++) *hits += fabsf(pp[i] - tp[i]) <= tolerance;
  return NN_OK;
}
