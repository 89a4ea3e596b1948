/*
 * test_report_stream.c - the report streamed into its file (session.c, report.c): the end writes
 * the file from the figures without building the whole text, nemb_session_report_json() builds
 * that text on its first call with the file's bytes (less the closing newline), the summary is
 * the report without its series, and a file that cannot be written leaves the report readable.
 *
 * The spill threshold (nemb__report_spill_at) is lowered to a few bytes so that every part of
 * the report (tasks, points, columns, checkpoints) crosses a write. Sessions run on the
 * simulated device; nothing depends on how long a sleep took.
 */
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "nemb_test.h"
#include "session.h"

static const char SIM[] =
    "{\"update_interval_us\":250,\"energy_unit_uj\":0.5,\"domains\":["
    "{\"name\":\"package-0\",\"kind\":\"cpu_package\",\"waveform\":\"square\",\"low_w\":5,"
    "\"high_w\":35,\"period_ms\":20},"
    "{\"name\":\"dram\",\"kind\":\"dram\",\"waveform\":\"constant\",\"power_w\":4}]}";

static char dir[4096];

static int setup(void **state) {
  (void)state;
  unsetenv("CODEGREEN_SYSFS_ROOT");
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", SIM, 1);
  nemb_test_mkdtemp(dir, sizeof dir);
  nemb__report_spill_at = 7;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb__report_spill_at = (size_t)1 << 20;
  nemb_test_rmtree(dir);
  return 0;
}

/* A session writing @p file (in the test's directory unless absolute) in @p layout, with time
 * series when @p series: outer { inner (12 samples), checkpoints }, then after (4 samples). */
static nemb_session *run(const char *file, int series, const char *layout, char *path, size_t len) {
  if (file[0] == '/') {
    snprintf(path, len, "%s", file);
  } else {
    snprintf(path, len, "%s/%s", dir, file);
  }
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "stream-test";
  o.output_file = path;
  o.record_time_series = series;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_session_set_timeseries_layout(s, layout));
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  NEMB_ASSERT_OK(nemb_task_start(s, "inner"));
  nemb_test_wait_samples(nemb_session_meter(s), 12);
  NEMB_ASSERT_OK(nemb_task_stop(s, "inner"));
  NEMB_ASSERT_OK(nemb_checkpoint(s, "1", "f", "enter", 3, "x.py"));
  NEMB_ASSERT_OK(nemb_checkpoint(s, "1", "f", "exit", 3, "x.py"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  NEMB_ASSERT_OK(nemb_task_start(s, "after"));
  nemb_test_wait_samples(nemb_session_meter(s), 4);
  NEMB_ASSERT_OK(nemb_task_stop(s, "after"));
  return s;
}

/* The file the end wrote, before anything asked for the text, is the text asked for after,
 * with its closing newline; for both layouts, with and without series. */
static void test_file_is_the_text(void **state) {
  (void)state;
  static const char *const layouts[] = {"samples", "columnar"};
  for (int series = 0; series <= 1; series++) {
    for (size_t k = 0; k < 2; k++) {
      char path[4200];
      nemb_session *s = run("r.json", series, layouts[k], path, sizeof path);
      NEMB_ASSERT_OK(nemb_session_end(s));
      assert_null(s->report_json); /* streamed: no whole text was built */
      size_t len = 0;
      char *file = nemb_test_read_file(path, &len);
      const char *text = nemb_session_report_json(s);
      assert_non_null(text);
      assert_int_equal(len, strlen(text) + 1);
      assert_memory_equal(file, text, strlen(text));
      assert_int_equal(file[len - 1], '\n');
      assert_ptr_equal(nemb_session_report_json(s), text); /* built once */
      /* Written again from the text now held: the same bytes. */
      char again[4200];
      snprintf(again, sizeof again, "%s/again.json", dir);
      NEMB_ASSERT_OK(nemb_session_write(s, again, NEMB_FORMAT_JSON));
      char *file2 = nemb_test_read_file(again, NULL);
      assert_string_equal(file2, file);
      free(file2);
      free(file);
      nemb_session_destroy(s);
    }
  }
}

/* A .zst report is the same text compressed (read back through the library's reader). */
static void test_zst_is_the_text(void **state) {
  (void)state;
  char path[4200];
  nemb_session *s = run("r.json.zst", 1, "columnar", path, sizeof path);
  NEMB_ASSERT_OK(nemb_session_end(s)); /* libzstd is a build dependency (scripts/setup.sh) */
  char *back = NULL;
  size_t len = 0;
  NEMB_ASSERT_OK(nemb_report_read_text(path, &back, &len));
  const char *text = nemb_session_report_json(s);
  assert_int_equal(len, strlen(text) + 1);
  assert_memory_equal(back, text, strlen(text));
  nemb_free(back);
  nemb_session_destroy(s);
}

/* The summary is the report with every series left out, member for member. */
static void test_summary_is_the_report_without_series(void **state) {
  (void)state;
  static const char *const layouts[] = {"samples", "columnar"};
  for (size_t k = 0; k < 2; k++) {
    char path[4200];
    nemb_session *s = run("r.json", 1, layouts[k], path, sizeof path);
    NEMB_ASSERT_OK(nemb_session_end(s));
    /* The end built the summary from the figures it streamed the file from. */
    assert_non_null(s->report_summary);
    const char *summary_text = nemb_session_report_summary_json(s);
    assert_ptr_equal(summary_text, s->report_summary);
    char *fresh = NULL;
    NEMB_ASSERT_OK(nemb__report_json_summary(s, &fresh));
    assert_string_equal(fresh, summary_text);
    free(fresh);
    assert_null(s->report_json); /* the summary does not build the whole text */
    json_t *summary = json_loads(summary_text, 0, NULL);
    json_t *full = json_loads(nemb_session_report_json(s), 0, NULL);
    assert_non_null(summary);
    assert_non_null(full);
    assert_true(json_array_size(json_object_get(full, "tasks")) == 3);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(full, "tasks"), i, t) {
      assert_false(json_is_null(json_object_get(t, "timeseries")));
      json_object_set_new(t, "timeseries", json_null());
    }
    assert_int_equal(json_object_del(full, "timeseries"), k == 1 ? 0 : -1);
    assert_true(json_equal(summary, full));
    assert_non_null(json_object_get(json_object_get(summary, "totals"), "noise_warnings"));
    json_decref(summary);
    json_decref(full);
    nemb_session_destroy(s);
  }
  /* Without series the summary is the report itself. */
  char path[4200];
  nemb_session *s = run("r.json", 0, "columnar", path, sizeof path);
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_string_equal(nemb_session_report_summary_json(s), nemb_session_report_json(s));
  nemb_session_destroy(s);
}

