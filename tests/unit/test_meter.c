/* test_meter.c - choosing providers (forced, automatic, fallback to the estimate), and the
 * machine description behind `codegreen info`. */
#include <jansson.h>

#include "meter.h"
#include "nemb_test.h"

static nemb_config *config(const char *json) {
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(json, "test", &cfg));
  return cfg;
}

static int setup(void **state) {
  (void)state;
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_SYSFS_ROOT");
  return 0;
}

static void domain_names(nemb_meter *m, char *out, size_t len) {
  out[0] = '\0';
  for (size_t i = 0; i < nemb_meter_domain_count(m); i++) {
    nemb_domain_info d;
    NEMB_ASSERT_OK(nemb_meter_domain(m, i, &d));
    size_t used = strlen(out);
    snprintf(out + used, len - used, "%s%s:%s", i ? "," : "", d.name, d.source);
  }
}

static void test_unknown_forced_provider_is_a_clear_error(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim, nvidia", 1);
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(nemb__config_defaults(), &m), NEMB_EUNKNOWNPROV);
  assert_null(m);
  assert_non_null(strstr(nemb_last_error(), "unknown provider 'nvidia' in CODEGREEN_PROVIDERS"));
  /* The list grew with the hardware providers (issue 7), in registry order; builds may leave
   * any of them out. */
#if defined(NEMB_WITH_PERF) && defined(NEMB_WITH_MSR) && defined(NEMB_WITH_HWMON) &&               \
    defined(NEMB_WITH_NVML)
  assert_non_null(strstr(nemb_last_error(), "perf, powercap, msr, hwmon, nvml, sim, estimate"));
#else
  assert_non_null(strstr(nemb_last_error(), "this build knows: powercap, "));
  assert_non_null(strstr(nemb_last_error(), "sim, estimate"));
#endif
}

static void test_forced_sim(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1); /* (a repeated name is refused: test_validation.c) */
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:sim,core:sim,dram:sim");
  assert_false(nemb_meter_is_estimated(m));
  nemb_domain_info d;
  NEMB_ASSERT_OK(nemb_meter_domain(m, 0, &d));
  assert_string_equal(d.kind, "cpu_package");
  assert_int_equal(d.n_includes, 1);
  assert_string_equal(d.includes[0], "core");
  assert_true(d.measured);
  assert_int_equal(nemb_meter_domain(m, 3, &d), NEMB_EINVAL);
  nemb_meter_destroy(m);
}

static void test_forced_list_from_config(void **state) {
  (void)state;
  nemb_config *cfg = config("{\"providers\":{\"list\":[\"sim\"]}}");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  assert_int_equal(nemb_meter_domain_count(m), 3);
  nemb_meter_destroy(m);
  nemb_config_destroy(cfg);
}

static void test_forced_provider_that_cannot_open_says_why(void **state) {
  (void)state;
  nemb_test_use_fixture("estimate"); /* a machine with no powercap at all */
  setenv("CODEGREEN_PROVIDERS", "powercap", 1);
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(nemb__config_defaults(), &m), NEMB_ENOTSUP);
  assert_non_null(strstr(nemb_last_error(), "provider powercap (required by CODEGREEN_PROVIDERS)"));
  assert_non_null(strstr(nemb_last_error(), "/sys/class/powercap"));
}

static void test_real_counters_win_over_the_estimate(void **state) {
  (void)state;
  nemb_test_use_fixture("intel-client");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:powercap,core:powercap,uncore:powercap,psys:powercap");
  assert_false(nemb_meter_is_estimated(m));
  nemb_meter_destroy(m);
}

static void test_no_counters_falls_back_to_the_labelled_estimate(void **state) {
  (void)state;
  nemb_test_use_fixture("estimate");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "cpu-estimate:estimate");
  assert_true(nemb_meter_is_estimated(m));
  nemb_domain_info d;
  NEMB_ASSERT_OK(nemb_meter_domain(m, 0, &d));
  assert_false(d.measured);
  assert_string_equal(d.kind, "estimate");
  nemb_meter_destroy(m);
}

