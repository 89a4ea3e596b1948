/*
 * report_meta.c - the "meta" block of the report: who, where and when a session ran, and what
 * measured it (domain topology, sampler statistics, the quality verdict computed by report.c).
 *
 * Everything here describes the host or the session's options; nothing reads samples. Host facts
 * that can be missing (cpu_model, cwd) are written as null rather than guessed.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "report.h"
#include "utf8.h"

extern char **environ;

json_t *nemb__report_string(const char *v) {
  if (v == NULL) {
    return json_null();
  }
  json_t *out = json_string(v);
  if (out != NULL) {
    return out;
  }
  /* Not UTF-8 (a name from C code, an odd environment): JSON cannot carry it, so each bad byte
   * becomes U+FFFD (utf8.h's rule, the CLI's too), rather than lose the whole report. */
  char *fixed = nemb__utf8_text(v);
  out = fixed != NULL ? json_string(fixed) : NULL;
  free(fixed);
  return out;
}

/* A JSON string, or null for NULL. */
static json_t *str_or_null(const char *v) {
  return nemb__report_string(v);
}

double nemb__report_wall(const nemb_session *s, uint64_t t_ns) {
  /* Signed: a time before t_begin (never expected) still maps to the right instant. */
  return s->wall_begin + ((double)t_ns - (double)s->t_begin) / 1e9;
}

/* Splits POSIX seconds into whole seconds and microseconds, rounding to the nearest microsecond. */
static void split_wall(double wall, time_t *sec, long *usec) {
  double whole = floor(wall);
  long us = lround((wall - whole) * 1e6);
  if (us >= 1000000) {
    whole += 1;
    us -= 1000000;
  }
  *sec = (time_t)whole;
  *usec = us;
}

/* "2026-05-10T18:16:56.209074+00:00". */
static json_t *rfc3339_utc(double wall) {
  time_t sec;
  long usec;
  split_wall(wall, &sec, &usec);
  struct tm tm;
  char date[64], out[96];
  if (gmtime_r(&sec, &tm) == NULL || strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return json_null();
  }
  snprintf(out, sizeof out, "%s.%06ld+00:00", date, usec);
  return json_string(out);
}

/* "+05:30" / "-07:00" for an offset east of UTC in seconds. */
static void format_offset(long gmtoff, char *buf, size_t len) {
  char sign = gmtoff < 0 ? '-' : '+';
  /* Real offsets lie within a day; the bound also tells the compiler the text fits. */
  int a = (int)(labs(gmtoff) % 86400);
  snprintf(buf, len, "%c%02d:%02d", sign, a / 3600, a % 3600 / 60);
}

/* The same instant in local time with its offset: "2026-05-10T11:16:56.209074-07:00". */
static json_t *rfc3339_local(double wall) {
  time_t sec;
  long usec;
  split_wall(wall, &sec, &usec);
  struct tm tm;
  char date[64], off[16], out[112];
  if (localtime_r(&sec, &tm) == NULL ||
      strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return json_null();
  }
  format_offset(tm.tm_gmtoff, off, sizeof off);
  snprintf(out, sizeof out, "%s.%06ld%s", date, usec, off);
  return json_string(out);
}

/* The local zone's abbreviation at @p wall ("PDT"), or its offset ("+05:30") where the zone has
 * no alphabetic abbreviation (tzdata writes "+0530"-style names for many zones, or none). */
static json_t *host_timezone(double wall) {
  time_t sec = (time_t)floor(wall);
  struct tm tm;
  if (localtime_r(&sec, &tm) == NULL) {
    return json_null();
  }
  const char *z = tm.tm_zone;
  bool alpha = z != NULL && z[0] != '\0';
  for (const char *p = z; alpha && *p; p++) {
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) {
      alpha = false;
    }
  }
  if (alpha) {
    return json_string(z);
  }
  char off[16];
  format_offset(tm.tm_gmtoff, off, sizeof off);
  return json_string(off);
}

