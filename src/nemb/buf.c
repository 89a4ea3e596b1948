/*
 * buf.c - a growable, always NUL-terminated text buffer for the JSON and text writers.
 * An allocation failure is sticky (oom) so writers can append freely and check once at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool nemb__buf_reserve(nemb__buf *b, size_t extra) {
  if (b->oom) {
    return false;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) {
    return true;
  }
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) {
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL) {
    b->oom = true;
    return false;
  }
  b->data = p;
  b->cap = cap;
  return true;
}

void nemb__buf_append(nemb__buf *b, const char *s, size_t n) {
  if (!nemb__buf_reserve(b, n)) {
    return;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

size_t nemb_csv_field(const char *field, char *buf, size_t n) {
  const char *v = field ? field : "";
  size_t at = 0;
#define PUT(c)                                                                                     \
  do {                                                                                             \
    if (at + 1 < n) {                                                                              \
      buf[at] = (c);                                                                               \
    }                                                                                              \
    at++;                                                                                          \
  } while (0)
  bool quote = strpbrk(v, ",\"\r\n") != NULL;
  if (quote) {
    PUT('"');
  }
  for (const char *p = v; *p; p++) {
    if (*p == '"') {
      PUT('"');
    }
    PUT(*p);
  }
  if (quote) {
    PUT('"');
  }
#undef PUT
  if (n > 0) {
    buf[at < n ? at : n - 1] = '\0';
  }
  return at;
}

void nemb__buf_csv_field(nemb__buf *b, const char *field) {
  size_t n = nemb_csv_field(field, NULL, 0);
  if (!nemb__buf_reserve(b, n)) {
    return;
  }
  nemb_csv_field(field, b->data + b->len, n + 1);
  b->len += n;
}

void nemb__buf_printf(nemb__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !nemb__buf_reserve(b, (size_t)n)) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *nemb__buf_detach(nemb__buf *b) {
  char *p = b->oom ? NULL : b->data;
  if (b->oom) {
    free(b->data);
  }
  if (p == NULL && !b->oom) {
    p = calloc(1, 1);
  }
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = false;
  return p;
}

void nemb__buf_release(nemb__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}
