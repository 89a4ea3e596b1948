/* test_clock.c - the boundary clock (clock.h): reading cpuinfo's flags, the stamp -> ns line and
 * its clamping, the choice between the TSC and CLOCK_MONOTONIC (a fixture /proc/cpuinfo under
 * CODEGREEN_SYSFS_ROOT, CODEGREEN_BOUNDARY_CLOCK, measurement.boundary_clock), and whole sessions
 * on both paths: task and checkpoint instants come out as CLOCK_MONOTONIC ns inside the session,
 * nested and ordered, and meta.boundary_clock says which clock it was. No timing assertions. */
#include <jansson.h>
#include <math.h>
#include <time.h>

#include "nemb_test.h"
#include "session.h"

#define FLAGS_INVARIANT                                                                            \
  "processor\t: 0\nvendor_id\t: AuthenticAMD\n"                                                    \
  "flags\t\t: fpu tsc msr constant_tsc rep_good nopl nonstop_tsc cpuid\n\n"                        \
  "processor\t: 1\nflags\t\t: fpu\n"
#define FLAGS_PLAIN "processor\t: 0\nflags\t\t: fpu tsc msr constant_tsc_x nonstop_tsc\n"

static char root[4096];

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_BOUNDARY_CLOCK");
  unsetenv("CODEGREEN_SYSFS_ROOT");
  nemb_test_mkdtemp(root, sizeof root);
  char dir[8192];
  snprintf(dir, sizeof dir, "%s/proc", root);
  assert_int_equal(mkdir(dir, 0755), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_BOUNDARY_CLOCK");
  nemb_test_rmtree(root);
  return 0;
}

static void use_cpuinfo(const char *text) {
  nemb_test_write(root, "proc/cpuinfo", text);
  setenv("CODEGREEN_SYSFS_ROOT", root, 1);
}

static void test_flags(void **state) {
  (void)state;
  assert_true(nemb__clock_tsc_flags(FLAGS_INVARIANT));
  /* Whole words only, and only the first processor's flags line. */
  assert_false(nemb__clock_tsc_flags(FLAGS_PLAIN));
  assert_false(nemb__clock_tsc_flags("processor\t: 0\nflags\t\t: constant_tsc\n"));
  assert_false(nemb__clock_tsc_flags("model name\t: x\n"));
  assert_false(nemb__clock_tsc_flags(""));
  assert_false(nemb__clock_tsc_flags(NULL));
  assert_true(nemb__clock_tsc_flags("flags: nonstop_tsc constant_tsc"));
}

static void test_convert(void **state) {
  (void)state;
  nemb__clock_point a = {.stamp = 1000, .ns = 5000}, b = {.stamp = 4000, .ns = 6000};
  /* Three ticks a nanosecond: a third of the way is a third of the ns. */
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &b, 2500), 5500);
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &b, 1000), 5000);
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &b, 4000), 6000);
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &b, 1003), 5001);
  /* Outside the points: clamped, never extrapolated. */
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &b, 10), 5000);
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &b, 99999), 6000);
  /* A degenerate line (no time between the points) gives the first point. */
  nemb__clock_point same = a;
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &a, &same, 1500), 5000);
  /* An hour of a 3 GHz TSC loses nothing. */
  nemb__clock_point h0 = {.stamp = 1ull << 40, .ns = 7000000000ull};
  nemb__clock_point h1 = {.stamp = h0.stamp + 3600ull * 3000000000ull,
                          .ns = h0.ns + 3600ull * 1000000000ull};
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &h0, &h1, h0.stamp + 3000000003ull * 1000),
                   h0.ns + 1000000001ull * 1000);
  /* A tick longer than a nanosecond (the slope's whole part): 2.5 ns a tick. */
  nemb__clock_point s0 = {.stamp = 1000, .ns = 5000}, s1 = {.stamp = 1400, .ns = 6000};
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &s0, &s1, 1001), 5003); /* 2.5 rounds up */
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_TSC, &s0, &s1, 1200), 5500);
  /* The line worked out once gives what the one-off conversion gives. */
  nemb__clock_line l;
  nemb__clock_line_init(&l, NEMB__CLOCK_TSC, &h0, &h1);
  for (uint64_t d = 1; d < 3600ull * 3000000000ull; d = d * 7 + 3) {
    uint64_t want = h0.ns + (uint64_t)llroundl((long double)d / 3);
    assert_int_equal(nemb__clock_line_ns(&l, h0.stamp + d), want);
  }
  /* CLOCK_MONOTONIC stamps are ns already. */
  assert_int_equal(nemb__clock_convert(NEMB__CLOCK_MONOTONIC, &a, &b, 123456789), 123456789);
}

