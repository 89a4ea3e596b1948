/*
 * term_guard.c - a SIGTERM (or SIGHUP) whose Python handler never ran.
 *
 * CPython's C-level handler only marks a signal; the Python handler runs when the main thread
 * next checks, between bytecodes or when a blocking call returns with EINTR. A signal that lands
 * after the last check and before the call blocks (SemLock.acquire's sem_wait, a lock's wait)
 * interrupts nothing: the handler waits for the call to return, which may be never. A fork
 * pool's worker hung so in Pool.terminate(): blocked on the task queue's lock (which terminate()
 * holds) when its one SIGTERM came. Without codegreen the signal's default action ends the
 * process wherever it is; once codegreen_runtime takes SIGTERM over (to write the report first),
 * this file keeps that promise: guard_termination(sig) puts a C handler in front of Python's
 * that, after marking the signal as Python's does, interrupts the main thread every
 * KICK_MS (a SIGALRM of an empty handler, forwarded to the main thread when another thread
 * takes it) until the Python handler says termination_seen(), which stops the kicks and puts
 * SIGALRM's disposition back. A program that sets its own handler for the signal replaces both.
 *
 * Everything the handlers do is async-signal-safe (sigaction, setitimer, pthread_kill, errno).
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03080000
#endif
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "term_guard.h"

#define KICK_MS 10
#define MAX_SIG 65

static struct sigaction python_handler[MAX_SIG]; /* Python's C handler of each guarded signal */
static struct sigaction alarm_before;            /* SIGALRM's disposition before the kicks */
static volatile sig_atomic_t kicking;            /* the kicks run */
static volatile sig_atomic_t received;           /* the last guarded signal, until seen */
static pthread_t main_thread;                    /* the thread Python runs handlers in */

static void kick(int sig) {
  (void)sig;
  int saved = errno;
  /* Only the main thread runs Python's handlers: a kick another thread took goes on to it. */
  if (!pthread_equal(pthread_self(), main_thread)) {
    pthread_kill(main_thread, SIGALRM);
  }
  errno = saved;
}

static void on_termination(int sig) {
  int saved = errno;
  received = sig;
  struct sigaction *py = &python_handler[sig];
  if (py->sa_handler != SIG_DFL && py->sa_handler != SIG_IGN) {
    py->sa_handler(sig); /* marks it for the Python handler */
  }
  if (!kicking) {
    kicking = 1;
    struct sigaction k;
    memset(&k, 0, sizeof k);
    k.sa_handler = kick;
    sigemptyset(&k.sa_mask);
    k.sa_flags = 0; /* no SA_RESTART: the blocking call returns EINTR, Python checks signals */
    sigaction(SIGALRM, &k, &alarm_before);
    struct itimerval every = {{0, KICK_MS * 1000}, {0, KICK_MS * 1000}};
    setitimer(ITIMER_REAL, &every, NULL);
  }
  errno = saved;
}

static void after_fork_in_child(void) {
  main_thread = pthread_self(); /* the forking thread is the child's main thread */
}

/* guard_termination(signum): Python's handler of signum (just set by signal.signal), with the
 * kicks in front of it. */
static PyObject *guard_termination(PyObject *self, PyObject *arg) {
  (void)self;
  long sig = PyLong_AsLong(arg);
  if (sig == -1 && PyErr_Occurred()) {
    return NULL;
  }
  if (sig <= 0 || sig >= MAX_SIG || sig == SIGALRM) {
    PyErr_SetString(PyExc_ValueError, "guard_termination(): not a signal it can guard");
    return NULL;
  }
  struct sigaction cur;
  if (sigaction((int)sig, NULL, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) != 0 ||
      cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN) {
    Py_RETURN_FALSE; /* not Python's plain handler: left as it is */
  }
  if (cur.sa_handler == on_termination) {
    Py_RETURN_TRUE;
  }
  python_handler[sig] = cur;
  struct sigaction mine = cur;
  mine.sa_handler = on_termination;
  if (sigaction((int)sig, &mine, NULL) != 0) {
    Py_RETURN_FALSE;
  }
  static int once;
  if (!once) {
    once = 1;
    main_thread = pthread_self();
    pthread_atfork(NULL, NULL, after_fork_in_child);
  }
  Py_RETURN_TRUE;
}

/* termination_seen(): the Python handler runs; the kicks stop and SIGALRM is as it was. */
static PyObject *termination_seen(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  if (kicking) {
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &alarm_before, NULL);
    kicking = 0;
  }
  received = 0;
  Py_RETURN_NONE;
}

/* termination_received() -> the guarded signal received and not yet seen by the Python
 * handler, or 0. A forked child asks at the end of its fork hook: a signal that came before
 * CPython's after-fork step was cleared by it (it drops every signal not yet handled, so that
 * parent and child do not both handle one), and its Python handler would never run. */
static PyObject *termination_received(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  return PyLong_FromLong((long)received);
}

static PyMethodDef guard_methods[] = {
    {"guard_termination", guard_termination, METH_O,
     "guard_termination($module, signum, /)\n--\n\nPython's handler of signum, acted on even "
     "when the signal lands before a blocking call."},
    {"termination_received", termination_received, METH_NOARGS,
     "termination_received($module, /)\n--\n\nThe guarded signal received and not yet seen, "
     "or 0."},
    {"termination_seen", termination_seen, METH_NOARGS,
     "termination_seen($module, /)\n--\n\nStops the kicks (the Python handler runs)."},
    {NULL, NULL, 0, NULL}};

int cg_term_guard_add(PyObject *module) {
  return PyModule_AddFunctions(module, guard_methods);
}
