/*
** main.c -- the nnlua host: a Lua 5.4 interpreter with the nn library.
**
** Modelled on Lua 5.4's own lua.c: the same command line (script and its
** arguments, -e, -l, -i, -v, -E, -W, -, --), the same global 'arg', the
** same exit status and error reports, and Ctrl-C handled by a signal handler
** that sets a debug hook, so that the interrupt is raised as an ordinary Lua
** error at the next instruction.  What nnlua adds: the C core is preloaded
** as 'nn.core', the Lua library is found next to the executable, the global
** 'nn' is loaded before anything runs, and the prompt (repl.c) prints
** values through nn.repr.
*/

#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include <cblas.h>                /* openblas_get_corename */

#include "bindings.h"
#include "host.h"


static lua_State *global_L = NULL;

/* prefix of error messages (the prompt prints its errors without it) */
static const char *const progname = NNLUA_PROGNAME;


/*
** {======================================================
** Ctrl-C while Lua code runs
** =======================================================
** A signal handler may not call Lua, but it may set a hook (lua_sethook is
** safe to call asynchronously).  The hook runs at the next Lua instruction
** and raises "interrupted!" there, so the error unwinds through pcall like
** any other and the state stays usable.  Presses are counted: a third press
** before the hook has run (code stuck in a long C call) ends the process,
** as lua.c does on the second; we allow one more so that an impatient
** double press does not throw away a model being trained.
*/

static volatile sig_atomic_t sigint_count = 0;   /* presses not yet served */
static volatile sig_atomic_t defer_depth = 0;    /* host_defer_interrupts */
static volatile sig_atomic_t pending = 0;        /* deferred press waiting */


/* the hook: runs in Lua's context, at the next instruction */
static void lstop (lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  sigint_count = 0;
  pending = 0;
  luaL_error(L, "interrupted!");
}


/* the handler: only async-signal-safe calls here */
static void laction (int sig) {
  static const char warn[] =
      "\n" NNLUA_PROGNAME ": still busy in C code; press Ctrl-C again to quit\n";
  int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT;  /* as lua.c */
  int n = sigint_count + 1;
  sigint_count = n;
  if (defer_depth > 0)
    n--;  /* the first press only asks for a stop at the next safe point */
  if (n == 0) {
    pending = 1;
    return;
  }
  if (n >= 3) {  /* the hook has not run: give up, end the process */
    signal(sig, SIG_DFL);
    raise(sig);  /* delivered when this handler returns */
    return;
  }
  if (n == 2) {
    ssize_t w = write(STDERR_FILENO, warn, sizeof(warn) - 1);
    (void)w;
  }
  lua_sethook(global_L, lstop, flag, 1);
}


void host_defer_interrupts (int on) {
  if (on)
    defer_depth++;
  else if (defer_depth > 0)
    defer_depth--;
}


int host_interrupt_pending (void) {
  int p = pending;
  if (p) {
    pending = 0;
    sigint_count = 0;
  }
  return p;
}

/* }====================================================== */


/* prints a message to stderr, prefixed with the program name if any */
static void l_message (const char *pname, const char *msg) {
  if (pname)
    lua_writestringerror("%s: ", pname);
  lua_writestringerror("%s\n", msg);
}


int host_report (lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL)
      msg = "(error object is not a string)";
    l_message(progname, msg);
    lua_pop(L, 1);
  }
  return status;
}


