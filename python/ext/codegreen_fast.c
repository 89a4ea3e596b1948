/*
 * codegreen_fast.c - the CPython extension module `_codegreen_fast`: everything codegreen_runtime
 * needs from libcodegreen-nemb (load the library, begin the session, register functions, the
 * enter/exit hot path, the reference's checkpoint functions, end and report), so that the runtime
 * imports no Python module (no ctypes) before the program runs; and, in session_tasks.c, the task
 * boundaries of codegreen.Session; in linetable.c, the compile step's position mover (runner.py);
 * and the library's guard of the runtime's SIGTERM handler (nemb_term_guard()).
 *
 * Built against the limited C API of CPython 3.8 (Py_LIMITED_API 0x03080000, file name
 * `_codegreen_fast.abi3.so`): one binary serves every CPython from 3.8 on.
 *
 * The library is loaded with dlopen() from the paths codegreen_runtime gives (the same search
 * order as codegreen._native), so a codegreen.Session of the same program, which loads the same
 * file through ctypes, shares the one copy of the library.
 *
 * Every function runs with the GIL held and does not release it: the library's recording calls
 * take a timestamp and append to thread-local storage, so they are shorter than a release would
 * be. The GIL also orders load()/begin()/end()/disable() against the calls.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03080000
#endif
#include <Python.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "linetable.h"
#include "nemb.h"
#include "session_tasks.h"

/* The library's error code this module tells apart (nemb.h: NEMB_EINVAL is -EINVAL). */
#define CG_EINVAL (-22)

/* The library's functions this module calls, resolved by load(). */
static struct {
  int (*abi_version)(void);
  const char *(*last_error)(void);
  const char *(*strerror_)(int);
  void (*options_init)(nemb_session_options *);
  int (*begin)(const nemb_session_options *, nemb_session **);
  int (*end)(nemb_session *);
  const char *(*report_json)(const nemb_session *);
  int (*reg)(nemb_session *, const char *, const char *, int, uint32_t *);
  int (*inherit)(nemb_session *, const nemb_session *);
  int (*enter)(nemb_session *, uint32_t);
  int (*exit)(nemb_session *, uint32_t);
  int (*checkpoint)(nemb_session *, const char *, const char *, const char *, int, const char *);
  int (*procs_register)(void);
  int (*procs_unregister)(void);
  int (*term_guard)(int);
  void (*term_guard_seen)(void);
  int (*term_guard_received)(void);
} lib;

enum { STATE_UNSTARTED = 0, STATE_ACTIVE = 1, STATE_DISABLED = 2, STATE_ENDED = 3 };

static void *handle; /* dlopen() handle, once loaded */
static int state = STATE_UNSTARTED;
static nemb_session *session;
static int registered;    /* in the process registry */
static PyObject *starter; /* called with no arguments on first use; it calls begin() */

/* ----- helpers ----- */

/* The library's message for @p rc (the thread's detailed one when there is one). */
static const char *error_text(int rc) {
  const char *m = lib.last_error ? lib.last_error() : NULL;
  if (m != NULL && m[0] != '\0') {
    return m;
  }
  return lib.strerror_ ? lib.strerror_(rc) : "error";
}

/* Begins the session through the Python starter if nothing did yet. Returns 0, or -1 with an
 * exception set. */
static int ensure_started(void) {
  if (state != STATE_UNSTARTED) {
    return 0;
  }
  if (starter == NULL) {
    state = STATE_DISABLED;
    return 0;
  }
  PyObject *r = PyObject_CallObject(starter, NULL);
  if (r == NULL) {
    return -1;
  }
  Py_DECREF(r);
  if (state == STATE_UNSTARTED) {
    state = STATE_DISABLED; /* the starter could not begin a session: measure nothing */
  }
  return 0;
}

/* A text argument as UTF-8 (surrogates escaped, as the file system does), owned by *tmp (a new
 * bytes object the caller releases). NULL without exception for None when @p allow_none. Numbers
 * and other objects are converted with str(). */
static const char *utf8(PyObject *obj, PyObject **tmp, int allow_none, int *failed) {
  if (obj == NULL || (obj == Py_None && allow_none)) {
    return NULL;
  }
  PyObject *s = NULL;
  if (!PyUnicode_Check(obj)) {
    s = PyObject_Str(obj);
    if (s == NULL) {
      *failed = 1;
      return NULL;
    }
    obj = s;
  }
  *tmp = PyUnicode_AsEncodedString(obj, "utf-8", "surrogateescape");
  Py_XDECREF(s);
  if (*tmp == NULL) {
    *failed = 1;
    return NULL;
  }
  return PyBytes_AsString(*tmp);
}

static PyObject *result(int rc, const char *what) {
  if (rc == CG_EINVAL) {
    PyErr_Format(PyExc_ValueError, "codegreen_runtime.%s: invalid argument (%s)", what,
                 "an unknown function id, or a checkpoint_type other than 'enter' or 'exit'");
    return NULL;
  }
  /* Other failures (the session ended while the program still runs, out of memory) must not break
   * the program being measured: the call is simply not recorded. */
  Py_RETURN_NONE;
}

/* ----- the hot path ----- */