static void test_choice(void **state) {
  (void)state;
  nemb__clock c;
  use_cpuinfo(FLAGS_INVARIANT);
  NEMB_ASSERT_OK(nemb__clock_init(&c, "auto"));
#if defined(__x86_64__)
  assert_int_equal(c.kind, NEMB__CLOCK_TSC);
  assert_non_null(strstr(c.why, "constant_tsc and nonstop_tsc"));
#else
  assert_int_equal(c.kind, NEMB__CLOCK_MONOTONIC);
#endif
#if defined(__x86_64__)
  const char *expect = "tsc";
#else
  const char *expect = "clock_monotonic";
#endif
  NEMB_ASSERT_OK(nemb__clock_init(&c, NULL));
  assert_string_equal(nemb__clock_kind_name(c.kind), expect);
  /* Asked for by the config, then by the environment (which wins). */
  NEMB_ASSERT_OK(nemb__clock_init(&c, "clock_monotonic"));
  assert_int_equal(c.kind, NEMB__CLOCK_MONOTONIC);
  assert_non_null(strstr(c.why, "measurement.boundary_clock"));
  setenv("CODEGREEN_BOUNDARY_CLOCK", "clock_monotonic", 1);
  NEMB_ASSERT_OK(nemb__clock_init(&c, "auto"));
  assert_int_equal(c.kind, NEMB__CLOCK_MONOTONIC);
  assert_non_null(strstr(c.why, "CODEGREEN_BOUNDARY_CLOCK"));
  setenv("CODEGREEN_BOUNDARY_CLOCK", "rdtsc", 1);
  assert_int_equal(nemb__clock_init(&c, "auto"), NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "\"rdtsc\""));
  unsetenv("CODEGREEN_BOUNDARY_CLOCK");
  assert_int_equal(nemb__clock_init(&c, "hpet"), NEMB_ECONFIG);
  /* Without both flags, or without a readable cpuinfo: CLOCK_MONOTONIC, and why. */
  use_cpuinfo(FLAGS_PLAIN);
  NEMB_ASSERT_OK(nemb__clock_init(&c, "auto"));
  assert_int_equal(c.kind, NEMB__CLOCK_MONOTONIC);
  assert_non_null(strstr(c.why, "not known to be invariant"));
  char gone[8192];
  snprintf(gone, sizeof gone, "%s/nowhere", root);
  setenv("CODEGREEN_SYSFS_ROOT", gone, 1);
  NEMB_ASSERT_OK(nemb__clock_init(&c, "auto"));
  assert_int_equal(c.kind, NEMB__CLOCK_MONOTONIC);
}

static void spin_ns(uint64_t ns) {
  uint64_t end = nemb_now_ns() + ns;
  while (nemb_now_ns() < end) {
  }
}

static json_t *get(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (v == NULL) {
    print_error("no key %s\n", key);
    fail();
  }
  return v;
}

static uint64_t get_u64(json_t *o, const char *key) {
  return (uint64_t)json_integer_value(get(o, key));
}

/* A session with nested tasks and checkpoints: checks its instants, and that meta.boundary_clock
 * names @p expect_source. */
