/* test_zstd_missing.c - what a process that cannot load libzstd does with a ".zst" path: writing
 * one (a session's report, the one file writer, the CLI's -o check) is refused with a message
 * naming libzstd, its Debian package and the fixes, and nothing is written (never an
 * uncompressed file under a .zst name); reading one (a plot, nemb_report_read_text()) names
 * libzstd and `zstd -d`. The library's
 * soname is pointed at a name that does not exist before the first load (zstd_lib.h). */
#include <dirent.h>

#include "atomic_file.h"
#include "nemb_test.h"
#include "zstd_lib.h"

static char dir[4096];

static int setup(void **state) {
  (void)state;
  nemb__zstd_lib.soname = "libzstd-absent-for-codegreen-tests.so.1";
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  unsetenv("CODEGREEN_CONFIG");
  nemb_test_mkdtemp(dir, sizeof dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb_test_rmtree(dir);
  return 0;
}

static int entries(void) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  }
  closedir(d);
  return n;
}

/* The sentence names the library, its package and why, and says what to do instead. */
static void assert_names_libzstd(const char *msg) {
  assert_non_null(strstr(msg, "a zstd-compressed (.zst) file needs libzstd "
                              "(libzstd-absent-for-codegreen-tests.so.1, Debian package libzstd1), "
                              "which cannot be loaded: libzstd-absent-for-codegreen-tests.so.1: "));
}

static void test_writing_a_zst_is_refused_and_writes_nothing(void **state) {
  (void)state;
  char zp[4200], plain[4200];
  snprintf(zp, sizeof zp, "%s/r.json.zst", dir);
  snprintf(plain, sizeof plain, "%s/r.json", dir);

  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.exclusive = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(nemb_session_write(s, zp, NEMB_FORMAT_AUTO), NEMB_ENOTSUP);
  const char *msg = nemb_last_error();
  assert_non_null(strstr(msg, "cannot write the report to "));
  assert_non_null(strstr(msg, zp));
  assert_names_libzstd(msg);
  assert_non_null(strstr(msg, "install it, or give a name without .zst"));
  print_message("%s\n", msg);
  assert_int_equal(entries(), 0);
  NEMB_ASSERT_OK(nemb_session_write(s, plain, NEMB_FORMAT_AUTO)); /* plain files still work */
  assert_int_equal(entries(), 1);
  nemb_session_destroy(s);

  /* A session whose output_file is a .zst is refused at its start, before the workload. */
  o.save_to_file = 1;
  o.output_file = zp;
  s = (nemb_session *)&s;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_ENOTSUP);
  assert_null(s);
  assert_names_libzstd(nemb_last_error());
  assert_int_equal(entries(), 1);

  nemb__atomic_file *f = (nemb__atomic_file *)&f;
  assert_int_equal(nemb__atomic_open(zp, &f), NEMB__ATOMIC_ENOZSTD);
  assert_null(f);
  assert_int_equal(nemb__atomic_write(zp, "x", 1), NEMB__ATOMIC_ENOZSTD);
  assert_int_equal(nemb__atomic_check(zp), NEMB__ATOMIC_ENOZSTD); /* -o refused before a run */
  assert_names_libzstd(nemb__atomic_strerror(NEMB__ATOMIC_ENOZSTD));
  assert_int_equal(entries(), 1);
}

static void test_reading_a_zst_names_libzstd_and_zstd_d(void **state) {
  (void)state;
  char in[4200], html[4200];
  snprintf(in, sizeof in, "%s/reports/nested.json.zst", nemb_test_fixtures());
  snprintf(html, sizeof html, "%s/p.html", dir);
  assert_int_equal(nemb_report_export_plot(in, html), NEMB_ENOTSUP);
  const char *msg = nemb_last_error();
  assert_non_null(strstr(msg, "cannot read the report "));
  assert_names_libzstd(msg);
  assert_non_null(strstr(msg, "decompress it with `zstd -d` instead"));
  assert_int_equal(entries(), 0);

  char *text = (char *)&text;
  size_t len = 1;
  assert_int_equal(nemb_report_read_text(in, &text, &len), NEMB_ENOTSUP);
  assert_null(text);
  assert_int_equal(len, 0);
  assert_names_libzstd(nemb_last_error());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_writing_a_zst_is_refused_and_writes_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reading_a_zst_names_libzstd_and_zstd_d, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
