/* test_gpu_share.c - per-process GPU utilisation samples summed into a program's share
 * (gpu_share.h): exact sums, own vs other processes, only the samples in the span, failure keeps
 * the reason and stops adding; the process tree through /proc with a real child, and the
 * descendants' lives (proc_tree.h): an ended child's samples are still its, a reused pid's
 * after its end are not. */
#include <signal.h>
#include <sys/wait.h>

#include "gpu_share.h"
#include "nemb_test.h"
#include "proc_tree.h"

/* Pids 100-199 are the program's in these tests. */
static bool own_100s(unsigned int pid, uint64_t ts_us, void *ctx) {
  (void)ts_us;
  int *calls = ctx;
  (*calls)++;
  return pid >= 100 && pid < 200;
}

static nemb__proc_sample sample(unsigned pid, unsigned long long ts, unsigned sm) {
  nemb__proc_sample s = {pid, ts, sm, sm / 2, 0, 0};
  return s;
}

static void test_sums_and_share(void **unused) {
  (void)unused;
  nemb__gpu_share g;
  nemb__gpu_share_init(&g);
  /* Two sample periods: 150 at 60 % and 7 at 20 %, then 150 at 40 % and 101 at 30 %, 7 at 30 %. */
  nemb__proc_sample s[] = {sample(150, 1000, 60), sample(7, 1000, 20), sample(150, 2000, 40),
                           sample(101, 2000, 30), sample(7, 2000, 30)};
  nemb__gpu_share_add(&g, s, 5);
  int calls = 0;
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, 0, UINT64_MAX, own_100s, &calls, &u);
  assert_int_equal(calls, 5); /* each sample placed when asked */
  assert_int_equal(u.status, 0);
  assert_string_equal(u.method, "nvml_process_utilization");
  assert_true(u.own_sm == 130.0); /* 60 + 40 + 30 */
  assert_true(u.all_sm == 180.0); /* + 20 + 30 */
  assert_int_equal(u.samples, 5);
  assert_int_equal(u.own_samples, 3);
  assert_int_equal(u.outside_samples, 0);
  /* A second batch adds on: only another program's process. */
  nemb__proc_sample t[] = {sample(7, 3000, 100)};
  nemb__gpu_share_add(&g, t, 1);
  nemb__gpu_share_get(&g, 0, UINT64_MAX, own_100s, &calls, &u);
  assert_true(u.own_sm == 130.0 && u.all_sm == 280.0);
  assert_int_equal(u.samples, 6);
  /* The span: only the samples stamped 2000 (both ends included) count; the rest are outside. */
  nemb__gpu_share_get(&g, 1001, 2000, own_100s, &calls, &u);
  assert_true(u.own_sm == 70.0 && u.all_sm == 100.0);
  assert_int_equal(u.samples, 3);
  assert_int_equal(u.own_samples, 2);
  assert_int_equal(u.outside_samples, 3);
  /* Forgotten samples are in no figure. */
  nemb__gpu_share_forget(&g, 2000);
  nemb__gpu_share_get(&g, 0, UINT64_MAX, own_100s, &calls, &u);
  assert_int_equal(u.samples, 4);
  assert_int_equal(u.outside_samples, 0);
  assert_true(u.own_sm == 70.0 && u.all_sm == 200.0);
  nemb__gpu_share_destroy(&g);
}

static void test_fail_keeps_reason(void **unused) {
  (void)unused;
  nemb__gpu_share g;
  nemb__gpu_share_init(&g);
  nemb__proc_sample s[] = {sample(150, 1000, 50)};
  int calls = 0;
  nemb__gpu_share_add(&g, s, 1);
  nemb__gpu_share_fail(&g, NEMB_EACCES, "nvmlDeviceGetProcessUtilization: no permission");
  nemb__gpu_share_add(&g, s, 1); /* ignored from now on */
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, 0, UINT64_MAX, own_100s, &calls, &u);
  assert_int_equal(u.status, NEMB_EACCES);
  assert_string_equal(u.method, "");
  assert_string_equal(u.reason, "nvmlDeviceGetProcessUtilization: no permission");
  assert_int_equal(u.samples, 1);
  nemb__gpu_share_destroy(&g);
}

/* Lives given outright: a pid reused by another program after the descendant's end, a
 * descendant ended before its samples are placed, a start known or not. */
