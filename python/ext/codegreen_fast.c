/*
 * codegreen_fast.c - the CPython extension module `_codegreen_fast`: everything codegreen_runtime
 * needs from libcodegreen-nemb (load the library, begin the session, register functions, the
 * enter/exit hot path, the reference's checkpoint functions, end and report), so that the runtime
 * imports no Python module (no ctypes) before the program runs.
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
#include <stdint.h>
#include <string.h>

#include "nemb.h"

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
  int (*enter)(nemb_session *, uint32_t);
  int (*exit)(nemb_session *, uint32_t);
  int (*checkpoint)(nemb_session *, const char *, const char *, const char *, int, const char *);
  int (*procs_register)(void);
  int (*procs_unregister)(void);
} lib;

enum { STATE_UNSTARTED = 0, STATE_ACTIVE = 1, STATE_DISABLED = 2, STATE_ENDED = 3 };

static void *handle;      /* dlopen() handle, once loaded */
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
  static char *names[] = {"checkpoint_id", "checkpoint_type", "name", "line_number", "context",
                          NULL};
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
      PyErr_Format(PyExc_RuntimeError, "codegreen_runtime.register(%R): %s", name,
                   error_text(rc));
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
#define CG_SYM(field, symbol)                                                                  \
  do {                                                                                         \
    *(void **)(&lib.field) = dlsym(h, symbol);                                                 \
    if (lib.field == NULL && why == NULL) {                                                    \
      why = PyUnicode_FromFormat("%U: no %s", p, symbol);                                     \
    }                                                                                          \
  } while (0)
        CG_SYM(abi_version, "nemb_abi_version");
        CG_SYM(last_error, "nemb_last_error");
        CG_SYM(strerror_, "nemb_strerror");
        CG_SYM(options_init, "nemb_session_options_init");
        CG_SYM(begin, "nemb_session_begin");
        CG_SYM(end, "nemb_session_end");
        CG_SYM(report_json, "nemb_session_report_json");
        CG_SYM(reg, "nemb_checkpoint_register");
        CG_SYM(enter, "nemb_checkpoint_enter");
        CG_SYM(exit, "nemb_checkpoint_exit");
        CG_SYM(checkpoint, "nemb_checkpoint");
        CG_SYM(procs_register, "nemb_procs_register");
        CG_SYM(procs_unregister, "nemb_procs_unregister");
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

static PyObject *fast_state(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  static const char *const names[] = {"unstarted", "active", "disabled", "ended"};
  return PyUnicode_FromString(names[state]);
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
    {"state", fast_state, METH_NOARGS,
     "state($module, /)\n--\n\n'unstarted', 'active', 'disabled' or 'ended'."},
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
  return PyModule_Create(&module);
}