/* message handler: turns the error object into a string and adds a
** traceback */
static int msghandler (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {  /* not a string (nor a number) */
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;  /* its own text is the message */
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}


int host_docall (lua_State *L, int narg, int nres) {
  struct sigaction sa, old;
  int status;
  int base = lua_gettop(L) - narg;  /* function index */
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  sigint_count = 0;
  pending = 0;
  defer_depth = 0;
  /* SA_RESTART: a read in the running code is not broken by the press;
  ** the hook stops the code once the read returns, as in lua.c */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = laction;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  status = lua_pcall(L, narg, nres, base);
  sigaction(SIGINT, &old, NULL);
  /* a press that came as the code finished must not stop the next chunk */
  if (lua_gethook(L) == lstop)
    lua_sethook(L, NULL, 0, 0);
  lua_remove(L, base);
  return status;
}


#define VERSION_LINE  NNLUA_PROGNAME " " NNLUA_VERSION " (" LUA_RELEASE ")"

void host_print_version (void) {
  lua_writestring(VERSION_LINE, sizeof(VERSION_LINE) - 1);
  lua_writeline();
}


/* the usage text: to stderr after a bad option, to stdout for --help */
static void print_usage (const char *badoption) {
  FILE *f = (badoption != NULL) ? stderr : stdout;
  if (badoption != NULL) {
    if (badoption[1] == 'e' || badoption[1] == 'l')
      fprintf(f, "%s: '%s' needs argument\n", progname, badoption);
    else
      fprintf(f, "%s: unrecognized option '%s'\n", progname, badoption);
  }
  fprintf(f,
  "usage: %s [options] [script [args]]\n"
  "Available options are:\n"
  "  -e stat   execute string 'stat'\n"
  "  -i        enter interactive mode after executing 'script'\n"
  "  -l mod    require library 'mod' into global 'mod'\n"
  "  -l g=mod  require library 'mod' into global 'g'\n"
  "  -v        show version information\n"
  "  -E        ignore environment variables\n"
  "  -W        turn warnings on\n"
  "  --help    show this help\n"
  "  --        stop handling options\n"
  "  -         stop handling options and execute stdin\n"
  "With no script, reads from stdin: a prompt if it is a terminal.\n"
  "The global 'nn' is the nnlua library; at the prompt, an expression\n"
  "prints its value (through nn.repr).  History: $NNLUA_HISTORY, else\n"
  "~/.nnlua_history.\n",
  progname);
  fflush(f);
}


/*
** {======================================================
** The command line
** =======================================================
*/

/* bits of the result of collectargs */
#define has_error  1   /* bad option */
#define has_i      2   /* -i */
#define has_v      4   /* -v */
#define has_e      8   /* -e */
#define has_E     16   /* -E */
#define has_help  32   /* --help */


/*
** Scans the options.  *first is set to the index of the script name (or
** of the bad option, on error); to argc when there is no script; to -1
** when there is not even a program name.
*/
static int collectargs (char **argv, int *first) {
  int args = 0;
  int i;
  if (argv[0] == NULL) {
    *first = -1;
    return 0;
  }
  for (i = 1; argv[i] != NULL; i++) {
    const char *a = argv[i];
    *first = i;
    if (a[0] != '-')  /* not an option: the script */
      return args;
    switch (a[1]) {
      case '-':  /* '--' or '--help' */
        if (strcmp(a, "--help") == 0) {
          args |= has_help;
          break;
        }
        if (a[2] != '\0')
          return has_error;
        *first = i + 1;
        return args;
      case '\0':  /* '-': the script is stdin */
        return args;
      case 'E': case 'W':
        if (a[2] != '\0')
          return has_error;
        if (a[1] == 'E')
          args |= has_E;
        break;
      case 'i':
        args |= has_i;  /* -i implies -v */
        /* FALLTHROUGH */
      case 'v':
        if (a[2] != '\0')
          return has_error;
        args |= has_v;
        break;
      case 'e':
        args |= has_e;
        /* FALLTHROUGH */
      case 'l':  /* both take an argument, joined or next */
        if (a[2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-')
            return has_error;
        }
        break;
      default:
        return has_error;
    }
  }
  *first = i;
  return args;
}


/*
** The global 'arg': arg[0] is the script, arg[1..] its arguments, and the
** interpreter and its options go to negative indices.  With no script,
** arg[0] is the program and the options are positive.
*/
static void createargtable (lua_State *L, char **argv, int argc, int script) {
  int i, narg;
  if (script == argc)
    script = 0;
  narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}


static int dochunk (lua_State *L, int status) {
  if (status == LUA_OK)
    status = host_docall(L, 0, 0);
  return host_report(L, status);
}


static int dostring (lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}


/* -l [g=]mod: g = require(mod); the global is mod when there is no g= */
static int dolibrary (lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  int status;
  lua_getglobal(L, "require");
  lua_pushstring(L, eq ? eq + 1 : spec);
  status = host_docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_pushglobaltable(L);
    if (eq)
      lua_pushlstring(L, spec, (size_t)(eq - spec));
    else
      lua_pushstring(L, spec);
    lua_rotate(L, -3, -1);  /* _G, name, module */
    lua_settable(L, -3);
    lua_pop(L, 1);
  }
  return host_report(L, status);
}


/* pushes the script's arguments arg[1..n] and returns n */
static int pushargs (lua_State *L) {
  int i, n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (i = 1; i <= n; i++)
    lua_rawgeti(L, -i, i);
  lua_remove(L, -i);  /* the table */
  return n;
}


static int handle_script (lua_State *L, char **argv) {
  int status;
  const char *fname = argv[0];
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
    fname = NULL;  /* stdin */
  status = luaL_loadfile(L, fname);  /* skips a first '#' line */
  if (status == LUA_OK) {
    int n = pushargs(L);
    status = host_docall(L, n, LUA_MULTRET);
  }
  return host_report(L, status);
}


/* runs -e and -l in order; returns 0 on the first failure */
static int runargs (lua_State *L, char **argv, int n) {
  int i;
  for (i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'W')
      lua_warning(L, "@on", 0);
    else if (option == 'e' || option == 'l') {
      const char *extra = argv[i] + 2;
      int status;
      if (*extra == '\0')
        extra = argv[++i];
      status = (option == 'e') ? dostring(L, extra, "=(command line)")
                               : dolibrary(L, extra);
      if (status != LUA_OK)
        return 0;
    }
  }
  return 1;
}