static PyObject *call_checkpoint(PyObject *cpid, PyObject *type, PyObject *name, PyObject *line,
                                 PyObject *context) {
  if (ensure_started() != 0) {
    return NULL;
  }
  if (state != STATE_ACTIVE) {
    Py_RETURN_NONE;
  }
  PyObject *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
  int failed = 0;
  const char *s_id = utf8(cpid, &t1, 1, &failed);
  const char *s_type = failed ? NULL : utf8(type, &t2, 0, &failed);
  const char *s_name = failed ? NULL : utf8(name, &t3, 0, &failed);
  const char *s_ctx = failed ? NULL : utf8(context, &t4, 1, &failed);
  long ln = 0;
  if (!failed && line != NULL && line != Py_None) {
    ln = PyLong_AsLong(line);
    failed = ln == -1 && PyErr_Occurred();
    if (!failed && (ln < INT32_MIN || ln > INT32_MAX)) {
      PyErr_SetString(PyExc_ValueError, "line_number out of range");
      failed = 1;
    }
  }
  PyObject *r = NULL;
  if (!failed) {
    r = result(lib.checkpoint(session, s_id, s_name, s_type, (int)ln, s_ctx), "checkpoint");
  }
  Py_XDECREF(t1);
  Py_XDECREF(t2);
  Py_XDECREF(t3);
  Py_XDECREF(t4);
  return r;
}

static PyObject *fast_checkpoint(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *names[] = {"checkpoint_id", "name", "checkpoint_type", NULL};
  PyObject *a[3];
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO:checkpoint", names, &a[0], &a[1], &a[2])) {
    return NULL;
  }
  return call_checkpoint(a[0], a[2], a[1], NULL, NULL);
}

static PyObject *fast_measure_checkpoint(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *names[] = {"checkpoint_id", "checkpoint_type", "name",
                          "line_number",   "context",         NULL};
  PyObject *a[5] = {NULL, NULL, NULL, NULL, NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|OO:measure_checkpoint", names, &a[0], &a[1],
                                   &a[2], &a[3], &a[4])) {
    return NULL;
  }
  return call_checkpoint(a[0], a[1], a[2], a[3], a[4]);
}

static PyObject *enter_or_exit(PyObject *arg, int exiting) {
  unsigned long id = PyLong_AsUnsignedLong(arg);
  if (id == (unsigned long)-1 && PyErr_Occurred()) {
    return NULL;
  }
  if (state != STATE_ACTIVE) {
    Py_RETURN_NONE; /* ids come from register(), which begins the session: nothing to start */
  }
  if (id > UINT32_MAX) {
    return result(CG_EINVAL, exiting ? "exit" : "enter");
  }
  int rc = exiting ? lib.exit(session, (uint32_t)id) : lib.enter(session, (uint32_t)id);
  if (rc == CG_EINVAL) {
    return result(rc, exiting ? "exit" : "enter");
  }
  Py_RETURN_NONE;
}

static PyObject *fast_enter(PyObject *self, PyObject *arg) {
  (void)self;
  return enter_or_exit(arg, 0);
}

static PyObject *fast_exit(PyObject *self, PyObject *arg) {
  (void)self;
  return enter_or_exit(arg, 1);
}

/* enter_at(i) / exit_at(i) of one file, made by bind(): enter(ids[i]) / exit(ids[i]), the ids
 * in a bytes object (uint32_t each, in the table's order) that is the functions' self. What
 * instrumented code calls at every boundary: one global name and one constant. */
static PyObject *at_index(PyObject *ids, PyObject *arg, int exiting) {
  Py_ssize_t i = PyLong_AsSsize_t(arg);
  if (i == -1 && PyErr_Occurred()) {
    return NULL;
  }
  if (state != STATE_ACTIVE) {
    Py_RETURN_NONE;
  }
  Py_ssize_t n = PyBytes_Size(ids) / (Py_ssize_t)sizeof(uint32_t);
  if (i < 0 || i >= n) {
    PyErr_Format(PyExc_IndexError, "codegreen_runtime.%s: no function %zd in this file's table",
                 exiting ? "exit" : "enter", i);
    return NULL;
  }
  uint32_t id;
  memcpy(&id, PyBytes_AsString(ids) + i * (Py_ssize_t)sizeof id, sizeof id);
  int rc = exiting ? lib.exit(session, id) : lib.enter(session, id);
  if (rc == CG_EINVAL) {
    return result(rc, exiting ? "exit" : "enter");
  }
  Py_RETURN_NONE;
}

static PyObject *fast_enter_at(PyObject *ids, PyObject *arg) {
  return at_index(ids, arg, 0);
}

static PyObject *fast_exit_at(PyObject *ids, PyObject *arg) {
  return at_index(ids, arg, 1);
}

static PyMethodDef enter_at_def = {"enter_at", fast_enter_at, METH_O,
                                   "enter_at(i, /)\n--\n\nEntry into this file's function i."};
static PyMethodDef exit_at_def = {"exit_at", fast_exit_at, METH_O,
                                  "exit_at(i, /)\n--\n\nExit of this file's function i."};

/* bind(ids) -> (enter_at, exit_at): ids, a tuple of ints from register(), as the two functions
 * of one file (a copy of the ids: they hold no reference to the tuple). */
