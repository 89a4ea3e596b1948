/*
 * json_text.c - jansson's text for a real, without a json_t (json_text.h). jansson's own rule
 * (strconv.c, jsonp_dtostr): snprintf "%.17g", then ".0" when the text has neither '.' nor 'e',
 * then the exponent's '+' and leading zeros removed.
 *
 * snprintf("%.17g") costs about 300 ns here, and an hour's columnar series holds some 30 million
 * reals (issue 18), so the magnitudes a report holds (1e-5 <= |v| < 1e16) take a fast path that
 * gives the same characters: the 17 significant digits are the exact value m * 2^e * 10^p
 * rounded to an integer, half to even as glibc rounds, computed in 128-bit integers (m < 2^53,
 * 10^p <= 10^22 < 2^74), then laid out by %g's rule (fixed notation for decimal exponents -4 to
 * 16, else exponential; trailing zeros dropped). Everything else goes through snprintf.
 * test_json_text.c holds the two paths equal against jansson itself.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_text.h"

__extension__ typedef unsigned __int128 u128;

/* 10^p for 0 <= p <= 19. */
static uint64_t pow10_64(int p) {
  static const uint64_t small[20] = {1ull,
                                     10ull,
                                     100ull,
                                     1000ull,
                                     10000ull,
                                     100000ull,
                                     1000000ull,
                                     10000000ull,
                                     100000000ull,
                                     1000000000ull,
                                     10000000000ull,
                                     100000000000ull,
                                     1000000000000ull,
                                     10000000000000ull,
                                     100000000000000ull,
                                     1000000000000000ull,
                                     10000000000000000ull,
                                     100000000000000000ull,
                                     1000000000000000000ull,
                                     10000000000000000000ull};
  return small[p];
}

/* round(m * 2^e * 10^p), half to even, for m < 2^53 and 0 <= p <= 22 (a 64 x 64-bit product:
 * m x 1000 < 2^63 for the largest p); the caller keeps the result below 2^64. */
static inline uint64_t scaled(uint64_t m, int e, int p) {
  u128 n = p < 20 ? (u128)m * pow10_64(p) : (u128)(m * 1000u) * pow10_64(p - 3);
  if (e >= 0) {
    return (uint64_t)(n << e);
  }
  int s = -e;
  u128 q = n >> s, r = n & (((u128)1 << s) - 1), half = (u128)1 << (s - 1);
  if (r > half || (r == half && (q & 1))) {
    q++;
  }
  return (uint64_t)q;
}

static const char pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* The 8 decimal digits of @p x < 10^8 into @p dig: two halves of four, each two pairs, so the
 * divisions (multiplications) of the four pairs do not wait on each other. */
static inline void digits8(uint32_t x, char *dig) {
  uint32_t hi = x / 10000u, lo = x % 10000u;
  memcpy(dig, pairs + 2 * (hi / 100u), 2);
  memcpy(dig + 2, pairs + 2 * (hi % 100u), 2);
  memcpy(dig + 4, pairs + 2 * (lo / 100u), 2);
  memcpy(dig + 6, pairs + 2 * (lo % 100u), 2);
}

/* The 17 decimal digits of 10^16 <= @p d < 10^17: one, then two groups of eight. */
static void digits17(uint64_t d, char *dig) {
  uint64_t top = d / 100000000u;
  dig[0] = (char)('0' + top / 100000000u);
  digits8((uint32_t)(top % 100000000u), dig + 1);
  digits8((uint32_t)(d % 100000000u), dig + 9);
}

#define REAL_MAX 32 /* bytes real_fast() may write: a sign, 17 digits, "0.000" or "e-5" */
#define P17 100000000000000000ull /* 10^17 */
#define P16 10000000000000000ull  /* 10^16 */

/* The fast path: the text of @p v into @p text (REAL_MAX bytes: at most 24 are written), its
 * length, or 0 when @p v is outside it. */
