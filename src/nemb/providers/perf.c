/*
 * perf.c - RAPL energy through the perf_event "power" PMU.
 *
 * The kernel's RAPL perf driver (arch/x86/events/rapl.c: Intel since Linux 3.14, AMD family 17h
 * and later since 5.8) publishes a PMU named "power" under /sys/bus/event_source/devices/power:
 * its perf type number in `type`, and under events/ one file per counter (energy-pkg,
 * energy-cores = PP0, energy-gpu = PP1, energy-ram = DRAM, energy-psys) holding its encoding
 * ("event=0x02"), with `<event>.scale` (joules per count) and `<event>.unit` ("Joules") beside it.
 *
 * RAPL counters belong to a package, not to a task, so the kernel accepts only system-wide events:
 * each is opened with pid -1 on the CPUs the PMU's `cpumask` lists, one per physical counter: per
 * die on Intel multi-die parts, per package (socket) on AMD and Hygon, whose package counter is
 * the socket's (arch/x86/events/rapl.c, rapl_pmu_is_pkg_scope()). An event per die on AMD would
 * count the socket once per die. Without a readable cpumask: the first online CPU of each package
 * and die. The count is 64 bits: the kernel reads the 32-bit MSR often enough to see every wrap
 * and accumulates, so range_uj is 0 and nothing here unwraps.
 *
 * Groups. The events of one CPU are opened as one group (the first is the leader, read with
 * PERF_FORMAT_GROUP), so a tick reads all the domains of a package with one read() instead of one
 * per event: the kernel reads a CPU-wide event on its CPU (an inter-processor interrupt when the
 * sampler runs elsewhere), once for the whole group (perf_read_group()). A kernel that refuses an
 * event into a group gets it opened on its own, read on its own.
 *
 * Domain names are the ones powercap gives the same counters (package-N, core, uncore, dram, psys,
 * with the package appended on multi-socket machines), so that the meter sees that two providers
 * measure one domain and counts it once.
 *
 * Permission: a CPU-wide event needs kernel.perf_event_paranoid <= 0 or CAP_PERFMON (Linux 5.8;
 * CAP_SYS_ADMIN before). Distributions default to 2 or more, so an ordinary user is refused; the
 * message says which setting refused it and the safe ways out.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu_topology.h"
#include "internal.h"
#include "perf_sys.h"
#include "provider.h"

#define PMU_DIR "/sys/bus/event_source/devices/power"
#define PARANOID_FILE "/proc/sys/kernel/perf_event_paranoid"

static int sys_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd,
                               unsigned long flags) {
  /* glibc has no wrapper for this system call. */
  return (int)syscall(SYS_perf_event_open, attr, (pid_t)pid, cpu, group_fd, flags);
}

static long sys_read(int fd, void *buf, size_t len) {
  ssize_t n;
  do {
    n = read(fd, buf, len);
  } while (n < 0 && errno == EINTR);
  return (long)n;
}

/* 50 ms: RAPL counters update every ~1 ms and even an idle package draws watts, so a live set
 * of counters changes within a few ms; the wait ends at the first change. */
const nemb__perf_syscalls nemb__perf_sys_real = {sys_perf_event_open, sys_read, close, 50000000};
nemb__perf_syscalls nemb__perf_sys = {sys_perf_event_open, sys_read, close, 50000000};

enum role { ROLE_PACKAGE, ROLE_NESTED, ROLE_DRAM, ROLE_PSYS };

/* The events this provider knows, in the order their domains are listed within a package. */
static const struct {
  const char *event;
  const char *base; /* the domain name powercap gives the same counter */
  enum role role;
} known[] = {
    {"energy-pkg", "package", ROLE_PACKAGE}, {"energy-cores", "core", ROLE_NESTED},
    {"energy-gpu", "uncore", ROLE_NESTED},   {"energy-ram", "dram", ROLE_DRAM},
    {"energy-psys", "psys", ROLE_PSYS},
};
#define N_KNOWN (sizeof known / sizeof known[0])

/* One event of the PMU, as its files describe it. */
typedef struct event {
  bool present;
  uint64_t config;
  long double scale_uj; /* microjoules per count */
} event;

#define NO_EVENT SIZE_MAX

