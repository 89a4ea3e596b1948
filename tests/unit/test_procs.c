/* test_procs.c - the process registry: path, mode, registration counts, other processes, stale
 * and garbage lines, pid reuse, zombies, refusing links and foreign files, and many processes
 * updating it at once. Each test points XDG_RUNTIME_DIR at a fresh temporary directory. */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "nemb_test.h"

typedef struct fixture {
  char dir[4096];
  char path[4200];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  nemb_test_mkdtemp(f->dir, sizeof f->dir);
  setenv("XDG_RUNTIME_DIR", f->dir, 1);
  snprintf(f->path, sizeof f->path, "%s/codegreen-%u.pids", f->dir, (unsigned)geteuid());
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  unlink(f->path);
  rmdir(f->dir);
  free(f);
  return 0;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  assert_int_equal(chmod(path, mode), 0);
}

static size_t read_file(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  assert_true(n >= 0);
  buf[n] = '\0';
  return (size_t)n;
}

/* Lines in the file that register @p pid. */
static int count_pid(const char *path, int pid) {
  char buf[65536];
  read_file(path, buf, sizeof buf);
  int n = 0;
  for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    n += atoi(line) == pid;
  }
  return n;
}

static size_t others(int *pids, size_t cap) {
  size_t n = 99;
  NEMB_ASSERT_OK(nemb_procs_list_others(pids, cap, &n));
  return n;
}

/* A child that registers, reports on @p ready and waits to be killed. */
static pid_t spawn_registered(void) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
    close(p[0]);
    char ok = nemb_procs_register() == 0 ? 'y' : 'n';
    if (write(p[1], &ok, 1) != 1) {
      _exit(1);
    }
    for (;;) {
      pause();
    }
  }
  close(p[1]);
  char ok = 0;
  assert_int_equal(read(p[0], &ok, 1), 1);
  close(p[0]);
  assert_int_equal(ok, 'y');
  return pid;
}

static void kill_and_reap(pid_t pid) {
  kill(pid, SIGKILL);
  assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* A pid that is certainly dead: a child that exited and was reaped. */
static pid_t dead_pid(void) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    _exit(0);
  }
  assert_int_equal(waitpid(pid, NULL, 0), pid);
  return pid;
}

