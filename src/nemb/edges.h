/*
 * edges.h - when a counter actually changed: each domain's update period and phase, learned from
 * the reads that bracket its updates. Pure arithmetic on read times, no I/O, tested on its own.
 *
 * An energy counter does not count continuously: RAPL adds the energy of the last ~1 ms about
 * every 976.6 us (1/1024 s on many parts), NVML's counter every 10-100 ms. A reading shows the
 * energy at the counter's last update, not at the time of the read, so taking it as "the energy
 * at the read's time" is off by up to one update period's energy: a 20 ms task on a 100 ms
 * counter reads 0 J or a whole step, and per-sample power spikes when one interval holds two
 * updates. Knowing the instants of the updates makes every reading an exact point of the
 * cumulative energy curve, and interpolating between those points gives the energy at any instant.
 *
 * The update instants are found by set membership. A read that first sees a new value, and the
 * last read before it that did not, bracket an update: the update is in (lo, hi]. A narrow
 * bracket (at most a quarter period wide) pins it down. The updates are periodic, so two narrow
 * brackets k periods apart bound the period within (width_a + width_b) / k, and each further one
 * is intersected with the prediction, narrowing phase and period as the session goes on. An empty
 * intersection (the period drifted, the counter reset, a misread) starts over from the new
 * bracket. Wider brackets (any read interval shorter than a period) still narrow a running model.
 * The sampler makes narrow brackets on purpose: it reads once just before and once just
 * after a predicted update whenever the prediction's uncertainty has grown (sampler.c).
 */
#ifndef NEMB_EDGES_H
#define NEMB_EDGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nemb__edges {
  double nominal_ns;     /* the provider's stated update period */
  double wide;           /* ... known to within this fraction of it */
  double p_lo, p_hi;     /* the period lies in [p_lo, p_hi] */
  bool have_ref;         /* a narrow bracket has been seen */
  double ref_lo, ref_hi; /* one update instant lies in (ref_lo, ref_hi] */
  bool have_anchor;      /* the oldest bracket of this lock, for the period */
  double anchor_lo, anchor_hi;
  double anchor_k;  /* updates from the anchor's to the reference's */
  bool locked;      /* period known well enough to predict updates */
  uint64_t narrow;  /* narrow brackets used */
  uint64_t relocks; /* times the model had to start over */
  unsigned misses;  /* wide brackets in a row the model did not explain */
} nemb__edges;

/* Starts a model from the provider's stated period @p nominal_ns, taken to be within 3 % of the
 * truth. */
void nemb__edges_init(nemb__edges *e, uint64_t nominal_ns);

/* The same from a period known only to within @p rel of itself (relative; the provider's own
 * figure, e.g. nemb__edges_measure's uncertainty): the bounds are widened to it (never narrower
 * than 3 %, at most 50 %), so that a period measured at open worse than 3 % does not confine the
 * model to a window that misses the truth. */
void nemb__edges_init_within(nemb__edges *e, uint64_t nominal_ns, double rel);

/* A change was first seen by the read that ended at @p hi_ns; the read that began at @p lo_ns had
 * not seen it. A narrow bracket (a quarter period) can start or restart the model; any bracket
 * that holds one predicted update narrows it. Returns true when the bracket was used. */
bool nemb__edges_observe(nemb__edges *e, uint64_t lo_ns, uint64_t hi_ns);

/* The current period estimate (the nominal one until learned), ns. */
double nemb__edges_period(const nemb__edges *e);

/* The latest predicted update instant at or before @p t_ns, with the half-width of its
 * uncertainty in *unc_ns (which the caller judges). False before any narrow bracket. */
bool nemb__edges_before(const nemb__edges *e, uint64_t t_ns, double *edge_ns, double *unc_ns);

/* The update period from @p n brackets of consecutive observed changes (lo[i], hi[i]] in ns,
 * in time order, as a provider measures it at open: reads every ~1 ms see each change, but a
 * read delayed past an update (a busy machine) merges two updates into one change. Brackets
 * wider than three times the narrowest (or than half the shortest period possible, below) are
 * left out. The shortest gap between the changes kept is taken as d periods (1 unless a read
 * missed an update in it), the other gaps are counted from there, each only where one whole
 * count fits, and every pair of brackets then bounds the period (set membership, as above); a d
 * is accepted when its period also puts an update in every bracket left out and none between
 * two changes, and only when no other d can be ruled out. The
 * result is the middle of the bounds, *@p rel_unc their half-width over it. When no count or
 * more than one fits, only the bounds that hold whatever the count are used: the period is
 * longer than the longest span between two changes that saw none and no longer than the
 * shortest from one bracket's start to the next one's end. Returns 0 (*@p rel_unc infinity)
 * with too few changes for any bound. At most NEMB__EDGES_MEASURE_MAX brackets are used. */
#define NEMB__EDGES_MEASURE_MAX 64
double nemb__edges_measure(const uint64_t *lo, const uint64_t *hi, size_t n, double *rel_unc);

#endif /* NEMB_EDGES_H */
