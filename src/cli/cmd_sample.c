/*
 * cmd_sample.c - `codegreen sample`: runs the sampler for a fixed time, optionally with a CPU
 * load of its own, and prints the energy per domain and how punctual the sampler was. It shows
 * the measurement core working end to end; `codegreen run` measures real commands.
 *
 * The sampling is a session's (no file written), so that the meter's warnings (a counter that
 * never changed, a lost domain, counter resets: meta.sampler.warnings) are the library's one
 * wording, the same `run` prints.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "nemb.h"
#include "outputs.h"

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen sample [-d SECONDS] [-i MS] [--load THREADS] [--json] [-c CONFIG]\n\n"
          "Runs the sampler for a while and prints the energy each domain used.\n\n"
          "  -d, --duration S    how long to sample (default 1, at most 3600)\n"
          "  -i, --interval-ms M sampling interval in ms (default: the config's, normally 1)\n"
          "  --load N            keep N threads busy meanwhile, so there is something to see\n"
          "  --json              print the result as JSON\n"
          "  -c, --config F      use this config.json instead of the search order\n"
          "  -h, --help          this help\n");
}

static atomic_bool stop_load;

static void *burn(void *arg) {
  (void)arg;
  volatile double x = 1.0;
  while (!atomic_load_explicit(&stop_load, memory_order_relaxed)) {
    for (int i = 0; i < 10000; i++) {
      x = x * 1.0000001 + 1e-9;
    }
  }
  return NULL;
}

static void stop_threads(pthread_t *threads, size_t n) {
  atomic_store(&stop_load, true);
  for (size_t i = 0; i < n; i++) {
    pthread_join(threads[i], NULL);
  }
}

static bool parse_number(const char *text, double lo, double hi, double *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= lo && v <= hi)) {
    return false;
  }
  *out = v;
  return true;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void print_result(nemb_meter *m, uint64_t t0, uint64_t t1, const uint64_t *e0,
                         const uint64_t *e1, json_t *meta, bool json) {
  /* The warnings, one list for the text and --json: the verdict when it is not "ok" (as `run`
   * says it), then the sampler's. */
  const char *quality = json_string_value(json_object_get(meta, "measurement_quality"));
  quality = quality != NULL ? quality : "?";
  json_t *warnings = json_array();
  if (strcmp(quality, "ok") != 0 && strcmp(quality, "estimated") != 0) {
    json_array_append_new(warnings, json_sprintf("measurement_quality is \"%s\"", quality));
  }
  json_array_extend(warnings, json_object_get(json_object_get(meta, "sampler"), "warnings"));
  size_t n = nemb_meter_domain_count(m);
  double secs = (double)(t1 - t0) / 1e9;
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  double total_j = 0;
  for (size_t d = 0; d < n; d++) {
    nemb_domain_info info;
    nemb_meter_domain(m, d, &info);
    if (info.in_total) {
      total_j += (double)(e1[d] - e0[d]) / 1e6;
    }
  }
  /* The library's one provenance classification: "simulated" is never called "measured"; and
   * its one verdict on the measurement, `run`'s (meta.measurement_quality: "degraded" across a
   * counter reset, "energy_zero" for counters that never moved), over the sampling task. */
  const char *source = nemb_meter_energy_source(m);
  /* Counters that never changed (the library's rule, its warning's) counted nothing: their
   * figures are null in JSON and "never changed" in the text, not a measured 0 J. */
  bool still_total = cg_total_never_changed(meta);
  if (json) {
    if (still_total) {
      printf("{\"duration_s\": %.9f, \"energy_j\": null, \"avg_power_w\": null, ", secs);
    } else {
      printf("{\"duration_s\": %.9f, \"energy_j\": %.6f, \"avg_power_w\": %.6f, ", secs, total_j,
             total_j / secs);
    }
    printf("\"quality\": \"%s\", \"energy_source\": \"%s\", \"domains\": {", quality, source);
    for (size_t d = 0; d < n; d++) {
      nemb_domain_info info;
      nemb_meter_domain(m, d, &info);
      nemb_domain_stats ds;
      nemb_meter_domain_stats(m, d, &ds);
      bool still = cg_never_changed(meta, info.name);
      char joules[32];
      snprintf(joules, sizeof joules, still ? "null" : "%.6f", (double)(e1[d] - e0[d]) / 1e6);
      printf("%s\"%s\": {\"energy_j\": %s, \"never_changed\": %s, \"source\": \"%s\", "
             "\"in_total\": %s, \"rejected_readings\": %llu, \"counter_resets\": %llu, "
             "\"ambiguous_gaps\": %llu}",
             d ? ", " : "", info.name, joules, still ? "true" : "false", info.source,
             info.in_total ? "true" : "false", (unsigned long long)ds.rejected_readings,
             (unsigned long long)ds.counter_resets, (unsigned long long)ds.ambiguous_gaps);
    }
    printf("}, \"sampler\": {\"samples\": %llu, \"interval_ms\": %u, \"late_wakeups\": %llu, "
           "\"missed_deadlines\": %llu, \"worst_lateness_ns\": %llu, \"mean_lateness_ns\": %llu, "
           "\"read_errors\": %llu, \"dropped_at_cap\": %llu, \"rejected_readings\": %llu, "
           "\"counter_resets\": %llu, \"ambiguous_gaps\": %llu}, \"warnings\": ",
           (unsigned long long)st.samples, nemb_measurement_interval_ms(m),
           (unsigned long long)st.late_wakeups, (unsigned long long)st.missed_deadlines,
           (unsigned long long)st.worst_lateness_ns, (unsigned long long)st.mean_lateness_ns,
           (unsigned long long)st.read_errors, (unsigned long long)st.dropped_at_cap,
           (unsigned long long)st.rejected_readings, (unsigned long long)st.counter_resets,
           (unsigned long long)st.ambiguous_gaps);
    char *w = json_dumps(warnings, JSON_COMPACT);
    printf("%s}\n", w != NULL ? w : "[]");
    free(w);
    json_decref(warnings);
    return;
  }
  printf("Sampled %.3f s at %u ms intervals: %llu samples.\n\n", secs,
         nemb_measurement_interval_ms(m), (unsigned long long)st.samples);
  printf("  %-14s %-9s %12s %14s  %s\n", "DOMAIN", "SOURCE", "ENERGY (J)", "AVG POWER (W)",
         "IN TOTAL");
  for (size_t d = 0; d < n; d++) {
    nemb_domain_info info;
    nemb_meter_domain(m, d, &info);
    double j = (double)(e1[d] - e0[d]) / 1e6;
    if (cg_never_changed(meta, info.name)) {
      printf("  %-14s %-9s %12s %14s  %s\n", info.name, info.source, "never changed", "-",
             info.in_total ? "yes" : "no (nested or platform-wide)");
    } else {
      printf("  %-14s %-9s %12.6f %14.3f  %s\n", info.name, info.source, j, j / secs,
             info.in_total ? "yes" : "no (nested or platform-wide)");
    }
  }
  if (still_total) {
    printf("  %-14s %-9s %12s %14s\n", "energy_j", "", "never changed", "-");
  } else {
    printf("  %-14s %-9s %12.6f %14.3f\n", "energy_j", "", total_j, total_j / secs);
  }
  printf("\nSampler: %llu late wake-ups (over half an interval), %llu missed deadlines, worst "
         "lateness %.3f ms, mean %.3f ms, %llu read errors, %llu samples dropped at the cap.\n",
         (unsigned long long)st.late_wakeups, (unsigned long long)st.missed_deadlines,
         (double)st.worst_lateness_ns / 1e6, (double)st.mean_lateness_ns / 1e6,
         (unsigned long long)st.read_errors, (unsigned long long)st.dropped_at_cap);
  for (size_t d = 0; d < n; d++) {
    nemb_domain_info info;
    nemb_domain_stats ds;
    nemb_meter_domain(m, d, &info);
    nemb_meter_domain_stats(m, d, &ds);
    if (ds.rejected_readings + ds.counter_resets + ds.ambiguous_gaps > 0) {
      printf("%s: %llu reading(s) rejected as physically impossible (not counted as energy), "
             "%llu counter reset(s), %llu gap(s) that could hide wraps.\n",
             info.name, (unsigned long long)ds.rejected_readings,
             (unsigned long long)ds.counter_resets, (unsigned long long)ds.ambiguous_gaps);
    }
  }
  size_t i;
  json_t *w;
  json_array_foreach(warnings, i, w) {
    printf("%swarning: %s\n", i == 0 ? "\n" : "", json_string_value(w));
  }
  json_decref(warnings);
  if (strcmp(source, "simulated") == 0) {
    printf("\nSIMULATED device, not hardware: CODEGREEN_PROVIDERS or providers.list chose the sim\n"
           "provider; these figures measure nothing real.\n");
  }
  if (nemb_meter_is_estimated(m)) {
    printf("\nESTIMATED, not measured: this machine has no readable energy counter; the figures\n"
           "come from CPU time and a power model ('codegreen info' says why).\n");
  }
}