typedef struct perf_state {
  size_t n;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  int fds[NEMB__MAX_DOMAINS];
  long double uj_per_count[NEMB__MAX_DOMAINS];
  /* Groups: a leader's group_size is its count of events (itself included; 0 for the others),
   * and group_next links a group's events in the order they joined, the order read() returns
   * their values in (NO_EVENT: the last). */
  size_t group_size[NEMB__MAX_DOMAINS];
  size_t group_next[NEMB__MAX_DOMAINS];
} perf_state;

/* Reads one file of the PMU directory into @p buf. Returns 0 or -errno. */
static int read_pmu_file(const char *rel, char *buf, size_t len) {
  char path[4096];
  int rc = nemb__path(path, sizeof path, PMU_DIR "/%s", rel);
  return rc != 0 ? rc : nemb__read_text(path, buf, len);
}

/* "event=0x02" (what the RAPL PMU writes); any other term means an encoding this provider does
 * not know how to put into perf_event_attr, so the event is skipped rather than guessed. */
static bool parse_encoding(const char *text, uint64_t *config) {
  while (isspace((unsigned char)*text)) {
    text++;
  }
  if (strncmp(text, "event=", 6) != 0) {
    return false;
  }
  text += 6;
  if (!isdigit((unsigned char)*text)) {
    return false;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno != 0) {
    return false;
  }
  while (isspace((unsigned char)*end)) {
    end++;
  }
  if (*end != '\0') {
    return false;
  }
  *config = v;
  return true;
}

/* Reads an event's encoding, scale and unit; false (with a log line) when it cannot be used. */
static bool load_event(const char *name, event *ev) {
  char rel[128];
  char text[128];
  ev->present = false;
  snprintf(rel, sizeof rel, "events/%s", name);
  if (read_pmu_file(rel, text, sizeof text) != 0) {
    return false; /* not on this CPU: client parts have no energy-ram, servers no energy-gpu */
  }
  if (!parse_encoding(text, &ev->config)) {
    nemb__log(NEMB_LOG_INFO, "perf: skipping power/%s/: unknown encoding \"%s\"", name, text);
    return false;
  }
  snprintf(rel, sizeof rel, "events/%s.scale", name);
  char *end = NULL;
  long double scale = 0;
  if (read_pmu_file(rel, text, sizeof text) == 0) {
    errno = 0;
    scale = strtold(text, &end);
  }
  if (end == NULL || end == text || errno != 0 || !(scale > 0) || !isfinite(scale)) {
    nemb__log(NEMB_LOG_INFO, "perf: skipping power/%s/: no usable %s.scale", name, name);
    return false;
  }
  snprintf(rel, sizeof rel, "events/%s.unit", name);
  if (read_pmu_file(rel, text, sizeof text) == 0 && strcmp(text, "Joules") != 0) {
    nemb__log(NEMB_LOG_INFO, "perf: skipping power/%s/: unit is \"%s\", not Joules", name, text);
    return false;
  }
  ev->scale_uj = scale * 1e6L;
  ev->present = true;
  return true;
}

/* Why the kernel refused: perf_event_paranoid (read under CODEGREEN_SYSFS_ROOT) or, when that
 * allows the event, something else (a security module). Returns NEMB_EACCES. */
static int deny(char *why, size_t len, const char *event_name, unsigned cpu, int err) {
  char path[4096];
  char text[32];
  uint64_t level = 0;
  bool negative = false;
  bool known_level = false;
  if (nemb__path(path, sizeof path, PARANOID_FILE) == 0 &&
      nemb__read_text(path, text, sizeof text) == 0) {
    negative = text[0] == '-';
    known_level = nemb__parse_u64(negative ? text + 1 : text, &level) == 0;
  }
  char setting[160];
  if (known_level && !negative && level > 0) {
    snprintf(setting, sizeof setting,
             "kernel.perf_event_paranoid is %llu (%s) and this process has neither "
             "CAP_PERFMON nor CAP_SYS_ADMIN",
             (unsigned long long)level, PARANOID_FILE);
  } else if (known_level) {
    snprintf(setting, sizeof setting,
             "kernel.perf_event_paranoid is %s%llu, which allows it, so a security module "
             "(SELinux, AppArmor, lockdown) refused it",
             negative ? "-" : "", (unsigned long long)level);
  } else {
    snprintf(setting, sizeof setting,
             "%s could not be read, so the cause is unknown (paranoid level or a security "
             "module)",
             PARANOID_FILE);
  }
  nemb__say(
      why, len,
      "the perf power PMU exists but the kernel refused to open power/%s/ on CPU %u (%s): "
      "system-wide counters such as RAPL need kernel.perf_event_paranoid <= 0 or CAP_PERFMON, "
      "and %s. Safe fixes: `sudo codegreen setup-permissions` (group access to the powercap "
      "counters, which codegreen prefers anyway), or `sudo codegreen setup-permissions --perf` "
      "(CAP_PERFMON for the codegreen command, runnable by group codegreen only). Lowering "
      "perf_event_paranoid to 0 would let every local user read energy (CVE-2020-8694).",
      event_name, cpu, strerror(err), setting);
  return NEMB_EACCES;
}

