/*
 * node.c - one sampler per node and job: the node-local leader and its followers.
 *
 * Energy counters (RAPL, NVML) are node-wide, so when the ranks of an MPI job each sampled, every
 * rank would read the same node energy: n samplers where one suffices, and n copies of the node's
 * energy for anyone who adds ranks up. Instead the first rank of a job to begin a session on a
 * node takes the job's lock and becomes the leader: it alone samples, and publishes every sample
 * to a node-local file. The other ranks are followers: they create no meter, record their spans
 * as usual, and at their end read the leader's samples around their own window, from which their
 * report is computed exactly as if they had sampled (same interpolation, same domains).
 *
 * Files, in $CODEGREEN_NODE_DIR, else $XDG_RUNTIME_DIR, else /tmp, named
 * codegreen-<uid>-<job>.{lock,followers,samples}, mode 0600, refused if another user owns them:
 *   .lock       the leader holds a POSIX write lock on it for its session; fcntl(F_GETLK) tells a
 *               follower the leader's pid;
 *   .followers  each follower holds a read lock from its begin until it has read its samples; the
 *               leader's end waits (bounded) for the write lock, i.e. for every follower. Before
 *               it lets go, a follower appends its window (two CLOCK_MONOTONIC ns words), so
 *               the leader's node window is the ranks' span, not the moment it got the lock;
 *   .samples    a header, the domains, then the samples (CLOCK_MONOTONIC time and cumulative
 *               microjoules per domain), appended by a publishing thread in the leader. The
 *               header's sample count is written after the samples it counts, so a reader never
 *               reads a sample that is not complete. CLOCK_MONOTONIC is one clock for every
 *               process of a node, so the leader's times and a follower's compare directly.
 * The leader removes .samples (32 B a sample: over 100 MB an hour) and .followers at its end once
 * every follower has read its samples; it keeps .lock, empty: removing a file others may be
 * locking would let two ranks lock two files of one name and both lead.
 */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "energy.h"
#include "job.h"
#include "records.h"

#define FILE_MAGIC "CGNODE1"
#define PUBLISH_PERIOD_NS 20000000u /* 20 ms between two publications */
#define POLL_NS 10000000u           /* 10 ms between two looks at a lock or the file */
#define DEFAULT_WAIT_S 60.0         /* the longest a leader waits for followers, and vice versa */

typedef enum role { ROLE_ALONE, ROLE_LEADER, ROLE_FOLLOWER, ROLE_SELF } role;

typedef struct file_header {
  char magic[8];
  uint32_t version;
  int32_t leader_pid;
  uint32_t n_domains;
  uint32_t finished;  /* 1: the leader stopped, no sample will follow */
  uint32_t simulated; /* 1: the leader's providers include the simulated device */
  uint32_t pad;
  uint64_t interval_ns;
  uint64_t count; /* samples complete in the file */
} file_header;

typedef struct file_domain {
  char name[NEMB__NAME_MAX];
  char kind[24];
  char source[24];
  uint8_t top_level, in_total, measured, pad;
  uint32_t n_includes;
  char includes[NEMB__MAX_INCLUDES][NEMB__NAME_MAX];
  uint64_t range_uj;
  uint64_t period_ns;    /* the counter's update period, as the leader knew it at the start */
  uint64_t max_power_uw; /* the domain's power ceiling; 0: unknown */
} file_domain;

typedef struct nemb__node {
  nemb__job job;
  role role;
  char base[PATH_MAX - 16];
  int lock_fd, followers_fd, samples_fd;
  long leader_pid;
  double wait_s;
  double cpu_begin_s, cpu_end_s;
  char note[256];
  /* The leader's publisher. */
  pthread_t publisher;
  bool publisher_live;
  bool publish_pending; /* a leader whose publisher starts with its meter */
  atomic_bool stop;
  size_t published;     /* samples in the file */
  size_t store_next;    /* the store's first sample not yet in the file */
  uint64_t published_t; /* the time of the file's last sample */
  unsigned store_seen;  /* the store's compactions when store_next was set */
  size_t n_domains;
  uint64_t node_begin_ns, node_end_ns; /* a leader: the node window (nemb__node_meta) */
  bool followers_done; /* a leader: every follower read its samples (its files can go) */
  long owner_pid;      /* the process that began the session: a forked child owns no thread */
  /* `codegreen measure` (CODEGREEN_MEASURE_SAMPLES): the measuring process leads, the measured
   * program and its children follow live, appending the leader's samples to their meter as they
   * resolve checkpoints, so they run no sampler thread and open no provider. */
  bool measure;
  uint64_t publish_ns;          /* the leader's period between two publications */
  pthread_mutex_t refresh_lock; /* a live follower: one thread appends at a time */
  bool refresh_lock_ready;
  _Atomic uint64_t next_refresh_ns; /* a live follower: no look at the file before this */
  size_t fetched;                   /* a live follower: samples of the file taken so far */
  /* A follower's watch on its leader (watch_main()): a leader that is gone before the rank's
   * end (it died: the kernel released its lock; or it stopped sampling) leaves the rank to
   * sample for itself from then on, with a meter of its own made from a copy of its config. */
  pthread_t watcher;
  bool watcher_live;
  /* The watcher's descriptor of the leader's sample file, kept for the rank's end: a new leader
   * (a rank that began after the old one died) replaces the file by name, so only this one still
   * reads the old leader's samples. Set by the watcher, read after it is joined. -1: none. */
  int watch_fd;
  nemb_config *cfg;    /* the follower's copy (NULL: the defaults) */
  nemb_meter *own;     /* the meter the watcher started when the leader was gone */
  char own_error[192]; /* why the rank could not sample for itself */
  /* A follower's copy of the leader's source names (the replayed meter points into them). */
  char sources[NEMB__MAX_DOMAINS][24];
} nemb__node;

static double process_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&ts, NULL);
}

static const char *node_dir(void) {
  const char *d = getenv("CODEGREEN_NODE_DIR");
  if (d != NULL && d[0] == '/') {
    return d;
  }
  d = getenv("XDG_RUNTIME_DIR");
  if (d != NULL && d[0] == '/') {
    return d;
  }
  return "/tmp";
}

