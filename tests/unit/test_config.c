/*
 * test_config.c - config.json: search order, parse errors with positions, range and type checks,
 * defaults, and the getters' contracts.
 *
 * Every test runs with CODEGREEN_CONFIG unset and XDG_CONFIG_HOME and HOME pointing at a fresh
 * temporary directory, so the developer's own config can never leak into a result.
 */
#include "nemb_test.h"

#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

static const char *etc_config = "/etc/codegreen/config.json";

static void assert_double_eq(double got, double want) {
  if (fabs(got - want) > 1e-9 * fmax(1.0, fabs(want))) {
    print_error("got %.17g, want %.17g\n", got, want);
    fail();
  }
}

/* Asserts that @p rc is @p want and the last error contains @p text. */
static void assert_fails(int rc, int want, const char *text) {
  if (rc != want || strstr(nemb_last_error(), text) == NULL) {
    print_error("rc %d (%s), want %d (%s); message \"%s\" should contain \"%s\"\n", rc,
                nemb_err_name(rc), want, nemb_err_name(want), nemb_last_error(), text);
    fail();
  }
}

static void assert_message_has(const char *text) {
  if (strstr(nemb_last_error(), text) == NULL) {
    print_error("message \"%s\" should contain \"%s\"\n", nemb_last_error(), text);
    fail();
  }
}

/* Makes directory @p rel under @p root. */
static void make_dir(const char *root, const char *rel) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state) {
  char *dir = malloc(4096);
  assert_non_null(dir);
  nemb_test_mkdtemp(dir, 4096);
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", dir, 1);
  setenv("HOME", dir, 1);
  *state = dir;
  return 0;
}

static int teardown(void **state) {
  nemb_test_rmtree(*state);
  free(*state);
  return 0;
}

/* Writes @p text into a fresh file @p name under the test's directory; @p path gets its path. */
static void write_config(void **state, const char *name, const char *text, char *path, size_t len) {
  nemb_test_write(*state, name, text);
  snprintf(path, len, "%s/%s", (const char *)*state, name);
}

static void test_defaults_when_nothing_set(void **state) {
  (void)state;
  if (access(etc_config, F_OK) == 0) {
    skip(); /* this machine has a system-wide config, which comes before the defaults */
  }
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_load(NULL, &cfg));
  assert_string_equal(nemb_config_origin(cfg), "built-in defaults");
  assert_string_equal(nemb_last_error(), "");

  const nemb_config *configs[] = {cfg, nemb__config_defaults(), NULL};
  for (size_t i = 0; i < 3; i++) {
    const nemb_config *c = configs[i];
    double d;
    int b;
    char s[64] = "x";
    NEMB_ASSERT_OK(nemb_config_get_double(c, "coordinator.measurement_interval_ms", &d));
    assert_double_eq(d, 1);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "coordinator.max_samples", &d));
    assert_double_eq(d, 7200000);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "providers.estimate.watts_per_cpu", &d));
    assert_double_eq(d, 4.0);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "providers.estimate.tdp_w", &d));
    assert_double_eq(d, 0);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "providers.estimate.idle_fraction", &d));
    assert_double_eq(d, 0.1);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "providers.sim.update_interval_us", &d));
    assert_double_eq(d, 976.5625); /* RAPL: 1/1024 s */
    NEMB_ASSERT_OK(nemb_config_get_double(c, "providers.sim.energy_unit_uj", &d));
    assert_double_eq(d, 61.03515625);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "providers.sim.max_energy_range_uj", &d));
    assert_double_eq(d, 262143328850.0);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "measurement.report.noise_warning.cv_percent", &d));
    assert_double_eq(d, 10);
    NEMB_ASSERT_OK(nemb_config_get_double(c, "measurement.report.noise_warning.drop_ratio", &d));
    assert_double_eq(d, 0.2);
    NEMB_ASSERT_OK(
        nemb_config_get_double(c, "measurement.report.noise_warning.excellent_cv_percent", &d));
    assert_double_eq(d, 2);
    NEMB_ASSERT_OK(
        nemb_config_get_double(c, "measurement.report.noise_warning.good_cv_percent", &d));
    assert_double_eq(d, 5);
    b = 0;
    NEMB_ASSERT_OK(nemb_config_get_bool(c, "providers.powercap.enabled", &b));
    assert_int_equal(b, 1);
    b = 0;
    NEMB_ASSERT_OK(nemb_config_get_bool(c, "providers.estimate.enabled", &b));
    assert_int_equal(b, 1);
    NEMB_ASSERT_OK(nemb_config_get_string(c, "providers.list", s, sizeof s));
    assert_string_equal(s, "");
    assert_null(nemb__config_lookup(c, "coordinator.measurement_interval_ms"));
  }
  assert_string_equal(nemb_config_origin(nemb__config_defaults()), "built-in defaults");
  nemb_config_destroy(cfg);
  nemb_config_destroy(NULL);
}

