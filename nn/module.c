/*
** module.c -- what every layer shares: the registry of layer types, life
** cycle from a type's description, the checks in front of each pass, and
** the text a layer prints as.
**
** The layer files hold only their math (the pure pairs) and their type
** description; the order of a pass (check the inputs against the type,
** size the output, keep the inputs, then the layer's own code) is written
** once here.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

/* --- the registry ----------------------------------------------------------------
** Adding a layer: its file defines `const nn_module_type xxx_type`, nn.h
** declares it, and it gets one line here.  The Lua side (vm/l_module.c)
** makes nn.<name> from this list. */
const nn_module_type *const nn_module_types[] = {
  &linear_type,
  &relu_type, &leaky_relu_type, &sigmoid_type, &tanh_type,
  &softmax_type, &log_softmax_type,
  &dropout_type, &batchnorm1d_type, &batchnorm2d_type,
  &flatten_type, &identity_type,
  &add_type, &concat_type,
  &conv2d_type,
  &maxpool2d_type, &avgpool2d_type, &adaptive_avgpool2d_type, &dropout2d_type,
  NULL
};

const nn_module_type *module_type_find (const char *name) {
  for (int i = 0; nn_module_types[i] != NULL; i++)
    if (strcmp(nn_module_types[i]->name, name) == 0) return nn_module_types[i];
  return NULL;
}

const char *const nn_activation_names[] = {
  "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", NULL
};

const char *activation_name (nn_activation a) {
  return a >= 0 && a < NN_ACT_COUNT ? nn_activation_names[a] : "?";
}

const char *const nn_gives_names[] = { "values", "probabilities", "log_probabilities", NULL };

nn_gives module_gives (const nn_module *m) {
  return m->type->gives ? m->type->gives(m) : NN_GIVES_VALUES;
}

/* --- options ---------------------------------------------------------------------- */

int module_check_option (const nn_module_type *type, int i, double v) {
  return nn_option_check(type->name, &type->options[i], v);
}

/* --- life cycle ------------------------------------------------------------------ */

int module_new (nn_module **out, const nn_module_type *type, const double *opt) {
  *out = NULL;
  for (int i = 0; i < NN_MAXOPT && type->options[i].name != NULL; i++) {
    double v = opt ? opt[i] : type->options[i].dflt;
    if (type->options[i].required && opt == NULL)
      return nn_seterr(NN_EARG, "%s: %s is required", type->name, type->options[i].name);
    int rc = module_check_option(type, i, v);
    if (rc != NN_OK) return rc;
  }
  if (type->check_options != NULL) {
    double all[NN_MAXOPT];
    for (int i = 0; i < NN_MAXOPT && type->options[i].name != NULL; i++)
      all[i] = opt ? opt[i] : type->options[i].dflt;
    int rc = type->check_options(all);
    if (rc != NN_OK) return rc;
  }
  nn_module *m = calloc(1, sizeof *m);
  if (m == NULL) return nn_seterr(NN_ENOMEM, "out of host memory");
  m->type = type;
  m->training = 1;
  for (int i = 0; i < NN_MAXOPT && type->options[i].name != NULL; i++)
    m->opt[i] = opt ? opt[i] : type->options[i].dflt;
  int rc = tensor_new_empty(&m->output);
  for (int k = 0; rc == NN_OK && k < type->max_inputs; k++)
    rc = tensor_new_empty(&m->grad_input[k]);
  if (rc == NN_OK && type->init != NULL) rc = type->init(m);
  if (rc != NN_OK) { module_free(m); return rc; }
  /* the state a checkpoint keeps (running_mean, ...) has the shape init gave
     it for good: no `out` from outside may reshape or reallocate it.  The
     scratch buffers after them are resized by the layer itself. */
  for (int i = 0; i < type->persistent_buffers; i++)
    if (m->buffer[i] != NULL) tensor_fix_shape(m->buffer[i]);
  *out = m;
  return NN_OK;
}

static void drop_inputs (nn_module *m) {
  for (int k = 0; k < NN_MAXINPUT; k++) {
    tensor_release(m->input[k]);
    m->input[k] = NULL;
  }
  m->n_inputs = 0;
}