/* Opens (creating) one of the job's files: ours, 0600, no symbolic link, or -1. */
static int open_own(const nemb__node *n, const char *suffix, int extra_flags) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s.%s", n->base, suffix);
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | extra_flags, 0600);
  if (fd < 0) {
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int set_lock(int fd, short type) {
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
  return fcntl(fd, F_SETLK, &fl);
}

static size_t data_offset(size_t nd) {
  return sizeof(file_header) + nd * sizeof(file_domain);
}

/* ----- the leader ----- */

/* A header that says the leader has finished with no samples (its meter could not be made), so
 * followers stop waiting at once. Returns false when it could not be written. */
static bool write_finished_header(const nemb__node *n) {
  file_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, FILE_MAGIC, sizeof h.magic);
  h.version = 1;
  h.leader_pid = (int32_t)getpid();
  h.finished = 1;
  return n->samples_fd >= 0 && pwrite(n->samples_fd, &h, sizeof h, 0) == (ssize_t)sizeof h;
}

static int write_header(nemb__node *n, const nemb_meter *m) {
  file_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, FILE_MAGIC, sizeof h.magic);
  h.version = 1;
  h.leader_pid = (int32_t)getpid();
  h.n_domains = (uint32_t)m->n_domains;
  h.interval_ns = atomic_load(&((nemb_meter *)m)->interval_ns);
  for (size_t p = 0; p < m->n_providers; p++) {
    h.simulated |= m->providers[p].ops->simulated;
  }
  if (pwrite(n->samples_fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
    return -1;
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    file_domain fd;
    memset(&fd, 0, sizeof fd);
    const nemb__domain *dom = &m->domains[d];
    snprintf(fd.name, sizeof fd.name, "%s", dom->name);
    snprintf(fd.kind, sizeof fd.kind, "%s", dom->kind);
    snprintf(fd.source, sizeof fd.source, "%s", m->source[d]);
    fd.top_level = dom->top_level;
    fd.in_total = dom->in_total;
    fd.measured = m->measured[d];
    fd.n_includes = (uint32_t)dom->n_includes;
    memcpy(fd.includes, dom->includes, sizeof fd.includes);
    fd.range_uj = dom->range_uj;
    fd.period_ns = (uint64_t)nemb__meter_period_ns(m, d);
    fd.max_power_uw = dom->max_power_uw;
    off_t at = (off_t)(sizeof h + d * sizeof fd);
    if (pwrite(n->samples_fd, &fd, sizeof fd, at) != (ssize_t)sizeof fd) {
      return -1;
    }
  }
  n->n_domains = m->n_domains;
  return 0;
}

/* Appends the samples stored since the last call, then the new count. Publisher thread, or the
 * controlling thread once the publisher is joined.
 *
 * The file only grows, but the store halves itself at its cap (store.h): a compaction moves the
 * samples to lower indices, so after one the samples to append are found by time, after the
 * file's last. (Indices alone left the file stuck until the store grew back past the old count,
 * and the samples meanwhile never reached the followers.) The store's read lock keeps a
 * compaction from moving a sample while it is copied. */
static void publish(nemb__node *n, const nemb_meter *m) {
  nemb__store *st = (nemb__store *)&m->store; /* (the lock is the store's own state) */
  size_t stride = (1 + n->n_domains) * sizeof(uint64_t);
  pthread_rwlock_rdlock(&st->lock);
  size_t count = nemb__store_count(st);
  unsigned seen = nemb__store_coarsened(st);
  if (seen != n->store_seen) {
    size_t lo = 0, hi = count; /* the first sample later than the file's last */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (n->published > 0 && nemb__store_at(st, mid)[0] <= n->published_t) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    n->store_next = lo;
    n->store_seen = seen;
  }
  size_t added = 0;
  for (size_t i = n->store_next; i < count; i++) {
    off_t at = (off_t)(data_offset(n->n_domains) + (n->published + added) * stride);
    if (pwrite(n->samples_fd, nemb__store_at(st, i), stride, at) != (ssize_t)stride) {
      break; /* a full disk: followers then see fewer samples and say so */
    }
    added++;
  }
  uint64_t last_t = added > 0 ? nemb__store_at(st, n->store_next + added - 1)[0] : 0;
  pthread_rwlock_unlock(&st->lock);
  if (added > 0) {
    uint64_t c = n->published + added;
    if (pwrite(n->samples_fd, &c, sizeof c, offsetof(file_header, count)) == (ssize_t)sizeof c) {
      n->published += added;
      n->store_next += added;
      n->published_t = last_t;
    }
  }
}

static void *publisher_main(void *arg) {
  nemb_session *s = arg;
  nemb__node *n = s->node;
  while (!atomic_load(&n->stop)) {
    publish(n, s->meter);
    /* Followers wait at their begin for the first sample: publish it as soon as it exists. */
    sleep_ns(n->published > 0 ? n->publish_ns : 1000000u);
  }
  return NULL;
}

/* ----- begin ----- */

static void become_self(nemb__node *n, const char *why) {
  n->role = ROLE_SELF;
  snprintf(n->note, sizeof n->note, "this rank sampled for itself: %s", why);
  nemb__log(NEMB_LOG_WARN, "%s", n->note);
}

static bool read_at(int fd, void *buf, size_t len, off_t at) {
  return pread(fd, buf, len, at) == (ssize_t)len;
}

static bool leader_gone(const nemb__node *n, int samples_fd);

/* A follower's begin waits (at most a few seconds) until the leader has its first sample, so the
 * leader's samples cover the follower's whole window, from its first instant. */
static void wait_first_sample(nemb__node *n) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s.samples", n->base);
  uint64_t deadline = nemb__now_ns() + 5000000000u;
  int fd = -1;
  while (nemb__now_ns() < deadline) {
    if (fd < 0) {
      fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    file_header h;
    if (fd >= 0 && read_at(fd, &h, sizeof h, 0) && memcmp(h.magic, FILE_MAGIC, 8) == 0 &&
        h.leader_pid == n->leader_pid && (h.count > 0 || h.finished)) {
      break;
    }
    if (!n->measure && leader_gone(n, -1)) {
      break; /* (measure's leader holds no lock) */
    }
    sleep_ns(1000000u);
  }
  if (fd >= 0) {
    close(fd);
  }
}

/* ----- a follower's watch on its leader ----- */

/* Whether the leader is gone: it holds the job's lock no longer (a dead process's locks are
 * released by the kernel, so a `kill -9` shows at once), or its file says it stopped sampling.
 * A lock whose holder's pid reads 0 (another pid namespace) is taken for the leader's. */