static void assert_loads_interval(const char *origin, double interval) {
  nemb_config *cfg = NULL;
  double d;
  NEMB_ASSERT_OK(nemb_config_load(NULL, &cfg));
  assert_string_equal(nemb_config_origin(cfg), origin);
  NEMB_ASSERT_OK(nemb_config_get_double(cfg, "coordinator.measurement_interval_ms", &d));
  assert_double_eq(d, interval);
  nemb_config_destroy(cfg);
}

static void test_search_order(void **state) {
  const char *dir = *state;
  char env_path[4096], xdg[4096], xdg_path[4096], home_path[4096];
  make_dir(dir, "xdg");
  make_dir(dir, "xdg/codegreen");
  make_dir(dir, ".config");
  make_dir(dir, ".config/codegreen");
  snprintf(xdg, sizeof xdg, "%s/xdg", dir);

  write_config(state, "env.json", "{\"coordinator\": {\"measurement_interval_ms\": 11}}", env_path,
               sizeof env_path);
  write_config(state, "xdg/codegreen/config.json",
               "{\"coordinator\": {\"measurement_interval_ms\": 22}}", xdg_path, sizeof xdg_path);
  write_config(state, ".config/codegreen/config.json",
               "{\"coordinator\": {\"measurement_interval_ms\": 33}}", home_path, sizeof home_path);

  /* Each level wins over everything after it. */
  setenv("CODEGREEN_CONFIG", env_path, 1);
  setenv("XDG_CONFIG_HOME", xdg, 1);
  assert_loads_interval(env_path, 11);
  unsetenv("CODEGREEN_CONFIG");
  assert_loads_interval(xdg_path, 22);
  setenv("CODEGREEN_CONFIG", "", 1); /* empty means unset */
  assert_loads_interval(xdg_path, 22);
  setenv("XDG_CONFIG_HOME", "", 1);
  assert_loads_interval(home_path, 33);
  unsetenv("XDG_CONFIG_HOME");
  assert_loads_interval(home_path, 33);
  setenv("XDG_CONFIG_HOME", "relative/dir", 1); /* the XDG spec says to ignore it */
  assert_loads_interval(home_path, 33);

  /* A set XDG_CONFIG_HOME without the file does not fall back to ~/.config. */
  setenv("XDG_CONFIG_HOME", dir, 1);
  if (access(etc_config, F_OK) != 0) {
    assert_loads_interval("built-in defaults", 1);
  }

  /* An explicit CODEGREEN_CONFIG must exist. */
  char missing[4096];
  snprintf(missing, sizeof missing, "%s/nope.json", dir);
  setenv("CODEGREEN_CONFIG", missing, 1);
  nemb_config *cfg = (nemb_config *)1;
  assert_fails(nemb_config_load(NULL, &cfg), NEMB_ENOENT, missing);
  assert_message_has("(named by $CODEGREEN_CONFIG) does not exist");
  assert_null(cfg);
}

