/*
** loss_regression.c -- losses for real-valued targets: MSELoss and L1Loss.
**
** Both compare an input x with a target t of the same shape, element by
** element, and reduce over all n elements: the mean (the default) or the
** sum.  The mean is over every element, not per example: PyTorch's
** reduction='mean', and Keras's mean over the last axis then the batch,
** give the same number.
*/
#include <math.h>

#include "nn.h"

/*
** MSELoss (mean squared error):   L = (1/n) \sum_k (x_k - t_k)^2
**
** Shapes   x, t: any shape, the same; n = numel.   L: a scalar.
** Backward: L depends on x_k through its own term only:
**   dL/dx_k = (2/n) (x_k - t_k)      =>  dx = (2/n) (x - t)
** (with reduction='sum', drop the 1/n).  The target gets no gradient.
** Source: Goodfellow, Bengio & Courville, Deep Learning (2016), sec. 5.1.4.
*/
static int mse_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double sum = 0.0;                       /* in double: n can be large */
  for (int64_t k = 0; k < x->numel; k++) {
    double d = (double)xp[k] - (double)tp[k];
    sum += d * d;
  }
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int mse_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  float s = (float)(2.0 * criterion_scale(c, x->numel));
  for (int64_t k = 0; k < x->numel; k++) dx[k] = s * (xp[k] - tp[k]);
  return NN_OK;
}

/*
** L1Loss (mean absolute error):   L = (1/n) \sum_k |x_k - t_k|
**
** Shapes   as MSELoss.
** Backward: d|u|/du = sign(u), undefined at u = 0, where we use 0 (the
**   subgradient PyTorch picks; a kink, so a finite-difference check must
**   keep away from x = t):
**   dL/dx_k = sign(x_k - t_k) / n    =>  dx = sign(x - t) / n
** Less pulled by outliers than MSE: every error pulls with the same force.
*/
static int l1_forward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t, double *loss) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  double sum = 0.0;
  for (int64_t k = 0; k < x->numel; k++) sum += fabs((double)xp[k] - (double)tp[k]);
  *loss = sum * criterion_scale(c, x->numel);
  return NN_OK;
}

static int l1_backward (nn_criterion *c, const nn_tensor *x, const nn_tensor *t) {
  int rc = criterion_same_shape(c, x, t);
  if (rc != NN_OK) return rc;
  const float *xp = tensor_data(x), *tp = tensor_data(t);
  float *dx = tensor_data(c->grad_input);
  float s = (float)criterion_scale(c, x->numel);
  for (int64_t k = 0; k < x->numel; k++) {
    float u = xp[k] - tp[k];
    dx[k] = u > 0.0f ? s : (u < 0.0f ? -s : 0.0f);
  }
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
