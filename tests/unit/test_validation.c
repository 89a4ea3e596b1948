/* test_validation.c - inputs that used to pass unchecked (issue 11): CODEGREEN_SIM_CONFIG gets
 * the checks config.json gets (one validator), the simulated domains' types and includes, a range
 * that wraps too fast, forced provider lists, buffer_samples' floor, and unknown config keys
 * warned with the nearest known key. Each case checks the refusal and its message. */
#include "nemb_test.h"

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_SIM_CONFIG");
  return 0;
}

/* Creates a meter with CODEGREEN_SIM_CONFIG = @p sim; asserts ECONFIG and a message holding
 * @p want. */
static void refused_sim(const char *sim, const char *want) {
  setenv("CODEGREEN_SIM_CONFIG", sim, 1);
  nemb_meter *m = NULL;
  int rc = nemb_meter_create(nemb__config_defaults(), &m);
  if (rc == 0 || strstr(nemb_last_error(), want) == NULL) {
    print_error("CODEGREEN_SIM_CONFIG=%s: rc %d, message \"%s\", wanted \"%s\"\n", sim, rc,
                nemb_last_error(), want);
  }
  assert_int_equal(rc, NEMB_ECONFIG);
  assert_null(m);
  assert_non_null(strstr(nemb_last_error(), want));
  unsetenv("CODEGREEN_SIM_CONFIG");
}

static void test_sim_config_gets_the_config_rules(void **state) {
  (void)state;
  refused_sim("{\"update_interval_us\":-1}",
              "CODEGREEN_SIM_CONFIG: providers.sim.update_interval_us = -1 is out of range: "
              "allowed 1 to 10000000 (number)");
  refused_sim("{\"energy_unit_uj\":1e300}", "providers.sim.energy_unit_uj = 1e+300 is out of "
                                            "range");
  refused_sim("{\"update_interval_us\":\"5\"}",
              "providers.sim.update_interval_us is a string, expected a number");
  refused_sim("[1]", "CODEGREEN_SIM_CONFIG must be a JSON object ({...}), not an array");
  refused_sim("7", "CODEGREEN_SIM_CONFIG is not valid JSON");
}

static void test_sim_domains_are_checked(void **state) {
  (void)state;
  refused_sim("{\"domains\":[{\"name\":\"a\",\"kind\":7,\"power_w\":1}]}",
              "providers.sim.domains[0].kind must be a string");
  refused_sim("{\"domains\":[{\"name\":\"a\",\"waveform\":1,\"power_w\":1}]}",
              "providers.sim.domains[0].waveform must be a string");
  refused_sim("{\"domains\":[{\"name\":\"a\",\"in_total\":\"yes\",\"power_w\":1}]}",
              "providers.sim.domains[0].in_total must be a boolean");
  refused_sim("{\"domains\":[{\"name\":\"a\",\"power_w\":1,\"includes\":\"b\"}]}",
              "providers.sim.domains[0].includes must be an array of domain names");
  refused_sim("{\"domains\":[{\"name\":\"a\",\"power_w\":1,\"includes\":[\"zz\"]}]}",
              "providers.sim.domains[0] (a) includes zz, which is not a domain of the device");
  refused_sim("{\"domains\":[{\"name\":\"a\",\"power_w\":1,\"includes\":[\"a\"]}]}",
              "providers.sim.domains[0] (a) includes a, itself");
  refused_sim("{\"domains\":[{\"name\":\"a\",\"power_w\":1,\"includes\":[\"b\"]},"
              "{\"name\":\"b\",\"kind\":\"nested\",\"power_w\":1,\"includes\":[\"a\"]}]}",
              "a includes itself through a cycle of includes");
  /* 25 W against 1000 uJ wraps every 40 us. */
  refused_sim("{\"max_energy_range_uj\":1000,\"domains\":[{\"name\":\"p\",\"power_w\":25}]}",
              "max_energy_range_uj = 1000 wraps every 0.04 ms at domain p's 25 W peak, too fast "
              "to tell wraps apart; it must hold at least 10 ms (250001 uJ)");
  /* The same rules through config.json's providers.sim: one validator for both paths. */
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"sim\":{\"domains\":[{\"name\":\"a\",\"power_w\":1,"
                              "\"includes\":[\"a\"]}]}}}",
                              "c.json", &cfg));
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(cfg, &m), NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "includes a, itself"));
  nemb_config_destroy(cfg);
  /* A good configuration still opens. */
  setenv("CODEGREEN_SIM_CONFIG",
         "{\"max_energy_range_uj\":250001,\"domains\":[{\"name\":\"p\",\"power_w\":25}]}", 1);
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_SIM_CONFIG");
}

