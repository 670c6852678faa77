/* l_metrics.c -- (being written) */
#include "bindings.h"

void nn_open_metrics (lua_State *L) {
  (void)L;
}
