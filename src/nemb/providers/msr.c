/*
 * msr.c - RAPL energy read straight from the model-specific registers through /dev/cpu/N/msr.
 *
 * The most direct interface, and the least convenient: the msr driver must be loaded
 * (`modprobe msr`), and it demands CAP_SYS_RAWIO of every process that opens a device, on top of
 * the file permissions (root only by default). It is what remains on kernels without the powercap
 * RAPL driver or the perf power PMU, and on AMD it is the only interface with per-core energy.
 *
 * Registers (msr_decode.h has the arithmetic and the sources):
 *   Intel: unit 0x606; package 0x611, PP0 0x639 ("core"), PP1 0x641 ("uncore"), DRAM 0x619,
 *          psys 0x64D (platform-wide, read once).
 *   AMD (family 17h and later) and Hygon: unit 0xC0010299; package 0xC001029B; per-core
 *          0xC001029A, read on one thread of each core.
 * A register is read with pread at its number as the file offset: 8 bytes, little-endian.
 * Registers a CPU lacks fail with EIO; the Linux driver also treats a counter that reads 0 as
 * absent (a domain the part does not implement), and so does this provider.
 *
 * Counters are 32 bits of energy units: read() masks them and converts to microjoules, and
 * range_uj (2^32 units) lets the sampler undo the wrap, which at 2 kW would take the smallest
 * counter (15.3 uJ units) about 30 s, far longer than the sampler's guard interval.
 *
 * Domain names follow powercap's, so that the meter recognises the same counter seen through
 * two interfaces and counts it once. AMD per-core domains are "core<K>", K counting cores in the
 * order of their first logical CPU (as amd_energy numbers its Ecore channels); they are nested in
 * their package. Each per-core read interrupts that core (the kernel reads an MSR on the CPU it
 * belongs to), so per-core domains are skipped above MAX_PER_CORE cores, and
 * providers.msr.per_core = false turns them off.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_topology.h"
#include "internal.h"
#include "msr_decode.h"
#include "provider.h"

#define MAX_PER_CORE 32 /* half the meter's domain budget */
#define MAX_FDS 512

enum vendor { VENDOR_OTHER, VENDOR_INTEL, VENDOR_AMD };

typedef struct cpu_info {
  enum vendor vendor;
  char vendor_id[32];
  unsigned family;
  unsigned model;
} cpu_info;

typedef struct msr_state {
  size_t n;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  int fd_of[NEMB__MAX_DOMAINS];    /* descriptor each domain is read through */
  uint32_t reg[NEMB__MAX_DOMAINS]; /* register number = file offset */
  nemb__msr_unit unit[NEMB__MAX_DOMAINS];
  size_t n_fds;
  int fds[MAX_FDS]; /* one per CPU opened, closed once */
  unsigned fd_cpu[MAX_FDS];
} msr_state;

/* Vendor, family and model of the first processor in /proc/cpuinfo. The family is the "cpu
 * family" line, which the kernel already reports with the extended family added (25 = 19h). */
static void read_cpuinfo(cpu_info *ci) {
  memset(ci, 0, sizeof *ci);
  char path[4096];
  if (nemb__path(path, sizeof path, "/proc/cpuinfo") != 0) {
    return;
  }
  FILE *fp = fopen(path, "re");
  if (fp == NULL) {
    return;
  }
  char line[512];
  int seen = 0;
  while (seen < 3 && fgets(line, sizeof line, fp) != NULL) {
    char *colon = strchr(line, ':');
    if (colon == NULL) {
      continue;
    }
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t') {
      value++;
    }
    if (strncmp(line, "vendor_id", 9) == 0) {
      snprintf(ci->vendor_id, sizeof ci->vendor_id, "%.*s", (int)strcspn(value, "\n"), value);
      seen++;
    } else if (strncmp(line, "cpu family", 10) == 0) {
      ci->family = (unsigned)strtoul(value, NULL, 10);
      seen++;
    } else if (strncmp(line, "model\t", 6) == 0 || strncmp(line, "model ", 6) == 0) {
      if (strncmp(line, "model name", 10) != 0) {
        ci->model = (unsigned)strtoul(value, NULL, 10);
        seen++;
      }
    }
  }
  fclose(fp);
  if (strcmp(ci->vendor_id, "GenuineIntel") == 0) {
    ci->vendor = VENDOR_INTEL;
  } else if (strcmp(ci->vendor_id, "AuthenticAMD") == 0 ||
             strcmp(ci->vendor_id, "HygonGenuine") == 0) {
    ci->vendor = VENDOR_AMD;
  }
}

