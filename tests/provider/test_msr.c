/*
 * test_msr.c - the MSR provider: its pure decoding (units, masks, wrap ranges, model tables) on
 * its own, then the provider against machine trees made here at test time: /proc/cpuinfo, CPU
 * topology, and /dev/cpu/N/msr files holding each register at its number as the file offset.
 * AMD registers sit near 3.2 GB, so those files are sparse, written with pwrite, never committed.
 */
#include <math.h>

#include "nemb_test.h"

#ifdef NEMB_WITH_MSR

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "msr_decode.h"
#include "unwrap.h"

extern const struct nemb__provider_ops nemb__provider_msr;

#define INTEL_UNIT_REG 0xA0E03ULL /* ESU 14: 61.035 uJ, the usual Intel value */
#define AMD_UNIT_REG 0xA1003ULL   /* ESU 16: 15.26 uJ, the usual AMD Zen value */
#define INTEL_RANGE 262144000000ULL
#define AMD_RANGE 65536000000ULL
#define DRAM_RANGE 65712999628ULL /* 2^32 x 15.3 uJ, rounded down */

static char why[1024];

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

/* A machine of SOCKETS x CORES x THREADS CPUs numbered as on x86 Linux (thread 0 of every core
 * first), with an empty /dev/cpu/N/msr for each. */
static void make_machine(char *dir, size_t len, const char *vendor, unsigned family, unsigned model,
                         unsigned sockets, unsigned cores, unsigned threads) {
  nemb_test_mkdtemp(dir, len);
  sh("mkdir -p '%s/proc' '%s/dev/cpu'", dir, dir);
  char info[512];
  snprintf(info, sizeof info,
           "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %u\nmodel\t\t: %u\n"
           "model name\t: Test CPU\nstepping\t: 1\n\n",
           vendor, family, model);
  nemb_test_write(dir, "proc/cpuinfo", info);
  unsigned cpu = 0;
  for (unsigned t = 0; t < threads; t++) {
    for (unsigned s = 0; s < sockets; s++) {
      for (unsigned c = 0; c < cores; c++, cpu++) {
        char rel[256];
        char v[16];
        sh("mkdir -p '%s/sys/devices/system/cpu/cpu%u/topology' '%s/dev/cpu/%u'", dir, cpu, dir,
           cpu);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%u/topology/physical_package_id", cpu);
        snprintf(v, sizeof v, "%u\n", s);
        nemb_test_write(dir, rel, v);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%u/topology/core_id", cpu);
        snprintf(v, sizeof v, "%u\n", c);
        nemb_test_write(dir, rel, v);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%u/topology/die_id", cpu);
        nemb_test_write(dir, rel, "0\n");
        snprintf(rel, sizeof rel, "dev/cpu/%u/msr", cpu);
        nemb_test_write(dir, rel, "");
      }
    }
  }
  setenv("CODEGREEN_SYSFS_ROOT", dir, 1);
}

/* Puts one register into CPU @p cpu's msr file, little-endian at offset @p reg. */
static void put_msr(const char *dir, unsigned cpu, uint32_t reg, uint64_t value) {
  char path[8192];
  snprintf(path, sizeof path, "%s/dev/cpu/%u/msr", dir, cpu);
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  unsigned char b[8];
  nemb__msr_put_le64(b, value);
  assert_int_equal(pwrite(fd, b, sizeof b, (off_t)reg), 8);
  assert_int_equal(close(fd), 0);
}

/* The AMD unit register's two low bytes (ESU 16), without touching the bytes after them. */
static void put_amd_unit(const char *dir, unsigned cpu) {
  char path[8192];
  snprintf(path, sizeof path, "%s/dev/cpu/%u/msr", dir, cpu);
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  unsigned char b[2] = {(unsigned char)(AMD_UNIT_REG & 0xff), (unsigned char)(AMD_UNIT_REG >> 8)};
  assert_int_equal(pwrite(fd, b, 2, (off_t)NEMB__MSR_AMD_RAPL_POWER_UNIT), 2);
  assert_int_equal(close(fd), 0);
}

static int open_msr_cfg(const nemb_config *cfg, void **st) {
  nemb__provider_env env = {cfg};
  why[0] = '\0';
  return nemb__provider_msr.open(&env, st, why, sizeof why);
}

