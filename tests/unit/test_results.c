/* test_results.c - an ended session's figures read as numbers (nemb_session_task_info() and
 * friends) equal the JSON report's; errors before the end and past the last index; sessions with
 * no backend; the carbon intensity and its co2e_g figures in the report and in the numbers. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>

#include "nemb_test.h"
#include "session.h"

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_CARBON_INTENSITY");
  unsetenv("CODEGREEN_CONFIG");
  return 0;
}

static nemb_session *begin_with(const nemb_config *cfg) {
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "results";
  o.save_to_file = 0;
  o.config = cfg;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  return s;
}

static void spin_ms(int ms) {
  usleep((useconds_t)ms * 1000);
}

static void *worker(void *arg) {
  nemb_session *s = arg;
  assert_int_equal(nemb_task_start(s, "worker"), 0);
  spin_ms(15);
  assert_int_equal(nemb_task_start(s, "worker_inner"), 0);
  spin_ms(10);
  assert_int_equal(nemb_task_stop(s, "worker_inner"), 0);
  assert_int_equal(nemb_task_stop(s, "worker"), 0);
  return NULL;
}

static uint64_t j_to_uj(json_t *v) {
  return (uint64_t)llround(json_number_value(v) * 1e6);
}

/* |a - b| <= 1: the numbers and the report round the same double. */
static void assert_uj_near(uint64_t a, uint64_t b) {
  uint64_t d = a > b ? a - b : b - a;
  if (d > 1) {
    print_error("%llu and %llu differ by %llu uJ\n", (unsigned long long)a, (unsigned long long)b,
                (unsigned long long)d);
  }
  assert_true(d <= 1);
}

static void test_before_the_end(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  nemb_task_info info;
  assert_int_equal(nemb_session_task_count(s), 0);
  assert_int_equal(nemb_session_task_info(s, 0, &info), NEMB_ESTATE);
  assert_non_null(strstr(nemb_last_error(), "only after nemb_session_end()"));
  nemb_totals_info tot;
  assert_int_equal(nemb_session_totals(s, &tot), NEMB_ESTATE);
  uint64_t uj;
  assert_int_equal(nemb_session_total_domain_energy(s, 0, &uj), NEMB_ESTATE);
  assert_int_equal(nemb_session_task_count(NULL), 0);
  nemb_session_destroy(s);
}

