/*
 * test_columnar.c - the columnar layout of the report's time series (report_columnar.c): for the
 * same session data, every task's window expanded by the documented rule is the samples layout's
 * series value for value, the rest of the report is unchanged, and the layout is chosen by the
 * config key or nemb_session_set_timeseries_layout().
 *
 * The two layouts of one session come from the library's own report builder (session.h): the
 * session ends in one layout and nemb__report_json() writes it again in the other. Sessions run
 * on the simulated device; nothing depends on how long a sleep took.
 */
#include <jansson.h>
#include <string.h>

#include "nemb_test.h"
#include "session.h"

/* A package alternating 5 / 35 W every 10 ms (with a nested core) plus dram 4 W, with counters
 * updating every 250 us: points between updates, powers that change. */
static const char SIM[] =
    "{\"update_interval_us\":250,\"energy_unit_uj\":0.5,\"domains\":["
    "{\"name\":\"package-0\",\"kind\":\"cpu_package\",\"waveform\":\"square\",\"low_w\":5,"
    "\"high_w\":35,\"period_ms\":20,\"includes\":[\"core\"]},"
    "{\"name\":\"core\",\"kind\":\"nested\",\"waveform\":\"constant\",\"power_w\":3},"
    "{\"name\":\"dram\",\"kind\":\"dram\",\"waveform\":\"constant\",\"power_w\":4}]}";

static void use_sim(void) {
  unsetenv("CODEGREEN_SYSFS_ROOT");
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", SIM, 1);
}

