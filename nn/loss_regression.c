/*
** loss_regression.c -- losses for real-valued targets: MSELoss and L1Loss.
**
** Both compare an input x with a target t of the same shape, element by
** element, and reduce over all n elements: the mean (the default) or the
** sum.
**
** The math of one element, with its derivation, is in losses.h.  Here are
** the checks, and the loop over the elements on the CPU, or the launch of
** one CUDA thread per element (nn/cuda_losses.cu): the forward writes each
** element's loss into the scratch c->work and sums it there
** (tensor_reduce_all, which is deterministic); the backward writes
** grad_input directly.
*/
#include "nn.h"
#include "losses.h"

/* On CUDA: element k's loss of op into work[k], then their sum */
static int cuda_forward (double *sum, nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                         nn_elem_loss_op op) {
  int64_t n = x->numel;
  *sum = 0.0;
  if (n == 0) return NN_OK;
  int rc = tensor_resize(c->work, 1, &n);
  if (rc == NN_OK)
    rc = nncuda_elem_loss(tensor_data(c->work), NULL, tensor_data(x), tensor_data(t), n, op);
  if (rc == NN_OK) rc = tensor_reduce_all(sum, c->work, NN_SUM);
  return rc;
}

/* On CUDA: grad_input (on x's device: module.c) = each element's gradient */
static int cuda_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t,
                          nn_elem_loss_op op) {
  int64_t n = x->numel;
  if (n == 0) return NN_OK;
  return nncuda_elem_grad(tensor_data(c->grad_input), NULL, tensor_data(x), tensor_data(t), n,
                          op, criterion_scale(c, n));
}

/* MSELoss (losses.h): the mean of (x - t)^2 */
static int mse_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  double sum = 0.0;                       /* in double: n can be large */
  if (x->storage->device == NN_CUDA) {
    if ((rc = cuda_forward(&sum, c, x, t, NN_LOSS_MSE)) != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(t);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_mse_loss(xp[k], tp[k]);
  }
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int mse_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  if (x->storage->device == NN_CUDA) return cuda_backward(c, x, t, NN_LOSS_MSE);
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_mse_grad(xp[k], tp[k], s);
  return NN_OK;
}

/* L1Loss (losses.h): the mean of |x - t| */
static int l1_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    if ((rc = cuda_forward(&sum, c, x, t, NN_LOSS_L1)) != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(t);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_l1_loss(xp[k], tp[k]);
  }
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int l1_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  if (x->storage->device == NN_CUDA) return cuda_backward(c, x, t, NN_LOSS_L1);
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  double s = criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_l1_grad(xp[k], tp[k], s);
  return NN_OK;
}

static const nn_criterion_type mse_type = {
  .name = "MSELoss", .forward = mse_forward, .backward = mse_backward
};
static const nn_criterion_type l1_type = {
  .name = "L1Loss", .forward = l1_forward, .backward = l1_backward
};

int mse_loss_new (nn_criterion **out, nn_redop reduction) {
  return criterion_alloc(out, &mse_type, reduction);
}

int l1_loss_new (nn_criterion **out, nn_redop reduction) {
  return criterion_alloc(out, &l1_type, reduction);
}
