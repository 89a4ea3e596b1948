/* test_lazy_libs.c - the libraries only some features need are loaded when those features are
 * first used, never when the library is opened: cairo at the first PNG or SVG plot (an HTML plot
 * does not need it), libcurl at the first push, yajl at the first plot of a saved report, libzstd
 * at the first compressed report read or written. This binary links neither, so what the process
 * maps is what the library loaded. */
#include <stdio.h>

#include "nemb_test.h"
#include "session.h"

static char tmpdir[4096];

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  nemb_test_mkdtemp(tmpdir, sizeof tmpdir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb_test_rmtree(tmpdir);
  return 0;
}

/* Whether a shared object whose file name starts with @p prefix is mapped in this process. */
static bool mapped(const char *prefix) {
  FILE *fp = fopen("/proc/self/maps", "r");
  assert_non_null(fp);
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, fp) != NULL) {
    const char *slash = strrchr(line, '/');
    found = slash != NULL && strncmp(slash + 1, prefix, strlen(prefix)) == 0;
  }
  fclose(fp);
  return found;
}

static void test_cairo_is_loaded_by_the_first_png_only(void **state) {
  (void)state;
  char html[4200], png[4200], svg[4200];
  snprintf(html, sizeof html, "%s/p.html", tmpdir);
  snprintf(png, sizeof png, "%s/p.png", tmpdir);
  snprintf(svg, sizeof svg, "%s/p.svg", tmpdir);

  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "lazy";
  o.save_to_file = 0;
  o.record_time_series = 1;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_test_wait_samples(nemb_session_meter(s), 5);
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  nemb_test_wait_samples(nemb_session_meter(s), 10);
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_false(mapped("libcairo"));
  assert_false(mapped("libcurl"));
  assert_false(mapped("libyajl"));
  assert_false(mapped("libzstd"));

  NEMB_ASSERT_OK(nemb_session_export_plot(s, html));
  assert_false(mapped("libcairo"));

  NEMB_ASSERT_OK(nemb_session_export_plot(s, png));
  assert_true(mapped("libcairo"));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, svg)); /* the second load is the first's */

  /* A plain report does not load libzstd; the first .zst written does (in a child, so the
   * reading test below still starts without it). */
  char json[4200], zst[4200];
  snprintf(json, sizeof json, "%s/r.json", tmpdir);
  snprintf(zst, sizeof zst, "%s/r.json.zst", tmpdir);
  NEMB_ASSERT_OK(nemb_session_write(s, json, NEMB_FORMAT_AUTO));
  assert_false(mapped("libzstd"));
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    bool before = mapped("libzstd");
    int rc = nemb_session_write(s, zst, NEMB_FORMAT_AUTO);
    _exit(before ? 3 : rc != 0 ? 4 : !mapped("libzstd") ? 5 : 0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_false(mapped("libzstd"));
  nemb_session_destroy(s);

  char head[8] = {0};
  FILE *fp = fopen(png, "rb");
  assert_non_null(fp);
  assert_int_equal(fread(head, 1, sizeof head, fp), sizeof head);
  fclose(fp);
  assert_memory_equal(head, "\x89PNG\r\n\x1a\n", 8);
  fp = fopen(svg, "rb");
  assert_non_null(fp);
  char text[256] = {0};
  assert_true(fread(text, 1, sizeof text - 1, fp) > 0);
  fclose(fp);
  assert_non_null(strstr(text, "<svg"));
  assert_false(mapped("libcurl"));
}

static void test_yajl_and_zstd_are_loaded_by_the_reports_that_need_them(void **state) {
  (void)state;
  char in[4200], html[4200];
  snprintf(html, sizeof html, "%s/r.html", tmpdir);
  assert_false(mapped("libyajl"));
  snprintf(in, sizeof in, "%s/reports/nested.json", nemb_test_fixtures());
  NEMB_ASSERT_OK(nemb_report_export_plot(in, html));
  assert_true(mapped("libyajl"));
  assert_false(mapped("libzstd"));
  snprintf(in, sizeof in, "%s/reports/nested.json.zst", nemb_test_fixtures());
  NEMB_ASSERT_OK(nemb_report_export_plot(in, html));
  assert_true(mapped("libzstd"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cairo_is_loaded_by_the_first_png_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_yajl_and_zstd_are_loaded_by_the_reports_that_need_them,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