static PyObject *fast_bind(PyObject *self, PyObject *ids) {
  (void)self;
  if (!PyTuple_Check(ids)) {
    PyErr_SetString(PyExc_TypeError, "bind(): ids must be a tuple");
    return NULL;
  }
  Py_ssize_t n = PyTuple_Size(ids);
  PyObject *bytes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint32_t));
  if (bytes == NULL) {
    return NULL;
  }
  char *out = PyBytes_AsString(bytes);
  for (Py_ssize_t k = 0; k < n; k++) {
    unsigned long v = PyLong_AsUnsignedLong(PyTuple_GetItem(ids, k));
    if (v == (unsigned long)-1 && PyErr_Occurred()) {
      Py_DECREF(bytes);
      return NULL;
    }
    if (v > UINT32_MAX) {
      Py_DECREF(bytes);
      PyErr_SetString(PyExc_ValueError, "bind(): an id out of range");
      return NULL;
    }
    uint32_t id = (uint32_t)v;
    memcpy(out + k * (Py_ssize_t)sizeof id, &id, sizeof id);
  }
  PyObject *e = PyCFunction_NewEx(&enter_at_def, bytes, NULL);
  PyObject *x = e != NULL ? PyCFunction_NewEx(&exit_at_def, bytes, NULL) : NULL;
  Py_DECREF(bytes);
  if (x == NULL) {
    Py_XDECREF(e);
    return NULL;
  }
  PyObject *r = PyTuple_Pack(2, e, x);
  Py_DECREF(e);
  Py_DECREF(x);
  return r;
}

/* register(name, context=None, line=0) -> int */
static PyObject *fast_register(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *names[] = {"name", "context", "line", NULL};
  PyObject *name, *context = Py_None, *line = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO:register", names, &name, &context, &line)) {
    return NULL;
  }
  if (ensure_started() != 0) {
    return NULL;
  }
  if (state != STATE_ACTIVE) {
    return PyLong_FromLong(0); /* enter/exit do nothing then */
  }
  long ln = 0;
  if (line != NULL && line != Py_None) {
    ln = PyLong_AsLong(line);
    if (ln == -1 && PyErr_Occurred()) {
      return NULL;
    }
    if (ln < INT32_MIN || ln > INT32_MAX) {
      PyErr_SetString(PyExc_ValueError, "line out of range");
      return NULL;
    }
  }
  PyObject *t1 = NULL, *t2 = NULL;
  int failed = 0;
  const char *s_name = utf8(name, &t1, 0, &failed);
  const char *s_ctx = failed ? NULL : utf8(context, &t2, 1, &failed);
  PyObject *r = NULL;
  if (!failed) {
    uint32_t id = 0;
    int rc = lib.reg(session, s_name, s_ctx, (int)ln, &id);
    if (rc != 0) {
      PyErr_Format(PyExc_RuntimeError, "codegreen_runtime.register(%R): %s", name, error_text(rc));
    } else {
      r = PyLong_FromUnsignedLong(id);
    }
  }
  Py_XDECREF(t1);
  Py_XDECREF(t2);
  return r;
}

/* ----- control, from codegreen_runtime ----- */

/* load(paths) -> the path loaded. Tries each path with dlopen(); OSError says why none fit. */
static PyObject *fast_load(PyObject *self, PyObject *paths) {
  (void)self;
  if (handle != NULL) {
    PyErr_SetString(PyExc_RuntimeError, "load(): the library is already loaded");
    return NULL;
  }
  Py_ssize_t n = PySequence_Size(paths);
  if (n < 0) {
    return NULL;
  }
  PyObject *errors = PyList_New(0);
  if (errors == NULL) {
    return NULL;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *p = PySequence_GetItem(paths, i);
    PyObject *b = p ? PyUnicode_EncodeFSDefault(p) : NULL;
    if (b == NULL) {
      Py_XDECREF(p);
      Py_DECREF(errors);
      return NULL;
    }
    const char *path = PyBytes_AsString(b);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    PyObject *why = NULL;
    if (h == NULL) {
      const char *e = dlerror();
      why = PyUnicode_FromFormat("%U: %s", p, e ? e : "cannot be loaded");
    } else {
      int (*abi)(void) = (int (*)(void))dlsym(h, "nemb_abi_version");
      if (abi == NULL) {
        why = PyUnicode_FromFormat("%U: not a codegreen library (no nemb_abi_version)", p);
      } else if (abi() != NEMB_ABI_VERSION) {
        why = PyUnicode_FromFormat("%U: ABI version %d, this module needs %d", p, abi(),
                                   NEMB_ABI_VERSION);
      } else {
#define CG_SYM(field, symbol)                                                                      \
  do {                                                                                             \
    *(void **)(&lib.field) = dlsym(h, symbol);                                                     \
    if (lib.field == NULL && why == NULL) {                                                        \
      why = PyUnicode_FromFormat("%U: no %s", p, symbol);                                          \
    }                                                                                              \
  } while (0)
        CG_SYM(abi_version, "nemb_abi_version");
        CG_SYM(last_error, "nemb_last_error");
        CG_SYM(strerror_, "nemb_strerror");
        CG_SYM(options_init, "nemb_session_options_init");
        CG_SYM(begin, "nemb_session_begin");
        CG_SYM(end, "nemb_session_end");
        CG_SYM(report_json, "nemb_session_report_json");
        CG_SYM(reg, "nemb_checkpoint_register");
        CG_SYM(inherit, "nemb_checkpoint_inherit");
        CG_SYM(enter, "nemb_checkpoint_enter");
        CG_SYM(exit, "nemb_checkpoint_exit");
        CG_SYM(checkpoint, "nemb_checkpoint");
        CG_SYM(procs_register, "nemb_procs_register");
        CG_SYM(procs_unregister, "nemb_procs_unregister");
        CG_SYM(term_guard, "nemb_term_guard");
        CG_SYM(term_guard_seen, "nemb_term_guard_seen");
        CG_SYM(term_guard_received, "nemb_term_guard_received");
#undef CG_SYM
      }
      if (why == NULL) {
        Py_DECREF(b);
        Py_DECREF(errors);
        handle = h;
        return p; /* the new reference of GetItem */
      }
      memset(&lib, 0, sizeof lib);
      dlclose(h);
    }
    Py_DECREF(b);
    Py_DECREF(p);
    if (why == NULL || PyList_Append(errors, why) != 0) {
      Py_XDECREF(why);
      Py_DECREF(errors);
      return NULL;
    }
    Py_DECREF(why);
  }
  PyObject *sep = PyUnicode_FromString("; ");
  PyObject *all = sep ? PyUnicode_Join(sep, errors) : NULL;
  Py_XDECREF(sep);
  Py_DECREF(errors);
  if (all != NULL) {
    PyErr_SetObject(PyExc_OSError, all);
    Py_DECREF(all);
  }
  return NULL;
}

