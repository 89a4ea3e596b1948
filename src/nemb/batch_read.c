/*
 * batch_read.c - several small files read with one io_uring_enter(), or with pread() where that
 * is not possible or not cheaper (batch_read.h).
 *
 * The ring holds one prepared read per file (IORING_OP_READ at offset 0 of a registered file,
 * into a buffer of its own) that never changes: a tick only queues the same n entries again,
 * submits them and waits for their n completions in one call, then parses the texts.
 */
#include "batch_read.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "secure_env.h"

#if defined(__linux__) && defined(SYS_io_uring_setup) && defined(SYS_io_uring_enter) &&            \
    defined(SYS_io_uring_register) && __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#if defined(IORING_FEAT_NATIVE_WORKERS)
#define HAVE_URING 1
#endif
#endif

#define ENV_NAME "CODEGREEN_IO_URING"

#ifdef HAVE_URING

struct nemb__batch_ring {
  int fd;
  void *rings; /* the submission and completion rings, one mapping (IORING_FEAT_SINGLE_MMAP) */
  size_t rings_len;
  struct io_uring_sqe *sqes;
  size_t sqes_len;
  _Atomic unsigned *sq_head, *sq_tail;
  unsigned sq_mask;
  unsigned *sq_array;
  _Atomic unsigned *cq_head, *cq_tail;
  unsigned cq_mask;
  struct io_uring_cqe *cqes;
  char text[NEMB__BATCH_MAX][NEMB__BATCH_TEXT];
};

static void ring_free(nemb__batch_ring *r) {
  if (r->sqes != NULL) {
    munmap(r->sqes, r->sqes_len);
  }
  if (r->rings != NULL) {
    munmap(r->rings, r->rings_len);
  }
  if (r->fd >= 0) {
    close(r->fd);
  }
  free(r);
}

/* How many threads of this process are io_uring workers ("iou-wrk-<tid>"); -1 when unknown. */
static int count_workers(void) {
  DIR *dir = opendir("/proc/self/task");
  if (dir == NULL) {
    return -1;
  }
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (de->d_name[0] == '.') {
      continue;
    }
    char path[64], comm[32];
    snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", de->d_name);
    if (nemb__read_text(path, comm, sizeof comm) == 0 && strncmp(comm, "iou-wrk-", 8) == 0) {
      n++;
    }
  }
  closedir(dir);
  return n;
}

