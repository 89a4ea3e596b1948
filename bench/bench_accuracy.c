/*
 * bench_accuracy.c - the measurement model's error against the simulated device's analytical
 * truth (issue 10's figures), printed, never asserted: the sim's power is a closed-form function
 * of time, so the true energy of any window is known exactly.
 *
 * Runs, in one process, each side by side in its own meter:
 *   RAPL-like: 976.5625 us updates at a random phase, 61.035 uJ unit, 1 ms sampler, a square wave
 *              10/30 W; windows of 100 ms, 10 ms and 2 ms at random phases: |error| p50 and p95
 *              (and, for 2 ms, how often energy_uncertainty covers the error);
 *   NVML-like: 100 ms updates, constant 100 W, 20 ms windows; and a square wave 100/700 W (1 s
 *              period, a GPU load on and off), 500 ms and 2 s windows, where the power steps
 *              inside updates (the power_step bound);
 *   constant 20 W RAPL-like: each stored interval's power against the truth, the share more
 *              than 10 % off and the worst ratio, in the first 100 ms and after;
 *   trapezoid: the trapezoidal rule over 100 ms and 1 s windows' series (bounding points
 *              included, as the report writes them) against their energy, with the sampler's
 *              reads jittered 300 us;
 * and the reads per stored sample (probes included) and bytes per stored sample.
 * The figures depend on the machine's load: on a busy machine the update phase takes longer to
 * learn and wake-ups are late; run it on a quiet one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "session.h"
#include "sim.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)floor(p * (double)(n - 1));
  return n ? v[i] : NAN;
}

static nemb_meter *run(const char *sim, const char *cfg_json, double seconds) {
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim, 1);
  nemb_config *cfg = NULL;
  if (nemb_config_from_string(cfg_json, "bench", &cfg) != 0) {
    fprintf(stderr, "config: %s\n", nemb_last_error());
    exit(1);
  }
  nemb_meter *m = NULL;
  if (nemb_meter_create(cfg, &m) != 0 || nemb_meter_start(m) != 0) {
    fprintf(stderr, "meter: %s\n", nemb_last_error());
    exit(1);
  }
  nemb_config_destroy(cfg);
  struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  nemb_meter_stop(m);
  return m;
}

static double truth_uj(const nemb_meter *m, uint64_t a, uint64_t b) {
  const void *st = m->providers[0].state;
  double t = 0;
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->domains[d].in_total) {
      t += nemb__sim_true_energy_uj(st, d, b) - nemb__sim_true_energy_uj(st, d, a);
    }
  }
  return t;
}

/* Errors of @p n windows of @p len_ns at random times (after @p skip_ns of learning). */
static void windows(const nemb_meter *m, uint64_t len_ns, uint64_t skip_ns, size_t n,
                    const char *label) {
  size_t count = nemb_meter_sample_count(m);
  uint64_t t0, t1, e[8];
  nemb_meter_sample(m, 0, &t0, e, 8);
  nemb_meter_sample(m, count - 1, &t1, e, 8);
  uint64_t lo = t0 + skip_ns, hi = t1 - len_ns - 50000000u;
  double *err = calloc(n, sizeof *err), *beyond = calloc(n, sizeof *beyond);
  size_t covered = 0, with_unc = 0, short_n = 0, gap_n = 0, step_n = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t a = lo + (uint64_t)((double)rand() / RAND_MAX * (double)(hi - lo));
    nemb__uncertainty unc;
    double got = nemb__energy_span(m, count, a, a + len_ns, NULL, &unc, NULL);
    double want = truth_uj(m, a, a + len_ns);
    err[i] = fabs(got - want) / want * 100;
    /* The part of the error the reported uncertainty does not cover. */
    beyond[i] = fmax(0, fabs(got - want) - unc.uj) / want * 100;
    with_unc += unc.uj > 0;
    short_n += (unc.why & NEMB__UNC_SHORT) != 0;
    gap_n += (unc.why & NEMB__UNC_GAP) != 0;
    step_n += (unc.why & NEMB__UNC_STEP) != 0;
    covered += unc.uj > 0 && fabs(got - want) <= unc.uj;
  }
  double p50 = pct(err, n, 0.5), p95 = pct(err, n, 0.95);
  printf("  %-34s p50 %7.3f %%   p95 %7.3f %%   beyond the uncertainty p95 %7.3f %%", label, p50,
         p95, pct(beyond, n, 0.95));
  if (with_unc > 0) {
    printf("\n  %-34s uncertainty given %zu/%zu (short span %zu, sampler gap %zu, power step "
           "%zu), covers the error %zu/%zu",
           "", with_unc, n, short_n, gap_n, step_n, covered, with_unc);
  }
  printf("\n");
  free(err);
  free(beyond);
}

