/*
 * error.c - error codes, their names and texts, and the thread-local detail message that
 * nemb_last_error() returns.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* One message per thread: a failure in the sampler thread never overwrites the caller's. */
static _Thread_local char last_error[1024];

const char *nemb_strerror(int err) {
  switch (err) {
#define NEMB__ERR_TEXT(name, value, text)                                                          \
  case (value):                                                                                    \
    return text;
    NEMB_ERRNO_MAP(NEMB__ERR_TEXT)
#undef NEMB__ERR_TEXT
  case 0:
    return "success";
  default:
    return "unknown error";
  }
}

const char *nemb_err_name(int err) {
  switch (err) {
#define NEMB__ERR_NAME(name, value, text)                                                          \
  case (value):                                                                                    \
    return #name;
    NEMB_ERRNO_MAP(NEMB__ERR_NAME)
#undef NEMB__ERR_NAME
  case 0:
    return "OK";
  default:
    return "UNKNOWN";
  }
}

const char *nemb_last_error(void) {
  return last_error;
}

void nemb__clear_error(void) {
  last_error[0] = '\0';
}

int nemb__fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return err;
}

void nemb__say(char *why, size_t len, const char *fmt, ...) {
  if (why == NULL || len == 0) {
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
}

int nemb__from_errno(int e) {
  switch (e) {
  case EINVAL:
  case ENOMEM:
  case EACCES:
  case ENOENT:
  case EIO:
  case ERANGE:
  case EAGAIN:
  case ENOSPC: /* the file-system errors a report writer meets keep their errno (since 0.1) */
  case EISDIR:
  case ENOTDIR:
  case EROFS:
  case EFBIG:
  case EDQUOT:
  case ENAMETOOLONG:
    return -e;
  case ELIBACC: /* a library loaded when needed cannot be (atomic_file.h's libzstd) */
    return NEMB_ENOTSUP;
  case EPERM:
    /* For counters, "operation not permitted" and "permission denied" mean the same fix. */
    return NEMB_EACCES;
  default:
    return NEMB_EIO;
  }
}
