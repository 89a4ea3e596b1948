/*
 * test_perf.c - the perf provider against fixture trees of the power PMU
 * (tests/fixtures/perf-*, made by make_hardware_fixtures.sh), with a fake perf_event_open put in
 * the provider's system-call table, so its real code runs on machines without RAPL: event files,
 * per-package CPUs, names, scaling, skipped events, permission messages, and the sampler.
 */
#include "nemb_test.h"

#ifdef NEMB_WITH_PERF

#include <errno.h>
#include <linux/perf_event.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "meter.h"
#include "perf_sys.h"

extern const struct nemb__provider_ops nemb__provider_perf;

#include "fake_perf.h"

static char why[1024];

static int setup(void **state) {
  (void)state;
  nemb__perf_sys = fake_sys;
  fake_perf_reset();
  unsetenv("CODEGREEN_PROVIDERS");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < n_fakes; i++) {
    assert_true(fakes[i].closed); /* every descriptor the provider opened, it closed */
  }
  nemb__perf_sys = nemb__perf_sys_real;
  return 0;
}

static int open_perf(void **st) {
  nemb__provider_env env = {nemb__config_defaults()};
  why[0] = '\0';
  return nemb__provider_perf.open(&env, st, why, sizeof why);
}

static void *open_ok(void) {
  void *st = NULL;
  int rc = open_perf(&st);
  if (rc != 0) {
    print_error("open: %d (%s): %s\n", rc, nemb_err_name(rc), why);
  }
  assert_int_equal(rc, 0);
  return st;
}

typedef struct expect {
  const char *name;
  const char *kind;
  bool top_level, in_total;
  const char *includes[NEMB__MAX_INCLUDES];
  uint64_t config;
  int cpu;
  const char *detail;
} expect;

static void check(void *st, const expect *exp, size_t n, uint32_t type) {
  const nemb__domain *d;
  size_t got = nemb__provider_perf.domains(st, &d);
  for (size_t i = 0; got != n && i < got; i++) {
    print_error("  domain %zu: %s\n", i, d[i].name);
  }
  assert_int_equal(got, n);
  assert_int_equal(n_fakes, (int)n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(d[i].name, exp[i].name);
    assert_string_equal(d[i].kind, exp[i].kind);
    assert_int_equal(d[i].top_level, exp[i].top_level);
    assert_int_equal(d[i].in_total, exp[i].in_total);
    size_t k = 0;
    while (k < NEMB__MAX_INCLUDES && exp[i].includes[k] != NULL) {
      assert_string_equal(d[i].includes[k], exp[i].includes[k]);
      k++;
    }
    assert_int_equal(d[i].n_includes, k);
    assert_int_equal(d[i].range_uj, 0); /* 64-bit: the kernel unwraps */
    assert_string_equal(d[i].method, NEMB__METHOD_COUNTER);
    assert_string_equal(d[i].detail, exp[i].detail);
    /* System-wide on one CPU of the package, the PMU's type, the event's encoding. */
    assert_int_equal(fakes[i].type, type);
    assert_int_equal(fakes[i].config, exp[i].config);
    assert_int_equal(fakes[i].pid, -1);
    assert_int_equal(fakes[i].cpu, exp[i].cpu);
    assert_int_equal(fakes[i].flags, PERF_FLAG_FD_CLOEXEC);
  }
}

static void test_ops(void **unused) {
  (void)unused;
  assert_string_equal(nemb__provider_perf.name, "perf");
  assert_true(nemb__provider_perf.measured);
  assert_false(nemb__provider_perf.simulated);
  assert_int_equal(nemb__provider_perf.update_interval_ns(NULL), 1000000);
  nemb__provider_perf.close(NULL);
}

/* Two sockets: one CPU each (0 and 2), names as powercap gives them, so the meter can match. */
static void test_intel_2s(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-2s");
  void *st = open_ok();
  static const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       2,
       0,
       "perf power/energy-pkg/ on CPU 0"},
      {"dram-0", NEMB__KIND_DRAM, true, true, {NULL}, 3, 0, "perf power/energy-ram/ on CPU 0"},
      {"package-1",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       2,
       2,
       "perf power/energy-pkg/ on CPU 2"},
      {"dram-1", NEMB__KIND_DRAM, true, true, {NULL}, 3, 2, "perf power/energy-ram/ on CPU 2"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp), 8);
  /* Counts are 2^-32 J: 10 J, 2.5 J, 2^40 counts (256 J), and one just below a microjoule. */
  fakes[0].count = (uint64_t)(10 * TWO32);
  fakes[1].count = (uint64_t)(2.5 * TWO32);
  fakes[2].count = 1ULL << 40;
  fakes[3].count = 4294; /* 0.99999 uJ: rounds down */
  uint64_t raw[4];
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(raw[0], 10000000);
  assert_int_equal(raw[1], 2500000);
  assert_int_equal(raw[2], 256000000);
  assert_int_equal(raw[3], 0);
  /* Far beyond 32 bits of RAPL units: no wrap to undo, 64-bit counts convert exactly. */
  fakes[0].count = (uint64_t)1 << 62;
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(raw[0], ((uint64_t)1 << 30) * 1000000ULL);
  nemb__provider_perf.close(st);
}

