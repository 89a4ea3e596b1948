/*
 * stats.c - summary statistics over repeated runs, with the iqr_1.5 outlier filter.
 *
 * Runs of the same program vary (caches, frequency scaling, other load), and one disturbed run
 * can move a mean a long way. The filter sets aside values beyond 1.5 interquartile ranges from
 * the quartiles (Tukey's fences) before the summary, and says which ones it set aside.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom. */
static const double t975[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                              2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                              2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                              2.060,  2.056, 2.052, 2.048, 2.045, 2.042};

static double t_quantile(size_t df) {
  if (df == 0) {
    return NAN;
  }
  if (df <= 30) {
    return t975[df - 1];
  }
  /* Beyond 30 the quantile approaches 1.96; this expansion stays within 0.001 of the table. */
  double d = (double)df;
  return 1.959964 + 2.37227 / d + 2.82 / (d * d);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-quantile of sorted values, interpolating linearly between order statistics. */
static double quantile(const double *sorted, size_t n, double p) {
  double pos = p * (double)(n - 1);
  size_t lo = (size_t)floor(pos);
  size_t hi = lo + 1 < n ? lo + 1 : lo;
  return sorted[lo] + (pos - (double)lo) * (sorted[hi] - sorted[lo]);
}

int nemb_stats_compute(const double *values, size_t n, int filter_outliers, nemb_stats *out,
                       unsigned char *is_outlier) {
  nemb__clear_error();
  if (values == NULL || out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_stats_compute: values and out must not be NULL");
  }
  if (n == 0) {
    return nemb__fail(NEMB_EINVAL, "statistics need at least one value");
  }
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(values[i])) {
      return nemb__fail(NEMB_EINVAL, "value %zu is not a finite number", i);
    }
  }
  double *sorted = malloc(n * sizeof *sorted);
  if (sorted == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory for statistics over %zu values", n);
  }
  memcpy(sorted, values, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_double);
  double lo_fence = -INFINITY, hi_fence = INFINITY;
  if (filter_outliers && n >= 4) {
    double q1 = quantile(sorted, n, 0.25), q3 = quantile(sorted, n, 0.75);
    lo_fence = q1 - 1.5 * (q3 - q1);
    hi_fence = q3 + 1.5 * (q3 - q1);
  }

  /* Keep the inliers, in sorted order, at the front of `sorted`. */
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    if (sorted[i] >= lo_fence && sorted[i] <= hi_fence) {
      sorted[used++] = sorted[i];
    }
  }
  if (is_outlier != NULL) {
    for (size_t i = 0; i < n; i++) {
      is_outlier[i] = values[i] < lo_fence || values[i] > hi_fence;
    }
  }

  memset(out, 0, sizeof *out);
  out->n = n;
  out->n_used = used;
  out->n_outliers = n - used;
  double sum = 0;
  for (size_t i = 0; i < used; i++) {
    sum += sorted[i];
  }
  out->mean = sum / (double)used;
  out->median = quantile(sorted, used, 0.5);
  out->min = sorted[0];
  out->max = sorted[used - 1];
  if (used >= 2) {
    double ss = 0;
    for (size_t i = 0; i < used; i++) {
      ss += (sorted[i] - out->mean) * (sorted[i] - out->mean);
    }
    out->std = sqrt(ss / (double)(used - 1));
  }
  out->cv_percent = out->mean != 0 ? 100 * out->std / fabs(out->mean) : 0;
  double half = used >= 2 ? t_quantile(used - 1) * out->std / sqrt((double)used) : 0;
  out->ci95_low = out->mean - half;
  out->ci95_high = out->mean + half;
  free(sorted);
  return 0;
}
