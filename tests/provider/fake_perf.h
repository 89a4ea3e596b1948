/*
 * fake_perf.h - a fake perf_event_open kernel for the provider tests (test_perf, test_selection):
 * put fake_sys in the perf provider's system-call table (perf_sys.h) and its real code opens,
 * groups (PERF_FORMAT_GROUP, as the kernel: one CPU's events under an open leader) and reads
 * these events instead of the power PMU's. One copy of the fake per test program (static state);
 * include it after cmocka (nemb_test.h), <linux/perf_event.h> and perf_sys.h.
 */
#ifndef NEMB_TEST_FAKE_PERF_H
#define NEMB_TEST_FAKE_PERF_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define FAKE_FD0 9000
#define MAX_FAKE 64
#define TWO32 4294967296.0

/* What the fake kernel was asked, and what it answers. */
typedef struct fake_event {
  uint32_t type;
  uint64_t config;
  int pid, cpu;
  unsigned long flags;
  uint64_t count; /* returned by read, unless watts is set */
  double watts;   /* > 0: the count follows CLOCK_MONOTONIC at this power */
  uint64_t t0_ns;
  uint64_t read_format;
  int leader; /* the index of its group's leader (its own when it leads) */
  bool closed;
} fake_event;

static fake_event fakes[MAX_FAKE];
static int n_fakes;
static int open_errno;        /* != 0: every open fails with it */
static uint64_t fail_config;  /* != 0: opens of this config fail with EINVAL */
static atomic_int read_errno; /* != 0: reads fail with it */
static double clock_watts;    /* power given to each newly opened event */
static bool refuse_groups;    /* opens into a group fail with EINVAL (a kernel that refuses) */
static atomic_int n_reads;    /* read() calls */

static int fake_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd,
                     unsigned long flags) {
  if (open_errno != 0) {
    errno = open_errno;
    return -1;
  }
  if (fail_config != 0 && attr->config == fail_config) {
    errno = EINVAL;
    return -1;
  }
  if (n_fakes >= MAX_FAKE) {
    errno = EMFILE;
    return -1;
  }
  int leader = n_fakes;
  if (group_fd != -1) {
    /* As the kernel: a group is of one CPU's events, led by an open event that leads. */
    leader = group_fd - FAKE_FD0;
    if (refuse_groups || leader < 0 || leader >= n_fakes || fakes[leader].leader != leader ||
        fakes[leader].cpu != cpu) {
      errno = EINVAL;
      return -1;
    }
  }
  fake_event *f = &fakes[n_fakes];
  memset(f, 0, sizeof *f);
  f->type = attr->type;
  f->config = attr->config;
  f->pid = pid;
  f->cpu = cpu;
  f->flags = flags;
  f->read_format = attr->read_format;
  f->leader = leader;
  f->watts = clock_watts;
  f->t0_ns = nemb__now_ns();
  return FAKE_FD0 + n_fakes++;
}

static uint64_t fake_count(const fake_event *f) {
  if (f->watts > 0) {
    /* watts x seconds = joules; one count is 2^-32 J */
    return (uint64_t)(f->watts * (double)(nemb__now_ns() - f->t0_ns) / 1e9 * TWO32);
  }
  return f->count;
}

/* PERF_FORMAT_GROUP: the number of events, then their counts, the leader's first and the others
 * in the order they joined; without it, the one count. */
static long fake_read(int fd, void *buf, size_t len) {
  atomic_fetch_add(&n_reads, 1);
  int e = atomic_load(&read_errno);
  if (e != 0) {
    errno = e;
    return -1;
  }
  if (fd < FAKE_FD0 || fd >= FAKE_FD0 + n_fakes) {
    errno = EBADF; /* no cmocka assertion here: this runs in the sampler thread too */
    return -1;
  }
  int i = fd - FAKE_FD0;
  uint64_t v[1 + MAX_FAKE];
  size_t n = 0;
  if (fakes[i].read_format & PERF_FORMAT_GROUP) {
    v[n++] = 0;
    for (int j = fakes[i].leader; j < n_fakes; j++) {
      if (fakes[j].leader == fakes[i].leader) {
        v[n++] = fake_count(&fakes[j]);
        v[0]++;
      }
    }
  } else {
    v[n++] = fake_count(&fakes[i]);
  }
  if (len < n * sizeof v[0]) {
    errno = ENOSPC;
    return -1;
  }
  memcpy(buf, v, n * sizeof v[0]);
  return (long)(n * sizeof v[0]);
}

static int fake_close(int fd) {
  assert_true(fd >= FAKE_FD0 && fd < FAKE_FD0 + n_fakes);
  assert_false(fakes[fd - FAKE_FD0].closed);
  fakes[fd - FAKE_FD0].closed = true;
  return 0;
}

/* No liveness wait: most tests give fixed counts (a test that needs one sets it). */
static const nemb__perf_syscalls fake_sys = {fake_open, fake_read, fake_close, 0};

/* Forgets every event and every setting: the state of a fresh kernel. */
static void fake_perf_reset(void) {
  n_fakes = 0;
  open_errno = 0;
  fail_config = 0;
  clock_watts = 0;
  refuse_groups = false;
  atomic_store(&read_errno, 0);
  atomic_store(&n_reads, 0);
}

#endif /* NEMB_TEST_FAKE_PERF_H */
