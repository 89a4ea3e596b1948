/*
 * test_hwmon.c - the hwmon provider against fixture trees (tests/fixtures/hwmon-*, made by
 * make_hardware_fixtures.sh): amd_energy counters mapped to packages and cores, power-only
 * sensors integrated over the timestamps read() is given, and the failure cases.
 */
#include "nemb_test.h"

#ifdef NEMB_WITH_HWMON

#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>

extern const struct nemb__provider_ops nemb__provider_hwmon;

static char why[1024];

static nemb_config *all_chips; /* providers.hwmon.all_chips = true */

static int open_hwmon_cfg(const nemb_config *cfg, void **st) {
  nemb__provider_env env = {cfg};
  why[0] = '\0';
  return nemb__provider_hwmon.open(&env, st, why, sizeof why);
}

static int open_hwmon(void **st) {
  return open_hwmon_cfg(nemb__config_defaults(), st);
}

static void *open_ok_cfg(const nemb_config *cfg) {
  void *st = NULL;
  int rc = open_hwmon_cfg(cfg, &st);
  if (rc != 0) {
    print_error("open: %d (%s): %s\n", rc, nemb_err_name(rc), why);
  }
  assert_int_equal(rc, 0);
  return st;
}

static void *open_ok(void) {
  return open_ok_cfg(nemb__config_defaults());
}

static void test_ops(void **unused) {
  (void)unused;
  assert_string_equal(nemb__provider_hwmon.name, "hwmon");
  assert_true(nemb__provider_hwmon.measured);
  assert_int_equal(nemb__provider_hwmon.update_interval_ns(NULL), 1000000);
  nemb__provider_hwmon.close(NULL);
}

/* amd_energy: Ecore<K> are nested core<K> domains, Esocket0 is package-0 (in the total) and
 * contains them; k10temp, with temperatures only, is ignored. Counters, not integrals. */
static void test_amd_energy(void **unused) {
  (void)unused;
  nemb_test_use_fixture("hwmon-amd");
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_hwmon.domains(st, &d), 5);
  static const char *const names[] = {"core0", "core1", "core2", "core3", "package-0"};
  static const uint64_t values[] = {7201943, 6880112, 7011230, 6954419, 41093371712ULL};
  uint64_t raw[5];
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 1000, raw));
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(d[i].name, names[i]);
    assert_int_equal(raw[i], values[i]);
    assert_string_equal(d[i].method, NEMB__METHOD_COUNTER);
    assert_int_equal(d[i].range_uj, 0);
  }
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(d[i].kind, NEMB__KIND_NESTED);
    assert_false(d[i].top_level);
    assert_false(d[i].in_total);
  }
  assert_string_equal(d[4].kind, NEMB__KIND_PACKAGE);
  assert_true(d[4].top_level);
  assert_true(d[4].in_total);
  assert_int_equal(d[4].n_includes, 4);
  assert_string_equal(d[4].includes[0], "core0");
  assert_string_equal(d[4].includes[3], "core3");
  assert_string_equal(d[4].detail, "energy5_input of hwmon1 (amd_energy)");
  /* A counter is passed on as it is, whatever the timestamps. */
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 5000000000ULL, raw));
  assert_int_equal(raw[4], 41093371712ULL);
  nemb__provider_hwmon.close(st);
}

/* Power-only sensors: the ACPI power meter is the platform (never in the total), an unknown
 * board monitor is reported but not added, the GPU's average power supersedes its instant power.
 * Each is integrated with the trapezoid rule over read()'s timestamps. */
static void test_power_integrated(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("hwmon-power", dir, sizeof dir);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  /* By default only the chip codegreen knows (the power meter); all_chips adds the others. */
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_hwmon.domains(st, &d), 1);
  assert_string_equal(d[0].name, "power_meter-power1");
  nemb__provider_hwmon.close(st);
  st = open_ok_cfg(all_chips);
  assert_int_equal(nemb__provider_hwmon.domains(st, &d), 3);
  assert_string_equal(d[0].name, "power_meter-power1");
  assert_string_equal(d[0].kind, NEMB__KIND_PLATFORM);
  assert_true(d[0].top_level);
  assert_false(d[0].in_total);
  assert_string_equal(d[1].name, "ina226-vdd_12v");
  assert_string_equal(d[1].kind, NEMB__KIND_NESTED);
  assert_false(d[1].in_total);
  assert_string_equal(d[2].name, "amdgpu-ppt");
  assert_false(d[2].in_total);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(d[i].method, NEMB__METHOD_INTEGRATED);
    assert_non_null(strstr(d[i].detail, "integrated over time"));
    assert_int_equal(d[i].range_uj, 0);
  }
  assert_string_equal(d[0].detail, "power1_average of hwmon0 (power_meter), integrated over time");
  assert_string_equal(d[2].detail, "power1_average of hwmon2 (amdgpu), integrated over time");
  /* power1_average_interval is 1000 ms: readings change once a second. */
  assert_int_equal(nemb__provider_hwmon.update_interval_ns(st), 1000000000ULL);

  uint64_t raw[3];
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 10000000000ULL, raw)); /* sets the time base */
  assert_int_equal(raw[0], 0);
  assert_int_equal(raw[1], 0);
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 11000000000ULL, raw)); /* 1 s later */
  assert_int_equal(raw[0], 98000000);                                 /* 98 W x 1 s */
  assert_int_equal(raw[1], 12500000);
  assert_int_equal(raw[2], 31000000); /* the average, not the instant 33 W */
  const char *meter = "sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:00/hwmon/hwmon0/power1_average";
  nemb_test_write(dir, meter, "50000000\n");
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 11500000000ULL, raw)); /* (98 + 50) / 2 x 0.5 s */
  assert_int_equal(raw[0], 135000000);
  /* A reading that is not a number fails that sensor only (marked unread) and moves no integral;
   * the other sensors read on. */
  nemb_test_write(dir, meter, "garbage\n");
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 12500000000ULL, raw));
  assert_true(raw[0] == NEMB__RAW_INVALID);
  assert_true(raw[1] != NEMB__RAW_INVALID);
  nemb_test_write(dir, meter, "50000000\n");
  NEMB_ASSERT_OK(nemb__provider_hwmon.read(st, 13500000000ULL, raw)); /* 2 s at 50 W */
  assert_int_equal(raw[0], 235000000);
  nemb__provider_hwmon.close(st);
  nemb_test_rmtree(dir);
}

