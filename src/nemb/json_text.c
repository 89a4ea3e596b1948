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

/* 10^p for 0 <= p <= 22. */
static u128 pow10_128(int p) {
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
  return p < 20 ? (u128)small[p] : (u128)small[19] * small[p - 19];
}

/* round(m * 2^e * 10^p), half to even; the caller keeps the product below 2^128. */
static uint64_t scaled(uint64_t m, int e, int p) {
  u128 n = (u128)m * pow10_128(p);
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

/* The 17 decimal digits of @p d < 10^17, two at a time in 32-bit arithmetic (a digit at a time
 * in 64-bit was most of the cost). */
static void digits17(uint64_t d, char *dig) {
  static const char pairs[201] =
      "00010203040506070809101112131415161718192021222324252627282930313233"
      "34353637383940414243444546474849505152535455565758596061626364656667"
      "6869707172737475767778798081828384858687888990919293949596979899";
  uint32_t hi = (uint32_t)(d / 1000000000u), lo = (uint32_t)(d % 1000000000u);
  for (int i = 15; i >= 9; i -= 2) { /* lo: digits 8..16 */
    memcpy(dig + i, pairs + 2 * (lo % 100), 2);
    lo /= 100;
  }
  dig[8] = (char)('0' + lo);
  for (int i = 6; i >= 0; i -= 2) { /* hi: digits 0..7 */
    memcpy(dig + i, pairs + 2 * (hi % 100), 2);
    hi /= 100;
  }
}

#define P17 100000000000000000ull /* 10^17 */
#define P16 10000000000000000ull  /* 10^16 */

/* The fast path: false when @p v is outside it (then nothing is written). */
static bool real_fast(nemb__buf *b, double v) {
  double x = fabs(v);
  if (!(x >= 1e-5 && x < 1e16)) {
    return false;
  }
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int e = (int)(bits >> 52) - 1075; /* x = m * 2^e; normal, since x >= 1e-5 */
  uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
  /* 10^k <= x < 10^(k+1); the estimate from the binary exponent may be one low, and the
   * comparison with a double power of ten (exact up to 1e22, else within an ulp) mostly fixes
   * it; the range checks below catch whatever is left. */
  static const double pow10d[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0,  1e1,
                                  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
  int k = (int)floor((e + 52) * 0.30102999566398120);
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
  char text[40];
  size_t n = 0;
  if (v < 0) {
    text[n++] = '-';
  }
  if (x10 >= -4 && x10 < 17) {
    if (x10 >= 0) {
      int whole = x10 + 1;
      for (int i = 0; i < whole; i++) {
        text[n++] = i < len ? dig[i] : '0';
      }
      text[n++] = '.';
      if (len > whole) {
        memcpy(text + n, dig + whole, (size_t)(len - whole));
        n += (size_t)(len - whole);
      } else {
        text[n++] = '0'; /* jansson's ".0" for a real that reads as an integer */
      }
    } else {
      text[n++] = '0';
      text[n++] = '.';
      for (int i = 0; i < -x10 - 1; i++) {
        text[n++] = '0';
      }
      memcpy(text + n, dig, (size_t)len);
      n += (size_t)len;
    }
  } else {
    text[n++] = dig[0];
    if (len > 1) {
      text[n++] = '.';
      memcpy(text + n, dig + 1, (size_t)(len - 1));
      n += (size_t)(len - 1);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "e%d", x10); /* jansson: no '+', no 0s */
  }
  nemb__buf_append(b, text, n);
  return true;
}

void nemb__json_real(nemb__buf *b, double v) {
  if (!isfinite(v)) {
    nemb__buf_append(b, "null", 4);
    return;
  }
  if (real_fast(b, v)) {
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