/* The trapezoidal rule over @p n windows of @p len ns, each window's series as the report
 * writes it (report_series.c's points, filled ones included) against its energy. The rule errs
 * at each power step by half the step times the difference of the intervals around it; the
 * series fills long stored intervals so that a late sampler's gap weighs no more than a normal
 * interval. */
static void trapezoid(const nemb_meter *m, size_t n, uint64_t len, const char *label) {
  nemb__report_model md;
  memset(&md, 0, sizeof md);
  md.m = m;
  md.nd = m->n_domains;
  md.count = nemb_meter_sample_count(m);
  if (nemb__series_fill_build(&md) != 0) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  uint64_t t0, t1, e[8];
  nemb_meter_sample(m, 0, &t0, e, 8);
  nemb_meter_sample(m, md.count - 1, &t1, e, 8);
  uint64_t lo = t0 + 300000000u, hi = t1 - len - 50000000u;
  double *err = calloc(n, sizeof *err);
  size_t points = 0, filled = 0;
  for (size_t k = 0; k < n; k++) {
    uint64_t a = lo + (uint64_t)((double)rand() / RAND_MAX * (double)(hi - lo)), b = a + len;
    double energy = nemb__energy_span(m, md.count, a, b, NULL, NULL, NULL);
    nemb__series_iter it;
    nemb__series_point p;
    nemb__series_start(&it, &md, a, b);
    double trap = 0, prev_w = 0;
    uint64_t prev_t = a;
    for (size_t i = 0; nemb__series_next(&it, &p); i++) {
      if (i > 0) {
        trap += (prev_w + p.power_w) / 2 * (double)(p.t_ns - prev_t) / 1e3;
      }
      prev_w = p.power_w;
      prev_t = p.t_ns;
      points++;
      filled += p.filled;
    }
    err[k] = fabs(trap - energy) / energy * 100;
  }
  double p50 = pct(err, n, 0.5), p95 = pct(err, n, 0.95);
  printf("  %-34s p50 %7.3f %%   p95 %7.3f %%   (%.1f %% of the points filled)\n", label, p50, p95,
         points ? 100.0 * (double)filled / (double)points : 0);
  free(err);
  nemb__series_fill_release(&md);
}

/* Each stored interval's power against the truth over it, for a constant-power counter whose
 * every update adds the same energy: an interval whose ends are not at update instants holds
 * one update too many or too few for its length (issue 10's spikes). The share more than 10 %
 * off and the worst ratio (got/truth or truth/got), in the first 100 ms and after. */
