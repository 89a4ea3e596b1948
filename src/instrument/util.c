/*
 * util.c - small helpers the `analyze` and `measure` verbs share: granularity names, point kinds
 * in words, and whole-file reading and writing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instrument.h"

int cgi_parse_granularity(const char *text, cgi_granularity *out) {
  if (strcmp(text, "coarse") == 0) {
    *out = CGI_COARSE;
  } else if (strcmp(text, "fine") == 0) {
    *out = CGI_FINE;
  } else {
    return -1;
  }
  return 0;
}

void cgi_point_kind(const cgi_point *p, char *buf, size_t len) {
  const char *what = (p->flags & CGI_GENERATOR)
                         ? ((p->flags & CGI_ASYNC) ? "async generator" : "generator")
                     : (p->flags & CGI_ASYNC) ? "coroutine"
                                              : NULL;
  if (what == NULL) {
    snprintf(buf, len, "%s", p->kind);
  } else if (strcmp(p->kind, "function") == 0) {
    snprintf(buf, len, "%s", what);
  } else {
    snprintf(buf, len, "%s (%s)", p->kind, what);
  }
}

int cgi_read_file(const char *path, char **out, size_t *len) {
  /* O_NONBLOCK: a FIFO is refused below instead of waiting for a writer. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = S_ISDIR(st.st_mode) ? EISDIR : CGI_ENOTREG;
    close(fd);
    errno = e;
    return -1;
  }
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  for (;;) {
    if (n > CGI_MAX_SOURCE_BYTES) { /* a file that grows while read, or lies about its size */
      free(buf);
      close(fd);
      errno = EFBIG;
      return -1;
    }
    if (n == cap) {
      cap *= 2;
      char *g = realloc(buf, cap + 1);
      if (g == NULL) {
        free(buf);
        close(fd);
        errno = ENOMEM;
        return -1;
      }
      buf = g;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      free(buf);
      close(fd);
      errno = e;
      return -1;
    }
    if (r == 0) {
      break;
    }
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

int cgi_write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return -1;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t w = write(fd, data + done, len - done);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    done += (size_t)w;
  }
  return close(fd);
}

int cgi_mkdirs_for(const char *path) {
  char *p = strdup(path);
  if (p == NULL) {
    return -1;
  }
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') {
      continue;
    }
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      free(p);
      errno = e;
      return -1;
    }
    *s = '/';
  }
  free(p);
  return 0;
}

const char *cgi_read_error(int e) {
  switch (e) {
  case EFBIG:
    return "larger than 64 MiB, more than codegreen reads from a source file";
  case CGI_ENOTREG:
    return "not a regular file (a device, FIFO or socket is not read)";
  default:
    return strerror(e);
  }
}