void module_free (nn_module *m) {
  if (m == NULL) return;
  drop_inputs(m);
  tensor_release(m->output);
  for (int k = 0; k < NN_MAXINPUT; k++) tensor_release(m->grad_input[k]);
  for (int i = 0; i < NN_MAXPARAM; i++) {
    tensor_release(m->param[i]);
    tensor_release(m->grad[i]);
  }
  for (int i = 0; i < NN_MAXBUFFER; i++) tensor_release(m->buffer[i]);
  free(m);
}

int module_new_param (nn_module *m, int i, int ndim, const int64_t *shape, float value) {
  int rc = tensor_new(&m->param[i], tensor_default_device(), ndim, shape);
  if (rc == NN_OK) rc = tensor_fill(m->param[i], value);
  if (rc == NN_OK) rc = tensor_new(&m->grad[i], tensor_default_device(), ndim, shape);
  if (rc == NN_OK) rc = tensor_fill(m->grad[i], 0.0f);
  /* a parameter and its gradient keep this shape for the layer's life: the
     layer's math reads their sizes from its options, not from them */
  if (rc == NN_OK) { tensor_fix_shape(m->param[i]); tensor_fix_shape(m->grad[i]); }
  return rc;
}

int module_new_buffer (nn_module *m, int i, int ndim, const int64_t *shape, float value) {
  int rc = tensor_new(&m->buffer[i], tensor_default_device(), ndim, shape);
  if (rc == NN_OK) rc = tensor_fill(m->buffer[i], value);
  return rc;
}

int resize_as (nn_tensor *t, const nn_tensor *like) {
  return tensor_resize(t, like->ndim, like->shape);
}

nn_shape shape_of (const nn_tensor *t) {
  nn_shape s;
  s.ndim = t->ndim;
  for (int i = 0; i < t->ndim; i++) s.d[i] = t->shape[i];
  return s;
}

static int same_shape (const nn_shape *a, const nn_tensor *t) {
  if (a->ndim != t->ndim) return 0;
  for (int i = 0; i < a->ndim; i++) if (a->d[i] != t->shape[i]) return 0;
  return 1;
}

/* --- devices ----------------------------------------------------------------------- */

/* Every tensor the layer owns, for module_to: parameters, their gradients,
** buffers, the output and the grad_inputs. */
int module_to (nn_module *m, nn_device dev) {
  nn_tensor *ts[2 * NN_MAXPARAM + NN_MAXBUFFER + 1 + NN_MAXINPUT];
  int n = 0;
  for (int i = 0; i < NN_MAXPARAM; i++) { ts[n++] = m->param[i]; ts[n++] = m->grad[i]; }
  for (int i = 0; i < NN_MAXBUFFER; i++) ts[n++] = m->buffer[i];
  ts[n++] = m->output;
  for (int k = 0; k < NN_MAXINPUT; k++) ts[n++] = m->grad_input[k];
  for (int i = 0; i < n; i++)
    if (ts[i] != NULL && ts[i]->storage->device != dev) {
      int rc = tensor_move(ts[i], dev);
      if (rc != NN_OK) return rc;
    }
  /* the kept inputs are the caller's, on the old device: a backward now
  ** needs a forward first */
  if (m->n_inputs > 0 && m->input[0]->storage->device != dev) drop_inputs(m);
  return NN_OK;
}

/* parameters and every input on one device */
static int check_devices (const nn_module *m, int n, nn_tensor *const *x) {
  const nn_tensor *p = m->param[0] ? m->param[0] : m->param[1];
  nn_device dev = p ? p->storage->device : x[0]->storage->device;
  for (int k = 0; k < n; k++)
    if (x[k]->storage->device != dev)
      return nn_seterr_arg(NN_EDEVICE, NN_ROLE_INPUT + k, "%s: input %d is on %s, %s on %s",
                           m->type->name, k + 1, device_name(x[k]->storage->device),
                           p ? "the layer's parameters are" : "input 1 is", device_name(dev));
  return NN_OK;
}

/* --- the passes ---------------------------------------------------------------------- */

