/*
** l_nn.c -- the module nn.core: random numbers, CUDA queries, and the
** tensor functions (registered by l_tensor.c).  lua/nn/init.lua builds the
** user's `nn` table on top of it.
*/
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include "bindings.h"
#include <unistd.h>
#include "philox.h"
#include "host.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* nn.manual_seed(n): seed the one framework-wide Philox generator and reset
** its counter, so what follows is the same run after run, on any device. */
static int l_manual_seed (lua_State *L) {
  lua_Integer seed = luaL_checkinteger(L, 1);
  nn_manual_seed((uint64_t)seed);
  return 0;
}

/* nn.get_rng_state() -> seed, offset (the next unused Philox block). */
static int l_get_rng_state (lua_State *L) {
  uint64_t seed, offset;
  nn_rng_get_state(&seed, &offset);
  lua_pushinteger(L, (lua_Integer)seed);
  lua_pushinteger(L, (lua_Integer)offset);
  return 2;
}

static int l_set_rng_state (lua_State *L) {
  lua_Integer seed = luaL_checkinteger(L, 1);
  lua_Integer offset = luaL_checkinteger(L, 2);
  luaL_argcheck(L, offset >= 0, 2, "offset must be >= 0");
  nn_rng_set_state((uint64_t)seed, (uint64_t)offset);
  return 0;
}

static uint32_t checku32 (lua_State *L, int arg) {
  lua_Integer v = luaL_checkinteger(L, arg);
  luaL_argcheck(L, v >= 0 && v <= 0xFFFFFFFF, arg, "must be a 32-bit unsigned integer");
  return (uint32_t)v;
}

/* nn.philox(c0, c1, c2, c3, k0, k1) -> r0, r1, r2, r3: one raw block of
** Philox4x32-10, so a spec can check the published known answers. */
static int l_philox (lua_State *L) {
  uint32_t ctr[4], key[2], out[4];
  for (int i = 0; i < 4; i++) ctr[i] = checku32(L, i + 1);
  for (int i = 0; i < 2; i++) key[i] = checku32(L, i + 5);
  philox4x32_10(out, ctr, key);
  for (int i = 0; i < 4; i++) lua_pushinteger(L, (lua_Integer)out[i]);
  return 4;
}

/* nn.cuda.is_available() -> true, or false and the reason. */
static int l_cuda_is_available (lua_State *L) {
  char reason[256];
  int ok = nn_cuda_available(reason, sizeof reason);
  lua_pushboolean(L, ok);
  if (ok) return 1;
  lua_pushstring(L, reason);
  return 2;
}

/* nn.cuda.device_count() -> the CUDA devices present (0 without one) */
static int l_cuda_device_count (lua_State *L) {
  lua_pushinteger(L, nn_cuda_device_count());
  return 1;
}

/* nn.cuda.synchronize(): wait until the GPU has run everything queued.  The
** ops return once their kernels are queued, so time GPU work as
** synchronize(); t0 = nn.clock(); ...; synchronize(); nn.clock() - t0. */
static int l_cuda_synchronize (lua_State *L) {
  int rc = nn_cuda_synchronize();
  if (rc != NN_OK) return nn_raise(L, 0, rc);
  return 0;
}

/* nn.cuda.memory_allocated() -> bytes in live CUDA tensors (at the caching
** allocator's block sizes); memory_reserved() -> bytes held from CUDA,
** those plus the cached free blocks; empty_cache() gives the cached ones
** back.  As torch.cuda's functions of the same names. */
static int l_cuda_memory_allocated (lua_State *L) {
  lua_pushinteger(L, (lua_Integer)nn_cuda_memory_allocated());
  return 1;
}
static int l_cuda_memory_reserved (lua_State *L) {
  lua_pushinteger(L, (lua_Integer)nn_cuda_memory_reserved());
  return 1;
}
static int l_cuda_empty_cache (lua_State *L) {
  (void)L;
  nn_cuda_empty_cache();
  return 0;
}

/* nn.set_default_device('cuda' | 'cpu'): where tensor constructors
** (nn.tensor{...}, zeros, ones, rand, randn, full, arange) and new layers
** put their tensors from now on, as torch.set_default_device.
** nn.get_default_device() -> 'cpu' or 'cuda'.
** Errors: an unknown device; "CUDA is not available: <reason>". */
static int l_set_default_device (lua_State *L) {
  int rc = tensor_set_default_device(nn_checkdevice(L, 1));
  if (rc != NN_OK) return nn_raise(L, 1, rc);
  return 0;
}
static int l_get_default_device (lua_State *L) {
  lua_pushstring(L, device_name(tensor_default_device()));
  return 1;
}

/* The CUDA allocator's out-of-memory hook (tensor.h): a full collection, so
** that tensors Lua has dropped give their device blocks back before the
** allocation is retried.  It runs on a thread of its own, made at start-up,
** whose stack no running code uses, so the finalizers have somewhere to
** run whichever coroutine asked for the memory.  Inside a finalizer (a
** collection already running) lua_gc does nothing, and the retry goes on. */
static void gc_on_oom (void *ud) {
  lua_gc((lua_State *)ud, LUA_GCCOLLECT);
}

