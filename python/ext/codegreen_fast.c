/*
 * codegreen_fast.c - the CPython extension module `_codegreen_fast`: the hot path of
 * codegreen_runtime (enter/exit of a registered function, checkpoint and measure_checkpoint)
 * without ctypes' argument conversion, which costs several times a Python call.
 *
 * It does not link libcodegreen-nemb. codegreen_runtime loads the library with ctypes, begins the
 * session, and hands this module the session pointer and the addresses of the four functions it
 * calls (init()), so both always use the one copy of the library that is loaded, whichever file
 * CODEGREEN_LIB_PATH named. Until then, calls go to a Python "starter" callable that begins the
 * session lazily; after disable() (the session ended, or a forked child), every call does nothing.
 *
 * Every function runs with the GIL held and does not release it: the library's recording calls
 * take a timestamp and append to thread-local storage, so they are shorter than a release would
 * be. The GIL also orders init()/disable() against the calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* The library's error codes this module tells apart (nemb.h: NEMB_EINVAL is -EINVAL). */
#define CG_EINVAL (-22)

typedef int (*cp_id_fn)(void *session, uint32_t id);
typedef int (*cp_fn)(void *session, const char *checkpoint_id, const char *name,
                     const char *type, int line, const char *context);

enum { STATE_UNSTARTED = 0, STATE_ACTIVE = 1, STATE_DISABLED = 2 };

static int state = STATE_UNSTARTED;
static void *session;
static cp_id_fn fn_enter, fn_exit;
static cp_fn fn_checkpoint;
static PyObject *starter; /* called with no arguments on the first checkpoint; it calls init() */

/* ----- helpers ----- */

static void *address(PyObject *v) {
  void *p = PyLong_AsVoidPtr(v);
  return PyErr_Occurred() ? NULL : p;
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

/* A string argument as UTF-8 owned by @p obj (or by *tmp, a new str the caller releases). NULL
 * (no exception) for None when @p allow_none. */
static const char *utf8(PyObject *obj, PyObject **tmp, int allow_none, int *failed) {
  if (obj == Py_None && allow_none) {
    return NULL;
  }
  if (!PyUnicode_Check(obj)) {
    *tmp = PyObject_Str(obj); /* ids given as numbers */
    if (*tmp == NULL) {
      *failed = 1;
      return NULL;
    }
    obj = *tmp;
  }
  const char *s = PyUnicode_AsUTF8AndSize(obj, NULL);
  if (s == NULL) {
    *failed = 1;
  }
  return s;
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

/* The interned str of an argument name (created on first use, kept for the process). */
#define MAX_NAMES 8
static struct {
  const char *name;
  PyObject *str;
} names_cache[MAX_NAMES];

static PyObject *interned(const char *name) {
  for (int i = 0; i < MAX_NAMES; i++) {
    if (names_cache[i].name == name) {
      return names_cache[i].str;
    }
    if (names_cache[i].name == NULL) {
      PyObject *str = PyUnicode_InternFromString(name);
      if (str == NULL) {
        PyErr_Clear();
        return NULL;
      }
      names_cache[i].name = name;
      names_cache[i].str = str;
      return str;
    }
  }
  return NULL;
}

/* Matches FASTCALL arguments against @p names: positional first, then keywords. Fills out[]
 * (borrowed; NULL when absent). Returns 0 or -1 with TypeError set. */
static int match_args(const char *func, const char *const *names, Py_ssize_t nparams,
                      Py_ssize_t required, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, PyObject **out) {
  if (nargs > nparams) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", func, nparams,
                 nargs);
    return -1;
  }
  for (Py_ssize_t i = 0; i < nparams; i++) {
    out[i] = i < nargs ? args[i] : NULL;
  }
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; k++) {
    PyObject *key = PyTuple_GET_ITEM(kwnames, k);
    Py_ssize_t i = 0;
    while (i < nparams && key != interned(names[i])) {
      i++; /* a call site's keyword names are interned, like ours: pointers compare */
    }
    if (i == nparams) {
      i = 0;
      while (i < nparams && PyUnicode_CompareWithASCIIString(key, names[i]) != 0) {
        i++;
      }
    }
    if (i == nparams) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", func, key);
      return -1;
    }
    if (out[i] != NULL) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", func, names[i]);
      return -1;
    }
    out[i] = args[nargs + k];
  }
  for (Py_ssize_t i = 0; i < required; i++) {
    if (out[i] == NULL) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", func, names[i]);
      return -1;
    }
  }
  return 0;
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
  const char *s_ctx = failed || context == NULL ? NULL : utf8(context, &t4, 1, &failed);
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
    r = result(fn_checkpoint(session, s_id, s_name, s_type, (int)ln, s_ctx), "checkpoint");
  }
  Py_XDECREF(t1);
  Py_XDECREF(t2);
  Py_XDECREF(t3);
  Py_XDECREF(t4);
  return r;
}