int module_output_shape (const nn_module *m, int n, const nn_shape *in, nn_shape *out) {
  const nn_module_type *t = m->type;
  if (n < t->min_inputs || n > t->max_inputs) {
    if (t->min_inputs == t->max_inputs)
      return nn_seterr(NN_EARG, "%s takes %d input%s, got %d", t->name, t->min_inputs,
                       t->min_inputs == 1 ? "" : "s", n);
    return nn_seterr(NN_EARG, "%s takes %d to %d inputs, got %d", t->name, t->min_inputs,
                     t->max_inputs, n);
  }
  /* every input shape a tensor could have (sizes and products up to
  ** NN_MAX_NUMEL), so the types' arithmetic on them cannot overflow: output_shape
  ** is also called on shapes from Lua (summary), not only on tensors' */
  for (int k = 0; k < n; k++) {
    int64_t numel;
    int rc = nn_shape_numel(&numel, in[k].ndim, in[k].d);
    if (rc != NN_OK) return nn_blame(rc, NN_ROLE_INPUT + k);
  }
  if (t->output_shape == NULL) {
    *out = in[0];                     /* element-wise: the shape it gets */
    return NN_OK;
  }
  int rc = t->output_shape(m, n, in, out);
  int64_t numel;                      /* Concat of 8 pieces may outgrow the limit */
  if (rc == NN_OK) rc = nn_shape_numel(&numel, out->ndim, out->d);
  return rc;
}

static int forward_inputs (nn_module *m, int n, nn_tensor *const *x, int flags);

/* An input that is the layer's own output buffer (l(l(x)), a square Linear
** fed its own output) would be overwritten while it is read: it is copied
** first, and the layer keeps the copy as that input.  xs[k] is x[k] or its
** copy, each holding one reference of ours. */
static int copy_aliased (const nn_module *m, int n, nn_tensor *const *x, nn_tensor **xs) {
  for (int k = 0; k < n; k++) {
    int rc = NN_OK;
    if (!m->type->views_input && x[k]->storage == m->output->storage) {
      rc = tensor_new_like(&xs[k], x[k]);
      if (rc == NN_OK) rc = tensor_copy(xs[k], x[k]);
      if (rc != NN_OK) tensor_release(xs[k]);
    } else {
      xs[k] = tensor_retain(x[k]);
    }
    if (rc != NN_OK) {
      while (k-- > 0) tensor_release(xs[k]);
      return rc;
    }
  }
  return NN_OK;
}

int module_forward (nn_module *m, int n, nn_tensor *const *x, int flags) {
  nn_tensor *xs[NN_MAXINPUT];
  int rc = n >= 1 && n <= NN_MAXINPUT ? NN_OK : nn_seterr(NN_EARG, "%s: %d inputs",
                                                          m->type->name, n);
  if (rc == NN_OK) rc = copy_aliased(m, n, x, xs);
  if (rc != NN_OK) return rc;
  rc = forward_inputs(m, n, xs, flags);
  for (int k = 0; k < n; k++) tensor_release(xs[k]);   /* the layer holds its own references */
  return rc;
}

/* module_forward's body, on inputs that are not the output buffer */
static int forward_inputs (nn_module *m, int n, nn_tensor *const *x, int flags) {
  nn_shape in[NN_MAXINPUT], out;
  int rc = NN_OK;
  for (int k = 0; rc == NN_OK && k < n; k++) in[k] = shape_of(x[k]);
  if (rc == NN_OK) rc = module_output_shape(m, n, in, &out);
  if (rc == NN_OK) rc = check_devices(m, n, x);
  /* the parameters are on x's device; the buffers follow it (a ReLU or a
  ** Dropout has nothing else, and works on either device) */
  if (rc == NN_OK) rc = module_to(m, x[0]->storage->device);
  /* a view's forward re-aliases its output: resizing it first would only
  ** allocate a block it drops */
  if (rc == NN_OK && !m->type->views_input) rc = tensor_resize(m->output, out.ndim, out.d);
  if (rc != NN_OK) {                   /* no backward through a pass that failed */
    drop_inputs(m);
    return rc;
  }
  /* keep the inputs for backward; retain before release, one may be a
  ** kept one */
  for (int k = 0; k < n; k++) tensor_retain(x[k]);
  drop_inputs(m);
  for (int k = 0; k < n; k++) { m->input[k] = x[k]; m->input_shape[k] = in[k]; }
  m->n_inputs = n;
  rc = m->type->forward(m, n, (const nn_tensor *const *)x, flags);
  if (rc != NN_OK) drop_inputs(m);     /* no backward through a pass that failed */
  return rc;
}

