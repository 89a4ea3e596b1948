/*
 * atomic_file.c - see atomic_file.h. One path for every file: open (a temporary file beside the
 * destination, or the destination itself when it must not be replaced), append (through zstd for
 * a ".zst" path), commit (fsync, rename) or abort.
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

#include "zstd_lib.h"

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

struct nemb__atomic_file {
  int fd;
  char *tmp;    /* the temporary file, renamed to target at commit; NULL when in place */
  char *target; /* where it goes */
  bool exists;  /* a regular file is replaced: its mode is kept */
  mode_t mode;
  int err;       /* the first error, sticky */
  ZSTD_CCtx *zc; /* compressing (a ".zst" path), else NULL */
  char *zbuf;    /* compressed output, ZSTD_CStreamOutSize() bytes */
  size_t zcap;
};

const char *nemb__atomic_strerror(int e) {
  if (e != NEMB__ATOMIC_ENOZSTD) {
    return strerror(e);
  }
  static _Thread_local char why[512];
  const char *load = nemb__zstd_load();
  snprintf(why, sizeof why,
           "%s; install it, or give a name without .zst to write the file uncompressed",
           load ? load : "libzstd cannot be used");
  return why;
}

static void release(nemb__atomic_file *f) {
  if (f->zc != NULL) {
    nemb__zstd.freeCCtx(f->zc);
  }
  free(f->zbuf);
  free(f->tmp);
  free(f->target);
  free(f);
}

int nemb__atomic_open(const char *path, nemb__atomic_file **out) {
  *out = NULL;
  if (path == NULL || path[0] == '\0') {
    return EINVAL;
  }
  bool zst = nemb__zstd_is_zst_name(path);
  if (zst && nemb__zstd_load() != NULL) {
    return NEMB__ATOMIC_ENOZSTD;
  }
  nemb__atomic_file *f = calloc(1, sizeof *f);
  if (f == NULL) {
    return ENOMEM;
  }
  f->fd = -1;
  if (zst) {
    f->zc = nemb__zstd.createCCtx();
    f->zcap = nemb__zstd.CStreamOutSize();
    f->zbuf = malloc(f->zcap);
    if (f->zc == NULL || f->zbuf == NULL ||
        nemb__zstd.isError(
            nemb__zstd.CCtx_setParameter(f->zc, ZSTD_c_compressionLevel, NEMB__ZSTD_LEVEL))) {
      release(f);
      return ENOMEM;
    }
  }
  char *resolved;
  struct stat st;
  bool dangling;
  int e = examine(path, &resolved, &st, &f->exists, &dangling);
  if (e != 0) {
    release(f);
    return e;
  }
  f->target = resolved ? resolved : strdup(path);
  if (f->target == NULL) {
    release(f);
    return ENOMEM;
  }
  if (dangling || (f->exists && !S_ISREG(st.st_mode))) {
    /* A destination that must not be replaced (device, FIFO, socket): written as it is.
     * O_CREAT only for the target of a dangling symbolic link. */
    f->fd =
        open(f->target, O_WRONLY | O_NOCTTY | O_CLOEXEC | (dangling ? O_CREAT | O_TRUNC : 0), 0666);
    f->exists = false;
  } else {
    const char *base;
    char *dir = dir_of(f->target, &base);
    f->fd = dir ? create_temp(dir, base, &f->tmp) : -1;
    if (dir == NULL) {
      errno = ENOMEM;
    }
    free(dir);
    f->mode = st.st_mode & 07777;
  }
  if (f->fd < 0) {
    e = errno;
    release(f);
    return e;
  }
  *out = f;
  return 0;
}

/* Passes @p len bytes through the compressor (flushing the frame's end with @p end). */
static int compress_out(nemb__atomic_file *f, const void *data, size_t len, bool end) {
  ZSTD_inBuffer in = {data, len, 0};
  for (;;) {
    ZSTD_outBuffer o = {f->zbuf, f->zcap, 0};
    size_t left = nemb__zstd.compressStream2(f->zc, &o, &in, end ? ZSTD_e_end : ZSTD_e_continue);
    if (nemb__zstd.isError(left)) {
      return nemb__zstd.getErrorCode(left) == ZSTD_error_memory_allocation ? ENOMEM : EIO;
    }
    int e = write_all(f->fd, f->zbuf, o.pos);
    if (e != 0) {
      return e;
    }
    if (end ? left == 0 : in.pos == in.size) {
      return 0;
    }
  }
}