static size_t real_fast(char *text, double v) {
  double x = fabs(v);
  if (!(x >= 1e-5 && x < 1e16)) {
    return 0;
  }
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int q = (int)(bits >> 52) - 1023; /* 2^q <= x < 2^(q+1); normal, since x >= 1e-5 */
  int e = q - 52;                   /* x = m * 2^e */
  uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
  /* 10^k <= x < 10^(k+1); floor(q log10(2)) (exact as (q * 78913) >> 18 for |q| < 1650) may be
   * one low, and the comparison with a double power of ten (exact up to 1e22, else within an
   * ulp) mostly fixes it; the range checks below catch whatever is left. */
  static const double pow10d[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0,  1e1,
                                  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
  int k = (q * 78913) >> 18; /* q >= -17: an arithmetic shift, floor (gcc, clang) */
  if (x >= pow10d[k + 7]) {
    k++;
  }
  int p = 16 - k;
  uint64_t d = scaled(m, e, p);
  if (d >= P17) {
    d = scaled(m, e, --p); /* k was one low, or rounding carried into an 18th digit */
  } else if (d < P16) {
    d = scaled(m, e, ++p);
  }
  int x10 = 16 - p; /* the decimal exponent of the first digit */
  char dig[17];
  digits17(d, dig);
  int len = 17;
  while (len > 1 && dig[len - 1] == '0') {
    len--;
  }
  size_t n = 0;
  if (v < 0) {
    text[n++] = '-';
  }
  if (x10 >= 0 && x10 < 17) {
    /* The digits before the point (dig[] holds '0' past len, as %g's integer part does), the
     * point, the rest or jansson's ".0" for a real that reads as an integer. */
    int whole = x10 + 1;
    memcpy(text + n, dig, (size_t)whole);
    n += (size_t)whole;
    text[n++] = '.';
    if (len > whole) {
      memcpy(text + n, dig + whole, (size_t)(len - whole));
      n += (size_t)(len - whole);
    } else {
      text[n++] = '0';
    }
  } else if (x10 >= -4 && x10 < 0) {
    memcpy(text + n, "0.0000", (size_t)(1 - x10)); /* "0." and -x10 - 1 zeros */
    n += (size_t)(1 - x10);
    memcpy(text + n, dig, (size_t)len);
    n += (size_t)len;
  } else {
    text[n++] = dig[0];
    if (len > 1) {
      text[n++] = '.';
      memcpy(text + n, dig + 1, (size_t)(len - 1));
      n += (size_t)(len - 1);
    }
    /* jansson: no '+', no leading zeros; here x10 is -5 or 16 (x < 1e16 may round up to it) */
    text[n++] = 'e';
    if (x10 < 0) {
      text[n++] = '-';
    }
    int a = x10 < 0 ? -x10 : x10;
    if (a >= 10) {
      memcpy(text + n, pairs + 2 * a, 2);
      n += 2;
    } else {
      text[n++] = (char)('0' + a);
    }
  }
  return n;
}

void nemb__json_real(nemb__buf *b, double v) {
  if (!isfinite(v)) {
    nemb__buf_append(b, "null", 4);
    return;
  }
  /* Written in place: a copy through a local array and an append per number was a fifth of the
   * cost of a number (30 million of them in an hour's columns). */
  char *at = nemb__buf_space(b, REAL_MAX);
  if (at == NULL) {
    return; /* out of memory: sticky in b */
  }
  size_t fast = real_fast(at, v);
  if (fast > 0) {
    nemb__buf_grew(b, fast);
    return;
  }
  char text[40];
  int n = snprintf(text, sizeof text - 2, "%.17g", v);
  if (n < 0) {
    nemb__buf_append(b, "null", 4);
    return;
  }
  size_t len = (size_t)n;
  char *e = strchr(text, 'e');
  if (e == NULL && strchr(text, '.') == NULL) {
    memcpy(text + len, ".0", 3);
    len += 2;
  } else if (e != NULL) {
    char *start = e + 1, *end = e + 1; /* drop '+' and the exponent's leading zeros */
    if (*start == '-') {
      start++;
      end++;
    } else if (*end == '+') {
      end++;
    }
    while (*end == '0' && end[1] != '\0') {
      end++;
    }
    memmove(start, end, (size_t)(text + len + 1 - end));
    len -= (size_t)(end - start);
  }
  nemb__buf_append(b, text, len);
}
