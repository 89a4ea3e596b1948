/* test_gpu_share.c - per-process GPU utilisation samples summed into a program's share
 * (gpu_share.h): exact sums, own vs other processes, failure keeps the reason and stops adding,
 * and the process-tree test through /proc with a real child. */
#include <signal.h>
#include <sys/wait.h>

#include "gpu_share.h"
#include "nemb_test.h"

/* Pids 100-199 are the program's in these tests. */
static bool own_100s(unsigned int pid, void *ctx) {
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
  int calls = 0;
  nemb__gpu_share_add(&g, s, 5, own_100s, &calls);
  assert_int_equal(calls, 3); /* each pid placed once per batch */
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, &u);
  assert_int_equal(u.status, 0);
  assert_string_equal(u.method, "nvml_process_utilization");
  assert_true(u.own_sm == 130.0); /* 60 + 40 + 30 */
  assert_true(u.all_sm == 180.0); /* + 20 + 30 */
  assert_int_equal(u.samples, 5);
  assert_int_equal(u.own_samples, 3);
  /* A second batch adds on: only another program's process. */
  nemb__proc_sample t[] = {sample(7, 3000, 100)};
  nemb__gpu_share_add(&g, t, 1, own_100s, &calls);
  nemb__gpu_share_get(&g, &u);
  assert_true(u.own_sm == 130.0 && u.all_sm == 280.0);
  assert_int_equal(u.samples, 6);
  nemb__gpu_share_destroy(&g);
}

static void test_fail_keeps_reason(void **unused) {
  (void)unused;
  nemb__gpu_share g;
  nemb__gpu_share_init(&g);
  nemb__proc_sample s[] = {sample(150, 1000, 50)};
  int calls = 0;
  nemb__gpu_share_add(&g, s, 1, own_100s, &calls);
  nemb__gpu_share_fail(&g, NEMB_EACCES, "nvmlDeviceGetProcessUtilization: no permission");
  nemb__gpu_share_add(&g, s, 1, own_100s, &calls); /* ignored from now on */
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, &u);
  assert_int_equal(u.status, NEMB_EACCES);
  assert_string_equal(u.method, "");
  assert_string_equal(u.reason, "nvmlDeviceGetProcessUtilization: no permission");
  assert_int_equal(u.samples, 1);
  nemb__gpu_share_destroy(&g);
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
  /* The default classifier is the same test with the calling process as the root. */
  nemb__gpu_share g;
  nemb__gpu_share_init(&g);
  nemb__proc_sample s[] = {sample((unsigned)grand, 1, 70), sample(1, 1, 30)};
  nemb__gpu_share_add(&g, s, 2, NULL, NULL);
  nemb_gpu_usage u;
  nemb__gpu_share_get(&g, &u);
  assert_true(u.own_sm == 70.0 && u.all_sm == 100.0);
  nemb__gpu_share_destroy(&g);
  kill(grand, SIGKILL);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  assert_false(nemb__pid_in_tree(child, getpid())); /* gone: cannot be placed */
  close(ready[0]);
  close(ready[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sums_and_share),
      cmocka_unit_test(test_fail_keeps_reason),
      cmocka_unit_test(test_pid_in_tree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