static void test_named_path(void **state) {
  char path[4096];
  write_config(state, "named.json", "{\"providers\": {\"estimate\": {\"tdp_w\": 65.5}}}", path,
               sizeof path);
  nemb_config *cfg = NULL;
  double d;
  NEMB_ASSERT_OK(nemb_config_load(path, &cfg));
  assert_string_equal(nemb_config_origin(cfg), path);
  NEMB_ASSERT_OK(nemb_config_get_double(cfg, "providers.estimate.tdp_w", &d));
  assert_double_eq(d, 65.5);
  json_t *v = nemb__config_lookup(cfg, "providers.estimate.tdp_w");
  assert_non_null(v);
  assert_true(json_is_real(v));
  /* Keys the file does not set still read as their default. */
  NEMB_ASSERT_OK(nemb_config_get_double(cfg, "providers.estimate.watts_per_cpu", &d));
  assert_double_eq(d, 4.0);
  nemb_config_destroy(cfg);

  char missing[4096];
  snprintf(missing, sizeof missing, "%s/absent.json", (const char *)*state);
  assert_fails(nemb_config_load(missing, &cfg), NEMB_ENOENT, missing);
  assert_null(cfg);
  assert_fails(nemb_config_load(*state, &cfg), NEMB_ECONFIG, "is a directory");
}

static void test_malformed_json_names_file_line_column(void **state) {
  char path[4096], want[4200];
  /* Line 3: the second comma sits in column 34 (4 spaces, a 25-character key, ": 5,"). */
  write_config(state, "bad.json",
               "{\n"
               "  \"coordinator\": {\n"
               "    \"measurement_interval_ms\": 5,,\n"
               "  }\n"
               "}\n",
               path, sizeof path);
  nemb_config *cfg = NULL;
  snprintf(want, sizeof want, "%s:3:34: ", path);
  assert_fails(nemb_config_load(path, &cfg), NEMB_ECONFIG, want);
  assert_message_has("string or '}' expected near ','");
  assert_null(cfg);

  /* jansson points at the last character of the offending token: the closing quote. */
  assert_fails(nemb_config_from_string("{\"a\": 1,\n \"a\": 2}", "dup", &cfg), NEMB_ECONFIG,
               "dup:2:4: duplicate object key");
  assert_fails(nemb_config_from_string("{\"a\": tru}", NULL, &cfg), NEMB_ECONFIG,
               "string:1:9: invalid token near 'tru'");
  assert_fails(nemb_config_from_string("[1, 2]", "arr", &cfg), NEMB_ECONFIG,
               "arr: the top level must be a JSON object ({...}), not an array");
  assert_null(cfg);
}

