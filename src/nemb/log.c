/*
 * log.c - routes the library's messages to the callback set with nemb_set_log_callback().
 * The library is silent by default: nothing reaches stdout or stderr on its own.
 */
#include <stdio.h>

#include "internal.h"

static nemb_log_fn log_fn;
static void *log_user;
static nemb_log_level log_max = NEMB_LOG_WARN;

void nemb_set_log_callback(nemb_log_fn fn, void *user, nemb_log_level max_level) {
  log_fn = fn;
  log_user = user;
  log_max = max_level;
}

void nemb__log(nemb_log_level level, const char *fmt, ...) {
  if (log_fn == NULL || level > log_max) {
    return;
  }
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_fn(level, msg, log_user);
}