/* A directory that does not exist: the end says so, nothing is left behind, and the report (and
 * its summary) can still be read and written elsewhere. */
static void test_unwritable_directory_keeps_the_report(void **state) {
  (void)state;
  char missing[4200], path[4200];
  snprintf(missing, sizeof missing, "%s/missing/r.json", dir);
  nemb_session *s = run(missing, 1, "columnar", path, sizeof path);
  assert_int_equal(nemb_session_end(s), NEMB_ENOENT);
  assert_non_null(strstr(nemb_last_error(), "missing/r.json"));
  assert_int_equal(access(path, F_OK), -1);
  const char *text = nemb_session_report_json(s);
  assert_non_null(text);
  json_t *root = json_loads(text, 0, NULL);
  assert_non_null(root);
  assert_non_null(json_object_get(root, "timeseries"));
  json_decref(root);
  assert_non_null(nemb_session_report_summary_json(s));
  char other[4200];
  snprintf(other, sizeof other, "%s/elsewhere.json", dir);
  NEMB_ASSERT_OK(nemb_session_write(s, other, NEMB_FORMAT_AUTO));
  char *file = nemb_test_read_file(other, NULL);
  assert_int_equal(strlen(file), strlen(text) + 1);
  free(file);
  nemb_session_destroy(s);
}

/* Before the end there is no report, and the text of a session that writes no file is built
 * on demand all the same. */
static void test_no_report_before_the_end(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  assert_null(nemb_session_report_json(s));
  assert_null(nemb_session_report_summary_json(s));
  char path[4200];
  snprintf(path, sizeof path, "%s/never.json", dir);
  assert_int_equal(nemb_session_write(s, path, NEMB_FORMAT_JSON), NEMB_ESTATE);
  assert_int_equal(access(path, F_OK), -1);
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_null(s->report_json);
  assert_non_null(nemb_session_report_json(s));
  nemb_session_destroy(s);
}

static void *ask(void *arg) {
  nemb_session *s = arg;
  const char *summary = nemb_session_report_summary_json(s);
  return summary != NULL ? (void *)nemb_session_report_json(s) : NULL;
}

/* Threads asking for the text at once get the one text, built once (the cache's lock). */
static void test_concurrent_first_calls_build_once(void **state) {
  (void)state;
  char path[4200];
  nemb_session *s = run("r.json", 1, "samples", path, sizeof path);
  NEMB_ASSERT_OK(nemb_session_end(s));
  pthread_t th[4];
  void *got[4];
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_create(&th[i], NULL, ask, s), 0);
  }
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(th[i], &got[i]), 0);
    assert_non_null(got[i]);
    assert_ptr_equal(got[i], got[0]);
  }
  nemb_session_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_file_is_the_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zst_is_the_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_summary_is_the_report_without_series, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unwritable_directory_keeps_the_report, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_report_before_the_end, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_first_calls_build_once, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