static void interval_power(const nemb_meter *m, const char *label) {
  size_t count = nemb_meter_sample_count(m);
  uint64_t t0, prev_t, t, e[8], prev_e[8];
  nemb_meter_sample(m, 0, &t0, prev_e, 8);
  prev_t = t0;
  size_t n[2] = {0, 0}, off[2] = {0, 0};
  double worst[2] = {1, 1};
  for (size_t i = 1; i < count; i++) {
    nemb_meter_sample(m, i, &t, e, 8);
    double got = 0;
    for (size_t d = 0; d < m->n_domains; d++) {
      got += m->domains[d].in_total ? (double)e[d] - (double)prev_e[d] : 0;
    }
    double want = truth_uj(m, prev_t, t);
    int late = prev_t - t0 >= 100000000u;
    if (want > 0) {
      double r = got > 0 ? fmax(got / want, want / got) : INFINITY;
      n[late]++;
      off[late] += r > 1.1;
      worst[late] = fmax(worst[late], r);
    }
    prev_t = t;
    memcpy(prev_e, e, sizeof e);
  }
  for (int k = 0; k < 2; k++) {
    printf("  %-34s %s: %zu/%zu intervals (%.2f %%) more than 10 %% off, worst ratio %.3f\n", label,
           k ? "after 100 ms" : "first 100 ms", off[k], n[k],
           n[k] ? 100.0 * (double)off[k] / (double)n[k] : 0, worst[k]);
  }
}

int main(void) {
  srand(12345);
  printf("bench_accuracy: error of energy against the analytical truth (simulated device)\n");
  const char *rapl = "{\"domains\":[{\"name\":\"package-0\",\"waveform\":\"square\","
                     "\"low_w\":10,\"high_w\":30,\"period_ms\":100}]}";
  nemb_meter *m = run(rapl, "{}", 4.0);
  printf("RAPL-like counter (976.5625 us updates, random phase, 61.035 uJ unit), 1 ms sampler:\n");
  windows(m, 100000000u, 300000000u, 300, "100 ms windows");
  windows(m, 10000000u, 300000000u, 300, "10 ms windows");
  windows(m, 2000000u, 300000000u, 300, "2 ms windows");
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  printf("  reads per stored sample %.2f (probes %llu), %zu B per stored sample (%zu domains)\n",
         st.samples ? (double)st.reads / (double)st.samples : 0, (unsigned long long)st.probes,
         m->store.stride * sizeof(uint64_t), m->n_domains);
  nemb_meter_destroy(m);

  const char *nvml = "{\"update_interval_us\":100000,\"energy_unit_uj\":1000,\"domains\":[{"
                     "\"name\":\"gpu0\",\"kind\":\"gpu\",\"waveform\":\"constant\","
                     "\"power_w\":100}]}";
  m = run(nvml, "{}", 4.0);
  printf("NVML-like counter (100 ms updates, 1 mJ unit), constant 100 W:\n");
  windows(m, 20000000u, 600000000u, 300, "20 ms windows");
  nemb_meter_destroy(m);

  const char *gpu = "{\"update_interval_us\":100000,\"energy_unit_uj\":1000,\"domains\":[{"
                    "\"name\":\"gpu0\",\"kind\":\"gpu\",\"waveform\":\"square\","
                    "\"low_w\":100,\"high_w\":700,\"period_ms\":1000}]}";
  m = run(gpu, "{}", 6.0);
  printf("NVML-like counter (100 ms updates), square wave 100/700 W (a GPU load on and off):\n");
  windows(m, 500000000u, 600000000u, 300, "500 ms windows");
  windows(m, 2000000000u, 600000000u, 300, "2 s windows");
  nemb_meter_destroy(m);

  m = run(rapl, "{\"coordinator\":{\"sampler_jitter_us\":300}}", 4.0);
  printf("RAPL-like, sampler reads jittered by up to 300 us:\n");
  windows(m, 100000000u, 300000000u, 200, "100 ms windows");
  trapezoid(m, 100, 100000000u, "trapezoid over series, 100 ms");
  trapezoid(m, 100, 1000000000u, "trapezoid over series, 1 s");
  nemb_meter_destroy(m);
  const char *flat = "{\"domains\":[{\"name\":\"package-0\",\"waveform\":\"constant\","
                     "\"power_w\":20}]}";
  m = run(flat, "{}", 2.0);
  printf("RAPL-like, constant 20 W (each update exactly 320 units), 1 ms sampler:\n");
  interval_power(m, "stored intervals' power");
  nemb_meter_destroy(m);
  return 0;
}