static bool is_denied(int e) {
  return e == EACCES || e == EPERM;
}

/* The kernel does not count this event on this CPU, or the CPU is offline: skip, not fail. */
static bool is_unsupported(int e) {
  return e == ENOENT || e == EINVAL || e == EOPNOTSUPP || e == ENODEV || e == ENXIO;
}

static void perf_close(void *state) {
  perf_state *st = state;
  if (st == NULL) {
    return;
  }
  for (size_t i = 0; i < st->n; i++) {
    if (st->fds[i] >= 0) {
      nemb__perf_sys.close(st->fds[i]);
    }
  }
  free(st);
}

/* Event @p i becomes the last of @p leader's group, or (NO_EVENT) the leader of its own. */
static void join_group(perf_state *st, size_t leader, size_t i) {
  st->group_next[i] = NO_EVENT;
  st->group_size[i] = 0;
  if (leader == NO_EVENT) {
    st->group_size[i] = 1;
    return;
  }
  size_t last = leader;
  while (st->group_next[last] != NO_EVENT) {
    last = st->group_next[last];
  }
  st->group_next[last] = i;
  st->group_size[leader]++;
}

/* Opens one event on one CPU, into the group *@p leader leads (the CPU's first event, NO_EVENT
 * before it: this one then leads, *leader set), and appends its domain. Returns 0 (also when the
 * event is skipped), NEMB_EACCES or another negative code, with @p why filled on failure. */
