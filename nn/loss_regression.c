/*
** loss_regression.c -- losses for real-valued targets: MSELoss and L1Loss.
**
** Both compare an input x with a target t of the same shape, element by
** element, and reduce over all n elements: the mean (the default) or the
** sum.  The mean is over every element, not per example: PyTorch's
** reduction='mean', and Keras's mean over the last axis then the batch,
** give the same number.
**
** Each loss is a pure pair (criterion.h), with its derivation directly
** above it; the formula of one element is an NN_HD function of losses.h,
** which the CPU loop here and one CUDA thread per element
** (nn/cuda_losses.cu) both run.  On CUDA the forward writes each element's
** loss into the scratch `work` and sums it there (tensor_reduce_all, which
** is deterministic); the backward writes grad_x directly.
*/
#include "nn.h"
#include "losses.h"

/* The checks of a forward pair */
static int check_forward (const char *name, const nn_tensor *x, const nn_tensor *t,
                          nn_redop reduction) {
  int rc = loss_check_reduction(name, reduction);
  if (rc == NN_OK) rc = loss_same_shape(name, x, t);
  return rc;
}

/* ... and of a backward pair */
static int check_backward (const char *name, const nn_tensor *grad_x, const nn_tensor *x,
                           const nn_tensor *t, nn_redop reduction) {
  int rc = check_forward(name, x, t, reduction);
  if (rc == NN_OK) rc = loss_check_grad(name, grad_x, x);
  return rc;
}

/* On CUDA: element k's loss of op into a scratch[k], then their sum */
static int cuda_sum (double *sum, nn_tensor *work, const nn_tensor *x, const nn_tensor *t,
                     nn_elem_loss_op op) {
  int64_t n = x->numel;
  *sum = 0.0;
  if (n == 0) return NN_OK;
  nn_tensor *tmp;
  int rc = loss_scratch(&tmp, work, x, n);
  if (rc == NN_OK)
    rc = nncuda_elem_loss(tensor_data(tmp), NULL, tensor_data(x), tensor_data(t), n, op);
  if (rc == NN_OK) rc = tensor_reduce_all(sum, tmp, NN_SUM);
  tensor_release(tmp);
  return rc;
}

/* On CUDA: grad_x = each element's gradient, scaled by s */
static int cuda_grad (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *t,
                      nn_elem_loss_op op, double s) {
  if (x->numel == 0) return NN_OK;
  return nncuda_elem_grad(tensor_data(grad_x), NULL, tensor_data(x), tensor_data(t), x->numel,
                          op, s);
}


/*
** MSELoss (mean squared error)
**
** Shapes   x, t: any shape, the same; n = numel.   L: a scalar.
**          s = 1/n for the mean, 1 for the sum.
**
** Forward   L = s \sum_k (x_k - t_k)^2                              \tag{1}
**
** Backward  L depends on x_k through its own term only:
**   dL/dx_k = 2 s (x_k - t_k)      =>  dx = 2 s (x - t)             \tag{2}
**   The target gets no gradient.
**
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 5.1.4.
*/
int mse_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                      const nn_tensor *target, nn_redop reduction) {
  int rc = check_forward("MSELoss", x, target, reduction);
  if (rc != NN_OK) return rc;
  double sum = 0.0;                       /* in double: n can be large */
  if (x->storage->device == NN_CUDA) {
    if ((rc = cuda_sum(&sum, work, x, target, NN_LOSS_MSE)) != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(target);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_mse_loss(xp[k], tp[k]);   /* (1) */
  }
  *loss = sum * loss_scale(reduction, x->numel);                               /* (1) s */
  return NN_OK;
}

int mse_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                       nn_redop reduction) {
  int rc = check_backward("MSELoss", grad_x, x, target, reduction);
  if (rc != NN_OK) return rc;
  double s = loss_scale(reduction, x->numel);
  if (x->storage->device == NN_CUDA) return cuda_grad(grad_x, x, target, NN_LOSS_MSE, s);
  const float *xp = tensor_data(x), *tp = tensor_data(target);
  float *dx = tensor_data(grad_x);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_mse_grad(xp[k], tp[k], s);   /* (2) */
  return NN_OK;
}


/*
** L1Loss (mean absolute error)
**
** Shapes   as MSELoss.
**
** Forward   L = s \sum_k |x_k - t_k|                                \tag{1}
**
** Backward  d|u|/du = sign(u), undefined at u = 0, where we use 0 (the
**   subgradient PyTorch picks; a kink, so a finite-difference check must
**   keep away from x = t):
**   dL/dx_k = s sign(x_k - t_k)    =>  dx = s sign(x - t)           \tag{2}
**   Less pulled by outliers than MSE: every error pulls with the same force.
**
** Source: PyTorch docs, torch.nn.L1Loss; Goodfellow, Bengio & Courville,
**   Deep Learning (2016), sec. 5.1.4 (the L1 alternative to MSE).
*/
int l1_loss_forward (double *loss, nn_tensor *work, const nn_tensor *x,
                     const nn_tensor *target, nn_redop reduction) {
  int rc = check_forward("L1Loss", x, target, reduction);
  if (rc != NN_OK) return rc;
  double sum = 0.0;
  if (x->storage->device == NN_CUDA) {
    if ((rc = cuda_sum(&sum, work, x, target, NN_LOSS_L1)) != NN_OK) return rc;
  } else {
    const float *xp = tensor_data(x), *tp = tensor_data(target);
    for (int64_t k = 0; k < x->numel; k++) sum += nn_l1_loss(xp[k], tp[k]);    /* (1) */
  }
  *loss = sum * loss_scale(reduction, x->numel);                               /* (1) s */
  return NN_OK;
}

int l1_loss_backward (nn_tensor *grad_x, const nn_tensor *x, const nn_tensor *target,
                      nn_redop reduction) {
  int rc = check_backward("L1Loss", grad_x, x, target, reduction);
  if (rc != NN_OK) return rc;
  double s = loss_scale(reduction, x->numel);
  if (x->storage->device == NN_CUDA) return cuda_grad(grad_x, x, target, NN_LOSS_L1, s);
  const float *xp = tensor_data(x), *tp = tensor_data(target);
  float *dx = tensor_data(grad_x);
  for (int64_t k = 0; k < x->numel; k++) dx[k] = nn_l1_grad(xp[k], tp[k], s);    /* (2) */
  return NN_OK;
}


/* --- as criteria: the pairs with the criterion's buffers ------------------------- */


const nn_criterion_type mse_loss_type = {
  .name = "MSELoss",
  .doc = "mean squared error of values x against targets of x's shape",
  .noptions = 1, .options = nn_loss_reduction_only,
  .pair_forward = mse_loss_forward, .pair_backward = mse_loss_backward
};
const nn_criterion_type l1_loss_type = {
  .name = "L1Loss",
  .doc = "mean absolute error of values x against targets of x's shape",
  .noptions = 1, .options = nn_loss_reduction_only,
  .pair_forward = l1_loss_forward, .pair_backward = l1_loss_backward
};
