/*
 * session_tasks.c - codegreen.Session's task boundaries in C: the Recorder, TaskSpan and TaskCall
 * types of the `_codegreen_fast` module (codegreen_fast.c creates the module and calls
 * cg_session_tasks_add()).
 *
 * A Recorder serves one active codegreen.Session. While the Session is active, its task(),
 * start_task() and stop_task() are the Recorder's (session.py installs them as the Session's own
 * attributes), and every @codegreen.task wrapper calls a TaskCall. These call nemb_task_start()
 * and nemb_task_stop() directly, through the function pointers of the library that the Session
 * loaded with ctypes, so the two can never disagree on which copy of the library owns the
 * session. Whatever the fast path does not handle - a name that is not exactly a str or holds a
 * NUL, keyword arguments, a stopped Session, a forked child, no Session - goes to `slow`, the
 * Session's own Python methods, so the behaviour and the messages stay the Session's (a failing
 * library call raises RuntimeError with the library's message on both paths).
 *
 *   Recorder(session, start, stop, last_error, strerror, slow, owner, owner_task=None)
 *       session: the nemb_session * (an int); start, stop, last_error, strerror: the addresses
 *       of nemb_task_start, nemb_task_stop, nemb_last_error and nemb_strerror; slow: an object
 *       with the Session's own task(), start_task() and stop_task(); owner: the Session itself,
 *       compared by identity only (never used as an object); owner_task: the asyncio task that
 *       started the Session, or None (see asyncio below). The Recorder created last is the
 *       module's current one, until its disable().
 *   TaskSpan: what task(name) returns, a context manager (and, called on a function, the
 *       Session's own decorator). Immutable, and one per name: the Recorder caches the spans of
 *       its last NAME_CACHE names (by identity), so `with s.task("x")` allocates nothing.
 *   TaskCall(func, name, owner, slow): the body of a @codegreen.task wrapper. Called with the
 *       wrapper's arguments, it runs func(*args, **kwargs) as task `name` of the current Recorder
 *       (owner None) or only of the Recorder of Session `owner`; else it returns
 *       slow(func, args, kwargs).
 *
 * asyncio: while an event loop runs in the calling thread, a boundary in an asyncio task other
 * than the one that started the Session takes the slow path, where each asyncio task keeps its
 * own open tasks (nemb_task_open(); session.py's _context_tasks): one check per boundary
 * (asyncio.events._get_running_loop(), once asyncio is imported), two in a running loop.
 * Threads: every function runs with the GIL held and does not release it (the library's calls
 * take a timestamp and append to the calling thread's records: shorter than a release). The
 * library keeps one stack of open tasks per thread (nemb.h), so tasks of different threads never
 * meet; the Recorder's own state (its caches, `active`) changes only under the GIL.
 * Ownership: the Recorder holds its cached names, their UTF-8 and their spans; a span holds its
 * Recorder. disable() (at the Session's stop, and when an unstopped Session is collected) drops
 * the spans, which breaks that cycle.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03080000
#endif
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "nemb.h"
#include "session_tasks.h"

/* The vectorcall convention of methods (no argument tuple): CPython has it since 3.7 and made it
 * part of the stable ABI in 3.10; the headers of the 3.8 limited API do not name it. */
#ifndef METH_FASTCALL
#define METH_FASTCALL 0x0080
#endif

typedef int (*task_fn)(nemb_session *, const char *);
typedef const char *(*text_fn)(void);
typedef const char *(*strerror_fn)(int);

#define NAME_CACHE 8 /* names (str objects, by identity) whose UTF-8 and span are kept */

typedef struct {
  PyObject_HEAD nemb_session *session;
  task_fn start, stop;
  text_fn last_error;
  strerror_fn strerror_;
  unsigned long fork_gen; /* fork_generation at creation: a forked child takes the slow path */
  int active;
  PyObject *slow;
  const void *owner;    /* the Session, by identity */
  PyObject *owner_task; /* the asyncio task that started the Session, or Py_None (held) */
  PyObject *names[NAME_CACHE], *bytes[NAME_CACHE], *spans[NAME_CACHE];
  unsigned next;
} RecorderObject;

typedef struct {
  PyObject_HEAD RecorderObject *rec;
  PyObject *name;
} SpanObject;

typedef struct {
  PyObject_HEAD PyObject *func, *name, *owner, *slow;
} TaskCallObject;

