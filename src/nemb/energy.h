/*
 * energy.h - the energy at any instant and over any span, from a meter's stored samples: the one
 * place the report, the plot, the checkpoints and the node's replay take energy from
 * (energy.c says how it is computed and what it is sure of). Not installed.
 *
 * Readers during the run take the store's read lock inside each call; every function is safe
 * from any thread.
 */
#ifndef NEMB_ENERGY_H
#define NEMB_ENERGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meter.h"

/* Writes into @p uj (one value per domain) the energy in microjoules accumulated from the first
 * sample to @p t_ns, linearly interpolated between the two samples that bracket it. Before the
 * first sample it gives the first; after the last, the last, and returns false (the instant is
 * outside what was sampled). @p hint, if not NULL, carries a sample index between calls with
 * nearby times, making a run of increasing instants cost O(1) each; start it at 0. Only samples
 * below @p count are used. */
bool nemb__energy_at(const nemb_meter *m, size_t count, uint64_t t_ns, double *uj, size_t *hint);

/* The sum of the in-total domains of @p uj (what energy_j adds up). */
double nemb__energy_total(const nemb_meter *m, const double *uj);

/* A span shorter than this many update periods of an in-total domain gets an uncertainty. */
#define NEMB__FEW_UPDATES 4
/* An end of a span more than this many of the domain's counter update periods (for a power
 * integrated at each read, sampling intervals) from the stored samples on both sides of it fell
 * where the store holds none of the counter's updates, whatever the cause: a long sampling
 * interval chosen on purpose, the store coarsening at its cap, or a starved sampler on a busy
 * machine. It gets the bound of the two samples around it whatever the span's length. */
#define NEMB__GAP_UPDATES 3

/* A domain whose counter updates this slowly or slower (ns; NVML's 100 ms, not RAPL's 1 ms) has
 * the energy of the update holding each end of a span split by interpolation, which errs where
 * the power changed within that update: such an end gets a bound when the power around it
 * changes (NEMB__UNC_STEP). RAPL's split errs by under the step times a quarter millisecond. */
#define NEMB__STEP_PERIOD_NS 10e6

/* Why a span's energy has an uncertainty (bits of nemb__uncertainty.why). */
#define NEMB__UNC_SHORT 1u /* shorter than NEMB__FEW_UPDATES update periods */
#define NEMB__UNC_GAP 2u   /* an end between stored samples far apart (NEMB__GAP_UPDATES) */
#define NEMB__UNC_STEP 4u  /* an end where a slow counter's power changed (NEMB__STEP_PERIOD_NS) */
#define NEMB__UNC_EXTRA 8u /* an end past the stored samples (checkpoint.c): extrapolated */
#define NEMB__UNC_JOIN 16u /* over a span between two samplers' samples (meter.h's bridge) */

/* What the counters allow either side of a span's energy. */
typedef struct nemb__uncertainty {
  double uj;    /* half-width in microjoules, summed over in-total domains; 0: fixed */
  unsigned why; /* NEMB__UNC_* bits; 0 when uj is 0 */
} nemb__uncertainty;

/* The in-total energy from @p a to @p b in microjoules, each domain's share into @p dom (NULL:
 * not wanted). @p unc (NULL: not wanted) receives what the counters allow either way for a span
 * shorter than NEMB__FEW_UPDATES update periods of a domain, with an end in a sampler gap
 * (NEMB__GAP_UPDATES) or with an end where a slow counter's power changed (NEMB__UNC_STEP),
 * else zeroes. The report, the plot and the checkpoints all take span
 * energies from here. */
double nemb__energy_span(const nemb_meter *m, size_t count, uint64_t a, uint64_t b, double *dom,
                         nemb__uncertainty *unc, size_t *hint);

/* nemb__energy_span()'s uncertainty rule in the form the checkpoints apply to every call
 * (millions of calls, each shorter than a counter update): for a span at constant power, the
 * rule gives 2 P_d x the power of each in-total domain d whose update period P_d is more than
 * a quarter of the span (the energy at each end lies between the curve a period before and a
 * period after it). With only the in-total power at hand, each domain's power is taken as its
 * share of the in-total energy over the stored curve. Filled by nemb__energy_short_rule() from
 * the store and the learned periods; read by nemb__short_rule_uj(). */
typedef struct nemb__short_rule {
  size_t n;                            /* in-total domains */
  double limit_ns[NEMB__MAX_DOMAINS];  /* NEMB__FEW_UPDATES x P_d, longest first */
  double weight_ns[NEMB__MAX_DOMAINS]; /* sum over domains 0..k of 2 P_d x d's share, ns */
  /* An instant further than this from both stored samples around it is in a sampler gap (for
   * the domain updated most often, NEMB__GAP_UPDATES): its energy is known only to lie between
   * theirs. */
  double gap_ns;
} nemb__short_rule;

/* Fills @p out from the first @p count samples and the periods learned so far; takes the
 * store's read lock. */
void nemb__energy_short_rule(const nemb_meter *m, size_t count, nemb__short_rule *out);

/* The half-width the rule gives a span of @p span_ns at in-total power @p rate (uJ per ns):
 * 0 for a span long enough for every domain. No lock, no memory access beyond @p r. */
double nemb__short_rule_uj(const nemb__short_rule *r, uint64_t span_ns, double rate);

/* The in-total cumulative energy at @p t_ns (nemb__energy_at summed). */
double nemb__energy_total_at(const nemb_meter *m, size_t count, uint64_t t_ns, size_t *hint);

/* The in-total power in watts of the stored interval containing @p t_ns (the last one when it is
 * past the end); 0 with fewer than two samples. */
double nemb__energy_power_w(const nemb_meter *m, size_t count, uint64_t t_ns, size_t *hint);

/* The two stored samples around @p t_ns (ta <= t_ns <= tb, ta < tb) with their in-total
 * cumulative energies in microjoules, so a caller can interpolate many instants inside them (as
 * nemb__energy_total_at would) and take their power (as nemb__energy_power_w would) without the
 * store's lock. Returns false when no such pair exists (fewer than two samples, t_ns before the
 * first or at or after the last). The values are copies: later coarsening cannot change them. */
bool nemb__energy_bracket(const nemb_meter *m, size_t count, uint64_t t_ns, uint64_t *ta,
                          double *ea, uint64_t *tb, double *eb, size_t *hint);

/* The number of stored samples and the time of the newest (0 when none), read together. */
size_t nemb__energy_extent(const nemb_meter *m, uint64_t *last_t);

/* Each domain's power in watts over the stored interval containing @p t_ns, into @p w. */
void nemb__energy_rates(const nemb_meter *m, size_t count, uint64_t t_ns, double *w);

#endif /* NEMB_ENERGY_H */
