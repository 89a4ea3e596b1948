/*
 * estimate.c - a CPU-utilisation power model for machines with no energy counters (virtual
 * machines, containers, CI runners). It is never a measurement: its one domain, "cpu-estimate",
 * has kind "estimate" and the provider is marked measured = false, so reports label it as such.
 *
 * The model:
 *
 *   P(t) = TDP * (idle_fraction + (1 - idle_fraction) * u(t))
 *
 * where u(t) is the whole machine's CPU utilisation over the last interval, from the aggregate
 * "cpu " line of /proc/stat:
 *
 *   busy  = user + nice + system + irq + softirq
 *   total = busy + idle + iowait + steal
 *   u     = delta(busy) / delta(total)
 *
 * guest and guest_nice are left out because the kernel already counts them inside user and nice.
 * steal (time the hypervisor gave to other guests) is not our work but did pass, so it counts in
 * total only. TDP is providers.estimate.tdp_w when that is above 0, else the number of logical
 * CPUs (the "cpuN" lines of /proc/stat) times providers.estimate.watts_per_cpu (default 4 W);
 * idle_fraction is providers.estimate.idle_fraction (default 0.1).
 *
 * Energy is P integrated over the sampler's timestamps. u is recomputed only once a window has
 * passed since the last recomputation; in between, power stays at the last value, so power
 * follows the load one window late. Until the first recomputation u is the average since boot, a
 * better guess than 0 or 1. A step that ends at a recomputation is integrated at the new power,
 * since the new u covers it. The first read() only sets the time base (open() has no timestamp)
 * and returns 0.
 *
 * The window. /proc/stat counts in USER_HZ ticks (Linux fs/proc/stat.c, show_stat(), prints
 * every field through nsec_to_clock_t(); USER_HZ is 100, 10 ms, on the mainstream architectures
 * and sysconf(_SC_CLK_TCK) gives it), each field truncated on its own. On N CPUs the machine
 * accrues N ticks per tick of time, so a window's u is resolved to about one tick out of those:
 * on 2 CPUs a 10 ms window gives u in {0, 1/2, 1} give or take a tick, noise rather than a finer
 * curve. And a read costs the whole file whatever is asked of it: show_stat() is a single_open
 * seq_file that walks every CPU and prints one count per interrupt for the "intr" line on each
 * read from offset 0 (4 us in a hot loop on a 2-vCPU KVM guest, about 25 us from the sampler's
 * cold wake-up: perf put an eighth of the sampler thread's CPU in that pread at one read per
 * 10 ms, the estimate's whole excess over the sim's sampler). So a window is the time the
 * machine takes to accrue WINDOW_TICKS ticks (one tick of error is then about 10 % of u), at
 * least one tick and at most WINDOW_MAX_TICKS ticks of time: 50 ms on 1 or 2 CPUs, 25 ms on 4,
 * 10 ms on 10 or more.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "provider.h"

#define WINDOW_TICKS 10    /* ticks of machine CPU time per recomputation of u ... */
#define WINDOW_MAX_TICKS 5 /* ... within at most this many ticks of time */

typedef struct estimate {
  nemb__domain dom;
  int fd; /* /proc/stat, kept open for pread */
  double tdp_uw;
  double idle_fraction;
  double u;             /* the latest utilisation, 0..1 */
  uint64_t power_uw;    /* the model's power at u, rounded to a whole microwatt */
  double energy_uj;     /* a double so fractions of a microjoule carry over between reads */
  uint64_t busy, total; /* /proc/stat at the last recomputation, in jiffies */
  uint64_t last_t_ns;   /* the previous read()'s timestamp */
  uint64_t stat_t_ns;   /* when u was last recomputed */
  uint64_t tick_ns;     /* one USER_HZ tick: how often /proc/stat changes */
  uint64_t window_ns;   /* u is recomputed once this much time has passed (see the top) */
  bool started;         /* a read() has set the time base */
} estimate;

/* Reads the aggregate line of /proc/stat into busy and total jiffies. Returns 0, -errno or
 * NEMB_EPARSE. Only the first line is looked at, so a short fixed buffer does. */