static int open_msr(void **st) {
  return open_msr_cfg(nemb__config_defaults(), st);
}

static void *open_ok(void) {
  void *st = NULL;
  int rc = open_msr(&st);
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
  uint64_t range_uj;
  uint64_t raw_uj;
  const char *detail;
} expect;

static void check(void *st, const expect *exp, size_t n) {
  const nemb__domain *d;
  size_t got = nemb__provider_msr.domains(st, &d);
  for (size_t i = 0; got != n && i < got; i++) {
    print_error("  domain %zu: %s\n", i, d[i].name);
  }
  assert_int_equal(got, n);
  uint64_t raw[NEMB__MAX_DOMAINS];
  NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, raw));
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
    assert_int_equal(d[i].range_uj, exp[i].range_uj);
    assert_int_equal(raw[i], exp[i].raw_uj);
    assert_string_equal(d[i].method, NEMB__METHOD_COUNTER);
    assert_string_equal(d[i].detail, exp[i].detail);
  }
}

/* ----- pure decoding ----- */

static void test_decode_units(void **unused) {
  (void)unused;
  assert_int_equal(nemb__msr_esu(INTEL_UNIT_REG), 14);
  assert_int_equal(nemb__msr_esu(AMD_UNIT_REG), 16);
  assert_int_equal(nemb__msr_esu(0xFFFFE0FFULL), 0); /* only bits 12:8 */
  assert_int_equal(nemb__msr_esu(0x1F00ULL), 31);

  nemb__msr_unit intel = nemb__msr_unit_from_esu(14);
  assert_int_equal(nemb__msr_count_uj(16384, intel), 1000000); /* 2^14 units = 1 J */
  assert_int_equal(nemb__msr_count_uj(1, intel), 61);          /* 61.03515625, rounded down */
  assert_int_equal(nemb__msr_range_uj(intel), INTEL_RANGE);
  assert_int_equal(nemb__msr_count_uj(0xFFFFFFFFULL, intel), INTEL_RANGE - 62);

  nemb__msr_unit amd = nemb__msr_unit_from_esu(16);
  assert_int_equal(nemb__msr_count_uj(65536, amd), 1000000);
  assert_int_equal(nemb__msr_range_uj(amd), AMD_RANGE);

  nemb__msr_unit dram = nemb__msr_unit_dram_fixed();
  assert_int_equal(nemb__msr_count_uj(10, dram), 153);
  assert_int_equal(nemb__msr_range_uj(dram), DRAM_RANGE);

  nemb__msr_unit joule = nemb__msr_unit_joule();
  assert_int_equal(nemb__msr_count_uj(3, joule), 3000000);
  assert_int_equal(nemb__msr_range_uj(joule), 4294967296000000ULL);
}

static void test_decode_counter_and_bytes(void **unused) {
  (void)unused;
  /* Bits 63:32 of an energy-status register are reserved: never part of the count. */
  assert_int_equal(nemb__msr_count(0xDEADBEEF00000005ULL), 5);
  assert_int_equal(nemb__msr_count_uj(0xDEADBEEF00004000ULL, nemb__msr_unit_from_esu(14)), 1000000);
  unsigned char b[8] = {0x03, 0x0E, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x80};
  assert_int_equal(nemb__msr_le64(b), 0x80000000000A0E03ULL);
  unsigned char out[8];
  nemb__msr_put_le64(out, 0x0102030405060708ULL);
  assert_int_equal(out[0], 0x08);
  assert_int_equal(out[7], 0x01);
  assert_int_equal(nemb__msr_le64(out), 0x0102030405060708ULL);
}

static void test_decode_model_tables(void **unused) {
  (void)unused;
  assert_true(nemb__msr_intel_fixed_dram_unit(6, 0x55)); /* Skylake-SP / Cascade Lake */
  assert_true(nemb__msr_intel_fixed_dram_unit(6, 0x3F)); /* Haswell-EP */
  /* Sapphire Rapids and later: DRAM in MSR 0x606's unit (Linux rapl_defaults_spr_server). */
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0x8F));
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0xCF));
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0xAD));
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0xAE));
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0xAF));
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0x8C)); /* Tiger Lake (client) */
  assert_false(nemb__msr_intel_fixed_dram_unit(6, 0x2D)); /* Sandy Bridge-EP: ESU unit */
  assert_false(nemb__msr_intel_fixed_dram_unit(15, 0x55));
  assert_true(nemb__msr_intel_psys_joule_unit(6, 0x8F));
  assert_false(nemb__msr_intel_psys_joule_unit(6, 0x55));
}

