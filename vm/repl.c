/*
** repl.c -- the nnlua prompt.
**
** A read-eval-print loop in the manner of lua.c's doREPL: a line is first
** tried as 'return <line>', so that an expression prints its value without
** '='; a statement cut short (its syntax error ends in "<eof>") goes on
** with a ">> " prompt.  Results print through nn.repr, looked up on each
** use so that a user can replace it.
**
** Reading: libedit (readline-compatible API) when stdin is a terminal, with
** history in $NNLUA_HISTORY or ~/.nnlua_history and tab completion through
** nn.complete (lua/nn/complete.lua: "nn.ten<TAB>", "model.layers[1].gr<TAB>",
** "model:<TAB>"); plain lines otherwise, so the prompt can be driven through
** a pipe (nnlua -i < file).
**
** What a line may add (Torch7's th had them): "?x" is help(x) and "?" alone
** help(); a trailing ';' runs the line without printing its results; with
** nn.timing(true) each command's wall time follows it.  A result that the
** call printed itself and marked with nn.shown (model:summary()) is not
** printed again.  The globals help and who are set when the prompt starts.
**
** Ctrl-C while typing throws away the line (and any continuation lines) and
** shows a fresh prompt.  For that, libedit is told not to catch signals
** (rl_catch_signals = 0), and our SIGINT handler is installed without
** SA_RESTART: the read() inside readline() fails with EINTR, readline()
** returns, and the flag the handler set tells a cancelled line from end of
** input.  While Lua code runs, host_docall (main.c) installs its own
** handler, which interrupts the code with "interrupted!".
*/

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "lua.h"
#include "lauxlib.h"

#include "host.h"


#define PROMPT        "> "
#define PROMPT2       ">> "
#define MAXHISTORY    1000   /* lines kept in the history file */
#define MAXCOMPLETE   8      /* how deep completion follows __index chains */

/* results of read_line */
#define READ_OK       0
#define READ_EOF      1
#define READ_CANCEL   2

/* results of loadline besides the lua_load statuses */
#define LOAD_EOF      (-1)
#define LOAD_CANCEL   (-2)


static lua_State *repl_L = NULL;          /* for the completer */
static int use_editline = 0;              /* stdin is a terminal */
static char *history_path = NULL;         /* NULL: no history file */
static int history_saved = 0;
static int at_eof = 0;                    /* input has ended */
static volatile sig_atomic_t cancelled = 0;   /* Ctrl-C while reading */
static int quiet = 0;                     /* the last line read ended in ';' */


static void on_sigint_reading (int sig) {
  (void)sig;
  cancelled = 1;
}


/* no SA_RESTART: a blocked read() must fail with EINTR */
static void set_reading_handler (void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint_reading;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}


/*
** {======================================================
** History
** =======================================================
*/

/* $NNLUA_HISTORY (empty: no file), else $HOME/.nnlua_history, else none */
static char *find_history_path (void) {
  const char *env = getenv("NNLUA_HISTORY");
  const char *home;
  char *path;
  size_t n;
  if (env != NULL)
    return (*env != '\0') ? strdup(env) : NULL;
  home = getenv("HOME");
  if (home == NULL || *home == '\0')
    return NULL;
  n = strlen(home) + sizeof "/.nnlua_history";
  path = (char *)malloc(n);
  if (path != NULL)
    snprintf(path, n, "%s/.nnlua_history", home);
  return path;
}


/* writes the history file once, at the end of the prompt or at exit()
** (os.exit from the prompt); a file that cannot be written is skipped */
static void save_history (void) {
  mode_t old_mask;
  if (history_saved || history_path == NULL)
    return;
  history_saved = 1;
  old_mask = umask(077);  /* a new history file is private, as bash's */
  write_history(history_path);
  umask(old_mask);
}


static void remember (const char *line) {
  const char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (use_editline && *p != '\0')
    add_history(line);
}

/* }====================================================== */


/*
** {======================================================
** Tab completion
** =======================================================
** The word before the cursor ("nn.tensor.ze", "model.layers[1].gr") goes
** to the Lua function nn.complete (lua/nn/complete.lua), looked up on each
** use, which returns the list of whole words that complete it.  It runs
** under lua_pcall: an error (an __index that raises, a replaced
** nn.complete) only ends the completion.
*/

