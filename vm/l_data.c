/* l_data.c -- (being written) */
#include "bindings.h"

void nn_open_data (lua_State *L) {
  (void)L;
}