static void run_session(const char *expect_source) {
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "clock";
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "f", "test_clock.c", 1, &id));
  uint64_t before = nemb_now_ns();
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  spin_ns(2000000);
  NEMB_ASSERT_OK(nemb_task_start(s, "inner"));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  spin_ns(3000000);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  NEMB_ASSERT_OK(nemb_task_stop(s, "inner"));
  spin_ns(2000000);
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  uint64_t after = nemb_now_ns();
  NEMB_ASSERT_OK(nemb_task_start(s, "left-open"));
  NEMB_ASSERT_OK(nemb_session_end(s));

  json_error_t err;
  json_t *r = json_loads(nemb_session_report_json(s), 0, &err);
  assert_non_null(r);
  json_t *meta = get(r, "meta");
  json_t *bc = get(meta, "boundary_clock");
  assert_string_equal(json_string_value(get(bc, "source")), expect_source);
  assert_string_equal(json_string_value(get(bc, "reported_as")), "clock_monotonic");
  assert_true(strlen(json_string_value(get(bc, "why"))) > 10);
  if (strcmp(expect_source, "tsc") == 0) {
    assert_true(json_real_value(get(bc, "tsc_hz")) > 1e6);
  } else {
    assert_true(json_is_null(get(bc, "tsc_hz")));
    assert_int_equal(get_u64(bc, "error_ns"), 0);
  }

  json_t *tasks = get(r, "tasks");
  assert_int_equal(json_array_size(tasks), 3);
  uint64_t t[3][2];
  for (size_t i = 0; i < 3; i++) {
    json_t *task = json_array_get(tasks, i);
    t[i][0] = get_u64(task, "started_at_mono_ns");
    t[i][1] = get_u64(task, "ended_at_mono_ns");
    assert_true(t[i][0] >= s->t_begin && t[i][1] <= s->t_end && t[i][0] <= t[i][1]);
  }
  /* outer, inner, left-open in start order: CLOCK_MONOTONIC ns, inside the reads around them. */
  assert_true(t[0][0] >= before && t[0][1] <= after);
  assert_true(t[1][0] > t[0][0] && t[1][1] < t[0][1]);
  assert_true(t[1][1] - t[1][0] >= 3000000); /* at least the spin inside */
  assert_true(t[0][1] - t[0][0] >= 7000000);
  assert_true(t[2][0] >= after && t[2][1] == s->t_end);

  /* The checkpoint's instants: inside the inner task, as ns. */
  const nemb__cp_detail *d;
  size_t nd = nemb__cp_details(s, &d);
  assert_int_equal(nd, 2);
  assert_true(d[0].enter && !d[1].enter);
  assert_true(d[0].t_ns >= t[1][0] && d[1].t_ns <= t[1][1] && d[1].t_ns - d[0].t_ns >= 3000000);
  json_decref(r);
  nemb_session_destroy(s);
}

static void test_session_tsc(void **state) {
  (void)state;
#if !defined(__x86_64__)
  skip();
#endif
  use_cpuinfo(FLAGS_INVARIANT);
  run_session("tsc");
}

static void test_session_monotonic(void **state) {
  (void)state;
  use_cpuinfo(FLAGS_INVARIANT);
  setenv("CODEGREEN_BOUNDARY_CLOCK", "clock_monotonic", 1);
  run_session("clock_monotonic");
  unsetenv("CODEGREEN_BOUNDARY_CLOCK");
  /* And through config.json's key. */
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"measurement\":{\"boundary_clock\":\"clock_monotonic\"}}", "test", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.config = cfg;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  assert_int_equal(s->clock.kind, NEMB__CLOCK_MONOTONIC);
  nemb_session_destroy(s);
  nemb_config_destroy(cfg);
}

static void test_session_refuses_bad_value(void **state) {
  (void)state;
  setenv("CODEGREEN_BOUNDARY_CLOCK", "sometimes", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_ECONFIG);
  assert_null(s);
  assert_non_null(strstr(nemb_last_error(), "CODEGREEN_BOUNDARY_CLOCK"));
  unsetenv("CODEGREEN_BOUNDARY_CLOCK");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
      cmocka_unit_test_setup_teardown(test_convert, setup, teardown),
      cmocka_unit_test_setup_teardown(test_choice, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_tsc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_monotonic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_refuses_bad_value, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
