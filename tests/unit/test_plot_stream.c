/* test_plot_stream.c - the plot's streaming read of a saved report (plot_stream.c, plot_build.c)
 * and the one report loader (json_load.c over zsource.c): a report whose parents repeat their
 * children's samples plots exactly as before the streaming read (the data block of the page that
 * the jansson-tree reader drew, committed beside the fixture); a .json.zst plots the same chart
 * as its .json and loads the same tree; truncated JSON, truncated or corrupt zstd each get a
 * clear error; the columnar layout (one series, task windows) plots the same chart whichever
 * comes first, the series or the tasks. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <zstd.h>

#include "json_load.h"
#include "nemb_test.h"
#include "plot.h"
#include "report.h"
#include "session.h"

static char tmpdir[4096];

static int setup(void **state) {
  (void)state;
  nemb_test_mkdtemp(tmpdir, sizeof tmpdir);
  nemb__plot_set_max_points(0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb_test_rmtree(tmpdir);
  return 0;
}

static const char *path_in(const char *name) {
  static char buf[4][8192];
  static unsigned next;
  char *out = buf[next++ % 4];
  snprintf(out, sizeof buf[0], "%s/%s", tmpdir, name);
  return out;
}

static void spit(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

static const char *fixture(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/reports/%s", nemb_test_fixtures(), name);
  return buf;
}

/* Compresses @p path into @p out with libzstd (level 3); returns the compressed size. */
static size_t compress_file(const char *path, const char *out) {
  size_t n;
  char *text = nemb_test_read_file(path, &n);
  size_t cap = ZSTD_compressBound(n);
  char *z = malloc(cap);
  assert_non_null(z);
  size_t zn = ZSTD_compress(z, cap, text, n, 3);
  assert_false(ZSTD_isError(zn));
  spit(out, z, zn);
  free(z);
  free(text);
  return zn;
}

/* The JSON the page embeds, less "source" (the report's path). */
static json_t *embedded_data(const char *html_path) {
  char *html = nemb_test_read_file(html_path, NULL);
  const char *open = "<script type=\"application/json\" id=\"codegreen-data\">";
  char *start = strstr(html, open);
  assert_non_null(start);
  start += strlen(open);
  char *end = strstr(start, "</script>");
  assert_non_null(end);
  json_t *data = json_loadb(start, (size_t)(end - start), 0, NULL);
  assert_non_null(data);
  json_object_del(data, "source");
  free(html);
  return data;
}

/* The two reports' pages embed the same data. (Their SVGs are compared by tests/cli/test_zst.sh,
 * one process each: cairo numbers an SVG's glyphs per process.) */
static bool same_plot(const char *a, const char *b) {
  NEMB_ASSERT_OK(nemb_report_export_plot(a, path_in("same-a.html")));
  NEMB_ASSERT_OK(nemb_report_export_plot(b, path_in("same-b.html")));
  json_t *x = embedded_data(path_in("same-a.html")), *y = embedded_data(path_in("same-b.html"));
  bool same = json_equal(x, y);
  json_decref(x);
  json_decref(y);
  return same;
}

/* ----- the per-sample layout ----- */

static void test_parents_repeating_children_plot_as_before(void **state) {
  (void)state;
  NEMB_ASSERT_OK(nemb_report_export_plot(fixture("nested.json"), path_in("n.html")));
  json_t *got = embedded_data(path_in("n.html"));
  json_t *want = json_load_file(fixture("nested.plot.json"), 0, NULL);
  assert_non_null(want);
  if (!json_equal(got, want)) {
    char *g = json_dumps(got, JSON_COMPACT);
    print_error("plot data changed:\n%s\n", g);
    free(g);
    fail();
  }
  json_decref(got);
  json_decref(want);
}

static void test_zst_plots_the_same(void **state) {
  (void)state;
  compress_file(fixture("nested.json"), path_in("n.json.zst"));
  assert_true(same_plot(fixture("nested.json"), path_in("n.json.zst")));
  /* Found by its magic under any name. */
  compress_file(fixture("nested.json"), path_in("renamed.json"));
  assert_true(same_plot(fixture("nested.json"), path_in("renamed.json")));
}

