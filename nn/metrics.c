/*
** metrics.c -- how often a model is right, counted over a batch: the
** accuracies that Model reports beside the loss, and the confusion matrix.
**
** Each function counts hits; the caller (lua/nn/metrics.lua) divides by the
** number of samples it has seen, so that a whole epoch's accuracy is the
** hits of all its batches over all its samples, not a mean of batch means
** (which would weigh a short last batch as much as a full one).
**
** The tests of one row or element, and the definitions, are in metrics.h.
** Here are the checks, and the loop over the rows (elements) on the CPU, or
** on CUDA the launch of one thread per row (element) (nn/cuda_losses.cu),
** which writes 1 for a hit and 0 for a miss into a scratch tensor that a
** deterministic sum then counts.  The scratch comes from tensor_new and is
** released at once: the CUDA allocator caches its blocks, so a loop over
** batches calls no cudaMalloc.
*/
#include "nn.h"
#include "metrics.h"

/* pred and target on one device (either) */
static int same_device (const char *who, const nn_tensor *pred, const nn_tensor *target) {
  if (pred->storage->device != target->storage->device)
    return nn_seterr(NN_EDEVICE, "%s: pred is on %s, target on %s: they must be on one "
                     "device", who, device_name(pred->storage->device),
                     device_name(target->storage->device));
  return NN_OK;
}

/* *hits = the number of 1s among a kernel's 0/1 flags (rc: the launch's
** result); the flags are released */
static int count_flags (int64_t *hits, nn_tensor *flags, int rc) {
  double sum = 0.0;
  if (rc == NN_OK) rc = tensor_reduce_all(&sum, flags, NN_SUM);
  tensor_release(flags);
  if (rc == NN_OK) *hits = (int64_t)sum;   /* whole numbers: exact in double */
  return rc;
}

/* pred (B, C) against a (B) index or (B, C) target, on one device.
** *is_index says which target it is. */
static int check_classes (const char *who, const nn_tensor *pred, const nn_tensor *target,
                          int *is_index) {
  int rc = same_device(who, pred, target);
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

int metric_class_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target) {
  int is_index;
  int rc = check_classes("categorical accuracy", pred, target, &is_index);
  *hits = 0;
  if (rc != NN_OK) return rc;
  int64_t B = pred->shape[0], C = pred->shape[1];
  if (B == 0) return NN_OK;
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  if (pred->storage->device == NN_CUDA) {
    nn_tensor *flags;
    if ((rc = tensor_new(&flags, NN_CUDA, 1, &B)) != NN_OK) return rc;
    rc = nncuda_class_hits(tensor_data(flags), pp, tp, B, C, is_index);
    return count_flags(hits, flags, rc);
  }
  for (int64_t b = 0; b < B; b++) *hits += nn_class_hit(pp, tp, b, C, is_index);
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
  if (B == 0) return NN_OK;
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  float *m = tensor_data(cm);
  if (pred->storage->device == NN_CUDA) {
    /* (true, predicted) of each row on the GPU, added up here */
    int64_t shape[2] = { B, 2 };
    nn_tensor *pairs = NULL, *host = NULL;
    rc = tensor_new(&pairs, NN_CUDA, 2, shape);
    if (rc == NN_OK) rc = nncuda_confusion_pairs(tensor_data(pairs), pp, tp, B, C, is_index);
    if (rc == NN_OK) rc = tensor_to(&host, pairs, NN_CPU);
    tensor_release(pairs);
    if (rc != NN_OK) return rc;
    const float *hp = tensor_data(host);
    for (int64_t b = 0; b < B; b++) {
      int64_t k = (int64_t)hp[2 * b];      /* classes: whole numbers, exact in float */
      if (k >= 0) m[k * C + (int64_t)hp[2 * b + 1]] += 1.0f;
    }
    tensor_release(host);
    return NN_OK;
  }
  for (int64_t b = 0; b < B; b++) {
    int64_t k = nn_true_class(tp, b, C, is_index);
    if (k >= 0) m[k * C + nn_row_argmax(pp + b * C, C)] += 1.0f;
  }
  return NN_OK;
}

/* pred and target with one numel (so (B), (B, 1) and (B, K) all work), on
** one device; *hits = the elements that pass the test op */
static int elem_hits (int64_t *hits, const char *who, const nn_tensor *pred,
                      const nn_tensor *target, nn_elem_hit_op op, float param) {
  int rc = same_device(who, pred, target);
  *hits = 0;
  if (rc == NN_OK && pred->numel != target->numel)
    rc = nn_seterr(NN_ESHAPE, "%s: pred %s and target %s differ in size", who,
                   shape_str(pred).s, shape_str(target).s);
  if (rc != NN_OK) return rc;
  int64_t n = pred->numel;
  if (n == 0) return NN_OK;
  const float *pp = tensor_data(pred), *tp = tensor_data(target);
  if (pred->storage->device == NN_CUDA) {
    nn_tensor *flags;
    if ((rc = tensor_new(&flags, NN_CUDA, 1, &n)) != NN_OK) return rc;
    rc = nncuda_elem_hits(tensor_data(flags), pp, tp, n, op, param);
    return count_flags(hits, flags, rc);
  }
  for (int64_t i = 0; i < n; i++) *hits += nn_elem_hit(op, pp[i], tp[i], param);
  return NN_OK;
}

int metric_binary_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target,
                        float threshold) {
  return elem_hits(hits, "binary accuracy", pred, target, NN_HIT_BINARY, threshold);
}

int metric_within_hits (int64_t *hits, const nn_tensor *pred, const nn_tensor *target,
                        float tolerance) {
  return elem_hits(hits, "regression accuracy", pred, target, NN_HIT_WITHIN, tolerance);
}
