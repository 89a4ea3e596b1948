/* test_plot.c - the plot writers: the area under the plotted power over each task's window is the
 * task's energy_j (from a session, from a saved report, resampled), the page is self-contained
 * and safe for any task name, the PNG is a real picture, provenance is labelled, and bad input
 * gets clear errors. */
#include <cairo.h>
#include <jansson.h>
#include <math.h>
#include <time.h>

#include "nemb_test.h"
#include "plot.h"
#include "session.h"

static char tmpdir[4096];

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  nemb_test_mkdtemp(tmpdir, sizeof tmpdir);
  nemb__plot_set_max_points(0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb_test_rmtree(tmpdir);
  nemb__plot_set_max_points(0);
  return 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* A path in the test's directory; four calls may be in use at once. */
static const char *path_in(const char *name) {
  static char buf[4][8192];
  static unsigned next;
  char *out = buf[next++ % 4];
  snprintf(out, sizeof buf[0], "%s/%s", tmpdir, name);
  return out;
}

/* The JSON the page embeds for tests and tools. */
static json_t *embedded_data(const char *html_path) {
  char *html = nemb_test_read_file(html_path, NULL);
  const char *open = "<script type=\"application/json\" id=\"codegreen-data\">";
  char *start = strstr(html, open);
  assert_non_null(start);
  start += strlen(open);
  char *end = strstr(start, "</script>");
  assert_non_null(end);
  json_error_t err;
  json_t *data = json_loadb(start, (size_t)(end - start), 0, &err);
  if (data == NULL) {
    print_error("embedded JSON: line %d: %s\n", err.line, err.text);
  }
  assert_non_null(data);
  free(html);
  return data;
}

/* The area under the embedded step series power_w over [a, b]; NAN if it crosses a hole. */
static double area(json_t *data, double a, double b) {
  json_t *t = json_object_get(data, "t_s"), *p = json_object_get(data, "power_w");
  size_t n = json_array_size(t);
  double sum = 0;
  for (size_t i = 1; i < n; i++) {
    double lo = fmax(a, json_number_value(json_array_get(t, i - 1)));
    double hi = fmin(b, json_number_value(json_array_get(t, i)));
    if (hi > lo) {
      json_t *v = json_array_get(p, i);
      if (!json_is_number(v)) {
        return NAN;
      }
      sum += json_number_value(v) * (hi - lo);
    }
  }
  return sum;
}

/* Every task of the report: the plotted area over its window equals its energy_j within
 * @p rel (the requirement is 0.2 %; the construction is exact to rounding). */
static void check_areas(json_t *data, json_t *report, double rel) {
  json_t *ptasks = json_object_get(data, "tasks"), *rtasks = json_object_get(report, "tasks");
  assert_int_equal(json_array_size(ptasks), json_array_size(rtasks));
  assert_true(json_array_size(ptasks) > 0);
  for (size_t i = 0; i < json_array_size(ptasks); i++) {
    json_t *pt = json_array_get(ptasks, i), *rt = json_array_get(rtasks, i);
    assert_string_equal(json_string_value(json_object_get(pt, "name")),
                        json_string_value(json_object_get(rt, "name")));
    double e = json_number_value(json_object_get(rt, "energy_j"));
    double a = area(data, json_number_value(json_object_get(pt, "start_s")),
                    json_number_value(json_object_get(pt, "end_s")));
    if (!(fabs(a - e) <= rel * fabs(e))) {
      print_error("task %s: area %.12g J, energy_j %.12g J\n",
                  json_string_value(json_object_get(pt, "name")), a, e);
    }
    assert_true(fabs(a - e) <= rel * fabs(e));
    assert_true(json_number_value(json_object_get(pt, "energy_j")) == e ||
                fabs(json_number_value(json_object_get(pt, "energy_j")) - e) <= 1e-12 * e);
  }
}

/* outer { a, b }, a gap, then second: nesting, a hole between tasks, and a default sim device
 * (square 10/30 W package holding a square 5/20 W core, 3 W DRAM). */
static nemb_session *record(int time_series) {
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "plot-test";
  o.save_to_file = 0;
  o.record_time_series = time_series;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_test_wait_samples(nemb_session_meter(s), 20);
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  NEMB_ASSERT_OK(nemb_task_start(s, "a"));
  nemb_test_wait_samples(nemb_session_meter(s), 70);
  NEMB_ASSERT_OK(nemb_task_stop(s, "a"));
  NEMB_ASSERT_OK(nemb_task_start(s, "b"));
  nemb_test_wait_samples(nemb_session_meter(s), 90);
  NEMB_ASSERT_OK(nemb_task_stop(s, "b"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  nemb_test_wait_samples(nemb_session_meter(s), 40);
  NEMB_ASSERT_OK(nemb_task_start(s, "second"));
  nemb_test_wait_samples(nemb_session_meter(s), 130);
  NEMB_ASSERT_OK(nemb_task_stop(s, "second"));
  nemb_test_wait_samples(nemb_session_meter(s), 10);
  NEMB_ASSERT_OK(nemb_session_end(s));
  return s;
}

static json_t *report_of(const nemb_session *s) {
  json_t *r = json_loads(nemb_session_report_json(s), 0, NULL);
  assert_non_null(r);
  return r;
}

static void test_session_html_area_is_energy(void **state) {
  (void)state;
  for (int ts = 0; ts <= 1; ts++) { /* with and without time series in the report */
    nemb_session *s = record(ts);
    NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("s.html")));
    json_t *data = embedded_data(path_in("s.html"));
    json_t *report = report_of(s);
    check_areas(data, report, 1e-6);
    assert_false(json_is_true(json_object_get(data, "resampled")));
    assert_string_equal(json_string_value(json_object_get(data, "title")), "plot-test");
    assert_string_equal(json_string_value(json_object_get(data, "energy_source")), "simulated");
    assert_non_null(strstr(json_string_value(json_object_get(data, "provenance")), "SIMULATED"));
    assert_int_equal(json_array_size(json_object_get(data, "domains")), 3);
    /* The session's whole span is sampled: the area over it is the session's energy. */
    double dur = json_number_value(json_object_get(data, "duration_s"));
    double session_j =
        json_number_value(json_object_get(json_object_get(report, "totals"), "session_energy_j"));
    assert_true(fabs(area(data, 0, dur) - session_j) <= 1e-6 * session_j);
    assert_true(fabs(json_number_value(json_object_get(data, "energy_j")) -
                     json_number_value(
                         json_object_get(json_object_get(report, "totals"), "energy_j"))) < 1e-9);
    /* The total is the sum of the in-total domains (package-0 and dram, not core). */
    json_t *doms = json_object_get(data, "domains");
    size_t i = json_array_size(json_object_get(data, "t_s")) / 2;
    double sum = 0;
    for (size_t d = 0; d < json_array_size(doms); d++) {
      json_t *dom = json_array_get(doms, d);
      if (json_is_true(json_object_get(dom, "in_total"))) {
        sum += json_number_value(json_array_get(json_object_get(dom, "power_w"), i));
      }
    }
    assert_true(fabs(sum - json_number_value(json_array_get(json_object_get(data, "power_w"), i))) <
                1e-6);
    json_decref(data);
    json_decref(report);
    nemb_session_destroy(s);
  }
}

static void test_report_html_area_is_energy(void **state) {
  (void)state;
  nemb_session *s = record(1);
  NEMB_ASSERT_OK(nemb_session_write(s, path_in("r.json"), NEMB_FORMAT_JSON));
  NEMB_ASSERT_OK(nemb_report_export_plot(path_in("r.json"), path_in("r.html")));
  json_t *data = embedded_data(path_in("r.html"));
  json_t *report = report_of(s);
  check_areas(data, report, 1e-6);
  /* Between outer and second the report holds no samples: a hole, not an invented line. */
  json_t *tasks = json_object_get(data, "tasks");
  double outer_end = json_number_value(json_object_get(json_array_get(tasks, 0), "end_s"));
  double second_start = json_number_value(json_object_get(json_array_get(tasks, 3), "start_s"));
  assert_string_equal(json_string_value(json_object_get(json_array_get(tasks, 3), "name")),
                      "second");
  assert_true(isnan(area(data, outer_end, second_start)));
  /* Nesting survives: a and b are children of outer. */
  assert_string_equal(json_string_value(json_object_get(json_array_get(tasks, 1), "parent")),
                      "outer");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(tasks, 2), "depth")), 1);
  /* The x axis starts at the session's start, as for the live session (within a microsecond:
   * the report gives the start in wall time to the microsecond). */
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("s.html")));
  json_t *live = embedded_data(path_in("s.html"));
  double a0 = json_number_value(json_object_get(json_array_get(tasks, 0), "start_s"));
  double b0 = json_number_value(
      json_object_get(json_array_get(json_object_get(live, "tasks"), 0), "start_s"));
  assert_true(fabs(a0 - b0) < 5e-6);
  json_decref(live);
  json_decref(data);
  json_decref(report);
  nemb_session_destroy(s);
}