/* }====================================================== */


/*
** {======================================================
** Finding the Lua library
** =======================================================
*/

/* true if dir/nn/init.lua can be read */
static int has_nn (const char *dir) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/nn/init.lua", dir);
  return access(path, R_OK) == 0;
}


/*
** Prepends to package.path the directory of nnlua's Lua library, the first
** of <exedir>/lua (source tree), <exedir>/../lua (a build subdirectory) and
** <exedir>/../share/nnlua/lua (after make install) that holds nn/init.lua,
** so that require 'nn' works from any working directory.
*/
static void add_libpath (lua_State *L) {
  static const char *const rel[] = {"/lua", "/../lua", "/../share/nnlua/lua"};
  char exe[PATH_MAX], cand[PATH_MAX + 32], real[PATH_MAX];
  char *slash;
  size_t i;
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0)
    return;  /* no /proc: rely on LUA_PATH */
  exe[len] = '\0';
  slash = strrchr(exe, '/');
  if (slash == NULL)
    return;
  *slash = '\0';  /* exe is now the executable's directory */
  for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
    if (has_nn(cand)) {
      const char *dir = (realpath(cand, real) != NULL) ? real : cand;
      lua_getglobal(L, "package");
      lua_getfield(L, -1, "path");
      lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
                      lua_tostring(L, -1));
      lua_setfield(L, -3, "path");
      lua_pop(L, 2);
      return;
    }
  }
}


/* package.preload["nn.core"] = luaopen_nn_core */
static void preload_core (lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_nn_core);
  lua_setfield(L, -2, "nn.core");
  lua_pop(L, 1);
}


/* nn = require 'nn' */
static int load_nn (lua_State *L) {
  int status;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "nn");
  status = host_docall(L, 1, 1);
  if (status == LUA_OK)
    lua_setglobal(L, "nn");
  return host_report(L, status) == LUA_OK;
}

/* }====================================================== */


/*
** Everything that may raise runs in here, under lua_pcall, as in lua.c:
** an error in start-up is reported instead of ending in a panic.
*/
static int pmain (lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script;
  int args = collectargs(argv, &script);
  int optlim = (script > 0) ? script : argc;  /* first non-option */
  luaL_checkversion(L);
  if (args == has_error) {
    print_usage(argv[script]);
    return 0;
  }
  if (args & has_help) {
    print_usage(NULL);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (args & has_v)
    host_print_version();
  if (args & has_E) {  /* tells openlibs to ignore LUA_PATH and LUA_CPATH */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  preload_core(L);
  add_libpath(L);
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCRESTART);
  /* Incremental, not generational as lua.c: a tensor's floats live outside
  ** Lua's heap, and the bindings step the collector by their size
  ** (gc_account in l_tensor.c).  In generational mode such steps only run
  ** young collections, so a result still held in a stack slot when the next
  ** one is made (`local c = a:matmul(b)` in a loop) grows old, and old
  ** tensors wait for a major collection that their bytes never trigger:
  ** measured 177 MB resident after 40 such 4 MB products, 22 MB now. */
  lua_gc(L, LUA_GCINC, 0, 0, 0);
  if (!load_nn(L))
    return 0;
  if (!runargs(L, argv, optlim))
    return 0;
  if (script > 0 && script < argc && handle_script(L, argv + script) != LUA_OK)
    return 0;
  if (args & has_i)
    host_repl(L);
  else if (script == argc && !(args & (has_e | has_v))) {  /* nothing to run */
    if (isatty(STDIN_FILENO)) {
      host_print_version();
      host_repl(L);
    }
    else
      dochunk(L, luaL_loadfile(L, NULL));  /* stdin as a script */
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* How long an idle OpenMP worker spins before it sleeps: GOMP_SPINCOUNT, in
** libgomp's busy-wait iterations.  OpenBLAS's GEMMs and nnlua's loops run
** on libgomp's threads, and between two parallel regions (two GEMMs of a
** step) a worker spins, by default 300,000 iterations, for the next.  On a
** quiet machine that is free speed.  When another process wants the core,
** the spinning worker burns the time slice the other thread of the region
** needs: an MLP epoch at batch 128 went from 3.3 s to 12.4 s beside one busy
** process (PyTorch, 5.8 to 7.0-8.4 s).  A shorter spin keeps the quiet speed
** (back-to-back GEMMs follow within it) and yields under load; the figures
** that chose it are in BENCHMARKS.md.  libgomp reads the variable once, when
** it is loaded, before main runs: so when neither GOMP_SPINCOUNT nor
** OMP_WAIT_POLICY is set, nnlua sets it and runs itself again (execv, a few
** ms at start-up: set_load_time_settings below).  Either variable set by
** the user wins. */
#define NNLUA_SPINCOUNT "10000"

/* OpenBLAS's kernels for this CPU.  Debian's OpenBLAS is built for every x86
** CPU and picks its kernels at load time from the CPU's family and model
** numbers; a CPU newer than it knows, or a virtual one that reports no
** model it knows, gets the generic "Prescott" kernels (SSE3): on this
** project's 2-core AVX-512 machine, 55 GFLOP/s of sgemm where its
** "SkylakeX" kernels give 283 and "Haswell" 148 (build/gemm_ref with
** OPENBLAS_CORETYPE set; BENCHMARKS.md).  So when the CPU has the
** instructions a better kernel needs (AVX-512 F, BW, DQ, VL, CD for
** SkylakeX; AVX2 and FMA for Haswell) and OpenBLAS chose a kernel without
** them, nnlua names the better one in OPENBLAS_CORETYPE (read, like
** GOMP_SPINCOUNT, when the library loads: hence the run again below).  A
** user's OPENBLAS_CORETYPE wins.  Returns the core to ask for, or NULL. */
static const char *better_blas_core (void) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const char *const avx512_cores[] = { "SkylakeX", "Cooperlake", "SapphireRapids", NULL };
  static const char *const avx2_cores[] = { "Haswell", "Zen", "Excavator", "SkylakeX", "Cooperlake",
                                            "SapphireRapids", NULL };
  const char *now = openblas_get_corename();
  const char *const *good;
  const char *want;
  if (getenv("OPENBLAS_CORETYPE") != NULL || now == NULL) return NULL;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
      && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
      && __builtin_cpu_supports("avx512cd")) {
    good = avx512_cores; want = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    good = avx2_cores; want = "Haswell";
  } else {
    return NULL;
  }
  for (int i = 0; good[i] != NULL; i++)
    if (strcasecmp(now, good[i]) == 0) return NULL;   /* (it says "Haswell" or "haswell") */
  return want;
#else
  return NULL;
#endif
}

