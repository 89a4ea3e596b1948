/*
 * perf_sys.h - the system calls behind the perf provider, gathered in one table that tests
 * replace, so that tests/provider/test_perf.c drives perf.c's real code (event parsing, per-
 * package opening, permission messages, scaling) with a fake kernel on a machine without RAPL.
 *
 * The table is read by open() in the controlling thread and by read() in the sampler thread;
 * tests change it only while no meter exists, before any provider is opened.
 */
#ifndef NEMB_PERF_SYS_H
#define NEMB_PERF_SYS_H

#include <stddef.h>

struct perf_event_attr;

typedef struct nemb__perf_syscalls {
  /* perf_event_open(2): a new descriptor, or -1 with errno set. */
  int (*open)(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags);
  /* read(2) of a group leader's descriptor (PERF_FORMAT_GROUP): the number of events in the
   * group, then each one's count, 8 bytes each. perf descriptors cannot be read with pread (they
   * have no file position: ESPIPE), hence a plain read. */
  long (*read)(int fd, void *buf, size_t len);
  /* close(2). */
  int (*close)(int fd);
  /* How long open() waits for any counter to change before it calls them dead (perf.c,
   * counters_move()): 50 ms in the real table; 0 (a test's table) skips the wait. */
  uint64_t alive_wait_ns;
} nemb__perf_syscalls;

/* The table perf.c uses; initialised with the real system calls. */
extern nemb__perf_syscalls nemb__perf_sys;

/* The real system calls, so that a test can restore them. */
extern const nemb__perf_syscalls nemb__perf_sys_real;

#endif /* NEMB_PERF_SYS_H */