static PyObject *RecorderType, *SpanType, *TaskCallType;
static RecorderObject *current; /* the Recorder of the active Session, or NULL */
static unsigned long fork_generation;

static void after_fork_in_child(void) {
  fork_generation++;
}

static int recorder_fast(const RecorderObject *r) {
  return r->active && r->fork_gen == fork_generation;
}

/* asyncio.events._get_running_loop, once asyncio is imported (looked for in sys.modules until
 * then), and the key it is looked for under. */
static PyObject *running_loop_fn, *events_key;

/* CPython's _asyncio from 3.7 to 3.12 keeps a thread's running loop in the thread state's dict
 * under this key, set by the first _set_running_loop() in the thread and kept after: without the
 * key, no event loop has run in this thread, and the boundary needs no call (a program that
 * imported asyncio paid one per boundary, 0.6x of two empty calls per `with s.task()`). 3.13
 * keeps it elsewhere, and asyncio's pure-Python fallback in a thread-local: there the call is
 * always made. (Checked by tests/test_asyncio_tasks.py's boundaries inside running loops.) */
static PyObject *running_loop_key;
static int running_loop_key_usable; /* the key tells; decided with running_loop_fn */

static int key_tells(PyObject *fn) {
  PyObject *mod = PyObject_GetAttrString(fn, "__module__");
  int c_asyncio =
      mod != NULL && PyUnicode_Check(mod) && PyUnicode_CompareWithASCIIString(mod, "_asyncio") == 0;
  Py_XDECREF(mod);
  PyObject *hex = PySys_GetObject("hexversion"); /* borrowed */
  long v = hex != NULL ? PyLong_AsLong(hex) : -1;
  PyErr_Clear();
  return c_asyncio && v >= 0x03070000 && v < 0x030D0000;
}

/* 1 while an asyncio event loop runs in this thread. */
static int loop_running(void) {
  if (running_loop_fn == NULL) {
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *events = events_key != NULL ? PyDict_GetItem(modules, events_key) : NULL;
    if (events == NULL) {
      return 0;
    }
    running_loop_fn = PyObject_GetAttrString(events, "_get_running_loop");
    if (running_loop_fn == NULL) {
      PyErr_Clear();
      return 0;
    }
    running_loop_key_usable = running_loop_key != NULL && key_tells(running_loop_fn);
  }
  if (running_loop_key_usable) {
    PyObject *ts = PyThreadState_GetDict(); /* borrowed; NULL without one */
    if (ts == NULL || PyDict_GetItem(ts, running_loop_key) == NULL) {
      return 0;
    }
  }
  PyObject *loop = PyObject_CallObject(running_loop_fn, NULL);
  if (loop == NULL) {
    PyErr_Clear();
    return 1; /* the slow path asks again and raises if it must */
  }
  int running = loop != Py_None;
  Py_DECREF(loop);
  return running;
}

/* asyncio.tasks.current_task, once asyncio is imported, and its key in sys.modules. */
static PyObject *current_task_fn, *tasks_key;

/* 1 when the thread's stack serves this boundary: no event loop runs, or the running asyncio
 * task is the one that started the Session (@p owner_task, Py_None for none: loop callbacks
 * outside any task cannot await). Another asyncio task interleaves with the owner and with its
 * siblings, so its boundaries go to the slow path (session.py's _context_tasks). */
static int owner_here(PyObject *owner_task) {
  if (!loop_running()) {
    return 1;
  }
  if (current_task_fn == NULL) {
    PyObject *tasks =
        tasks_key != NULL ? PyDict_GetItem(PyImport_GetModuleDict(), tasks_key) : NULL;
    current_task_fn = tasks != NULL ? PyObject_GetAttrString(tasks, "current_task") : NULL;
    if (current_task_fn == NULL) {
      PyErr_Clear();
      return 0;
    }
  }
  PyObject *task = PyObject_CallObject(current_task_fn, NULL);
  if (task == NULL) {
    PyErr_Clear();
    return 0;
  }
  int same = task == owner_task;
  Py_DECREF(task);
  return same;
}

/* The fast path may take a boundary now: the Recorder is live, and this is its owner's turn. */
static int recorder_fast_now(const RecorderObject *r) {
  return recorder_fast(r) && owner_here(r->owner_task);
}

