/* test_series_fill.c - the time series' filled points (report_series.c), on a stored curve laid
 * out by hand (no sampler thread, no clock): a stored interval many sampling intervals long (a
 * sampler thread that woke late) holds evenly spaced points on its line, so the trapezoidal rule
 * over the series agrees with the span's energy where, without them, the power step inside the
 * gap costs percents; and a window's points are the session's, as the columnar layout's index
 * arithmetic (nemb__series_points_before) says. */
#include "nemb_test.h"
#include <math.h>

#include "report.h"
#include "session.h"

#define MS 1000000ull

/* 10 W sampled every 1 ms to 100 ms; no sample until 130 ms, the power stepping to 30 W at
 * 115 ms; 30 W sampled every 1 ms to 200 ms. */
static nemb_meter *gap_curve(void) {
  nemb_meter *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->n_domains = 1;
  snprintf(m->domains[0].name, sizeof m->domains[0].name, "package-0");
  m->domains[0].in_total = true;
  NEMB_ASSERT_OK(nemb__store_init(&m->store, 1, 1 << 16));
  atomic_init(&m->interval_ns, 1 * MS);
  nemb__edges_init(&m->edges[0], 1 * MS);
  nemb__meter_period_set(m, 0);
  uint64_t e = 0;
  for (uint64_t t = 0; t <= 200; t++) {
    if (t > 100 && t < 130) {
      continue;
    }
    /* the energy at t ms: 10 mJ a ms to 115 ms, 30 mJ a ms after */
    e = t <= 115 ? t * 10000 : 115 * 10000 + (t - 115) * 30000;
    NEMB_ASSERT_OK(nemb__store_append(&m->store, t * MS, &e));
  }
  return m;
}

static void model_for(nemb__report_model *md, nemb_meter *m) {
  memset(md, 0, sizeof *md);
  md->m = m;
  md->nd = 1;
  md->count = nemb__store_count(&m->store);
  md->span_a = 0;
  md->span_b = 200 * MS;
  md->span_first = 1; /* the sample at 0 is the begin point itself */
  NEMB_ASSERT_OK(nemb__series_fill_build(md));
}

/* The trapezoidal rule over the series of [a, b] against its energy, relative. */
static double trapezoid_error(const nemb__report_model *md, uint64_t a, uint64_t b,
                              size_t *filled) {
  nemb__series_iter it;
  nemb__series_point p;
  nemb__series_start(&it, md, a, b);
  double trap = 0, prev_w = 0, first_uj = 0, last_uj = 0;
  uint64_t prev_t = a;
  *filled = 0;
  for (size_t i = 0; nemb__series_next(&it, &p); i++) {
    if (i == 0) {
      first_uj = p.cum_uj;
    } else {
      trap += (prev_w + p.power_w) / 2 * (double)(p.t_ns - prev_t) / 1e3;
    }
    last_uj = p.cum_uj;
    prev_w = p.power_w;
    prev_t = p.t_ns;
    *filled += p.filled;
  }
  return (trap - (last_uj - first_uj)) / (last_uj - first_uj);
}

static void test_a_gap_is_filled_on_its_line(void **unused) {
  (void)unused;
  nemb_meter *m = gap_curve();
  nemb__report_model md;
  model_for(&md, m);
  assert_int_equal(md.fill_ns, 1 * MS);
  assert_int_equal(md.n_filled, 1); /* the one 30 ms interval: 29 points */
  assert_int_equal(md.filled_cum[0], 29);

  nemb__series_iter it;
  nemb__series_point p;
  nemb__series_start(&it, &md, 50 * MS, 180 * MS);
  size_t n = 0, filled = 0;
  double energy = 0;
  while (nemb__series_next(&it, &p)) {
    n++;
    energy = p.energy_j;
    if (p.filled) {
      filled++;
      assert_int_equal(p.stored, SIZE_MAX);
      assert_true(p.t_ns > 100 * MS && p.t_ns < 130 * MS);
      assert_int_equal(p.t_ns % MS, 0);          /* 30 ms in 30 pieces: 1 ms apart */
      assert_float_equal(p.power_w, 20.0, 1e-9); /* the gap's mean: (15 x 10 + 15 x 30) / 30 */
    }
  }
  assert_int_equal(filled, 29);
  assert_int_equal(n, 2 + 50 + 49 + 1 + 29); /* ends, 51..100, 131..179, 130, filled */
  assert_float_equal(energy, 3.1, 1e-9); /* 10 W x 115 ms + 30 W x 65 ms, since the begin at 0 */

  /* The trapezoidal rule errs by half of each power step times the interval it falls in: with
   * the points, the steps 10 -> 20 W at 100 ms and 20 -> 30 W at 130 ms each cost 5 mJ over
   * 1 ms (-0.38 % of 2.6 J); without them the first falls in the 30 ms interval (-5.6 %). */
  double with = trapezoid_error(&md, 50 * MS, 180 * MS, &filled);
  assert_int_equal(filled, 29);
  assert_float_equal(with, -0.010 / 2.6, 1e-9);
  uint64_t fill_ns = md.fill_ns;
  md.fill_ns = 0;
  double without = trapezoid_error(&md, 50 * MS, 180 * MS, &filled);
  assert_int_equal(filled, 0);
  assert_float_equal(without, (-0.150 - 0.005) / 2.6, 1e-9);
  md.fill_ns = fill_ns;

  /* A span inside the gap holds the gap's points between its ends. */
  nemb__series_start(&it, &md, 110 * MS + 500000, 112 * MS + 500000);
  n = 0;
  while (nemb__series_next(&it, &p)) {
    assert_true(n == 0 || n == 3 || (p.filled && p.t_ns == (110 + n) * MS));
    n++;
  }
  assert_int_equal(n, 4);
  nemb__series_fill_release(&md);
  nemb__store_release(&m->store);
  free(m);
}

/* Every window's inner points are the session's points that nemb__series_points_before()
 * numbers, stored and filled alike: what the columnar layout's "first" and "count" rely on. */
static void test_windows_index_the_session_series(void **unused) {
  (void)unused;
  nemb_meter *m = gap_curve();
  nemb__report_model md;
  model_for(&md, m);
  uint64_t all[512];
  size_t n_all = 0;
  nemb__series_iter it;
  nemb__series_point p;
  nemb__series_start(&it, &md, md.span_a, md.span_b);
  while (nemb__series_next(&it, &p)) {
    assert_true(n_all < 512);
    all[n_all++] = p.t_ns;
  }
  assert_int_equal(n_all, 201 - 29 + 29); /* 0..200 less the gap's samples, plus its points */
  srand(7);
  for (int k = 0; k < 2000; k++) {
    uint64_t a = (uint64_t)rand() % (200 * MS), b = a + (uint64_t)rand() % (200 * MS - a + 1);
    if (k % 4 == 0) {
      a = a / MS * MS; /* on a sample or a filled point */
    }
    size_t first = nemb__series_points_before(&md, a + 1);
    size_t count = b > a ? nemb__series_points_before(&md, b) - first : 0;
    nemb__series_start(&it, &md, a, b);
    size_t i = 0, inner = 0;
    while (nemb__series_next(&it, &p)) {
      if (i++ == 0 || p.t_ns == b) {
        continue; /* the window's own ends */
      }
      assert_true(first + inner < n_all);
      assert_int_equal(p.t_ns, all[first + inner]);
      inner++;
    }
    assert_int_equal(inner, count);
  }
  nemb__series_fill_release(&md);
  nemb__store_release(&m->store);
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_gap_is_filled_on_its_line),
      cmocka_unit_test(test_windows_index_the_session_series),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
