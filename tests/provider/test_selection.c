/*
 * test_selection.c - one counter per domain when several providers see it, and the safe way to
 * let users read the counters.
 *
 * Machines are assembled from the committed fixture trees (powercap, perf and hwmon) with MSR
 * files made here: an Intel server that powercap, perf and msr all see; an AMD EPYC where msr adds
 * per-core domains beside powercap's package; an older Xeon whose DRAM two providers name
 * differently. Checked: which provider each domain is read from, that nothing is counted twice,
 * the start-up cross-check (agreement and disagreement), what `codegreen info` reports, and
 * `codegreen setup-permissions` (its files' exact contents, refusal without root).
 */
#include "nemb_test.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/perf_event.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "meter.h"
#include "msr_decode.h"
#include "perf_sys.h"

/* The selection tests need every CPU provider; the setup-permissions tests need none. */
#if defined(NEMB_WITH_POWERCAP) && defined(NEMB_WITH_PERF) && defined(NEMB_WITH_MSR) &&            \
    defined(NEMB_WITH_HWMON)
#define ALL_CPU_PROVIDERS 1
#else
#define ALL_CPU_PROVIDERS 0
#endif

#if ALL_CPU_PROVIDERS

/* ----- a fake perf kernel (the selection must not open real perf events on fixture trees) ----- */

#include "fake_perf.h"

/* ----- building machines ----- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  assert_int_equal(system(cmd), 0);
}

static void put_msr(const char *dir, unsigned cpu, uint32_t reg, uint64_t value) {
  char path[4096];
  snprintf(path, sizeof path, "%s/dev/cpu/%u", dir, cpu);
  sh("mkdir -p '%s'", path);
  snprintf(path, sizeof path, "%s/dev/cpu/%u/msr", dir, cpu);
  int fd = open(path, O_WRONLY | O_CREAT, 0644);
  assert_true(fd >= 0);
  unsigned char b[8];
  nemb__msr_put_le64(b, value);
  assert_int_equal(pwrite(fd, b, sizeof b, (off_t)reg), 8);
  assert_int_equal(close(fd), 0);
}

static void put_byte(const char *dir, unsigned cpu, uint32_t offset, unsigned char byte) {
  char path[4096];
  snprintf(path, sizeof path, "%s/dev/cpu/%u/msr", dir, cpu);
  int fd = open(path, O_WRONLY | O_CREAT, 0644);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, &byte, 1, (off_t)offset), 1);
  assert_int_equal(close(fd), 0);
}

/* Topology of SOCKETS x CORES x THREADS CPUs, numbered as on x86 Linux. */
static void put_topology(const char *dir, unsigned sockets, unsigned cores, unsigned threads) {
  unsigned cpu = 0;
  for (unsigned t = 0; t < threads; t++) {
    for (unsigned s = 0; s < sockets; s++) {
      for (unsigned c = 0; c < cores; c++, cpu++) {
        sh("d='%s/sys/devices/system/cpu/cpu%u/topology'; mkdir -p \"$d\" && echo %u >\"$d/"
           "physical_package_id\" && echo %u >\"$d/core_id\" && echo 0 >\"$d/die_id\"",
           dir, cpu, s, c);
      }
    }
  }
}

/* The two-socket Skylake-SP of intel-server-2s, seen through powercap, perf and msr. */
static void intel_server(char *dir, size_t len) {
  nemb_test_copy_fixture("intel-server-2s", dir, len);
  sh("cp -a '%s/perf-intel-2s/.' '%s/'", nemb_test_fixtures(), dir);
  for (unsigned cpu = 0; cpu <= 2; cpu += 2) {
    put_msr(dir, cpu, NEMB__MSR_RAPL_POWER_UNIT, 0xA0E03);
    put_msr(dir, cpu, NEMB__MSR_PKG_ENERGY_STATUS, 123456);
    put_msr(dir, cpu, NEMB__MSR_DRAM_ENERGY_STATUS, 65432);
  }
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
}

