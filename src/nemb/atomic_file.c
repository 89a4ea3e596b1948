/*
 * atomic_file.c - see atomic_file.h.
 */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Writes all of @p data to @p fd. @return 0 or an errno. */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    if (w == 0) {
      return EIO;
    }
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* A destination that must not be replaced (device, FIFO, socket): opened and written as it is.
 * O_CREAT only for the target of a dangling symbolic link. */
static int write_in_place(const char *path, const char *data, size_t len, bool create) {
  int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0666);
  if (fd < 0) {
    return errno;
  }
  int e = write_all(fd, data, len);
  if (close(fd) != 0 && e == 0 && errno != EINTR) {
    e = errno;
  }
  return e;
}

/* Splits @p path into its directory (malloc'd, "." when none) and its last component. */
static char *dir_of(const char *path, const char **base) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    *base = path;
    return strdup(".");
  }
  *base = slash + 1;
  if (slash == path) {
    return strdup("/");
  }
  return strndup(path, (size_t)(slash - path));
}

/* Creates a new file "<dir>/.<base>.<random>.tmp" with O_CREAT|O_EXCL|O_NOFOLLOW, so that nothing
 * planted under a guessed name (a symbolic link in a shared directory) is ever opened. The name
 * goes to *out (malloc'd). @return the descriptor, or -1 with errno set. */
static int create_temp(const char *dir, const char *base, char **out) {
  /* Keep the whole name within NAME_MAX (255): the base is cut, the random part is 16 hex. */
  int keep = (int)strnlen(base, 200);
  for (int attempt = 0; attempt < 100; attempt++) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      r ^=
          (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)getpid() << 32 ^ (uint64_t)attempt;
    }
    char *name = NULL;
    if (asprintf(&name, "%s/.%.*s.%016llx.tmp", dir, keep, base, (unsigned long long)r) < 0) {
      errno = ENOMEM;
      return -1;
    }
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0) {
      *out = name;
      return fd;
    }
    int e = errno;
    free(name);
    if (e != EEXIST) {
      errno = e;
      return -1;
    }
  }
  errno = EEXIST;
  return -1;
}

/* What the destination is: resolves a symbolic link to the path it names (*resolved, malloc'd,
 * or NULL when @p path is used as it is). @return 0 with *st filled and *exists set, or an errno.
 * *dangling is set for a link whose target does not exist. */
static int examine(const char *path, char **resolved, struct stat *st, bool *exists,
                   bool *dangling) {
  *resolved = NULL;
  *exists = false;
  *dangling = false;
  if (lstat(path, st) != 0) {
    return errno == ENOENT ? 0 : errno;
  }
  *exists = true;
  if (S_ISLNK(st->st_mode)) {
    *resolved = realpath(path, NULL);
    if (*resolved == NULL) {
      if (errno == ENOENT) {
        *dangling = true;
        *exists = false;
        return 0;
      }
      return errno;
    }
    if (stat(*resolved, st) != 0) {
      int e = errno;
      free(*resolved);
      *resolved = NULL;
      return e;
    }
  }
  return S_ISDIR(st->st_mode) ? EISDIR : 0;
}

int nemb__atomic_write(const char *path, const void *data, size_t len) {
  if (path == NULL || path[0] == '\0' || (data == NULL && len > 0)) {
    return EINVAL;
  }
  char *resolved;
  struct stat st;
  bool exists, dangling;
  int e = examine(path, &resolved, &st, &exists, &dangling);
  if (e != 0) {
    return e;
  }
  if (dangling || (exists && !S_ISREG(st.st_mode))) {
    e = write_in_place(resolved ? resolved : path, data, len, dangling);
    free(resolved);
    return e;
  }
  const char *target = resolved ? resolved : path;
  const char *base;
  char *dir = dir_of(target, &base);
  char *tmp = NULL;
  int fd = dir ? create_temp(dir, base, &tmp) : -1;
  if (fd < 0) {
    e = dir ? errno : ENOMEM;
    free(dir);
    free(resolved);
    return e;
  }
  e = write_all(fd, data, len);
  if (e == 0 && exists && fchmod(fd, st.st_mode & 07777) != 0) {
    e = errno;
  }
  if (e == 0 && fsync(fd) != 0) {
    e = errno;
  }
  if (close(fd) != 0 && e == 0 && errno != EINTR) {
    e = errno;
  }
  if (e == 0 && rename(tmp, target) != 0) {
    e = errno;
  }
  if (e != 0) {
    unlink(tmp);
  }
  free(tmp);
  free(dir);
  free(resolved);
  return e;
}

int nemb__atomic_check(const char *path) {
  if (path == NULL || path[0] == '\0') {
    return EINVAL;
  }
  char *resolved;
  struct stat st;
  bool exists, dangling;
  int e = examine(path, &resolved, &st, &exists, &dangling);
  if (e != 0) {
    return e;
  }
  const char *target = resolved ? resolved : path;
  if (exists && !S_ISREG(st.st_mode)) {
    /* Opening a FIFO would wait for its reader: access() is the test that has no effect. */
    e = access(target, W_OK) == 0 ? 0 : errno;
    free(resolved);
    return e;
  }
  if (dangling) {
    free(resolved);
    return 0; /* written in place through the link; its directory is the link target's */
  }
  const char *base;
  char *dir = dir_of(target, &base);
  char *tmp = NULL;
  int fd = dir ? create_temp(dir, base, &tmp) : -1;
  e = fd < 0 ? (dir ? errno : ENOMEM) : 0;
  if (fd >= 0) {
    close(fd);
    unlink(tmp);
  }
  free(tmp);
  free(dir);
  free(resolved);
  return e;
}
