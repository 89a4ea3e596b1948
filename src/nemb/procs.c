/*
 * procs.c - the process registry: one file per user listing the codegreen processes that are
 * measuring now, so that a second one can warn that RAPL's machine-wide counters are shared.
 * The format and the rules are in nemb.h.
 *
 * Why a file and flock rather than anything cleverer: it needs no daemon, survives any crash
 * (entries of dead processes are dropped by whoever touches the file next), and flock() releases
 * itself when the process dies, so a crash while holding the lock cannot wedge the others.
 *
 * Process identity comes from the real /proc: it is the program's identity, not hardware, so
 * CODEGREEN_SYSFS_ROOT does not apply (as for /proc/self/cmdline in session.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "job.h"
#include "proc_stat.h"

/* The most of a registry file that is read; beyond it the file can only be garbage (a line is at
 * most ~30 bytes), and the rewrite drops it. */
#define MAX_FILE_BYTES (1u << 20)

typedef struct entry {
  int pid;
  unsigned long long start; /* 0: unknown (a line with a pid only) */
  char job[64];             /* the parallel job it is a rank of (job.h's id); "": none */
} entry;

typedef struct registry {
  int fd;
  char path[4096];
  entry *entries;
  size_t n, cap;
  bool changed; /* the file must be rewritten */
} registry;

/* ----- the path ----- */

static int registry_path(char *buf, size_t len) {
  const char *dir = getenv("XDG_RUNTIME_DIR");
  struct stat st;
  if (dir == NULL || dir[0] != '/' || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    dir = "/tmp"; /* the XDG spec's own advice when the runtime directory is missing */
  }
  int n = snprintf(buf, len, "%s/codegreen-%u.pids", dir, (unsigned)geteuid());
  if (n < 0 || (size_t)n >= len) {
    return nemb__fail(NEMB_ERANGE, "the registry path under %s does not fit in %zu bytes", dir,
                      len);
  }
  return 0;
}

int nemb_procs_path(char *buf, size_t len) {
  nemb__clear_error();
  if (buf == NULL && len > 0) {
    return nemb__fail(NEMB_EINVAL, "nemb_procs_path: buf is NULL");
  }
  return registry_path(buf, len);
}

/* ----- processes ----- */

/* Reads the start time (field 22 of /proc/<pid>/stat, clock ticks since boot) and whether the
 * process is a zombie. Returns 0, or -ENOENT when there is no such process. */
static int proc_stat(int pid, unsigned long long *start, bool *zombie) {
  nemb__proc_stat st;
  int rc = nemb__proc_stat_read((pid_t)pid, &st);
  if (rc == 0) {
    *zombie = st.state == 'Z' || st.state == 'X' || st.state == 'x';
    *start = st.start_ticks;
  }
  return rc;
}

static bool proc_mounted(void) {
  return access("/proc/self/stat", R_OK) == 0;
}

static bool alive(const entry *e) {
  unsigned long long start = 0;
  bool zombie = false;
  int rc = proc_stat(e->pid, &start, &zombie);
  if (rc == -ENOENT && !proc_mounted()) {
    /* Without /proc (an unusual container), a signal-0 probe is the best there is. */
    return kill(e->pid, 0) == 0 || errno == EPERM;
  }
  if (rc != 0 || zombie) {
    return false;
  }
  return e->start == 0 || e->start == start;
}

/* ----- the file ----- */

static int push(registry *r, entry e) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    entry *grown = realloc(r->entries, cap * sizeof *grown);
    if (grown == NULL) {
      return nemb__fail(NEMB_ENOMEM, "out of memory reading the registry %s", r->path);
    }
    r->entries = grown;
    r->cap = cap;
  }
  r->entries[r->n++] = e;
  return 0;
}

/* Parses one line, "<pid>", "<pid> <start>" or "<pid> <start> <job>", strictly: anything else
 * is not a registration. */