static nemb_config *config(const char *json) {
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(json, "test", &cfg));
  return cfg;
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

static int setup(void **state) {
  (void)state;
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_NVML_LIB");
  nemb__perf_sys = fake_sys;
  fake_perf_reset();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nemb__perf_sys = nemb__perf_sys_real;
  unsetenv("CODEGREEN_SYSFS_ROOT");
  return 0;
}

/* ----- pure rules ----- */

static void test_same_domain(void **unused) {
  (void)unused;
  assert_true(nemb__same_domain("package-0", "package-0"));
  assert_true(nemb__same_domain("dram", "dram-0")); /* one socket: bare name = socket 0 */
  assert_true(nemb__same_domain("core-0", "core"));
  assert_true(nemb__same_domain("uncore", "uncore-0"));
  assert_false(nemb__same_domain("dram", "dram-1"));
  assert_false(nemb__same_domain("core", "core0")); /* PP0 is not AMD core 0 */
  assert_false(nemb__same_domain("package-0", "package-1"));
  assert_false(nemb__same_domain("psys", "package-0"));
}

static void test_verdict(void **unused) {
  (void)unused;
  assert_int_equal(nemb__xcheck_verdict(0, 0), NEMB__XCHECK_AGREE);
  assert_int_equal(nemb__xcheck_verdict(50, 54), NEMB__XCHECK_AGREE);    /* 7.4 % */
  assert_int_equal(nemb__xcheck_verdict(50, 56), NEMB__XCHECK_DISAGREE); /* 10.7 % */
  assert_int_equal(nemb__xcheck_verdict(2, 2.9), NEMB__XCHECK_AGREE);    /* < 1 W */
  assert_int_equal(nemb__xcheck_verdict(0, 40), NEMB__XCHECK_DISAGREE);
  assert_int_equal(nemb__xcheck_verdict(40, 10), NEMB__XCHECK_DISAGREE); /* a unit off by 4 */
}

/* ----- selection ----- */

/* powercap, perf and msr all see the four domains: each is read from perf only (64-bit: no wrap
 * to miss), the other two providers are closed, and every overlap is recorded. */
