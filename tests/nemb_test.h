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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "nemb.h"
#include "provider.h"

/* Asserts that an expression returns 0, printing the library's detail message if not. */
#define NEMB_ASSERT_OK(expr)                                                                     \
  do {                                                                                           \
    int nemb_t_rc_ = (expr);                                                                     \
    if (nemb_t_rc_ != 0) {                                                                       \
      print_error("%s returned %d (%s): %s\n", #expr, nemb_t_rc_, nemb_err_name(nemb_t_rc_),     \
                  nemb_last_error());                                                            \
    }                                                                                            \
    assert_int_equal(nemb_t_rc_, 0);                                                             \
  } while (0)

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

#endif /* NEMB_TEST_H */