static bool parse_line(const char *line, entry *out) {
  char *end;
  if (*line < '1' || *line > '9') {
    return false;
  }
  errno = 0;
  long pid = strtol(line, &end, 10);
  if (errno != 0 || pid <= 0 || pid > INT_MAX) {
    return false;
  }
  out->pid = (int)pid;
  out->start = 0;
  out->job[0] = '\0';
  if (*end == '\0') {
    return true;
  }
  if (*end != ' ' || end[1] < '0' || end[1] > '9') {
    return false;
  }
  const char *p = end + 1;
  errno = 0;
  out->start = strtoull(p, &end, 10);
  if (errno != 0) {
    return false;
  }
  if (*end == '\0') {
    return true;
  }
  /* The job id: job.h's characters only, as it names files. */
  size_t k = 0;
  for (p = end + 1; *end == ' ' && *p != '\0' && k + 1 < sizeof out->job; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '_')) {
      return false;
    }
    out->job[k++] = c;
  }
  out->job[k] = '\0';
  return *end == ' ' && k > 0 && *p == '\0';
}

/* Reads every line, keeping the registrations of live processes; anything dropped marks the file
 * for a rewrite. */
static int load(registry *r) {
  struct stat st;
  if (fstat(r->fd, &st) != 0) {
    return nemb__fail(nemb__from_errno(errno), "cannot stat the registry %s: %s", r->path,
                      strerror(errno));
  }
  size_t size = st.st_size > (off_t)MAX_FILE_BYTES ? MAX_FILE_BYTES : (size_t)st.st_size;
  if ((off_t)size != st.st_size) {
    r->changed = true;
  }
  char *text = malloc(size + 1);
  if (text == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory reading the registry %s", r->path);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t k = pread(r->fd, text + got, size - got, (off_t)got);
    if (k < 0 && errno == EINTR) {
      continue;
    }
    if (k < 0) {
      int e = errno;
      free(text);
      return nemb__fail(nemb__from_errno(e), "cannot read the registry %s: %s", r->path,
                        strerror(e));
    }
    if (k == 0) {
      break;
    }
    got += (size_t)k;
  }
  text[got] = '\0';
  int rc = 0;
  char *line = text;
  while (rc == 0 && line < text + got) {
    char *nl = memchr(line, '\n', (size_t)(text + got - line));
    if (nl == NULL) {
      r->changed = true; /* a last line without newline: half-written or garbage */
      break;
    }
    *nl = '\0';
    entry e;
    if (strlen(line) != (size_t)(nl - line) || !parse_line(line, &e) || !alive(&e)) {
      r->changed = true; /* an embedded NUL, garbage, or a process that is gone */
    } else {
      rc = push(r, e);
    }
    line = nl + 1;
  }
  free(text);
  return rc;
}

static int save(registry *r) {
  if (!r->changed) {
    return 0;
  }
  nemb__buf b = NEMB__BUF_INIT;
  for (size_t i = 0; i < r->n; i++) {
    const entry *e = &r->entries[i];
    nemb__buf_printf(&b, e->job[0] ? "%d %llu %s\n" : "%d %llu\n", e->pid, e->start, e->job);
  }
  if (b.oom) {
    nemb__buf_release(&b);
    return nemb__fail(NEMB_ENOMEM, "out of memory writing the registry %s", r->path);
  }
  size_t done = 0;
  while (done < b.len) {
    ssize_t k = pwrite(r->fd, b.data + done, b.len - done, (off_t)done);
    if (k < 0 && errno == EINTR) {
      continue;
    }
    if (k <= 0) {
      int e = k < 0 ? errno : EIO;
      nemb__buf_release(&b);
      return nemb__fail(nemb__from_errno(e), "cannot write the registry %s: %s", r->path,
                        strerror(e));
    }
    done += (size_t)k;
  }
  nemb__buf_release(&b);
  if (ftruncate(r->fd, (off_t)done) != 0) {
    return nemb__fail(nemb__from_errno(errno), "cannot truncate the registry %s: %s", r->path,
                      strerror(errno));
  }
  return 0;
}

static void close_registry(registry *r) {
  if (r->fd >= 0) {
    close(r->fd); /* releases the flock */
  }
  free(r->entries);
  r->fd = -1;
  r->entries = NULL;
}

/* Opens (creating it if @p create) and locks the registry, then loads it. Returns 0; with
 * create == false and no file, 0 with r->fd == -1 and no entries. */
