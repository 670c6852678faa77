/* l_optim.c -- (being written) */
#include "bindings.h"

void nn_open_optim (lua_State *L) {
  (void)L;
}