static void test_lives(void **unused) {
  (void)unused;
  nemb__proc_tree_reset();
  nemb__proc_tree_note(4000001, 5000000, NEMB__PROC_ALIVE); /* started at 5 s */
  nemb__proc_tree_note(4000001, 0, 9000000);                /* reaped at 9 s */
  nemb__gpu_share g;
  nemb__gpu_share_init(&g);
  /* pid 4000001: before its start (another program had it then), during its life, at its end,
   * after its end (reused); pid 4000002 was never a descendant. */
  nemb__proc_sample s[] = {sample(4000001, 4000000, 10), sample(4000001, 6000000, 20),
                           sample(4000001, 9000000, 30), sample(4000001, 9000001, 40),
                           sample(4000002, 6000000, 50)};
  nemb__gpu_share_add(&g, s, 5);
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, 0, UINT64_MAX, NULL, NULL, &u);
  assert_int_equal(u.samples, 5);
  assert_int_equal(u.own_samples, 2);
  assert_true(u.own_sm == 50.0 && u.all_sm == 150.0);
  /* The same pid comes back as a descendant again at 20 s: its samples then are its. */
  nemb__proc_tree_note(4000001, 20000000, NEMB__PROC_ALIVE);
  nemb__proc_sample t[] = {sample(4000001, 21000000, 60)};
  nemb__gpu_share_add(&g, t, 1);
  nemb__gpu_share_get(&g, 0, UINT64_MAX, NULL, NULL, &u);
  assert_int_equal(u.own_samples, 3);
  assert_true(u.own_sm == 110.0 && u.all_sm == 210.0);
  assert_false(nemb__proc_tree_owns(4000001, 15000000));
  nemb__gpu_share_destroy(&g);
  nemb__proc_tree_reset();
}

/* A real child: the walk finds it; once it has ended and been reaped (gone from /proc), its
 * samples from its life are still its, and those after the walk noticed its end are not. */
static void test_walk_remembers_ended(void **unused) {
  (void)unused;
  nemb__proc_tree_reset();
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  uint64_t seen_us = nemb__realtime_us();
  assert_true(nemb__proc_tree_walk(seen_us) >= 1);
  assert_true(nemb__proc_tree_owns((unsigned)child, seen_us));
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  uint64_t gone_us = nemb__realtime_us() + 1;
  nemb__proc_tree_walk(gone_us); /* no longer found: ended at gone_us */
  assert_true(nemb__proc_tree_owns((unsigned)child, seen_us));
  assert_true(nemb__proc_tree_owns((unsigned)child, gone_us));
  assert_false(nemb__proc_tree_owns((unsigned)child, gone_us + 1));
  nemb__proc_tree_reset();
}

/* The process tree through /proc: the caller, a child, a grandchild; not the parent or pid 1. */
static void test_pid_in_tree(void **unused) {
  (void)unused;
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    pid_t grand = fork();
    if (grand == 0) {
      pause();
      _exit(0);
    }
    if (write(ready[1], &grand, sizeof grand) != (ssize_t)sizeof grand) {
      _exit(1);
    }
    pause();
    _exit(0);
  }
  pid_t grand = 0;
  assert_int_equal(read(ready[0], &grand, sizeof grand), (ssize_t)sizeof grand);
  assert_true(nemb__pid_in_tree(getpid(), getpid()));
  assert_true(nemb__pid_in_tree(child, getpid()));
  assert_true(nemb__pid_in_tree(grand, getpid()));
  assert_false(nemb__pid_in_tree(getppid(), getpid()));
  assert_false(nemb__pid_in_tree(1, getpid()));
  /* Adding samples records their pids that are in the tree now, so that the default
   * classifier places them even after they are gone. */
  nemb__proc_tree_reset();
  nemb__gpu_share g;
  nemb__gpu_share_init(&g);
  uint64_t now = nemb__realtime_us();
  nemb__proc_sample s[] = {sample((unsigned)grand, now, 70), sample(1, now, 30)};
  nemb__gpu_share_add(&g, s, 2);
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, 0, UINT64_MAX, NULL, NULL, &u);
  assert_true(u.own_sm == 70.0 && u.all_sm == 100.0);
  kill(grand, SIGKILL);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  assert_false(nemb__pid_in_tree(child, getpid())); /* gone from /proc ... */
  nemb__gpu_share_get(&g, 0, UINT64_MAX, NULL, NULL, &u);
  assert_true(u.own_sm == 70.0 && u.all_sm == 100.0); /* ... yet its sample is still placed */
  nemb__gpu_share_destroy(&g);
  nemb__proc_tree_reset();
  close(ready[0]);
  close(ready[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sums_and_share),       cmocka_unit_test(test_fail_keeps_reason),
      cmocka_unit_test(test_pid_in_tree),          cmocka_unit_test(test_lives),
      cmocka_unit_test(test_walk_remembers_ended),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