/* ----- the provider ----- */

static void test_ops(void **unused) {
  (void)unused;
  assert_string_equal(nemb__provider_msr.name, "msr");
  assert_true(nemb__provider_msr.measured);
  assert_int_equal(nemb__provider_msr.update_interval_ns(NULL), 1000000);
  nemb__provider_msr.close(NULL);
}

/* A Tiger Lake laptop: package, PP0, PP1 and psys; no DRAM register (it reads 0). */
static void test_intel_client(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "GenuineIntel", 6, 140, 1, 4, 2);
  put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
  put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 1000000);
  put_msr(dir, 0, NEMB__MSR_PP0_ENERGY_STATUS, 500000);
  put_msr(dir, 0, NEMB__MSR_PP1_ENERGY_STATUS, 16384);
  put_msr(dir, 0, NEMB__MSR_PLATFORM_ENERGY_STATUS, 2000000);
  void *st = open_ok();
  static const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {"core", "uncore"},
       INTEL_RANGE,
       61035156,
       "MSR 0x611 on CPU 0"},
      {"core",
       NEMB__KIND_NESTED,
       false,
       false,
       {NULL},
       INTEL_RANGE,
       30517578,
       "MSR 0x639 on CPU 0"},
      {"uncore",
       NEMB__KIND_NESTED,
       false,
       false,
       {NULL},
       INTEL_RANGE,
       1000000,
       "MSR 0x641 on CPU 0"},
      {"psys",
       NEMB__KIND_PLATFORM,
       true,
       false,
       {"package-0", "core", "uncore"},
       INTEL_RANGE,
       122070312,
       "MSR 0x64D on CPU 0"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp));
  nemb__provider_msr.close(st);
  nemb_test_rmtree(dir);
}

/* A two-socket Skylake-SP: read on CPU 0 and CPU 2 (the first of socket 1); DRAM in the fixed
 * 15.3 uJ unit whatever the unit register says; names as powercap gives them. */
static void test_intel_server(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "GenuineIntel", 6, 85, 2, 2, 2);
  for (unsigned cpu = 0; cpu <= 2; cpu += 2) {
    put_msr(dir, cpu, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
    put_msr(dir, cpu, NEMB__MSR_PKG_ENERGY_STATUS, 16384 * (cpu + 1));
    put_msr(dir, cpu, NEMB__MSR_DRAM_ENERGY_STATUS, 1000 * (cpu + 1));
  }
  put_msr(dir, 1, NEMB__MSR_PKG_ENERGY_STATUS, 99); /* a sibling CPU: never read */
  void *st = open_ok();
  static const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       INTEL_RANGE,
       1000000,
       "MSR 0x611 on CPU 0"},
      {"dram-0", NEMB__KIND_DRAM, true, true, {NULL}, DRAM_RANGE, 15300, "MSR 0x619 on CPU 0"},
      {"package-1",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {NULL},
       INTEL_RANGE,
       3000000,
       "MSR 0x611 on CPU 2"},
      {"dram-1", NEMB__KIND_DRAM, true, true, {NULL}, DRAM_RANGE, 45900, "MSR 0x619 on CPU 2"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp));
  nemb__provider_msr.close(st);
  nemb_test_rmtree(dir);
}

/* Issue 10, 4c: a Sapphire Rapids (model 143) with DRAM at 10 W for one second: 10 J, read in
 * the unit of MSR 0x606 (61.035 uJ), not the fixed 15.3 uJ that made it 2.51 J; Haswell-EP
 * (model 63) keeps the fixed 15.3 uJ. */
