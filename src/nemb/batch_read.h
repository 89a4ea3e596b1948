/*
 * batch_read.h - reading the numbers in several small files, at offset 0, with one system call.
 *
 * A provider that reads N counter files every tick (powercap's energy_uj of each RAPL zone) pays
 * N pread() calls, and on a virtual machine a system call is the dearest part of a tick (1.1 us
 * for getppid() on the 2-vCPU KVM guest of README.md's Performance table, about as much as a whole
 * pread of a small file). So the reads go into one io_uring submission: N reads, one
 * io_uring_enter() that submits them and waits for their completions (Linux io_uring(7); the
 * ring is set up with raw system calls, no liburing).
 *
 * io_uring is used only where it is cheaper than the preads and otherwise pread() is, with the
 * same results, so a caller never needs to know which:
 *   - the kernel must run io_uring's worker threads as threads of this process
 *     (IORING_FEAT_NATIVE_WORKERS, Linux 5.12), so that the check below can see them;
 *   - io_uring must be allowed (kernel.io_uring_disabled, seccomp profiles such as Docker's
 *     default one refuse io_uring_setup) and the files registrable;
 *   - a first batch, read at init, must complete without starting a worker thread: a file whose
 *     reads cannot be done without blocking goes to a worker, and a thread wake-up per tick costs
 *     more than the preads saved;
 *   - CODEGREEN_IO_URING=1 must be in the environment: it is opt-in, since a seccomp filter
 *     that kills on a system call it does not allow (systemd's SystemCallFilter= without
 *     SystemCallErrorNumber=) would kill the measured program at io_uring_setup.
 * A batch whose io_uring call fails at a later read (anything but EINTR, which is retried) falls
 * back to pread() for good.
 *
 * Ownership: the caller keeps the descriptors (registered with the ring, which holds its own
 * references until release). Threads: one thread at a time per batch (a provider's rule).
 */
#ifndef NEMB_BATCH_READ_H
#define NEMB_BATCH_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

#define NEMB__BATCH_MAX NEMB__MAX_DOMAINS
#define NEMB__BATCH_TEXT 32 /* bytes read from each file: a 20-digit count and a newline */

typedef struct nemb__batch_ring nemb__batch_ring;

typedef struct nemb__batch {
  size_t n;
  int fds[NEMB__BATCH_MAX];
  nemb__batch_ring *ring; /* NULL: read with pread() */
  char why[160];          /* why not io_uring, for the log and `codegreen info` */
} nemb__batch;

/* Prepares reading @p n (at most NEMB__BATCH_MAX) open descriptors, reading each once to decide
 * between io_uring and pread (see above). Never fails: without io_uring it reads with pread. */
void nemb__batch_init(nemb__batch *b, const int *fds, size_t n);

/* true when the reads go through io_uring; otherwise b->why says why not. */
bool nemb__batch_uses_uring(const nemb__batch *b);

/* Reads every descriptor at offset 0 and parses an unsigned decimal (nemb__parse_u64): out[i] its
 * value and rc[i] 0, or out[i] untouched and rc[i] -errno or NEMB_EPARSE. Each file fails on its
 * own. Returns how many were read. */
size_t nemb__batch_read_u64(nemb__batch *b, uint64_t *out, int *rc);

/* Frees the ring (the descriptors stay the caller's). Safe on a zeroed batch and twice. */
void nemb__batch_release(nemb__batch *b);

#endif