/* The settings read when the libraries load (GOMP_SPINCOUNT above, and
** OPENBLAS_CORETYPE): when either is to be set, set them and run this
** program again (execv, a few ms at start-up; a failed execv leaves things
** as they were).  Either variable set by the user wins. */
static void set_load_time_settings (char **argv) {
  int spin = getenv("GOMP_SPINCOUNT") == NULL && getenv("OMP_WAIT_POLICY") == NULL;
  const char *core = better_blas_core();
  if (!spin && core == NULL) return;
  if (spin && setenv("GOMP_SPINCOUNT", NNLUA_SPINCOUNT, 1) != 0) return;
  if (core != NULL && setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
  execv("/proc/self/exe", argv);
  if (spin) unsetenv("GOMP_SPINCOUNT");       /* no re-run: as the defaults would have been */
  if (core != NULL) unsetenv("OPENBLAS_CORETYPE");
}

int main (int argc, char **argv) {
  int status, result;
  lua_State *L;
  set_load_time_settings(argv);
#if defined(__SSE__) || defined(__x86_64__)
  /* Flush-to-zero (bit 15) and denormals-are-zero (bit 6) in MXCSR.  Values
  ** below FLT_MIN creep into momentum and Adam buffers as they decay, and
  ** every operation on a denormal takes a slow microcode path: a training
  ** step runs about 2x slower (DESIGN.md, "Speed on the CPU").  The setting
  ** is per thread and threads inherit it when created, so it must come
  ** before any worker thread is started from here.  OpenMP starts its
  ** threads (which run OpenBLAS's GEMMs and nnlua's parallel loops) at the
  ** first parallel region, after this line: they all flush denormals. */
  _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
  /* Tensor buffers of a few MB come and go (a:matmul(b) in a loop).  With
  ** glibc's defaults each one is a fresh mmap, zeroed by the kernel page by
  ** page, and each free a munmap: 1,000 page faults per 4 MB result.  Serve
  ** blocks up to 32 MB from the heap instead, and keep up to 64 MB of freed
  ** heap for reuse rather than trimming it at once.  Measured on 40 calls of
  ** a 1024x1024 matmul: half the page faults and 42 MB resident, not 66. */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  L = luaL_newstate();
  if (L == NULL) {
    l_message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  global_L = L;
  lua_gc(L, LUA_GCSTOP);  /* no collection during start-up */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  result = lua_toboolean(L, -1);
  host_report(L, status);
  lua_close(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