static void test_dram_unit_by_model(void **unused) {
  (void)unused;
  static const struct {
    unsigned model;
    double uj_per_unit;
  } cases[] = {{143, 1e6 / 16384}, {63, 15.3}};
  for (size_t c = 0; c < NEMB__ARRAY_LEN(cases); c++) {
    char dir[4096];
    make_machine(dir, sizeof dir, "GenuineIntel", 6, cases[c].model, 1, 2, 1);
    put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
    put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 1000);
    put_msr(dir, 0, NEMB__MSR_DRAM_ENERGY_STATUS, 1000);
    void *st = open_ok();
    const nemb__domain *d;
    size_t n = nemb__provider_msr.domains(st, &d);
    size_t dram = n;
    for (size_t i = 0; i < n; i++) {
      dram = strcmp(d[i].kind, NEMB__KIND_DRAM) == 0 ? i : dram;
    }
    assert_true(dram < n);
    uint64_t a[8], b[8];
    NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, a));
    /* 10 J in the counter's true unit */
    uint64_t units = (uint64_t)llround(10e6 / cases[c].uj_per_unit);
    put_msr(dir, 0, NEMB__MSR_DRAM_ENERGY_STATUS, 1000 + units);
    NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, b));
    double joules = (double)(b[dram] - a[dram]) / 1e6;
    assert_true(fabs(joules - 10.0) < 0.001);
    nemb__provider_msr.close(st);
    nemb_test_rmtree(dir);
  }
}

/* An AMD EPYC: package on the first CPU, per-core energy on one thread of each core, nested. */
static void test_amd(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "AuthenticAMD", 25, 1, 1, 4, 2);
  /* The unit, core and package registers are adjacent offsets (0xC0010299, 9A, 9B). The device
   * answers each with its own 8 bytes, but a flat file cannot hold three independent 8-byte
   * values there: CPU 0 gets the package written first, then the unit's two low bytes (ESU 16)
   * on top, and its core register is what those same bytes read as. */
  put_msr(dir, 0, NEMB__MSR_AMD_PKG_ENERGY_STATUS, 10 * 65536);
  put_amd_unit(dir, 0);
  uint64_t core0 = 0x10 | ((10ULL * 65536) & 0xFFFFFF) << 8;
  for (unsigned c = 1; c < 4; c++) {
    put_msr(dir, c, NEMB__MSR_AMD_CORE_ENERGY_STATUS, (c + 1) * 65536);
  }
  for (unsigned c = 4; c < 8; c++) {
    put_msr(dir, c, NEMB__MSR_AMD_CORE_ENERGY_STATUS, 5); /* SMT siblings: never read */
  }
  void *st = open_ok();
  const expect exp[] = {
      {"package-0",
       NEMB__KIND_PACKAGE,
       true,
       true,
       {"core0", "core1", "core2", "core3"},
       AMD_RANGE,
       10000000,
       "MSR 0xC001029B on CPU 0"},
      {"core0",
       NEMB__KIND_NESTED,
       false,
       false,
       {NULL},
       AMD_RANGE,
       nemb__msr_count_uj(core0, nemb__msr_unit_from_esu(16)),
       "MSR 0xC001029A on CPU 0"},
      {"core1",
       NEMB__KIND_NESTED,
       false,
       false,
       {NULL},
       AMD_RANGE,
       2000000,
       "MSR 0xC001029A on CPU 1"},
      {"core2",
       NEMB__KIND_NESTED,
       false,
       false,
       {NULL},
       AMD_RANGE,
       3000000,
       "MSR 0xC001029A on CPU 2"},
      {"core3",
       NEMB__KIND_NESTED,
       false,
       false,
       {NULL},
       AMD_RANGE,
       4000000,
       "MSR 0xC001029A on CPU 3"},
  };
  check(st, exp, NEMB__ARRAY_LEN(exp));
  nemb__provider_msr.close(st);

  /* providers.msr.per_core = false: the package alone. */
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"msr\":{\"per_core\":false}}}", "test", &cfg));
  st = NULL;
  NEMB_ASSERT_OK(open_msr_cfg(cfg, &st));
  const nemb__domain *d;
  assert_int_equal(nemb__provider_msr.domains(st, &d), 1);
  assert_string_equal(d[0].name, "package-0");
  assert_int_equal(d[0].n_includes, 0);
  nemb__provider_msr.close(st);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* Issue 10, item 5: an AMD socket of two dies reads one package counter (the socket's) from
 * either die: one domain package-0, read once, 68 J a second across the 32-bit wrap, not 136. */
static void test_amd_dies_share_the_socket_counter(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "AuthenticAMD", 25, 1, 1, 4, 1);
  for (unsigned c = 2; c < 4; c++) { /* CPUs 2 and 3 on die 1 */
    char rel[256];
    snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%u/topology/die_id", c);
    nemb_test_write(dir, rel, "1\n");
  }
  uint64_t before = 0xFFFFFFFFull - 34ull * 65536; /* 34 J below the wrap (ESU 16) */
  for (unsigned c = 0; c < 4; c += 2) {
    put_msr(dir, c, NEMB__MSR_AMD_PKG_ENERGY_STATUS, before);
    put_amd_unit(dir, c);
  }
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"msr\":{\"per_core\":false}}}", "test", &cfg));
  void *st = NULL;
  NEMB_ASSERT_OK(open_msr_cfg(cfg, &st));
  const nemb__domain *d;
  assert_int_equal(nemb__provider_msr.domains(st, &d), 1);
  assert_string_equal(d[0].name, "package-0");
  assert_string_equal(d[0].detail, "MSR 0xC001029B on CPU 0");
  nemb__unwrap w;
  nemb__unwrap_init(&w, d[0].range_uj, 200000000); /* a 200 W ceiling */
  uint64_t raw[1];
  NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, raw));
  nemb__unwrap_feed(&w, raw[0], 1000000000u);
  uint64_t after = (before + 68ull * 65536) & 0xFFFFFFFFull; /* one second at 68 W */
  for (unsigned c = 0; c < 4; c += 2) {
    put_msr(dir, c, NEMB__MSR_AMD_PKG_ENERGY_STATUS, after);
    put_amd_unit(dir, c);
  }
  NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, raw));
  uint64_t added = nemb__unwrap_feed(&w, raw[0], 2000000000u);
  assert_int_equal(w.wraps, 1);
  assert_true(added >= 67999999 && added <= 68000001);
  nemb__provider_msr.close(st);
  nemb_config_destroy(cfg);
  nemb_test_rmtree(dir);
}