static void test_estimate_disabled_means_no_provider(void **state) {
  (void)state;
  nemb_test_use_fixture("estimate");
  nemb_config *cfg = config("{\"providers\":{\"estimate\":{\"enabled\":false}}}");
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(cfg, &m), NEMB_ENOPROVIDER);
  assert_non_null(strstr(nemb_last_error(), "powercap: "));
  assert_non_null(strstr(nemb_last_error(), "estimate: disabled by providers.estimate.enabled"));
  nemb_config_destroy(cfg);
}

static void test_same_domain_from_two_providers_is_refused(void **state) {
  (void)state;
  nemb_test_use_fixture("amd-epyc");
  setenv("CODEGREEN_PROVIDERS", "powercap,sim", 1);
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(nemb__config_defaults(), &m), NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "package-0 is reported by both powercap and sim"));
}

static json_t *describe(const nemb_config *cfg) {
  char *text = NULL;
  NEMB_ASSERT_OK(nemb_describe_json(cfg, &text));
  json_error_t err;
  json_t *doc = json_loads(text, 0, &err);
  assert_non_null(doc);
  nemb_free(text);
  return doc;
}

static json_t *provider(json_t *doc, const char *name) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(doc, "providers"), i, p) {
    if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0) {
      return p;
    }
  }
  fail_msg("no provider %s in the description", name);
  return NULL;
}

static void test_describe_on_a_vm_without_counters(void **state) {
  (void)state;
  nemb_test_use_fixture("estimate"); /* its cpuinfo carries the hypervisor flag */
  json_t *doc = describe(nemb__config_defaults());
  assert_int_equal(json_integer_value(json_object_get(doc, "nemb_abi_version")), 3);
  assert_true(json_is_true(json_object_get(json_object_get(doc, "virtual_machine"), "detected")));
  json_t *pc = provider(doc, "powercap");
  assert_string_equal(json_string_value(json_object_get(pc, "status")), "absent");
  const char *reason = json_string_value(json_object_get(pc, "reason"));
  assert_non_null(strstr(reason, "virtual machine"));
  json_t *est = provider(doc, "estimate");
  assert_string_equal(json_string_value(json_object_get(est, "status")), "available");
  assert_false(json_is_true(json_object_get(est, "measured")));
  json_t *sel = json_object_get(doc, "selection");
  assert_string_equal(json_string_value(json_object_get(sel, "mode")), "estimated");
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(sel, "domains"), 0), "name")),
                      "cpu-estimate");
  json_t *cfg = json_object_get(doc, "config");
  assert_float_equal(json_number_value(json_object_get(cfg, "measurement_interval_ms")), 1, 0);
  json_decref(doc);
}

static void test_describe_on_an_intel_server(void **state) {
  (void)state;
  nemb_test_use_fixture("intel-server-2s");
  json_t *doc = describe(nemb__config_defaults());
  assert_false(json_is_true(json_object_get(json_object_get(doc, "virtual_machine"), "detected")));
  json_t *pc = provider(doc, "powercap");
  assert_string_equal(json_string_value(json_object_get(pc, "status")), "available");
  assert_int_equal(json_array_size(json_object_get(pc, "domains")), 4);
  json_t *sel = json_object_get(doc, "selection");
  assert_string_equal(json_string_value(json_object_get(sel, "mode")), "measured");
  json_decref(doc);
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_unknown_forced_provider_is_a_clear_error, setup),
      cmocka_unit_test_setup(test_forced_sim, setup),
      cmocka_unit_test_setup(test_forced_list_from_config, setup),
      cmocka_unit_test_setup(test_forced_provider_that_cannot_open_says_why, setup),
      cmocka_unit_test_setup(test_real_counters_win_over_the_estimate, setup),
      cmocka_unit_test_setup(test_no_counters_falls_back_to_the_labelled_estimate, setup),
      cmocka_unit_test_setup(test_estimate_disabled_means_no_provider, setup),
      cmocka_unit_test_setup(test_same_domain_from_two_providers_is_refused, setup),
      cmocka_unit_test_setup(test_describe_on_a_vm_without_counters, setup),
      cmocka_unit_test_setup(test_describe_on_an_intel_server, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