static int add_counter(perf_state *st, unsigned type, size_t k, const event *ev, const char *name,
                       unsigned cpu, size_t *leader, char *why, size_t len) {
  if (st->n >= NEMB__MAX_DOMAINS) {
    nemb__log(NEMB_LOG_WARN, "perf: more than %d counters, %s is left out", NEMB__MAX_DOMAINS,
              name);
    return 0;
  }
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = type;
  attr.size = sizeof attr;
  attr.config = ev->config;
  attr.read_format = PERF_FORMAT_GROUP;
  int fd = -1;
  if (*leader != NO_EVENT) {
    fd = nemb__perf_sys.open(&attr, -1, (int)cpu, st->fds[*leader], PERF_FLAG_FD_CLOEXEC);
    if (fd < 0 && errno == EINVAL) {
      nemb__log(NEMB_LOG_INFO, "perf: power/%s/ on CPU %u cannot join a group: read on its own",
                known[k].event, cpu);
    }
  }
  bool joined = fd >= 0;
  if (!joined) {
    fd = nemb__perf_sys.open(&attr, -1, (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);
  }
  if (fd < 0) {
    int e = errno;
    if (is_denied(e)) {
      return deny(why, len, known[k].event, cpu, e);
    }
    if (is_unsupported(e)) {
      nemb__log(NEMB_LOG_INFO, "perf: power/%s/ cannot be counted on CPU %u: %s", known[k].event,
                cpu, strerror(e));
      return 0;
    }
    nemb__say(why, len, "perf_event_open of power/%s/ on CPU %u failed: %s", known[k].event, cpu,
              strerror(e));
    return nemb__from_errno(e);
  }
  nemb__domain *d = &st->domains[st->n];
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  switch (known[k].role) {
  case ROLE_PACKAGE:
    d->kind = NEMB__KIND_PACKAGE;
    d->top_level = true;
    d->in_total = true;
    break;
  case ROLE_DRAM: /* a separate counter, not inside the package */
    d->kind = NEMB__KIND_DRAM;
    d->top_level = true;
    d->in_total = true;
    break;
  case ROLE_PSYS: /* the whole platform: it contains the packages */
    d->kind = NEMB__KIND_PLATFORM;
    d->top_level = true;
    d->in_total = false;
    break;
  case ROLE_NESTED:
    d->kind = NEMB__KIND_NESTED;
    break;
  }
  d->range_uj = 0; /* 64-bit, accumulated by the kernel */
  d->method = NEMB__METHOD_COUNTER;
  snprintf(d->detail, sizeof d->detail, "perf power/%s/ on CPU %u", known[k].event, cpu);
  st->fds[st->n] = fd;
  st->uj_per_count[st->n] = ev->scale_uj;
  join_group(st, joined ? *leader : NO_EVENT, st->n);
  if (!joined && *leader == NO_EVENT) {
    *leader = st->n; /* the CPU's next events join this one */
  }
  st->n++;
  return 0;
}

/* Lists what each package contains, and what psys contains, as powercap does. */
static void link_domains(perf_state *st) {
  size_t pkg = SIZE_MAX;
  for (size_t i = 0; i < st->n; i++) {
    nemb__domain *d = &st->domains[i];
    if (strcmp(d->kind, NEMB__KIND_PACKAGE) == 0) {
      pkg = i;
    } else if (strcmp(d->kind, NEMB__KIND_NESTED) == 0 && pkg != SIZE_MAX) {
      nemb__domain_add_include(&st->domains[pkg], d->name);
    }
  }
  for (size_t i = 0; i < st->n; i++) {
    if (strcmp(st->domains[i].kind, NEMB__KIND_PLATFORM) != 0) {
      continue;
    }
    for (int pass = 0; pass < 2; pass++) {
      const char *kind = pass == 0 ? NEMB__KIND_PACKAGE : NEMB__KIND_NESTED;
      for (size_t j = 0; j < st->n; j++) {
        if (strcmp(st->domains[j].kind, kind) == 0) {
          nemb__domain_add_include(&st->domains[i], st->domains[j].name);
        }
      }
    }
  }
}

/* Keeps, in place and in CPU order, the CPUs of @p cpus that the PMU's cpumask lists ("0,64" or
 * ranges "0-1"): one per physical counter. Returns how many; 0 when the cpumask cannot be read or
 * names none of them (the caller then takes one CPU per package and die). */
static size_t keep_pmu_cpus(nemb__cpu *cpus, size_t n) {
  char text[4096];
  if (read_pmu_file("cpumask", text, sizeof text) != 0) {
    return 0;
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    bool listed = false;
    const char *s = text;
    while (*s != '\0' && !listed) {
      char *end;
      unsigned long lo = strtoul(s, &end, 10);
      if (end == s) {
        break;
      }
      unsigned long hi = lo;
      if (*end == '-') {
        s = end + 1;
        hi = strtoul(s, &end, 10);
        if (end == s) {
          break;
        }
      }
      listed = cpus[i].cpu >= lo && cpus[i].cpu <= hi;
      s = end + strspn(end, ", \n");
    }
    if (listed) {
      cpus[kept++] = cpus[i];
    }
  }
  return kept;
}

/* True when two of @p units are in one package: their domains then carry the die in their
 * names, as powercap's "package-N-die-D" zones do. */
static bool dies_counted_apart(const nemb__cpu *units, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (units[i].package == units[j].package) {
        return true;
      }
    }
  }
  return false;
}

static int perf_read(void *state, uint64_t t_ns, uint64_t *raw_uj);

/* True when any of @p st's counters changes within @p wait_ns (or the wait is 0). A virtual
 * machine can list the power PMU's events, open them and count nothing: on a Firecracker guest
 * (NVIDIA H200 host, 2026-11) energy-psys opened and read 0 for good, and a provider taking it
 * would keep the CPU estimate from running while reporting 0 J as measured. */