static void test_out_of_range_names_key_and_range(void **state) {
  char path[4096], want[4200];
  nemb_config *cfg = NULL;
  write_config(state, "config.json", "{\"coordinator\": {\"measurement_interval_ms\": 0}}", path,
               sizeof path);
  assert_int_equal(nemb_config_load(path, &cfg), NEMB_ECONFIG);
  snprintf(want, sizeof want,
           "%s: coordinator.measurement_interval_ms = 0 is out of range: allowed 1 to 60000 "
           "(integer)",
           path);
  assert_string_equal(nemb_last_error(), want);
  assert_null(cfg);

  /* The bounds themselves are allowed. */
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"coordinator\": {\"measurement_interval_ms\": 60000, \"max_samples\": 1000}}", "t", &cfg));
  nemb_config_destroy(cfg);
  assert_int_equal(
      nemb_config_from_string("{\"coordinator\": {\"measurement_interval_ms\": 60001}}", "t", &cfg),
      NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: coordinator.measurement_interval_ms = 60001 is out "
                                         "of range: allowed 1 to 60000 (integer)");
  assert_int_equal(nemb_config_from_string(
                       "{\"providers\": {\"estimate\": {\"idle_fraction\": 1.5}}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: providers.estimate.idle_fraction = 1.5 is out of "
                                         "range: allowed 0 to 1 (number)");
  assert_int_equal(nemb_config_from_string(
                       "{\"providers\": {\"estimate\": {\"watts_per_cpu\": 0.05}}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: providers.estimate.watts_per_cpu = 0.05 is out of "
                                         "range: allowed 0.1 to 1000 (number)");
  /* Just above 2^53, where a double comparison would round the value down to the bound. */
  assert_int_equal(
      nemb_config_from_string(
          "{\"providers\": {\"sim\": {\"max_energy_range_uj\": 9007199254740993}}}", "t", &cfg),
      NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(),
                      "t: providers.sim.max_energy_range_uj = 9007199254740993 is out of range: "
                      "allowed 1000 to 9007199254740992 (integer)");
  assert_null(cfg);
  /* mpi.node_leader_wait_s is a known key (node.c reads it): a default and a range. */
  double w = 0;
  NEMB_ASSERT_OK(nemb_config_get_double(NULL, "mpi.node_leader_wait_s", &w));
  assert_double_eq(w, 60);
  assert_int_equal(nemb_config_from_string("{\"mpi\": {\"node_leader_wait_s\": -1}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: mpi.node_leader_wait_s = -1 is out of range: "
                                         "allowed 0 to 86400 (number)");
}

static void test_wrong_type(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  assert_int_equal(nemb_config_from_string(
                       "{\"coordinator\": {\"measurement_interval_ms\": \"fast\"}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: coordinator.measurement_interval_ms is a string, "
                                         "expected an integer from 1 to 60000");
  assert_int_equal(
      nemb_config_from_string("{\"providers\": {\"powercap\": {\"enabled\": 1}}}", "t", &cfg),
      NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: providers.powercap.enabled is a number, expected a "
                                         "boolean (true or false)");
  assert_int_equal(
      nemb_config_from_string("{\"providers\": {\"estimate\": {\"tdp_w\": null}}}", "t", &cfg),
      NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(),
                      "t: providers.estimate.tdp_w is null, expected a number from 0 to 100000");
  /* A section that is not an object would hide its keys; say so instead of using defaults. */
  assert_int_equal(nemb_config_from_string("{\"coordinator\": 5}", "t", &cfg), NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: coordinator must be an object (it holds "
                                         "coordinator.measurement_interval_ms)");
  assert_null(cfg);

  /* Getters check the type of keys that validation does not know. */
  NEMB_ASSERT_OK(nemb_config_from_string("{\"x\": {\"s\": \"text\", \"n\": 3}}", "t", &cfg));
  double d;
  int b;
  char s[8];
  assert_fails(nemb_config_get_double(cfg, "x.s", &d), NEMB_ECONFIG,
               "t: x.s is a string, not a "
               "number");
  assert_fails(nemb_config_get_bool(cfg, "x.n", &b), NEMB_ECONFIG,
               "t: x.n is a number, not a "
               "boolean");
  assert_fails(nemb_config_get_string(cfg, "x.n", s, sizeof s), NEMB_ECONFIG,
               "t: x.n is a number, not a string");
  assert_fails(nemb_config_get_bool(cfg, "coordinator.max_samples", &b), NEMB_ECONFIG,
               "coordinator.max_samples");
  assert_fails(nemb_config_get_double(cfg, "providers.powercap.enabled", &d), NEMB_ECONFIG,
               "not a number");
  nemb_config_destroy(cfg);
}

static void test_integer_rejects_fraction(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  assert_int_equal(
      nemb_config_from_string("{\"coordinator\": {\"measurement_interval_ms\": 1.5}}", "t", &cfg),
      NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(), "t: coordinator.measurement_interval_ms = 1.5 is not an "
                                         "integer: allowed 1 to 60000 (integer)");
  assert_null(cfg);
  /* A real with no fractional part is an integer. */
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"coordinator\": {\"measurement_interval_ms\": 2.0}}", "t", &cfg));
  double d;
  NEMB_ASSERT_OK(nemb_config_get_double(cfg, "coordinator.measurement_interval_ms", &d));
  assert_double_eq(d, 2);
  nemb_config_destroy(cfg);
}

static void test_providers_list(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  char s[64];
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\": {\"list\": [\"sim\", \"estimate\"]}}", "t", &cfg));
  NEMB_ASSERT_OK(nemb_config_get_string(cfg, "providers.list", s, sizeof s));
  assert_string_equal(s, "sim,estimate");
  double d;
  assert_fails(nemb_config_get_double(cfg, "providers.list", &d), NEMB_ECONFIG,
               "t: providers.list is an array, not a number");
  nemb_config_destroy(cfg);

  NEMB_ASSERT_OK(nemb_config_from_string("{\"providers\": {\"list\": \"powercap\"}}", "t", &cfg));
  NEMB_ASSERT_OK(nemb_config_get_string(cfg, "providers.list", s, sizeof s));
  assert_string_equal(s, "powercap");
  nemb_config_destroy(cfg);

  NEMB_ASSERT_OK(nemb_config_from_string("{\"providers\": {\"list\": []}}", "t", &cfg));
  strcpy(s, "x");
  NEMB_ASSERT_OK(nemb_config_get_string(cfg, "providers.list", s, sizeof s));
  assert_string_equal(s, "");
  nemb_config_destroy(cfg);

  assert_int_equal(nemb_config_from_string("{\"providers\": {\"list\": [\"sim\", 1]}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(),
                      "t: providers.list[1] must be a non-empty string without commas");
  assert_int_equal(nemb_config_from_string("{\"providers\": {\"list\": [\"a,b\"]}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(),
                      "t: providers.list[0] must be a non-empty string without commas");
  assert_int_equal(nemb_config_from_string("{\"providers\": {\"list\": 3}}", "t", &cfg),
                   NEMB_ECONFIG);
  assert_string_equal(nemb_last_error(),
                      "t: providers.list is a number, expected a string or an array of strings");
  assert_null(cfg);
}

static void test_get_string_truncation(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\": {\"list\": [\"sim\", \"estimate\"]}}", "t", &cfg));
  char s[16];
  memset(s, 'z', sizeof s);
  assert_fails(nemb_config_get_string(cfg, "providers.list", s, 5), NEMB_ERANGE,
               "t: providers.list needs 13 bytes, the buffer holds 5");
  assert_string_equal(s, "sim,");
  assert_int_equal(s[5], 'z'); /* nothing written past len */
  assert_int_equal(nemb_config_get_string(cfg, "providers.list", s, 12), NEMB_ERANGE);
  assert_string_equal(s, "sim,estimat");
  NEMB_ASSERT_OK(nemb_config_get_string(cfg, "providers.list", s, 13));
  assert_string_equal(s, "sim,estimate");
  assert_string_equal(nemb_last_error(), "");
  /* len 0 writes nothing, as with snprintf, and still says the buffer is too small. */
  assert_int_equal(nemb_config_get_string(cfg, "providers.list", NULL, 0), NEMB_ERANGE);
  nemb_config_destroy(cfg);

  NEMB_ASSERT_OK(nemb_config_from_string("{\"name\": \"abcdef\"}", "t", &cfg));
  assert_int_equal(nemb_config_get_string(cfg, "name", s, 3), NEMB_ERANGE);
  assert_string_equal(s, "ab");
  NEMB_ASSERT_OK(nemb_config_get_string(cfg, "name", s, 7));
  assert_string_equal(s, "abcdef");
  nemb_config_destroy(cfg);
}