static void test_zst_loads_the_same_tree(void **state) {
  (void)state;
  compress_file(fixture("nested.json"), path_in("n.json.zst"));
  json_t *a = NULL, *b = NULL;
  char msg[600];
  NEMB_ASSERT_OK(nemb__report_load(fixture("nested.json"), &a, msg, sizeof msg));
  NEMB_ASSERT_OK(nemb__report_load(path_in("n.json.zst"), &b, msg, sizeof msg));
  assert_true(json_equal(a, b));
  json_decref(a);
  json_decref(b);
  assert_true(nemb__report_file_name("r.json"));
  assert_true(nemb__report_file_name("r.json.zst"));
  assert_false(nemb__report_file_name(".json"));
  assert_false(nemb__report_file_name("r.zst"));
}

static void expect_plot_error(const char *report, const char *words) {
  assert_int_not_equal(nemb_report_export_plot(report, path_in("x.html")), 0);
  if (strstr(nemb_last_error(), words) == NULL) {
    print_error("expected '%s' in: %s\n", words, nemb_last_error());
    fail();
  }
}

static void expect_load_error(const char *report, const char *words) {
  json_t *doc = NULL;
  char msg[600] = "";
  assert_int_not_equal(nemb__report_load(report, &doc, msg, sizeof msg), 0);
  assert_null(doc);
  if (strstr(msg, words) == NULL) {
    print_error("expected '%s' in: %s\n", words, msg);
    fail();
  }
}

static void test_truncated_and_corrupt_are_clear(void **state) {
  (void)state;
  size_t n;
  char *text = nemb_test_read_file(fixture("nested.json"), &n);
  spit(path_in("cut.json"), text, n / 2);
  expect_plot_error(path_in("cut.json"), "is not valid JSON (line ");
  expect_load_error(path_in("cut.json"), "is not valid JSON (line ");
  spit(path_in("bad.json"), "{\"meta\": {},\n  \"tasks\": [}", 26);
  expect_plot_error(path_in("bad.json"), "bad.json is not valid JSON (line 2, column ");
  free(text);

  size_t zn = compress_file(fixture("nested.json"), path_in("n.json.zst"));
  char *z = nemb_test_read_file(path_in("n.json.zst"), NULL);
  spit(path_in("cut.json.zst"), z, zn - 7);
  expect_plot_error(path_in("cut.json.zst"), "cut.json.zst is truncated");
  expect_load_error(path_in("cut.json.zst"), "cut.json.zst is truncated");
  z[zn / 2] ^= 0x5a;
  z[zn / 2 + 1] ^= 0xa5;
  spit(path_in("bad.json.zst"), z, zn);
  expect_plot_error(path_in("bad.json.zst"), "bad.json.zst is not valid zstd data");
  spit(path_in("plain.json.zst"), "{\"tasks\": []}", 13);
  expect_load_error(path_in("plain.json.zst"), "is not valid zstd data");
  free(z);
  /* An empty file, and a whole zstd frame holding nothing (`printf '' | zstd`: magic, frame
   * header 0x20 0x00, one empty last raw block), each say what they are. */
  spit(path_in("empty.json.zst"), "", 0);
  expect_load_error(path_in("empty.json.zst"), "empty.json.zst is empty (0 bytes)");
  spit(path_in("empty.json"), "", 0);
  expect_plot_error(path_in("empty.json"), "empty.json is empty (0 bytes)");
  static const char nothing[] = {0x28, (char)0xb5, 0x2f, (char)0xfd, 0x20, 0x00, 0x01, 0x00, 0x00};
  spit(path_in("nothing.json.zst"), nothing, sizeof nothing);
  expect_load_error(path_in("nothing.json.zst"), "nothing.json.zst holds no report");
  expect_load_error(tmpdir, "is a directory");
  expect_load_error(path_in("missing.json"), "cannot read the report");
}

/* ----- the columnar layout ----- */

/* A hand-made columnar report, laid out as report_columnar.c writes one. The session starts at
 * 1 s on the monotonic clock (started_at and task a's two stamps place it); samples at 3, 5 and
 * 7 ms of 10, 20 and 30 W, and one at 9.7 ms of 45 W (since 7 ms); task a over [2, 9] ms (its end
 * point: 40 W since 7 ms), task b inside it over [4, 6] ms, task c over [9.5, 9.8] ms: its one
 * sample's power since c's start is its first_power, 50 W, not the column's 45 W. */
