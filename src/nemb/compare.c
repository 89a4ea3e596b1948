/*
 * compare.c - is B's mean different from A's? Welch's unequal-variance t-test, and the ratio of
 * the means with its uncertainty, for `codegreen run A --vs-- B`, `codegreen diff` and
 * --fail-if-regressed.
 *
 * Welch's test because two commands' run-to-run spreads are rarely equal (one may be I/O bound,
 * the other CPU bound), and Student's pooled test is wrong then. The p-value comes from Student's
 * t distribution with the Welch-Satterthwaite degrees of freedom (not a whole number), through
 * the regularised incomplete beta function: P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2).
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* The continued fraction of the incomplete beta function, evaluated with the modified Lentz
 * method (Lentz 1976; Thompson and Barnett 1986). Converges quickly for x < (a+1)/(a+b+2). */
static double beta_fraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = fabs(d) < tiny ? tiny : d;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 300; m++) {
    double mm = m, m2 = 2 * mm;
    double num = mm * (b - mm) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d;
    d = fabs(d) < tiny ? tiny : d;
    c = 1 + num / c;
    c = fabs(c) < tiny ? tiny : c;
    d = 1 / d;
    h *= d * c;
    num = -(a + mm) * (a + b + mm) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d;
    d = fabs(d) < tiny ? tiny : d;
    c = 1 + num / c;
    c = fabs(c) < tiny ? tiny : c;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1) < eps) {
      break;
    }
  }
  return h;
}

/* I_x(a, b), the regularised incomplete beta function, for 0 <= x <= 1. */
static double incomplete_beta(double a, double b, double x) {
  if (x <= 0) {
    return 0;
  }
  if (x >= 1) {
    return 1;
  }
  double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
  if (x < (a + 1) / (a + b + 2)) {
    return front * beta_fraction(a, b, x) / a;
  }
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

static double t_two_sided_p(double t, double df) {
  if (!(df > 0) || isnan(t)) {
    return NAN;
  }
  if (isinf(t)) {
    return 0;
  }
  return incomplete_beta(df / 2, 0.5, df / (df + t * t));
}

int nemb_stats_compare(const nemb_stats *a, const nemb_stats *b, double alpha,
                       nemb_comparison *out) {
  nemb__clear_error();
  if (a == NULL || b == NULL || out == NULL || a->n_used == 0 || b->n_used == 0 ||
      !(alpha > 0 && alpha < 1)) {
    return nemb__fail(NEMB_EINVAL, "a comparison needs two non-empty summaries and 0 < alpha < 1");
  }
  memset(out, 0, sizeof *out);
  out->alpha = alpha;
  out->diff = b->mean - a->mean;
  out->diff_percent = a->mean != 0 ? 100 * out->diff / a->mean : NAN;
  out->ratio = a->mean != 0 ? b->mean / a->mean : NAN;
  /* First-order propagation of the two standard deviations (as hyperfine reports "x +- y times
   * faster"): the spread of single runs, not of the means. */
  double ra = a->mean != 0 ? a->std / a->mean : NAN, rb = b->mean != 0 ? b->std / b->mean : NAN;
  out->ratio_std = fabs(out->ratio) * sqrt(ra * ra + rb * rb);
  out->t = NAN;
  out->df = NAN;
  out->p_value = NAN;
  out->significant = -1;
  if (a->n_used < 2 || b->n_used < 2) {
    return 0; /* no spread to test against: the caller says "not tested" */
  }
  double va = a->std * a->std / (double)a->n_used, vb = b->std * b->std / (double)b->n_used;
  double se2 = va + vb;
  if (se2 <= 0) {
    /* Both sides without any spread: equal means are not different, unequal ones are. */
    out->p_value = out->diff == 0 ? 1 : 0;
    out->t = out->diff == 0 ? 0 : copysign(INFINITY, out->diff);
    out->df = (double)(a->n_used + b->n_used - 2);
  } else {
    out->t = out->diff / sqrt(se2);
    double da = (double)a->n_used - 1, db = (double)b->n_used - 1;
    double den = (da > 0 ? va * va / da : 0) + (db > 0 ? vb * vb / db : 0);
    out->df = den > 0 ? se2 * se2 / den : da + db;
    out->p_value = t_two_sided_p(out->t, out->df);
  }
  out->significant = out->p_value < alpha;
  return 0;
}