/* 32-bit counters: reserved bits are masked, and a wrap is undone with range_uj. */
static void test_wrap_and_mask(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "GenuineIntel", 6, 94, 1, 2, 1);
  put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
  put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 0xABCD0000FFFFFFF0ULL);
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_msr.domains(st, &d), 1);
  uint64_t raw[1];
  NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, raw));
  nemb__msr_unit u = nemb__msr_unit_from_esu(14);
  assert_int_equal(raw[0], nemb__msr_count_uj(0xFFFFFFF0ULL, u));
  nemb__unwrap w;
  nemb__unwrap_init(&w, d[0].range_uj, 200000000); /* a 200 W ceiling */
  nemb__unwrap_feed(&w, raw[0], 1000000);
  put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 0xABCD000000000010ULL); /* wrapped: +0x20 units */
  NEMB_ASSERT_OK(nemb__provider_msr.read(st, 0, raw));
  assert_int_equal(raw[0], nemb__msr_count_uj(0x10, u));
  uint64_t added = nemb__unwrap_feed(&w, raw[0], 2000000); /* 1 ms later */
  assert_int_equal(w.wraps, 1);
  assert_true(added >= 1952 && added <= 1954); /* 32 x 61.035 uJ = 1953.1 */
  nemb__provider_msr.close(st);
  nemb_test_rmtree(dir);
}

/* A read that fails (a CPU gone offline) returns an error and marks the domain unread. */
static void test_read_failure(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "GenuineIntel", 6, 94, 1, 2, 1);
  put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
  put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 5);
  void *st = open_ok();
  sh("truncate -s 0 '%s/dev/cpu/0/msr'", dir);
  uint64_t raw[1] = {42};
  assert_int_equal(nemb__provider_msr.read(st, 0, raw), NEMB_EIO);
  assert_true(raw[0] == NEMB__RAW_INVALID); /* marked unread, so the sampler skips it */
  nemb__provider_msr.close(st);
  nemb_test_rmtree(dir);
}