static int read_stat(int fd, uint64_t *busy, uint64_t *total) {
  char buf[512];
  long n = nemb__pread_text(fd, buf, sizeof buf);
  if (n < 0) {
    return (int)n;
  }
  if (strncmp(buf, "cpu ", 4) != 0 || strchr(buf, '\n') == NULL) {
    return NEMB_EPARSE;
  }
  /* user nice system idle iowait irq softirq steal [guest guest_nice]. Old kernels print fewer
   * fields (steal arrived in 2.6.11), so missing ones count as 0. */
  uint64_t f[8] = {0};
  const char *p = buf + 4;
  size_t got = 0;
  while (got < NEMB__ARRAY_LEN(f)) {
    while (*p == ' ') {
      p++;
    }
    if (*p < '0' || *p > '9') {
      break;
    }
    char *end;
    errno = 0;
    f[got++] = strtoull(p, &end, 10);
    if (errno == ERANGE) {
      return NEMB_EPARSE;
    }
    p = end;
  }
  if (got < 4 || (*p != ' ' && *p != '\n')) {
    return NEMB_EPARSE;
  }
  *busy = f[0] + f[1] + f[2] + f[5] + f[6];
  *total = *busy + f[3] + f[4] + f[7];
  return 0;
}

/* Counts the "cpuN" lines that follow the aggregate line: the online logical CPUs. */
static unsigned count_cpus(const char *path) {
  FILE *fp = fopen(path, "re");
  if (fp == NULL) {
    return 0;
  }
  char line[512];
  unsigned n = 0;
  while (fgets(line, sizeof line, fp) != NULL && strncmp(line, "cpu", 3) == 0) {
    if (line[3] >= '0' && line[3] <= '9') {
      n++;
    }
  }
  fclose(fp);
  return n;
}

static void set_power(estimate *e) {
  e->power_uw = (uint64_t)llround(e->tdp_uw * (e->idle_fraction + (1 - e->idle_fraction) * e->u));
}

/* The getters fall back to the default when the key cannot be read, so a config that lacks the
 * estimate section still gets the documented model. */
static int estimate_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  int enabled;
  if (nemb_config_get_bool(env->cfg, "providers.estimate.enabled", &enabled) == 0 && !enabled) {
    snprintf(why, why_len, "disabled by providers.estimate.enabled in the configuration");
    return NEMB_ENOTSUP;
  }
  double per_cpu = nemb__config_number(env->cfg, "providers.estimate.watts_per_cpu");
  double tdp_w = nemb__config_number(env->cfg, "providers.estimate.tdp_w");
  double idle = nemb__config_number(env->cfg, "providers.estimate.idle_fraction");
  /* Negated comparisons so that a NaN is refused too. */
  if (!(idle >= 0 && idle <= 1)) {
    snprintf(why, why_len, "providers.estimate.idle_fraction is %g; it must be from 0 to 1", idle);
    return NEMB_ECONFIG;
  }
  if (!(tdp_w > 0) && !(per_cpu > 0)) {
    snprintf(why, why_len,
             "providers.estimate.watts_per_cpu is %g; it must be above 0 unless "
             "providers.estimate.tdp_w is set",
             per_cpu);
    return NEMB_ECONFIG;
  }

  char path[4096];
  int err = nemb__path(path, sizeof path, "/proc/stat");
  if (err != 0) {
    snprintf(why, why_len, "the path of /proc/stat under CODEGREEN_SYSFS_ROOT is too long");
    return err;
  }
  estimate *e = calloc(1, sizeof *e);
  if (e == NULL) {
    return NEMB_ENOMEM;
  }
  e->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (e->fd < 0) {
    int saved = errno;
    err = nemb__from_errno(saved);
    snprintf(why, why_len, "cannot open %s: %s", path, strerror(saved));
    goto fail_alloc;
  }
  err = read_stat(e->fd, &e->busy, &e->total);
  if (err != 0) {
    snprintf(why, why_len, "cannot read the \"cpu \" line of %s: %s", path, nemb_strerror(err));
    goto fail_fd;
  }
  unsigned cpus = count_cpus(path);
  if (tdp_w > 0) {
    nemb__log(NEMB_LOG_INFO, "estimate: TDP %.1f W from providers.estimate.tdp_w", tdp_w);
  } else {
    if (cpus == 0) {
      err = NEMB_EPARSE;
      snprintf(why, why_len,
               "%s lists no cpuN lines to count CPUs by; set providers.estimate.tdp_w", path);
      goto fail_fd;
    }
    tdp_w = cpus * per_cpu;
    nemb__log(NEMB_LOG_INFO, "estimate: TDP %.1f W = %u CPUs x %.1f W", tdp_w, cpus, per_cpu);
  }

  long hz = sysconf(_SC_CLK_TCK);
  e->tick_ns = hz > 0 ? 1000000000ull / (uint64_t)hz : 10000000ull;
  e->window_ns = e->tick_ns * WINDOW_TICKS / (cpus > 0 ? cpus : 1);
  e->window_ns = e->window_ns < e->tick_ns ? e->tick_ns : e->window_ns;
  e->window_ns =
      e->window_ns > e->tick_ns * WINDOW_MAX_TICKS ? e->tick_ns * WINDOW_MAX_TICKS : e->window_ns;
  e->tdp_uw = tdp_w * 1e6;
  e->idle_fraction = idle;
  e->u = e->total > 0 ? (double)e->busy / (double)e->total : 0;
  set_power(e);
  snprintf(e->dom.name, sizeof e->dom.name, "cpu-estimate");
  e->dom.kind = NEMB__KIND_ESTIMATE;
  e->dom.top_level = true;
  e->dom.in_total = true;
  e->dom.range_uj = 0;
  e->dom.max_power_uw = (uint64_t)llround(e->tdp_uw);
  *state = e;
  return 0;