static bool counters_move(perf_state *st, uint64_t wait_ns) {
  if (wait_ns == 0 || st->n == 0) {
    return true;
  }
  uint64_t first[NEMB__MAX_DOMAINS], now[NEMB__MAX_DOMAINS];
  if (perf_read(st, 0, first) != 0) {
    return true; /* a failing read is the sampler's to report, not a dead counter */
  }
  uint64_t t0 = nemb__now_ns();
  do {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    if (perf_read(st, 0, now) != 0) {
      return true;
    }
    for (size_t i = 0; i < st->n; i++) {
      if (now[i] != first[i] && now[i] != NEMB__RAW_INVALID && first[i] != NEMB__RAW_INVALID) {
        return true;
      }
    }
  } while (nemb__now_ns() - t0 < wait_ns);
  return false;
}

static int perf_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  *state = NULL;
  int enabled = 1;
  if (env != NULL && env->cfg != NULL &&
      nemb_config_get_bool(env->cfg, "providers.perf.enabled", &enabled) == 0 && !enabled) {
    nemb__say(why, why_len, "disabled by providers.perf.enabled in the configuration");
    return NEMB_ENOTSUP;
  }
  /* Under CODEGREEN_SYSFS_ROOT the PMU's files come from a fixture tree, but perf_event_open would
   * still go to the running kernel, where the tree's type number may name another PMU: only a
   * replaced system-call table (the tests' fake kernel) may be used with a fixture. */
  if (nemb__sysfs_root()[0] != '\0' && nemb__perf_sys.open == sys_perf_event_open) {
    nemb__say(
        why, why_len,
        "not probed: CODEGREEN_SYSFS_ROOT substitutes a fixture tree for this machine, and perf "
        "events would still be opened in the running kernel");
    return NEMB_ENOTSUP;
  }
  char text[64];
  uint64_t type = 0;
  int rc = read_pmu_file("type", text, sizeof text);
  if (rc == -EACCES || rc == -EPERM) {
    nemb__say(why, why_len, "cannot read " PMU_DIR "/type: permission denied");
    return NEMB_EACCES;
  }
  if (rc != 0 || nemb__parse_u64(text, &type) != 0 || type > UINT32_MAX) {
    char path[4096];
    if (nemb__path(path, sizeof path, PMU_DIR) != 0) {
      snprintf(path, sizeof path, "%s", PMU_DIR);
    }
    nemb__say(
        why, why_len,
        "no perf 'power' PMU at %s: the kernel's RAPL perf driver is not built in or not loaded "
        "(CONFIG_PERF_EVENTS_INTEL_RAPL, module rapl), the CPU has no RAPL, or this is a virtual "
        "machine, which hides RAPL",
        path);
    return NEMB_ENOTSUP;
  }
  event events[N_KNOWN];
  size_t n_events = 0;
  for (size_t k = 0; k < N_KNOWN; k++) {
    n_events += load_event(known[k].event, &events[k]);
  }
  if (n_events == 0) {
    nemb__say(
        why, why_len,
        "the perf 'power' PMU lists no energy event codegreen can use (energy-pkg, energy-cores, "
        "energy-gpu, energy-ram, energy-psys)");
    return NEMB_ENOTSUP;
  }

  nemb__cpu *units = NULL;
  size_t n_units = 0;
  if (nemb__cpu_list(&units, &n_units) != 0) {
    nemb__say(why, why_len, "out of memory listing CPUs");
    return NEMB_ENOMEM;
  }
  size_t n_masked = keep_pmu_cpus(units, n_units);
  n_units = n_masked > 0 ? nemb__cpu_first_of_each(units, n_masked, false)
                         : nemb__cpu_first_of_each(units, n_units, false);
  nemb__cpu cpu0 = {0, 0, 0, 0};
  const nemb__cpu *list = n_units ? units : &cpu0; /* no topology published: CPU 0 */
  size_t n_list = n_units ? n_units : 1;
  bool multi_die = dies_counted_apart(list, n_list);

  perf_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    free(units);
    nemb__say(why, why_len, "out of memory");
    return NEMB_ENOMEM;
  }
  rc = 0;
  size_t first_leader = NO_EVENT; /* the first package's group */
  for (size_t u = 0; u < n_list && rc == 0; u++) {
    size_t leader = NO_EVENT;
    for (size_t k = 0; k < N_KNOWN && rc == 0; k++) {
      if (!events[k].present || known[k].role == ROLE_PSYS) {
        continue;
      }
      char name[NEMB__NAME_MAX];
      nemb__cpu_domain_name(name, sizeof name, known[k].base, &list[u], n_list, multi_die);
      rc = add_counter(st, (unsigned)type, k, &events[k], name, list[u].cpu, &leader, why, why_len);
    }
    first_leader = u == 0 ? leader : first_leader;
  }
  /* psys is one counter for the whole platform: open it once, on the first package (in its
   * group: the same CPU). */
  for (size_t k = 0; k < N_KNOWN && rc == 0; k++) {
    if (events[k].present && known[k].role == ROLE_PSYS) {
      rc = add_counter(st, (unsigned)type, k, &events[k], known[k].base, list[0].cpu, &first_leader,
                       why, why_len);
    }
  }
  free(units);
  if (rc == 0 && st->n == 0) {
    nemb__say(why, why_len,
              "the perf 'power' PMU is present but the kernel counts none of its energy events on "
              "this machine");
    rc = NEMB_ENOTSUP;
  }
  if (rc != 0) {
    perf_close(st);
    return rc;
  }
  link_domains(st);
  if (!counters_move(st, nemb__perf_sys.alive_wait_ns)) {
    char names[160] = "";
    for (size_t i = 0; i < st->n; i++) {
      size_t used = strlen(names);
      snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", st->domains[i].name);
    }
    nemb__say(why, why_len,
              "the perf 'power' PMU's counters (%s) did not change in %.0f ms, where RAPL "
              "updates every ~1 ms: nothing counts behind them (a virtual machine can expose the "
              "events without the counters)",
              names, (double)nemb__perf_sys.alive_wait_ns / 1e6);
    perf_close(st);
    return NEMB_ENOTSUP;
  }
  *state = st;
  return 0;
}

