/*
 * codegreen_runtime.h - the runtime of C and C++ programs instrumented by `codegreen measure c|cpp`
 * (and `codegreen analyze --save-instrumented`): per-function enter/exit checkpoints over
 * libcodegreen-nemb's id-based API (nemb_checkpoint_register/enter/exit, nemb.h).
 *
 * The instrumenter writes into each source file, before its first instrumented function:
 *
 *   #include <codegreen_runtime.h>
 *   static const codegreen_rt_fn TABLE_fns[] = {{"name", line}, ...};
 *   static codegreen_rt_id TABLE[N];
 *   __attribute__((constructor)) static void TABLE_init(void) {
 *     codegreen_rt_register_all("file.c", TABLE_fns, N, TABLE); }
 *
 * and at the top of each function body a guard: in C a variable whose cleanup attribute (GCC,
 * Clang) calls codegreen_rt_leave() on every way out, in C++ a codegreen_rt_guard object (which
 * also covers exceptions). A function left by longjmp(), exit() or a thread's end leaves its
 * span open: the session closes it at its end and counts it in checkpoints.unbalanced.
 *
 * The session. The first register_all() (a constructor, before main) begins one session for the
 * process (non-exclusive, so a program's own nemb_session can run beside it) and registers an
 * exit handler that ends it. Its report is written to $CODEGREEN_RESULT_FILE when that is set
 * (the CLI's way: nothing is printed), else to codegreen_<pid>.json in the working directory.
 * Measuring never breaks the program: without the library, or when the session cannot begin,
 * every call does nothing. In a child made by fork() every call does nothing (the parent reports).
 *
 * The library. Programs linked with -lcodegreen-nemb (what `codegreen measure c` does) call it
 * directly. Otherwise (a build codegreen does not link, `measure --build`), the runtime loads
 * $CODEGREEN_LIB_PATH, else libcodegreen-nemb.so.0, with dlopen().
 *
 * Every translation unit that includes this header shares one state: its functions and the state
 * are weak definitions with C linkage, merged by the linker, so C and C++ files of one program
 * work together. Thread safety: register_all() and enter/leave may be called from any thread; the
 * session begins once. Cost per call: one load, a predictable branch and an indirect call into
 * nemb_checkpoint_enter/exit (see bench/bench_instrument_native.sh).
 */
#ifndef CODEGREEN_RUNTIME_H
#define CODEGREEN_RUNTIME_H

/* Injected into the user's sources: a warning in it would be counted against their code under
 * -Werror, so it is a system header, and it keeps to C89 besides (declarations first, __inline__).
 */
#if defined(__GNUC__)
#pragma GCC system_header
#endif

#include "nemb.h" /* beside this header, wherever it is included from */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A function's id in the session plus one (0: the session is off). */
typedef uint32_t codegreen_rt_id;

/* One instrumented function of a file: its name as in the report and the line of its definition. */
typedef struct codegreen_rt_fn {
  const char *name;
  int line;
} codegreen_rt_fn;

/* The process's runtime state (one, shared by every translation unit). */
typedef struct codegreen_rt_state {
  int phase; /* 0 not started, 1 starting, 2 active, 3 off (no library, no session, forked) */
  nemb_session *session;
  int (*enter)(nemb_session *, uint32_t);
  int (*exit)(nemb_session *, uint32_t);
  int (*reg)(nemb_session *, const char *, const char *, int, uint32_t *);
  int (*end)(nemb_session *);
} codegreen_rt_state;

__attribute__((weak)) codegreen_rt_state codegreen_rt__state;

/* Linked directly when the program is linked with -lcodegreen-nemb; else NULL. */
extern __typeof__(nemb_session_options_init) nemb_session_options_init __attribute__((weak));
extern __typeof__(nemb_session_begin) nemb_session_begin __attribute__((weak));
extern __typeof__(nemb_session_end) nemb_session_end __attribute__((weak));
extern __typeof__(nemb_checkpoint_register) nemb_checkpoint_register __attribute__((weak));
extern __typeof__(nemb_checkpoint_enter) nemb_checkpoint_enter __attribute__((weak));
extern __typeof__(nemb_checkpoint_exit) nemb_checkpoint_exit __attribute__((weak));

__attribute__((weak)) void codegreen_rt__finish(void) {
  codegreen_rt_state *st = &codegreen_rt__state;
  if (__atomic_load_n(&st->phase, __ATOMIC_ACQUIRE) != 2) {
    return;
  }
  __atomic_store_n(&st->phase, 3, __ATOMIC_RELEASE);
  st->end(st->session); /* writes the report; the session is left to the process's end */
}

__attribute__((weak)) void codegreen_rt__forked(void) {
  __atomic_store_n(&codegreen_rt__state.phase, 3, __ATOMIC_RELEASE);
}