static void refused_list(const char *list, const char *want) {
  setenv("CODEGREEN_PROVIDERS", list, 1);
  nemb_meter *m = NULL;
  int rc = nemb_meter_create(nemb__config_defaults(), &m);
  if (rc == 0 || strstr(nemb_last_error(), want) == NULL) {
    print_error("CODEGREEN_PROVIDERS=\"%s\": rc %d, message \"%s\"\n", list, rc, nemb_last_error());
  }
  assert_int_equal(rc, NEMB_ECONFIG);
  assert_null(m);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
}

static void test_forced_provider_lists(void **state) {
  (void)state;
  refused_list("sim,estimate", "\"sim,estimate\" adds the estimate to measured providers");
  refused_list("estimate, sim", "adds the estimate to measured providers");
  refused_list("sim,sim", "CODEGREEN_PROVIDERS = \"sim,sim\" names sim twice");
  refused_list(",", "CODEGREEN_PROVIDERS = \",\" has an empty provider name");
  refused_list("sim,", "has an empty provider name");
  refused_list("sim, ,sim", "has an empty provider name");
  /* providers.list in config.json: the same rules. */
  unsetenv("CODEGREEN_PROVIDERS");
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string("{\"providers\":{\"list\":\"sim,sim\"}}", "c.json", &cfg));
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(cfg, &m), NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "providers.list in the configuration = \"sim,sim\" "
                                            "names sim twice"));
  nemb_config_destroy(cfg);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
}

static void test_buffer_samples_floor(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.buffer_samples = 1;
  nemb_session *s = NULL;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_EINVAL);
  assert_null(s);
  assert_string_equal(nemb_last_error(), "buffer_samples = 1 is below the minimum of 1000 "
                                         "samples");
  o.buffer_samples = 1000;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_session_destroy(s);
  /* And config.json's coordinator.max_samples, the same floor. */
  nemb_config *cfg = NULL;
  assert_int_equal(
      nemb_config_from_string("{\"coordinator\":{\"max_samples\":999}}", "c.json", &cfg),
      NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "allowed 1000 to"));
}

static char warned[8][512];
static size_t n_warned;

static void keep_warning(nemb_log_level level, const char *message, void *user) {
  (void)user;
  if (level == NEMB_LOG_WARN && n_warned < 8) {
    snprintf(warned[n_warned++], sizeof warned[0], "%s", message);
  }
}

static void test_misspelt_keys_are_warned_with_the_nearest(void **state) {
  (void)state;
  n_warned = 0;
  nemb_set_log_callback(keep_warning, NULL, NEMB_LOG_WARN);
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"coordinater\":{\"measurement_interval_ms\":5},"
                              "\"providers\":{\"powercap\":{\"enabeld\":false}},\"zzzzzzzz\":1}",
                              "typo.json", &cfg));
  nemb_config_destroy(cfg);
  setenv("CODEGREEN_SIM_CONFIG", "{\"update_intervl_us\":100}", 1);
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m)); /* warned, still opened */
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_SIM_CONFIG");
  nemb_set_log_callback(NULL, NULL, NEMB_LOG_WARN);
  assert_int_equal(n_warned, 4);
  assert_string_equal(warned[0], "typo.json: unknown key coordinater is ignored; did you mean "
                                 "coordinator?");
  assert_string_equal(warned[1], "typo.json: unknown key providers.powercap.enabeld is ignored; "
                                 "did you mean providers.powercap.enabled?");
  assert_non_null(strstr(warned[2], "typo.json: unknown key zzzzzzzz is ignored ("));
  assert_string_equal(warned[3], "CODEGREEN_SIM_CONFIG: unknown key "
                                 "providers.sim.update_intervl_us is ignored; did you mean "
                                 "providers.sim.update_interval_us?");
  assert_int_equal(nemb__edit_distance("coordinater", "coordinator"), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_sim_config_gets_the_config_rules, setup),
      cmocka_unit_test_setup(test_sim_domains_are_checked, setup),
      cmocka_unit_test_setup(test_forced_provider_lists, setup),
      cmocka_unit_test_setup(test_buffer_samples_floor, setup),
      cmocka_unit_test_setup(test_misspelt_keys_are_warned_with_the_nearest, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
