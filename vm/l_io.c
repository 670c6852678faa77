/* l_io.c -- (being written) */
#include "bindings.h"

void nn_open_io (lua_State *L) {
  (void)L;
}