int cg_cmd_sample(int argc, char **argv) {
  static const struct option opts[] = {{"duration", required_argument, NULL, 'd'},
                                       {"interval-ms", required_argument, NULL, 'i'},
                                       {"load", required_argument, NULL, 'l'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  double duration = 1, load = 0;
  long interval = 0;
  bool json = false;
  const char *config_path = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "d:i:c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      if (!parse_number(optarg, 0.001, 3600, &duration)) {
        fprintf(stderr, "codegreen sample: --duration wants seconds from 0.001 to 3600\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'i':
      if (!cg_parse_interval_ms(optarg, &interval)) {
        fprintf(stderr, "codegreen sample: " CG_INTERVAL_MS_RULE "\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'l':
      if (!parse_number(optarg, 0, 256, &load) || load != floor(load)) {
        fprintf(stderr, "codegreen sample: --load wants a thread count from 0 to 256\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'j':
      json = true;
      break;
    case 'c':
      config_path = optarg;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (!cg_no_operand(argc, argv, "sample", print_usage)) {
    return CG_EXIT_USAGE;
  }

  nemb_config *cfg = NULL;
  int rc = nemb_config_load(config_path, &cfg);
  if (rc != 0) {
    return cg_fail(rc, "cannot load the configuration");
  }
  nemb_session_options so;
  nemb_session_options_init(&so);
  so.save_to_file = 0;
  so.output_format = NEMB_FORMAT_NONE;
  so.config = cfg;
  so.sample_interval_ms = (unsigned)interval; /* 0: the config's */
  so.argv = (const char *const *)argv;
  so.argc = (size_t)argc;
  /* The load runs before the session begins and until it has ended, so that starting and
   * joining the threads (slow with many busy threads on few cores) stays out of the window. */
  pthread_t threads[256];
  size_t started = 0;
  atomic_store(&stop_load, false);
  for (size_t i = 0; i < (size_t)load; i++) {
    if (pthread_create(&threads[i], NULL, burn, NULL) == 0) {
      started++;
    }
  }
  nemb_session *s = NULL;
  rc = nemb_session_begin(&so, &s);
  nemb_meter *m = rc == 0 ? nemb_session_meter(s) : NULL;
  if (m == NULL) {
    /* No provider opened (the session goes on without one): the meter's own opening says why. */
    nemb_session_destroy(s);
    if (rc == 0) {
      rc = nemb_meter_create(cfg, &m);
      nemb_meter_destroy(m);
      rc = rc != 0 ? rc : NEMB_ESTATE; /* opened now: a rank following its node's leader */
    }
    nemb_config_destroy(cfg);
    stop_threads(threads, started);
    return cg_fail(rc, "cannot measure");
  }
  nemb_config_destroy(cfg);

  /* One task over the sampling: the session's verdict (measurement_quality) is then `run`'s,
   * from the same rule, rather than "no_tasks". */
  int task_rc = nemb_task_start(s, "sample");
  sleep_seconds(duration);
  if (task_rc == 0) {
    nemb_task_stop(s, "sample");
  }
  nemb_session_end(s); /* stops the meter; its samples stay until the session is destroyed */
  stop_threads(threads, started);
  const char *text = nemb_session_report_summary_json(s);
  json_t *report = text != NULL ? json_loads(text, 0, NULL) : NULL;
  size_t n = nemb_meter_domain_count(m);
  uint64_t *e0 = calloc(n, sizeof *e0), *e1 = calloc(n, sizeof *e1);
  uint64_t t0 = 0, t1 = 0;
  size_t count = nemb_meter_sample_count(m);
  int code = CG_EXIT_OK;
  if (e0 == NULL || e1 == NULL || count < 2 || nemb_meter_sample(m, 0, &t0, e0, n) != 0 ||
      nemb_meter_sample(m, count - 1, &t1, e1, n) != 0) {
    fprintf(stderr, "codegreen sample: fewer than two samples were taken\n");
    code = CG_EXIT_FAIL;
  } else {
    print_result(m, t0, t1, e0, e1, json_object_get(report, "meta"), json);
  }
  free(e0);
  free(e1);
  json_decref(report);
  nemb_session_destroy(s);
  return code;
}
