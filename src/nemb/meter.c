/*
 * meter.c - choosing providers, describing their domains, and the public meter API around the
 * sampler thread (sampler.c) and the sample store (store.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

/* Power assumed for a domain whose provider states no ceiling when deciding how often a
 * counter must be read to see every wrap: generous for a CPU package or DRAM. */
#define DEFAULT_MAX_POWER_UW 2000000000ull /* 2 kW */
#define MIN_GUARD_NS 100000ull             /* never read more often than every 100 us */

static void close_providers(nemb_meter *m) {
  for (size_t i = 0; i < m->n_providers; i++) {
    m->providers[i].ops->close(m->providers[i].state);
  }
  m->n_providers = 0;
  m->n_domains = 0;
}

/* Opens one provider and appends its domains. On failure, *why says why. */
static int add_provider(nemb_meter *m, const struct nemb__provider_ops *ops,
                        const nemb_config *cfg, char *why, size_t why_len) {
  if (m->n_providers >= NEMB__MAX_PROVIDERS) {
    snprintf(why, why_len, "too many providers (at most %d)", NEMB__MAX_PROVIDERS);
    return NEMB_EINVAL;
  }
  nemb__provider_env env = {cfg};
  void *state = NULL;
  why[0] = '\0';
  int rc = ops->open(&env, &state, why, why_len);
  if (rc != 0) {
    if (why[0] == '\0') {
      snprintf(why, why_len, "%s", nemb_strerror(rc));
    }
    return rc;
  }
  const nemb__domain *doms;
  size_t n = ops->domains(state, &doms);
  if (m->n_domains + n > NEMB__MAX_DOMAINS) {
    ops->close(state);
    snprintf(why, why_len, "more than %d domains in all", NEMB__MAX_DOMAINS);
    return NEMB_ERANGE;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < m->n_domains; j++) {
      if (strcmp(m->domains[j].name, doms[i].name) == 0) {
        snprintf(why, why_len,
                 "domain %s is reported by both %s and %s; select only one of them so it is not "
                 "counted twice",
                 doms[i].name, m->source[j], ops->name);
        ops->close(state);
        return NEMB_ECONFIG;
      }
    }
  }
  nemb__open_provider *op = &m->providers[m->n_providers++];
  op->ops = ops;
  op->state = state;
  op->first = m->n_domains;
  op->count = n;
  for (size_t i = 0; i < n; i++) {
    size_t d = m->n_domains++;
    m->domains[d] = doms[i];
    m->source[d] = ops->name;
    m->measured[d] = ops->measured;
    for (size_t k = 0; k < doms[i].n_includes; k++) {
      m->include_ptrs[d][k] = m->domains[d].includes[k];
    }
  }
  return 0;
}

/* Copies the next comma-separated, space-trimmed name of *list into @p name; false at the end. */
static bool next_name(const char **list, char *name, size_t len) {
  const char *p = *list;
  while (*p == ',' || isspace((unsigned char)*p)) {
    p++;
  }
  if (*p == '\0') {
    return false;
  }
  const char *end = p;
  while (*end != '\0' && *end != ',') {
    end++;
  }
  size_t n = (size_t)(end - p);
  while (n > 0 && isspace((unsigned char)p[n - 1])) {
    n--;
  }
  snprintf(name, len, "%.*s", (int)n, p);
  *list = end;
  return true;
}

/* CODEGREEN_PROVIDERS=a,b (environment first) or providers.list: exactly those, all required. */
static int select_forced(nemb_meter *m, const nemb_config *cfg, const char *list,
                         const char *origin) {
  char name[NEMB__NAME_MAX * 2];
  char why[1024];
  const char *p = list;
  while (next_name(&p, name, sizeof name)) {
    const struct nemb__provider_ops *ops = nemb__provider_find(name);
    if (ops == NULL) {
      char known[256];
      nemb__provider_names(known, sizeof known);
      return nemb__fail(NEMB_EUNKNOWNPROV, "unknown provider '%s' in %s; this build knows: %s",
                        name, origin, known);
    }
    bool dup = false;
    for (size_t i = 0; i < m->n_providers; i++) {
      dup = dup || m->providers[i].ops == ops;
    }
    if (dup) {
      continue;
    }
    int rc = add_provider(m, ops, cfg, why, sizeof why);
    if (rc != 0) {
      return nemb__fail(rc, "provider %s (required by %s) cannot be used: %s", name, origin, why);
    }
  }
  if (m->n_providers == 0) {
    return nemb__fail(NEMB_ECONFIG, "%s names no provider", origin);
  }
  return 0;
}

