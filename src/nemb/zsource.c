/*
 * zsource.c - a report file read in chunks, zstd decompressed on the fly (see zsource.h).
 */
#include "zsource.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nemb.h"
#include "zstd_lib.h"

/* The largest window a frame may ask for: 2^27 bytes (the zstd tool needs --long=27 to exceed
 * its default of 8 MiB), so a hostile frame cannot make a reader allocate gigabytes. */
#define WINDOW_LOG_MAX 27

/* The input buffer: about ZSTD_DStreamInSize() (a block and its header), which suits plain reads
 * too. */
#define IN_CAP (128 * 1024 + 64)

static const unsigned char zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

static int code_of(int e) {
  switch (e) {
  case ENOENT:
    return NEMB_ENOENT;
  case EACCES:
  case EPERM:
    return NEMB_EACCES;
  case ENOMEM:
    return NEMB_ENOMEM;
  default:
    return NEMB_EIO;
  }
}

static int fail(nemb__zsrc *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(nemb__zsrc *s, int err, const char *fmt, ...) {
  if (s->err == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->err = err;
  }
  s->done = true;
  return s->err;
}

/* One read() of at most @p cap bytes into @p buf, retried when a signal interrupts it. Returns the
 * bytes read (0 at the file's end), or -1 after recording the error in @p s. */
static ssize_t read_some(nemb__zsrc *s, void *buf, size_t cap) {
  for (;;) {
    ssize_t r = read(s->fd, buf, cap);
    if (r >= 0) {
      return r;
    }
    if (errno != EINTR) {
      int e = errno;
      fail(s, code_of(e), "cannot read the report %s: %s", s->path, strerror(e));
      return -1;
    }
  }
}

/* Reads more of the file into s->in (after moving what is left to its front): one read per fill,
 * the caller decompresses what came. */
static int fill(nemb__zsrc *s) {
  if (s->in_pos > 0) {
    memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
    s->in_len -= s->in_pos;
    s->in_pos = 0;
  }
  if (!s->eof && s->in_len < s->in_cap) {
    ssize_t r = read_some(s, s->in + s->in_len, s->in_cap - s->in_len);
    if (r < 0) {
      return s->err;
    }
    s->in_len += (size_t)r;
    s->eof = r == 0;
  }
  return 0;
}

int nemb__zsrc_open(nemb__zsrc *s, const char *path, uint64_t limit) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
  s->limit = limit;
  s->path = strdup(path ? path : "");
  if (s->path == NULL) {
    return fail(s, NEMB_ENOMEM, "out of memory reading a report");
  }
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    int e = errno;
    return fail(s, code_of(e), "cannot read the report %s: %s", path, strerror(e));
  }
  struct stat st;
  if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    return fail(s, NEMB_EINVAL,
                "%s is a directory; give the report's file (a .json or .json.zst written by "
                "codegreen run -o, measure -o or a Session)",
                path);
  }
  s->in_cap = IN_CAP;
  s->in = malloc(s->in_cap);
  if (s->in == NULL) {
    return fail(s, NEMB_ENOMEM, "out of memory reading the report %s", path);
  }
  /* Sniff the magic: a compressed report renamed to .json is still read. */
  while (s->in_len < sizeof zstd_magic && !s->eof) {
    int rc = fill(s);
    if (rc != 0) {
      return rc;
    }
  }
  if (s->eof && s->in_len == 0) {
    /* Said plainly, for any name: a JSON parser or the zstd decoder would call it malformed. */
    return fail(s, NEMB_EINVAL, "%s is empty (0 bytes): no report in it", path);
  }
  s->zst = nemb__zstd_is_zst_name(path) ||
           (s->in_len >= sizeof zstd_magic && memcmp(s->in, zstd_magic, sizeof zstd_magic) == 0);
  if (s->zst) {
    const char *why = nemb__zstd_load();
    if (why != NULL) {
      return fail(s, NEMB_ENOTSUP,
                  "cannot read the report %s: %s; decompress it with `zstd -d` instead", path, why);
    }
    ZSTD_DCtx *d = nemb__zstd.createDCtx();
    if (d == NULL) {
      return fail(s, NEMB_ENOMEM, "out of memory reading the report %s", path);
    }
    s->dctx = d;
    nemb__zstd.DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
  }
  return 0;
}

static int take(nemb__zsrc *s, size_t n) {
  s->out_bytes += n;
  if (s->limit != 0 && s->out_bytes > s->limit) {
    return fail(s, NEMB_EINVAL, "the report %s is larger than %llu MiB, more than codegreen reads",
                s->path, (unsigned long long)(s->limit >> 20));
  }
  return 0;
}

static int read_plain(nemb__zsrc *s, unsigned char *buf, size_t cap, size_t *got) {
  if (s->in_pos < s->in_len) { /* the bytes read to sniff the magic */
    size_t n = s->in_len - s->in_pos < cap ? s->in_len - s->in_pos : cap;
    memcpy(buf, s->in + s->in_pos, n);
    s->in_pos += n;
    *got = n;
    return take(s, n);
  }
  if (s->eof) {
    s->done = true;
    return 0;
  }
  ssize_t r = read_some(s, buf, cap);
  if (r < 0) {
    return s->err;
  }
  if (r == 0) {
    s->eof = s->done = true;
    return 0;
  }
  *got = (size_t)r;
  return take(s, (size_t)r);
}

static int read_zst(nemb__zsrc *s, unsigned char *buf, size_t cap, size_t *got) {
  ZSTD_outBuffer out = {buf, cap, 0};
  while (out.pos == 0) {
    if (s->in_pos == s->in_len && !s->pending) {
      if (s->eof) {
        if (s->frame_left != 0 || s->out_bytes == 0) {
          return fail(s, NEMB_EINVAL,
                      s->out_bytes == 0 && s->frame_left == 0
                          ? "%s holds no report: its zstd frames decompress to nothing"
                          : "%s is truncated: its zstd stream ends in the middle of a frame",
                      s->path);
        }
        s->done = true;
        return 0;
      }
      int rc = fill(s);
      if (rc != 0) {
        return rc;
      }
      continue;
    }
    ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
    size_t r = nemb__zstd.decompressStream(s->dctx, &out, &in);
    s->in_pos = in.pos;
    s->pending = out.pos == out.size; /* the decoder may hold more output */
    if (nemb__zstd.isError(r)) {
      return fail(
          s, nemb__zstd.getErrorCode(r) == ZSTD_error_memory_allocation ? NEMB_ENOMEM : NEMB_EINVAL,
          "%s is not valid zstd data: %s", s->path, nemb__zstd.getErrorName(r));
    }
    s->frame_left = r;
  }
  *got = out.pos;
  return take(s, out.pos);
}

int nemb__zsrc_read(nemb__zsrc *s, void *buf, size_t cap, size_t *got) {
  *got = 0;
  if (s->err != 0) {
    return s->err;
  }
  if (s->done || cap == 0) {
    return 0;
  }
  return s->zst ? read_zst(s, buf, cap, got) : read_plain(s, buf, cap, got);
}

void nemb__zsrc_close(nemb__zsrc *s) {
  if (s->fd >= 0) {
    close(s->fd);
  }
  s->fd = -1;
  if (s->dctx != NULL) {
    nemb__zstd.freeDCtx(s->dctx);
  }
  s->dctx = NULL;
  free(s->in);
  s->in = NULL;
  free(s->path);
  s->path = NULL;
}
