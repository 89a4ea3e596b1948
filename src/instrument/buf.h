/*
 * buf.h - the growable byte buffer the instrumenter builds its texts in. An allocation failure
 * sets `oom`; later additions are ignored and cgi__buf_take() returns NULL, so a caller checks
 * once at the end. Not thread-safe (one buffer, one thread). Implemented by buf.c.
 */
#ifndef CGI_BUF_H
#define CGI_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cgi__buf {
  char *data;
  size_t len, cap;
  bool oom;
} cgi__buf;

void cgi__buf_add(cgi__buf *b, const char *s, size_t n);
void cgi__buf_puts(cgi__buf *b, const char *s);
void cgi__buf_printf(cgi__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the NUL-terminated contents and hands them to the caller (NULL after an OOM). */
char *cgi__buf_take(cgi__buf *b);
void cgi__buf_free(cgi__buf *b);

#endif /* CGI_BUF_H */