/* Every real provider that opens; the estimate only when none does. */
static int select_auto(nemb_meter *m, const nemb_config *cfg) {
  nemb__buf reasons = NEMB__BUF_INIT;
  char why[1024];
  const struct nemb__provider_ops *fallback = NULL;
  for (size_t i = 0; nemb__providers[i] != NULL; i++) {
    const struct nemb__provider_ops *ops = nemb__providers[i];
    if (ops->simulated) {
      continue; /* only ever used when asked for by name */
    }
    if (!ops->measured) {
      fallback = ops;
      continue;
    }
    int rc = add_provider(m, ops, cfg, why, sizeof why);
    if (rc != 0) {
      nemb__buf_printf(&reasons, "%s: %s. ", ops->name, why);
    }
  }
  if (m->n_providers == 0 && fallback != NULL) {
    int rc = add_provider(m, fallback, cfg, why, sizeof why);
    if (rc != 0) {
      nemb__buf_printf(&reasons, "%s: %s. ", fallback->name, why);
    }
  }
  int rc = 0;
  if (m->n_providers == 0) {
    rc = nemb__fail(NEMB_ENOPROVIDER, "no energy provider could be opened. %s",
                    reasons.data ? reasons.data : "");
  }
  nemb__buf_release(&reasons);
  return rc;
}

int nemb_meter_create(const nemb_config *cfg, nemb_meter **out) {
  nemb__clear_error();
  *out = NULL;
  const nemb_config *use;
  nemb_config *owned = NULL;
  int rc = nemb__config_resolve(cfg, &use, &owned);
  if (rc != 0) {
    return rc;
  }

  nemb_meter *m = calloc(1, sizeof *m);
  if (m == NULL) {
    rc = nemb__fail(NEMB_ENOMEM, "out of memory creating a meter");
    goto fail_config;
  }

  char list[512] = "";
  const char *env_list = getenv("CODEGREEN_PROVIDERS");
  if (env_list != NULL && env_list[strspn(env_list, " ,")] != '\0') {
    rc = select_forced(m, use, env_list, "CODEGREEN_PROVIDERS");
  } else if (nemb_config_get_string(use, "providers.list", list, sizeof list) == 0 &&
             list[strspn(list, " ,")] != '\0') {
    rc = select_forced(m, use, list, "providers.list in the configuration");
  } else {
    rc = select_auto(m, use);
  }
  if (rc != 0) {
    goto fail_providers;
  }

  double interval_ms = 1, max_samples = 7200000;
  nemb_config_get_double(use, "coordinator.measurement_interval_ms", &interval_ms);
  nemb_config_get_double(use, "coordinator.max_samples", &max_samples);
  atomic_init(&m->interval_ns, (uint64_t)(interval_ms * 1e6));

  /* Read each counter at least four times per fastest possible wrap (see unwrap.h). */
  m->guard_ns = UINT64_MAX;
  for (size_t d = 0; d < m->n_domains; d++) {
    nemb__unwrap_init(&m->unwrap[d], m->domains[d].range_uj);
    if (m->domains[d].range_uj == 0) {
      continue;
    }
    uint64_t power = m->domains[d].max_power_uw ? m->domains[d].max_power_uw
                                                : DEFAULT_MAX_POWER_UW;
    double wrap_ns = (double)m->domains[d].range_uj / (double)power * 1e9;
    uint64_t guard = (uint64_t)(wrap_ns / 4);
    if (guard < m->guard_ns) {
      m->guard_ns = guard;
    }
  }
  if (m->guard_ns < MIN_GUARD_NS) {
    nemb__log(NEMB_LOG_WARN, "a counter can wrap within %llu ns; reads every 100 us may miss wraps",
              (unsigned long long)m->guard_ns * 4);
    m->guard_ns = MIN_GUARD_NS;
  }

  rc = nemb__store_init(&m->store, m->n_domains, (size_t)max_samples);
  if (rc != 0) {
    rc = nemb__fail(rc, "out of memory for the sample store");
    goto fail_providers;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are CLOCK_MONOTONIC */
  pthread_cond_init(&m->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&m->lock, NULL);

  nemb_config_destroy(owned);
  *out = m;
  return 0;

fail_providers:
  close_providers(m);
  free(m);
fail_config:
  nemb_config_destroy(owned);
  return rc;
}

void nemb_meter_destroy(nemb_meter *m) {
  if (m == NULL) {
    return;
  }
  nemb__sampler_stop(m);
  close_providers(m);
  nemb__store_release(&m->store);
  pthread_cond_destroy(&m->wake);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

int nemb__meter_set_capacity(nemb_meter *m, size_t cap) {
  if (m->started) {
    return nemb__fail(NEMB_ESTATE, "the sample store's size is fixed once sampling started");
  }
  nemb__store fresh;
  if (nemb__store_init(&fresh, m->n_domains, cap) != 0) {
    return nemb__fail(NEMB_ENOMEM, "out of memory for a store of %zu samples", cap);
  }
  nemb__store_release(&m->store);
  m->store = fresh; /* nothing reads the store before start, so a plain copy is safe */
  return 0;
}

size_t nemb_meter_domain_count(const nemb_meter *m) {
  return m->n_domains;
}

int nemb_meter_domain(const nemb_meter *m, size_t index, nemb_domain_info *out) {
  if (index >= m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "domain index %zu out of range (the meter has %zu)", index,
                      m->n_domains);
  }
  const nemb__domain *d = &m->domains[index];
  out->name = d->name;
  out->kind = d->kind;
  out->source = m->source[index];
  out->top_level = d->top_level;
  out->in_total = d->in_total;
  out->measured = m->measured[index];
  out->n_includes = d->n_includes;
  out->includes = m->include_ptrs[index];
  out->range_uj = d->range_uj;
  return 0;
}

int nemb_meter_is_estimated(const nemb_meter *m) {
  for (size_t d = 0; d < m->n_domains; d++) {
    if (!m->measured[d]) {
      return 1;
    }
  }
  return 0;
}

int nemb_meter_start(nemb_meter *m) {
  nemb__clear_error();
  if (m->started) {
    return nemb__fail(NEMB_ESTATE, "the meter was already started (a meter starts once)");
  }
  int rc = nemb__sampler_start(m);
  if (rc == 0) {
    m->started = true;
  }
  return rc;
}

int nemb_meter_stop(nemb_meter *m) {
  nemb__clear_error();
  if (!m->thread_live) {
    return nemb__fail(NEMB_ESTATE, "the sampler is not running");
  }
  nemb__sampler_stop(m);
  return 0;
}

int nemb_set_measurement_interval_ms(nemb_meter *m, unsigned ms) {
  if (ms < 1 || ms > 60000) {
    return nemb__fail(NEMB_ERANGE, "measurement interval %u ms is out of range: allowed 1 to 60000",
                      ms);
  }
  atomic_store(&m->interval_ns, (uint64_t)ms * 1000000u);
  pthread_mutex_lock(&m->lock);
  atomic_store(&m->retime, true);
  pthread_cond_signal(&m->wake);
  pthread_mutex_unlock(&m->lock);
  return 0;
}

unsigned nemb_measurement_interval_ms(const nemb_meter *m) {
  return (unsigned)(atomic_load(&((nemb_meter *)m)->interval_ns) / 1000000u);
}

size_t nemb_meter_sample_count(const nemb_meter *m) {
  return nemb__store_count(&m->store);
}

int nemb_meter_sample(const nemb_meter *m, size_t index, uint64_t *t_ns, uint64_t *energy_uj,
                      size_t n) {
  if (n < m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "room for %zu values, the meter has %zu domains", n,
                      m->n_domains);
  }
  size_t count = nemb__store_count(&m->store);
  if (index >= count) {
    return nemb__fail(NEMB_EINVAL, "sample %zu is not stored (%zu are)", index, count);
  }
  const uint64_t *s = nemb__store_at(&m->store, index);
  *t_ns = s[0];
  memcpy(energy_uj, s + 1, m->n_domains * sizeof *energy_uj);
  return 0;
}

