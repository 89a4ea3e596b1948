/*
 * cpu_topology.h - which logical CPU to ask for each package, die and core; shared by the perf and
 * MSR providers (both must open a per-package counter on a CPU of that package). Private to the
 * providers; static inline functions only, so each provider keeps its own copy and nothing is
 * exported.
 *
 * The kernel publishes /sys/devices/system/cpu/cpuN/topology/{physical_package_id,die_id,core_id}
 * for every online CPU. Offline CPUs have no topology directory (or report -1) and are left out:
 * a counter opened on an offline CPU fails with ENXIO. die_id exists since Linux 5.2; without it
 * every package has one die.
 */
#ifndef NEMB_CPU_TOPOLOGY_H
#define NEMB_CPU_TOPOLOGY_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct nemb__cpu {
  unsigned cpu;     /* logical CPU number, N of cpuN */
  unsigned package; /* physical_package_id */
  unsigned die;     /* die_id within the package, 0 when unknown */
  unsigned core;    /* core_id within the package */
} nemb__cpu;

static inline int nemb__cpu_cmp(const void *a, const void *b) {
  const nemb__cpu *x = a;
  const nemb__cpu *y = b;
  return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

/* Reads a small non-negative id; false when absent, unreadable or negative (-1 = offline). */
static inline bool nemb__cpu_read_id(unsigned cpu, const char *file, unsigned *out) {
  char path[4096];
  char text[32];
  uint64_t v;
  if (nemb__path(path, sizeof path, "/sys/devices/system/cpu/cpu%u/topology/%s", cpu, file) != 0 ||
      nemb__read_text(path, text, sizeof text) != 0 || nemb__parse_u64(text, &v) != 0 ||
      v > 1000000) {
    return false;
  }
  *out = (unsigned)v;
  return true;
}

/* Lists the online CPUs with their topology, by CPU number, into a new array (free it). An empty
 * list (no topology anywhere, as in a container hiding /sys/devices) is returned as n = 0 with
 * rc 0; callers then fall back to CPU 0. Returns 0 or NEMB_ENOMEM. */
static inline int nemb__cpu_list(nemb__cpu **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  char path[4096];
  if (nemb__path(path, sizeof path, "/sys/devices/system/cpu") != 0) {
    return 0;
  }
  DIR *dir = opendir(path);
  if (dir == NULL) {
    return 0;
  }
  nemb__cpu *cpus = NULL;
  size_t n = 0;
  size_t cap = 0;
  int rc = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    const char *s = de->d_name;
    if (strncmp(s, "cpu", 3) != 0 || !isdigit((unsigned char)s[3])) {
      continue;
    }
    uint64_t num;
    if (nemb__parse_u64(s + 3, &num) != 0 || num > 1000000) {
      continue; /* "cpufreq", "cpuidle" */
    }
    nemb__cpu c = {(unsigned)num, 0, 0, 0};
    if (!nemb__cpu_read_id(c.cpu, "physical_package_id", &c.package)) {
      continue;
    }
    if (!nemb__cpu_read_id(c.cpu, "die_id", &c.die)) {
      c.die = 0;
    }
    if (!nemb__cpu_read_id(c.cpu, "core_id", &c.core)) {
      c.core = c.cpu;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      nemb__cpu *grown = realloc(cpus, ncap * sizeof *cpus);
      if (grown == NULL) {
        rc = NEMB_ENOMEM;
        break;
      }
      cpus = grown;
      cap = ncap;
    }
    cpus[n++] = c;
  }
  closedir(dir);
  if (rc != 0) {
    free(cpus);
    return rc;
  }
  qsort(cpus, n, sizeof *cpus, nemb__cpu_cmp);
  *out = cpus;
  *n_out = n;
  return 0;
}

/* Keeps, in place, the first CPU of each distinct unit, in CPU order: per (package, die) when
 * @p per_core is false, per (package, die, core) when true. Returns how many are kept. */
static inline size_t nemb__cpu_first_of_each(nemb__cpu *cpus, size_t n, bool per_core) {
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t j = 0; j < kept && !seen; j++) {
      seen = cpus[j].package == cpus[i].package && cpus[j].die == cpus[i].die &&
             (!per_core || cpus[j].core == cpus[i].core);
    }
    if (!seen) {
      cpus[kept++] = cpus[i];
    }
  }
  return kept;
}

/* True when some package of @p units (one entry per package and die) has more than one die, so
 * that names must carry the die, as the kernel's "package-N-die-D" zones do. */
static inline bool nemb__cpu_multi_die(const nemb__cpu *units, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (units[i].die != 0) {
      return true;
    }
  }
  return false;
}

/* The name of a per-package domain as powercap would give it, so that the meter recognises the
 * same counter seen through two interfaces: "package-0", or "package-0-die-1" on multi-die parts;
 * a sub-domain ("core", "uncore", "dram") keeps its bare name when there is one package and one
 * die, and carries the package otherwise ("dram-1", "core-0-die-1"). */
static inline void nemb__cpu_domain_name(char *out, size_t len, const char *base,
                                         const nemb__cpu *unit, size_t n_units, bool multi_die) {
  bool package = strcmp(base, "package") == 0;
  if (!package && n_units <= 1) {
    snprintf(out, len, "%s", base);
  } else if (multi_die) {
    snprintf(out, len, "%s-%u-die-%u", base, unit->package, unit->die);
  } else {
    snprintf(out, len, "%s-%u", base, unit->package);
  }
}

#endif /* NEMB_CPU_TOPOLOGY_H */