/* "model name" from /proc/cpuinfo (under CODEGREEN_SYSFS_ROOT), or NULL. */
static json_t *cpu_model(void) {
  char path[4096];
  if (nemb__path(path, sizeof path, "/proc/cpuinfo") != 0) {
    return json_null();
  }
  FILE *fp = fopen(path, "r");
  if (fp == NULL) {
    return json_null();
  }
  char line[1024];
  json_t *out = NULL;
  while (out == NULL && fgets(line, sizeof line, fp) != NULL) {
    if (strncmp(line, "model name", 10) != 0) {
      continue;
    }
    char *colon = strchr(line, ':');
    if (colon == NULL) {
      continue;
    }
    char *v = colon + 1 + strspn(colon + 1, " \t");
    v[strcspn(v, "\r\n")] = '\0';
    if (v[0] != '\0') {
      out = str_or_null(v);
    }
  }
  fclose(fp);
  return out ? out : json_null();
}

/* "Linux-6.8.0-45-generic-x86_64", in the spirit of Python's platform.platform(). */
static json_t *kernel(void) {
  struct utsname u;
  if (uname(&u) != 0) {
    return json_null();
  }
  char out[3 * sizeof u.release + 4];
  snprintf(out, sizeof out, "%s-%s-%s", u.sysname, u.release, u.machine);
  return str_or_null(out);
}

static json_t *hostname(void) {
  char name[256];
  if (gethostname(name, sizeof name) != 0) {
    return json_null();
  }
  name[sizeof name - 1] = '\0';
  return str_or_null(name);
}

static json_t *cwd(void) {
  char *dir = getcwd(NULL, 0);
  json_t *out = str_or_null(dir);
  free(dir);
  return out;
}

