/*
 * bench_common.h - how every C benchmark under bench/ states a figure: as a ratio against a
 * yardstick measured right beside it.
 *
 * A round measures the subject and its yardstick back to back (the order turning from round to
 * round), so whatever else the machine is doing slows both sides of that round alike; the figure
 * is the median of the per-round ratios, with their interquartile range as the spread, and the
 * medians of the raw values beside it so a reader can check the arithmetic. Figures, never
 * assertions: tests do not run these.
 *
 * Header-only (static functions), shared by bench_hotpath.c and bench_sampler.c.
 */
#ifndef NEMB_BENCH_COMMON_H
#define NEMB_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* This process's CPU time (all threads) in nanoseconds. */
static inline uint64_t bench_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static __attribute__((unused)) int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The @p q quantile (0..1) of @p n values, by linear interpolation; sorts a copy. */
static __attribute__((unused)) double bench_quantile(const double *v, int n, double q) {
  if (n <= 0) {
    return 0;
  }
  double *c = malloc((size_t)n * sizeof *c);
  if (c == NULL) {
    return 0;
  }
  memcpy(c, v, (size_t)n * sizeof *c);
  qsort(c, (size_t)n, sizeof *c, bench_cmp_double);
  double pos = q * (double)(n - 1);
  int i = (int)pos;
  double f = pos - (double)i, r = i + 1 < n ? c[i] + f * (c[i + 1] - c[i]) : c[i];
  free(c);
  return r;
}

static __attribute__((unused)) double bench_median(const double *v, int n) {
  return bench_quantile(v, n, 0.5);
}

/*
 * Prints one figure: "  <label>  <median ratio> x <yardstick>  (IQR a-b, n rounds; <subject
 * median> vs <yardstick median> <unit>)". The ratio of round i is subject[i] / yard[i] * scale
 * (scale turns, say, a pair's time into a per-boundary time). @p goal, when > 0, is printed as
 * "goal <= goal".
 */
static __attribute__((unused)) void bench_ratio_line(const char *label, const double *subject,
                                                     const double *yard, int n, double scale,
                                                     const char *yard_name, const char *unit,
                                                     double goal) {
  double *r = malloc((size_t)n * sizeof *r);
  if (r == NULL) {
    return;
  }
  for (int i = 0; i < n; i++) {
    r[i] = yard[i] > 0 ? subject[i] / yard[i] * scale : 0;
  }
  printf("  %-46s %6.2f x %s  (IQR %.2f-%.2f, %d rounds; %.1f vs %.1f %s)", label,
         bench_median(r, n), yard_name, bench_quantile(r, n, 0.25), bench_quantile(r, n, 0.75), n,
         bench_median(subject, n) * scale, bench_median(yard, n), unit);
  if (goal > 0) {
    printf("  goal <= %.2f", goal);
  }
  printf("\n");
  free(r);
}

/*
 * Prints a difference of two figures taken in the same round, in points of a third: the median
 * over rounds of 100 * (a[i] - b[i]) / base[i] %, with its IQR and the 95 % confidence interval
 * of that median (the order statistics n/2 -+ 0.98 sqrt(n), distribution-free), so a reader
 * can see whether a goal of a fraction of a point is resolved. @p goal, when not NaN, is
 * printed as "goal <= goal %". Returns the median.
 */
static __attribute__((unused)) double bench_diff_line(const char *label, const double *a,
                                                      const double *b, const double *base, int n,
                                                      double goal) {
  double *r = malloc((size_t)n * sizeof *r);
  if (r == NULL) {
    return 0;
  }
  for (int i = 0; i < n; i++) {
    r[i] = base[i] > 0 ? 100.0 * (a[i] - b[i]) / base[i] : 0;
  }
  double med = bench_median(r, n);
  qsort(r, (size_t)n, sizeof *r, bench_cmp_double);
  int half = (int)(0.98 * __builtin_sqrt((double)n) + 0.5), mid = (n - 1) / 2;
  int lo = mid - half < 0 ? 0 : mid - half, hi = mid + half + 1 >= n ? n - 1 : mid + half + 1;
  printf("  %-46s %+6.2f %%  (IQR %+.2f to %+.2f; 95 %% CI of the median %+.2f to %+.2f; %d "
         "rounds)",
         label, med, bench_quantile(r, n, 0.25), bench_quantile(r, n, 0.75), r[lo], r[hi], n);
  if (goal == goal) {
    printf("  goal <= %+.2f %%", goal);
  }
  printf("\n");
  free(r);
  return med;
}

#endif /* NEMB_BENCH_COMMON_H */
