/*
 * bench_sampler.c - what the 1 kHz sampler costs the program it measures.
 *
 * Prints, for each provider set (the simulated device, and whatever a default meter picks on this
 * machine):
 *   1. the sampler's own CPU time as a share of one core, measured as this process's CPU time
 *      while the main thread sleeps (the sampler is then the only thread that runs);
 *   2. the slowdown of a fixed CPU-bound loop with the sampler running against without it,
 *      measured alternately (off, on, off, on, ...) in one run so machine noise hits both alike.
 * Figures, not assertions: the machines are shared and noisy.
 *
 * usage: bench_sampler [seconds-per-cost-run] [pairs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nemb.h"

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_seconds(void) {
  return (double)nemb_now_ns() / 1e9;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* A fixed amount of arithmetic, about 0.2 s on a current core. */
static double work(void) {
  volatile double x = 1.0;
  for (long i = 0; i < 60000000; i++) {
    x = x * 1.0000001 + 1e-9;
  }
  return x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static nemb_meter *start_meter(void) {
  nemb_meter *m = NULL;
  if (nemb_meter_create(NULL, &m) != 0 || nemb_meter_start(m) != 0) {
    fprintf(stderr, "bench: cannot start a meter: %s\n", nemb_last_error());
    exit(1);
  }
  return m;
}

static void bench(const char *label, double seconds, int pairs) {
  /* 1. The sampler's CPU share while nothing else runs. */
  nemb_meter *m = start_meter();
  double c0 = cpu_seconds(), w0 = wall_seconds();
  sleep_seconds(seconds);
  double c1 = cpu_seconds(), w1 = wall_seconds();
  nemb_sampler_stats st;
  nemb_meter_stats(m, &st);
  nemb_meter_stop(m);
  const char *source = "?";
  nemb_domain_info d;
  if (nemb_meter_domain(m, 0, &d) == 0) {
    source = d.source;
  }
  printf("%-9s provider %-9s sampler CPU: %.3f %% of one core (%.1f us per wake-up, %llu reads in "
         "%.1f s; worst lateness %.3f ms, %llu missed deadlines)\n",
         label, source, 100 * (c1 - c0) / (w1 - w0), 1e6 * (c1 - c0) / (double)st.reads,
         (unsigned long long)st.reads, w1 - w0, (double)st.worst_lateness_ns / 1e6,
         (unsigned long long)st.missed_deadlines);
  nemb_meter_destroy(m);

  /* 2. The same loop, alternately without and with the sampler. */
  double *off = calloc((size_t)pairs, sizeof *off), *on = calloc((size_t)pairs, sizeof *on);
  if (off == NULL || on == NULL) {
    exit(1);
  }
  work(); /* warm-up */
  for (int i = 0; i < pairs; i++) {
    double t = wall_seconds();
    work();
    off[i] = wall_seconds() - t;
    m = start_meter();
    t = wall_seconds();
    work();
    on[i] = wall_seconds() - t;
    nemb_meter_destroy(m);
  }
  qsort(off, (size_t)pairs, sizeof *off, cmp_double);
  qsort(on, (size_t)pairs, sizeof *on, cmp_double);
  double med_off = off[pairs / 2], med_on = on[pairs / 2];
  printf("%-9s CPU-bound loop, median of %d: %.4f s without sampler, %.4f s with: ratio %.4f "
         "(slowdown %+.2f %%)\n",
         label, pairs, med_off, med_on, med_on / med_off, 100 * (med_on / med_off - 1));
  free(off);
  free(on);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 3;
  int pairs = argc > 2 ? atoi(argv[2]) : 9;
  if (seconds <= 0 || pairs < 1) {
    fprintf(stderr, "usage: bench_sampler [seconds-per-cost-run] [pairs]\n");
    return 2;
  }
  printf("bench_sampler: sampler at 1 ms (1 kHz), libcodegreen-nemb %s\n", nemb_version_string());
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  bench("sim", seconds, pairs);
  unsetenv("CODEGREEN_PROVIDERS");
  bench("default", seconds, pairs);
  return 0;
}