int nemb__atomic_append(nemb__atomic_file *f, const void *data, size_t len) {
  if (f->err == 0 && len > 0) {
    f->err = f->zc ? compress_out(f, data, len, false) : write_all(f->fd, data, len);
  }
  return f->err;
}

int nemb__atomic_commit(nemb__atomic_file *f) {
  int e = f->err;
  if (e == 0 && f->zc != NULL) {
    e = compress_out(f, "", 0, true);
  }
  if (f->tmp != NULL) {
    if (e == 0 && f->exists && fchmod(f->fd, f->mode) != 0) {
      e = errno;
    }
    if (e == 0 && fsync(f->fd) != 0) {
      e = errno;
    }
  }
  if (close(f->fd) != 0 && e == 0 && errno != EINTR) {
    e = errno;
  }
  if (f->tmp != NULL && e == 0 && rename(f->tmp, f->target) != 0) {
    e = errno;
  }
  if (f->tmp != NULL && e != 0) {
    unlink(f->tmp);
  }
  release(f);
  return e;
}

void nemb__atomic_abort(nemb__atomic_file *f) {
  if (f == NULL) {
    return;
  }
  close(f->fd);
  if (f->tmp != NULL) {
    unlink(f->tmp);
  }
  release(f);
}

int nemb__atomic_write(const char *path, const void *data, size_t len) {
  if (data == NULL && len > 0) {
    return EINVAL;
  }
  nemb__atomic_file *f;
  int e = nemb__atomic_open(path, &f);
  if (e != 0) {
    return e;
  }
  nemb__atomic_append(f, data, len);
  return nemb__atomic_commit(f);
}

int nemb__atomic_check_kind(const char *path) {
  return nemb__zstd_is_zst_name(path) && nemb__zstd_load() != NULL ? NEMB__ATOMIC_ENOZSTD : 0;
}

/* A dangling link @p path is written in place through it, creating its target: the target's
 * directory must be there and writable (a missing one failed only after the work). */
static int dangling_check(const char *path) {
  char link[4096];
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) {
    return errno;
  }
  link[n] = '\0';
  const char *base;
  char *at = dir_of(path, &base); /* a relative target is relative to the link's directory */
  char *full = at == NULL ? NULL : malloc(strlen(at) + (size_t)n + 2);
  if (full != NULL) {
    snprintf(full, strlen(at) + (size_t)n + 2, "%s/%s", link[0] == '/' ? "" : at, link);
  }
  char *dir = full != NULL ? dir_of(link[0] == '/' ? link : full, &base) : NULL;
  int e = dir == NULL ? ENOMEM : access(dir, W_OK | X_OK) == 0 ? 0 : errno;
  free(dir);
  free(full);
  free(at);
  return e;
}

int nemb__atomic_check(const char *path) {
  if (path == NULL || path[0] == '\0') {
    return EINVAL;
  }
  if (nemb__atomic_check_kind(path) != 0) {
    return NEMB__ATOMIC_ENOZSTD;
  }
  char *resolved;
  struct stat st;
  bool exists, dangling;
  int e = examine(path, &resolved, &st, &exists, &dangling);
  if (e != 0) {
    return e;
  }
  const char *target = resolved ? resolved : path;
  if (exists && S_ISDIR(st.st_mode)) {
    free(resolved);
    return EISDIR; /* the write would meet it at the rename */
  }
  if (exists && !S_ISREG(st.st_mode)) {
    /* Opening a FIFO would wait for its reader: access() is the test that has no effect. */
    e = access(target, W_OK) == 0 ? 0 : errno;
    free(resolved);
    return e;
  }
  if (dangling) {
    free(resolved);
    return dangling_check(path);
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
