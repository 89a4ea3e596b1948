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
 * test_json_text.c holds the two paths equal against jansson itself. Integers (nemb__json_u64:
 * a series' t_ns) are written from the same eight-digit words.
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

/* The 8 decimal digits of @p x < 10^8 as the 8 bytes of a little-endian word, first digit
 * lowest: the halves, their pairs and the pairs' digits split in parallel lanes of one register
 * (x * 10486 >> 20 is x / 100 for x < 10^4, x * 103 >> 10 is x / 10 for x < 100). Digits built
 * in bytes and read back as words stalled on store forwarding: most of a number's cost. */
static inline uint64_t digits8(uint32_t x) {
  uint64_t v = (uint64_t)(x / 10000u) | (uint64_t)(x % 10000u) << 32;
  uint64_t h = (v * 10486u) >> 20 & 0x0000007F0000007Full;
  v = h | (v - h * 100u) << 16;
  h = (v * 103u) >> 10 & 0x000F000F000F000Full;
  v = h | (v - h * 10u) << 8;
  return v + 0x3030303030303030ull;
}

#define REAL_MAX 32 /* bytes real_fast() may write: a sign, "0.0000", 17 digits, whole words */
#define P17 100000000000000000ull /* 10^17 */
#define P16 10000000000000000ull  /* 10^16 */

/* The fast path: the text of @p v into @p text (REAL_MAX bytes may be written, the text is at
 * most 24), its length, or 0 when @p v is outside it. */
static size_t real_fast(char *text, double v) {
  double x = fabs(v);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  x = 0; /* digits8()'s words are laid out little-endian: snprintf writes every number */
#endif
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
  /* The 17 digits: the first, then words of eight (w1: the 2nd to 9th, w2: the 10th to 17th). */
  uint64_t rest = d % P16;
  char first = (char)('0' + d / P16);
  uint64_t w1 = digits8((uint32_t)(rest / 100000000u)), w2 = digits8((uint32_t)(rest % 100000000u));
  /* len: the digits without the trailing zeros (a '0' byte of w less 0x30.. is a zero byte). */
  int len = 17;
  uint64_t z2 = w2 - 0x3030303030303030ull, z1 = w1 - 0x3030303030303030ull;
  if (z2 != 0) {
    len -= __builtin_clzll(z2) / 8;
  } else {
    len = z1 != 0 ? 9 - __builtin_clzll(z1) / 8 : 1;
  }
  /* Every layout is written with whole words at fixed places, later ones over earlier ones, so
   * nothing is read back; bytes past the length are left as they are (REAL_MAX). */
  size_t n = v < 0;
  text[0] = '-';
  char *t = text + n;
  if (x10 >= 0 && x10 < 17) {
    /* The digits before the point (the digits past len are '0', as %g's integer part has them),
     * the point, the rest, or jansson's ".0" for a real that reads as an integer. */
    int whole = x10 + 1;
    t[0] = first;
    memcpy(t + 1, &w1, 8);
    memcpy(t + 9, &w2, 8);
    if (whole <= 8) {
      uint64_t tail = w1 >> (8 * (whole - 1));
      memcpy(t + whole + 1, &tail, 8);
      memcpy(t + 10, &w2, 8);
    } else if (whole < 17) {
      uint64_t tail = w2 >> (8 * (whole - 9));
      memcpy(t + whole + 1, &tail, 8);
    } else {
      t[18] = '0';
    }
    t[whole] = '.';
    n += (size_t)(len > whole ? len : whole + 1) + 1;
  } else if (x10 >= -4 && x10 < 0) {
    memcpy(t, "0.000000", 8); /* "0." and -x10 - 1 zeros */
    int at = 1 - x10;
    t[at] = first;
    memcpy(t + at + 1, &w1, 8);
    memcpy(t + at + 9, &w2, 8);
    n += (size_t)(at + len);
  } else {
    t[0] = first;
    t[1] = '.';
    memcpy(t + 2, &w1, 8);
    memcpy(t + 10, &w2, 8);
    n += len > 1 ? (size_t)len + 1 : 1;
    /* jansson: no '+', no leading zeros; here x10 is -5 (1e-5 <= x < 1e-4) */
    text[n++] = 'e';
    if (x10 < 0) {
      text[n++] = '-';
    }
    int e10 = x10 < 0 ? -x10 : x10;
    if (e10 >= 10) {
      memcpy(text + n, pairs + 2 * e10, 2);
      n += 2;
    } else {
      text[n++] = (char)('0' + e10);
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

void nemb__json_u64(nemb__buf *b, uint64_t v) {
  char *t = nemb__buf_space(b, 24);
  if (t == NULL) {
    return; /* out of memory: sticky in b */
  }
  size_t n = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (v < P16) {
    /* Eight digits (v < 10^8) or sixteen as words, less the leading zeros (the low bytes of the
     * first word that are '0'): a time in nanoseconds is 13 to 16 of them. */
    uint64_t w1 = digits8((uint32_t)(v / 100000000u)), w2 = digits8((uint32_t)(v % 100000000u));
    uint64_t z1 = w1 - 0x3030303030303030ull, z2 = w2 - 0x3030303030303030ull;
    if (z1 != 0) {
      int lead = __builtin_ctzll(z1) / 8;
      uint64_t head = w1 >> (8 * lead);
      memcpy(t, &head, 8);
      memcpy(t + 8 - lead, &w2, 8);
      n = (size_t)(16 - lead);
    } else {
      int lead = z2 != 0 ? __builtin_ctzll(z2) / 8 : 7; /* 0 is "0" */
      uint64_t head = w2 >> (8 * lead);
      memcpy(t, &head, 8);
      n = (size_t)(8 - lead);
    }
    nemb__buf_grew(b, n);
    return;
  }
#endif
  char d[20];
  int i = 20;
  do {
    d[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  memcpy(t, d + i, (size_t)(20 - i));
  nemb__buf_grew(b, (size_t)(20 - i));
}