static bool leader_gone(const nemb__node *n, int samples_fd) {
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (n->lock_fd >= 0 && fcntl(n->lock_fd, F_GETLK, &fl) == 0 &&
      (fl.l_type == F_UNLCK || (n->leader_pid > 0 && fl.l_pid > 0 && fl.l_pid != n->leader_pid))) {
    return true;
  }
  file_header h;
  return samples_fd >= 0 && read_at(samples_fd, &h, sizeof h, 0) &&
         memcmp(h.magic, FILE_MAGIC, 8) == 0 && h.leader_pid == n->leader_pid && h.finished;
}

/* The follower's watcher thread: looks at its leader every POLL_NS; once the leader is gone,
 * starts a meter of its own (so the rank's energy from then on is measured, not lost) and ends.
 * (Creating the meter reads the environment, CODEGREEN_PROVIDERS and the providers' own
 * variables, from this thread: a program calling setenv() at that very moment races with it, as
 * with any library that reads its environment lazily. Opening the providers at the follower's
 * begin instead would cost every follower what only the leader should pay, NVML's start-up.) */
static void *watch_main(void *arg) {
  nemb__node *n = arg;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s.samples", n->base);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  n->watch_fd = fd; /* closed by follower_fetch() or nemb__node_free() */
  while (!atomic_load(&n->stop)) {
    if (leader_gone(n, fd)) {
      nemb_meter *m = NULL;
      int rc = nemb_meter_create(n->cfg, &m);
      if (rc == 0) {
        rc = nemb_meter_start(m);
      }
      if (rc != 0) {
        snprintf(n->own_error, sizeof n->own_error, "%s", nemb_last_error());
        nemb_meter_destroy(m);
      } else {
        n->own = m;
      }
      nemb__log(NEMB_LOG_WARN, "the node's leader (pid %ld) is gone: %s", n->leader_pid,
                rc == 0 ? "this rank samples for itself from now on"
                        : "this rank cannot sample for itself");
      break;
    }
    sleep_ns(POLL_NS);
  }
  return NULL;
}

static void start_watch(nemb__node *n, const nemb_config *cfg) {
  if (nemb__config_copy(cfg, &n->cfg) != 0) {
    snprintf(n->own_error, sizeof n->own_error, "%s", nemb_last_error());
    return;
  }
  if (pthread_create(&n->watcher, NULL, watch_main, n) == 0) {
    n->watcher_live = true;
  } else {
    snprintf(n->own_error, sizeof n->own_error, "no thread could watch the leader");
  }
}

/* Joins the watcher (the rank's end, or its free). A forked child owns no thread. */
static void stop_watch(nemb__node *n) {
  if (n->watcher_live && getpid() == n->owner_pid) {
    atomic_store(&n->stop, true);
    pthread_join(n->watcher, NULL);
  }
  n->watcher_live = false;
}

static int measure_meter_create(nemb_session *s, nemb__node *n, const nemb_config *cfg,
                                const char *base, long leader, nemb_meter **meter);

int nemb__node_meter_create(nemb_session *s, const nemb_config *cfg, nemb_meter **meter) {
  *meter = NULL;
  nemb__node *n = calloc(1, sizeof *n);
  if (n == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory for the node state");
  }
  s->node = n;
  n->lock_fd = n->followers_fd = n->samples_fd = n->watch_fd = -1;
  n->leader_pid = -1;
  n->owner_pid = getpid();
  atomic_init(&n->stop, false);
  n->publish_ns = PUBLISH_PERIOD_NS;
  n->cpu_begin_s = process_cpu_s();
  n->wait_s = DEFAULT_WAIT_S;
  double w;
  if (nemb_config_get_double(cfg, "mpi.node_leader_wait_s", &w) == 0 && w >= 0) {
    n->wait_s = w;
  }
  const char *base = getenv("CODEGREEN_MEASURE_SAMPLES");
  const char *ppid = getenv("CODEGREEN_MEASURE_PPID");
  if (!s->exclusive && base != NULL && base[0] == '/' && ppid != NULL && atol(ppid) > 0) {
    return measure_meter_create(s, n, cfg, base, atol(ppid), meter);
  }
  nemb__job_detect(&n->job);
  const char *off = getenv("CODEGREEN_NODE_LEADER");
  if (!n->job.present) {
    n->role = ROLE_ALONE;
    return nemb_meter_create(cfg, meter);
  }
  if (off != NULL && strcmp(off, "0") == 0) {
    become_self(n, "CODEGREEN_NODE_LEADER=0");
    return nemb_meter_create(cfg, meter);
  }
  if (off != NULL && off[0] != '\0' && strcmp(off, "1") != 0) {
    return nemb__fail(NEMB_ECONFIG,
                      "CODEGREEN_NODE_LEADER=%s: use 1 (one rank per node samples, the default) "
                      "or 0 (every rank samples for itself)",
                      off);
  }
  if (!s->exclusive) {
    /* POSIX record locks belong to the process: a second session of the same process would
     * take the same lock again and truncate the leader's file. */
    become_self(n, "a non-exclusive session does not take part in the node's leadership");
    return nemb_meter_create(cfg, meter);
  }
  snprintf(n->base, sizeof n->base, "%s/codegreen-%ld-%s", node_dir(), (long)geteuid(), n->job.id);
  n->lock_fd = open_own(n, "lock", 0);
  if (n->lock_fd < 0) {
    become_self(n, "the job's lock file cannot be opened (or belongs to another user)");
    return nemb_meter_create(cfg, meter);
  }
  if (set_lock(n->lock_fd, F_WRLCK) == 0) {
    /* The leader: sample, and publish for the others. */
    n->role = ROLE_LEADER;
    n->leader_pid = getpid();
    n->followers_fd = open_own(n, "followers", 0);
    /* A new file, not the old one truncated: a follower of a leader that died may still read
     * that one's samples through its descriptor (watch_fd). */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s.samples", n->base);
    unlink(path);
    n->samples_fd = open_own(n, "samples", O_TRUNC);
    int rc = nemb_meter_create(cfg, meter);
    if (rc != 0) {
      /* Tell the followers at once that no samples will come, rather than let them wait. */
      if (!write_finished_header(n)) {
        nemb__log(NEMB_LOG_WARN, "cannot write the node's sample file");
      }
      return rc;
    }
    if (n->followers_fd < 0 || n->samples_fd < 0 || write_header(n, *meter) != 0) {
      become_self(n, "the node's sample file cannot be written");
      return 0;
    }
    n->publish_pending = true; /* from nemb__node_start_publishing(), once the meter runs */
    return 0;
  }
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(n->lock_fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
    n->leader_pid = fl.l_pid;
  }
  n->followers_fd = open_own(n, "followers", O_APPEND); /* its window goes there at its end */
  if (n->followers_fd < 0 || set_lock(n->followers_fd, F_RDLCK) != 0) {
    /* The leader is already ending: it would not wait for us. */
    become_self(n, "the node's leader was ending when this rank began");
    return nemb_meter_create(cfg, meter);
  }
  n->role = ROLE_FOLLOWER;
  wait_first_sample(n);
  if (leader_gone(n, -1)) {
    close(n->followers_fd);
    n->followers_fd = -1;
    become_self(n, "the node's leader was gone when this rank began");
    return nemb_meter_create(cfg, meter);
  }
  start_watch(n, cfg);
  return 0;
}