static json_t *argv_array(const nemb_session *s) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < s->argc; i++) {
    if (s->argv[i] != NULL && json_array_append_new(a, str_or_null(s->argv[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

/* Every CODEGREEN_* variable, in environment order. */
static json_t *codegreen_env(void) {
  json_t *o = json_object();
  for (char **e = environ; o != NULL && e != NULL && *e != NULL; e++) {
    if (strncmp(*e, "CODEGREEN_", 10) != 0) {
      continue;
    }
    const char *eq = strchr(*e, '=');
    if (eq == NULL) {
      continue;
    }
    char key[256];
    size_t klen = (size_t)(eq - *e);
    if (klen >= sizeof key) {
      continue;
    }
    memcpy(key, *e, klen);
    key[klen] = '\0';
    if (json_object_set_new(o, key, str_or_null(eq + 1)) != 0) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

static json_t *domain_topology(const nemb_meter *m) {
  json_t *o = json_object();
  size_t n = m ? nemb_meter_domain_count(m) : 0;
  for (size_t d = 0; o != NULL && d < n; d++) {
    nemb_domain_info info;
    nemb_meter_domain(m, d, &info);
    json_t *inc = json_array();
    for (size_t k = 0; inc != NULL && k < info.n_includes; k++) {
      json_array_append_new(inc, json_string(info.includes[k]));
    }
    json_t *dom = json_pack("{s:b, s:s, s:o*, s:s, s:b, s:b}", "top_level", info.top_level, "kind",
                            info.kind, "includes", inc, "source", info.source, "in_total",
                            info.in_total, "measured", info.measured);
    if (dom != NULL && m->domains[d].whole_device) {
      /* A GPU in MIG mode: NVML's energy is the physical GPU's, whatever instance is ours. */
      json_object_set_new(dom, "scope", json_string("whole_gpu"));
    }
    if (inc == NULL || dom == NULL || json_object_set_new(o, info.name, dom) != 0) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

/* "estimated" wins over "simulated": a number that is a model must always say so. */
const char *nemb_meter_energy_source(const nemb_meter *m) {
  if (m == NULL) {
    return "none";
  }
  if (nemb_meter_is_estimated(m)) {
    return "estimated";
  }
  for (size_t p = 0; p < m->n_providers; p++) {
    if (m->providers[p].ops->simulated) {
      return "simulated";
    }
  }
  return "measured";
}

const char *nemb_energy_source_words(const char *source) {
  if (source == NULL) {
    return "unknown";
  }
  if (strcmp(source, "measured") == 0) {
    return "measured";
  }
  if (strcmp(source, "estimated") == 0) {
    return "ESTIMATED from CPU time, not measured";
  }
  if (strcmp(source, "simulated") == 0) {
    return "SIMULATED device, not hardware";
  }
  if (strcmp(source, "none") == 0) {
    return "NOT MEASURED: no energy backend";
  }
  return "unknown";
}

static const char *domain_support(const nemb_meter *m) {
  if (m == NULL) {
    return "none";
  }
  return nemb_meter_domain_count(m) > 1 ? "full" : "scalar_only";
}

/* The reference's block; "layout": "columnar" only in that layout (report_columnar.c), so the
 * default report stays the reference's (no "layout" means the samples layout). */
static json_t *timeseries_block(const nemb_session *s) {
  json_t *o =
      json_pack("{s:b, s:s, s:[s,s,s,s,s], s:s, s:b}", "enabled", s->record_time_series,
                "schema_version", "1", "sample_keys", "t_ns", "energy_j", "power_w", "domain_j",
                "domain_w", "t_ns_clock", "clock_monotonic", "inclusive_of_children", 1);
  if (o != NULL && s->record_time_series && s->columnar &&
      json_object_set_new(o, "layout", json_string("columnar")) != 0) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Where task and checkpoint instants come from (clock.h), and how far to trust their ns. */
static json_t *boundary_clock_block(const nemb_session *s) {
  const nemb__clock *c = &s->clock;
  double hz = nemb__clock_tsc_hz(c);
  return json_pack("{s:s, s:s, s:s, s:o, s:I}", "source", nemb__clock_kind_name(c->kind),
                   "reported_as", "clock_monotonic", "why", c->why, "tsc_hz",
                   hz > 0 ? json_real(hz) : json_null(), "error_ns",
                   (json_int_t)nemb__clock_error_ns(c));
}

/* What went wrong with each domain's readings, one object per domain that failed. */
static json_t *domain_failures(const nemb_session *s) {
  const nemb_meter *m = s->meter;
  json_t *list = json_array();
  for (size_t d = 0; d < m->n_domains && list != NULL; d++) {
    if (m->dom_errors[d] == 0) {
      continue;
    }
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "domain", m->domains[d].name, "source",
                          m->source[d], "failed_reads", (json_int_t)m->dom_errors[d], "error",
                          nemb_strerror(m->dom_last_rc[d]));
    if (o != NULL && m->dom_lost_at[d] != 0) {
      double at =
          m->dom_lost_at[d] > s->t_begin ? (double)(m->dom_lost_at[d] - s->t_begin) / 1e9 : 0.0;
      json_object_set_new(o, "lost_at_s", json_real(at));
    }
    json_array_append_new(list, o);
  }
  return list;
}

/* Appends one warning, formatted like printf (at most 320 bytes), to @p w. */
static void warn(json_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(json_t *w, const char *fmt, ...) {
  char text[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  json_array_append_new(w, json_string(text));
}

/* Whether domain @p d's counter was seen to change in the session. Without a change no update
 * period was observed: the one the meter works with is then only the provider's nominal one,
 * so meta.sampler.update_period_us says null ("unknown"), not that. */
static bool seen_update(const nemb_meter *m, size_t d) {
  return m->have_first[d] && m->total[d] != m->first_v[d];
}

/* A counter that never moved over many of its updates read nothing, which is not the same as
 * measuring zero: a virtual machine can expose an energy event with no counter behind it (a
 * Firecracker guest's perf energy-psys read 0 throughout, README "Measured on real hardware").
 * Below a second or 100 nominal updates a quiet domain (an idle integrated GPU) is not
 * remarkable. The one rule for the warning and for meta.sampler.never_changed, by which the
 * CLI shows no 0 J as a measurement. */
static bool never_changed(const nemb_session *s, size_t d) {
  const nemb_meter *m = s->meter;
  double span_ns = s->t_end > s->t_begin ? (double)(s->t_end - s->t_begin) : 0.0;
  return m->measured[d] && m->have_first[d] && !seen_update(m, d) && m->dom_lost_at[d] == 0 &&
         m->dom_errors[d] == 0 && span_ns >= 1e9 && span_ns >= 100.0 * nemb__meter_period_ns(m, d);
}

/* Plain sentences about anything that makes the figures less than exact. */
static json_t *sampler_warnings(const nemb_session *s, const nemb_sampler_stats *st,
                                double resolution_ms) {
  const nemb_meter *m = s->meter;
  json_t *w = json_array();
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->dom_lost_at[d] != 0) {
      double at =
          m->dom_lost_at[d] > s->t_begin ? (double)(m->dom_lost_at[d] - s->t_begin) / 1e9 : 0.0;
      if (m->dom_last_rc[d] == NEMB_ETIMEDOUT) {
        /* A hung driver call (poller.h): say so, it is not the GPU's energy that failed. */
        warn(w,
             "domain %s (%s) stopped answering at %.2f s: a read did not return within its "
             "deadline (a hung driver call); its energy stops there; the other domains are "
             "measured in full",
             m->domains[d].name, m->source[d], at);
      } else {
        warn(w,
             "domain %s (%s) was lost at %.2f s (%s): its energy stops there; the other "
             "domains are measured in full",
             m->domains[d].name, m->source[d], at, nemb_strerror(m->dom_last_rc[d]));
      }
    }
  }
  char still[240] = "";
  size_t n_still = 0;
  for (size_t d = 0; d < m->n_domains; d++) {
    if (never_changed(s, d)) {
      size_t used = strlen(still);
      snprintf(still + used, sizeof still - used, "%s%s (%s, update period unknown)",
               n_still ? ", " : "", m->domains[d].name, m->source[d]);
      n_still++;
    }
  }
  double span_ns = s->t_end > s->t_begin ? (double)(s->t_end - s->t_begin) : 0.0;
  if (n_still > 0) {
    warn(w,
         "%s %s never changed in %.2f s: %s 0 J is no measurement of zero; %s used under one "
         "counter unit, or nothing counts behind %s (a virtual machine can expose an event "
         "without its counter)",
         n_still == 1 ? "domain" : "domains", still, span_ns / 1e9, n_still == 1 ? "its" : "their",
         n_still == 1 ? "it" : "each", n_still == 1 ? "it" : "them");
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->domains[d].whole_device) {
      warn(w,
           "domain %s (%s) is a GPU in MIG mode: NVML counts energy per physical GPU, not "
           "per instance, so its figure is the whole GPU's, other instances' work included",
           m->domains[d].name, m->source[d]);
    }
  }
  if (st->rejected_readings > 0) {
    warn(w,
         "%llu counter reading(s) were rejected as physically impossible (a step beyond the "
         "domain's maximum power) and measured from the last good reading instead",
         (unsigned long long)st->rejected_readings);
  }
  if (m->bridge_to_ns > m->bridge_from_ns) {
    double from =
        m->bridge_from_ns > s->t_begin ? (double)(m->bridge_from_ns - s->t_begin) / 1e9 : 0.0;
    warn(w,
         "no sample covers %.3f s to %.3f s (%s): the energy across it is the straight line "
         "between the samples on either side, an estimate counted in energy_uncertainty_j",
         from, from + (double)(m->bridge_to_ns - m->bridge_from_ns) / 1e9, m->bridge_why);
  }
  if (st->counter_resets > 0) {
    warn(w,
         "%llu counter reset(s): the energy between the last reading before and the first "
         "after each is estimated from the power just before it",
         (unsigned long long)st->counter_resets);
  }
  if (st->ambiguous_gaps > 0) {
    warn(w,
         "%llu gap(s) between reads (the process was stopped?) were long enough to hide "
         "counter wraps; their number was inferred from the power before the gap",
         (unsigned long long)st->ambiguous_gaps);
  }
  if (st->coarsened > 0) {
    warn(w,
         "the time series was coarsened %llu time(s) to stay within coordinator.max_samples: "
         "its effective resolution is %.3g ms (task and session energies are unaffected)",
         (unsigned long long)st->coarsened, resolution_ms);
  }
  return w;
}

/* The time series' resolution after @p st's coarsenings, in ms. */
static double effective_resolution_ms(const nemb_sampler_stats *st) {
  return (double)st->interval_ns / 1e6 * (double)(1ull << (st->coarsened & 63));
}

int nemb__report_warnings_json(const nemb_session *s, char **out) {
  json_t *w = NULL;
  if (s->meter == NULL) {
    w = json_array();
    if (w != NULL && s->backend_error[0] != '\0') {
      /* No backend (not a follower rank, whose meter is its leader's): the program ran on, every
       * energy is 0; the report's meta.backend_error says the same. */
      char *text = nemb__utf8_text(s->backend_error); /* a path in it may not be UTF-8 */
      json_t *why = text ? json_sprintf("no energy backend, so every energy is 0 "
                                        "(measurement_quality \"no_backend\"): %s",
                                        text)
                         : NULL;
      free(text);
      json_array_append_new(w, why != NULL ? why : json_string("no energy backend"));
    }
  } else {
    nemb_sampler_stats st;
    nemb_meter_stats(s->meter, &st);
    w = sampler_warnings(s, &st, effective_resolution_ms(&st));
  }
  *out = w != NULL ? json_dumps(w, JSON_COMPACT) : NULL;
  json_decref(w);
  return *out != NULL ? 0 : nemb__fail(NEMB_ENOMEM, "out of memory for the sampler's warnings");
}

static json_t *sampler_block(const nemb_session *s) {
  const nemb_meter *m = s->meter;
  if (m == NULL) {
    return json_null();
  }
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  double resolution_ms = effective_resolution_ms(&st);
  json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "samples", (json_int_t)st.samples,
                        "reads", (json_int_t)st.reads, "late_wakeups", (json_int_t)st.late_wakeups,
                        "missed_deadlines", (json_int_t)st.missed_deadlines, "worst_lateness_ns",
                        (json_int_t)st.worst_lateness_ns, "read_errors", (json_int_t)st.read_errors,
                        "dropped_at_cap", (json_int_t)st.dropped_at_cap);
  if (o == NULL) {
    return NULL;
  }
  json_object_set_new(o, "probes", json_integer((json_int_t)st.probes));
  json_object_set_new(o, "same_update", json_integer((json_int_t)st.same_update));
  json_object_set_new(o, "rejected_readings", json_integer((json_int_t)st.rejected_readings));
  json_object_set_new(o, "counter_resets", json_integer((json_int_t)st.counter_resets));
  json_object_set_new(o, "ambiguous_gaps", json_integer((json_int_t)st.ambiguous_gaps));
  json_object_set_new(o, "coarsened", json_integer((json_int_t)st.coarsened));
  json_object_set_new(o, "effective_resolution_ms", json_real(resolution_ms));
  json_t *periods = json_object();
  json_t *nominal = json_object(), *still = json_array();
  for (size_t d = 0; d < m->n_domains; d++) {
    json_object_set_new(periods, m->domains[d].name,
                        seen_update(m, d) ? json_real(nemb__meter_period_ns(m, d) / 1e3)
                                          : json_null());
    json_object_set_new(nominal, m->domains[d].name, json_real(m->edges[d].nominal_ns / 1e3));
    if (never_changed(s, d)) {
      json_array_append_new(still, json_string(m->domains[d].name));
    }
  }
  json_object_set_new(o, "update_period_us", periods);
  json_object_set_new(o, "nominal_update_period_us", nominal);
  json_object_set_new(o, "never_changed", still);
  /* The CPU time of the reads made on a provider's own thread (NVML): a driver call can spin. */
  json_t *poll_cpu = json_object();
  for (size_t p = 0; p < m->n_providers; p++) {
    if (m->providers[p].polled) {
      json_object_set_new(poll_cpu, m->providers[p].ops->name,
                          json_real((double)m->providers[p].poll_cpu_ns / 1e9));
    }
  }
  json_object_set_new(o, "poller_cpu_s", poll_cpu);
  json_object_set_new(o, "domain_failures", domain_failures(s));
  json_object_set_new(o, "warnings", sampler_warnings(s, &st, resolution_ms));
  return o;
}

/* Sets @p key to @p v (consumed), remembering a failure (a NULL from an allocation). */
static void put(json_t *obj, const char *key, json_t *v, bool *failed) {
  if (v == NULL || json_object_set_new(obj, key, v) != 0) {
    *failed = true;
  }
}

/* Why the verdict is "degraded" (report.c's quality(): a domain lost, two samplers' samples
 * joined, a counter reset, a gap that may hide wraps), in words. */
static json_t *degraded_reason(nemb_meter *m) {
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  char text[1024];
  size_t used = 0;
  text[0] = '\0';
  for (size_t d = 0; d < m->n_domains && used < sizeof text; d++) {
    if (m->dom_lost_at[d] != 0) {
      used += (size_t)snprintf(text + used, sizeof text - used, "domain %s was lost; ",
                               m->domains[d].name);
    }
  }
  if (m->bridge_to_ns > m->bridge_from_ns && used < sizeof text) {
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "%.3f s between two samplers' samples is not measured (%s); ",
                             (double)(m->bridge_to_ns - m->bridge_from_ns) / 1e9, m->bridge_why);
  }
  if (st.counter_resets > 0 && used < sizeof text) {
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "%llu counter reset(s) estimated across; ",
                             (unsigned long long)st.counter_resets);
  }
  if (st.ambiguous_gaps > 0 && used < sizeof text) {
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "%llu gap(s) between reads long enough to hide counter wraps; ",
                             (unsigned long long)st.ambiguous_gaps);
  }
  if (used >= 2 && used < sizeof text) {
    text[used - 2] = '\0'; /* the last "; " */
  }
  return json_string(text);
}

/* Why the verdict is "failed" (the rule is report.c's quality(): samples dropped at the cap, half
 * the reads failing, fewer than two samples) or "degraded", in words; null for every other
 * verdict. */
static json_t *quality_reason(nemb_meter *m, const char *quality) {
  if (m != NULL && quality != NULL && strcmp(quality, "degraded") == 0) {
    return degraded_reason(m);
  }
  if (m == NULL || quality == NULL || strcmp(quality, "failed") != 0) {
    return json_null();
  }
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  char text[1024];
  size_t used = 0;
  text[0] = '\0';
  if (st.dropped_at_cap > 0) {
    used +=
        (size_t)snprintf(text + used, sizeof text - used,
                         "%llu samples were dropped at the sample store's cap of %llu "
                         "(coordinator.max_samples, or buffer_samples); ",
                         (unsigned long long)st.dropped_at_cap, (unsigned long long)st.capacity);
  }
  if (st.read_errors * 2 > st.reads && used < sizeof text) {
    int code = atomic_load(&m->st_last_read_error);
    const char *prov = atomic_load(&m->st_last_read_provider);
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "%llu of %llu counter reads failed (last: %s, %s); ",
                             (unsigned long long)st.read_errors, (unsigned long long)st.reads,
                             prov ? prov : "?", nemb_strerror(code));
  }
  if (st.samples < 2 && used < sizeof text) {
    used += (size_t)snprintf(text + used, sizeof text - used,
                             "only %llu sample%s stored, fewer than the two an energy needs; ",
                             (unsigned long long)st.samples, st.samples == 1 ? " was" : "s were");
  }
  if (used >= 2 && used < sizeof text) {
    text[used - 2] = '\0'; /* the last "; " */
  }
  return json_string(text);
}

json_t *nemb__report_meta(const nemb_session *s, const char *quality) {
  tzset(); /* localtime_r need not read TZ again; the zone may have changed since the last call */
  double wall_start = s->wall_begin;
  double wall_end = nemb__report_wall(s, s->t_end);
  const char *backend_error =
      s->meter == NULL && s->backend_error[0] != '\0' ? s->backend_error : NULL;
  bool failed = false;
  json_t *o = json_object();
  put(o, "schema_version", json_string("1"), &failed);
  put(o, "codegreen_version", json_string(nemb_version_string()), &failed);
  put(o, "run_id", str_or_null(s->run_id), &failed);
  put(o, "session_name", str_or_null(s->name), &failed); /* null for CLI runs */
  put(o, "started_at", rfc3339_utc(wall_start), &failed);
  put(o, "ended_at", rfc3339_utc(wall_end), &failed);
  put(o, "started_at_local", rfc3339_local(wall_start), &failed);
  put(o, "ended_at_local", rfc3339_local(wall_end), &failed);
  put(o, "host_timezone", host_timezone(wall_start), &failed);
  put(o, "duration_total_s", json_real((double)(s->t_end - s->t_begin) / 1e9), &failed);
  put(o, "hostname", hostname(), &failed);
  put(o, "pid", json_integer((json_int_t)getpid()), &failed);
  put(o, "platform", json_string("linux"), &failed);
  put(o, "python_version", str_or_null(s->python_version), &failed);
  put(o, "cpu_model", cpu_model(), &failed);
  put(o, "kernel", kernel(), &failed);
  put(o, "cwd", cwd(), &failed);
  put(o, "argv", argv_array(s), &failed);
  put(o, "codegreen_env", codegreen_env(), &failed);
  put(o, "measurement_quality", json_string(quality), &failed);
  put(o, "measurement_quality_reason", quality_reason(s->meter, quality), &failed);
  put(o, "domain_support", json_string(domain_support(s->meter)), &failed);
  put(o, "energy_source", json_string(nemb_meter_energy_source(s->meter)), &failed);
  put(o, "outlier_method", json_string("iqr_1.5"), &failed);
  put(o, "iso_timestamp_format", json_string("rfc3339_utc"), &failed);
  put(o, "nemb_abi_version", json_integer(nemb_abi_version()), &failed);
  put(o, "domain_topology", domain_topology(s->meter), &failed);
  put(o, "timeseries", timeseries_block(s), &failed);
  put(o, "boundary_clock", boundary_clock_block(s), &failed);
  put(o, "sampler", sampler_block(s), &failed);
  put(o, "backend_error", str_or_null(backend_error), &failed);
  json_t *job = nemb__node_meta(s); /* only in an MPI/Slurm job: rank, role, node energy */
  if (job != NULL) {
    put(o, "job", job, &failed);
  }
  if (s->carbon_g_per_kwh > 0) {
    /* What the co2e_g figures assume: an intensity the user gave, never one looked up. */
    put(o, "carbon",
        json_pack("{s:f, s:s, s:s, s:s}", "intensity_g_per_kwh", s->carbon_g_per_kwh, "source",
                  "user-given", "from", s->carbon_from, "co2e_unit", "g"),
        &failed);
  }
  if (failed) {
    json_decref(o);
    return NULL;
  }
  return o;
}