static int open_registry(registry *r, bool create) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  int rc = registry_path(r->path, sizeof r->path);
  if (rc != 0) {
    return rc;
  }
  /* O_NOFOLLOW: a symbolic link planted at the path (in /tmp, by anyone) is refused. */
  int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | (create ? O_CREAT : 0);
  do {
    r->fd = open(r->path, flags, 0600);
  } while (r->fd < 0 && errno == EINTR);
  if (r->fd < 0) {
    int e = errno;
    if (e == ENOENT && !create) {
      return 0;
    }
    return nemb__fail(e == ELOOP ? NEMB_EACCES : nemb__from_errno(e),
                      "cannot open the codegreen process registry %s: %s%s", r->path, strerror(e),
                      e == ELOOP ? " (it is a symbolic link; remove it)" : "");
  }
  struct stat st;
  if (fstat(r->fd, &st) != 0) {
    int e = errno;
    close_registry(r);
    return nemb__fail(nemb__from_errno(e), "cannot stat the registry %s: %s", r->path, strerror(e));
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    close_registry(r);
    return nemb__fail(NEMB_EACCES,
                      "refusing the codegreen process registry %s: it is %s; remove it", r->path,
                      S_ISREG(st.st_mode) ? "owned by another user" : "not a regular file");
  }
  /* Created 0600 above, but the umask may have removed bits, and an older file may have more. */
  if ((st.st_mode & 07777) != 0600 && fchmod(r->fd, 0600) != 0) {
    int e = errno;
    close_registry(r);
    return nemb__fail(nemb__from_errno(e), "cannot set mode 0600 on the registry %s: %s", r->path,
                      strerror(e));
  }
  while (flock(r->fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int e = errno;
      close_registry(r);
      return nemb__fail(nemb__from_errno(e), "cannot lock the registry %s: %s", r->path,
                        strerror(e));
    }
  }
  rc = load(r);
  if (rc != 0) {
    close_registry(r);
  }
  return rc;
}

/* The parallel job this process is a rank of, or "" (job.h): the ranks of one job on a node
 * share its leader's sampling on purpose, so they are not one another's overlap. */
static void self_job(char *out, size_t len) {
  nemb__job job;
  nemb__job_detect(&job);
  snprintf(out, len, "%s", job.present ? job.id : "");
}

/* Adds (@p delta > 0) or removes (< 0) one registration of this process, cleaning the file. */
static int update(int delta) {
  nemb__clear_error();
  registry r;
  int rc = open_registry(&r, delta > 0);
  if (rc != 0 || r.fd < 0) {
    return rc;
  }
  entry self = {.pid = (int)getpid(), .start = 0};
  self_job(self.job, sizeof self.job);
  bool zombie;
  if (proc_stat(self.pid, &self.start, &zombie) != 0) {
    self.start = 0; /* no /proc: the entry is checked by pid alone */
  }
  if (delta > 0) {
    rc = push(&r, self);
    r.changed = true;
  } else {
    for (size_t i = r.n; i-- > 0;) {
      if (r.entries[i].pid == self.pid) {
        memmove(&r.entries[i], &r.entries[i + 1], (r.n - i - 1) * sizeof *r.entries);
        r.n--;
        r.changed = true;
        break;
      }
    }
  }
  if (rc == 0) {
    rc = save(&r);
  }
  close_registry(&r);
  return rc;
}

int nemb_procs_register(void) {
  return update(+1);
}

int nemb_procs_unregister(void) {
  return update(-1);
}

int nemb_procs_list_others(int *pids, size_t cap, size_t *n) {
  nemb__clear_error();
  if (n == NULL || (pids == NULL && cap > 0)) {
    return nemb__fail(NEMB_EINVAL, "nemb_procs_list_others: n is NULL, or pids is with cap > 0");
  }
  *n = 0;
  registry r;
  int rc = open_registry(&r, false);
  if (rc != 0 || r.fd < 0) {
    return rc;
  }
  int self = (int)getpid();
  char job[64];
  self_job(job, sizeof job);
  size_t count = 0;
  for (size_t i = 0; i < r.n; i++) {
    int pid = r.entries[i].pid;
    bool seen = pid == self || (job[0] != '\0' && strcmp(r.entries[i].job, job) == 0);
    for (size_t j = 0; j < i && !seen; j++) {
      seen = r.entries[j].pid == pid;
    }
    if (!seen) {
      if (count < cap) {
        pids[count] = pid;
      }
      count++;
    }
  }
  *n = count;
  rc = save(&r); /* the cleaning the load did */
  close_registry(&r);
  return rc;
}
