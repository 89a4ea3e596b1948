/*
 * json_text.c - jansson's text for a real, without a json_t (json_text.h). jansson's own rule
 * (strconv.c, jsonp_dtostr): snprintf "%.17g", then ".0" when the text has neither '.' nor 'e',
 * then the exponent's '+' and leading zeros removed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json_text.h"

void nemb__json_real(nemb__buf *b, double v) {
  if (!isfinite(v)) {
    nemb__buf_append(b, "null", 4);
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
