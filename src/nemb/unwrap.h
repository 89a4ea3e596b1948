/*
 * unwrap.h - turning a counter that wraps into a cumulative total. Pure arithmetic, no I/O, so
 * it is tested on its own.
 *
 * Hardware energy counters are finite: RAPL's is 32 bits of energy units, which powercap shows
 * as microjoules that fall back to 0 after max_energy_range_uj. The sampler reads each counter at
 * least four times per shortest possible wrap period, so between two readings a counter wraps at
 * most once, and a genuine wrap adds less than a quarter of the range. A reading that went
 * backwards by more than that is a reset (a driver reload, a resume), not a wrap, and adds 0.
 */
#ifndef NEMB_UNWRAP_H
#define NEMB_UNWRAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct nemb__unwrap {
  uint64_t range;  /* the raw value wraps to 0 after this; 0 = never wraps */
  uint64_t last;   /* previous raw reading */
  uint64_t total;  /* energy accumulated since the first reading */
  uint64_t wraps;  /* wraps seen */
  uint64_t resets; /* backward jumps treated as counter resets */
  bool primed;     /* a first reading was taken */
} nemb__unwrap;

void nemb__unwrap_init(nemb__unwrap *u, uint64_t range);

/* Feeds one raw reading and returns the energy it adds (0 for the first reading). */
uint64_t nemb__unwrap_feed(nemb__unwrap *u, uint64_t raw);

#endif /* NEMB_UNWRAP_H */