/* ----- end ----- */

/* A leader's node window, once every follower is done: from the first rank's begin to the last
 * rank's end, read from the windows the followers appended (so the node's energy and the ranks'
 * span cover the same time, and `codegreen merge` computes a power the node drew). A record from
 * before this leader's first sample is a previous leader's follower's, and left out. When the
 * wait for followers ran out, one may still be running: the window then ends now. */
static void node_window(nemb_session *s, nemb__node *n) {
  n->node_begin_ns = s->t_begin;
  n->node_end_ns = s->t_end;
  if (!n->followers_done) {
    n->node_end_ns = nemb__now_ns();
  }
  uint64_t first = 0;
  if (s->meter != NULL && nemb__store_count(&s->meter->store) > 0) {
    first = nemb__store_at(&s->meter->store, 0)[0];
  }
  uint64_t w[2];
  for (off_t at = 0; read_at(n->followers_fd, w, sizeof w, at); at += (off_t)sizeof w) {
    if (w[0] >= first && w[1] >= w[0]) {
      n->node_begin_ns = w[0] < n->node_begin_ns ? w[0] : n->node_begin_ns;
      n->node_end_ns = w[1] > n->node_end_ns ? w[1] : n->node_end_ns;
    }
  }
}

void nemb__node_before_stop(nemb_session *s) {
  nemb__node *n = s->node;
  if (n == NULL) {
    return;
  }
  n->cpu_end_s = process_cpu_s();
  if (n->role != ROLE_LEADER || n->followers_fd < 0) {
    return;
  }
  /* Every follower holds a read lock until it has read its samples: keep sampling and
   * publishing until the write lock is ours, i.e. no follower needs more. */
  uint64_t deadline = nemb__now_ns() + (uint64_t)(n->wait_s * 1e9);
  while (set_lock(n->followers_fd, F_WRLCK) != 0) {
    if (nemb__now_ns() > deadline) {
      snprintf(n->note, sizeof n->note,
               "stopped sampling after waiting %.0f s for the node's other ranks to end",
               n->wait_s);
      nemb__log(NEMB_LOG_WARN, "%s", n->note);
      break;
    }
    sleep_ns(POLL_NS);
  }
  n->followers_done = nemb__now_ns() <= deadline;
  node_window(s, n);
}

static const char *static_kind(const char *kind) {
  static const char *const kinds[] = {NEMB__KIND_PACKAGE,  NEMB__KIND_NESTED, NEMB__KIND_DRAM,
                                      NEMB__KIND_PLATFORM, NEMB__KIND_GPU,    NEMB__KIND_ESTIMATE};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(kinds); i++) {
    if (strcmp(kind, kinds[i]) == 0) {
      return kinds[i];
    }
  }
  return NEMB__KIND_NESTED;
}

/* The replayed meter's one provider: it only carries, for the report's energy_source, whether the
 * leader's counters were simulated; it is never opened or read. */
static size_t replay_domains(void *state, const nemb__domain **out) {
  (void)state;
  *out = NULL;
  return 0;
}
static int replay_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  (void)state;
  (void)t_ns;
  (void)raw_uj;
  return NEMB_ENOTSUP;
}
static uint64_t replay_update(void *state) {
  (void)state;
  return 0;
}
static void replay_close(void *state) {
  (void)state;
}
/* The leader's provider as a follower sees it: the same in both, but whether the leader's
 * device was the simulated one, which the report must keep saying. [0]: hardware; [1]: sim. */
#define REPLAY_OPS(sim)                                                                            \
  {                                                                                                \
    .name = "node-leader", .measured = true, .simulated = (sim), .domains = replay_domains,        \
    .read = replay_read, .update_interval_ns = replay_update, .close = replay_close                \
  }
static const struct nemb__provider_ops replay_ops[2] = {REPLAY_OPS(false), REPLAY_OPS(true)};

/* A meter that never samples: the leader's domains from the file, and an empty store of @p cap
 * samples. */
static nemb_meter *meter_shell(nemb__node *n, int fd, const file_header *h, size_t cap) {
  size_t nd = h->n_domains;
  nemb_meter *m = calloc(1, sizeof *m);
  if (m == NULL) {
    return NULL;
  }
  m->n_domains = nd;
  for (size_t d = 0; d < nd; d++) {
    file_domain fdm;
    if (!read_at(fd, &fdm, sizeof fdm, (off_t)(sizeof *h + d * sizeof fdm))) {
      free(m);
      return NULL;
    }
    nemb__domain *dom = &m->domains[d];
    snprintf(dom->name, sizeof dom->name, "%.*s", (int)sizeof fdm.name - 1, fdm.name);
    fdm.kind[sizeof fdm.kind - 1] = '\0';
    dom->kind = static_kind(fdm.kind);
    dom->top_level = fdm.top_level;
    dom->in_total = fdm.in_total;
    dom->n_includes = fdm.n_includes <= NEMB__MAX_INCLUDES ? fdm.n_includes : 0;
    for (size_t k = 0; k < dom->n_includes; k++) {
      snprintf(dom->includes[k], NEMB__NAME_MAX, "%.*s", NEMB__NAME_MAX - 1, fdm.includes[k]);
      m->include_ptrs[d][k] = dom->includes[k];
    }
    dom->range_uj = fdm.range_uj;
    /* The update period and the power ceiling, so that a follower's report bounds a short span
     * as the leader's would (energy_uncertainty_j); a follower never reads a counter itself. */
    nemb__edges_init(&m->edges[d], fdm.period_ns > 0 ? fdm.period_ns : 1000000u);
    nemb__meter_period_set(m, d);
    dom->max_power_uw = fdm.max_power_uw;
    snprintf(n->sources[d], sizeof n->sources[d], "%.*s", (int)sizeof fdm.source - 1, fdm.source);
    m->source[d] = n->sources[d];
    m->measured[d] = fdm.measured;
  }
  if (nemb__store_init(&m->store, nd, cap ? cap : 1) != 0) {
    free(m);
    return NULL;
  }
  atomic_init(&m->interval_ns, h->interval_ns);
  atomic_init(&m->st_samples, 0);
  m->providers[0].ops = &replay_ops[h->simulated ? 1 : 0];
  m->n_providers = 1;
  m->started = true; /* a replay is never started */
  pthread_mutex_init(&m->lock, NULL);
  pthread_cond_init(&m->wake, NULL);
  return m;
}