static void test_resampled_keeps_energy(void **state) {
  (void)state;
  nemb__plot_set_max_points(40); /* well below the samples even a busy machine takes */
  nemb_session *s = record(1);
  NEMB_ASSERT_OK(nemb_session_write(s, path_in("r.json"), NEMB_FORMAT_JSON));
  json_t *report = report_of(s);
  for (int from_report = 0; from_report <= 1; from_report++) {
    const char *out = path_in("d.html");
    if (from_report) {
      NEMB_ASSERT_OK(nemb_report_export_plot(path_in("r.json"), out));
    } else {
      NEMB_ASSERT_OK(nemb_session_export_plot(s, out));
    }
    json_t *data = embedded_data(out);
    assert_true(json_is_true(json_object_get(data, "resampled")));
    assert_true(json_integer_value(json_object_get(data, "raw_intervals")) > 40);
    size_t n = json_array_size(json_object_get(data, "t_s"));
    assert_true(n <= 40 + 1 + 2 * 4);
    check_areas(data, report, 1e-6);
    /* Each bucket's average lies between the lowest and highest power inside it. */
    json_t *p = json_object_get(data, "power_w"), *lo = json_object_get(data, "power_min_w"),
           *hi = json_object_get(data, "power_max_w");
    size_t known = 0;
    for (size_t i = 1; i < n; i++) {
      json_t *v = json_array_get(p, i);
      if (json_is_number(v)) {
        known++;
        assert_true(json_number_value(json_array_get(lo, i)) <= json_number_value(v) + 1e-6);
        assert_true(json_number_value(v) <= json_number_value(json_array_get(hi, i)) + 1e-6);
      }
    }
    assert_true(known > 20);
    json_decref(data);
  }
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("d.png")));
  json_decref(report);
  nemb_session_destroy(s);
  nemb__plot_set_max_points(0);
}