static const char *columns = "\"timeseries\": {\n"
                             "  \"t_ns\": [1003000000,1005000000,1007000000,1009700000],\n"
                             "  \"energy_j\": [0.01,0.05,0.11,0.2315],\n"
                             "  \"power_w\": [10,20,30,45],\n"
                             "  \"domain_j\": {\"pkg\": [0.01,0.05,0.11,0.2315]},\n"
                             "  \"domain_w\": {\"pkg\": [10.0,20.0,30.0,45.0]}}";
static const char *tasks =
    "\"tasks\": [\n"
    " {\"name\": \"a\", \"depth\": 0, \"parent\": null, \"energy_j\": 0.19,\n"
    "  \"started_at\": 1767225600.002, \"started_at_mono_ns\": 1002000000,\n"
    "  \"ended_at_mono_ns\": 1009000000, \"domains\": {\"pkg\": 0.19},\n"
    "  \"timeseries\": {\n"
    "   \"start\": {\"t_ns\": 1002000000, \"energy_j\": 0, \"power_w\": 10,\n"
    "     \"domain_j\": {\"pkg\": 0}, \"domain_w\": {\"pkg\": 10}},\n"
    "   \"first\": 0, \"count\": 3,\n"
    "   \"first_power\": {\"power_w\": 10, \"domain_w\": {\"pkg\": 10}},\n"
    "   \"end\": {\"t_ns\": 1009000000, \"energy_j\": 0.19, \"power_w\": 40,\n"
    "     \"domain_j\": {\"pkg\": 0.19}, \"domain_w\": {\"pkg\": 40}}}},\n"
    " {\"name\": \"b\", \"depth\": 1, \"parent\": \"a\", \"energy_j\": 0.05,\n"
    "  \"started_at\": 1767225600.004, \"started_at_mono_ns\": 1004000000,\n"
    "  \"ended_at_mono_ns\": 1006000000, \"domains\": {\"pkg\": 0.05},\n"
    "  \"timeseries\": {\"start\": {\"t_ns\": 1004000000, \"domain_w\": {\"pkg\": 20}},\n"
    "   \"first\": 1, \"count\": 1, \"first_power\": {\"domain_w\": {\"pkg\": 20}},\n"
    "   \"end\": {\"t_ns\": 1006000000, \"domain_w\": {\"pkg\": 30}}}},\n"
    " {\"name\": \"c\", \"depth\": 0, \"parent\": null, \"energy_j\": 0.015,\n"
    "  \"started_at\": 1767225600.0095, \"started_at_mono_ns\": 1009500000,\n"
    "  \"ended_at_mono_ns\": 1009800000, \"domains\": {\"pkg\": 0.015},\n"
    "  \"timeseries\": {\"start\": {\"t_ns\": 1009500000, \"domain_w\": {\"pkg\": 50}},\n"
    "   \"first\": 3, \"count\": 1, \"first_power\": {\"domain_w\": {\"pkg\": 50}},\n"
    "   \"end\": {\"t_ns\": 1009800000, \"domain_w\": {\"pkg\": 50}}}}]";

static void write_columnar(const char *path, bool series_first) {
  char text[8192];
  int n = snprintf(text, sizeof text,
                   "{\"meta\": {\"session_name\": \"col\", \"energy_source\": \"simulated\",\n"
                   "  \"started_at\": \"2026-01-01T00:00:00+00:00\", \"duration_total_s\": 0.01,\n"
                   "  \"domain_topology\": {\"pkg\": {\"kind\": \"cpu_package\", \"in_total\": "
                   "true}},\n"
                   "  \"timeseries\": {\"layout\": \"columnar\"}},\n"
                   " %s,\n %s,\n \"totals\": {\"energy_j\": 0.205}}\n",
                   series_first ? columns : tasks, series_first ? tasks : columns);
  assert_true(n > 0 && (size_t)n < sizeof text);
  spit(path, text, (size_t)n);
}