int module_backward (nn_module *m, const nn_tensor *grad_out, int flags) {
  const char *name = m->type->name;
  if (m->n_inputs == 0)
    return nn_seterr(NN_EARG, "%s: backward before forward: there is no input to "
                     "differentiate at", name);
  /* what a kept input guarantees: the shape it had at forward.  A layer
  ** whose input is another layer's output buffer sees it resized when
  ** that layer runs again on another batch size. */
  for (int k = 0; k < m->n_inputs; k++)
    if (!same_shape(&m->input_shape[k], m->input[k]))
      return nn_seterr(NN_EARG, "%s: input %d was resized to %s since the forward: run "
                       "forward again before backward", name, k + 1,
                       shape_str(m->input[k]).s);
  const nn_tensor *y = m->output;
  int same = grad_out->ndim == y->ndim;
  for (int i = 0; same && i < y->ndim; i++) same = grad_out->shape[i] == y->shape[i];
  if (!same)
    return nn_seterr_arg(NN_ESHAPE, NN_ROLE_GRAD_OUT, "%s: grad_output must have the "
                         "output's shape %s, got %s", name, shape_str(y).s,
                         shape_str(grad_out).s);
  if (grad_out->storage->device != m->input[0]->storage->device)
    return nn_seterr_arg(NN_EDEVICE, NN_ROLE_GRAD_OUT, "%s: grad_output is on %s, the input "
                         "was on %s", name, device_name(grad_out->storage->device),
                         device_name(m->input[0]->storage->device));
  /* a layer without parameters has nothing to overwrite */
  int rc = NN_OK;
  /* (a view's backward re-aliases its grad_input: nothing to size) */
  if (!(flags & NN_BACKWARD_NO_GRAD_INPUT) && !m->type->views_input)
    for (int k = 0; rc == NN_OK && k < m->n_inputs; k++)
      rc = tensor_resize(m->grad_input[k], m->input[k]->ndim, m->input[k]->shape);
  if (rc == NN_OK) rc = m->type->backward(m, grad_out, flags);
  return rc;
}

int module_zero_grad (nn_module *m) {
  int rc = NN_OK;
  for (int i = 0; rc == NN_OK && i < NN_MAXPARAM; i++)
    if (m->grad[i] != NULL) rc = tensor_fill(m->grad[i], 0.0f);
  return rc;
}

void module_set_training (nn_module *m, int training) {
  m->training = training != 0;
}

/* "Dropout(p=0.5)": the options that differ from their defaults, or all
** positional ones; the type's describe hook when it has one. */
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
  int shown = 0;
  for (int i = 0; i < NN_MAXOPT && t->options[i].name != NULL && n < len; i++) {
    const nn_option *o = &t->options[i];
    if (o->hw_width) continue;
    const char *sep = shown++ == 0 ? "(" : ", ";
    if (o->hw && m->opt[i] != m->opt[i + 1])       /* kernel_size=(3, 5) */
      n += (size_t)snprintf(buf + n, len - n, "%s%s=(%g, %g)", sep, o->name, m->opt[i],
                            m->opt[i + 1]);
    else if (o->kind == NN_OPT_CHOICE)
      n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", sep, o->name, o->choices[(int)m->opt[i]]);
    else if (o->kind == NN_OPT_BOOL)
      n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", sep, o->name,
                            m->opt[i] != 0 ? "true" : "false");
    else
      n += (size_t)snprintf(buf + n, len - n, "%s%s=%g", sep, o->name, m->opt[i]);
  }
  if (shown > 0 && n < len) snprintf(buf + n, len - n, ")");
}
