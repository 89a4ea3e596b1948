/* test_null_out.c - every public nemb_* function that fills a caller's out-parameter refuses a
 * NULL one with NEMB_EINVAL and a message, before touching anything (nemb_session_begin(&o,
 * NULL) wrote *out first and crashed). */
#include "nemb_test.h"

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_SYSFS_ROOT");
  return 0;
}

#define ASSERT_EINVAL(expr)                                                                        \
  do {                                                                                             \
    nemb__clear_error();                                                                           \
    assert_int_equal((expr), NEMB_EINVAL);                                                         \
    assert_true(nemb_last_error()[0] != '\0');                                                     \
  } while (0)

static void test_config_and_describe(void **state) {
  (void)state;
  ASSERT_EINVAL(nemb_config_from_string("{}", "test", NULL));
  ASSERT_EINVAL(nemb_config_load("/nonexistent/config.json", NULL));
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string("{\"sampler\":{\"interval_ms\":5}}", "test", &cfg));
  ASSERT_EINVAL(nemb_config_get_double(cfg, "sampler.interval_ms", NULL));
  ASSERT_EINVAL(nemb_config_get_bool(cfg, "sampler.interval_ms", NULL));
  ASSERT_EINVAL(nemb_describe_json(cfg, NULL));
  nemb_config_destroy(cfg);
  ASSERT_EINVAL(nemb_report_read_text("/nonexistent/r.json", NULL, NULL));
  ASSERT_EINVAL(nemb_procs_list_others(NULL, 0, NULL));
  ASSERT_EINVAL(nemb_procs_list_others(NULL, 4, &(size_t){0}));
  ASSERT_EINVAL(nemb_procs_path(NULL, 16));
  nemb_stats st;
  double v[] = {1, 2, 3};
  ASSERT_EINVAL(nemb_stats_compute(v, 3, 0, NULL, NULL));
  NEMB_ASSERT_OK(nemb_stats_compute(v, 3, 0, &st, NULL));
  ASSERT_EINVAL(nemb_stats_compare(&st, &st, 0.05, NULL));
  ASSERT_EINVAL(nemb_stats_compare(NULL, &st, 0.05, NULL));
}

static void test_meter(void **state) {
  (void)state;
  ASSERT_EINVAL(nemb_meter_create(NULL, NULL));
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(NULL, &m));
  ASSERT_EINVAL(nemb_meter_domain(m, 0, NULL));
  ASSERT_EINVAL(nemb_meter_stats(m, NULL));
  ASSERT_EINVAL(nemb_meter_domain_stats(m, 0, NULL));
  ASSERT_EINVAL(nemb_meter_gpu_usage(m, 0, NULL));
  ASSERT_EINVAL(nemb_meter_gpu_usage_span(m, 0, 0, 1, NULL));
  NEMB_ASSERT_OK(nemb_meter_start(m));
  nemb_test_wait_samples(m, 2);
  uint64_t t, e[8];
  ASSERT_EINVAL(nemb_meter_sample(m, 0, NULL, e, 8));
  ASSERT_EINVAL(nemb_meter_sample(m, 0, &t, NULL, 8));
  ASSERT_EINVAL(nemb_meter_latest(m, NULL, e, 8));
  ASSERT_EINVAL(nemb_meter_latest(m, &t, NULL, 8));
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  nemb_meter_destroy(m);
}

static void test_session(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  ASSERT_EINVAL(nemb_session_begin(&o, NULL));
  ASSERT_EINVAL(nemb_session_begin(NULL, NULL));
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s)); /* the refusals left no session behind */
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  ASSERT_EINVAL(nemb_session_task_info(s, 0, NULL));
  ASSERT_EINVAL(nemb_session_domain(s, 0, NULL));
  ASSERT_EINVAL(nemb_session_task_domain_energy(s, 0, 0, NULL));
  ASSERT_EINVAL(nemb_session_totals(s, NULL));
  ASSERT_EINVAL(nemb_session_total_domain_energy(s, 0, NULL));
  nemb_session_destroy(s);
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_config_and_describe, setup),
      cmocka_unit_test_setup(test_meter, setup),
      cmocka_unit_test_setup(test_session, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