/* Appends @p count samples (rows of 1 + n_domains words) to a shell's store and makes the last
 * one the meter's latest reading (under the sequence lock, as the sampler publishes). */
static void shell_append(nemb_meter *m, const uint64_t *rows, size_t count) {
  size_t stride = 1 + m->n_domains;
  for (size_t i = 0; i < count; i++) {
    if (nemb__store_append(&m->store, rows[i * stride], rows + i * stride + 1) == 0) {
      atomic_fetch_add_explicit(&m->st_samples, 1, memory_order_relaxed);
    }
  }
  if (count == 0) {
    return;
  }
  const uint64_t *lastp = rows + (count - 1) * stride;
  uint64_t seq = atomic_load_explicit(&m->latest_seq, memory_order_relaxed);
  atomic_store_explicit(&m->latest_seq, seq + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&m->latest_t, lastp[0], memory_order_relaxed);
  for (size_t d = 0; d < m->n_domains; d++) {
    atomic_store_explicit(&m->latest_uj[d], lastp[1 + d], memory_order_relaxed);
  }
  atomic_store_explicit(&m->latest_seq, seq + 2, memory_order_release);
}

/* A meter that never samples, holding the leader's samples that cover [t0, t1] (one more on
 * each side, so interpolation at both ends uses real samples). */
static nemb_meter *replay_meter(nemb__node *n, int fd, const file_header *h, uint64_t t0,
                                uint64_t t1) {
  size_t nd = h->n_domains;
  size_t stride = 1 + nd;
  uint64_t *all = malloc((h->count ? h->count : 1) * stride * sizeof *all);
  if (all == NULL || !read_at(fd, all, h->count * stride * sizeof *all, (off_t)data_offset(nd))) {
    free(all);
    return NULL;
  }
  size_t first = 0, last = h->count ? h->count - 1 : 0;
  while (first + 1 < h->count && all[(first + 1) * stride] <= t0) {
    first++;
  }
  while (last > first && all[(last - 1) * stride] >= t1) {
    last--;
  }
  size_t keep = h->count ? last - first + 1 : 0;
  nemb_meter *m = meter_shell(n, fd, h, keep);
  if (m != NULL) {
    shell_append(m, all + first * stride, keep);
  }
  free(all);
  return m;
}

/* Whether @p own has the file's domains, in the file's order (same providers on one node). */
static bool same_domains(int fd, const file_header *h, const nemb_meter *own) {
  if (own->n_domains != h->n_domains) {
    return false;
  }
  for (size_t d = 0; d < h->n_domains; d++) {
    file_domain fdm;
    if (!read_at(fd, &fdm, sizeof fdm, (off_t)(sizeof *h + d * sizeof fdm))) {
      return false;
    }
    fdm.name[sizeof fdm.name - 1] = '\0';
    if (strcmp(fdm.name, own->domains[d].name) != 0) {
      return false;
    }
  }
  return true;
}

/* A follower whose leader was gone before its end: the leader's samples from the one before
 * @p t0 to its last, then those of the rank's own meter @p own (stopped), each domain carried on
 * across the span between the two samplers at the power the rank's own samples show (with
 * fewer than two, the leader's over the window), that span marked as bridged (meter.h). NULL when
 * the domains differ, the rank's meter has no sample after the leader's last, or out of memory. */
static nemb_meter *splice_meter(nemb__node *n, int fd, const file_header *h, const nemb_meter *own,
                                uint64_t t0, const char *why) {
  size_t nd = h->n_domains, stride = 1 + nd;
  if (h->count == 0 || !same_domains(fd, h, own)) {
    return NULL;
  }
  nemb__store *st = (nemb__store *)&own->store;
  pthread_rwlock_rdlock(&st->lock);
  size_t k = nemb__store_count(st);
  uint64_t *all = malloc((h->count + k) * stride * sizeof *all);
  if (all != NULL) {
    for (size_t j = 0; j < k; j++) {
      memcpy(all + (h->count + j) * stride, nemb__store_at(st, j), stride * sizeof *all);
    }
  }
  pthread_rwlock_unlock(&st->lock);
  if (all == NULL || !read_at(fd, all, h->count * stride * sizeof *all, (off_t)data_offset(nd))) {
    free(all);
    return NULL;
  }
  size_t first = 0, last = h->count - 1, j0 = h->count;
  while (first + 1 < h->count && all[(first + 1) * stride] <= t0) {
    first++;
  }
  const uint64_t *l = all + last * stride, *f = all + first * stride;
  while (j0 < h->count + k && all[j0 * stride] <= l[0]) {
    j0++; /* (a leader that stopped late: its samples win) */
  }
  if (j0 == h->count + k) {
    free(all);
    return NULL;
  }
  const uint64_t *o = all + j0 * stride, *z = all + (h->count + k - 1) * stride;
  double gap_ns = (double)(o[0] - l[0]);
  double shift[NEMB__MAX_DOMAINS];
  for (size_t d = 0; d < nd; d++) {
    double rate = z[0] > o[0]   ? ((double)z[1 + d] - (double)o[1 + d]) / (double)(z[0] - o[0])
                  : l[0] > f[0] ? ((double)l[1 + d] - (double)f[1 + d]) / (double)(l[0] - f[0])
                                : 0;
    shift[d] = (double)l[1 + d] + rate * gap_ns - (double)o[1 + d];
  }
  for (uint64_t *row = all + j0 * stride; row <= z; row += stride) {
    for (size_t d = 0; d < nd; d++) {
      row[1 + d] = (uint64_t)llround(fmax(0, (double)row[1 + d] + shift[d]));
    }
  }
  size_t keep = last - first + 1, mine = h->count + k - j0;
  nemb_meter *m = meter_shell(n, fd, h, keep + mine);
  if (m != NULL) {
    shell_append(m, f, keep);
    shell_append(m, o, mine);
    m->bridge_from_ns = l[0];
    m->bridge_to_ns = o[0];
    snprintf(m->bridge_why, sizeof m->bridge_why, "%s; this rank sampled for itself from then on",
             why);
  }
  free(all);
  return m;
}