int nemb_meter_latest(const nemb_meter *m, uint64_t *t_ns, uint64_t *energy_uj, size_t n) {
  if (n < m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "room for %zu values, the meter has %zu domains", n,
                      m->n_domains);
  }
  nemb_meter *mm = (nemb_meter *)m; /* atomics are read, not changed */
  for (;;) {
    uint64_t s1 = atomic_load_explicit(&mm->latest_seq, memory_order_acquire);
    if (s1 == 0) {
      return nemb__fail(NEMB_ESTATE, "nothing was read yet: start the meter first");
    }
    if (s1 & 1) {
      continue; /* the sampler is writing; it takes a few hundred nanoseconds */
    }
    *t_ns = atomic_load_explicit(&mm->latest_t, memory_order_relaxed);
    for (size_t d = 0; d < m->n_domains; d++) {
      energy_uj[d] = atomic_load_explicit(&mm->latest_uj[d], memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&mm->latest_seq, memory_order_relaxed) == s1) {
      return 0;
    }
  }
}

int nemb_meter_stats(const nemb_meter *m, nemb_sampler_stats *out) {
  nemb_meter *mm = (nemb_meter *)m;
  memset(out, 0, sizeof *out);
  out->samples = atomic_load(&mm->st_samples);
  out->reads = atomic_load(&mm->st_reads);
  out->late_wakeups = atomic_load(&mm->st_late);
  out->missed_deadlines = atomic_load(&mm->st_missed);
  out->worst_lateness_ns = atomic_load(&mm->st_worst_late);
  uint64_t wakeups = atomic_load(&mm->st_wakeups);
  out->mean_lateness_ns = wakeups ? atomic_load(&mm->st_late_sum) / wakeups : 0;
  out->read_errors = atomic_load(&mm->st_read_errors);
  out->dropped_at_cap = atomic_load(&mm->st_dropped);
  out->capacity = m->store.cap;
  out->interval_ns = atomic_load(&mm->interval_ns);
  out->running = atomic_load(&mm->running);
  return 0;
}
