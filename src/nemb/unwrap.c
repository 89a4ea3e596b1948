/*
 * unwrap.c - see unwrap.h for the rules and why they are what they are.
 */
#include <math.h>

#include "unwrap.h"

#define SLACK_NS 2000000ull /* a read may see up to one extra ~1 ms update; twice that is safe */
#define SMOOTH_NS 100000000.0

void nemb__unwrap_init(nemb__unwrap *u, uint64_t range, uint64_t max_power_uw) {
  *u = (nemb__unwrap){.range = range, .max_power_uw = max_power_uw};
}

uint64_t nemb__unwrap_limit(const nemb__unwrap *u, uint64_t elapsed_ns) {
  if (u->max_power_uw == 0) {
    return UINT64_MAX;
  }
  double lim = 2.0 * (double)u->max_power_uw * (double)(elapsed_ns + SLACK_NS) / 1e9;
  return lim >= 1.8e19 ? UINT64_MAX : (uint64_t)lim;
}

/* Takes @p raw, read at @p t (the reading before it at @p prev_t), as the counter's value. */
static void accept(nemb__unwrap *u, uint64_t raw, uint64_t t, uint64_t prev_t, uint64_t delta) {
  u->suspect = false;
  if (raw == u->last && delta == 0) {
    return; /* no update since: the step to come is still measured from the last change */
  }
  uint64_t dt = t > u->last_t ? t - u->last_t : 0;
  if (dt > 0) {
    double p = (double)delta / (double)dt * 1e9;
    double a = fmin(1.0, (double)dt / SMOOTH_NS);
    u->recent_uw = u->total == 0 && u->recent_uw == 0 ? p : u->recent_uw + a * (p - u->recent_uw);
  }
  u->last = raw;
  u->change_from_t = prev_t;
  u->last_t = t;
  u->total += delta;
}

/* The energy of a plausible step of @p base microjoules (through the top once when @p wrapped)
 * over @p elapsed ns, adding the wraps a long gap must or may have hidden. */
static uint64_t with_hidden_wraps(nemb__unwrap *u, uint64_t base, uint64_t limit,
                                  uint64_t elapsed) {
  if (u->range == 0 || limit == UINT64_MAX || limit <= base || limit - base < u->range) {
    return base;
  }
  uint64_t n_max = (limit - base) / u->range;
  double expected = u->recent_uw * (double)elapsed / 1e9;
  double guess = nearbyint((expected - (double)base) / (double)u->range);
  uint64_t n = guess <= 0 ? 0 : guess >= (double)n_max ? n_max : (uint64_t)guess;
  u->ambiguous_gaps++;
  u->wraps += n;
  /* The truth is one of base + k x range, k in [0, n_max]: the farthest is the bound. */
  uint64_t far = n > n_max - n ? n : n_max - n;
  u->uncertain_uj += (double)far * (double)u->range;
  return base + n * u->range;
}

uint64_t nemb__unwrap_feed(nemb__unwrap *u, uint64_t raw, uint64_t t_ns) {
  uint64_t prev_t = u->read_t;
  u->read_t = t_ns;
  if (!u->primed) {
    u->primed = true;
    u->last = raw;
    u->last_t = u->change_from_t = t_ns;
    return 0;
  }
  /* A step is judged over the time since the reading before the last change (unwrap.h); the
   * wraps a gap may hide, over the time since the reading that showed that change (the time
   * the step can cover when the counter updates at every reading, and its update period when
   * it updates less often). */
  uint64_t since = t_ns > u->change_from_t ? t_ns - u->change_from_t : 0;
  uint64_t elapsed = t_ns > u->last_t ? t_ns - u->last_t : 0;
  uint64_t limit = nemb__unwrap_limit(u, since);
  uint64_t wrap_limit = nemb__unwrap_limit(u, elapsed);
  if (raw >= u->last && raw - u->last <= limit) {
    uint64_t d = with_hidden_wraps(u, raw - u->last, wrap_limit, elapsed);
    accept(u, raw, t_ns, prev_t, d);
    return d;
  }
  if (raw < u->last && u->range != 0 && u->last <= u->range) {
    /* Through the top: powercap's range is the counter's maximum value (units x (2^32 - 1)), so
     * one energy unit per wrap goes uncounted: about 61 uJ in 262 kJ on Intel. */
    uint64_t base = (u->range - u->last) + raw;
    bool plausible = u->max_power_uw ? base <= limit : base <= u->range / 2;
    if (plausible) {
      u->wraps++;
      uint64_t d = with_hidden_wraps(u, base, wrap_limit, elapsed);
      accept(u, raw, t_ns, prev_t, d);
      return d;
    }
  }
  if (u->max_power_uw == 0 && raw < u->last) {
    /* No ceiling to judge by: a backward step that is not a wrap is a reset, adding nothing. */
    u->resets++;
    u->last = raw;
    u->last_t = t_ns;
    u->change_from_t = prev_t;
    return 0;
  }
  /* Implausible: hold the last good reading and watch whether the new values persist. */
  bool continues = u->suspect && raw >= u->suspect_last &&
                   raw - u->suspect_last <= nemb__unwrap_limit(u, t_ns - u->suspect_last_t);
  if (!continues) {
    u->suspect = true;
    u->suspect_n = 0;
    u->suspect_first = raw;
    u->suspect_first_t = t_ns;
  }
  u->suspect_n++;
  u->suspect_last = raw;
  u->suspect_last_t = t_ns;
  u->rejected++;
  if (t_ns - u->suspect_first_t < NEMB__UNWRAP_SUSPECT_NS || u->suspect_n < 3) {
    return 0;
  }
  /* A reset: the readings carried on from the new value. Its gap (last good reading to the
   * first new one) is filled with the recent power; what came after is measured. */
  u->rejected -= u->suspect_n;
  u->resets++;
  double gap = u->recent_uw * (double)(u->suspect_first_t - u->last_t) / 1e9;
  u->uncertain_uj += gap;
  uint64_t d = (uint64_t)gap + (raw - u->suspect_first);
  accept(u, raw, t_ns, prev_t, d);
  return d;
}