static char **cands = NULL;   /* candidates of the current completion */
static int ncands = 0;


static void free_cands (void) {
  int i;
  for (i = 0; i < ncands; i++)
    free(cands[i]);
  free(cands);
  cands = NULL;
  ncands = 0;
}


/* protected: text -> nn.complete(text), or nothing when there is none */
static int collect (lua_State *L) {
  const char *text = (const char *)lua_touserdata(L, 1);
  int t = lua_getglobal(L, "nn");
  if ((t != LUA_TTABLE && t != LUA_TUSERDATA)
      || lua_getfield(L, -1, "complete") != LUA_TFUNCTION)
    return 0;
  lua_pushstring(L, text);
  lua_call(L, 1, 1);
  return 1;
}


static char *next_cand (const char *text, int state) {
  static int i;
  (void)text;
  if (state == 0)
    i = 0;
  return (i < ncands) ? strdup(cands[i++]) : NULL;
}


static char **complete (const char *text, int start, int end) {
  lua_State *L = repl_L;
  int top = lua_gettop(L);
  (void)start; (void)end;
  rl_attempted_completion_over = 1;  /* never fall back to file names */
  free_cands();
  lua_pushcfunction(L, collect);
  lua_pushlightuserdata(L, (void *)text);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    lua_Integer n = 0, i;
    while (n < 10000 && lua_rawgeti(L, -1, n + 1) == LUA_TSTRING) {  /* the strings */
      lua_pop(L, 1);
      n++;
    }
    lua_pop(L, 1);
    cands = (char **)calloc((size_t)n + 1, sizeof(char *));
    for (i = 1; cands != NULL && i <= n; i++) {
      char *s;
      lua_rawgeti(L, -1, i);
      s = strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
      if (s != NULL)
        cands[ncands++] = s;
    }
  }
  lua_settop(L, top);
  if (ncands == 0)
    return NULL;
  return rl_completion_matches(text, next_cand);
}

/* }====================================================== */


/*
** {======================================================
** Reading lines
** =======================================================
*/

/* reads a line without its newline into *out (malloc'ed; the caller
** frees it) */
static int read_line (const char *prompt, char **out) {
  *out = NULL;
  if (at_eof)
    return READ_EOF;
  cancelled = 0;
  if (use_editline) {
    char *s = readline(prompt);
    if (cancelled) {
      free(s);
      fputs("^C\n", stdout);
      fflush(stdout);
      return READ_CANCEL;
    }
    if (s == NULL) {
      at_eof = 1;
      return READ_EOF;
    }
    *out = s;
    return READ_OK;
  }
  else {  /* not a terminal: plain lines, the prompt still shown */
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    fputs(prompt, stdout);
    fflush(stdout);
    errno = 0;
    n = getline(&buf, &cap, stdin);
    if (n < 0) {
      free(buf);
      if (cancelled || errno == EINTR) {
        clearerr(stdin);
        fputs("\n", stdout);
        return READ_CANCEL;
      }
      at_eof = 1;
      return READ_EOF;
    }
    if (n > 0 && buf[n - 1] == '\n')
      buf[n - 1] = '\0';
    *out = buf;
    return READ_OK;
  }
}


/* the prompt: _PROMPT / _PROMPT2 if the user set them, as lua.c */
static const char *get_prompt (lua_State *L, int firstline) {
  const char *p = NULL;
  if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TSTRING)
    p = lua_tostring(L, -1);
  lua_pop(L, 1);  /* the string stays alive: the global holds it */
  return (p != NULL) ? p : (firstline ? PROMPT : PROMPT2);
}


/* true if the line ends in ';' (spaces after it aside): its results are
** not shown.  On a first line the ';' goes, so that "x;" loads as "x". */
static int strip_semicolon (char *line, int firstline) {
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
    n--;
  if (n == 0 || line[n - 1] != ';')
    return 0;
  if (firstline)
    line[n - 1] = '\0';
  return 1;
}


/* reads a line and pushes it; "=x" on a first line means "return x",
** "?x" help(x) */
static int pushline (lua_State *L, int firstline) {
  char *line;
  int r = read_line(get_prompt(L, firstline), &line);
  if (r != READ_OK)
    return r;
  remember(line);
  quiet = strip_semicolon(line, firstline);
  if (firstline && line[0] == '=')
    lua_pushfstring(L, "return %s", line + 1);
  else if (firstline && line[strspn(line, " \t")] == '?')
    lua_pushfstring(L, "help(%s)", line + strspn(line, " \t") + 1);
  else
    lua_pushstring(L, line);
  free(line);
  return READ_OK;
}