static const char *const checkpoint_names[] = {"checkpoint_id", "name", "checkpoint_type"};

static PyObject *fast_checkpoint(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
  (void)self;
  PyObject *a[3];
  if (match_args("checkpoint", checkpoint_names, 3, 3, args, nargs, kwnames, a) != 0) {
    return NULL;
  }
  return call_checkpoint(a[0], a[2], a[1], NULL, NULL);
}

static const char *const measure_names[] = {"checkpoint_id", "checkpoint_type", "name",
                                            "line_number", "context"};

static PyObject *fast_measure_checkpoint(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                         PyObject *kwnames) {
  (void)self;
  PyObject *a[5];
  if (match_args("measure_checkpoint", measure_names, 5, 3, args, nargs, kwnames, a) != 0) {
    return NULL;
  }
  return call_checkpoint(a[0], a[1], a[2], a[3], a[4]);
}

static PyObject *enter_or_exit(PyObject *arg, cp_id_fn *fn, const char *what) {
  unsigned long id = PyLong_AsUnsignedLong(arg);
  if (id == (unsigned long)-1 && PyErr_Occurred()) {
    return NULL;
  }
  if (state != STATE_ACTIVE) {
    Py_RETURN_NONE; /* ids come from register(), which begins the session: nothing to start */
  }
  if (id > UINT32_MAX) {
    return result(CG_EINVAL, what);
  }
  return result((*fn)(session, (uint32_t)id), what);
}

static PyObject *fast_enter(PyObject *self, PyObject *arg) {
  (void)self;
  return enter_or_exit(arg, &fn_enter, "enter");
}

static PyObject *fast_exit(PyObject *self, PyObject *arg) {
  (void)self;
  return enter_or_exit(arg, &fn_exit, "exit");
}

/* ----- control, from codegreen_runtime ----- */

static PyObject *fast_init(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *s, *e, *x, *c;
  if (!PyArg_ParseTuple(args, "OOOO:init", &s, &e, &x, &c)) {
    return NULL;
  }
  void *ps = address(s), *pe = address(e), *px = address(x), *pc = address(c);
  if (PyErr_Occurred()) {
    return NULL;
  }
  if (ps == NULL || pe == NULL || px == NULL || pc == NULL) {
    PyErr_SetString(PyExc_ValueError, "init() needs a session and three function addresses");
    return NULL;
  }
  session = ps;
  fn_enter = (cp_id_fn)pe;
  fn_exit = (cp_id_fn)px;
  fn_checkpoint = (cp_fn)pc;
  state = STATE_ACTIVE;
  Py_RETURN_NONE;
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

static PyObject *fast_disable(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  state = STATE_DISABLED;
  session = NULL;
  Py_RETURN_NONE;
}

static PyObject *fast_state(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  static const char *const names[] = {"unstarted", "active", "disabled"};
  return PyUnicode_FromString(names[state]);
}

static PyMethodDef methods[] = {
    {"checkpoint", (PyCFunction)(void (*)(void))fast_checkpoint, METH_FASTCALL | METH_KEYWORDS,
     "checkpoint($module, /, checkpoint_id, name, checkpoint_type)\n--\n\n"
     "Marks a checkpoint ('enter' or 'exit' of function `name`)."},
    {"measure_checkpoint", (PyCFunction)(void (*)(void))fast_measure_checkpoint,
     METH_FASTCALL | METH_KEYWORDS,
     "measure_checkpoint($module, /, checkpoint_id, checkpoint_type, name, line_number=0,\n"
     "                   context=None)\n--\n\n"
     "Marks a checkpoint with its source line and context."},
    {"enter", fast_enter, METH_O,
     "enter($module, fid, /)\n--\n\nEnter of the function registered as `fid`."},
    {"exit", fast_exit, METH_O, "exit($module, fid, /)\n--\n\nExit of the function `fid`."},
    {"init", fast_init, METH_VARARGS,
     "init($module, session, enter, exit, checkpoint, /)\n--\n\n"
     "Starts recording into `session` through the given function addresses."},
    {"set_starter", fast_set_starter, METH_O,
     "set_starter($module, fn, /)\n--\n\nThe callable that begins the session on first use."},
    {"disable", fast_disable, METH_NOARGS,
     "disable($module, /)\n--\n\nMakes every call a no-op from now on."},
    {"state", fast_state, METH_NOARGS,
     "state($module, /)\n--\n\n'unstarted', 'active' or 'disabled'."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "_codegreen_fast",
                                    "The hot path of codegreen_runtime, in C.",
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
