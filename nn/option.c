/*
** option.c -- the one check of an option's value against its description
** (nn_option, criterion.h), for layers (module.c) and losses (criterion.c)
** alike, with the message that names the option and its range.
*/
#include <math.h>
#include <stdio.h>

#include "nn.h"

/* "relu, sigmoid or tanh" into buf */
static void list_choices (char *buf, size_t len, const char *const *choices) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; choices[i] != NULL && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", i == 0 ? "" : choices[i + 1] ? ", " : " or ",
                          choices[i]);
}

int nn_option_check (const char *who, const nn_option *o, double v) {
  char list[256];
  switch (o->kind) {
    case NN_OPT_BOOL:
      if (v == 0.0 || v == 1.0) return NN_OK;
      return nn_seterr(NN_EARG, "%s: %s must be a boolean", who, o->name);
    case NN_OPT_CHOICE: {
      int n = 0;
      while (o->choices[n] != NULL) n++;
      if (v >= 0 && v < n && v == floor(v)) return NN_OK;
      list_choices(list, sizeof list, o->choices);
      return nn_seterr(NN_EARG, "%s: %s must be %s", who, o->name, list);
    }
    case NN_OPT_INT:
      if (!(v == floor(v)) || !(v >= o->min && v <= o->max)) {
        if (o->min == 1 && o->max >= NN_OPT_SIZE_MAX)
          return nn_seterr(NN_EARG, "%s: %s must be a positive integer, got %.17g", who,
                           o->name, v);
        if (o->min == 0 && o->max >= NN_OPT_SIZE_MAX)
          return nn_seterr(NN_EARG, "%s: %s must be a non-negative integer, got %.17g", who,
                           o->name, v);
        return nn_seterr(NN_EARG, "%s: %s must be an integer in [%g, %g], got %.17g", who,
                         o->name, o->min, o->max, v);
      }
      return NN_OK;
    case NN_OPT_NUMBER:
      if (v >= o->min && v <= o->max && !(o->min_excluded && v == o->min)
          && !(o->max_excluded && v == o->max)) return NN_OK;        /* nan fails */
      if (o->min_excluded && isinf(o->max))
        return nn_seterr(NN_EARG, "%s: %s must be > %g, got %g", who, o->name, o->min, v);
      if (isinf(o->min) && isinf(o->max))
        return nn_seterr(NN_EARG, "%s: %s must be a number, got %g", who, o->name, v);
      return nn_seterr(NN_EARG, "%s: %s must be in %s%g, %g%s, got %g", who, o->name,
                       o->min_excluded ? "(" : "[", o->min, o->max, o->max_excluded ? ")" : "]",
                       v);
  }
  return nn_seterr(NN_EARG, "%s: option %s has an unknown kind", who, o->name);
}