static void msr_close(void *state) {
  msr_state *st = state;
  if (st == NULL) {
    return;
  }
  for (size_t i = 0; i < st->n_fds; i++) {
    close(st->fds[i]);
  }
  free(st);
}

/* Opens /dev/cpu/@p cpu/msr once per CPU. Returns 0 with *fd set, or a code with @p why filled. */
static int open_cpu(msr_state *st, unsigned cpu, int *fd, char *why, size_t len) {
  for (size_t i = 0; i < st->n_fds; i++) {
    if (st->fd_cpu[i] == cpu) {
      *fd = st->fds[i];
      return 0;
    }
  }
  if (st->n_fds >= MAX_FDS) {
    nemb__say(why, len, "more than %d CPUs to open", MAX_FDS);
    return NEMB_ERANGE;
  }
  char path[4096];
  if (nemb__path(path, sizeof path, "/dev/cpu/%u/msr", cpu) != 0) {
    nemb__say(why, len, "the path of /dev/cpu/%u/msr under CODEGREEN_SYSFS_ROOT is too long", cpu);
    return -ENAMETOOLONG;
  }
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) {
    int e = errno;
    if (e == ENOENT || e == ENXIO || e == ENODEV) {
      nemb__say(
          why, len,
          "%s does not exist: the msr driver is not loaded (`sudo modprobe msr`; list it in "
          "/etc/modules-load.d/ to keep it, or run `sudo codegreen setup-permissions --msr`)%s",
          path, e == ENXIO ? ", or that CPU is offline" : "");
      return NEMB_ENOTSUP;
    }
    if (e == EACCES) {
      nemb__say(
          why, len,
          "%s: permission denied. MSR devices are root-only; `sudo codegreen setup-permissions "
          "--msr` lets group codegreen open them, but the kernel also demands CAP_SYS_RAWIO of "
          "every process that does (e.g. `sudo setcap cap_sys_rawio=ep` on the program), a "
          "near-root privilege: prefer the powercap provider (`sudo codegreen "
          "setup-permissions`). Never make MSRs world-readable (CVE-2020-8694).",
          path);
      return NEMB_EACCES;
    }
    if (e == EPERM) {
      nemb__say(
          why, len,
          "%s: operation not permitted. The file permissions allow it but the msr driver "
          "demands CAP_SYS_RAWIO of the process opening it (`sudo setcap cap_sys_rawio=ep` on "
          "the program, or run as root); the powercap provider needs no capability (`sudo "
          "codegreen setup-permissions`).",
          path);
      return NEMB_EACCES;
    }
    nemb__say(why, len, "cannot open %s: %s", path, strerror(e));
    return nemb__from_errno(e);
  }
  st->fds[st->n_fds] = f;
  st->fd_cpu[st->n_fds] = cpu;
  st->n_fds++;
  *fd = f;
  return 0;
}

/* Reads one register. Returns 0, -EIO for a register the CPU lacks (the driver's answer; a
 * fixture file shorter than the offset gives a short read, which means the same), or -errno. */
static int read_reg(int fd, uint32_t reg, uint64_t *out) {
  unsigned char b[8];
  ssize_t n;
  do {
    n = pread(fd, b, sizeof b, (off_t)reg);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return -errno;
  }
  if (n != (ssize_t)sizeof b) {
    return -EIO;
  }
  *out = nemb__msr_le64(b);
  return 0;
}

/* Appends a domain for register @p reg on @p fd if the CPU implements it (readable, nonzero).
 * Returns the new domain, or NULL when it is absent or there is no room. */