static nemb_session *begin(int series, const char *config_json) {
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(config_json ? config_json : "{}", "test", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "columnar-test";
  o.save_to_file = 0;
  o.record_time_series = series;
  o.config = cfg;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_config_destroy(cfg);
  return s;
}

static void task_samples(nemb_session *s, const char *name, size_t samples) {
  NEMB_ASSERT_OK(nemb_task_start(s, name));
  if (nemb_session_meter(s) != NULL) {
    nemb_test_wait_samples(nemb_session_meter(s), samples);
  }
  NEMB_ASSERT_OK(nemb_task_stop(s, name));
}

/* outer { inner (20 samples), zero (as short as can be), 5 samples }, then after (8 samples). */
static void record(nemb_session *s) {
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  task_samples(s, "inner", 20);
  NEMB_ASSERT_OK(nemb_task_start(s, "zero"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "zero"));
  if (nemb_session_meter(s) != NULL) {
    nemb_test_wait_samples(nemb_session_meter(s), 5);
  }
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  task_samples(s, "after", 8);
}

static json_t *parse(const char *text) {
  json_error_t err;
  json_t *root = json_loads(text, 0, &err);
  if (root == NULL) {
    print_error("not JSON: %s (line %d)\n", err.text, err.line);
  }
  assert_non_null(root);
  return root;
}

/* The session's point k as a samples-layout point. */
static json_t *session_point(json_t *cols, size_t k) {
  json_t *p = json_object();
  json_object_set(p, "t_ns", json_array_get(json_object_get(cols, "t_ns"), k));
  json_object_set(p, "energy_j", json_array_get(json_object_get(cols, "energy_j"), k));
  json_object_set(p, "power_w", json_array_get(json_object_get(cols, "power_w"), k));
  const char *keys[] = {"domain_j", "domain_w"};
  for (int i = 0; i < 2; i++) {
    json_t *o = json_object();
    const char *d;
    json_t *col;
    json_object_foreach(json_object_get(cols, keys[i]), d, col) {
      json_object_set(o, d, json_array_get(col, k));
    }
    json_object_set_new(p, keys[i], o);
  }
  return p;
}

/* A window expanded by the rule README and report_columnar.c give. */
static json_t *expand(json_t *w, json_t *cols) {
  json_t *out = json_array();
  if (!json_is_null(json_object_get(w, "start"))) {
    json_array_append(out, json_object_get(w, "start"));
  }
  size_t first = (size_t)json_integer_value(json_object_get(w, "first"));
  size_t count = (size_t)json_integer_value(json_object_get(w, "count"));
  json_t *fp = json_object_get(w, "first_power");
  assert_true(count == 0 ? json_is_null(fp) : json_is_object(fp));
  for (size_t k = first; k < first + count; k++) {
    json_t *p = session_point(cols, k);
    if (k == first) {
      json_object_set(p, "power_w", json_object_get(fp, "power_w"));
      json_object_set(p, "domain_w", json_object_get(fp, "domain_w"));
    }
    json_array_append_new(out, p);
  }
  if (!json_is_null(json_object_get(w, "end"))) {
    json_array_append(out, json_object_get(w, "end"));
  }
  return out;
}

/* Both layouts of one session: it ends in the samples layout, then is written again columnar. */
static void both_layouts(nemb_session *s, json_t **samples, json_t **columnar, char **col_text) {
  NEMB_ASSERT_OK(nemb_session_end(s));
  *samples = parse(nemb_session_report_json(s));
  s->columnar = true;
  NEMB_ASSERT_OK(nemb__report_json(s, col_text));
  *columnar = parse(*col_text);
}

static void test_windows_expand_to_the_samples_layout(void **unused) {
  (void)unused;
  use_sim();
  nemb_session *s = begin(true, NULL);
  record(s);
  json_t *a, *b;
  char *text;
  both_layouts(s, &a, &b, &text);

  /* meta says the layout only in the columnar form; the samples form is the reference's. */
  json_t *ts_a = json_object_get(json_object_get(a, "meta"), "timeseries");
  json_t *ts_b = json_object_get(json_object_get(b, "meta"), "timeseries");
  assert_null(json_object_get(ts_a, "layout"));
  assert_string_equal(json_string_value(json_object_get(ts_b, "layout")), "columnar");
  assert_null(json_object_get(a, "timeseries"));
  assert_true(json_equal(json_object_get(a, "totals"), json_object_get(b, "totals")));

  json_t *cols = json_object_get(b, "timeseries");
  assert_true(json_is_object(cols));
  size_t n = json_array_size(json_object_get(cols, "t_ns"));
  assert_true(n >= 3); /* the begin, the end, and the samples between (how many: the sampler's) */
  /* The session's series runs from its begin (energy 0) to its end (the session's energy). */
  assert_true(json_real_value(json_array_get(json_object_get(cols, "energy_j"), 0)) == 0.0);
  assert_true(json_real_value(json_array_get(json_object_get(cols, "energy_j"), n - 1)) ==
              json_real_value(json_object_get(json_object_get(a, "totals"), "session_energy_j")));
  assert_int_equal(json_object_size(json_object_get(cols, "domain_w")), 3);

  json_t *ta = json_object_get(a, "tasks"), *tb = json_object_get(b, "tasks");
  assert_int_equal(json_array_size(ta), 4);
  assert_int_equal(json_array_size(tb), 4);
  for (size_t i = 0; i < json_array_size(ta); i++) {
    json_t *x = json_array_get(ta, i), *y = json_array_get(tb, i);
    json_t *series = json_object_get(x, "timeseries");
    json_t *window = json_object_get(y, "timeseries");
    assert_true(json_is_array(series));
    assert_true(json_is_object(window));
    json_t *expanded = expand(window, cols);
    if (!json_equal(series, expanded)) {
      char *want = json_dumps(series, JSON_REAL_PRECISION(17));
      char *got = json_dumps(expanded, JSON_REAL_PRECISION(17));
      print_error("task %zu:\n samples  %s\n columnar %s\n", i, want, got);
      free(want);
      free(got);
    }
    assert_true(json_equal(series, expanded));
    json_decref(expanded);
    /* Everything else about the task is the same. */
    json_t *x2 = json_deep_copy(x), *y2 = json_deep_copy(y);
    json_object_del(x2, "timeseries");
    json_object_del(y2, "timeseries");
    assert_true(json_equal(x2, y2));
    json_decref(x2);
    json_decref(y2);
    const char *name = json_string_value(json_object_get(x, "name"));
    if (strcmp(name, "zero") != 0) { /* the others waited for samples: they hold some */
      assert_true(json_integer_value(json_object_get(window, "count")) > 0);
    }
  }
  /* Each column is one line of numbers; the rest is jansson's layout. */
  const char *col = strstr(text, "\n    \"t_ns\": [");
  assert_non_null(col);
  const char *close = strchr(col + 1, ']');
  assert_non_null(close);
  assert_null(memchr(col + 1, '\n', (size_t)(close - col - 1)));
  assert_null(strstr(col, ", "));
  free(text);
  json_decref(a);
  json_decref(b);
  nemb_session_destroy(s);
}

static void test_without_a_meter(void **unused) {
  (void)unused;
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
  nemb_test_use_fixture("estimate");
  nemb_session *s = begin(true, "{\"providers\":{\"estimate\":{\"enabled\":false}}}");
  assert_null(nemb_session_meter(s));
  record(s);
  json_t *a, *b;
  char *text;
  both_layouts(s, &a, &b, &text);
  json_t *w = json_object_get(json_array_get(json_object_get(b, "tasks"), 0), "timeseries");
  json_t *want =
      json_pack("{s:n, s:i, s:i, s:n, s:n}", "start", "first", 0, "count", 0, "first_power", "end");
  assert_true(json_equal(w, want));
  json_t *cols = json_object_get(b, "timeseries");
  assert_int_equal(json_array_size(json_object_get(cols, "t_ns")), 0);
  assert_int_equal(json_object_size(json_object_get(cols, "domain_j")), 0);
  json_t *empty = expand(w, cols);
  assert_true(json_equal(
      empty, json_object_get(json_array_get(json_object_get(a, "tasks"), 0), "timeseries")));
  json_decref(empty);
  json_decref(want);
  free(text);
  json_decref(a);
  json_decref(b);
  nemb_session_destroy(s);
}

static void test_choosing_the_layout(void **unused) {
  (void)unused;
  use_sim();
  /* The config key. */
  nemb_session *s =
      begin(true, "{\"measurement\":{\"report\":{\"timeseries_layout\":\"columnar\"}}}");
  task_samples(s, "t", 3);
  NEMB_ASSERT_OK(nemb_session_end(s));
  json_t *r = parse(nemb_session_report_json(s));
  assert_true(json_is_object(json_object_get(r, "timeseries")));
  json_decref(r);
  /* Too late once the report is written. */
  assert_int_equal(nemb_session_set_timeseries_layout(s, "samples"), NEMB_ESTATE);
  nemb_session_destroy(s);

  /* A name that is no layout, in the config and through the setter. */
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"measurement\":{\"report\":{\"timeseries_layout\":\"rows\"}}}", "test", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.config = cfg;
  s = NULL;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "measurement.report.timeseries_layout = \"rows\""));
  nemb_config_destroy(cfg);
  nemb_session_destroy(s);

  s = begin(true, NULL);
  assert_int_equal(nemb_session_set_timeseries_layout(s, "rows"), NEMB_ECONFIG);
  NEMB_ASSERT_OK(nemb_session_set_timeseries_layout(s, "columnar"));
  task_samples(s, "t", 3);
  NEMB_ASSERT_OK(nemb_session_end(s));
  r = parse(nemb_session_report_json(s));
  assert_true(json_is_object(
      json_object_get(json_array_get(json_object_get(r, "tasks"), 0), "timeseries")));
  json_decref(r);
  nemb_session_destroy(s);

  /* Without time series the layout changes nothing: the reference's envelope. */
  s = begin(false, NULL);
  NEMB_ASSERT_OK(nemb_session_set_timeseries_layout(s, "columnar"));
  task_samples(s, "t", 3);
  NEMB_ASSERT_OK(nemb_session_end(s));
  r = parse(nemb_session_report_json(s));
  assert_null(json_object_get(r, "timeseries"));
  assert_null(json_object_get(json_object_get(json_object_get(r, "meta"), "timeseries"), "layout"));
  assert_true(
      json_is_null(json_object_get(json_array_get(json_object_get(r, "tasks"), 0), "timeseries")));
  json_decref(r);
  nemb_session_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_windows_expand_to_the_samples_layout),
      cmocka_unit_test(test_without_a_meter),
      cmocka_unit_test(test_choosing_the_layout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