/* begin(name, python_version, argv) -> None. A session beside any other of the process (not
 * exclusive) that writes no file of its own. RuntimeError with the library's message on failure
 * (then every call does nothing). */
static PyObject *fast_begin(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *name, *pyver, *argv;
  if (!PyArg_ParseTuple(args, "UUO:begin", &name, &pyver, &argv)) {
    return NULL;
  }
  if (handle == NULL || state != STATE_UNSTARTED) {
    PyErr_SetString(PyExc_RuntimeError, "begin(): no library loaded, or already begun");
    return NULL;
  }
  Py_ssize_t argc = PySequence_Size(argv);
  if (argc < 0) {
    return NULL;
  }
  PyObject *keep = PyList_New(0); /* the bytes objects the C strings live in */
  const char **cargv = PyMem_Calloc((size_t)argc + 1, sizeof *cargv);
  if (keep == NULL || cargv == NULL) {
    Py_XDECREF(keep);
    PyMem_Free(cargv);
    return PyErr_NoMemory();
  }
  int failed = 0;
  for (Py_ssize_t i = 0; i < argc && !failed; i++) {
    PyObject *item = PySequence_GetItem(argv, i);
    PyObject *tmp = NULL;
    cargv[i] = item ? utf8(item, &tmp, 0, &failed) : NULL;
    failed = failed || item == NULL || (tmp != NULL && PyList_Append(keep, tmp) != 0);
    Py_XDECREF(tmp);
    Py_XDECREF(item);
  }
  PyObject *t1 = NULL, *t2 = NULL;
  const char *s_name = failed ? NULL : utf8(name, &t1, 0, &failed);
  const char *s_ver = failed ? NULL : utf8(pyver, &t2, 0, &failed);
  PyObject *r = NULL;
  if (!failed) {
    nemb_session_options o;
    lib.options_init(&o);
    o.name = s_name;
    o.save_to_file = 0;
    o.output_format = NEMB_FORMAT_NONE;
    o.python_version = s_ver;
    o.argv = cargv;
    o.argc = (size_t)argc;
    o.exclusive = 0; /* beside a user's codegreen.Session, if there is one */
    nemb_session *s = NULL;
    int rc = lib.begin(&o, &s);
    if (rc != 0) {
      state = STATE_DISABLED;
      PyErr_Format(PyExc_RuntimeError, "cannot begin a session: %s", error_text(rc));
    } else {
      session = s;
      state = STATE_ACTIVE;
      registered = lib.procs_register() == 0;
      r = Py_None;
      Py_INCREF(r);
    }
  }
  Py_XDECREF(t1);
  Py_XDECREF(t2);
  Py_DECREF(keep);
  PyMem_Free(cargv);
  return r;
}

/* end() -> the report as JSON text, or None when no session was begun. Every later call does
 * nothing. */
static PyObject *fast_end(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  if (state != STATE_ACTIVE) {
    state = state == STATE_UNSTARTED ? STATE_ENDED : state;
    Py_RETURN_NONE;
  }
  state = STATE_ENDED;
  lib.end(session);
  const char *json = lib.report_json(session);
  if (registered) {
    lib.procs_unregister();
    registered = 0;
  }
  /* The session is kept (never destroyed): a thread of the program may still be in a call. */
  if (json == NULL) {
    return PyUnicode_FromString("{}");
  }
  return PyUnicode_DecodeUTF8(json, (Py_ssize_t)strlen(json), "surrogateescape");
}

static PyObject *fast_set_starter(PyObject *self, PyObject *fn) {
  (void)self;
  if (fn != Py_None && !PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "set_starter() needs a callable or None");
    return NULL;
  }
  Py_XDECREF(starter);
  starter = fn == Py_None ? NULL : fn;
  Py_XINCREF(starter);
  Py_RETURN_NONE;
}

/* disable(): every call does nothing from now on (a forked child: the parent reports). */
static PyObject *fast_disable(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  state = STATE_DISABLED;
  session = NULL;
  registered = 0;
  Py_RETURN_NONE;
}