static void test_numbers_equal_the_report(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  NEMB_ASSERT_OK(nemb_task_start(s, "load"));
  spin_ms(20);
  NEMB_ASSERT_OK(nemb_task_stop(s, "load"));
  NEMB_ASSERT_OK(nemb_task_start(s, "train"));
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, worker, s), 0);
  NEMB_ASSERT_OK(nemb_task_start(s, "epoch"));
  spin_ms(30);
  NEMB_ASSERT_OK(nemb_task_stop(s, "epoch"));
  assert_int_equal(pthread_join(th, NULL), 0);
  NEMB_ASSERT_OK(nemb_task_stop(s, "train"));
  NEMB_ASSERT_OK(nemb_task_start(s, "left_open"));
  spin_ms(5);
  NEMB_ASSERT_OK(nemb_session_end(s));

  json_error_t err;
  json_t *rep = json_loads(nemb_session_report_json(s), 0, &err);
  assert_non_null(rep);
  json_t *tasks = json_object_get(rep, "tasks");
  json_t *totals = json_object_get(rep, "totals");
  size_t n = nemb_session_task_count(s);
  assert_int_equal(n, 6);
  assert_int_equal(n, json_array_size(tasks));

  size_t nd = nemb_session_domain_count(s);
  assert_true(nd >= 2); /* the sim's default: package-0, core, dram */
  json_t *topo = json_object_get(json_object_get(rep, "meta"), "domain_topology");
  assert_int_equal(nd, json_object_size(topo));

  for (size_t i = 0; i < n; i++) {
    nemb_task_info t;
    NEMB_ASSERT_OK(nemb_session_task_info(s, i, &t));
    json_t *jt = json_array_get(tasks, i);
    assert_string_equal(t.name, json_string_value(json_object_get(jt, "name")));
    assert_int_equal(t.depth, json_integer_value(json_object_get(jt, "depth")));
    json_t *parent = json_object_get(jt, "parent");
    if (json_is_null(parent)) {
      assert_null(t.parent);
      assert_true(t.parent_index == NEMB_NO_PARENT);
    } else {
      assert_string_equal(t.parent, json_string_value(parent));
      assert_true(t.parent_index < i);
      nemb_task_info p;
      NEMB_ASSERT_OK(nemb_session_task_info(s, t.parent_index, &p));
      assert_string_equal(p.name, t.parent);
      assert_int_equal(p.thread, t.thread);
      assert_int_equal(p.depth + 1, t.depth);
      assert_true(p.started_at_ns <= t.started_at_ns && t.ended_at_ns <= p.ended_at_ns);
    }
    assert_int_equal(t.thread, json_integer_value(json_object_get(jt, "thread")));
    assert_int_equal(t.closed_at_end, json_is_true(json_object_get(jt, "closed_at_end")));
    assert_uj_near(t.energy_uj, j_to_uj(json_object_get(jt, "energy_j")));
    assert_true(t.energy_uj > 0);
    assert_int_equal(t.started_at_ns,
                     json_integer_value(json_object_get(jt, "started_at_mono_ns")));
    assert_int_equal(t.ended_at_ns, json_integer_value(json_object_get(jt, "ended_at_mono_ns")));
    assert_int_equal(t.duration_ns, t.ended_at_ns - t.started_at_ns);
    assert_true(t.co2e_g == 0); /* no carbon intensity given */
    uint64_t in_total = 0;
    for (size_t d = 0; d < nd; d++) {
      nemb_domain_info di;
      NEMB_ASSERT_OK(nemb_session_domain(s, d, &di));
      uint64_t uj;
      NEMB_ASSERT_OK(nemb_session_task_domain_energy(s, i, d, &uj));
      assert_uj_near(uj, j_to_uj(json_object_get(json_object_get(jt, "domains"), di.name)));
      in_total += di.in_total ? uj : 0;
    }
    /* energy_uj adds only the in-total domains (the nested core is left out) */
    uint64_t diff = in_total > t.energy_uj ? in_total - t.energy_uj : t.energy_uj - in_total;
    assert_true(diff <= nd);
  }
  nemb_task_info last;
  NEMB_ASSERT_OK(nemb_session_task_info(s, n - 1, &last));
  assert_string_equal(last.name, "left_open");
  assert_int_equal(last.closed_at_end, 1);

  nemb_totals_info tot;
  NEMB_ASSERT_OK(nemb_session_totals(s, &tot));
  assert_uj_near(tot.energy_uj, j_to_uj(json_object_get(totals, "energy_j")));
  assert_uj_near(tot.session_energy_uj, j_to_uj(json_object_get(totals, "session_energy_j")));
  assert_uj_near(tot.gap_energy_uj, j_to_uj(json_object_get(totals, "gap_energy_j")));
  assert_int_equal(tot.n_tasks, 6);
  assert_int_equal(tot.n_top_level_tasks, 4); /* load, train, worker, left_open */
  assert_true(tot.session_energy_uj >= tot.energy_uj / 2);
  assert_true(tot.wall_duration_ns >= tot.gap_duration_ns);
  assert_true(llabs((long long)tot.wall_duration_ns -
                    (long long)llround(
                        json_number_value(json_object_get(totals, "wall_duration_s")) * 1e9)) <= 1);
  assert_true(tot.carbon_intensity_g_per_kwh == 0 && tot.co2e_g == 0);
  for (size_t d = 0; d < nd; d++) {
    nemb_domain_info di;
    NEMB_ASSERT_OK(nemb_session_domain(s, d, &di));
    uint64_t uj;
    NEMB_ASSERT_OK(nemb_session_total_domain_energy(s, d, &uj));
    assert_uj_near(uj, j_to_uj(json_object_get(json_object_get(totals, "domains"), di.name)));
  }

  /* Past the ends: refused, with the count in the message. */
  nemb_task_info t;
  assert_int_equal(nemb_session_task_info(s, n, &t), NEMB_ERANGE);
  assert_non_null(strstr(nemb_last_error(), "task 6 does not exist (6 tasks)"));
  uint64_t uj;
  assert_int_equal(nemb_session_task_domain_energy(s, 0, nd, &uj), NEMB_ERANGE);
  assert_int_equal(nemb_session_total_domain_energy(s, nd, &uj), NEMB_ERANGE);
  nemb_domain_info di;
  assert_int_equal(nemb_session_domain(s, nd, &di), NEMB_ERANGE);
  assert_int_equal(nemb_session_task_info(s, 0, NULL), NEMB_EINVAL);
  json_decref(rep);
  nemb_session_destroy(s);
}

static void test_no_backend(void **state) {
  (void)state;
  char empty[4096];
  nemb_test_mkdtemp(empty, sizeof empty);
  setenv("CODEGREEN_SYSFS_ROOT", empty, 1);
  unsetenv("CODEGREEN_PROVIDERS");
  nemb_config *cfg;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"estimate\":{\"enabled\":false}}}", "t", &cfg));
  nemb_session *s = begin_with(cfg);
  nemb_config_destroy(cfg);
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  spin_ms(2);
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(nemb_session_task_count(s), 1);
  assert_int_equal(nemb_session_domain_count(s), 0);
  nemb_task_info t;
  NEMB_ASSERT_OK(nemb_session_task_info(s, 0, &t));
  assert_string_equal(t.name, "t");
  assert_int_equal(t.energy_uj, 0);
  assert_true(t.duration_ns >= 2000000);
  nemb_totals_info tot;
  NEMB_ASSERT_OK(nemb_session_totals(s, &tot));
  assert_int_equal(tot.energy_uj, 0);
  assert_int_equal(tot.n_tasks, 1);
  nemb_session_destroy(s);
  nemb_test_rmtree(empty);
}

static void check_co2e(json_t *obj, double intensity) {
  double e = json_number_value(json_object_get(obj, "energy_j"));
  json_t *c = json_object_get(obj, "co2e_g");
  assert_true(json_is_number(c));
  assert_true(fabs(json_number_value(c) - e / 3.6e6 * intensity) <= 1e-12 * (1 + e));
}