/* Two chips with one name: the second gets its hwmon number appended. */
static void test_name_collision(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("hwmon-power", dir, sizeof dir);
  nemb_test_write(dir, "sys/devices/platform/i2c-1/1-0040/hwmon/hwmon1/name", "amdgpu\n");
  nemb_test_write(dir, "sys/devices/platform/i2c-1/1-0040/hwmon/hwmon1/power1_label", "PPT\n");
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  void *st = open_ok_cfg(all_chips);
  const nemb__domain *d;
  assert_int_equal(nemb__provider_hwmon.domains(st, &d), 3);
  assert_string_equal(d[1].name, "amdgpu-ppt");
  assert_string_equal(d[2].name, "amdgpu-ppt-hwmon2");
  nemb__provider_hwmon.close(st);
  nemb_test_rmtree(dir);
}

static void test_absent(void **unused) {
  (void)unused;
  nemb_test_use_fixture("estimate");
  void *st = (void *)&st;
  assert_int_equal(open_hwmon(&st), NEMB_ENOTSUP);
  assert_null(st);
  assert_non_null(strstr(why, "/sys/class/hwmon"));
}

/* Chips, but only temperatures. */
static void test_no_sensors(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("hwmon-amd", dir, sizeof dir);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -f '%s'/sys/devices/platform/amd_energy.0/hwmon/hwmon1/energy*",
           dir);
  assert_int_equal(system(cmd), 0);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  void *st = NULL;
  assert_int_equal(open_hwmon(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "no energy sensor codegreen reads by default"));
  assert_non_null(strstr(why, "1 other chip (k10temp) is read only with"));
  nemb_test_rmtree(dir);
}

/* Only chips codegreen does not read by default: the reason names them and the setting. */
static void test_unknown_chips_only(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("hwmon-power", dir, sizeof dir);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/sys/class/hwmon/hwmon0'", dir);
  assert_int_equal(system(cmd), 0);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  void *st = NULL;
  assert_int_equal(open_hwmon(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "2 other chips (ina226, amdgpu) are read only with "
                              "providers.hwmon.all_chips"));
  nemb_test_rmtree(dir);
}

static void test_disabled(void **unused) {
  (void)unused;
  nemb_test_use_fixture("hwmon-amd");
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"hwmon\":{\"enabled\":false}}}", "test", &cfg));
  nemb__provider_env env = {cfg};
  void *st = NULL;
  assert_int_equal(nemb__provider_hwmon.open(&env, &st, why, sizeof why), NEMB_ENOTSUP);
  assert_string_equal(why, "disabled by providers.hwmon.enabled in the configuration");
  nemb_config_destroy(cfg);
}

/* amd_energy counters are root-only on recent kernels: the message points to setup-permissions
 * and never suggests making them world-readable. */
static void test_permission(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("hwmon-amd", dir, sizeof dir);
  bool root = geteuid() == 0;
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "chmod %s '%s'/sys/devices/platform/amd_energy.0/hwmon/hwmon1/energy*",
           root ? "0400" : "0000", dir);
  assert_int_equal(system(cmd), 0);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  nemb_test_open_result res =
      nemb_test_open_unprivileged(&nemb__provider_hwmon, nemb__config_defaults());
  int rc = res.rc;
  const char *got = res.why;
  bool skipped = res.skipped;
  snprintf(cmd, sizeof cmd, "chmod -R u+rw '%s'", dir);
  assert_int_equal(system(cmd), 0);
  nemb_test_rmtree(dir);
  if (skipped) {
    skip();
  }
  assert_int_equal(rc, NEMB_EACCES);
  assert_non_null(strstr(got, "energy1_input: permission denied"));
  assert_non_null(strstr(got, "sudo codegreen setup-permissions"));
  assert_non_null(strstr(got, "CVE-2020-8694"));
  assert_null(strstr(got, "chmod"));
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  if (nemb_config_from_string("{\"providers\":{\"hwmon\":{\"all_chips\":true}}}", "test",
                              &all_chips) != 0) {
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ops),
      cmocka_unit_test(test_amd_energy),
      cmocka_unit_test(test_power_integrated),
      cmocka_unit_test(test_name_collision),
      cmocka_unit_test(test_absent),
      cmocka_unit_test(test_no_sensors),
      cmocka_unit_test(test_unknown_chips_only),
      cmocka_unit_test(test_disabled),
      cmocka_unit_test(test_permission),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  nemb_config_destroy(all_chips);
  return failed;
}

#else

int main(void) {
  return 77; /* built without NEMB_WITH_HWMON */
}

#endif