/* Sets up the ring for @p b's files; NULL with b->why filled when io_uring cannot be used. */
static nemb__batch_ring *ring_open(nemb__batch *b) {
  nemb__batch_ring *r = calloc(1, sizeof *r);
  if (r == NULL) {
    snprintf(b->why, sizeof b->why, "out of memory");
    return NULL;
  }
  r->fd = -1;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  long fd = syscall(SYS_io_uring_setup, (unsigned)b->n, &p);
  if (fd < 0) {
    snprintf(b->why, sizeof b->why, "io_uring_setup: %s", strerror(errno));
    free(r);
    return NULL;
  }
  r->fd = (int)fd;
  if (!(p.features & IORING_FEAT_NATIVE_WORKERS) || !(p.features & IORING_FEAT_SINGLE_MMAP)) {
    snprintf(b->why, sizeof b->why, "io_uring of this kernel is older than Linux 5.12");
    ring_free(r);
    return NULL;
  }
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  r->rings_len = sq_len > cq_len ? sq_len : cq_len;
  void *rings = mmap(NULL, r->rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                     IORING_OFF_SQ_RING);
  r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  void *sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                    IORING_OFF_SQES);
  r->rings = rings == MAP_FAILED ? NULL : rings;
  r->sqes = sqes == MAP_FAILED ? NULL : sqes;
  if (r->rings == NULL || r->sqes == NULL) {
    snprintf(b->why, sizeof b->why, "cannot map the io_uring rings: %s", strerror(errno));
    ring_free(r);
    return NULL;
  }
  if (syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_FILES, b->fds, (unsigned)b->n) < 0) {
    snprintf(b->why, sizeof b->why, "io_uring_register: %s", strerror(errno));
    ring_free(r);
    return NULL;
  }
  char *base = r->rings;
  r->sq_head = (_Atomic unsigned *)(void *)(base + p.sq_off.head);
  r->sq_tail = (_Atomic unsigned *)(void *)(base + p.sq_off.tail);
  r->sq_mask = *(unsigned *)(void *)(base + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(void *)(base + p.sq_off.array);
  r->cq_head = (_Atomic unsigned *)(void *)(base + p.cq_off.head);
  r->cq_tail = (_Atomic unsigned *)(void *)(base + p.cq_off.tail);
  r->cq_mask = *(unsigned *)(void *)(base + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(void *)(base + p.cq_off.cqes);
  /* The kernel copies each entry when it takes it: prepared once, queued again every tick. */
  for (size_t i = 0; i < b->n; i++) {
    struct io_uring_sqe *s = &r->sqes[i];
    memset(s, 0, sizeof *s);
    s->opcode = IORING_OP_READ;
    s->flags = IOSQE_FIXED_FILE;
    s->fd = (int)i; /* the index among the registered files */
    s->addr = (uint64_t)(uintptr_t)r->text[i];
    s->len = NEMB__BATCH_TEXT - 1;
    s->off = 0;
    s->user_data = i;
  }
  return r;
}

/* One round of reads through the ring: 0, or -errno when io_uring_enter() failed (the ring is
 * then unusable). The files whose completion came are marked in @p got. */
static int ring_read(nemb__batch *b, uint64_t *out, int *rc, bool *got) {
  nemb__batch_ring *r = b->ring;
  unsigned n = (unsigned)b->n;
  unsigned tail = atomic_load_explicit(r->sq_tail, memory_order_relaxed);
  for (unsigned i = 0; i < n; i++) {
    r->sq_array[(tail + i) & r->sq_mask] = i;
  }
  atomic_store_explicit(r->sq_tail, tail + n, memory_order_release);
  unsigned done = 0;
  for (;;) {
    unsigned to_submit = tail + n - atomic_load_explicit(r->sq_head, memory_order_acquire);
    /* Reads that complete as they are submitted (all of them, for files read without blocking)
     * need no wait: the first call only submits. */
    bool wait = to_submit == 0;
    long e = syscall(SYS_io_uring_enter, r->fd, to_submit, wait ? n - done : 0,
                     wait ? IORING_ENTER_GETEVENTS : 0, NULL, 0);
    if (e < 0 && errno != EINTR) {
      return -errno;
    }
    if (e == 0 && to_submit > 0) {
      return -EIO; /* took none of the reads: never seen, but it must not spin */
    }
    unsigned head = atomic_load_explicit(r->cq_head, memory_order_relaxed);
    unsigned ctail = atomic_load_explicit(r->cq_tail, memory_order_acquire);
    for (; head != ctail; head++) {
      const struct io_uring_cqe *c = &r->cqes[head & r->cq_mask];
      uint64_t i = c->user_data;
      if (i >= n || got[i]) {
        continue;
      }
      got[i] = true;
      done++;
      if (c->res > 0) {
        r->text[i][c->res] = '\0';
        rc[i] = nemb__parse_u64(r->text[i], &out[i]);
      } else if (c->res == 0) {
        rc[i] = NEMB_EPARSE; /* an empty file */
      } else if (c->res == -EINTR || c->res == -EAGAIN) {
        got[i] = false; /* read again with pread */
      } else {
        rc[i] = c->res;
      }
    }
    atomic_store_explicit(r->cq_head, head, memory_order_release);
    if (done == n) {
      return 0;
    }
  }
}

static void ring_init(nemb__batch *b) {
  /* Opt-in: a seccomp filter that kills a process on a system call it does not allow (systemd's
   * SystemCallFilter= without SystemCallErrorNumber=) would kill the measured program at
   * io_uring_setup, and measuring must never break the program. */
  const char *env = nemb__env_get(ENV_NAME);
  if (env == NULL || strcmp(env, "1") != 0) {
    snprintf(b->why, sizeof b->why, "off unless " ENV_NAME "=1");
    return;
  }
  int before = count_workers();
  if (before < 0) {
    snprintf(b->why, sizeof b->why, "/proc/self/task cannot be listed");
    return;
  }
  b->ring = ring_open(b);
  if (b->ring == NULL) {
    return;
  }
  uint64_t v[NEMB__BATCH_MAX];
  int rc[NEMB__BATCH_MAX];
  bool got[NEMB__BATCH_MAX] = {false};
  int erc = ring_read(b, v, rc, got);
  if (erc != 0) {
    snprintf(b->why, sizeof b->why, "io_uring_enter: %s", strerror(-erc));
    b->ring = NULL; /* reads may still be in flight into its buffers: left as it is */
    return;
  }
  if (count_workers() > before) {
    snprintf(b->why, sizeof b->why,
             "these files cannot be read without blocking (io_uring hands them to a worker "
             "thread, dearer than pread)");
    ring_free(b->ring);
    b->ring = NULL;
  }
}

#else

struct nemb__batch_ring {
  int unused;
};

static void ring_init(nemb__batch *b) {
  snprintf(b->why, sizeof b->why, "built without io_uring");
}

static int ring_read(nemb__batch *b, uint64_t *out, int *rc, bool *got) {
  (void)b;
  (void)out;
  (void)rc;
  (void)got;
  return -ENOSYS;
}

static void ring_free(nemb__batch_ring *r) {
  (void)r;
}

#endif

void nemb__batch_init(nemb__batch *b, const int *fds, size_t n) {
  memset(b, 0, sizeof *b);
  b->n = n < NEMB__BATCH_MAX ? n : NEMB__BATCH_MAX;
  memcpy(b->fds, fds, b->n * sizeof *fds);
  if (b->n == 0) {
    snprintf(b->why, sizeof b->why, "no files");
    return;
  }
  ring_init(b);
  if (b->ring == NULL) {
    nemb__log(NEMB_LOG_DEBUG, "%zu counter files read with pread, not io_uring: %s", b->n, b->why);
  }
}

bool nemb__batch_uses_uring(const nemb__batch *b) {
  return b->ring != NULL;
}

size_t nemb__batch_read_u64(nemb__batch *b, uint64_t *out, int *rc) {
  bool got[NEMB__BATCH_MAX] = {false};
  if (b->ring != NULL) {
    int erc = ring_read(b, out, rc, got);
    if (erc != 0) {
      nemb__log(NEMB_LOG_WARN, "io_uring_enter failed (%s): reading with pread from now on",
                strerror(-erc));
      snprintf(b->why, sizeof b->why, "io_uring_enter: %s", strerror(-erc));
      b->ring = NULL; /* reads may still be in flight into its buffers: left as it is */
    }
  }
  size_t ok = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (!got[i]) {
      rc[i] = nemb__pread_u64(b->fds[i], &out[i]);
    }
    ok += rc[i] == 0;
  }
  return ok;
}

void nemb__batch_release(nemb__batch *b) {
  if (b->ring != NULL) {
    ring_free(b->ring);
    b->ring = NULL;
  }
}