static void test_intel_counted_once(void **unused) {
  (void)unused;
  char dir[4096];
  intel_server(dir, sizeof dir);
  nemb_config *cfg = config("{\"providers\":{\"cross_check_ms\":0}}");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:perf,dram-0:perf,package-1:perf,dram-1:perf");
  assert_int_equal(m->n_providers, 1);
  assert_int_equal(m->n_overlaps, 8);
  static const char *const doms[] = {"package-0", "dram-0", "package-1", "dram-1"};
  for (size_t o = 0; o < 8; o++) {
    const nemb__overlap *ov = &m->overlaps[o];
    assert_string_equal(ov->domain, doms[o % 4]);
    assert_string_equal(ov->used, "perf");
    assert_string_equal(ov->other, o < 4 ? "powercap" : "msr");
    assert_int_equal(ov->verdict, NEMB__XCHECK_SKIPPED);
  }
  assert_int_equal(n_fakes, 4); /* perf opened its events, and closes them with the provider */
  nemb_meter_destroy(m);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* The cross-check: all three read 0 W (static fixtures) and agree; then perf reads 40 W where
 * the others read 0 W, and the disagreement is recorded, perf still used. */
static void test_cross_check(void **unused) {
  (void)unused;
  char dir[4096];
  intel_server(dir, sizeof dir);
  nemb_config *cfg = config("{\"providers\":{\"cross_check_ms\":30}}");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  assert_int_equal(m->n_overlaps, 8);
  for (size_t o = 0; o < 8; o++) {
    assert_int_equal(m->overlaps[o].verdict, NEMB__XCHECK_AGREE);
    assert_int_equal(m->overlaps[o].window_ns, 30000000);
    assert_non_null(strstr(m->overlaps[o].note, "agree: 0.00 W and 0.00 W over 30 ms"));
  }
  nemb_meter_destroy(m);

  clock_watts = 40;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:perf,dram-0:perf,package-1:perf,dram-1:perf");
  for (size_t o = 0; o < 8; o++) {
    const nemb__overlap *ov = &m->overlaps[o];
    assert_int_equal(ov->verdict, NEMB__XCHECK_DISAGREE); /* perf 40 W, the others 0 W */
    assert_float_equal(ov->used_w, 40, 4);
    assert_non_null(strstr(ov->note, "DISAGREE: perf reads"));
  }
  nemb_meter_destroy(m);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* Forcing two providers that see the same domain is still refused: it would count it twice. */
static void test_forced_overlap_refused(void **unused) {
  (void)unused;
  char dir[4096];
  intel_server(dir, sizeof dir);
  setenv("CODEGREEN_PROVIDERS", "perf,msr", 1);
  nemb_meter *m = NULL;
  assert_int_equal(nemb_meter_create(nemb__config_defaults(), &m), NEMB_ECONFIG);
  assert_non_null(strstr(nemb_last_error(), "package-0 is reported by both perf and msr"));
  setenv("CODEGREEN_PROVIDERS", "msr", 1); /* alone, it is fine */
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:msr,dram-0:msr,package-1:msr,dram-1:msr");
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
  nemb_test_rmtree(dir);
}

/* AMD EPYC: powercap has the package; msr has it too plus per-core energy; amd_energy (hwmon)
 * has both. The package comes from powercap, the cores from msr through a filtered view (its own
 * package hidden), hwmon is closed; the package lists the cores msr knew it contains. */
static void test_amd_partial_overlap(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("amd-epyc", dir, sizeof dir);
  sh("cp -a '%s/hwmon-amd/.' '%s/'", nemb_test_fixtures(), dir);
  put_topology(dir, 1, 4, 2);
  /* CPU 0's unit, core and package registers are adjacent offsets (0xC0010299, 9A, 9B): a flat
   * file cannot hold three independent 8-byte values there, so CPU 0 gets the package written
   * first, then the unit's two low bytes (ESU 16) on top, and its core count is what those same
   * bytes read as: 0x10 | (package & 0xFFFFFF) << 8. The other CPUs hold only their core. */
  put_msr(dir, 0, NEMB__MSR_AMD_PKG_ENERGY_STATUS, 999 * 65536);
  put_byte(dir, 0, NEMB__MSR_AMD_RAPL_POWER_UNIT, 0x03);
  put_byte(dir, 0, NEMB__MSR_AMD_RAPL_POWER_UNIT + 1, 0x10);
  for (unsigned c = 1; c < 4; c++) {
    put_msr(dir, c, NEMB__MSR_AMD_CORE_ENERGY_STATUS, (c + 1) * 65536);
  }
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  nemb_config *cfg = config("{\"providers\":{\"cross_check_ms\":0}}");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:powercap,core0:msr,core1:msr,core2:msr,core3:msr");
  assert_int_equal(m->n_providers, 2);
  assert_string_equal(m->providers[1].ops->name, "msr");
  nemb_domain_info d;
  NEMB_ASSERT_OK(nemb_meter_domain(m, 0, &d));
  assert_int_equal(d.n_includes, 4);
  assert_string_equal(d.includes[0], "core0");
  assert_string_equal(d.includes[3], "core3");
  /* 1 msr package + 4 hwmon cores + 1 hwmon package. */
  assert_int_equal(m->n_overlaps, 6);
  assert_string_equal(m->overlaps[0].used, "powercap");
  assert_string_equal(m->overlaps[0].other, "msr");
  assert_string_equal(m->overlaps[1].used, "msr");
  assert_string_equal(m->overlaps[1].other, "hwmon");
  /* The filtered view hands on exactly the kept domains' readings. */
  nemb__meter_read(m, nemb_now_ns());
  assert_int_equal(m->raw[0], 41093371712ULL); /* powercap's energy_uj */
  uint64_t core0 = 0x10 | ((999ULL * 65536) & 0xFFFFFF) << 8;
  assert_int_equal(m->raw[1], nemb__msr_count_uj(core0, nemb__msr_unit_from_esu(16)));
  for (unsigned c = 1; c < 4; c++) {
    assert_int_equal(m->raw[1 + c], (c + 1) * 1000000ULL);
  }
  nemb_sampler_stats st;
  NEMB_ASSERT_OK(nemb_meter_start(m));
  usleep(20000);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  NEMB_ASSERT_OK(nemb_meter_stats(m, &st));
  assert_int_equal(st.read_errors, 0);
  nemb_meter_destroy(m);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* Issue 10, item 7: a machine whose only RAPL counter is psys (the platform): psys is the
 * total, measured, rather than a CPU-time estimate beside a measured psys. */
static void test_psys_only(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("intel-client", dir, sizeof dir);
  sh("rm -f '%s'/sys/class/powercap/intel-rapl:0 '%s'/sys/class/powercap/intel-rapl:0:* "
     "'%s'/sys/class/powercap/intel-rapl-mmio:0",
     dir, dir, dir);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  nemb_config *cfg = config("{\"providers\":{\"cross_check_ms\":0}}");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "psys:powercap");
  nemb_domain_info d;
  NEMB_ASSERT_OK(nemb_meter_domain(m, 0, &d));
  assert_true(d.in_total);
  assert_false(nemb_meter_is_estimated(m));
  nemb_meter_destroy(m);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* An older Xeon: powercap calls its DRAM zone "dram-0", msr on one socket says "dram". The same
 * counter: read once, from powercap. */
static void test_names_that_differ(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("intel-xeon-old", dir, sizeof dir);
  put_topology(dir, 1, 4, 1);
  put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, 0xA1003);
  put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 1000);
  put_msr(dir, 0, NEMB__MSR_PP0_ENERGY_STATUS, 500);
  put_msr(dir, 0, NEMB__MSR_DRAM_ENERGY_STATUS, 200);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  nemb_config *cfg = config("{\"providers\":{\"cross_check_ms\":0}}");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  char names[512];
  domain_names(m, names, sizeof names);
  assert_string_equal(names, "package-0:powercap,core:powercap,dram-0:powercap");
  assert_int_equal(m->n_overlaps, 3);
  assert_string_equal(m->overlaps[2].domain, "dram-0");
  assert_string_equal(m->overlaps[2].other_name, "dram");
  nemb_meter_destroy(m);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* ----- what `codegreen info` gets ----- */

static json_t *describe(const nemb_config *cfg) {
  char *text = NULL;
  NEMB_ASSERT_OK(nemb_describe_json(cfg, &text));
  json_error_t err;
  json_t *doc = json_loads(text, 0, &err);
  nemb_free(text);
  assert_non_null(doc);
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
  fail_msg("no provider %s", name);
  return NULL;
}

static void test_describe_counted_once(void **unused) {
  (void)unused;
  char dir[4096];
  intel_server(dir, sizeof dir);
  nemb_config *cfg = config("{\"providers\":{\"cross_check_ms\":20}}");
  json_t *doc = describe(cfg);
  json_t *pref = json_object_get(doc, "preference");
  assert_int_equal(json_array_size(pref), 5);
  assert_string_equal(json_string_value(json_array_get(pref, 0)), "perf");
  assert_string_equal(json_string_value(json_array_get(pref, 1)), "powercap");
  assert_string_equal(json_string_value(json_array_get(pref, 2)), "msr");
  assert_string_equal(json_string_value(json_array_get(pref, 3)), "hwmon");
  assert_string_equal(json_string_value(json_array_get(pref, 4)), "nvml");
  json_t *sel = json_object_get(doc, "selection");
  assert_int_equal(json_array_size(json_object_get(sel, "domains")), 4);
  json_t *once = json_object_get(sel, "counted_once");
  assert_int_equal(json_array_size(once), 8);
  json_t *first = json_array_get(once, 0);
  assert_string_equal(json_string_value(json_object_get(first, "domain")), "package-0");
  assert_string_equal(json_string_value(json_object_get(first, "used")), "perf");
  assert_string_equal(json_string_value(json_object_get(first, "also_seen_by")), "powercap");
  json_t *check = json_object_get(first, "cross_check");
  assert_string_equal(json_string_value(json_object_get(check, "verdict")), "agree");
  assert_float_equal(json_number_value(json_object_get(check, "window_ms")), 20, 0.001);
  assert_true(json_is_number(json_object_get(check, "used_w")));
  json_t *d0 = json_array_get(json_object_get(provider(doc, "msr"), "domains"), 0);
  assert_string_equal(json_string_value(json_object_get(d0, "method")), "energy_counter");
  assert_string_equal(json_string_value(json_object_get(d0, "detail")), "MSR 0x611 on CPU 0");
  assert_true(json_is_null(json_object_get(doc, "permission_fix")));
  json_decref(doc);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* perf refused and no powercap: the provider and the whole description point to the fix. */
static void test_describe_points_to_setup_permissions(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_copy_fixture("estimate", dir, sizeof dir);
  sh("cp -a '%s/perf-intel-2s/.' '%s/'", nemb_test_fixtures(), dir);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  open_errno = EACCES;
  json_t *doc = describe(nemb__config_defaults());
  json_t *perf = provider(doc, "perf");
  assert_string_equal(json_string_value(json_object_get(perf, "status")), "permission");
  assert_string_equal(json_string_value(json_object_get(perf, "fix")),
                      "sudo codegreen setup-permissions --perf");
  assert_string_equal(json_string_value(json_object_get(doc, "permission_fix")),
                      "sudo codegreen setup-permissions --perf");
  assert_true(json_is_null(json_object_get(provider(doc, "powercap"), "fix")));
  json_decref(doc);
  nemb_test_rmtree(dir);
}

#endif /* ALL_CPU_PROVIDERS */

/* Runs the codegreen executable, optionally as nobody, and returns its exit status with its
 * output in @p out. Returns -77 when the test cannot drop privileges or run it. */
static int run_cli(const char *args, bool as_nobody, char *out, size_t len) {
  const char *bin = getenv("CODEGREEN_BIN");
  if (bin == NULL) {
    return -77;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/cg-out-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    if (as_nobody && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      _exit(177);
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exec '%s' %s", bin, args);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(178);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  ssize_t n = pread(fd, out, len - 1, 0);
  out[n > 0 ? n : 0] = '\0';
  close(fd);
  unlink(path);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (code == 177 || code == 126 || code == 127) {
    print_message("  cannot run %s as requested (%d): %s\n", bin, code, out);
    return -77;
  }
  return code;
}

#if ALL_CPU_PROVIDERS
/* `codegreen info` for a user who may not read the powercap counters points to the fix. */
static void test_info_points_to_setup_permissions(void **unused) {
  (void)unused;
  if (geteuid() != 0) {
    skip(); /* needs a user who cannot read what root can */
  }
  char dir[4096];
  nemb_test_copy_fixture("unreadable", dir, sizeof dir);
  sh("find '%s/sys/devices' -name energy_uj -exec chmod 0400 {} +", dir);
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
  static char out[65536];
  int rc = run_cli("info", true, out, sizeof out);
  nemb_test_rmtree(dir);
  if (rc == -77) {
    skip();
  }
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "permission: The RAPL energy counters exist"));
  assert_non_null(strstr(out, "fix: `sudo codegreen setup-permissions`, then log in again"));
  assert_non_null(strstr(out, "run `sudo codegreen setup-permissions`"));
}

#endif /* ALL_CPU_PROVIDERS */

/* ----- codegreen setup-permissions ----- */

static const char tmpfiles_expected[] =
    "# Written by `codegreen setup-permissions`: members of group cgtest may read the energy\n"
    "# counters. Mode 0440 root:cgtest: the kernel keeps them root-only since Linux 5.10\n"
    "# (CVE-2020-8694, PLATYPUS) and this only widens that to one group; never make them\n"
    "# world-readable. sysfs modes are reset at boot; systemd-tmpfiles reapplies these lines.\n"
    "z /sys/class/powercap/intel-rapl:*/energy_uj 0440 root cgtest -\n"
    "z /sys/class/powercap/intel-rapl:*:*/energy_uj 0440 root cgtest -\n";
static const char tmpfiles_msr_expected[] =
    "# MSR devices (--msr): group read; the kernel also demands CAP_SYS_RAWIO.\n"
    "z /dev/cpu/*/msr 0640 root cgtest -\n";
static const char udev_expected[] =
    "# Written by `codegreen setup-permissions`: members of group cgtest may read the energy\n"
    "# counters whenever they (re)appear: the RAPL module loaded after boot, CPU hotplug.\n"
    "# Never world-readable (CVE-2020-8694).\n"
    "ACTION==\"add\", SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
    "RUN+=\"/bin/chgrp cgtest /sys%p/energy_uj\", RUN+=\"/bin/chmod 0440 /sys%p/energy_uj\"\n"
    "ACTION==\"add\", SUBSYSTEM==\"hwmon\", ATTR{name}==\"amd_energy|zenergy\", "
    "RUN+=\"/bin/sh -c '/bin/chgrp cgtest /sys%p/energy*_input; "
    "/bin/chmod 0440 /sys%p/energy*_input'\"\n";
static const char udev_msr_expected[] =
    "# MSR devices (--msr): group read; the kernel also demands CAP_SYS_RAWIO.\n"
    "ACTION==\"add\", SUBSYSTEM==\"msr\", KERNEL==\"msr[0-9]*\", GROUP=\"cgtest\", "
    "MODE=\"0640\"\n";
static const char modules_expected[] =
    "# Written by `codegreen setup-permissions --msr`: the MSR device driver, loaded at boot.\n"
    "msr\n";

static void read_file(const char *dir, const char *rel, char *out, size_t len) {
  char path[8192];
  snprintf(path, sizeof path, "%s%s", dir, rel);
  out[0] = '\0';
  FILE *fp = fopen(path, "r");
  if (fp == NULL) {
    fail_msg("%s was not written", path);
  }
  size_t n = fread(out, 1, len - 1, fp);
  out[n] = '\0';
  fclose(fp);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 07777, 0644);
}

/* Only modes that keep the counters from other users, never a world-readable one. */
static void assert_never_world_readable(const char *text) {
  assert_null(strstr(text, "0444"));
  assert_null(strstr(text, "0644 root"));
  assert_null(strstr(text, "0664"));
  assert_null(strstr(text, "a+r"));
  assert_null(strstr(text, "o+r"));
}

static void test_setup_permissions_files(void **unused) {
  (void)unused;
  if (geteuid() != 0) {
    skip(); /* the command requires root, even with --root */
  }
  char dir[4096];
  nemb_test_mkdtemp(dir, sizeof dir);
  static char out[16384];
  char args[8192];
  snprintf(args, sizeof args, "setup-permissions --root '%s' --group cgtest", dir);
  int rc = run_cli(args, false, out, sizeof out);
  if (rc == -77) {
    nemb_test_rmtree(dir);
    skip();
  }
  print_message("%s", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "Nothing was applied (--root)"));
  char text[8192];
  read_file(dir, "/etc/tmpfiles.d/codegreen.conf", text, sizeof text);
  assert_string_equal(text, tmpfiles_expected);
  assert_never_world_readable(text);
  read_file(dir, "/etc/udev/rules.d/60-codegreen.rules", text, sizeof text);
  assert_string_equal(text, udev_expected);
  assert_never_world_readable(text);
  char path[8192];
  snprintf(path, sizeof path, "%s/etc/modules-load.d/codegreen.conf", dir);
  assert_int_equal(access(path, F_OK), -1); /* no --msr, no msr module */
  nemb_test_rmtree(dir);

  /* With --msr and --perf: the MSR lines and module; the capability is described, not set. */
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(args, sizeof args, "setup-permissions --root '%s' --group cgtest --msr --perf", dir);
  assert_int_equal(run_cli(args, false, out, sizeof out), 0);
  assert_non_null(strstr(out, "would give this codegreen executable CAP_PERFMON"));
  char expected[8192];
  read_file(dir, "/etc/tmpfiles.d/codegreen.conf", text, sizeof text);
  snprintf(expected, sizeof expected, "%s%s", tmpfiles_expected, tmpfiles_msr_expected);
  assert_string_equal(text, expected);
  read_file(dir, "/etc/udev/rules.d/60-codegreen.rules", text, sizeof text);
  snprintf(expected, sizeof expected, "%s%s", udev_expected, udev_msr_expected);
  assert_string_equal(text, expected);
  assert_never_world_readable(text);
  read_file(dir, "/etc/modules-load.d/codegreen.conf", text, sizeof text);
  assert_string_equal(text, modules_expected);
  nemb_test_rmtree(dir);
}

/* Without root it refuses politely and changes nothing, whatever the options. */
static void test_setup_permissions_refused_without_root(void **unused) {
  (void)unused;
  char dir[4096];
  nemb_test_mkdtemp(dir, sizeof dir);
  static char out[16384];
  char args[8192];
  snprintf(args, sizeof args, "setup-permissions --root '%s'", dir);
  int rc = run_cli(args, geteuid() == 0, out, sizeof out);
  if (rc == -77) {
    nemb_test_rmtree(dir);
    skip();
  }
  print_message("  %s", out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "must be run as root: `sudo codegreen setup-permissions`"));
  assert_non_null(strstr(out, "Nothing was changed."));
  char path[8192];
  snprintf(path, sizeof path, "%s/etc", dir);
  assert_int_equal(access(path, F_OK), -1);
  nemb_test_rmtree(dir);
}