fail_fd:
  close(e->fd);
fail_alloc:
  free(e);
  return err;
}

static size_t estimate_domains(void *state, const nemb__domain **out) {
  estimate *e = state;
  *out = &e->dom;
  return 1;
}

static int estimate_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  estimate *e = state;
  if (!e->started) {
    /* open() had no timestamp, so the first reading only sets the time base. */
    e->started = true;
    e->last_t_ns = t_ns;
    e->stat_t_ns = t_ns;
    raw_uj[0] = 0;
    return 0;
  }
  if (t_ns > e->stat_t_ns && t_ns - e->stat_t_ns >= e->window_ns) {
    uint64_t busy = 0, total = 0;
    int err = read_stat(e->fd, &busy, &total);
    if (err != 0) {
      return err; /* nothing changed: the next good read integrates the whole gap */
    }
    /* iowait can step backwards on some kernels; keep u then rather than invent a value. */
    if (total > e->total && busy >= e->busy) {
      double u = (double)(busy - e->busy) / (double)(total - e->total);
      e->u = u > 1 ? 1 : u;
      set_power(e);
    }
    e->busy = busy;
    e->total = total;
    e->stat_t_ns = t_ns;
  }
  /* The u just computed covers the time since the previous recomputation, which contains this
   * step, so the step is integrated at the new power. */
  if (t_ns > e->last_t_ns) {
    e->energy_uj += (double)e->power_uw * (double)(t_ns - e->last_t_ns) / 1e9;
    e->last_t_ns = t_ns;
  }
  raw_uj[0] = (uint64_t)e->energy_uj;
  return 0;
}

/* /proc/stat's own update: one tick. The model's power changes once a window. */
static uint64_t estimate_update_interval_ns(void *state) {
  const estimate *e = state;
  return e->tick_ns;
}

static void estimate_close(void *state) {
  estimate *e = state;
  if (e != NULL) {
    close(e->fd);
    free(e);
  }
}

const struct nemb__provider_ops nemb__provider_estimate = {
    .name = "estimate",
    .measured = false,
    .open = estimate_open,
    .domains = estimate_domains,
    .read = estimate_read,
    .update_interval_ns = estimate_update_interval_ns,
    .close = estimate_close,
};
