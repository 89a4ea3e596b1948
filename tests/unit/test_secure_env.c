/* test_secure_env.c - a privileged process (AT_SECURE) ignores the variables that load code or
 * redirect reads: the decision is forced both ways here (nemb__env_force_privileged), and each
 * user of a gated variable is checked for its effect: the sysfs root, the config file, and the
 * NVML library. The real AT_SECURE path (a set-user-ID copy of codegreen) is tests/cli/
 * test_safety.sh's. */
#include <dlfcn.h>
#include <errno.h>

#include "nemb_test.h"
#include "secure_env.h"

static char dir[4096];

static int setup(void **state) {
  (void)state;
  nemb_test_mkdtemp(dir, sizeof dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb__env_force_privileged(-1);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_CONFIG");
  unsetenv("CODEGREEN_NVML_LIB");
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_this_test_is_not_privileged(void **state) {
  (void)state;
  nemb__env_force_privileged(-1);
  assert_int_equal(nemb__env_privileged(), 0); /* ctest starts it plainly */
  setenv("CODEGREEN_SYSFS_ROOT", "/x", 1);
  assert_string_equal(nemb__env_get("CODEGREEN_SYSFS_ROOT"), "/x");
}

static void test_sysfs_root_ignored_when_privileged(void **state) {
  (void)state;
  nemb_test_use_fixture("intel-client");
  nemb__env_force_privileged(0);
  assert_non_null(strstr(nemb__sysfs_root(), "intel-client"));
  nemb__env_force_privileged(1);
  assert_string_equal(nemb__sysfs_root(), "");
  char path[256];
  assert_int_equal(nemb__path(path, sizeof path, "/sys/class/powercap"), 0);
  assert_string_equal(path, "/sys/class/powercap"); /* the machine's own tree */
}

static void test_config_variable_ignored_when_privileged(void **state) {
  (void)state;
  char cfg[4200];
  snprintf(cfg, sizeof cfg, "%s/config.json", dir);
  FILE *fp = fopen(cfg, "w");
  assert_non_null(fp);
  fputs("{\"measurement_interval_ms\": 7}", fp);
  fclose(fp);
  setenv("CODEGREEN_CONFIG", cfg, 1);
  char xdg[4200];
  snprintf(xdg, sizeof xdg, "%s/xdg", dir); /* no user config there */
  setenv("XDG_CONFIG_HOME", xdg, 1);
  nemb_config *c = NULL;
  nemb__env_force_privileged(0);
  NEMB_ASSERT_OK(nemb_config_load(NULL, &c));
  assert_string_equal(nemb_config_origin(c), cfg);
  nemb_config_destroy(c);
  nemb__env_force_privileged(1);
  NEMB_ASSERT_OK(nemb_config_load(NULL, &c));
  assert_string_not_equal(nemb_config_origin(c), cfg);
  nemb_config_destroy(c);
}

/* -c FILE in a privileged process: only a root-owned file that no one else can write. */
static void test_named_config_checked_when_privileged(void **state) {
  (void)state;
  char cfg[4200];
  snprintf(cfg, sizeof cfg, "%s/named.json", dir);
  FILE *fp = fopen(cfg, "w");
  assert_non_null(fp);
  fputs("{\"measurement_interval_ms\": 7}", fp);
  fclose(fp);
  nemb_config *c = NULL;
  assert_int_equal(chmod(cfg, 0666), 0);
  nemb__env_force_privileged(0);
  NEMB_ASSERT_OK(nemb_config_load(cfg, &c)); /* a plain process reads what it is given */
  nemb_config_destroy(c);
  c = NULL;
  nemb__env_force_privileged(1);
  assert_int_equal(nemb_config_load(cfg, &c), NEMB_EACCES);
  assert_null(c);
  assert_non_null(strstr(nemb_last_error(), "writable by no one else"));
  assert_non_null(strstr(nemb_last_error(), "mode 666"));
  assert_int_equal(chmod(cfg, 0644), 0);
  int rc = nemb_config_load(cfg, &c);
  if (getuid() == 0) {
    NEMB_ASSERT_OK(rc); /* root's own file, 0644: as trusted as /etc */
    nemb_config_destroy(c);
  } else {
    assert_int_equal(rc, NEMB_EACCES); /* the caller's own file is not root's */
    assert_non_null(strstr(nemb_last_error(), "owned by root"));
  }
}

static void test_nvml_library_never_loaded_when_privileged(void **state) {
  (void)state;
  const char *fake = getenv("NEMB_FAKE_NVML"); /* tests/fake_nvml, built beside the tests */
  if (fake == NULL || fake[0] == '\0') {
    skip();
  }
  const struct nemb__provider_ops *ops = nemb__provider_find("nvml");
  if (ops == NULL) {
    skip(); /* built without NVML */
  }
  setenv("CODEGREEN_NVML_LIB", fake, 1);
  nemb__provider_env env = {nemb__config_defaults()};
  char why[1024] = "";
  void *st = NULL;
  nemb__env_force_privileged(1);
  int rc = ops->open(&env, &st, why, sizeof why);
  if (rc == 0) {
    ops->close(st); /* a real GPU's own library, from the system path: allowed */
    st = NULL;
  }
  assert_null(dlopen(fake, RTLD_NOW | RTLD_NOLOAD)); /* the named library was never loaded */
  nemb__env_force_privileged(0);
  NEMB_ASSERT_OK(ops->open(&env, &st, why, sizeof why));
  void *h = dlopen(fake, RTLD_NOW | RTLD_NOLOAD);
  assert_non_null(h); /* unprivileged, the seam works */
  dlclose(h);
  ops->close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_this_test_is_not_privileged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sysfs_root_ignored_when_privileged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_variable_ignored_when_privileged, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_named_config_checked_when_privileged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nvml_library_never_loaded_when_privileged, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
