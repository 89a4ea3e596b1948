/*
 * poller.h - a provider read on a thread of its own, at its own cadence, with a deadline.
 *
 * A driver call can block: NVML takes a driver lock and a call can take tens of milliseconds, or
 * never return when the GPU hangs. The sampler reads RAPL every millisecond and must never wait
 * on such a call, so a provider that says its calls can block (provider.h, cadence()) is read by
 * a poller: a thread that calls read() every `every_ns` (each gap drawn uniformly from
 * [every/2, 3*every/2), so the reads fall at every phase of the counter's updates and the
 * update-edge model can narrow them, edges.h), or less often where the calls spin and would
 * take more than 5 % of a core, and publishes what it read. The sampler takes the
 * latest publication without waiting (a try-lock; a busy lock is "nothing new").
 *
 * What a publication says per domain, so the update-edge model works as with direct reads:
 *   raw       the latest good raw value (NEMB__RAW_INVALID: the latest read of it failed, rc);
 *   seen_t    the start of the latest read that showed it: the value is known as of then;
 *   chg_lo    the start of the last read that showed the value before it ...
 *   chg_hi    ... and the end of the first read that showed it: its update lies in between.
 * Where the provider stamps its values with the instant they were taken (stamps(), provider.h:
 * NVML's field values), that instant replaces the read's start and end: a bracket is then the
 * gap between two reads, not that plus a whole driver call.
 * Once an update's instant can be predicted (the poller learns each domain's updates too), the
 * poller reads once just before and once just after it when the prediction has grown uncertain,
 * so brackets stay narrow without reading faster. Until then (and whenever the model is lost) it
 * reads every period / 8 for a while, so that a change is bracketed narrowly enough to start it.
 *
 * A read that has not returned `deadline_ns` after it began is hung: nemb__poller_take() says
 * since when, and the meter marks the provider's domains failed with NEMB_ETIMEDOUT while the
 * rest of the meter goes on. At stop, a poller stuck in a read is left behind: its thread owns
 * the provider from then on and closes it if the read ever returns.
 *
 * Threads: start/stop from the controlling thread; take() from one reader (the sampler) at a
 * time. The provider's state is the poller thread's from start until stop (or forever, when
 * left behind).
 */
#ifndef NEMB_POLLER_H
#define NEMB_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

typedef struct nemb__poller nemb__poller;

/* One domain as the poller last saw it (see above). */
typedef struct nemb__poll_dom {
  uint64_t raw;
  int rc;          /* 0, or why the latest read of this domain failed */
  uint64_t seen_t; /* ns, CLOCK_MONOTONIC */
  uint64_t chg_lo, chg_hi;
  bool changed; /* chg_lo/chg_hi hold a change (false until the second distinct value) */
} nemb__poll_dom;

/* Starts reading @p n domains of @p ops / @p state on a new thread, the first read at once, and
 * waits (at most @p deadline_ns) for that first read to be published. Every domain's nominal
 * update period is @p nominal_ns (the provider's update_interval_ns()).
 * Returns 0 with *out, or NEMB_ENOMEM / -errno (the provider then stays the caller's). */
int nemb__poller_start(const struct nemb__provider_ops *ops, void *state, size_t n,
                       uint64_t every_ns, uint64_t deadline_ns, uint64_t nominal_ns,
                       nemb__poller **out);

/* Copies the latest publication into @p out (n entries) when it is newer than *@p gen, updating
 * *@p gen; returns true then, false when there is nothing new (or the poller is publishing at
 * this very moment: the next call sees it). Never waits. *@p hung_since gets the start of a read
 * that has been running for longer than the deadline at @p now_ns, else 0. */
bool nemb__poller_take(nemb__poller *p, uint64_t now_ns, uint64_t *gen, nemb__poll_dom *out,
                       uint64_t *hung_since);

/* Device reads made so far (for meta.sampler and tests). Any thread. */
uint64_t nemb__poller_reads(const nemb__poller *p);

/* The CPU time the reads took so far, ns (the driver's calls, which may spin). The reads are
 * spaced to keep it within 5 % of a core on average (poller.c, CPU_SHARE). Any thread. */
uint64_t nemb__poller_cpu_ns(const nemb__poller *p);

/* Reads set aside as preempted: much longer than usual, so their value belongs to an unknown
 * moment inside the call (poller.c, WIDE_*). Any thread. */
uint64_t nemb__poller_wide_reads(const nemb__poller *p);

/* Stops the thread: waits for a read in progress at most until its deadline. Returns true when
 * the thread ended (the provider is the caller's again, to close); false when it was left behind
 * in a hung read (it closes the provider itself if the read returns). Frees @p p either way;
 * NULL is accepted (returns true). */
bool nemb__poller_stop(nemb__poller *p);

#endif /* NEMB_POLLER_H */