/* fork_child(name, python_version, argv) -> None. In a forked child: a session of the child's
 * own, begun as begin() begins one, with every function of the parent's session under the same
 * id (the program's code holds those ids). The parent's session is left alone: its copy here is
 * the parent's to end. RuntimeError when there is no active session to inherit from or the new
 * one cannot begin (then every call does nothing). */
static PyObject *fast_fork_child(PyObject *self, PyObject *args) {
  nemb_session *parent = session;
  if (parent == NULL || state != STATE_ACTIVE) {
    PyErr_SetString(PyExc_RuntimeError, "fork_child(): no active session to inherit from");
    return NULL;
  }
  state = STATE_UNSTARTED;
  session = NULL;
  registered = 0;
  PyObject *r = fast_begin(self, args);
  if (r == NULL) {
    state = STATE_DISABLED;
    return NULL;
  }
  int rc = lib.inherit(session, parent);
  if (rc != 0) {
    state = STATE_DISABLED;
    session = NULL;
    Py_DECREF(r);
    PyErr_Format(PyExc_RuntimeError, "cannot take over the parent's functions: %s", error_text(rc));
    return NULL;
  }
  return r;
}

static PyObject *fast_state(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  static const char *const names[] = {"unstarted", "active", "disabled", "ended"};
  return PyUnicode_FromString(names[state]);
}

/* ----- the implicit awaits of async for / async with -----
 *
 * `async for x in it` awaits it.__anext__() on every turn and `async with cm` awaits
 * cm.__aenter__() and cm.__aexit__(); the coroutine is suspended there while other tasks run, so
 * its measured spans close before each of these awaits and reopen after (also when the await
 * ends with an exception), as around an explicit `await`. The instrumenter writes
 *     async for x in _codegreen.aiter(it, (id_inner, ..., id_function)):
 *     async with _codegreen.acontext(cm, (ids...)) as v:
 * In C, so that no frame of codegreen's appears in a traceback that passes through them. The
 * same methods are looked up on the type at the same moment as CPython does, results and
 * exceptions pass through unchanged, and a broken protocol raises this interpreter's own
 * exception: the runtime's probe (set_probe()) runs the plain statement on a stand-in to get it.
 */

static PyObject *probe; /* probe(kind, obj) -> the exception the plain statement raises */
static PyObject *AwaitType, *AsyncIterType, *AsyncContextType;

static void leave_spans(PyObject *ids) {
  Py_ssize_t n = PyTuple_Size(ids);
  for (Py_ssize_t i = 0; i < n; i++) {
    unsigned long id = PyLong_AsUnsignedLong(PyTuple_GetItem(ids, i));
    if (state == STATE_ACTIVE && id <= UINT32_MAX) {
      lib.exit(session, (uint32_t)id);
    }
  }
  PyErr_Clear(); /* ids are the instrumenter's own ints */
}

static void come_back(PyObject *ids) {
  for (Py_ssize_t i = PyTuple_Size(ids) - 1; i >= 0; i--) {
    unsigned long id = PyLong_AsUnsignedLong(PyTuple_GetItem(ids, i));
    if (state == STATE_ACTIVE && id <= UINT32_MAX) {
      lib.enter(session, (uint32_t)id);
    }
  }
  PyErr_Clear();
}

/* Raises what the plain statement raises for @p obj (probe kind @p kind). Returns NULL. */
static PyObject *protocol_error(const char *kind, PyObject *obj) {
  PyObject *e = probe ? PyObject_CallFunction(probe, "sO", kind, obj) : NULL;
  if (e == NULL) {
    if (!PyErr_Occurred()) {
      PyErr_Format(PyExc_TypeError, "'%s' protocol not supported", kind);
    }
    return NULL;
  }
  if (PyExceptionInstance_Check(e)) {
    PyErr_SetObject((PyObject *)Py_TYPE(e), e);
  } else {
    PyErr_Format(PyExc_TypeError, "'%s' protocol not supported", kind);
  }
  Py_DECREF(e);
  return NULL;
}

/* A special method of type(obj), or NULL without exception when it has none. */
static PyObject *type_method(PyObject *obj, const char *name) {
  PyObject *m = PyObject_GetAttrString((PyObject *)Py_TYPE(obj), name);
  if (m == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
    PyErr_Clear();
  }
  return m;
}

typedef struct {
  PyObject_HEAD PyObject *iter; /* the awaitable's iterator */
  PyObject *ids;
  int started, done;
} AwaitObject;

/* The iterator CPython's await would drive for @p a, or NULL with its error. */
static PyObject *await_iter(PyObject *a, const char *kind) {
  PyObject *m = type_method(a, "__await__");
  if (m != NULL) {
    PyObject *it = PyObject_CallFunctionObjArgs(m, a, NULL);
    Py_DECREF(m);
    return it;
  }
  if (PyErr_Occurred()) {
    return NULL;
  }
  /* A generator-based coroutine (types.coroutine) is its own iterator. */
  PyObject *code = PyObject_GetAttrString(a, "gi_code");
  if (code != NULL) {
    PyObject *flags = PyObject_GetAttrString(code, "co_flags");
    Py_DECREF(code);
    long f = flags ? PyLong_AsLong(flags) : 0;
    Py_XDECREF(flags);
    if (f & 0x100) { /* CO_ITERABLE_COROUTINE */
      Py_INCREF(a);
      return a;
    }
  }
  PyErr_Clear();
  return protocol_error(kind, a);
}