/* tries 'return <line>'; on success leaves the function above the line */
static int addreturn (lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
  if (status == LUA_OK)
    lua_remove(L, -2);  /* the 'return' text */
  else
    lua_pop(L, 2);  /* the error and the 'return' text */
  return status;
}


/* true if the load failed only because the text ended too soon */
static int incomplete (lua_State *L, int status) {
  static const char mark[] = "<eof>";
  const size_t lmark = sizeof(mark) - 1;
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    return lmsg >= lmark && strcmp(msg + lmsg - lmark, mark) == 0;
  }
  return 0;
}


/* "l = nn.Linear(3, 2); l.weight": statements, then an expression to
** show, which Lua would reject (an expression is not a statement).  Tries
** "<statements>; return <expression>" at each ';' from the last; on
** success pushes the function and returns LUA_OK, else pushes nothing. */
static int lastreturn (lua_State *L, const char *chunk, size_t len) {
  int tries = 0;
  for (size_t i = len; i > 0 && tries < 16; i--) {
    if (chunk[i - 1] != ';') continue;
    tries++;
    lua_pushlstring(L, chunk, i);
    lua_pushliteral(L, " return ");
    lua_pushlstring(L, chunk + i, len - i);
    lua_concat(L, 3);
    size_t n;
    const char *text = lua_tolstring(L, -1, &n);
    int status = luaL_loadbuffer(L, text, n, "=stdin");
    lua_remove(L, -2);  /* the text */
    if (status == LUA_OK) return LUA_OK;
    lua_pop(L, 1);      /* its error */
  }
  return LUA_ERRSYNTAX;
}


/* reads continuation lines until the chunk at index 1 loads (or fails
** for another reason); leaves the function or the error on top */
static int multiline (lua_State *L) {
  for (;;) {
    size_t len;
    const char *chunk = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, chunk, len, "=stdin");
    int r;
    /* before the '>>' prompt: "a; b.c" also ends in "<eof>" */
    if (status == LUA_ERRSYNTAX && lastreturn(L, chunk, len) == LUA_OK) {
      lua_remove(L, -2);  /* the syntax error */
      return LUA_OK;
    }
    if (!incomplete(L, status))
      return status;
    r = pushline(L, 0);
    if (r == READ_EOF)
      return status;  /* report why the statement never ran */
    if (r == READ_CANCEL)
      return LOAD_CANCEL;
    lua_remove(L, -2);  /* the "<eof>" error */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);  /* chunk .. "\n" .. line, back at index 1 */
  }
}


/* reads a complete statement and leaves its function (or the error) on
** top; LOAD_EOF at end of input, LOAD_CANCEL after Ctrl-C */
static int loadline (lua_State *L) {
  int status, r;
  lua_settop(L, 0);
  r = pushline(L, 1);
  if (r != READ_OK)
    return (r == READ_EOF) ? LOAD_EOF : LOAD_CANCEL;
  if ((status = addreturn(L)) != LUA_OK)
    status = multiline(L);
  if (status != LOAD_CANCEL)
    lua_remove(L, 1);  /* the text */
  return status;
}

/* }====================================================== */


/* the text of the value at 'i': nn.repr(v) when nn.repr is a function,
** else tostring(v) */
static void push_repr (lua_State *L, int i) {
  int t = lua_getglobal(L, "nn");
  if ((t == LUA_TTABLE || t == LUA_TUSERDATA)
      && lua_getfield(L, -1, "repr") == LUA_TFUNCTION) {
    lua_remove(L, -2);  /* nn */
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      luaL_tolstring(L, -1, NULL);
      lua_remove(L, -2);
    }
  }
  else {
    lua_pop(L, (t == LUA_TTABLE || t == LUA_TUSERDATA) ? 2 : 1);
    luaL_tolstring(L, i, NULL);
  }
}