static void free_object(PyObject *o) {
  PyTypeObject *t = Py_TYPE(o);
  freefunc f = (freefunc)PyType_GetSlot(t, Py_tp_free);
  f(o);
  Py_DECREF(t);
}

/* ----- names ----- */

/* The cache slot of @p name (exactly a str), filled on a miss. -1 with an exception set on
 * failure; -2 without one for a name that is empty or holds a NUL (the slow path refuses it with
 * the same error as every other path). */
static int recorder_slot(RecorderObject *r, PyObject *name) {
  for (int i = 0; i < NAME_CACHE; i++) {
    if (r->names[i] == name) {
      return i;
    }
  }
  PyObject *b = PyUnicode_AsEncodedString(name, "utf-8", "surrogateescape");
  if (b == NULL) {
    return -1;
  }
  if (PyBytes_Size(b) == 0 || strlen(PyBytes_AsString(b)) != (size_t)PyBytes_Size(b)) {
    Py_DECREF(b);
    return -2;
  }
  int k = (int)(r->next++ % NAME_CACHE);
  PyObject *old_name = r->names[k], *old_bytes = r->bytes[k], *old_span = r->spans[k];
  Py_INCREF(name);
  r->names[k] = name;
  r->bytes[k] = b;
  r->spans[k] = NULL;
  Py_XDECREF(old_span);
  Py_XDECREF(old_name);
  Py_XDECREF(old_bytes);
  return k;
}

static PyObject *recorder_error(RecorderObject *r, int rc) {
  const char *m = r->last_error ? r->last_error() : NULL;
  PyErr_SetString(PyExc_RuntimeError, m != NULL && m[0] != '\0' ? m
                                      : r->strerror_            ? r->strerror_(rc)
                                                                : "error");
  return NULL;
}

/* Starts (@p start 1) or stops task @p name (NULL: stop the innermost) on the fast path.
 * Returns 0, -1 with an exception set, or -2 (a name only the slow path may take). */
static int recorder_call(RecorderObject *r, int start, PyObject *name) {
  const char *b = NULL;
  if (name != NULL) {
    int k = recorder_slot(r, name);
    if (k < 0) {
      return k;
    }
    b = PyBytes_AsString(r->bytes[k]);
  }
  int rc = start ? r->start(r->session, b) : r->stop(r->session, b);
  if (rc != 0) {
    recorder_error(r, rc);
    return -1;
  }
  return 0;
}

/* slow.<method>(name) */
static PyObject *call_slow(RecorderObject *r, const char *method, PyObject *name) {
  return PyObject_CallMethod(r->slow, method, "O", name);
}

/* slow.<method>(*args, **kwargs), the arguments as a METH_FASTCALL | METH_KEYWORDS method got
 * them: whatever the fast path does not take, the Session's own method answers. */
static PyObject *call_slow_args(RecorderObject *r, const char *method, PyObject *const *args,
                                Py_ssize_t nargs, PyObject *kwnames) {
  Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
  PyObject *tuple = PyTuple_New(nargs), *kw = nkw ? PyDict_New() : NULL, *res = NULL;
  if (tuple == NULL || (nkw && kw == NULL)) {
    goto done;
  }
  for (Py_ssize_t i = 0; i < nargs; i++) {
    Py_INCREF(args[i]);
    PyTuple_SetItem(tuple, i, args[i]);
  }
  for (Py_ssize_t i = 0; i < nkw; i++) {
    if (PyDict_SetItem(kw, PyTuple_GetItem(kwnames, i), args[nargs + i]) != 0) {
      goto done;
    }
  }
  PyObject *m = PyObject_GetAttrString(r->slow, method);
  if (m != NULL) {
    res = PyObject_Call(m, tuple, kw);
    Py_DECREF(m);
  }
done:
  Py_XDECREF(tuple);
  Py_XDECREF(kw);
  return res;
}

/* The one positional str argument of a fast call, or NULL for anything else. */
static PyObject *one_str(const RecorderObject *r, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames) {
  if (nargs != 1 || kwnames != NULL || !PyUnicode_CheckExact(args[0]) || !recorder_fast_now(r)) {
    return NULL;
  }
  return args[0];
}

/* ----- Recorder ----- */