static void test_setup_permissions_usage(void **unused) {
  (void)unused;
  static char out[16384];
  int rc = run_cli("setup-permissions --group 'Bad;name'", false, out, sizeof out);
  if (rc == -77) {
    skip();
  }
  assert_int_equal(rc, 2);
  assert_non_null(strstr(out, "is not a usable group name"));
  assert_int_equal(run_cli("setup-permissions --root relative/dir", false, out, sizeof out), 2);
  assert_int_equal(run_cli("setup-permissions --bogus", false, out, sizeof out), 2);
  assert_int_equal(run_cli("setup-permissions --help", false, out, sizeof out), 0);
  assert_non_null(strstr(out, "CVE-2020-8694"));
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
#if ALL_CPU_PROVIDERS
    cmocka_unit_test(test_same_domain),
    cmocka_unit_test(test_verdict),
    cmocka_unit_test_setup_teardown(test_intel_counted_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cross_check, setup, teardown),
    cmocka_unit_test_setup_teardown(test_forced_overlap_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_amd_partial_overlap, setup, teardown),
    cmocka_unit_test_setup_teardown(test_psys_only, setup, teardown),
    cmocka_unit_test_setup_teardown(test_names_that_differ, setup, teardown),
    cmocka_unit_test_setup_teardown(test_describe_counted_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_describe_points_to_setup_permissions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_info_points_to_setup_permissions, setup, teardown),
#endif
    cmocka_unit_test(test_setup_permissions_files),
    cmocka_unit_test(test_setup_permissions_refused_without_root),
    cmocka_unit_test(test_setup_permissions_usage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