static void test_no_msr_driver(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "GenuineIntel", 6, 140, 1, 2, 1);
  sh("rm -rf '%s/dev/cpu'", dir);
  void *st = (void *)&st;
  assert_int_equal(open_msr(&st), NEMB_ENOTSUP);
  assert_null(st);
  assert_non_null(strstr(why, "/dev/cpu/0/msr does not exist"));
  assert_non_null(strstr(why, "sudo modprobe msr"));
  nemb_test_rmtree(dir);
}

static void test_cpu_without_rapl(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "CentaurHauls", 6, 15, 1, 2, 1);
  void *st = NULL;
  assert_int_equal(open_msr(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "no RAPL MSRs on this CPU (CentaurHauls"));
  nemb_test_write(dir, "proc/cpuinfo",
                  "vendor_id\t: AuthenticAMD\ncpu family\t: 21\nmodel\t\t: 2\n");
  assert_int_equal(open_msr(&st), NEMB_ENOTSUP); /* Bulldozer: before RAPL */
  assert_non_null(strstr(why, "family 21"));
  /* An Intel CPU whose unit register cannot be read (the file is empty: EIO on hardware). */
  nemb_test_write(dir, "proc/cpuinfo",
                  "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 26\n");
  assert_int_equal(open_msr(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "does not implement the RAPL power-unit register 0x606"));
  /* Unit readable but every energy register reads 0. */
  put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
  assert_int_equal(open_msr(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "every RAPL energy register reads 0"));
  nemb_test_rmtree(dir);
}

static void test_disabled(void **unused) {
  (void)unused;
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"msr\":{\"enabled\":false}}}", "test", &cfg));
  void *st = NULL;
  assert_int_equal(open_msr_cfg(cfg, &st), NEMB_ENOTSUP);
  assert_string_equal(why, "disabled by providers.msr.enabled in the configuration");
  nemb_config_destroy(cfg);
}

/* The device exists but the file mode refuses this user: the message points to
 * setup-permissions --msr, says CAP_SYS_RAWIO is needed too, and prefers powercap. */
static void test_permission(void **unused) {
  (void)unused;
  char dir[4096];
  make_machine(dir, sizeof dir, "GenuineIntel", 6, 140, 1, 2, 1);
  put_msr(dir, 0, NEMB__MSR_RAPL_POWER_UNIT, INTEL_UNIT_REG);
  put_msr(dir, 0, NEMB__MSR_PKG_ENERGY_STATUS, 5);
  bool root = geteuid() == 0;
  sh("chmod %s '%s/dev/cpu/0/msr' '%s/dev/cpu/1/msr'", root ? "0600" : "0000", dir, dir);
  nemb_test_open_result rep =
      nemb_test_open_unprivileged(&nemb__provider_msr, nemb__config_defaults());
  sh("chmod -R u+rw '%s'", dir);
  nemb_test_rmtree(dir);
  if (rep.skipped) {
    skip();
  }
  print_message("  why (%zu chars): %s\n", strlen(rep.why), rep.why);
  assert_int_equal(rep.rc, NEMB_EACCES);
  assert_non_null(strstr(rep.why, "/dev/cpu/0/msr: permission denied"));
  assert_non_null(strstr(rep.why, "sudo codegreen setup-permissions --msr"));
  assert_non_null(strstr(rep.why, "CAP_SYS_RAWIO"));
  assert_non_null(strstr(rep.why, "CVE-2020-8694"));
  assert_null(strstr(rep.why, "chmod"));
  assert_null(strstr(rep.why, "0444"));
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_units),
      cmocka_unit_test(test_decode_counter_and_bytes),
      cmocka_unit_test(test_decode_model_tables),
      cmocka_unit_test(test_ops),
      cmocka_unit_test(test_intel_client),
      cmocka_unit_test(test_intel_server),
      cmocka_unit_test(test_amd),
      cmocka_unit_test(test_dram_unit_by_model),
      cmocka_unit_test(test_amd_dies_share_the_socket_counter),
      cmocka_unit_test(test_wrap_and_mask),
      cmocka_unit_test(test_read_failure),
      cmocka_unit_test(test_no_msr_driver),
      cmocka_unit_test(test_cpu_without_rapl),
      cmocka_unit_test(test_disabled),
      cmocka_unit_test(test_permission),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void) {
  return 77; /* built without NEMB_WITH_MSR */
}

#endif