static PyObject *recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  (void)kwds;
  unsigned long long h, fs, fe, fl, fr;
  PyObject *slow, *owner, *owner_task = Py_None;
  if (!PyArg_ParseTuple(args, "KKKKKOO|O:Recorder", &h, &fs, &fe, &fl, &fr, &slow, &owner,
                        &owner_task)) {
    return NULL;
  }
  if (h == 0 || fs == 0 || fe == 0) {
    PyErr_SetString(PyExc_ValueError, "Recorder: a session and two functions are required");
    return NULL;
  }
  allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
  RecorderObject *r = (RecorderObject *)alloc(type, 0);
  if (r == NULL) {
    return NULL;
  }
  r->session = (nemb_session *)(uintptr_t)h;
  *(void **)(&r->start) = (void *)(uintptr_t)fs;
  *(void **)(&r->stop) = (void *)(uintptr_t)fe;
  *(void **)(&r->last_error) = (void *)(uintptr_t)fl;
  *(void **)(&r->strerror_) = (void *)(uintptr_t)fr;
  r->fork_gen = fork_generation;
  r->active = 1;
  Py_INCREF(slow);
  r->slow = slow;
  r->owner = owner;
  Py_INCREF(owner_task);
  r->owner_task = owner_task;
  RecorderObject *old = current;
  Py_INCREF(r);
  current = r;
  Py_XDECREF(old);
  return (PyObject *)r;
}

static void recorder_dealloc(PyObject *o) {
  RecorderObject *r = (RecorderObject *)o;
  Py_XDECREF(r->slow);
  Py_XDECREF(r->owner_task);
  for (unsigned i = 0; i < NAME_CACHE; i++) {
    Py_XDECREF(r->spans[i]);
    Py_XDECREF(r->names[i]);
    Py_XDECREF(r->bytes[i]);
  }
  free_object(o);
}

/* task(name), METH_FASTCALL | METH_KEYWORDS */
static PyObject *recorder_task(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames) {
  RecorderObject *r = (RecorderObject *)self;
  PyObject *name = one_str(r, args, nargs, kwnames);
  int k = name != NULL ? recorder_slot(r, name) : -2;
  if (k == -1) {
    return NULL;
  }
  if (k == -2) {
    return call_slow_args(r, "task", args, nargs, kwnames);
  }
  if (r->spans[k] == NULL) {
    SpanObject *sp = PyObject_New(SpanObject, (PyTypeObject *)SpanType);
    if (sp == NULL) {
      return NULL;
    }
    Py_INCREF(self);
    sp->rec = r;
    Py_INCREF(name);
    sp->name = name;
    r->spans[k] = (PyObject *)sp;
  }
  Py_INCREF(r->spans[k]);
  return r->spans[k];
}

/* start_task(name), METH_FASTCALL | METH_KEYWORDS */
static PyObject *recorder_start_task(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames) {
  RecorderObject *r = (RecorderObject *)self;
  PyObject *name = one_str(r, args, nargs, kwnames);
  int rc = name != NULL ? recorder_call(r, 1, name) : -2;
  if (rc == -2) {
    return call_slow_args(r, "start_task", args, nargs, kwnames);
  }
  if (rc != 0) {
    return NULL;
  }
  Py_RETURN_NONE;
}

/* stop_task(name=None), METH_FASTCALL | METH_KEYWORDS */
static PyObject *recorder_stop_task(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames) {
  RecorderObject *r = (RecorderObject *)self;
  int rc = -2;
  if (nargs == 0 && kwnames == NULL && recorder_fast_now(r)) {
    rc = recorder_call(r, 0, NULL);
  } else if (nargs == 1 && args[0] == Py_None && kwnames == NULL && recorder_fast_now(r)) {
    rc = recorder_call(r, 0, NULL);
  } else {
    PyObject *name = one_str(r, args, nargs, kwnames);
    rc = name != NULL ? recorder_call(r, 0, name) : -2;
  }
  if (rc == -1 && PyErr_ExceptionMatches(PyExc_RuntimeError)) {
    /* Refused by the thread's stack: the slow path also looks among the tasks that asyncio
     * tasks left open (session.py's _close_orphan), and raises the same error if none fits. */
    PyErr_Clear();
    rc = -2;
  }
  if (rc == -2) {
    return call_slow_args(r, "stop_task", args, nargs, kwnames);
  }
  if (rc != 0) {
    return NULL;
  }
  Py_RETURN_NONE;
}