/* The plotted power at @p t_s (the interval that holds it), or NAN in a hole. */
static double power_at(json_t *data, double t_s) {
  json_t *t = json_object_get(data, "t_s"), *p = json_object_get(data, "power_w");
  for (size_t i = 1; i < json_array_size(t); i++) {
    if (t_s > json_number_value(json_array_get(t, i - 1)) &&
        t_s <= json_number_value(json_array_get(t, i))) {
      json_t *v = json_array_get(p, i);
      return json_is_number(v) ? json_number_value(v) : NAN;
    }
  }
  return NAN;
}

static void check_columnar(json_t *d) {
  assert_string_equal(json_string_value(json_object_get(d, "title")), "col");
  /* started_at and a's wall stamp place x = 0 to a double's precision at 2026 (~0.2 us). */
  assert_true(llabs(json_integer_value(json_object_get(d, "t0_mono_ns")) - 1000000000) < 1000);
  assert_true(fabs(json_number_value(json_object_get(d, "duration_s")) - 0.01) < 1e-12);
  const double at[] = {0.0025, 0.004, 0.0045, 0.0055, 0.0065, 0.008, 0.0096, 0.0098};
  const double want[] = {10, 20, 20, 30, 30, 40, 50, 50};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    if (!(fabs(power_at(d, at[i]) - want[i]) < 1e-9)) {
      print_error("at %g s: %g W, want %g W\n", at[i], power_at(d, at[i]), want[i]);
      fail();
    }
  }
  assert_true(isnan(power_at(d, 0.001)));  /* before every task */
  assert_true(isnan(power_at(d, 0.0092))); /* between a and c */
  json_t *tk = json_object_get(d, "tasks");
  assert_int_equal(json_array_size(tk), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(tk, 1), "parent")), "a");
}

static void test_columnar_plots(void **state) {
  (void)state;
  write_columnar(path_in("c1.json"), true);
  write_columnar(path_in("c2.json"), false);
  NEMB_ASSERT_OK(nemb_report_export_plot(path_in("c1.json"), path_in("c1.html")));
  NEMB_ASSERT_OK(nemb_report_export_plot(path_in("c2.json"), path_in("c2.html")));
  json_t *d1 = embedded_data(path_in("c1.html")), *d2 = embedded_data(path_in("c2.html"));
  check_columnar(d1);
  assert_true(json_equal(d1, d2));
  json_decref(d1);
  json_decref(d2);
  compress_file(path_in("c2.json"), path_in("c2.json.zst"));
  assert_true(same_plot(path_in("c2.json"), path_in("c2.json.zst")));
}

/* A real session written in both layouts (report_columnar.c's writer) plots the same chart. */
static void test_real_columnar_plots_as_its_samples_layout(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "both";
  o.save_to_file = 0;
  o.record_time_series = 1;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_meter *m = nemb_session_meter(s);
  nemb_test_wait_samples(m, 3);
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  nemb_test_wait_samples(m, nemb_meter_sample_count(m) + 5);
  NEMB_ASSERT_OK(nemb_task_start(s, "inner"));
  nemb_test_wait_samples(m, nemb_meter_sample_count(m) + 5);
  NEMB_ASSERT_OK(nemb_task_stop(s, "inner"));
  nemb_test_wait_samples(m, nemb_meter_sample_count(m) + 3);
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  NEMB_ASSERT_OK(nemb_task_start(s, "after"));
  nemb_test_wait_samples(m, nemb_meter_sample_count(m) + 4);
  NEMB_ASSERT_OK(nemb_task_stop(s, "after"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  const char *samples = nemb_session_report_json(s);
  spit(path_in("samples.json"), samples, strlen(samples));
  s->columnar = true;
  char *columnar = NULL;
  NEMB_ASSERT_OK(nemb__report_json(s, &columnar));
  assert_non_null(strstr(columnar, "\"first_power\""));
  spit(path_in("columnar.json"), columnar, strlen(columnar));
  free(columnar);
  nemb_session_destroy(s);
  assert_true(same_plot(path_in("samples.json"), path_in("columnar.json")));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_parents_repeating_children_plot_as_before, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_zst_plots_the_same, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zst_loads_the_same_tree, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_and_corrupt_are_clear, setup, teardown),
      cmocka_unit_test_setup_teardown(test_columnar_plots, setup, teardown),
      cmocka_unit_test_setup_teardown(test_real_columnar_plots_as_its_samples_layout, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