static void test_unknown_keys(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  /* Unknown keys load fine (one file serves several versions) and read back when asked for. */
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"future\": {\"knob\": 3.25, \"flag\": false}, \"coordinator\": {\"other\": \"x\"}}", "t",
      &cfg));
  double d;
  int b = 1;
  NEMB_ASSERT_OK(nemb_config_get_double(cfg, "future.knob", &d));
  assert_double_eq(d, 3.25);
  NEMB_ASSERT_OK(nemb_config_get_bool(cfg, "future.flag", &b));
  assert_int_equal(b, 0);
  assert_fails(nemb_config_get_double(cfg, "no.such.key", &d), NEMB_ENOENT,
               "t: config key no.such.key is not set and has no built-in default");
  assert_fails(nemb_config_get_bool(cfg, "future", &b), NEMB_ECONFIG, "is an object");
  assert_fails(nemb_config_get_double(cfg, "future.knob.deeper", &d), NEMB_ENOENT,
               "future.knob.deeper");
  char s[8];
  assert_fails(nemb_config_get_string(cfg, "coordinator.nope", s, sizeof s), NEMB_ENOENT,
               "coordinator.nope");
  assert_fails(nemb_config_get_double(NULL, "no.such.key", &d), NEMB_ENOENT,
               "built-in defaults: config key no.such.key");
  nemb_config_destroy(cfg);
}

