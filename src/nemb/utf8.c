/*
 * utf8.c - see utf8.h.
 */
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* The length of the valid UTF-8 sequence at @p s (1 to 4), or 0 when the byte there does not
 * start one (RFC 3629, section 4's table of well-formed byte sequences). */
static size_t sequence(const unsigned char *s) {
  unsigned c = s[0];
  size_t n;
  unsigned lo = 0x80, hi = 0xBF; /* the second byte's range, narrower for some leads */
  if (c < 0x80) {
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong form */
    hi = c == 0xED ? 0x9F : 0xBF; /* no surrogate */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong form */
    hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
  } else {
    return 0;
  }
  if (s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < n; i++) {
    if (s[i] < 0x80 || s[i] > 0xBF) {
      return 0;
    }
  }
  return n;
}

char *nemb__utf8_text(const char *bytes) {
  const unsigned char *s = (const unsigned char *)bytes;
  size_t len = strlen(bytes);
  char *out = malloc(3 * len + 1); /* each byte at most U+FFFD's three */
  if (out == NULL) {
    return NULL;
  }
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = sequence(s + i);
    if (n == 0) {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
      continue;
    }
    memcpy(out + o, s + i, n);
    o += n;
    i += n;
  }
  out[o] = '\0';
  return out;
}
