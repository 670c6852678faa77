/*
** host.h -- what the nnlua host (main.c) and its prompt (repl.c) share.
**
** main.c owns the Lua state's start-up, the command line, running a chunk
** under lua_pcall with a traceback, and Ctrl-C while Lua code runs (the
** lstop/laction pattern of Lua's own lua.c).  repl.c owns the interactive
** prompt: line editing, history, completion, printing results through
** nn.repr.
*/
#ifndef host_h
#define host_h

#include "lua.h"

#define NNLUA_VERSION   "0.1"
#define NNLUA_PROGNAME  "nnlua"

/* Calls the function below 'narg' arguments on the stack, as lua_pcall,
** with a traceback on error and Ctrl-C turned into the error "interrupted!".
** Returns the lua_pcall status. */
int host_docall (lua_State *L, int narg, int nres);

/* If status is not LUA_OK, prints the error message on top of the stack to
** stderr, prefixed with "nnlua: ", and pops it.  Returns status. */
int host_report (lua_State *L, int status);

/* Prints "nnlua 0.1 (Lua 5.4.x)" to stdout. */
void host_print_version (void);

/* Runs the interactive prompt until end of input (Ctrl-D).  Reads with
** libedit when stdin is a terminal, with plain lines otherwise. */
void host_repl (lua_State *L);

/*
** Deferred interrupts, for code that must stop only at a safe point (the
** training loop stops at a batch boundary, leaving the model intact).
** While host_defer_interrupts(1) is in force, a first Ctrl-C only records
** the request, which host_interrupt_pending() reports (and clears); a second
** Ctrl-C interrupts at once ("interrupted!"), and a third ends the process,
** for code stuck in C.  Calls nest; host_defer_interrupts(0) undoes one;
** each chunk the host runs starts with none in force (an error that skipped
** the undo does not leak into the next chunk).  Not deferred, the first
** press interrupts, the second warns, the third ends the process.
*/
void host_defer_interrupts (int on);
int host_interrupt_pending (void);

#endif
