/*
** module.c -- what every layer and every loss shares: life cycle, the
** checks in front of each pass, and the names shown by the Lua side.
**
** The layer files hold only their math; the order of a pass (keep the
** input, check grad_out against the output, then the layer's own code)
** is written once here.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

/* --- layers ------------------------------------------------------------------- */

/* Buffers and parameters start on the default device (the CPU unless
** nn.set_default_device said otherwise). */
static int new_empty (nn_tensor **out) {
  int64_t zero = 0;
  return tensor_new(out, tensor_default_device(), 1, &zero);
}

int module_alloc (nn_module **out, const nn_module_type *type) {
  nn_module *m = calloc(1, sizeof *m);
  *out = NULL;
  if (m == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  m->type = type;
  m->training = 1;
  int rc = new_empty(&m->output);
  if (rc == NN_OK) rc = new_empty(&m->grad_input);
  if (rc != NN_OK) { module_free(m); return rc; }
  *out = m;
  return NN_OK;
}

void module_free (nn_module *m) {
  if (m == NULL) return;
  tensor_release(m->input);
  tensor_release(m->output);
  tensor_release(m->grad_input);
  tensor_release(m->weight);
  tensor_release(m->bias);
  tensor_release(m->grad_weight);
  tensor_release(m->grad_bias);
  for (int i = 0; i < NN_MAXSTATE; i++) tensor_release(m->state[i]);
  free(m);
}

/* Every tensor the layer owns, for module_to: parameters, their gradients,
** state, and the two buffers. */
static int move_all (nn_tensor *const ts[], int n, nn_device dev) {
  for (int i = 0; i < n; i++)
    if (ts[i] != NULL) {
      int rc = tensor_move(ts[i], dev);
      if (rc != NN_OK) return rc;
    }
  return NN_OK;
}

int module_to (nn_module *m, nn_device dev) {
  nn_tensor *const ts[] = {
    m->weight, m->bias, m->grad_weight, m->grad_bias, m->output, m->grad_input,
    m->state[0], m->state[1], m->state[2], m->state[3]
  };
  _Static_assert(NN_MAXSTATE == 4, "module_to lists every state tensor");
  int rc = move_all(ts, (int)(sizeof ts / sizeof ts[0]), dev);
  /* the kept input is the caller's, on the old device: a backward now
  ** needs a forward first */
  if (rc == NN_OK && m->input != NULL && m->input->storage->device != dev) {
    tensor_release(m->input);
    m->input = NULL;
  }
  return rc;
}

int module_new_param (nn_tensor **out, int ndim, const int64_t *shape, float value) {
  int rc = tensor_new(out, tensor_default_device(), ndim, shape);
  if (rc == NN_OK) rc = tensor_fill(*out, value);
  return rc;
}

int resize_as (nn_tensor *t, const nn_tensor *like) {
  return tensor_resize(t, like->ndim, like->shape);
}

/* parameters and input on one device */
static int check_device (const nn_module *m, const nn_tensor *x) {
  const nn_tensor *p = m->weight ? m->weight : m->bias;
  if (p != NULL && p->storage->device != x->storage->device)
    return nn_seterr(NN_EDEVICE, "%s: input is on %s, the layer's parameters are on %s",
                     m->type->name, device_name(x->storage->device),
                     device_name(p->storage->device));
  return NN_OK;
}

int module_forward (nn_module *m, nn_tensor *x) {
  int rc = check_device(m, x);
  /* the parameters are on x's device; the buffers and state follow it (a
  ** ReLU or a Dropout has nothing else, and works on either device) */
  if (rc == NN_OK) rc = module_to(m, x->storage->device);
  if (rc != NN_OK) return rc;
  /* keep x for backward; retain before release, x may be the kept one */
  tensor_retain(x);
  tensor_release(m->input);
  m->input = x;
  rc = m->type->forward(m, x);
  if (rc != NN_OK) {          /* no backward through a pass that failed */
    tensor_release(m->input);
    m->input = NULL;
  }
  return rc;
}

int module_backward (nn_module *m, const nn_tensor *grad_out) {
  if (m->input == NULL)
    return nn_seterr(NN_EARG, "%s: backward before forward: there is no input to "
                     "differentiate at", m->type->name);
  const nn_tensor *y = m->output;
  int same = grad_out->ndim == y->ndim;
  for (int i = 0; same && i < y->ndim; i++) same = grad_out->shape[i] == y->shape[i];
  if (!same)
    return nn_seterr(NN_ESHAPE, "%s: grad_output must have the output's shape %s, got %s",
                     m->type->name, shape_str(y).s, shape_str(grad_out).s);
  if (grad_out->storage->device != m->input->storage->device)
    return nn_seterr(NN_EDEVICE, "%s: grad_output is on %s, the input was on %s",
                     m->type->name, device_name(grad_out->storage->device),
                     device_name(m->input->storage->device));
  return m->type->backward(m, grad_out);
}

int module_backward_ex (nn_module *m, const nn_tensor *grad_out, int flags) {
  if ((flags & NN_BACKWARD_PRE_ACTIVATION) && m->activation == NN_ACT_NONE)
    return nn_seterr(NN_EARG, "%s: the layer has no fused activation to skip", m->type->name);
  int rc = NN_OK;
  /* a layer that cannot overwrite its gradients gets them zeroed first */
  if ((flags & NN_BACKWARD_OVERWRITE_GRADS) && !m->type->overwrites_grads) {
    if (m->input == NULL) return module_backward(m, grad_out);   /* its error */
    rc = module_zero_grad(m);
    flags &= ~NN_BACKWARD_OVERWRITE_GRADS;
  }
  m->backward_flags = flags;
  if (rc == NN_OK) rc = module_backward(m, grad_out);
  m->backward_flags = 0;
  return rc;
}

const char *activation_name (nn_activation a) {
  static const char *const names[NN_ACT_COUNT] = {
    "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax"
  };
  return a >= 0 && a < NN_ACT_COUNT ? names[a] : "?";
}

int module_zero_grad (nn_module *m) {
  int rc = NN_OK;
  if (m->grad_weight != NULL) rc = tensor_fill(m->grad_weight, 0.0f);
  if (rc == NN_OK && m->grad_bias != NULL) rc = tensor_fill(m->grad_bias, 0.0f);
  return rc;
}

void module_set_training (nn_module *m, int training) {
  m->training = training != 0;
}

void module_describe (const nn_module *m, char *buf, size_t len) {
  const nn_module_type *t = m->type;
  size_t n = (size_t)snprintf(buf, len, "%s", t->name);
  if (t->describe != NULL) {                     /* "Linear(3 -> 2)" */
    n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "(");
    if (n < len) t->describe(m, buf + n, len - n);
    n = strlen(buf);
    if (n < len) snprintf(buf + n, len - n, ")");
    return;
  }
  for (int i = 0; i < NN_MAXHYPER && t->hyper_names[i] != NULL && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s=%g", i == 0 ? "(" : ", ",
                          t->hyper_names[i], (double)m->hyper[i]);
  if (t->hyper_names[0] != NULL && n < len) snprintf(buf + n, len - n, ")");
}