/* One read() per package a tick, not one per event: each CPU's events are one group, read with
 * PERF_FORMAT_GROUP, every value still its own domain's. */
static void test_group_read_per_package(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-2s");
  void *st = open_ok();
  static const int leader[] = {0, 0, 2, 2}; /* package-0 and dram-0 on CPU 0, then CPU 2's */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(fakes[i].leader, leader[i]);
    assert_true(fakes[i].read_format & PERF_FORMAT_GROUP);
  }
  for (int i = 0; i < 4; i++) {
    fakes[i].count = (uint64_t)(i + 1) << 32; /* i + 1 J */
  }
  atomic_store(&n_reads, 0);
  uint64_t raw[4];
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(atomic_load(&n_reads), 2);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(raw[i], (uint64_t)(i + 1) * 1000000);
  }
  /* A failed read fails its whole group, and only when every group failed the read. */
  atomic_store(&read_errno, EIO);
  assert_int_equal(nemb__provider_perf.read(st, 0, raw), NEMB_EIO);
  for (int i = 0; i < 4; i++) {
    assert_true(raw[i] == NEMB__RAW_INVALID);
  }
  nemb__provider_perf.close(st);
}

/* psys, one counter for the platform opened on the first package's CPU, is read in that package's
 * group: a laptop's four domains are one read() a tick. */
static void test_group_psys_joins_first_package(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-client");
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_perf.domains(st, &d), 4);
  assert_string_equal(d[3].name, "psys");
  for (int i = 0; i < 4; i++) {
    assert_int_equal(fakes[i].leader, 0);
    fakes[i].count = (uint64_t)(10 * (i + 1)) << 32;
  }
  atomic_store(&n_reads, 0);
  uint64_t raw[4];
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(atomic_load(&n_reads), 1);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(raw[i], (uint64_t)(10 * (i + 1)) * 1000000);
  }
  nemb__provider_perf.close(st);
}

/* A kernel that refuses the events into groups: each is opened and read on its own, with the
 * same domains and values. */
static void test_groups_refused(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-2s");
  refuse_groups = true;
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_perf.domains(st, &d), 4);
  assert_int_equal(n_fakes, 4);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(fakes[i].leader, i);
    fakes[i].count = (uint64_t)(i + 1) << 32;
  }
  atomic_store(&n_reads, 0);
  uint64_t raw[4];
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(atomic_load(&n_reads), 4);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(raw[i], (uint64_t)(i + 1) * 1000000);
  }
  nemb__provider_perf.close(st);
}

/* A laptop: package with core (PP0) and uncore (PP1) nested; psys once, containing them. */
static void test_intel_client(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-client");
  void *st = open_ok();
  static const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {"core", "uncore"},
       2,
       0,
       "perf power/energy-pkg/ on CPU 0"},
      {"core", NEMB__KIND_NESTED, false, false, {NULL}, 1, 0, "perf power/energy-cores/ on CPU 0"},
      {"uncore", NEMB__KIND_NESTED, false, false, {NULL}, 4, 0, "perf power/energy-gpu/ on CPU 0"},
      {"psys",
       NEMB__KIND_PLATFORM,
       true,
       false,
       {"package-0", "core", "uncore"},
       5,
       0,
       "perf power/energy-psys/ on CPU 0"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp), 8);
  nemb__provider_perf.close(st);
}

static void test_amd(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-amd");
  void *st = open_ok();
  static const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       2,
       0,
       "perf power/energy-pkg/ on CPU 0"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp), 11);
  nemb__provider_perf.close(st);
}

/* Issue 10, item 5: an AMD socket of two dies. The kernel's RAPL PMU lists one CPU per counter
 * in its cpumask (per socket on AMD): one event, one domain package-0, 68 J in a second, not
 * twice that. A PMU that lists a CPU per die (Intel Cascade Lake-AP) gets a domain per die. */
