/*
 * term_guard.c - a termination signal whose interpreter-level handler never ran (nemb.h:
 * nemb_term_guard()).
 *
 * An interpreter's C-level handler (CPython's) only marks a signal; its own handler runs when the
 * main thread next checks, between bytecodes or when a blocking call returns with EINTR. A signal
 * that lands after the last check and before the call blocks (SemLock.acquire's sem_wait, a
 * lock's wait), or that another thread takes, interrupts nothing: the handler waits for the call
 * to return, which may be never. A fork pool's worker hung so in Pool.terminate(): blocked on the
 * task queue's lock (which terminate() holds) when its one SIGTERM came. Without codegreen the
 * signal's default action ends the process wherever it is; once a runtime takes SIGTERM over (to
 * write the report first), this file keeps that promise: nemb_term_guard(sig) puts a C handler in
 * front of the interpreter's that, after calling it, interrupts the main thread every KICK_MS (a
 * SIGALRM of an empty handler, forwarded to the main thread when another thread takes it) until
 * the interpreter's handler says nemb_term_guard_seen(), which stops the kicks and puts SIGALRM's
 * disposition back. A program that sets its own handler for the signal replaces both.
 *
 * Here in the library rather than in the Python extension alone, so that codegreen_runtime's
 * ctypes path, which runs without the extension, is guarded the same way.
 *
 * Everything the handlers do is async-signal-safe (sigaction, setitimer, pthread_kill, errno,
 * lock-free atomics: a handler may run in any thread, the flags are read in the main one).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>

#include "internal.h"

#define KICK_MS 10
#define MAX_SIG 65

enum { IDLE, STARTING, KICKING };

static struct sigaction guarded[MAX_SIG]; /* the interpreter's handler of each guarded signal */
static struct sigaction alarm_before;     /* SIGALRM's disposition before the kicks */
static atomic_int kicking;                /* IDLE, STARTING or KICKING (alarm_before is set) */
static atomic_int received;               /* the last guarded signal, until seen */
static pthread_t main_thread;             /* the thread the interpreter runs handlers in */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void kick(int sig) {
  (void)sig;
  int saved = errno;
  /* Only the main thread runs the interpreter's handlers: a kick another thread took goes on. */
  if (!pthread_equal(pthread_self(), main_thread)) {
    pthread_kill(main_thread, SIGALRM);
  }
  errno = saved;
}

static void on_termination(int sig) {
  int saved = errno;
  atomic_store(&received, sig);
  /* The kicks begin before the interpreter's handler is told, so that its
   * nemb_term_guard_seen() always finds them running and stops them. */
  int idle = IDLE;
  if (atomic_compare_exchange_strong(&kicking, &idle, STARTING)) {
    struct sigaction k;
    memset(&k, 0, sizeof k);
    k.sa_handler = kick;
    sigemptyset(&k.sa_mask);
    k.sa_flags = 0; /* no SA_RESTART: the blocking call returns EINTR, the interpreter checks */
    sigaction(SIGALRM, &k, &alarm_before);
    struct itimerval every = {{0, KICK_MS * 1000}, {0, KICK_MS * 1000}};
    setitimer(ITIMER_REAL, &every, NULL);
    atomic_store(&kicking, KICKING);
  }
  struct sigaction *theirs = &guarded[sig];
  if (theirs->sa_handler != SIG_DFL && theirs->sa_handler != SIG_IGN) {
    theirs->sa_handler(sig); /* marks it for the interpreter's handler */
  }
  errno = saved;
}

static void after_fork_in_child(void) {
  main_thread = pthread_self(); /* the forking thread is the child's main thread */
}

static void first_guard(void) {
  main_thread = pthread_self();
  pthread_atfork(NULL, NULL, after_fork_in_child);
}

int nemb_term_guard(int sig) {
  nemb__clear_error();
  if (sig <= 0 || sig >= MAX_SIG || sig == SIGALRM) {
    return nemb__fail(NEMB_EINVAL, "nemb_term_guard: %d is not a signal it can guard", sig);
  }
  struct sigaction cur;
  if (sigaction(sig, NULL, &cur) != 0) {
    return nemb__fail(-errno, "nemb_term_guard: sigaction(%d): %s", sig, strerror(errno));
  }
  if (cur.sa_handler == on_termination) {
    return 0;
  }
  if ((cur.sa_flags & SA_SIGINFO) != 0 || cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN) {
    return nemb__fail(NEMB_ENOTSUP, "nemb_term_guard: signal %d has no plain handler to guard",
                      sig);
  }
  guarded[sig] = cur;
  struct sigaction mine = cur;
  mine.sa_handler = on_termination;
  if (sigaction(sig, &mine, NULL) != 0) {
    return nemb__fail(-errno, "nemb_term_guard: sigaction(%d): %s", sig, strerror(errno));
  }
  pthread_once(&once, first_guard);
  return 0;
}

void nemb_term_guard_seen(void) {
  if (atomic_load(&kicking) == KICKING) {
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &alarm_before, NULL);
    atomic_store(&kicking, IDLE);
  }
  atomic_store(&received, 0);
}

int nemb_term_guard_received(void) {
  return atomic_load(&received);
}
