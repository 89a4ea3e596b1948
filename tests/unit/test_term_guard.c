/* test_term_guard.c - nemb_term_guard(): the handler in front of an interpreter's is called, a
 * main thread blocked in a read that another thread's SIGTERM did not interrupt is kicked out of
 * it (EINTR) until the handler says it saw the signal, and what it refuses. */
#include "nemb_test.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* ThreadSanitizer runs a signal's handler where it chooses (it defers signals to its own
 * points), so the read's EINTR, the kernel's behaviour this test is about, is not what it sees
 * there: the kicks are tested without it. (clang defines no __SANITIZE_THREAD__.) */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

static atomic_int marked; /* the stand-in for the interpreter's C handler */

static void interpreter_handler(int sig) {
  atomic_store(&marked, sig);
}

static void set_handler(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(sig, &sa, NULL), 0);
}

/* Takes the SIGTERM the main thread blocks, then waits until told to end (a byte on @p fd). */
static void *sleeper(void *fd) {
  char c;
  while (read(*(int *)fd, &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

static void test_refusals(void **unused) {
  (void)unused;
  assert_int_equal(nemb_term_guard(SIGALRM), NEMB_EINVAL); /* the kicks' own */
  assert_int_equal(nemb_term_guard(0), NEMB_EINVAL);
  assert_int_equal(nemb_term_guard(99), NEMB_EINVAL);
  set_handler(SIGHUP, SIG_DFL);
  assert_int_equal(nemb_term_guard(SIGHUP), NEMB_ENOTSUP); /* left as it is */
  struct sigaction cur;
  assert_int_equal(sigaction(SIGHUP, NULL, &cur), 0);
  assert_true(cur.sa_handler == SIG_DFL);
}

static void test_another_threads_signal_interrupts_the_main_threads_read(void **unused) {
  (void)unused;
#ifdef UNDER_TSAN
  skip();
#endif
  set_handler(SIGTERM, interpreter_handler);
  NEMB_ASSERT_OK(nemb_term_guard(SIGTERM));
  NEMB_ASSERT_OK(nemb_term_guard(SIGTERM)); /* twice: still the interpreter's behind it */
  int end[2];
  assert_int_equal(pipe(end), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sleeper, &end[0]), 0);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  assert_int_equal(pthread_sigmask(SIG_BLOCK, &term, NULL), 0);
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(nemb_term_guard_received(), 0);
  assert_int_equal(kill(getpid(), SIGTERM), 0); /* only the sleeper can take it */
  char c;
  ssize_t n = read(p[0], &c, 1); /* nobody writes: without the kicks, this waits forever */
  assert_int_equal(n, -1);
  assert_int_equal(errno, EINTR);
  assert_int_equal(atomic_load(&marked), SIGTERM);
  assert_int_equal(nemb_term_guard_received(), SIGTERM);
  nemb_term_guard_seen(); /* the kicks stop, SIGALRM is as it was */
  assert_int_equal(nemb_term_guard_received(), 0);
  struct sigaction alarm;
  assert_int_equal(sigaction(SIGALRM, NULL, &alarm), 0);
  assert_true(alarm.sa_handler == SIG_DFL);
  struct itimerval left;
  assert_int_equal(getitimer(ITIMER_REAL, &left), 0);
  assert_int_equal(left.it_value.tv_sec, 0);
  assert_int_equal(left.it_value.tv_usec, 0);
  assert_int_equal(write(end[1], "x", 1), 1);
  pthread_join(t, NULL);
  close(end[0]);
  close(end[1]);
  close(p[0]);
  close(p[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_another_threads_signal_interrupts_the_main_threads_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