static nemb__domain *add_domain(msr_state *st, int fd, unsigned cpu, uint32_t reg,
                                nemb__msr_unit unit, const char *name, const char *kind) {
  uint64_t v;
  int rc = read_reg(fd, reg, &v);
  if (rc != 0 || nemb__msr_count(v) == 0) {
    nemb__log(NEMB_LOG_DEBUG, "msr: 0x%X on CPU %u %s; no %s domain", reg, cpu,
              rc != 0 ? "cannot be read" : "reads 0", name);
    return NULL;
  }
  if (st->n >= NEMB__MAX_DOMAINS) {
    nemb__log(NEMB_LOG_WARN, "msr: more than %d domains, %s is left out", NEMB__MAX_DOMAINS, name);
    return NULL;
  }
  nemb__domain *d = &st->domains[st->n];
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  d->kind = kind;
  d->top_level = strcmp(kind, NEMB__KIND_NESTED) != 0;
  d->in_total = strcmp(kind, NEMB__KIND_PACKAGE) == 0 || strcmp(kind, NEMB__KIND_DRAM) == 0;
  d->range_uj = nemb__msr_range_uj(unit);
  d->method = NEMB__METHOD_COUNTER;
  snprintf(d->detail, sizeof d->detail, "MSR 0x%X on CPU %u", reg, cpu);
  st->fd_of[st->n] = fd;
  st->reg[st->n] = reg;
  st->unit[st->n] = unit;
  st->n++;
  return d;
}

/* Reads the power-unit register of a package. Returns 0 or a code with @p why filled. */
static int read_unit(int fd, uint32_t reg, unsigned cpu, const cpu_info *ci, uint64_t *out,
                     char *why, size_t len) {
  int rc = read_reg(fd, reg, out);
  if (rc == -EIO) {
    nemb__say(why, len,
              "this %s CPU (family %u, model %u) does not implement the RAPL power-unit register "
              "0x%X (read on CPU %u fails)",
              ci->vendor_id, ci->family, ci->model, reg, cpu);
    return NEMB_ENOTSUP;
  }
  if (rc == -EACCES || rc == -EPERM) {
    nemb__say(why, len, "reading MSR 0x%X on CPU %u was refused: CAP_SYS_RAWIO is needed", reg,
              cpu);
    return NEMB_EACCES;
  }
  if (rc != 0) {
    nemb__say(why, len, "cannot read MSR 0x%X on CPU %u: %s", reg, cpu, strerror(-rc));
    return nemb__from_errno(-rc);
  }
  return 0;
}

static int build_intel(msr_state *st, const cpu_info *ci, const nemb__cpu *units, size_t n_units,
                       char *why, size_t len) {
  bool multi_die = nemb__cpu_multi_die(units, n_units);
  bool fixed_dram = nemb__msr_intel_fixed_dram_unit(ci->family, ci->model);
  bool joule_psys = nemb__msr_intel_psys_joule_unit(ci->family, ci->model);
  static const struct {
    uint32_t reg;
    const char *base;
    const char *kind;
  } regs[] = {
      {NEMB__MSR_PKG_ENERGY_STATUS, "package", NEMB__KIND_PACKAGE},
      {NEMB__MSR_PP0_ENERGY_STATUS, "core", NEMB__KIND_NESTED},
      {NEMB__MSR_PP1_ENERGY_STATUS, "uncore", NEMB__KIND_NESTED},
      {NEMB__MSR_DRAM_ENERGY_STATUS, "dram", NEMB__KIND_DRAM},
  };
  nemb__msr_unit unit0 = {0, 1};
  int fd0 = -1;
  for (size_t u = 0; u < n_units; u++) {
    int fd;
    int rc = open_cpu(st, units[u].cpu, &fd, why, len);
    uint64_t unit_reg = 0;
    if (rc == 0) {
      rc = read_unit(fd, NEMB__MSR_RAPL_POWER_UNIT, units[u].cpu, ci, &unit_reg, why, len);
    }
    if (rc != 0) {
      return rc;
    }
    nemb__msr_unit unit = nemb__msr_unit_from_esu(nemb__msr_esu(unit_reg));
    if (u == 0) {
      unit0 = unit;
      fd0 = fd;
    }
    nemb__domain *pkg = NULL;
    for (size_t r = 0; r < sizeof regs / sizeof regs[0]; r++) {
      char name[NEMB__NAME_MAX];
      nemb__cpu_domain_name(name, sizeof name, regs[r].base, &units[u], n_units, multi_die);
      bool dram = regs[r].reg == NEMB__MSR_DRAM_ENERGY_STATUS;
      nemb__domain *d =
          add_domain(st, fd, units[u].cpu, regs[r].reg,
                     dram && fixed_dram ? nemb__msr_unit_dram_fixed() : unit, name, regs[r].kind);
      if (d == NULL) {
        continue;
      }
      if (regs[r].reg == NEMB__MSR_PKG_ENERGY_STATUS) {
        pkg = d;
      } else if (!dram && pkg != NULL) {
        nemb__domain_add_include(pkg, d->name);
      }
    }
  }
  /* psys covers the whole platform: one register, read through the first package. */
  if (fd0 >= 0) {
    size_t before = st->n;
    nemb__domain *psys =
        add_domain(st, fd0, units[0].cpu, NEMB__MSR_PLATFORM_ENERGY_STATUS,
                   joule_psys ? nemb__msr_unit_joule() : unit0, "psys", NEMB__KIND_PLATFORM);
    for (int pass = 0; psys != NULL && pass < 2; pass++) {
      const char *kind = pass == 0 ? NEMB__KIND_PACKAGE : NEMB__KIND_NESTED;
      for (size_t j = 0; j < before; j++) {
        if (strcmp(st->domains[j].kind, kind) == 0) {
          nemb__domain_add_include(psys, st->domains[j].name);
        }
      }
    }
  }
  return 0;
}