/* ----- a live follower (under `codegreen measure`) ----- */

#define REFRESH_NS 2000000u /* 2 ms: the least time between two looks at the leader's file */
#define MEASURE_PUBLISH_NS 1000000u /* 1 ms: measure's period between two publications */
#define REFRESH_BATCH 4096u         /* samples read with one pread */

/* Appends the samples the leader published since the last look. Returns the number of samples
 * in the file and sets *finished when the leader has stopped. Under n->refresh_lock. */
static size_t refresh_locked(nemb_session *s, nemb__node *n, bool *finished) {
  file_header h;
  *finished = false;
  if (n->samples_fd < 0 || !read_at(n->samples_fd, &h, sizeof h, 0) ||
      memcmp(h.magic, FILE_MAGIC, 8) != 0 || h.leader_pid != n->leader_pid ||
      h.n_domains != s->meter->n_domains) {
    *finished = true; /* a file that is not (or no longer) the leader's: nothing more to take */
    return n->fetched;
  }
  *finished = h.finished != 0;
  size_t stride = 1 + h.n_domains;
  uint64_t rows[REFRESH_BATCH * 2];
  size_t per = sizeof rows / (stride * sizeof *rows);
  while (n->fetched < h.count && per > 0) {
    size_t k = h.count - n->fetched < per ? h.count - n->fetched : per;
    if (!read_at(n->samples_fd, rows, k * stride * sizeof *rows,
                 (off_t)(data_offset(h.n_domains) + n->fetched * stride * sizeof *rows))) {
      break;
    }
    shell_append(s->meter, rows, k);
    n->fetched += k;
  }
  return (size_t)h.count;
}

bool nemb__node_refresh(nemb_session *s, bool now_please) {
  nemb__node *n = s->node;
  if (n == NULL || !n->measure || n->role != ROLE_FOLLOWER || s->meter == NULL) {
    return false;
  }
  uint64_t now = nemb__now_ns();
  if (!now_please && now < atomic_load_explicit(&n->next_refresh_ns, memory_order_relaxed)) {
    return false; /* looked at recently */
  }
  if (pthread_mutex_trylock(&n->refresh_lock) != 0) {
    return false; /* another thread is appending right now */
  }
  atomic_store_explicit(&n->next_refresh_ns, now + REFRESH_NS, memory_order_relaxed);
  size_t before = n->fetched;
  bool finished;
  refresh_locked(s, n, &finished);
  bool more = n->fetched > before;
  pthread_mutex_unlock(&n->refresh_lock);
  return more;
}

/* A live follower's end: takes samples until they cover the session's end. */
static void live_follower_end(nemb_session *s, nemb__node *n) {
  uint64_t deadline = nemb__now_ns() + (uint64_t)(n->wait_s * 1e9);
  const char *why = NULL;
  pthread_mutex_lock(&n->refresh_lock);
  for (;;) {
    bool finished;
    refresh_locked(s, n, &finished);
    uint64_t lt = 0, uj[NEMB__MAX_DOMAINS];
    if (nemb_meter_latest(s->meter, &lt, uj, NEMB__MAX_DOMAINS) == 0 && lt >= s->t_end) {
      break;
    }
    if (finished) {
      why = "the measuring process stopped sampling before this process ended";
      break;
    }
    if (nemb__now_ns() > deadline) {
      why = "the measuring process published no samples covering this process's end in time";
      break;
    }
    sleep_ns(1000000u);
  }
  pthread_mutex_unlock(&n->refresh_lock);
  if (why != NULL) {
    snprintf(n->note, sizeof n->note, "%s", why);
    nemb__log(NEMB_LOG_WARN, "%s", why);
  }
}

/* Under `codegreen measure`: CODEGREEN_MEASURE_SAMPLES names the sample file's base, and
 * CODEGREEN_MEASURE_PPID the measuring process, which leads; every other process follows. */
static int measure_meter_create(nemb_session *s, nemb__node *n, const nemb_config *cfg,
                                const char *base, long leader, nemb_meter **meter) {
  n->measure = true;
  n->publish_ns = MEASURE_PUBLISH_NS;
  snprintf(n->base, sizeof n->base, "%s", base);
  if (leader == (long)getpid()) {
    n->role = ROLE_LEADER;
    n->leader_pid = leader;
    n->samples_fd = open_own(n, "samples", O_TRUNC);
    int rc = nemb_meter_create(cfg, meter);
    if (rc != 0 || n->samples_fd < 0 || write_header(n, *meter) != 0) {
      if (n->samples_fd >= 0) { /* tell the followers at once that no samples will come */
        if (!write_finished_header(n)) {
          nemb__log(NEMB_LOG_WARN, "cannot write the measure's sample file");
        }
      }
      n->role = ROLE_ALONE;
      return rc;
    }
    n->publish_pending = true; /* from nemb__node_start_publishing(), once the meter runs */
    return 0;
  }
  n->leader_pid = leader;
  n->role = ROLE_FOLLOWER;
  wait_first_sample(n);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s.samples", n->base);
  n->samples_fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  file_header h;
  if (n->samples_fd < 0 || !read_at(n->samples_fd, &h, sizeof h, 0) ||
      memcmp(h.magic, FILE_MAGIC, 8) != 0 || h.leader_pid != leader || h.n_domains == 0 ||
      h.n_domains > NEMB__MAX_DOMAINS || (h.finished && h.count == 0)) {
    /* No usable leader (it could not sample, or this is not its file): sample here. */
    n->role = ROLE_ALONE;
    n->measure = false;
    return nemb_meter_create(cfg, meter);
  }
  *meter = meter_shell(n, n->samples_fd, &h,
                       (size_t)nemb__config_number(cfg, "coordinator.max_samples"));
  if (*meter == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory for the measure's samples");
  }
  pthread_mutex_init(&n->refresh_lock, NULL);
  n->refresh_lock_ready = true;
  n->fetched = h.count > 0 ? (size_t)h.count - 1 : 0; /* from the latest sample, before us */
  atomic_init(&n->next_refresh_ns, 0);
  s->meter = *meter;
  nemb__node_refresh(s, true);
  return 0;
}