static void test_carbon_from_the_environment(void **state) {
  (void)state;
  setenv("CODEGREEN_CARBON_INTENSITY", "400", 1);
  nemb_session *s = begin_with(NULL);
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "f", "x.py", 3, &id));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  spin_ms(20);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  json_t *rep = json_loads(nemb_session_report_json(s), 0, NULL);
  assert_non_null(rep);
  json_t *carbon = json_object_get(json_object_get(rep, "meta"), "carbon");
  assert_true(json_number_value(json_object_get(carbon, "intensity_g_per_kwh")) == 400);
  assert_string_equal(json_string_value(json_object_get(carbon, "source")), "user-given");
  assert_string_equal(json_string_value(json_object_get(carbon, "from")),
                      "CODEGREEN_CARBON_INTENSITY");
  json_t *task = json_array_get(json_object_get(rep, "tasks"), 0);
  json_t *totals = json_object_get(rep, "totals");
  json_t *func = json_array_get(json_object_get(rep, "functions"), 0);
  assert_true(json_number_value(json_object_get(task, "energy_j")) > 0);
  check_co2e(task, 400);
  check_co2e(totals, 400);
  check_co2e(func, 400);
  double se = json_number_value(json_object_get(totals, "session_energy_j"));
  assert_true(fabs(json_number_value(json_object_get(totals, "session_co2e_g")) -
                   se / 3.6e6 * 400) <= 1e-12 * (1 + se));
  nemb_task_info t;
  NEMB_ASSERT_OK(nemb_session_task_info(s, 0, &t));
  assert_true(fabs(t.co2e_g - json_number_value(json_object_get(task, "co2e_g"))) < 1e-12);
  nemb_totals_info tot;
  NEMB_ASSERT_OK(nemb_session_totals(s, &tot));
  assert_true(tot.carbon_intensity_g_per_kwh == 400);
  assert_true(tot.co2e_g == json_number_value(json_object_get(totals, "co2e_g")));
  json_decref(rep);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_CARBON_INTENSITY");
}

static void test_carbon_from_the_config_and_refusals(void **state) {
  (void)state;
  nemb_config *cfg;
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"measurement\":{\"report\":{\"carbon_intensity_g_per_kwh\":56.5}}}", "cfg.json", &cfg));
  nemb_session *s = begin_with(cfg);
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  spin_ms(10);
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  json_t *rep = json_loads(nemb_session_report_json(s), 0, NULL);
  json_t *carbon = json_object_get(json_object_get(rep, "meta"), "carbon");
  assert_true(json_number_value(json_object_get(carbon, "intensity_g_per_kwh")) == 56.5);
  assert_non_null(strstr(json_string_value(json_object_get(carbon, "from")),
                         "measurement.report.carbon_intensity_g_per_kwh (cfg.json)"));
  check_co2e(json_array_get(json_object_get(rep, "tasks"), 0), 56.5);
  json_decref(rep);
  nemb_session_destroy(s);

  /* The environment wins over the config. */
  setenv("CODEGREEN_CARBON_INTENSITY", "700", 1);
  s = begin_with(cfg);
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_non_null(strstr(nemb_session_report_json(s), "\"intensity_g_per_kwh\": 700"));
  nemb_session_destroy(s);

  /* Without either, no co2e_g anywhere. */
  unsetenv("CODEGREEN_CARBON_INTENSITY");
  s = begin_with(NULL);
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_null(strstr(nemb_session_report_json(s), "co2e_g"));
  assert_null(strstr(nemb_session_report_json(s), "\"carbon\""));
  nemb_session_destroy(s);
  nemb_config_destroy(cfg);

  /* A bad value refuses the session with the variable named. */
  const char *bad[] = {"abc", "0", "-3", "20000", "12g"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(bad); i++) {
    setenv("CODEGREEN_CARBON_INTENSITY", bad[i], 1);
    nemb_session *x = NULL;
    nemb_session_options o;
    nemb_session_options_init(&o);
    o.save_to_file = 0;
    assert_int_equal(nemb_session_begin(&o, &x), NEMB_ECONFIG);
    assert_null(x);
    assert_non_null(strstr(nemb_last_error(), "CODEGREEN_CARBON_INTENSITY="));
    assert_non_null(strstr(nemb_last_error(), "grams CO2e per kWh"));
  }
  unsetenv("CODEGREEN_CARBON_INTENSITY");
  /* And the config key has a range. */
  assert_int_equal(
      nemb_config_from_string("{\"measurement\":{\"report\":{\"carbon_intensity_g_per_kwh\":-1}}}",
                              "cfg.json", &cfg),
      NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "carbon_intensity_g_per_kwh"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_before_the_end, setup),
      cmocka_unit_test_setup(test_numbers_equal_the_report, setup),
      cmocka_unit_test_setup(test_no_backend, setup),
      cmocka_unit_test_setup(test_carbon_from_the_environment, setup),
      cmocka_unit_test_setup(test_carbon_from_the_config_and_refusals, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