static int build_amd(msr_state *st, const cpu_info *ci, const nemb__cpu *units, size_t n_units,
                     const nemb__cpu *cores, size_t n_cores, char *why, size_t len) {
  bool multi_die = nemb__cpu_multi_die(units, n_units);
  nemb__msr_unit unit_of[NEMB__MAX_DOMAINS];
  size_t pkg_index[NEMB__MAX_DOMAINS];
  for (size_t u = 0; u < n_units && u < NEMB__MAX_DOMAINS; u++) {
    int fd;
    int rc = open_cpu(st, units[u].cpu, &fd, why, len);
    uint64_t unit_reg = 0;
    if (rc == 0) {
      rc = read_unit(fd, NEMB__MSR_AMD_RAPL_POWER_UNIT, units[u].cpu, ci, &unit_reg, why, len);
    }
    if (rc != 0) {
      return rc;
    }
    unit_of[u] = nemb__msr_unit_from_esu(nemb__msr_esu(unit_reg));
    char name[NEMB__NAME_MAX];
    nemb__cpu_domain_name(name, sizeof name, "package", &units[u], n_units, multi_die);
    pkg_index[u] = st->n;
    if (add_domain(st, fd, units[u].cpu, NEMB__MSR_AMD_PKG_ENERGY_STATUS, unit_of[u], name,
                   NEMB__KIND_PACKAGE) == NULL) {
      pkg_index[u] = SIZE_MAX;
    }
  }
  for (size_t c = 0; c < n_cores; c++) {
    size_t u = 0;
    while (u < n_units && units[u].package != cores[c].package) { /* per socket (msr_open) */
      u++;
    }
    if (u == n_units || u >= NEMB__MAX_DOMAINS) {
      continue;
    }
    int fd;
    int rc = open_cpu(st, cores[c].cpu, &fd, why, len);
    if (rc != 0) {
      return rc;
    }
    char name[NEMB__NAME_MAX];
    snprintf(name, sizeof name, "core%zu", c);
    nemb__domain *d = add_domain(st, fd, cores[c].cpu, NEMB__MSR_AMD_CORE_ENERGY_STATUS, unit_of[u],
                                 name, NEMB__KIND_NESTED);
    if (d != NULL && pkg_index[u] != SIZE_MAX &&
        !nemb__domain_add_include(&st->domains[pkg_index[u]], d->name)) {
      nemb__log(NEMB_LOG_DEBUG, "msr: %s is not listed under %s (list full)", d->name,
                st->domains[pkg_index[u]].name);
    }
  }
  return 0;
}