/* nn.clock() -> seconds of a monotonic wall clock (os.clock is CPU time,
** which counts every BLAS thread: useless for timing). */
static int l_clock (lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* nn.first_nonfinite(list) -> k, or nil: the position in `list` (a Lua
** list of tensors) of the first tensor holding a NaN or an Inf, each
** tested by tensor_all_finite.  One call per batch of model:train's
** stop_on_nan check, so the scan costs a pass over memory and no Lua per
** tensor.  Errors: list is not a table; an entry is not a tensor (named by
** its position); NN_ECUDA. */
static int l_first_nonfinite (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 1);
  for (lua_Integer k = 1; k <= n; k++) {
    lua_geti(L, 1, k);
    nn_tensor *t = totensor(L, -1);
    if (t == NULL)
      return luaL_argerror(L, 1, lua_pushfstring(L, "entry %d is a %s, not a tensor", (int)k,
                                                  tensor_typename(L, -1)));
    int finite;
    int rc = tensor_all_finite(&finite, t);
    if (rc != NN_OK) return nn_raise(L, 1, rc);
    lua_pop(L, 1);
    if (!finite) { lua_pushinteger(L, k); return 1; }
  }
  lua_pushnil(L);
  return 1;
}

/* nn.defer_interrupts(on): while on, a first Ctrl-C only sets a flag that
** nn.interrupt_pending() reads (and clears), so a training loop can stop at
** a batch boundary with the model intact; a second Ctrl-C interrupts at once
** (vm/host.h).  Calls nest: each true needs its false. */
static int l_defer_interrupts (lua_State *L) {
  host_defer_interrupts(lua_toboolean(L, 1));
  return 0;
}

/* nn.interrupt_pending() -> true once after a deferred Ctrl-C */
static int l_interrupt_pending (lua_State *L) {
  lua_pushboolean(L, host_interrupt_pending());
  return 1;
}

/* nn.interrupt(): one Ctrl-C press, delivered now through the host's own
** SIGINT handler (raise returns after the handler has run), so a spec can
** press it at an exact point of the code instead of after a delay. */
static int l_interrupt (lua_State *L) {
  (void)L;
  raise(SIGINT);
  return 0;
}

/* nn.isatty([fd = 1]) -> whether the file descriptor is a terminal (stdout
** by default): the progress bar redraws one line only on a terminal. */
static int l_isatty (lua_State *L) {
  lua_Integer fd = luaL_optinteger(L, 1, 1);
  luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "fd must be in 0 .. 2^31-1");
  lua_pushboolean(L, isatty((int)fd));
  return 1;
}

/* nn.set_num_threads(n): the threads nnlua's CPU work runs on from now on
** (its GEMM tiles and optimizer updates; the OpenMP team), as PyTorch's
** torch.set_num_threads.  The numbers computed do not depend on it: the
** GEMMs are cut into tiles by their shape alone (tensor/cpu_gemm.c), and
** every other loop is element-wise.  n: an integer in 1 .. 1024.
** nn.get_num_threads() -> the current number (OMP_NUM_THREADS, or the
** cores, until set). */
static int l_set_num_threads (lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 1024, 1, lua_pushfstring(L, "the number of threads must be "
                                                          "in 1 .. 1024, got %I", n));
#ifdef _OPENMP
  omp_set_num_threads((int)n);
#endif
  return 0;
}

static int l_get_num_threads (lua_State *L) {
#ifdef _OPENMP
  lua_pushinteger(L, omp_get_max_threads());
#else
  lua_pushinteger(L, 1);
#endif
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"defer_interrupts", l_defer_interrupts},
  {"interrupt_pending", l_interrupt_pending},
  {"interrupt", l_interrupt},
  {"isatty", l_isatty},
  {"clock", l_clock},
  {"first_nonfinite", l_first_nonfinite},
  {"set_num_threads", l_set_num_threads},
  {"get_num_threads", l_get_num_threads},
  {"manual_seed", l_manual_seed},
  {"get_rng_state", l_get_rng_state},
  {"set_rng_state", l_set_rng_state},
  {"philox", l_philox},
  {"set_default_device", l_set_default_device},
  {"get_default_device", l_get_default_device},
  {NULL, NULL}
};

static const luaL_Reg cuda_funcs[] = {
  {"is_available", l_cuda_is_available},
  {"device_count", l_cuda_device_count},
  {"synchronize", l_cuda_synchronize},
  {"memory_allocated", l_cuda_memory_allocated},
  {"memory_reserved", l_cuda_memory_reserved},
  {"empty_cache", l_cuda_empty_cache},
  {NULL, NULL}
};

/* Opened once per state: a second require (after lua/nn/init.lua has taken
** nn.core out of package.loaded, so that errors name `nn.matmul` and not
** `nn.core.matmul`) gets the same table and the same metatable. */
int luaopen_nn_core (lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "nn.core") == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  luaL_newlib(L, core_funcs);
  nn_open_tensor(L);
  nn_open_tensor_index(L);
  nn_open_tensor_math(L);
  nn_open_tensor_linalg(L);
  nn_open_tensor_shape(L);
  nn_open_module(L);
  nn_open_criterion(L);
  nn_open_optim(L);
  nn_open_data(L);
  nn_open_io(L);
  nn_open_onnx(L);
  nn_open_metrics(L);
  nn_open_functional(L);
  luaL_newlib(L, cuda_funcs);     /* after the tensor methods: t:cuda() is not nn.cuda */
  lua_setfield(L, -2, "cuda");
  lua_State *gc_thread = lua_newthread(L);     /* kept alive in the registry */
  lua_setfield(L, LUA_REGISTRYINDEX, "nn.gc_thread");
  nn_cuda_set_oom_hook(gc_on_oom, gc_thread);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "nn.core");
  return 1;
}