/* Begins the session once; @return 1 when it is active. */
__attribute__((weak)) int codegreen_rt__start(void) {
  codegreen_rt_state *st = &codegreen_rt__state;
  int expected = 0;
  __typeof__(nemb_session_options_init) *init = nemb_session_options_init;
  __typeof__(nemb_session_begin) *begin = nemb_session_begin;
  int ok = 0;
  if (!__atomic_compare_exchange_n(&st->phase, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    while (expected == 1) { /* another thread is starting it */
      expected = __atomic_load_n(&st->phase, __ATOMIC_ACQUIRE);
    }
    return expected == 2;
  }
  st->end = nemb_session_end;
  st->reg = nemb_checkpoint_register;
  st->enter = nemb_checkpoint_enter;
  st->exit = nemb_checkpoint_exit;
  if (begin == NULL) {
    const char *path = getenv("CODEGREEN_LIB_PATH");
    void *lib = dlopen(path != NULL && path[0] != '\0' ? path : "libcodegreen-nemb.so.0",
                       RTLD_NOW | RTLD_GLOBAL);
    if (lib != NULL) {
      *(void **)&init = dlsym(lib, "nemb_session_options_init");
      *(void **)&begin = dlsym(lib, "nemb_session_begin");
      *(void **)&st->end = dlsym(lib, "nemb_session_end");
      *(void **)&st->reg = dlsym(lib, "nemb_checkpoint_register");
      *(void **)&st->enter = dlsym(lib, "nemb_checkpoint_enter");
      *(void **)&st->exit = dlsym(lib, "nemb_checkpoint_exit");
    }
  }
  if (init != NULL && begin != NULL && st->end != NULL && st->reg != NULL && st->enter != NULL &&
      st->exit != NULL) {
    nemb_session_options o;
    const char *result = getenv("CODEGREEN_RESULT_FILE");
    init(&o);
    o.output_file = result != NULL && result[0] != '\0' ? result : NULL;
    o.output_format = NEMB_FORMAT_JSON;
    o.exclusive = 0; /* beside a session of the program's own */
    ok = begin(&o, &st->session) == 0;
  }
  if (ok) {
    pthread_atfork(NULL, NULL, codegreen_rt__forked);
    atexit(codegreen_rt__finish);
  }
  __atomic_store_n(&st->phase, ok ? 2 : 3, __ATOMIC_RELEASE);
  return ok;
}

/* Registers the @p n functions of one file (@p context: its name in the report) and fills
 * @p ids. Called by the file's constructor; any thread. */
__attribute__((weak)) void codegreen_rt_register_all(const char *context,
                                                     const codegreen_rt_fn *fns, size_t n,
                                                     codegreen_rt_id *ids) {
  int on =
      __atomic_load_n(&codegreen_rt__state.phase, __ATOMIC_ACQUIRE) == 2 || codegreen_rt__start();
  size_t i;
  for (i = 0; i < n; i++) {
    uint32_t id = 0;
    if (on && codegreen_rt__state.reg(codegreen_rt__state.session, fns[i].name, context,
                                      fns[i].line, &id) != 0) {
      id = UINT32_MAX;
    }
    ids[i] = on && id != UINT32_MAX ? id + 1 : 0;
  }
}

/* Entry into a registered function; returns @p id for the guard to keep. */
static __inline__ codegreen_rt_id codegreen_rt_enter(codegreen_rt_id id) {
  if (__atomic_load_n(&codegreen_rt__state.phase, __ATOMIC_RELAXED) == 2 && id != 0) {
    codegreen_rt__state.enter(codegreen_rt__state.session, id - 1);
  }
  return id;
}

/* Exit from it: the C guard's cleanup, with a pointer to the guard variable. */
static __inline__ void codegreen_rt_leave(const codegreen_rt_id *id) {
  if (__atomic_load_n(&codegreen_rt__state.phase, __ATOMIC_RELAXED) == 2 && *id != 0) {
    codegreen_rt__state.exit(codegreen_rt__state.session, *id - 1);
  }
}

#ifdef __cplusplus
} /* extern "C" */

/* The C++ guard: enter at construction, exit at destruction (a return, an exception). */
class codegreen_rt_guard {
public:
  explicit codegreen_rt_guard(codegreen_rt_id id) noexcept : id_(codegreen_rt_enter(id)) {
  }
  ~codegreen_rt_guard() {
    codegreen_rt_leave(&id_);
  }
  codegreen_rt_guard(const codegreen_rt_guard &) = delete;
  codegreen_rt_guard &operator=(const codegreen_rt_guard &) = delete;

private:
  codegreen_rt_id id_;
};
#endif

#endif /* CODEGREEN_RUNTIME_H */