static void test_sim_domains_is_structured(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  double d;
  char s[8];
  /* Not validated here (sim.c does) and never readable as a scalar, set or not. */
  assert_fails(nemb_config_get_double(NULL, "providers.sim.domains", &d), NEMB_ECONFIG,
               "providers.sim.domains is a structured value with no scalar default, not a number");
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"providers\": {\"sim\": {\"domains\": [{\"name\": \"package-0\"}]}}}", "t", &cfg));
  json_t *v = nemb__config_lookup(cfg, "providers.sim.domains");
  assert_non_null(v);
  assert_true(json_is_array(v));
  assert_int_equal(json_array_size(v), 1);
  assert_fails(nemb_config_get_string(cfg, "providers.sim.domains", s, sizeof s), NEMB_ECONFIG,
               "t: providers.sim.domains is an array, not a string");
  nemb_config_destroy(cfg);
}

static void test_from_string_and_resolve(void **state) {
  (void)state;
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(
      "{\"measurement\": {\"report\": {\"noise_warning\": {\"cv_percent\": 7}}}}", "test", &cfg));
  assert_string_equal(nemb_config_origin(cfg), "test");
  double d;
  NEMB_ASSERT_OK(nemb_config_get_double(cfg, "measurement.report.noise_warning.cv_percent", &d));
  assert_double_eq(d, 7);

  const nemb_config *use = NULL;
  nemb_config *owned = (nemb_config *)1;
  NEMB_ASSERT_OK(nemb__config_resolve(cfg, &use, &owned));
  assert_ptr_equal(use, cfg);
  assert_null(owned);
  nemb_config_destroy(cfg);

  NEMB_ASSERT_OK(nemb_config_from_string("{}", NULL, &cfg));
  assert_string_equal(nemb_config_origin(cfg), "string");
  nemb_config_destroy(cfg);

  /* A NULL config loads by the search order: here $XDG_CONFIG_HOME/codegreen/config.json. */
  make_dir(*state, "codegreen");
  nemb_test_write(*state, "codegreen/config.json", "{\"coordinator\": {\"max_samples\": 5000}}");
  NEMB_ASSERT_OK(nemb__config_resolve(NULL, &use, &owned));
  assert_non_null(owned);
  assert_ptr_equal(use, owned);
  NEMB_ASSERT_OK(nemb_config_get_double(use, "coordinator.max_samples", &d));
  assert_double_eq(d, 5000);
  nemb_config_destroy(owned);
}

/* Loading an unreadable file must give -EACCES naming it. Returns 0 when it does. */
static int check_unreadable(const char *path) {
  nemb_config *cfg = NULL;
  int rc = nemb_config_load(path, &cfg);
  if (rc != NEMB_EACCES || strstr(nemb_last_error(), path) == NULL || cfg != NULL) {
    print_error("rc %d, message \"%s\"\n", rc, nemb_last_error());
    return 1;
  }
  /* In the search order too: an existing file that cannot be read is not skipped. */
  rc = nemb_config_load(NULL, &cfg);
  if (rc != NEMB_EACCES || strstr(nemb_last_error(), path) == NULL) {
    print_error("search order: rc %d, message \"%s\"\n", rc, nemb_last_error());
    return 1;
  }
  return 0;
}

static void test_unreadable_file(void **state) {
  char path[4096];
  make_dir(*state, "codegreen");
  write_config(state, "codegreen/config.json", "{}", path, sizeof path);
  assert_int_equal(chmod(path, 0), 0);
  if (geteuid() != 0) {
    assert_int_equal(check_unreadable(path), 0);
    return;
  }
  /* Root reads a mode-000 file anyway, so check as nobody in a child; where the container
   * forbids changing user, skip. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) {
      _exit(77);
    }
    _exit(check_unreadable(path));
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    skip();
  }
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults_when_nothing_set, setup, teardown),
      cmocka_unit_test_setup_teardown(test_search_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_named_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_json_names_file_line_column, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_range_names_key_and_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
      cmocka_unit_test_setup_teardown(test_integer_rejects_fraction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_providers_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_get_string_truncation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sim_domains_is_structured, setup, teardown),
      cmocka_unit_test_setup_teardown(test_from_string_and_resolve, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_file, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
