/*
 * buf.c - the instrumenter's growable byte buffer (buf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void cgi__buf_add(cgi__buf *b, const char *s, size_t n) {
  if (b->oom || (n == 0 && b->data != NULL)) {
    return;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
      cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (d == NULL) {
      b->oom = true;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  if (n > 0) {
    memcpy(b->data + b->len, s, n);
  }
  b->len += n;
  b->data[b->len] = '\0';
}

void cgi__buf_puts(cgi__buf *b, const char *s) {
  cgi__buf_add(b, s, strlen(s));
}

void cgi__buf_printf(cgi__buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = true;
    return;
  }
  if ((size_t)n < sizeof small) {
    cgi__buf_add(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (big == NULL) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  cgi__buf_add(b, big, (size_t)n);
  free(big);
}

char *cgi__buf_take(cgi__buf *b) {
  if (b->oom) {
    cgi__buf_free(b);
    return NULL;
  }
  if (b->data == NULL) {
    cgi__buf_add(b, "", 0);
    if (b->oom) {
      return NULL;
    }
  }
  char *d = b->data;
  *b = (cgi__buf){0};
  return d;
}

void cgi__buf_free(cgi__buf *b) {
  free(b->data);
  *b = (cgi__buf){0};
}