static void test_path_follows_xdg_runtime_dir(void **state) {
  fixture *f = *state;
  char buf[4200];
  NEMB_ASSERT_OK(nemb_procs_path(buf, sizeof buf));
  assert_string_equal(buf, f->path);
  /* Unset, relative or missing: /tmp, as the XDG spec advises. */
  char want[64];
  snprintf(want, sizeof want, "/tmp/codegreen-%u.pids", (unsigned)geteuid());
  const char *bad[] = {"", "relative/dir", "/nonexistent/codegreen-test"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(bad); i++) {
    setenv("XDG_RUNTIME_DIR", bad[i], 1);
    NEMB_ASSERT_OK(nemb_procs_path(buf, sizeof buf));
    assert_string_equal(buf, want);
  }
  unsetenv("XDG_RUNTIME_DIR");
  NEMB_ASSERT_OK(nemb_procs_path(buf, sizeof buf));
  assert_string_equal(buf, want);
  /* Too small a buffer: truncated, NUL-terminated, and said. */
  setenv("XDG_RUNTIME_DIR", f->dir, 1);
  char tiny[8];
  assert_int_equal(nemb_procs_path(tiny, sizeof tiny), NEMB_ERANGE);
  assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void test_register_creates_a_private_file(void **state) {
  fixture *f = *state;
  size_t n = 99;
  /* Listing without a file is not an error, and creates nothing. */
  NEMB_ASSERT_OK(nemb_procs_list_others(NULL, 0, &n));
  assert_int_equal(n, 0);
  struct stat st;
  assert_int_equal(stat(f->path, &st), -1);

  mode_t old = umask(0); /* even a permissive umask gives 0600 */
  NEMB_ASSERT_OK(nemb_procs_register());
  umask(old);
  assert_int_equal(stat(f->path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_uid, geteuid());
  assert_int_equal(count_pid(f->path, getpid()), 1);
  assert_int_equal(others(NULL, 0), 0); /* the caller is never listed */
  NEMB_ASSERT_OK(nemb_procs_unregister());
  assert_int_equal(count_pid(f->path, getpid()), 0);
}

static void test_registrations_count(void **state) {
  fixture *f = *state;
  NEMB_ASSERT_OK(nemb_procs_register());
  NEMB_ASSERT_OK(nemb_procs_register());
  assert_int_equal(count_pid(f->path, getpid()), 2);
  NEMB_ASSERT_OK(nemb_procs_unregister());
  assert_int_equal(count_pid(f->path, getpid()), 1);
  NEMB_ASSERT_OK(nemb_procs_unregister());
  assert_int_equal(count_pid(f->path, getpid()), 0);
  NEMB_ASSERT_OK(nemb_procs_unregister()); /* one too many: nothing to remove, no error */
  assert_int_equal(count_pid(f->path, getpid()), 0);
}

static void test_other_processes_are_listed_until_they_die(void **state) {
  fixture *f = *state;
  NEMB_ASSERT_OK(nemb_procs_register());
  pid_t a = spawn_registered();
  pid_t b = spawn_registered();
  int pids[4] = {0};
  assert_int_equal(others(pids, 4), 2);
  assert_true((pids[0] == a && pids[1] == b) || (pids[0] == b && pids[1] == a));
  /* A short array: the count says how many there are, only cap are written. */
  int one[1] = {0};
  assert_int_equal(others(one, 1), 2);
  assert_true(one[0] == a || one[0] == b);

  kill_and_reap(a);
  assert_int_equal(others(pids, 4), 1);
  assert_int_equal(pids[0], b);
  assert_int_equal(count_pid(f->path, a), 0); /* the stale line is gone from the file */
  kill_and_reap(b);
  assert_int_equal(others(pids, 4), 0);
  assert_int_equal(count_pid(f->path, getpid()), 1);
  NEMB_ASSERT_OK(nemb_procs_unregister());
}

static void test_zombies_count_as_dead(void **state) {
  (void)state;
  pid_t z = spawn_registered();
  kill(z, SIGKILL);
  /* Not reaped yet: /proc/<pid> exists, in state Z, until waitpid. */
  char path[64], text[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)z);
  for (int i = 0; i < 1000; i++) {
    if (nemb__read_text(path, text, sizeof text) == 0 && strstr(text, ") Z ") != NULL) {
      break;
    }
    usleep(1000);
  }
  assert_int_equal(others(NULL, 0), 0);
  assert_int_equal(waitpid(z, NULL, 0), z);
}

static void test_garbage_and_stale_lines_are_dropped(void **state) {
  fixture *f = *state;
  pid_t gone = dead_pid();
  pid_t parent = getppid(); /* alive, but registered with the wrong start time: a reused pid */
  pid_t live = spawn_registered();
  char text[4096];
  snprintf(text, sizeof text,
           "%d 12345\n"             /* dead */
           "%d 1\n"                 /* alive, other start time: the pid was reused */
           "garbage\n"              /* not a number */
           "-5\n0\n007\n"           /* negative, zero, leading zero */
           "99999999999999999999\n" /* out of range */
           "12 34 job 6\n"          /* too many fields */
           "12 34 j/b\n"            /* a job id with a character job.h never writes */
           "%d abc\n"               /* bad start time */
           "\n  \n"                 /* empty and blank */
           "%d\n",                  /* the live child, old format without start time: kept */
           (int)gone, (int)parent, (int)live, (int)live);
  /* The child's own line, written by spawn_registered(), is overwritten: the pid-only line
   * above stands for it. */
  write_file(f->path, text, 0600);
  /* Binary junk, including a NUL inside a line, then the live child's pid without newline:
   * half a line, as a writer that crashed would leave it. */
  char tail[64];
  int len = snprintf(tail, sizeof tail, "\x01\xff%c42\n%d", '\0', (int)live);
  int fd = open(f->path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, tail, (size_t)len), len);
  close(fd);

  int pids[4] = {0};
  assert_int_equal(others(pids, 4), 1);
  assert_int_equal(pids[0], live);
  char after[4096];
  read_file(f->path, after, sizeof after);
  char want[64];
  snprintf(want, sizeof want, "%d 0\n", (int)live);
  assert_string_equal(after, want);
  kill_and_reap(live);
  assert_int_equal(others(pids, 4), 0);
  read_file(f->path, after, sizeof after);
  assert_string_equal(after, "");
}

/* The ranks of one parallel job share a node's sampler on purpose: a rank does not list its own
 * job's other ranks as overlapping measurements (each non-leader rank warned of its leader), but
 * does list another job's, and a process outside any job lists them all. */