/* prints its arguments through nn.repr, tab-separated, on one line */
static int show_values (lua_State *L) {
  int n = lua_gettop(L);
  int i;
  luaL_checkstack(L, 2 * n + LUA_MINSTACK, "too many results to print");
  for (i = 1; i <= n; i++) {
    if (i > 1)
      lua_pushliteral(L, "\t");
    push_repr(L, i);
  }
  lua_concat(L, 2 * n - 1);
  {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    lua_writestring(s, len);
    lua_writeline();
  }
  return 0;
}


/* errors at the prompt print without the program name, as lua.c */
static void report (lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fflush(stdout);
    lua_writestringerror("%s\n", msg ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
}


/* seconds of a monotonic clock */
static double now (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


/* protected: calls prompt[name](value at 1 if any) -> its first result */
static int call_prompt_fn (lua_State *L) {
  const char *name = (const char *)lua_touserdata(L, lua_upvalueindex(1));
  int narg = lua_gettop(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "nn.prompt") != LUA_TTABLE
      || lua_getfield(L, -1, name) != LUA_TFUNCTION)
    return 0;
  lua_insert(L, 1);
  lua_settop(L, 1 + narg);
  lua_call(L, narg, 1);
  return 1;
}


/* truthiness of nn.prompt's function `name` (lua/nn/prompt.lua) called
** with the value on top when with_top, which stays; false when there is
** no such function or it fails */
static int prompt_call (lua_State *L, const char *name, int with_top) {
  int r;
  lua_pushlightuserdata(L, (void *)name);
  lua_pushcclosure(L, call_prompt_fn, 1);
  if (with_top)
    lua_pushvalue(L, -2);
  r = lua_pcall(L, with_top, 1, 0) == LUA_OK && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}


/* help and who as globals, unless the user's script has set them */
static void set_prompt_globals (lua_State *L) {
  static const char code[] =
    "local nn = rawget(_G, 'nn')\n"
    "if type(nn) ~= 'table' then return end\n"
    "if rawget(_G, 'help') == nil then help = nn.help end\n"
    "if rawget(_G, 'who') == nil then who = nn.who end\n"
    "nn.at_prompt = true\n";
  if (luaL_loadbuffer(L, code, sizeof code - 1, "=prompt") != LUA_OK
      || lua_pcall(L, 0, 0, 0) != LUA_OK)
    lua_pop(L, 1);
}


static void repl_init (lua_State *L) {
  repl_L = L;
  at_eof = 0;
  use_editline = isatty(STDIN_FILENO);
  if (use_editline) {
    rl_readline_name = "nnlua";
    rl_catch_signals = 0;  /* our handler sees Ctrl-C, see above */
    rl_attempted_completion_function = complete;
    /* no '[' ']': "model.layers[1].we" is one word; '?' before "?nn.Lin" */
    rl_basic_word_break_characters = " \t\n\"'`<>=;+-*/%^~#&|,(){}?";
    rl_completion_append_character = '\0';
    using_history();
    stifle_history(MAXHISTORY);
    history_path = find_history_path();
    if (history_path != NULL) {
      read_history(history_path);
      atexit(save_history);
    }
  }
  set_reading_handler();
  set_prompt_globals(L);
}


void host_repl (lua_State *L) {
  int status;
  repl_init(L);
  for (;;) {
    double t0 = 0;
    status = loadline(L);
    if (status == LOAD_EOF)
      break;
    if (status == LOAD_CANCEL)
      continue;
    if (status == LUA_OK) {
      prompt_call(L, "_reset_shown", 0);
      t0 = now();
      status = host_docall(L, 0, LUA_MULTRET);
      t0 = now() - t0;
    }
    /* a call that printed its result (summary, t:hist) marked its last
    ** value with nn.shown: nothing is printed again */
    if (status == LUA_OK && lua_gettop(L) > 0 && !quiet
        && !prompt_call(L, "_was_shown", 1)) {
      lua_pushcfunction(L, show_values);
      lua_insert(L, 1);
      status = host_docall(L, lua_gettop(L) - 1, 0);
    }
    if (status == LUA_OK)
      lua_settop(L, 0);  /* results not shown (';', nn.shown) */
    report(L, status);
    if (status == LUA_OK && prompt_call(L, "timing", 0)) {
      printf("(%.3f s)\n", t0);
      fflush(stdout);
    }
    if (at_eof)
      break;
  }
  lua_settop(L, 0);
  lua_writeline();
  save_history();
  signal(SIGINT, SIG_DFL);
  free_cands();
}