/* The signal that cut a follower's wait short (nemb_session_interrupt_wait()); 0: none. Lock-free,
 * so a signal handler may set it. */
static atomic_int interrupted;

void nemb_session_interrupt_wait(int sig) {
  atomic_store(&interrupted, sig);
}

bool nemb__node_follows(const nemb_session *s) {
  return s->node != NULL && s->node->role == ROLE_FOLLOWER;
}

/* A follower's end: waits (bounded) for the leader's samples that cover its window, and makes
 * them its meter. A leader gone before that (died, or stopped sampling) leaves a window its
 * samples do not cover: the rank's own samples from when it saw that carry it to its end
 * (splice_meter()); without them the rank reports no energy rather than a part of it. */
static void follower_fetch(nemb_session *s, nemb__node *n) {
  stop_watch(n);
  if (n->own != NULL) {
    nemb_meter_stop(n->own); /* its closing sample comes after t_end */
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s.samples", n->base);
  int fd = n->watch_fd >= 0 ? n->watch_fd : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  n->watch_fd = -1;
  file_header h;
  memset(&h, 0, sizeof h);
  uint64_t deadline = nemb__now_ns() + (uint64_t)(n->wait_s * 1e9);
  uint64_t t_last = 0;
  char why[160] = "";
  bool gone_seen = false; /* the leader was seen gone (died, or stopped sampling) */
  /* Only a signal during this wait cuts it: one before it (codegreen run passed it on to the
   * command, whose end brought this one) still lets a live leader's last samples come. */
  atomic_store(&interrupted, 0);
  for (;;) {
    if (fd < 0) {
      fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    bool ours = fd >= 0 && read_at(fd, &h, sizeof h, 0) && memcmp(h.magic, FILE_MAGIC, 8) == 0 &&
                h.leader_pid == n->leader_pid && h.n_domains <= NEMB__MAX_DOMAINS;
    if (ours) {
      size_t stride = (1 + h.n_domains) * sizeof(uint64_t);
      if (h.count > 0 && h.n_domains > 0 &&
          read_at(fd, &t_last, sizeof t_last,
                  (off_t)(data_offset(h.n_domains) + (h.count - 1) * stride)) &&
          t_last >= s->t_end) {
        break;
      }
    }
    if (ours && h.finished) {
      gone_seen = true;
      snprintf(why, sizeof why,
               "the node's leader (pid %ld) stopped sampling before this rank "
               "ended",
               n->leader_pid);
      break;
    }
    if (leader_gone(n, -1)) {
      snprintf(why, sizeof why,
               "the node's leader (pid %ld) ended without finishing its samples "
               "(it died?)",
               n->leader_pid);
      gone_seen = true;
      break;
    }
    if (nemb__now_ns() > deadline) {
      snprintf(why, sizeof why,
               "the node's leader (pid %ld) published no samples covering this "
               "rank's end within %.0f s",
               n->leader_pid, n->wait_s);
      break;
    }
    int sig = atomic_load(&interrupted);
    if (sig != 0) {
      snprintf(why, sizeof why,
               "signal %d (%s) cut short this rank's wait for the node's leader's (pid %ld) "
               "samples covering its end",
               sig, strsignal(sig), n->leader_pid);
      break;
    }
    sleep_ns(POLL_NS);
  }
  bool have = fd >= 0 && h.count > 0 && h.n_domains > 0 && h.leader_pid == n->leader_pid;
  if (have && why[0] == '\0') {
    s->meter = replay_meter(n, fd, &h, s->t_begin, s->t_end);
  } else if (have && n->own != NULL) {
    s->meter = splice_meter(n, fd, &h, n->own, s->t_begin, why);
    if (s->meter != NULL) {
      double at = s->meter->bridge_from_ns > s->t_begin
                      ? (double)(s->meter->bridge_from_ns - s->t_begin) / 1e9
                      : 0.0;
      n->role = ROLE_SELF;
      snprintf(n->note, sizeof n->note,
               "this rank sampled for itself from %.3f s into its run: %s; before that it used "
               "the leader's samples",
               at, why);
    }
  }
  if (fd >= 0) {
    close(fd);
  }
  if (s->meter == NULL) {
    /* No figure rather than a part of one: the samples stop before this rank's end. */
    double covered = t_last > s->t_begin ? (double)(t_last - s->t_begin) / 1e9 : 0.0;
    double window = (double)(s->t_end - s->t_begin) / 1e9;
    snprintf(s->backend_error, sizeof s->backend_error,
             "this rank followed the node's leader (pid %ld), whose samples cover %.3f s of its "
             "%.3f s: %s; it could not sample for itself: %s",
             n->leader_pid, covered < window ? covered : window, window,
             why[0] ? why : "the sample file could not be read",
             n->own_error[0]  ? n->own_error
             : n->own != NULL ? "its samples and the leader's do not join (other domains)"
             : gone_seen      ? "the leader was seen gone only after this rank's end"
                              : "the leader was never seen gone: it still held the node's lock "
                                "(stopped, or too slow?)");
    nemb__log(NEMB_LOG_WARN, "%s", s->backend_error);
  }
  nemb_meter_destroy(n->own);
  n->own = NULL;
  /* Done with the leader: tell it this rank's window (its node window ends with the last
   * rank's), then let it stop. */
  uint64_t w[2] = {s->t_begin, s->t_end};
  if (write(n->followers_fd, w, sizeof w) != (ssize_t)sizeof w) {
    nemb__log(NEMB_LOG_WARN, "cannot tell the node's leader this rank's window");
  }
  close(n->followers_fd);
  n->followers_fd = -1;
}

void nemb__node_after_stop(nemb_session *s) {
  nemb__node *n = s->node;
  if (n == NULL) {
    return;
  }
  if (n->role == ROLE_FOLLOWER && n->measure) {
    live_follower_end(s, n);
    return;
  }
  if (n->role == ROLE_FOLLOWER) {
    follower_fetch(s, n);
    return;
  }
  if (n->role != ROLE_LEADER) {
    return;
  }
  if (n->publisher_live) {
    atomic_store(&n->stop, true);
    pthread_join(n->publisher, NULL);
    n->publisher_live = false;
  }
  if (s->meter != NULL && n->samples_fd >= 0) {
    publish(n, s->meter);
    uint32_t one = 1;
    if (pwrite(n->samples_fd, &one, sizeof one, offsetof(file_header, finished)) < 0) {
      nemb__log(NEMB_LOG_WARN, "cannot mark the node's sample file finished");
    }
  }
  /* No follower needs the samples any more (a rank beginning from now on finds them finished
   * or gone, and samples for itself). One still reading after the bounded wait keeps them. */
  if (n->followers_done) {
    char path[PATH_MAX];
    static const char *const done_with[] = {"samples", "followers"};
    for (size_t i = 0; i < sizeof done_with / sizeof *done_with; i++) {
      snprintf(path, sizeof path, "%s.%s", n->base, done_with[i]);
      if (unlink(path) != 0) {
        nemb__log(NEMB_LOG_WARN, "cannot remove the node's file %s", path);
      }
    }
  }
}

/* ----- the report ----- */

static const char *role_name(role r) {
  switch (r) {
  case ROLE_LEADER:
    return "leader";
  case ROLE_FOLLOWER:
    return "follower";
  case ROLE_SELF:
    return "self";
  default:
    return "alone";
  }
}

json_t *nemb__node_meta(const nemb_session *s) {
  const nemb__node *n = s->node;
  if (n == NULL || !n->job.present) {
    return NULL;
  }
  json_t *o = json_object();
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  json_object_set_new(o, "id", json_string(n->job.id));
  json_object_set_new(o, "rank", json_integer(n->job.rank));
  json_object_set_new(o, "local_rank",
                      n->job.local_rank >= 0 ? json_integer(n->job.local_rank) : json_null());
  json_object_set_new(o, "size", n->job.size >= 0 ? json_integer(n->job.size) : json_null());
  json_object_set_new(o, "launcher", json_string(n->job.launcher));
  json_object_set_new(o, "node", json_string(host));
  /* leader: sampled for the node; follower: used the leader's samples; self: sampled alone. */
  json_object_set_new(o, "role", json_string(role_name(n->role)));
  json_object_set_new(o, "sampled_by_pid",
                      n->role == ROLE_FOLLOWER ? json_integer(n->leader_pid)
                                               : json_integer((json_int_t)getpid()));
  double cpu = (n->cpu_end_s > 0 ? n->cpu_end_s : process_cpu_s()) - n->cpu_begin_s;
  json_object_set_new(o, "cpu_time_s", json_real(cpu));
  json_object_set_new(o, "window_mono_ns",
                      json_pack("[I,I]", (json_int_t)s->t_begin, (json_int_t)s->t_end));
  /* The node's energy over the node's window: for the leader, from the first rank's begin to
   * the last rank's end (node_window()), so it holds every rank's window and no more; this is
   * what `codegreen merge` counts once per node, and its power is energy over that window. A rank
   * that sampled for itself gives its own window. */
  if (s->meter != NULL && n->role != ROLE_FOLLOWER) {
    double a[NEMB__MAX_DOMAINS], b[NEMB__MAX_DOMAINS];
    size_t count = nemb__store_count(&s->meter->store);
    uint64_t t0 = s->t_begin, t1 = s->t_end;
    if (n->role == ROLE_LEADER && n->node_end_ns > 0) {
      t0 = n->node_begin_ns;
      t1 = n->node_end_ns;
    }
    nemb__energy_at(s->meter, count, t0, a, NULL);
    nemb__energy_at(s->meter, count, t1, b, NULL);
    json_object_set_new(o, "node_window_mono_ns",
                        json_pack("[I,I]", (json_int_t)t0, (json_int_t)t1));
    json_object_set_new(
        o, "node_energy_j",
        json_real((nemb__energy_total(s->meter, b) - nemb__energy_total(s->meter, a)) / 1e6));
  } else {
    json_object_set_new(o, "node_window_mono_ns", json_null());
    json_object_set_new(o, "node_energy_j", json_null());
  }
  json_object_set_new(o, "note", n->note[0] ? json_string(n->note) : json_null());
  return o;
}

void nemb__node_free(nemb_session *s) {
  nemb__node *n = s->node;
  if (n == NULL) {
    return;
  }
  if (n->publisher_live && getpid() == n->owner_pid) {
    atomic_store(&n->stop, true);
    pthread_join(n->publisher, NULL);
  }
  stop_watch(n);
  if (getpid() == n->owner_pid) {
    nemb_meter_destroy(n->own); /* a session destroyed before its end */
  }
  nemb_config_destroy(n->cfg);
  if (n->watch_fd >= 0) {
    close(n->watch_fd);
  }
  if (n->samples_fd >= 0) {
    close(n->samples_fd);
  }
  if (n->followers_fd >= 0) {
    close(n->followers_fd);
  }
  if (n->lock_fd >= 0) {
    close(n->lock_fd); /* releases the leader's lock: a later session on this node may lead */
  }
  if (n->refresh_lock_ready) {
    pthread_mutex_destroy(&n->refresh_lock);
  }
  free(n);
  s->node = NULL;
}

void nemb__node_start_publishing(nemb_session *s) {
  nemb__node *n = s->node;
  if (n == NULL || !n->publish_pending || n->publisher_live) {
    return;
  }
  n->publish_pending = false;
  if (pthread_create(&n->publisher, NULL, publisher_main, s) == 0) {
    n->publisher_live = true;
  }
}

long nemb__node_file_times(const char *path, uint64_t *t, size_t cap) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  file_header h;
  if (fd < 0) {
    return -1;
  }
  if (!read_at(fd, &h, sizeof h, 0) || memcmp(h.magic, FILE_MAGIC, 8) != 0 ||
      h.n_domains > NEMB__MAX_DOMAINS) {
    close(fd);
    return -1;
  }
  size_t stride = (1 + h.n_domains) * sizeof(uint64_t);
  for (size_t i = 0; i < h.count && i < cap; i++) {
    if (!read_at(fd, &t[i], sizeof t[i], (off_t)(data_offset(h.n_domains) + i * stride))) {
      close(fd);
      return -1;
    }
  }
  close(fd);
  return (long)h.count;
}
