/*
 * unwrap.h - turning a counter that wraps, resets and now and then misreads into a cumulative
 * total. Pure arithmetic on (reading, time) pairs, no I/O, so it is tested on its own.
 *
 * Hardware energy counters are finite: RAPL's is 32 bits of energy units, which powercap shows
 * as microjoules that fall back to 0 after max_energy_range_uj. Every step between two readings
 * is judged by what is physically possible in the time between them: the domain cannot have used
 * more than `limit` = 2 x its maximum power x (elapsed time + 2 ms of update slack). So:
 *   - forward by at most the limit: energy;
 *   - backward, where passing through the range's top is within the limit: a wrap;
 *   - forward within the limit with room for one or more whole ranges: the gap (a process and its
 *     sampler stopped by SIGSTOP, Ctrl-Z, a Slurm suspend) may hide wraps. The number of wraps is
 *     chosen to match the recent power and the gap is counted as ambiguous, with the energy of
 *     the other possible wrap counts as its uncertainty;
 *   - anything else (backward without a possible wrap, forward beyond the limit) is held as
 *     suspect and the reading rejected: a dip that returns (an AMD counter read 700 J low once)
 *     is then measured from the last good reading, losing nothing; readings that carry on from
 *     the new value for SUSPECT_NS are a reset (module reload, resume), whose gap is filled with
 *     the recent power times its duration and counted.
 * A step that would imply more than the limit is never a wrap: a reset from the upper half of the
 * range does not invent half a range of energy.
 */
#ifndef NEMB_UNWRAP_H
#define NEMB_UNWRAP_H

#include <stdbool.h>
#include <stdint.h>

/* How long readings must carry on consistently from an implausible value before it is taken as a
 * counter reset rather than a misread (50 ms: many reads at any sampling interval up to 10 ms). */
#define NEMB__UNWRAP_SUSPECT_NS 50000000ull

typedef struct nemb__unwrap {
  uint64_t range;        /* the raw value wraps to 0 after this; 0 = never wraps */
  uint64_t max_power_uw; /* ceiling on plausible power; 0 = unknown: no plausibility bound */
  uint64_t last;         /* last accepted raw reading */
  uint64_t last_t;       /* the time of the reading that first showed it, ns */
  /* The time of the reading before that one, ns: the counter's next step holds energy drawn
   * after it, however many readings in between showed no change (a counter updated every
   * 100 ms or 1 s read every 1 ms steps by 100 ms or 1 s of energy), so a step's plausibility is
   * judged over the time since then, not since the previous reading. */
  uint64_t change_from_t;
  uint64_t read_t;  /* the time of the latest reading, any */
  uint64_t total;   /* energy accumulated since the first reading */
  double recent_uw; /* recent power, smoothed over about 100 ms */
  bool primed;      /* a first reading was taken */
  /* A run of implausible readings being watched. */
  bool suspect;
  unsigned suspect_n;
  uint64_t suspect_first, suspect_first_t, suspect_last, suspect_last_t;
  /* What happened, for meta.sampler. */
  uint64_t wraps;          /* wraps seen (including those inferred across a gap) */
  uint64_t resets;         /* counter resets taken */
  uint64_t rejected;       /* readings rejected as implausible and not part of a reset */
  uint64_t ambiguous_gaps; /* gaps long enough to hide an unknown number of wraps */
  double uncertain_uj;     /* energy that depends on a guessed wrap count or a reset's gap */
} nemb__unwrap;

/* @p max_power_uw 0 leaves steps unbounded (a wrap then needs a step of at most half the range,
 * the only rule available without a ceiling). */
void nemb__unwrap_init(nemb__unwrap *u, uint64_t range, uint64_t max_power_uw);

/* Feeds one raw reading taken at @p t_ns (non-decreasing) and returns the energy it adds (0 for
 * the first reading and for a rejected one). */
uint64_t nemb__unwrap_feed(nemb__unwrap *u, uint64_t raw, uint64_t t_ns);

/* The largest energy in microjoules the domain can plausibly use in @p elapsed_ns (UINT64_MAX
 * when the ceiling is unknown). */
uint64_t nemb__unwrap_limit(const nemb__unwrap *u, uint64_t elapsed_ns);

#endif /* NEMB_UNWRAP_H */
