/*
 * registry.c - the providers compiled into this build, in the order they are tried.
 *
 * Real counters come first. Their order is also the preference when two of them see the same
 * domain (the meter then reads it from the earlier one only, and cross-checks the later):
 *   perf      the RAPL counters as 64-bit counts the kernel accumulates, so no wrap can be missed
 *             however long the reads pause (a process stopped with SIGSTOP, a suspended job);
 *             opens only with CAP_PERFMON or a lax perf_event_paranoid;
 *   powercap  the kernel's own RAPL interface: unit decoding done, readable by a group without
 *             any capability (codegreen setup-permissions), but the 32-bit register's wraps are
 *             ours to count (unwrap.h: by elapsed time and maximum power);
 *   msr       the raw registers: needs the msr module and CAP_SYS_RAWIO, 32-bit, decoded here;
 *   hwmon     driver sensors, often power only (integrated, less exact);
 *   nvml      NVIDIA GPUs, which nothing else sees.
 * `sim` is listed so that CODEGREEN_PROVIDERS=sim can name it, but the meter never picks it on its
 * own; `estimate` comes last and is used only when no real provider measures a CPU package.
 */
#include <stdio.h>
#include <string.h>

#include "provider.h"

#ifdef NEMB_WITH_POWERCAP
extern const struct nemb__provider_ops nemb__provider_powercap;
#endif
#ifdef NEMB_WITH_PERF
extern const struct nemb__provider_ops nemb__provider_perf;
#endif
#ifdef NEMB_WITH_MSR
extern const struct nemb__provider_ops nemb__provider_msr;
#endif
#ifdef NEMB_WITH_HWMON
extern const struct nemb__provider_ops nemb__provider_hwmon;
#endif
#ifdef NEMB_WITH_NVML
extern const struct nemb__provider_ops nemb__provider_nvml;
#endif
#ifdef NEMB_WITH_SIM
extern const struct nemb__provider_ops nemb__provider_sim;
#endif
#ifdef NEMB_WITH_ESTIMATE
extern const struct nemb__provider_ops nemb__provider_estimate;
#endif

const struct nemb__provider_ops *const nemb__providers[] = {
#ifdef NEMB_WITH_PERF
    &nemb__provider_perf,
#endif
#ifdef NEMB_WITH_POWERCAP
    &nemb__provider_powercap,
#endif
#ifdef NEMB_WITH_MSR
    &nemb__provider_msr,
#endif
#ifdef NEMB_WITH_HWMON
    &nemb__provider_hwmon,
#endif
#ifdef NEMB_WITH_NVML
    &nemb__provider_nvml,
#endif
#ifdef NEMB_WITH_SIM
    &nemb__provider_sim,
#endif
#ifdef NEMB_WITH_ESTIMATE
    &nemb__provider_estimate,
#endif
    NULL,
};

const struct nemb__provider_ops *nemb__provider_find(const char *name) {
  for (size_t i = 0; nemb__providers[i] != NULL; i++) {
    if (strcmp(nemb__providers[i]->name, name) == 0) {
      return nemb__providers[i];
    }
  }
  return NULL;
}

void nemb__provider_names(char *buf, size_t len) {
  size_t used = 0;
  if (len > 0) {
    buf[0] = '\0';
  }
  for (size_t i = 0; nemb__providers[i] != NULL && used < len; i++) {
    int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", nemb__providers[i]->name);
    if (n < 0) {
      break;
    }
    used += (size_t)n;
  }
}

bool nemb__domain_add_include(nemb__domain *d, const char *name) {
  if (d->n_includes >= NEMB__MAX_INCLUDES) {
    return false;
  }
  snprintf(d->includes[d->n_includes], NEMB__NAME_MAX, "%s", name);
  d->n_includes++;
  return true;
}