/* Sends every later call to the slow path, and drops the cached spans (see the header). */
static PyObject *recorder_disable(PyObject *self, PyObject *unused) {
  (void)unused;
  RecorderObject *r = (RecorderObject *)self;
  r->active = 0;
  for (unsigned i = 0; i < NAME_CACHE; i++) {
    Py_CLEAR(r->spans[i]);
  }
  if (current == r) {
    Py_CLEAR(current);
  }
  Py_RETURN_NONE;
}

static PyMethodDef recorder_methods[] = {
    {"task", (PyCFunction)(void (*)(void))recorder_task, METH_FASTCALL | METH_KEYWORDS,
     "task(name)\n--\n\nA task span (a context manager)."},
    {"start_task", (PyCFunction)(void (*)(void))recorder_start_task, METH_FASTCALL | METH_KEYWORDS,
     "start_task(name)\n--\n\nStarts a task in the calling thread."},
    {"stop_task", (PyCFunction)(void (*)(void))recorder_stop_task, METH_FASTCALL | METH_KEYWORDS,
     "stop_task(name=None)\n--\n\nStops the calling thread's innermost task."},
    {"disable", recorder_disable, METH_NOARGS,
     "disable($self, /)\n--\n\nSends every later call to the slow path."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot recorder_slots[] = {{Py_tp_new, (void *)recorder_new},
                                       {Py_tp_dealloc, (void *)recorder_dealloc},
                                       {Py_tp_methods, recorder_methods},
                                       {0, NULL}};

static PyType_Spec recorder_spec = {"_codegreen_fast.Recorder", sizeof(RecorderObject), 0,
                                    Py_TPFLAGS_DEFAULT, recorder_slots};

/* ----- TaskSpan ----- */

static void span_dealloc(PyObject *o) {
  SpanObject *sp = (SpanObject *)o;
  Py_XDECREF(sp->rec);
  Py_XDECREF(sp->name);
  free_object(o);
}

/* Starts (@p start 1) or stops (0) the span's task: the fast recorder call, else the Session's
 * own start_task/_exit_span (quiet once the Session stopped). Returns 0, or -1 with a Python
 * exception set. Inlined into each caller with @p start constant, so the fast path stays one test
 * and one call. */
static inline int span_bound(SpanObject *sp, int start) {
  int rc = recorder_fast_now(sp->rec) ? recorder_call(sp->rec, start, sp->name) : -2;
  if (rc == -2) {
    PyObject *r = call_slow(sp->rec, start ? "start_task" : "exit_span", sp->name);
    rc = r == NULL ? -1 : 0;
    Py_XDECREF(r);
  }
  return rc;
}

static PyObject *span_enter(PyObject *self, PyObject *unused) {
  (void)unused;
  if (span_bound((SpanObject *)self, 1) != 0) {
    return NULL;
  }
  Py_INCREF(self);
  return self;
}

/* __exit__(type, value, traceback), METH_FASTCALL: stops the task, never swallows an exception */
static PyObject *span_exit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  (void)args;
  (void)nargs;
  if (span_bound((SpanObject *)self, 0) != 0) {
    return NULL;
  }
  Py_RETURN_FALSE;
}

/* @s.task("x") on a function: the Session's own decorator. */
static PyObject *span_call(PyObject *self, PyObject *args, PyObject *kwds) {
  SpanObject *sp = (SpanObject *)self;
  PyObject *slow_span = call_slow(sp->rec, "task", sp->name);
  if (slow_span == NULL) {
    return NULL;
  }
  PyObject *r = PyObject_Call(slow_span, args, kwds);
  Py_DECREF(slow_span);
  return r;
}

static PyMethodDef span_methods[] = {
    {"__enter__", span_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))span_exit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL}};

static PyType_Slot span_slots[] = {{Py_tp_dealloc, (void *)span_dealloc},
                                   {Py_tp_call, (void *)span_call},
                                   {Py_tp_methods, span_methods},
                                   {0, NULL}};

static PyType_Spec span_spec = {"_codegreen_fast.TaskSpan", sizeof(SpanObject), 0,
                                Py_TPFLAGS_DEFAULT, span_slots};

/* ----- TaskCall ----- */

