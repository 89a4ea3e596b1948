/*
 * nemb_test.h - what every cmocka test of codegreen includes: cmocka itself, the public and
 * internal headers, and small helpers for fixture trees and temporary directories.
 *
 * cmocka's assert_* macros print file, line and both values, and work under NDEBUG.
 */
#ifndef NEMB_TEST_H
#define NEMB_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h must come after the headers above. */
#include <cmocka.h>

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nemb.h"
#include "provider.h"

/* Asserts that an expression returns 0, printing the library's detail message if not. */
#define NEMB_ASSERT_OK(expr)                                                                       \
  do {                                                                                             \
    int nemb_t_rc_ = (expr);                                                                       \
    if (nemb_t_rc_ != 0) {                                                                         \
      print_error("%s returned %d (%s): %s\n", #expr, nemb_t_rc_, nemb_err_name(nemb_t_rc_),       \
                  nemb_last_error());                                                              \
    }                                                                                              \
    assert_int_equal(nemb_t_rc_, 0);                                                               \
  } while (0)

/* Waits until @p m has stored @p n more samples: a test's windows are measured on the sampler's
 * own timeline, so each holds the samples it needs however busy the machine is (a test checks
 * behaviour, not the scheduler). Counted by the sampler's running total (stats.samples), which
 * keeps growing when the store coarsens at its cap. Fails after two minutes without reaching n. */
static inline void nemb_test_wait_samples(nemb_meter *m, size_t n) {
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  uint64_t target = st.samples + n;
  uint64_t t0 = nemb_now_ns();
  while (st.samples < target) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    nemb_meter_stats(m, &st);
    if (nemb_now_ns() - t0 > 120000000000ull) {
      print_error("the sampler stored %llu of %llu samples in two minutes\n",
                  (unsigned long long)st.samples, (unsigned long long)target);
      fail();
    }
  }
}

/* Waits until @p m has counted at least @p n samples dropped at its store's cap. */
static inline void nemb_test_wait_dropped(nemb_meter *m, uint64_t n) {
  uint64_t t0 = nemb_now_ns();
  nemb_sampler_stats st;
  for (nemb_meter_stats(m, &st); st.dropped_at_cap < n; nemb_meter_stats(m, &st)) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    if (nemb_now_ns() - t0 > 120000000000ull) {
      print_error("only %llu samples dropped at the cap in two minutes\n",
                  (unsigned long long)st.dropped_at_cap);
      fail();
    }
  }
}

/* The committed fixture trees: $NEMB_FIXTURES (set by ctest), else relative to the source. */
static inline const char *nemb_test_fixtures(void) {
  const char *dir = getenv("NEMB_FIXTURES");
  return dir ? dir : "tests/fixtures";
}

/* Points CODEGREEN_SYSFS_ROOT at tests/fixtures/<name>. */
static inline void nemb_test_use_fixture(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", nemb_test_fixtures(), name);
  setenv("CODEGREEN_SYSFS_ROOT", path, 1);
}

/* Makes a fresh temporary directory (mode 0755 so a dropped-privilege child can enter it) and
 * writes its path into @p out. */
static inline void nemb_test_mkdtemp(char *out, size_t len) {
  const char *tmp = getenv("TMPDIR");
  snprintf(out, len, "%s/nemb-test-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(out));
  assert_int_equal(chmod(out, 0755), 0);
}

/* Copies a fixture tree (symlinks kept as symlinks) into a new temporary directory, so a test can
 * change counters or permissions; returns the copy's path in @p out. */
static inline void nemb_test_copy_fixture(const char *name, char *out, size_t len) {
  nemb_test_mkdtemp(out, len);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cp -a '%s/%s/.' '%s/'", nemb_test_fixtures(), name, out);
  assert_int_equal(system(cmd), 0);
}

/* Removes a temporary tree made by the helpers above. */
static inline void nemb_test_rmtree(const char *dir) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* Writes @p text to root + @p rel (creating nothing but the file). */
static inline void nemb_test_write(const char *root, const char *rel, const char *text) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
}

/* The whole of the file @p path, NUL-terminated, in memory the caller frees; its length in
 * *@p len when @p len is not NULL. Fails the test when the file cannot be read. */
static inline char *nemb_test_read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *text = malloc((size_t)n + 1);
  assert_non_null(text);
  assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
  text[n] = '\0';
  fclose(fp);
  if (len) {
    *len = (size_t)n;
  }
  return text;
}

/* What a provider's open() answered when run without privileges. */
typedef struct nemb_test_open_result {
  int skipped; /* 1: running as root and could not drop privileges (some containers) */
  int rc;
  char why[1024];
} nemb_test_open_result;

/* Opens @p ops with @p cfg as an unprivileged user and closes it again. Root reads any file
 * whatever its mode, so as root the open runs in a forked child that became uid/gid 65534 and
 * reports back through a pipe; otherwise it runs here. */
static inline nemb_test_open_result
nemb_test_open_unprivileged(const struct nemb__provider_ops *ops, const nemb_config *cfg) {
  nemb_test_open_result res;
  memset(&res, 0, sizeof res);
  nemb__provider_env env = {cfg};
  if (geteuid() != 0) {
    void *st = NULL;
    res.rc = ops->open(&env, &st, res.why, sizeof res.why);
    if (res.rc == 0) {
      ops->close(st);
    }
    return res;
  }
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    nemb_test_open_result c;
    memset(&c, 0, sizeof c);
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      c.skipped = 1;
    } else {
      void *st = NULL;
      c.rc = ops->open(&env, &st, c.why, sizeof c.why);
      if (c.rc == 0) {
        ops->close(st);
      }
    }
    ssize_t w = write(fds[1], &c, sizeof c);
    _exit(w == (ssize_t)sizeof c ? 0 : 1);
  }
  close(fds[1]);
  size_t got = 0;
  while (got < sizeof res) {
    ssize_t r = read(fds[0], (char *)&res + got, sizeof res - got);
    if (r <= 0) {
      break;
    }
    got += (size_t)r;
  }
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(got, sizeof res);
  return res;
}

#endif /* NEMB_TEST_H */