/* Pixels that are neither white nor near-white, and distinct colours (a crude 12-bit hash). */
static void picture_stats(const char *png, int *w, int *h, size_t *inked, size_t *colors) {
  cairo_surface_t *img = cairo_image_surface_create_from_png(png);
  assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
  *w = cairo_image_surface_get_width(img);
  *h = cairo_image_surface_get_height(img);
  int stride = cairo_image_surface_get_stride(img);
  const unsigned char *px = cairo_image_surface_get_data(img);
  static unsigned char seen[4096];
  memset(seen, 0, sizeof seen);
  *inked = 0;
  *colors = 0;
  for (int y = 0; y < *h; y++) {
    const uint32_t *row = (const uint32_t *)(const void *)(px + (size_t)y * (size_t)stride);
    for (int x = 0; x < *w; x++) {
      uint32_t c = row[x] & 0xffffff;
      *inked += (c & 0xf0f0f0) != 0xf0f0f0;
      unsigned key = ((c >> 12) & 0xf00) | ((c >> 8) & 0xf0) | ((c >> 4) & 0xf);
      if (!seen[key]) {
        seen[key] = 1;
        (*colors)++;
      }
    }
  }
  cairo_surface_destroy(img);
}

static void test_png_is_a_picture(void **state) {
  (void)state;
  nemb_session *s = record(1);
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("s.PNG")));
  size_t len;
  char *bytes = nemb_test_read_file(path_in("s.PNG"), &len);
  assert_true(len > 8 && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0);
  free(bytes);
  int w, h;
  size_t inked, colors;
  picture_stats(path_in("s.PNG"), &w, &h, &inked, &colors);
  assert_int_equal(w, 1200);
  assert_int_equal(h, 700);
  assert_true(inked > 1200 * 700 / 10); /* shaded windows, lines, text */
  assert_true(colors > 20);
  NEMB_ASSERT_OK(nemb_session_write(s, path_in("r.json"), NEMB_FORMAT_JSON));
  nemb_session_destroy(s);
  NEMB_ASSERT_OK(nemb_report_export_plot(path_in("r.json"), path_in("r.png")));
  picture_stats(path_in("r.png"), &w, &h, &inked, &colors);
  assert_int_equal(w, 1200);
}