static void test_ranks_of_ones_own_job_are_not_others(void **state) {
  fixture *f = *state;
  setenv("CODEGREEN_JOB_ID", "jobA", 1);
  setenv("PMI_RANK", "1", 1);
  pid_t rank = spawn_registered(); /* registers as a rank of jobA */
  setenv("PMI_RANK", "0", 1);
  char text[4096], want[64];
  read_file(f->path, text, sizeof text);
  snprintf(want, sizeof want, "%d ", (int)rank);
  assert_non_null(strstr(text, want));
  assert_non_null(strstr(text, " jobA\n"));
  int pids[4] = {0};
  assert_int_equal(others(pids, 4), 0); /* rank 0 of jobA */
  setenv("CODEGREEN_JOB_ID", "jobB", 1);
  assert_int_equal(others(pids, 4), 1); /* a rank of another job */
  assert_int_equal(pids[0], rank);
  unsetenv("CODEGREEN_JOB_ID");
  unsetenv("PMI_RANK");
  assert_int_equal(others(pids, 4), 1); /* outside any job */
  kill_and_reap(rank);
}

static void test_a_loose_mode_is_tightened(void **state) {
  fixture *f = *state;
  write_file(f->path, "", 0666);
  NEMB_ASSERT_OK(nemb_procs_register());
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  NEMB_ASSERT_OK(nemb_procs_unregister());
}

static void test_links_and_directories_are_refused(void **state) {
  fixture *f = *state;
  char target[4200];
  snprintf(target, sizeof target, "%s/target", f->dir);
  write_file(target, "", 0600);
  assert_int_equal(symlink(target, f->path), 0);
  assert_int_equal(nemb_procs_register(), NEMB_EACCES);
  assert_non_null(strstr(nemb_last_error(), f->path));
  assert_non_null(strstr(nemb_last_error(), "symbolic link"));
  size_t n;
  assert_int_equal(nemb_procs_list_others(NULL, 0, &n), NEMB_EACCES);
  char buf[16];
  assert_int_equal(read_file(target, buf, sizeof buf), 0); /* the target was not written */
  unlink(f->path);
  unlink(target);

  assert_int_equal(mkdir(f->path, 0700), 0);
  assert_true(nemb_procs_register() < 0);
  assert_non_null(strstr(nemb_last_error(), f->path));
  rmdir(f->path);
}

static void test_a_file_of_another_user_is_refused(void **state) {
  fixture *f = *state;
  if (geteuid() != 0) {
    skip(); /* only root can make a file owned by someone else */
  }
  write_file(f->path, "", 0600);
  assert_int_equal(chown(f->path, 65534, 65534), 0);
  assert_int_equal(nemb_procs_register(), NEMB_EACCES);
  assert_non_null(strstr(nemb_last_error(), "owned by another user"));
}

/* Many processes registering and unregistering at once: with the lock, no update is lost. Each
 * child leaves ROUNDS registrations and stays alive until they are counted. */
static void test_concurrent_updates_lose_nothing(void **state) {
  fixture *f = *state;
  enum { KIDS = 8, ROUNDS = 20 };
  pid_t kids[KIDS];
  int done[2];
  assert_int_equal(pipe(done), 0);
  for (int k = 0; k < KIDS; k++) {
    kids[k] = fork();
    assert_true(kids[k] >= 0);
    if (kids[k] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(done[0]);
      char bad = 0;
      for (int r = 0; r < ROUNDS; r++) {
        bad |= nemb_procs_register() != 0;
        bad |= nemb_procs_register() != 0;
        size_t n;
        bad |= nemb_procs_list_others(NULL, 0, &n) != 0;
        bad |= nemb_procs_unregister() != 0;
      }
      if (write(done[1], &bad, 1) != 1) {
        _exit(1);
      }
      for (;;) {
        pause();
      }
    }
  }
  close(done[1]);
  for (int k = 0; k < KIDS; k++) {
    char bad = 1;
    assert_int_equal(read(done[0], &bad, 1), 1);
    assert_int_equal(bad, 0);
  }
  close(done[0]);
  for (int k = 0; k < KIDS; k++) {
    assert_int_equal(count_pid(f->path, kids[k]), ROUNDS);
  }
  assert_int_equal(others(NULL, 0), KIDS);
  for (int k = 0; k < KIDS; k++) {
    kill_and_reap(kids[k]);
  }
  assert_int_equal(others(NULL, 0), 0); /* all dead now, and cleaned */
  char buf[16];
  assert_int_equal(read_file(f->path, buf, sizeof buf), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_path_follows_xdg_runtime_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_register_creates_a_private_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_registrations_count, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_processes_are_listed_until_they_die, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_zombies_count_as_dead, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_and_stale_lines_are_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ranks_of_ones_own_job_are_not_others, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_loose_mode_is_tightened, setup, teardown),
      cmocka_unit_test_setup_teardown(test_links_and_directories_are_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_file_of_another_user_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_updates_lose_nothing, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
