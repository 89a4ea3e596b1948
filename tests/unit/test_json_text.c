/* test_json_text.c - nemb__json_real() writes every double exactly as jansson does (the report's
 * time series is written without jansson objects and must read the same): integers, fractions,
 * tiny and huge magnitudes with their exponents, negative zero, random bit patterns; NaN and
 * infinities as null. nemb__json_u64() writes integers as printf does. */
#include "nemb_test.h"
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "json_text.h"

static void same_as_jansson(double v) {
  nemb__buf b = NEMB__BUF_INIT;
  nemb__json_real(&b, v);
  char *ours = nemb__buf_detach(&b);
  json_t *j = json_real(v);
  char *theirs = json_dumps(j, JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
  json_decref(j);
  if (strcmp(ours, theirs) != 0) {
    print_error("%.17g: ours %s, jansson %s\n", v, ours, theirs);
  }
  assert_string_equal(ours, theirs);
  free(ours);
  free(theirs);
}

static void test_chosen_values(void **unused) {
  (void)unused;
  static const double v[] = {0.0,    -0.0,    1.0,     -1.0,
                             10.0,   0.5,     0.1,     1e-5,
                             1e-4,   1e16,    1e17,    1e21,
                             1e22,   -2.5e-7, 123.456, 1e100,
                             1e-100, 1e300,   5e-324,  1.7976931348623157e308,
                             24.0,   1e-310,  9.5e-5,  12345678901234567890.0};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    same_as_jansson(v[i]);
  }
}

static void test_random_bit_patterns(void **unused) {
  (void)unused;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    memcpy(&v, &x, sizeof v);
    if (isfinite(v)) {
      same_as_jansson(v);
    }
    same_as_jansson((double)(x % 100000000) / 1000.0); /* joules and watts as reports hold them */
  }
}

/* The fast path (1e-5 <= |v| < 1e16, json_text.c) at its edges and on exact ties: j * 2^-17 for
 * odd j near 1 has 17 fractional digits ending in 5, so rounding to 17 significant digits is
 * exactly half way and must go to even as glibc's printf does; and values spread evenly in
 * log scale over the whole range, as cumulative joules and watts are. */
static void test_fast_path_matches(void **unused) {
  (void)unused;
  static const double edges[] = {1e-5,
                                 9.999999999999999e-6,
                                 1.0000000000000001e-5,
                                 1e-4,
                                 9.9e-5,
                                 1e16,
                                 9999999999999998.0,
                                 1e15,
                                 4.5e15,
                                 0.1,
                                 0.3,
                                 2.0 / 3,
                                 99999.5,
                                 0.000123,
                                 1e-5 * 3,
                                 123456789.125};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    same_as_jansson(edges[i]);
    same_as_jansson(-edges[i]);
    same_as_jansson(nextafter(edges[i], 0));
    same_as_jansson(nextafter(edges[i], INFINITY));
  }
  for (int j = 1; j < 400000; j += 2) {
    same_as_jansson((double)j / 131072.0);
    same_as_jansson((double)j / 1048576.0 + 7);
  }
  uint64_t x = 0x2545F4914F6CDD1Dull;
  for (int i = 0; i < 300000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
    same_as_jansson(pow(10, -6 + 23 * u));
  }
}

/* jansson's text of @p v (JSON_REAL_PRECISION(17)), malloc'd. */
static char *jansson_text(double v) {
  json_t *j = json_real(v);
  char *t = json_dumps(j, JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY);
  json_decref(j);
  return t;
}

/* Every layout the fast path writes in place (json_text.c: whole words at fixed places): each
 * decimal exponent from -5 to 16 with each count of significant digits from 1 to 17 (so the
 * point falls before, inside and after the digits, and trailing zeros end the digits at every
 * place), both signs; and all of them written one after another into one buffer that starts
 * empty (it grows in between), whose text must be jansson's texts joined, NUL-terminated. */
static void test_every_layout_in_one_buffer(void **unused) {
  (void)unused;
  static const char digits[] = "73914825639174285";
  nemb__buf all = NEMB__BUF_INIT;
  nemb__buf want = NEMB__BUF_INIT;
  for (int x10 = -5; x10 <= 16; x10++) {
    for (int n = 1; n <= 17; n++) {
      char text[64];
      snprintf(text, sizeof text, "%.*se%d", n, digits, x10 - n + 1);
      double v = strtod(text, NULL);
      for (int sign = 1; sign >= -1; sign -= 2) {
        same_as_jansson(sign * v);
        nemb__json_real(&all, sign * v);
        nemb__buf_append(&all, ",", 1);
        char *t = jansson_text(sign * v);
        nemb__buf_append(&want, t, strlen(t));
        nemb__buf_append(&want, ",", 1);
        free(t);
      }
    }
  }
  assert_int_equal(all.len, strlen(all.data));
  assert_string_equal(all.data, want.data);
  nemb__buf_release(&all);
  nemb__buf_release(&want);
}

/* nemb__json_u64() writes what printf's %llu does (json_dumps' integers): around every power of
 * ten, at the limits, and random values of every length, one after another in one buffer. */
static void test_integers_as_printf(void **unused) {
  (void)unused;
  nemb__buf got = NEMB__BUF_INIT, want = NEMB__BUF_INIT;
  uint64_t p = 1, x = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 20; i++, p *= 10) {
    const uint64_t v[] = {p - 1, p, p + 1, p * 3 + 7};
    for (size_t k = 0; k < 4; k++) {
      nemb__json_u64(&got, v[k]);
      nemb__buf_printf(&want, "%llu", (unsigned long long)v[k]);
    }
  }
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t v = x >> (x % 64);
    nemb__json_u64(&got, v);
    nemb__buf_append(&got, ",", 1);
    nemb__buf_printf(&want, "%llu,", (unsigned long long)v);
  }
  nemb__json_u64(&got, UINT64_MAX);
  nemb__buf_printf(&want, "%llu", (unsigned long long)UINT64_MAX);
  assert_int_equal(got.len, strlen(got.data));
  assert_string_equal(got.data, want.data);
  nemb__buf_release(&got);
  nemb__buf_release(&want);
}

static void test_not_finite_is_null(void **unused) {
  (void)unused;
  static const double v[] = {NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < 3; i++) {
    nemb__buf b = NEMB__BUF_INIT;
    nemb__json_real(&b, v[i]);
    char *t = nemb__buf_detach(&b);
    assert_string_equal(t, "null");
    free(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chosen_values),      cmocka_unit_test(test_random_bit_patterns),
      cmocka_unit_test(test_fast_path_matches),  cmocka_unit_test(test_every_layout_in_one_buffer),
      cmocka_unit_test(test_integers_as_printf), cmocka_unit_test(test_not_finite_is_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