static void test_self_contained_and_safe(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "</title><script>alert(1)</script>";
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  const char *evil = "</script><script>alert(2)</script> & \"q\" \xe2\x80\xa8 caf\xc3\xa9 \xff\xfe";
  NEMB_ASSERT_OK(nemb_task_start(s, evil));
  sleep_ms(30);
  NEMB_ASSERT_OK(nemb_task_stop(s, evil));
  NEMB_ASSERT_OK(nemb_session_end(s));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("e.html")));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("e.png")));
  char *html = nemb_test_read_file(path_in("e.html"), NULL);
  assert_null(strstr(html, "alert(1)</script>"));
  assert_null(strstr(html, "alert(2)</script>"));
  assert_null(strstr(html, "<script>alert"));
  /* Offline: no scheme-qualified resource is loaded (links in comments aside). */
  assert_null(strstr(html, "src=\"http"));
  assert_null(strstr(html, "href=\"http"));
  assert_null(strstr(html, "<link"));
  assert_non_null(strstr(html, "uPlot"));
  /* Exactly three scripts: the data, uPlot, the page's. */
  size_t scripts = 0;
  for (const char *p = html; (p = strstr(p, "<script")) != NULL; p++) {
    scripts++;
  }
  assert_int_equal(scripts, 3);
  free(html);
  json_t *data = embedded_data(path_in("e.html"));
  json_t *task = json_array_get(json_object_get(data, "tasks"), 0);
  assert_string_equal(json_string_value(json_object_get(task, "name")),
                      "</script><script>alert(2)</script> & \"q\" \xe2\x80\xa8 caf\xc3\xa9 ??");
  assert_string_equal(json_string_value(json_object_get(data, "title")), o.name);
  json_decref(data);
  nemb_session_destroy(s);
}

static void test_no_backend_and_estimate_say_so(void **state) {
  (void)state;
  /* No backend: a chart of the tasks that says nothing was measured. */
  char empty[4096];
  nemb_test_mkdtemp(empty, sizeof empty);
  setenv("CODEGREEN_SYSFS_ROOT", empty, 1);
  unsetenv("CODEGREEN_PROVIDERS");
  nemb_config *cfg;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"estimate\":{\"enabled\":false}}}", "t", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.config = cfg;
  o.save_to_file = 0;
  o.record_time_series = 1;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  assert_null(nemb_session_meter(s));
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  sleep_ms(5);
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("n.html")));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("n.png")));
  json_t *data = embedded_data(path_in("n.html"));
  assert_string_equal(json_string_value(json_object_get(data, "energy_source")), "none");
  assert_non_null(strstr(json_string_value(json_object_get(data, "provenance")), "NOT MEASURED"));
  assert_int_equal(json_array_size(json_object_get(data, "domains")), 0);
  json_decref(data);
  NEMB_ASSERT_OK(nemb_session_write(s, path_in("n.json"), NEMB_FORMAT_JSON));
  NEMB_ASSERT_OK(nemb_report_export_plot(path_in("n.json"), path_in("n2.html")));
  nemb_session_destroy(s);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(empty);

  /* The estimate: labelled ESTIMATED on the chart and in the page. */
  setenv("CODEGREEN_PROVIDERS", "estimate", 1);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  sleep_ms(30);
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("est.html")));
  NEMB_ASSERT_OK(nemb_session_export_plot(s, path_in("est.png")));
  data = embedded_data(path_in("est.html"));
  assert_string_equal(json_string_value(json_object_get(data, "energy_source")), "estimated");
  assert_true(strncmp(json_string_value(json_object_get(data, "provenance")), "ESTIMATED", 9) == 0);
  json_t *report = report_of(s);
  check_areas(data, report, 1e-6);
  json_decref(report);
  json_decref(data);
  char *html = nemb_test_read_file(path_in("est.html"), NULL);
  assert_non_null(strstr(html, "<div class=\"prov estimated\">ESTIMATED"));
  free(html);
  nemb_session_destroy(s);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
}