static PyObject *await_new(PyObject *a, PyObject *ids, const char *kind) {
  PyObject *it = await_iter(a, kind);
  if (it == NULL) {
    return NULL;
  }
  AwaitObject *self = PyObject_New(AwaitObject, (PyTypeObject *)AwaitType);
  if (self == NULL) {
    Py_DECREF(it);
    return NULL;
  }
  self->iter = it;
  Py_INCREF(ids);
  self->ids = ids;
  self->started = self->done = 0;
  return (PyObject *)self;
}

static void await_dealloc(PyObject *o) {
  AwaitObject *self = (AwaitObject *)o;
  PyTypeObject *t = Py_TYPE(o);
  Py_XDECREF(self->iter);
  Py_XDECREF(self->ids);
  freefunc f = (freefunc)PyType_GetSlot(t, Py_tp_free);
  f(o);
  Py_DECREF(t);
}

/* One step of the inner awaitable: how = 0 send(v), 1 throw(*args), 2 close(). */
static PyObject *await_step(AwaitObject *self, int how, PyObject *arg) {
  if (self->done) {
    if (how == 2) {
      Py_RETURN_NONE;
    }
    PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
    return NULL;
  }
  if (!self->started) {
    self->started = 1;
    leave_spans(self->ids);
  }
  PyObject *r = NULL;
  if (how == 0 && arg == Py_None) {
    PyObject *m = type_method(self->iter, "send");
    if (m != NULL) {
      r = PyObject_CallFunctionObjArgs(m, self->iter, arg, NULL);
      Py_DECREF(m);
    } else if (!PyErr_Occurred()) {
      r = PyObject_CallMethod(self->iter, "__next__", NULL);
      if (r == NULL && !PyErr_Occurred()) {
        PyErr_SetNone(PyExc_StopIteration);
      }
    }
  } else if (how == 0) {
    r = PyObject_CallMethod(self->iter, "send", "O", arg);
  } else if (how == 1) {
    PyObject *m = PyObject_GetAttrString(self->iter, "throw");
    if (m == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
      /* no throw(): the exception is raised where the await is, as CPython does */
      PyErr_Clear();
      PyObject *t = NULL, *v = Py_None, *tb = Py_None;
      if (PyArg_ParseTuple(arg, "O|OO", &t, &v, &tb)) {
        if (PyExceptionInstance_Check(t)) {
          PyErr_SetObject((PyObject *)Py_TYPE(t), t);
        } else {
          PyErr_SetObject(t, v);
        }
      }
    } else if (m != NULL) {
      r = PyObject_Call(m, arg, NULL);
      Py_DECREF(m);
    }
  } else {
    PyObject *m = PyObject_GetAttrString(self->iter, "close");
    if (m == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
      PyErr_Clear();
      r = Py_None;
      Py_INCREF(r);
    } else if (m != NULL) {
      r = PyObject_CallObject(m, NULL);
      Py_DECREF(m);
    }
    self->done = 1;
    come_back(self->ids);
    return r;
  }
  if (r == NULL) {
    self->done = 1;
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    come_back(self->ids);
    PyErr_Restore(t, v, tb);
  }
  return r;
}

static PyObject *await_iternext(PyObject *self) {
  return await_step((AwaitObject *)self, 0, Py_None);
}

static PyObject *await_send(PyObject *self, PyObject *v) {
  return await_step((AwaitObject *)self, 0, v);
}

static PyObject *await_throw(PyObject *self, PyObject *args) {
  return await_step((AwaitObject *)self, 1, args);
}

static PyObject *await_close(PyObject *self, PyObject *unused) {
  (void)unused;
  return await_step((AwaitObject *)self, 2, NULL);
}

static PyObject *self_ref(PyObject *self) {
  Py_INCREF(self);
  return self;
}

static PyObject *self_ref_noargs(PyObject *self, PyObject *unused) {
  (void)unused;
  return self_ref(self);
}

static PyMethodDef await_methods[] = {{"send", await_send, METH_O, NULL},
                                      {"throw", await_throw, METH_VARARGS, NULL},
                                      {"close", await_close, METH_NOARGS, NULL},
                                      {"__await__", self_ref_noargs, METH_NOARGS, NULL},
                                      {NULL, NULL, 0, NULL}};

static PyType_Slot await_slots[] = {
    {Py_tp_dealloc, (void *)await_dealloc},   {Py_tp_iter, (void *)self_ref},
    {Py_tp_iternext, (void *)await_iternext}, {Py_am_await, (void *)self_ref},
    {Py_tp_methods, await_methods},           {0, NULL}};

static PyType_Spec await_spec = {"_codegreen_fast.Await", sizeof(AwaitObject), 0,
                                 Py_TPFLAGS_DEFAULT, await_slots};

/* The wrapper `async for` sees, and the one `async with` sees: (object, method(s), ids). */
typedef struct {
  PyObject_HEAD PyObject *obj;
  PyObject *m1, *m2; /* __anext__; or __aenter__ and __aexit__ (unbound, from the type) */
  PyObject *ids;
} WrapObject;

static void wrap_dealloc(PyObject *o) {
  WrapObject *self = (WrapObject *)o;
  PyTypeObject *t = Py_TYPE(o);
  Py_XDECREF(self->obj);
  Py_XDECREF(self->m1);
  Py_XDECREF(self->m2);
  Py_XDECREF(self->ids);
  freefunc f = (freefunc)PyType_GetSlot(t, Py_tp_free);
  f(o);
  Py_DECREF(t);
}