static void test_amd_dies_one_event_per_socket(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("perf-amd", dir, sizeof dir);
  for (unsigned c = 4; c < 8; c++) {
    char rel[256];
    snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%u/topology/die_id", c);
    nemb_test_write(dir, rel, "1\n");
  }
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  void *st = open_ok();
  static const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       2,
       0,
       "perf power/energy-pkg/ on CPU 0"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp), 11);
  fakes[0].count = 68ull << 32; /* 68 J, one count being 2^-32 J */
  uint64_t raw[2];
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(raw[0], 68000000);
  nemb__provider_perf.close(st);

  nemb_test_write(dir, "sys/bus/event_source/devices/power/cpumask", "0,4\n");
  n_fakes = 0;
  st = open_ok();
  static const expect per_die[] = {
      {"package-0-die-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       2,
       0,
       "perf power/energy-pkg/ on CPU 0"},
      {"package-0-die-1",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       2,
       4,
       "perf power/energy-pkg/ on CPU 4"},
  };
  check(st, per_die, NEMB__ARRAY_LEN(per_die), 11);
  nemb__provider_perf.close(st);
  nemb_test_rmtree(dir);
}

/* An event the kernel lists but does not count on this CPU is skipped, not fatal. */
static void test_unsupported_event_is_skipped(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-client");
  fail_config = 4; /* energy-gpu */
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_perf.domains(st, &d), 3);
  assert_string_equal(d[0].name, "package-0");
  assert_string_equal(d[1].name, "core");
  assert_string_equal(d[2].name, "psys");
  assert_int_equal(d[0].n_includes, 1);
  nemb__provider_perf.close(st);
}

static void test_absent(void **unused) {
  (void)unused;
  nemb_test_use_fixture("estimate");
  void *st = (void *)&st;
  assert_int_equal(open_perf(&st), NEMB_ENOTSUP);
  assert_null(st);
  assert_non_null(strstr(why, "no perf 'power' PMU"));
  assert_non_null(strstr(why, "/sys/bus/event_source/devices/power"));
  assert_int_equal(n_fakes, 0);
}

/* A fixture tree with the real kernel behind it: not probed, since the tree's PMU type number
 * could name another PMU of the running kernel. */
static void test_fixture_with_real_kernel(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-amd");
  nemb__perf_sys = nemb__perf_sys_real;
  void *st = NULL;
  assert_int_equal(open_perf(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "not probed: CODEGREEN_SYSFS_ROOT"));
}

static void test_disabled(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-amd");
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"perf\":{\"enabled\":false}}}", "test", &cfg));
  nemb__provider_env env = {cfg};
  void *st = NULL;
  assert_int_equal(nemb__provider_perf.open(&env, &st, why, sizeof why), NEMB_ENOTSUP);
  assert_string_equal(why, "disabled by providers.perf.enabled in the configuration");
  nemb_config_destroy(cfg);
}

/* Refused by perf_event_paranoid: the message names the setting, its value, and the safe fixes;
 * it never suggests what would make energy world-readable. */
static void test_permission_paranoid(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-2s"); /* perf_event_paranoid 2 */
  open_errno = EACCES;
  void *st = NULL;
  assert_int_equal(open_perf(&st), NEMB_EACCES);
  assert_null(st);
  print_message("  why (%zu chars): %s\n", strlen(why), why);
  assert_non_null(strstr(why, "power/energy-pkg/ on CPU 0"));
  assert_non_null(strstr(why, "kernel.perf_event_paranoid is 2"));
  assert_non_null(strstr(why, "CAP_PERFMON"));
  assert_non_null(strstr(why, "sudo codegreen setup-permissions --perf"));
  assert_non_null(strstr(why, "sudo codegreen setup-permissions`"));
  assert_non_null(strstr(why, "CVE-2020-8694"));
  assert_null(strstr(why, "sysctl"));
  assert_true(strlen(why) < 1000);
}

/* Refused although paranoid allows it: a security module, said so. */
static void test_permission_security_module(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("perf-amd", dir, sizeof dir);
  nemb_test_write(dir, "proc/sys/kernel/perf_event_paranoid", "-1\n");
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  open_errno = EPERM;
  void *st = NULL;
  assert_int_equal(open_perf(&st), NEMB_EACCES);
  assert_non_null(strstr(why, "perf_event_paranoid is -1, which allows it"));
  assert_non_null(strstr(why, "security module"));
  nemb_test_rmtree(dir);
}