static void test_errors_are_clear(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  sleep_ms(5);
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  /* Before the end. */
  assert_int_equal(nemb_session_export_plot(s, path_in("x.html")), NEMB_ESTATE);
  assert_non_null(strstr(nemb_last_error(), "nemb_session_end"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  /* Extensions: the message names both kinds. */
  const char *bad[] = {"x.pdf", "x", "x.html.gz", "dir.png/x", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(nemb_session_export_plot(s, bad[i]), NEMB_EINVAL);
    assert_non_null(strstr(nemb_last_error(), ".html"));
    assert_non_null(strstr(nemb_last_error(), ".png"));
  }
  assert_int_equal(nemb_session_export_plot(s, NULL), NEMB_EINVAL);
  assert_int_equal(nemb_session_export_plot(NULL, "x.html"), NEMB_EINVAL);
  /* A directory that does not exist: the error names the path. */
  assert_int_equal(nemb_session_export_plot(s, "/nonexistent-dir/p.html"), NEMB_ENOENT);
  assert_non_null(strstr(nemb_last_error(), "/nonexistent-dir/p.html"));
  /* A report without time series says how to get them. */
  NEMB_ASSERT_OK(nemb_session_write(s, path_in("plain.json"), NEMB_FORMAT_JSON));
  assert_int_equal(nemb_report_export_plot(path_in("plain.json"), path_in("p.html")), NEMB_EINVAL);
  assert_non_null(strstr(nemb_last_error(), "record_time_series"));
  assert_non_null(strstr(nemb_last_error(), "--time-series"));
  nemb_session_destroy(s);
  /* Not a report, not JSON, not there. */
  nemb_test_write(tmpdir, "bad.json", "{\"tasks\": [1, 2");
  assert_int_equal(nemb_report_export_plot(path_in("bad.json"), path_in("p.html")), NEMB_EINVAL);
  assert_non_null(strstr(nemb_last_error(), "not valid JSON"));
  nemb_test_write(tmpdir, "other.json", "{\"hello\": 1}");
  assert_int_equal(nemb_report_export_plot(path_in("other.json"), path_in("p.html")), NEMB_EINVAL);
  assert_non_null(strstr(nemb_last_error(), "not a codegreen report"));
  assert_int_equal(nemb_report_export_plot(path_in("missing.json"), path_in("p.html")),
                   NEMB_ENOENT);
  assert_non_null(strstr(nemb_last_error(), "missing.json"));
  assert_int_equal(nemb_report_export_plot(path_in("other.json"), path_in("p.jpg")), NEMB_EINVAL);
  /* Nothing half-written is left behind. */
  assert_int_equal(access(path_in("p.html"), F_OK), -1);
}

/* Issue F17: the power axis of a long run. Its columns average a 13/33 W square wave to 23 W
 * while each column's band holds the 33 W state (and a few columns 41.2 W, under twice the
 * band's 99.5th percentile): the axis reaches them, with no note. One column of 500 W (a spike:
 * an interval shorter than a counter update) is cut off at 1.5 x the ordinary top and named. */
static void test_y_axis_keeps_the_ordinary_band(void **state) {
  (void)state;
  enum { N = 1100 };
  static double total[N], hi[N];
  for (size_t k = 0; k < N; k++) {
    total[k] = 23;
    hi[k] = k % 400 == 7 ? 41.2 : 33; /* 3 columns of 1100 */
  }
  nemb__plot_yaxis ax;
  NEMB_ASSERT_OK(nemb__plot_y_axis(total, hi, N, 23, &ax));
  assert_true(ax.top >= 41.2);
  assert_float_equal(ax.top, 41.2 * 1.08, 1e-9);
  assert_int_equal(ax.n_above, 0);
  assert_true(ax.max == 0);

  total[500] = hi[500] = 500;
  NEMB_ASSERT_OK(nemb__plot_y_axis(total, hi, N, 500, &ax));
  assert_float_equal(ax.top, 1.5 * 33, 1e-9); /* the band's 99.5th percentile, 33 W */
  assert_int_equal(ax.n_above, 1);
  assert_float_equal(ax.max, 500, 1e-9);

  /* A short run (under 50 columns) keeps everything in view. */
  NEMB_ASSERT_OK(nemb__plot_y_axis(total + 480, hi + 480, 40, 500, &ax));
  assert_float_equal(ax.top, 500 * 1.08, 1e-9);
  assert_int_equal(ax.n_above, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_y_axis_keeps_the_ordinary_band),
      cmocka_unit_test_setup_teardown(test_session_html_area_is_energy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_report_html_area_is_energy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resampled_keeps_energy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_png_is_a_picture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_self_contained_and_safe, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_backend_and_estimate_say_so, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_are_clear, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