static int msr_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  *state = NULL;
  int enabled = 1;
  int per_core = 1;
  if (env != NULL && env->cfg != NULL) {
    if (nemb_config_get_bool(env->cfg, "providers.msr.enabled", &enabled) == 0 && !enabled) {
      nemb__say(why, why_len, "disabled by providers.msr.enabled in the configuration");
      return NEMB_ENOTSUP;
    }
    if (nemb_config_get_bool(env->cfg, "providers.msr.per_core", &per_core) != 0) {
      per_core = 1;
    }
  }
  cpu_info ci;
  read_cpuinfo(&ci);
  if (ci.vendor == VENDOR_OTHER || (ci.vendor == VENDOR_AMD && ci.family < 0x17)) {
    nemb__say(why, why_len,
              "no RAPL MSRs on this CPU (%s, family %u): RAPL registers exist on Intel processors "
              "since Sandy Bridge and on AMD/Hygon processors since family 17h (Zen)",
              ci.vendor_id[0] ? ci.vendor_id : "vendor unknown", ci.family);
    return NEMB_ENOTSUP;
  }

  nemb__cpu *cpus = NULL;
  size_t n_cpus = 0;
  if (nemb__cpu_list(&cpus, &n_cpus) != 0) {
    nemb__say(why, why_len, "out of memory listing CPUs");
    return NEMB_ENOMEM;
  }
  nemb__cpu cpu0 = {0, 0, 0, 0};
  nemb__cpu *units = NULL;
  nemb__cpu *cores = NULL;
  size_t n_units = 0;
  size_t n_cores = 0;
  if (n_cpus == 0) {
    units = &cpu0; /* no topology published: one package, read on CPU 0 */
    n_units = 1;
  } else {
    cores = malloc(n_cpus * sizeof *cores);
    if (cores == NULL) {
      free(cpus);
      nemb__say(why, why_len, "out of memory listing CPUs");
      return NEMB_ENOMEM;
    }
    memcpy(cores, cpus, n_cpus * sizeof *cores);
    n_cores = nemb__cpu_first_of_each(cores, n_cpus, true);
    if (ci.vendor == VENDOR_AMD) {
      /* AMD's package energy MSR is the socket's, whatever die reads it (the kernel's RAPL
       * driver scopes it per package on AMD and Hygon: arch/x86/events/rapl.c,
       * rapl_pmu_is_pkg_scope()): one reading per socket, or a multi-die part counts it once per
       * die. */
      for (size_t i = 0; i < n_cpus; i++) {
        cpus[i].die = 0;
      }
    }
    n_units = nemb__cpu_first_of_each(cpus, n_cpus, false);
    units = cpus;
  }
  if (ci.vendor != VENDOR_AMD || !per_core) {
    n_cores = 0;
  } else if (n_cores > MAX_PER_CORE) {
    nemb__log(NEMB_LOG_INFO,
              "msr: %zu cores: per-core domains are left out above %d (each read interrupts the "
              "core); package energy is still measured",
              n_cores, MAX_PER_CORE);
    n_cores = 0;
  }

  int rc = 0;
  msr_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    nemb__say(why, why_len, "out of memory");
    rc = NEMB_ENOMEM;
  } else if (ci.vendor == VENDOR_INTEL) {
    rc = build_intel(st, &ci, units, n_units, why, why_len);
  } else {
    rc = build_amd(st, &ci, units, n_units, cores, n_cores, why, why_len);
  }
  free(cpus);
  free(cores);
  if (rc == 0 && st->n == 0) {
    nemb__say(why, why_len,
              "the MSR device opens but every RAPL energy register reads 0 or fails: this CPU does "
              "not implement RAPL energy counters");
    rc = NEMB_ENOTSUP;
  }
  if (rc != 0) {
    msr_close(st);
    return rc;
  }
  *state = st;
  return 0;
}

static size_t msr_domains(void *state, const nemb__domain **out) {
  const msr_state *st = state;
  *out = st->domains;
  return st->n;
}

static int msr_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  (void)t_ns;
  const msr_state *st = state;
  int first_rc = 0;
  size_t ok = 0;
  for (size_t i = 0; i < st->n; i++) {
    uint64_t reg;
    int rc = read_reg(st->fd_of[i], st->reg[i], &reg);
    if (rc != 0) {
      raw_uj[i] = NEMB__RAW_INVALID; /* this register only */
      first_rc = first_rc ? first_rc : nemb__from_errno(-rc);
      continue;
    }
    raw_uj[i] = nemb__msr_count_uj(nemb__msr_count(reg), st->unit[i]);
    ok++;
  }
  return ok > 0 || st->n == 0 ? 0 : first_rc;
}

static uint64_t msr_update_interval_ns(void *state) {
  (void)state;
  return NEMB__RAPL_UPDATE_NS;
}

const struct nemb__provider_ops nemb__provider_msr = {
    .name = "msr",
    .permission_fix = "sudo codegreen setup-permissions --msr",
    .hidden_in_vm = true,
    .measured = true,
    .open = msr_open,
    .domains = msr_domains,
    .read = msr_read,
    .update_interval_ns = msr_update_interval_ns,
    .close = msr_close,
};