static PyObject *taskcall_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  (void)kwds;
  PyObject *func, *name, *owner, *slow;
  if (!PyArg_ParseTuple(args, "OUOO:TaskCall", &func, &name, &owner, &slow)) {
    return NULL;
  }
  allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
  TaskCallObject *tc = (TaskCallObject *)alloc(type, 0);
  if (tc == NULL) {
    return NULL;
  }
  PyObject *fields[] = {func, name, owner, slow};
  for (int i = 0; i < 4; i++) {
    Py_INCREF(fields[i]);
  }
  tc->func = func;
  tc->name = name;
  tc->owner = owner;
  tc->slow = slow;
  return (PyObject *)tc;
}

static void taskcall_dealloc(PyObject *o) {
  TaskCallObject *tc = (TaskCallObject *)o;
  Py_XDECREF(tc->func);
  Py_XDECREF(tc->name);
  Py_XDECREF(tc->owner);
  Py_XDECREF(tc->slow);
  free_object(o);
}

/* Stops the task after the function raised: the stop's own error, if any, replaces the
 * function's, which becomes its __context__ (as an exception raised in a `finally:` does). */
static void stop_after_error(RecorderObject *r, PyObject *name) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (recorder_call(r, 0, name) == 0) {
    PyErr_Restore(type, value, tb);
    return;
  }
  PyObject *t2, *v2, *tb2;
  PyErr_Fetch(&t2, &v2, &tb2);
  PyErr_NormalizeException(&type, &value, &tb);
  PyErr_NormalizeException(&t2, &v2, &tb2);
  if (tb != NULL) {
    PyException_SetTraceback(value, tb);
  }
  PyException_SetContext(v2, value); /* steals value */
  Py_XDECREF(type);
  Py_XDECREF(tb);
  PyErr_Restore(t2, v2, tb2);
}

static PyObject *taskcall_call(PyObject *self, PyObject *args, PyObject *kwds) {
  TaskCallObject *tc = (TaskCallObject *)self;
  RecorderObject *r = current;
  int rc = -2;
  if (r != NULL && recorder_fast(r) && (tc->owner == Py_None || r->owner == tc->owner) &&
      PyUnicode_CheckExact(tc->name) && owner_here(r->owner_task)) {
    rc = recorder_call(r, 1, tc->name);
  }
  if (rc == -2) {
    return PyObject_CallFunctionObjArgs(tc->slow, tc->func, args, kwds ? kwds : Py_None, NULL);
  }
  if (rc != 0) {
    return NULL;
  }
  Py_INCREF(r); /* the function may stop the Session, which disables and releases it */
  PyObject *res = PyObject_Call(tc->func, args, kwds);
  if (recorder_fast(r)) { /* unless the function stopped the Session itself */
    if (res == NULL) {
      stop_after_error(r, tc->name);
    } else if (recorder_call(r, 0, tc->name) != 0) {
      Py_CLEAR(res);
    }
  }
  Py_DECREF(r);
  return res;
}

static PyType_Slot taskcall_slots[] = {{Py_tp_new, (void *)taskcall_new},
                                       {Py_tp_dealloc, (void *)taskcall_dealloc},
                                       {Py_tp_call, (void *)taskcall_call},
                                       {0, NULL}};

static PyType_Spec taskcall_spec = {"_codegreen_fast.TaskCall", sizeof(TaskCallObject), 0,
                                    Py_TPFLAGS_DEFAULT, taskcall_slots};

/* ----- the module's part ----- */

int cg_session_tasks_add(PyObject *module) {
  if (RecorderType == NULL) {
    RecorderType = PyType_FromSpec(&recorder_spec);
    SpanType = RecorderType ? PyType_FromSpec(&span_spec) : NULL;
    TaskCallType = SpanType ? PyType_FromSpec(&taskcall_spec) : NULL;
    if (TaskCallType == NULL) {
      return -1;
    }
    pthread_atfork(NULL, NULL, after_fork_in_child);
    events_key = PyUnicode_InternFromString("asyncio.events");
    tasks_key = PyUnicode_InternFromString("asyncio.tasks");
    running_loop_key = PyUnicode_InternFromString("__asyncio_running_event_loop__");
    if (events_key == NULL || tasks_key == NULL) {
      return -1;
    }
  }
  PyObject *types[] = {RecorderType, TaskCallType};
  const char *names[] = {"Recorder", "TaskCall"};
  for (int i = 0; i < 2; i++) {
    Py_INCREF(types[i]);
    if (PyModule_AddObject(module, names[i], types[i]) != 0) {
      Py_DECREF(types[i]);
      return -1;
    }
  }
  return 0;
}