/* Encodings, scales and units the provider cannot use are skipped; a custom scale is honoured. */
static void test_event_files(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("perf-intel-client", dir, sizeof dir);
  const char *ev = "sys/bus/event_source/devices/power/events/";
  char rel[256];
  snprintf(rel, sizeof rel, "%senergy-cores", ev);
  nemb_test_write(dir, rel, "event=0x01,umask=0x3\n"); /* an encoding RAPL never uses */
  snprintf(rel, sizeof rel, "%senergy-gpu.unit", ev);
  nemb_test_write(dir, rel, "Watts\n");
  snprintf(rel, sizeof rel, "%senergy-psys.scale", ev);
  nemb_test_write(dir, rel, "nonsense\n");
  snprintf(rel, sizeof rel, "%senergy-pkg.scale", ev);
  nemb_test_write(dir, rel, "1e-6\n"); /* one count per microjoule */
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_perf.domains(st, &d), 1);
  assert_string_equal(d[0].name, "package-0");
  fakes[0].count = 123456;
  uint64_t raw[1];
  NEMB_ASSERT_OK(nemb__provider_perf.read(st, 0, raw));
  assert_int_equal(raw[0], 123456);
  nemb__provider_perf.close(st);
  nemb_test_rmtree(dir);
}

/* A failed read returns an error and marks the domain unread. */
static void test_read_failure(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-amd");
  void *st = open_ok();
  uint64_t raw[1] = {777};
  atomic_store(&read_errno, EIO);
  assert_int_equal(nemb__provider_perf.read(st, 0, raw), NEMB_EIO);
  assert_true(raw[0] == NEMB__RAW_INVALID);
  nemb__provider_perf.close(st);
}

/* A Firecracker guest listed energy-psys, opened it, and it read 0 for good (README, "Measured on
 * real hardware"): counters that do not change within the wait are refused with the reason, so
 * the CPU estimate can take their place, and every descriptor is closed (teardown). */
static void test_dead_counters_refused(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-2s");
  nemb__perf_sys.alive_wait_ns = 5000000;
  void *st = NULL;
  assert_int_equal(open_perf(&st), NEMB_ENOTSUP);
  assert_null(st);
  assert_non_null(strstr(why, "counters (package-0, dram-0, package-1, dram-1) did not change in "
                              "5 ms"));
  assert_non_null(strstr(why, "a virtual machine can expose the events without the counters"));
  assert_int_equal(n_fakes, 4);
  /* The same events counting (40 W): accepted at once. */
  n_fakes = 0;
  clock_watts = 40;
  st = open_ok();
  nemb__provider_perf.close(st);
}

/* A counter that stays still through a whole session of over a second (and 100 updates) is
 * named in the report's warnings: its 0 J is no measurement of zero. */
static void test_still_counter_warned(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-amd");
  setenv("CODEGREEN_PROVIDERS", "perf", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  usleep(1100000);
  NEMB_ASSERT_OK(nemb_session_end(s));
  const char *json = nemb_session_report_json(s);
  assert_non_null(json);
  assert_non_null(
      strstr(json, "domain package-0 (perf, update period unknown) never changed in 1."));
  assert_non_null(strstr(json, "its 0 J is no measurement of zero"));
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_PROVIDERS");
}

/* Through a meter and its sampler thread: 40 W per package for ~200 ms. */
static void test_sampler(void **unused) {
  (void)unused;
  nemb_test_use_fixture("perf-intel-2s");
  setenv("CODEGREEN_PROVIDERS", "perf", 1);
  clock_watts = 40;
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  assert_int_equal(nemb_meter_domain_count(m), 4);
  NEMB_ASSERT_OK(nemb_meter_start(m));
  usleep(200000);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  size_t n = nemb_meter_sample_count(m);
  assert_true(n >= 2);
  uint64_t t0, t1, e0[4], e1[4];
  NEMB_ASSERT_OK(nemb_meter_sample(m, 0, &t0, e0, 4));
  NEMB_ASSERT_OK(nemb_meter_sample(m, n - 1, &t1, e1, 4));
  double s = (double)(t1 - t0) / 1e9;
  nemb_sampler_stats stats;
  NEMB_ASSERT_OK(nemb_meter_stats(m, &stats));
  assert_int_equal(stats.read_errors, 0);
  for (int d = 0; d < 4; d++) {
    double w = (double)(e1[d] - e0[d]) / 1e6 / s;
    assert_float_equal(w, 40, 2);
  }
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_intel_2s, setup, teardown),
      cmocka_unit_test_setup_teardown(test_intel_client, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_read_per_package, setup, teardown),
      cmocka_unit_test_setup_teardown(test_group_psys_joins_first_package, setup, teardown),
      cmocka_unit_test_setup_teardown(test_groups_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_amd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_amd_dies_one_event_per_socket, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unsupported_event_is_skipped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixture_with_real_kernel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_permission_paranoid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_permission_security_module, setup, teardown),
      cmocka_unit_test_setup_teardown(test_event_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sampler, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dead_counters_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_still_counter_warned, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void) {
  return 77; /* built without NEMB_WITH_PERF */
}

#endif
