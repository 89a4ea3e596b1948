/*
 * gpu_share.h - a GPU's per-process utilisation samples summed into "this program's" share of
 * the GPU, for attributing GPU energy (nemb_meter_gpu_usage(), `codegreen run`). Not installed.
 *
 * Source of the facts: NVML API reference, nvmlDeviceGetProcessUtilization and
 * nvmlProcessUtilizationSample_t. The driver samples the GPU at a fixed period; each sample it
 * keeps is one process's utilisation in percent over one such period (only processes with a
 * non-zero utilisation in that period get one), stamped with the CPU time in microseconds
 * (CLOCK_REALTIME). Because the periods are equal, the sum of smUtil over samples is proportional
 * to SM-time, and the program's share of the GPU over a span is
 *     share = sum of smUtil over the program's samples / sum of smUtil over every sample.
 * That is a time-share proxy: it says who kept the SMs busy, not who drew the power (memory-bound
 * or tensor-core work draws more per busy SM than a light kernel), so what it attributes is an
 * estimate, never a measurement.
 *
 * The samples are kept as read (up to NEMB__GPU_SHARE_KEEP per GPU) and placed only when the
 * figures are asked for, over a span of time: a sample counts when its timestamp falls in the
 * span, and is the program's when its pid was then one of the calling process's descendants
 * (proc_tree.h: every descendant seen, with when it lived). So a process that ended before its
 * samples were read is still placed, and a reused pid is not taken for the process that had it
 * before. When a batch is added, its pids that are in the tree now are recorded too.
 *
 * Threads: add()/fail() from one thread (the GPU provider's poller); get() from any thread. The
 * figures are under a mutex held only to copy them.
 */
#ifndef NEMB_GPU_SHARE_H
#define NEMB_GPU_SHARE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nemb.h"

/* Samples kept per GPU (16 MiB); later ones are dropped (counted). */
#define NEMB__GPU_SHARE_KEEP (1u << 20)

#define NEMB__GPU_SHARE_METHOD "nvml_process_utilization"

/* One sample, with nvmlProcessUtilizationSample_t's layout (NVML API reference), so that an NVML
 * buffer can be passed as it is. */
typedef struct nemb__proc_sample {
  unsigned int pid;
  unsigned long long timeStamp; /* CPU time of the sample, microseconds since the epoch */
  unsigned int smUtil;          /* SM (3D/compute) utilisation, percent over the sample period */
  unsigned int memUtil;         /* frame buffer memory utilisation, percent */
  unsigned int encUtil;         /* video encoder utilisation, percent */
  unsigned int decUtil;         /* video decoder utilisation, percent */
} nemb__proc_sample;

/* Whether a sample of @p pid stamped @p ts_us (CLOCK_REALTIME) is the program's; @p ctx is the
 * caller's. */
typedef bool (*nemb__own_fn)(unsigned int pid, uint64_t ts_us, void *ctx);

typedef struct nemb__kept_sample {
  uint64_t ts_us;
  unsigned int pid, sm;
} nemb__kept_sample;

typedef struct nemb__gpu_share {
  pthread_mutex_t lock;
  /* Under lock. */
  int status;
  char reason[192];
  nemb__kept_sample *kept;
  size_t n_kept, cap_kept;
  uint64_t dropped; /* not kept: over NEMB__GPU_SHARE_KEEP */
} nemb__gpu_share;

/* Starts with no samples and status 0 (figures being read). */
void nemb__gpu_share_init(nemb__gpu_share *g);
void nemb__gpu_share_destroy(nemb__gpu_share *g);

/* Keeps @p n samples, and records in proc_tree.h those of their pids that are the calling
 * process's descendants now. Ignored once fail() was called. */
void nemb__gpu_share_add(nemb__gpu_share *g, const nemb__proc_sample *s, size_t n);

/* No more figures: @p status (NEMB_ENOTSUP, NEMB_EACCES, NEMB_EIO) and the reason, in words. The
 * sums so far are kept but the usage reads as failed from now on. */
void nemb__gpu_share_fail(nemb__gpu_share *g, int status, const char *reason);

/* The figures over the samples stamped from @p from_us to @p to_us (CLOCK_REALTIME, both
 * included) into @p out (method, status, reason, sums; outside_samples counts the kept samples
 * outside the span). @p own says which are the program's (NULL: nemb__proc_tree_owns). */
void nemb__gpu_share_get(nemb__gpu_share *g, uint64_t from_us, uint64_t to_us, nemb__own_fn own,
                         void *ctx, nemb_gpu_usage *out);

/* Forgets the kept samples stamped before @p before_us. */
void nemb__gpu_share_forget(nemb__gpu_share *g, uint64_t before_us);

/* Whether process @p pid is @p root or one of its descendants now, following the parent links in
 * /proc/PID/stat (at most 64 generations). false for a process that no longer exists. */
bool nemb__pid_in_tree(pid_t pid, pid_t root);

#endif /* NEMB_GPU_SHARE_H */
