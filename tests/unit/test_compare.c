/* test_compare.c - Welch's t-test and the ratio of means, against Student's t table and values
 * worked out by hand. */
#include <math.h>

#include "nemb_test.h"

static nemb_stats summary(double mean, double std, size_t n) {
  nemb_stats s = {0};
  s.n = s.n_used = n;
  s.mean = mean;
  s.std = std;
  return s;
}

static void test_p_value_matches_students_table(void **state) {
  (void)state;
  /* Equal n and std: Welch's df is 2(n - 1) = 10 and the standard error sqrt(2/6). The table's
   * two-sided 5 % and 10 % points for 10 degrees of freedom are 2.228139 and 1.812461. */
  const double se = sqrt(2.0 / 6.0);
  nemb_stats a = summary(10, 1, 6);
  nemb_comparison c;
  nemb_stats b = summary(10 + 2.228139 * se, 1, 6);
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_float_equal(c.df, 10, 1e-9);
  assert_float_equal(c.t, 2.228139, 1e-6);
  assert_float_equal(c.p_value, 0.05, 1e-6);
  b = summary(10 + 1.812461 * se, 1, 6);
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_float_equal(c.p_value, 0.10, 1e-6);
  assert_int_equal(c.significant, 0);
  b = summary(10 + 4.586894 * se, 1, 6); /* the 0.1 % point */
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_float_equal(c.p_value, 0.001, 1e-7);
  assert_int_equal(c.significant, 1);
  /* B below A: the same p, a negative t. */
  b = summary(10 - 2.228139 * se, 1, 6);
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_true(c.t < 0);
  assert_float_equal(c.p_value, 0.05, 1e-6);
}

static void test_unequal_variances_use_welch_satterthwaite(void **state) {
  (void)state;
  /* va = 4/5 = 0.8, vb = 1/10 = 0.1; df = 0.81 / (0.64/4 + 0.01/9) = 5.0277... */
  nemb_stats a = summary(20, 2, 5), b = summary(22, 1, 10);
  nemb_comparison c;
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_float_equal(c.df, 0.81 / (0.16 + 0.01 / 9), 1e-9);
  assert_float_equal(c.t, 2 / sqrt(0.9), 1e-12);
  /* t = 2.108 at 5.03 df lies between the table's 10 % (2.015) and 5 % (2.571) points */
  assert_true(c.p_value > 0.05 && c.p_value < 0.10);
  assert_float_equal(c.diff, 2, 1e-12);
  assert_float_equal(c.diff_percent, 10, 1e-12);
  assert_float_equal(c.ratio, 1.1, 1e-12);
  /* ratio_std = 1.1 * sqrt((2/20)^2 + (1/22)^2) */
  assert_float_equal(c.ratio_std, 1.1 * sqrt(0.01 + 1.0 / 484), 1e-12);
}

static void test_one_value_is_not_tested(void **state) {
  (void)state;
  nemb_stats a = summary(10, 0, 1), b = summary(12, 1, 5);
  nemb_comparison c;
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_int_equal(c.significant, -1);
  assert_true(isnan(c.p_value));
  assert_float_equal(c.ratio, 1.2, 1e-12);
}

static void test_no_spread_on_either_side(void **state) {
  (void)state;
  nemb_stats a = summary(10, 0, 3), b = summary(10, 0, 3);
  nemb_comparison c;
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_float_equal(c.p_value, 1, 0);
  assert_int_equal(c.significant, 0);
  b.mean = 11;
  NEMB_ASSERT_OK(nemb_stats_compare(&a, &b, 0.05, &c));
  assert_float_equal(c.p_value, 0, 0);
  assert_int_equal(c.significant, 1);
}

static void test_bad_arguments(void **state) {
  (void)state;
  nemb_stats a = summary(10, 1, 3), empty = {0};
  nemb_comparison c;
  assert_int_equal(nemb_stats_compare(&a, &empty, 0.05, &c), NEMB_EINVAL);
  assert_int_equal(nemb_stats_compare(&a, &a, 0, &c), NEMB_EINVAL);
  assert_int_equal(nemb_stats_compare(&a, &a, 1.5, &c), NEMB_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_p_value_matches_students_table),
      cmocka_unit_test(test_unequal_variances_use_welch_satterthwaite),
      cmocka_unit_test(test_one_value_is_not_tested),
      cmocka_unit_test(test_no_spread_on_either_side),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