static PyObject *wrap_new(PyObject *type, PyObject *obj, PyObject *m1, PyObject *m2,
                          PyObject *ids) {
  WrapObject *self = PyObject_New(WrapObject, (PyTypeObject *)type);
  if (self == NULL) {
    Py_DECREF(m1);
    Py_XDECREF(m2);
    return NULL;
  }
  Py_INCREF(obj);
  Py_INCREF(ids);
  self->obj = obj;
  self->m1 = m1;
  self->m2 = m2;
  self->ids = ids;
  return (PyObject *)self;
}

static PyObject *aiter_anext(PyObject *o) {
  WrapObject *self = (WrapObject *)o;
  PyObject *a = PyObject_CallFunctionObjArgs(self->m1, self->obj, NULL);
  if (a == NULL) {
    return NULL;
  }
  PyObject *r = await_new(a, self->ids, "anext_result");
  Py_DECREF(a);
  return r;
}

static PyType_Slot aiter_slots[] = {{Py_tp_dealloc, (void *)wrap_dealloc},
                                    {Py_am_aiter, (void *)self_ref},
                                    {Py_am_anext, (void *)aiter_anext},
                                    {0, NULL}};

static PyType_Spec aiter_spec = {"_codegreen_fast.AsyncIterator", sizeof(WrapObject), 0,
                                 Py_TPFLAGS_DEFAULT, aiter_slots};

static PyObject *actx_aenter(PyObject *o, PyObject *unused) {
  (void)unused;
  WrapObject *self = (WrapObject *)o;
  PyObject *a = PyObject_CallFunctionObjArgs(self->m1, self->obj, NULL);
  if (a == NULL) {
    return NULL;
  }
  PyObject *r = await_new(a, self->ids, "aenter_result");
  Py_DECREF(a);
  return r;
}

static PyObject *actx_aexit(PyObject *o, PyObject *args) {
  WrapObject *self = (WrapObject *)o;
  PyObject *t, *v, *tb;
  if (!PyArg_ParseTuple(args, "OOO:__aexit__", &t, &v, &tb)) {
    return NULL;
  }
  PyObject *a = PyObject_CallFunctionObjArgs(self->m2, self->obj, t, v, tb, NULL);
  if (a == NULL) {
    return NULL;
  }
  PyObject *r = await_new(a, self->ids, "aexit_result");
  Py_DECREF(a);
  return r;
}

static PyMethodDef actx_methods[] = {{"__aenter__", actx_aenter, METH_NOARGS, NULL},
                                     {"__aexit__", actx_aexit, METH_VARARGS, NULL},
                                     {NULL, NULL, 0, NULL}};

static PyType_Slot actx_slots[] = {
    {Py_tp_dealloc, (void *)wrap_dealloc}, {Py_tp_methods, actx_methods}, {0, NULL}};

static PyType_Spec actx_spec = {"_codegreen_fast.AsyncContext", sizeof(WrapObject), 0,
                                Py_TPFLAGS_DEFAULT, actx_slots};

static int check_ids(PyObject *ids) {
  if (!PyTuple_Check(ids)) {
    PyErr_SetString(PyExc_TypeError, "ids must be a tuple of function ids");
    return -1;
  }
  return 0;
}

/* aiter(obj, ids): the async iterator of obj, as `async for` gets it, measured per turn. */
static PyObject *fast_aiter(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *obj, *ids;
  if (!PyArg_ParseTuple(args, "OO:aiter", &obj, &ids) || check_ids(ids) != 0) {
    return NULL;
  }
  PyObject *get_aiter = type_method(obj, "__aiter__");
  if (get_aiter == NULL) {
    return PyErr_Occurred() ? NULL : protocol_error("aiter", obj);
  }
  PyObject *it = PyObject_CallFunctionObjArgs(get_aiter, obj, NULL);
  Py_DECREF(get_aiter);
  if (it == NULL) {
    return NULL;
  }
  PyObject *next = type_method(it, "__anext__");
  PyObject *r = NULL;
  if (next != NULL) {
    r = wrap_new(AsyncIterType, it, next, NULL, ids);
  } else if (!PyErr_Occurred()) {
    protocol_error("anext_missing", it);
  }
  Py_DECREF(it);
  return r;
}

/* acontext(cm, ids): cm as `async with` uses it, its enter and exit awaits measured apart. */
static PyObject *fast_acontext(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *cm, *ids;
  if (!PyArg_ParseTuple(args, "OO:acontext", &cm, &ids) || check_ids(ids) != 0) {
    return NULL;
  }
  PyObject *enter = type_method(cm, "__aenter__");
  PyObject *leave = enter ? type_method(cm, "__aexit__") : NULL;
  if (enter == NULL || leave == NULL) {
    Py_XDECREF(enter);
    return PyErr_Occurred() ? NULL : protocol_error("acontext", cm);
  }
  return wrap_new(AsyncContextType, cm, enter, leave, ids);
}

static PyObject *fast_set_probe(PyObject *self, PyObject *fn) {
  (void)self;
  Py_XDECREF(probe);
  probe = fn;
  Py_INCREF(probe);
  Py_RETURN_NONE;
}

/* ----- a termination signal the runtime handles in Python: the library's guard (nemb.h,
 * nemb_term_guard()), which the ctypes path calls too ----- */