static size_t perf_domains(void *state, const nemb__domain **out) {
  const perf_state *st = state;
  *out = st->domains;
  return st->n;
}

/* Reads the group @p leader leads, one read() for all its events, into raw_uj[]; 0, or the error
 * that left all of them NEMB__RAW_INVALID. */
static int read_group(const perf_state *st, size_t leader, uint64_t *raw_uj) {
  /* PERF_FORMAT_GROUP: { u64 nr; u64 values[nr]; }, the leader's value first. */
  uint64_t buf[1 + NEMB__MAX_DOMAINS];
  size_t size = st->group_size[leader];
  long want = (long)((1 + size) * sizeof buf[0]);
  long n = nemb__perf_sys.read(st->fds[leader], buf, (size_t)want);
  int rc = n < 0 ? nemb__from_errno(errno) : n != want || buf[0] != size ? NEMB_EIO : 0;
  size_t v = 1;
  for (size_t i = leader; i != NO_EVENT; i = st->group_next[i]) {
    /* long double holds every 64-bit count exactly on x86, so the product stays monotonic. */
    raw_uj[i] =
        rc != 0 ? NEMB__RAW_INVALID : (uint64_t)((long double)buf[v++] * st->uj_per_count[i]);
  }
  return rc;
}

static int perf_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  (void)t_ns;
  const perf_state *st = state;
  int first_rc = 0;
  bool any_ok = false;
  for (size_t i = 0; i < st->n; i++) {
    if (st->group_size[i] == 0) {
      continue; /* read with its group's leader */
    }
    int rc = read_group(st, i, raw_uj); /* a failure: this group's events only */
    first_rc = first_rc ? first_rc : rc;
    any_ok = any_ok || rc == 0;
  }
  return any_ok || st->n == 0 ? 0 : first_rc;
}

static uint64_t perf_update_interval_ns(void *state) {
  (void)state;
  return NEMB__RAPL_UPDATE_NS;
}

const struct nemb__provider_ops nemb__provider_perf = {
    .name = "perf",
    .permission_fix = "sudo codegreen setup-permissions --perf",
    .hidden_in_vm = true,
    .measured = true,
    .open = perf_open,
    .domains = perf_domains,
    .read = perf_read,
    .update_interval_ns = perf_update_interval_ns,
    .close = perf_close,
};