/* guard_termination(signum) -> whether Python's handler of signum (just set by signal.signal)
 * is now guarded; False without the library or when it is not Python's plain handler. */
static PyObject *fast_guard_termination(PyObject *self, PyObject *arg) {
  (void)self;
  long sig = PyLong_AsLong(arg);
  if (sig == -1 && PyErr_Occurred()) {
    return NULL;
  }
  if (lib.term_guard == NULL) {
    Py_RETURN_FALSE;
  }
  int rc = sig > 0 && sig < 65 ? lib.term_guard((int)sig) : CG_EINVAL;
  if (rc == CG_EINVAL) {
    PyErr_SetString(PyExc_ValueError, "guard_termination(): not a signal it can guard");
    return NULL;
  }
  return PyBool_FromLong(rc == 0);
}

/* termination_seen(): the Python handler runs; the kicks stop. */
static PyObject *fast_termination_seen(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  if (lib.term_guard_seen != NULL) {
    lib.term_guard_seen();
  }
  Py_RETURN_NONE;
}

/* termination_received() -> the guarded signal received and not yet seen, or 0. */
static PyObject *fast_termination_received(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  return PyLong_FromLong(lib.term_guard_received != NULL ? lib.term_guard_received() : 0);
}

static PyMethodDef methods[] = {
    {"checkpoint", (PyCFunction)(void (*)(void))fast_checkpoint, METH_VARARGS | METH_KEYWORDS,
     "checkpoint($module, /, checkpoint_id, name, checkpoint_type)\n--\n\n"
     "Marks a checkpoint ('enter' or 'exit' of function `name`)."},
    {"measure_checkpoint", (PyCFunction)(void (*)(void))fast_measure_checkpoint,
     METH_VARARGS | METH_KEYWORDS,
     "measure_checkpoint($module, /, checkpoint_id, checkpoint_type, name, line_number=0,\n"
     "                   context=None)\n--\n\n"
     "Marks a checkpoint with its source line and context."},
    {"register", (PyCFunction)(void (*)(void))fast_register, METH_VARARGS | METH_KEYWORDS,
     "register($module, /, name, context=None, line=0)\n--\n\n"
     "The id of a function for enter() and exit(); begins the session if needed."},
    {"bind", fast_bind, METH_O,
     "bind($module, ids, /)\n--\n\n(enter_at, exit_at) of one file's id table."},
    {"enter", fast_enter, METH_O,
     "enter($module, fid, /)\n--\n\nEnter of the function registered as `fid`."},
    {"exit", fast_exit, METH_O, "exit($module, fid, /)\n--\n\nExit of the function `fid`."},
    {"load", fast_load, METH_O,
     "load($module, paths, /)\n--\n\nLoads libcodegreen-nemb from the first path that fits."},
    {"begin", fast_begin, METH_VARARGS,
     "begin($module, name, python_version, argv, /)\n--\n\nBegins the session."},
    {"end", fast_end, METH_NOARGS,
     "end($module, /)\n--\n\nEnds the session; returns the report's JSON text or None."},
    {"set_starter", fast_set_starter, METH_O,
     "set_starter($module, fn, /)\n--\n\nThe callable that begins the session on first use."},
    {"disable", fast_disable, METH_NOARGS,
     "disable($module, /)\n--\n\nMakes every call a no-op from now on."},
    {"fork_child", fast_fork_child, METH_VARARGS,
     "fork_child($module, name, python_version, argv, /)\n--\n\nA forked child's own session."},
    {"aiter", fast_aiter, METH_VARARGS,
     "aiter($module, obj, ids, /)\n--\n\nThe async iterator of obj, measured per turn."},
    {"acontext", fast_acontext, METH_VARARGS,
     "acontext($module, cm, ids, /)\n--\n\ncm as `async with` uses it, measured apart."},
    {"set_probe", fast_set_probe, METH_O,
     "set_probe($module, fn, /)\n--\n\nfn(kind, obj): the plain statement's exception."},
    {"state", fast_state, METH_NOARGS,
     "state($module, /)\n--\n\n'unstarted', 'active', 'disabled' or 'ended'."},
    {"guard_termination", fast_guard_termination, METH_O,
     "guard_termination($module, signum, /)\n--\n\nPython's handler of signum, acted on even "
     "when the signal lands before a blocking call."},
    {"termination_received", fast_termination_received, METH_NOARGS,
     "termination_received($module, /)\n--\n\nThe guarded signal received and not yet seen, "
     "or 0."},
    {"termination_seen", fast_termination_seen, METH_NOARGS,
     "termination_seen($module, /)\n--\n\nStops the kicks (the Python handler runs)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "_codegreen_fast",
                                    "codegreen_runtime's link to libcodegreen-nemb, in C.",
                                    -1,
                                    methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__codegreen_fast(void);

PyMODINIT_FUNC PyInit__codegreen_fast(void) {
  if (AwaitType == NULL) {
    AwaitType = PyType_FromSpec(&await_spec);
    AsyncIterType = AwaitType ? PyType_FromSpec(&aiter_spec) : NULL;
    AsyncContextType = AsyncIterType ? PyType_FromSpec(&actx_spec) : NULL;
    if (AsyncContextType == NULL) {
      return NULL;
    }
  }
  PyObject *m = PyModule_Create(&module);
  if (m != NULL && (cg_session_tasks_add(m) != 0 || cg_linetable_add(m) != 0)) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
