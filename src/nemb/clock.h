/*
 * clock.h - the timestamps of the recording hot path (task start/stop, checkpoint enter/exit).
 *
 * A boundary records a "stamp", not nanoseconds: on x86-64 with an invariant TSC (cpuinfo's flags
 * constant_tsc and nonstop_tsc: the counter ticks at one rate in every P- and C-state and on every
 * core) the stamp is the raw TSC (rdtsc, a few ns, no system call, no vDSO page); anywhere else, or
 * when asked (CODEGREEN_BOUNDARY_CLOCK=clock_monotonic, or measurement.boundary_clock in
 * config.json), it is CLOCK_MONOTONIC in nanoseconds itself.
 *
 * Stamps become CLOCK_MONOTONIC nanoseconds away from the hot path, by the straight line through
 * two calibration points, each a (stamp, ns) pair read back to back: the session's begin and
 * either its end (the report) or a point taken just then (checkpoint resolution while the session
 * runs). An instant between the two points is interpolated, never extrapolated, so its error is
 * about the reading error of a point (the half-width of the window in which the pair was read,
 * tens of ns), whatever the session's length; the report's meta.boundary_clock states it.
 *
 * Thread safety: a nemb__clock is written once, at session begin (and its end point at the end,
 * after every recording thread has left); nemb__clock_stamp() and the conversions only read it,
 * from any thread. Nothing here allocates.
 */
#ifndef NEMB_CLOCK_H
#define NEMB_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

typedef enum nemb__clock_kind {
  NEMB__CLOCK_MONOTONIC = 0, /* stamps are CLOCK_MONOTONIC ns */
  NEMB__CLOCK_TSC = 1        /* stamps are invariant-TSC ticks */
} nemb__clock_kind;

/* A stamp and the CLOCK_MONOTONIC ns of the same instant, and how closely they were paired. */
typedef struct nemb__clock_point {
  uint64_t stamp;
  uint64_t ns;
  uint64_t window; /* the pair was read within +- window / 2, in stamp units (0: exact) */
} nemb__clock_point;

/*
 * The stamp -> ns line through two points, with its slope worked out once (nemb__clock_line_init)
 * so that converting a stamp (nemb__clock_line_ns) costs two integer multiplications: no
 * division, no floating point. The slope is held as ns per tick = whole + frac / 2^64, rounded
 * to the nearest 2^-64, so over 2^50 ticks (about 4 days at 3 GHz) a conversion is off by less
 * than 2^-13 ns before its rounding to the nearest ns.
 */
typedef struct nemb__clock_line {
  uint64_t a_stamp, a_ns; /* the first point */
  uint64_t span;          /* ticks from the first point to the second; 0: degenerate or ns */
  uint64_t span_ns;       /* ns between the points */
  uint64_t whole, frac;   /* the slope, ns per tick: whole + frac / 2^64 */
  nemb__clock_kind kind;
} nemb__clock_line;

typedef struct nemb__clock {
  nemb__clock_kind kind;
  nemb__clock_point begin; /* taken by nemb__clock_init() */
  nemb__clock_point end;   /* taken by nemb__clock_finish(); stamp 0 until then */
  nemb__clock_line line;   /* through begin and end, set by nemb__clock_finish() */
  char why[160];           /* why this kind, in words, for meta.boundary_clock */
} nemb__clock;

/* The stamp of now, per @p c's kind. The hot path: one rdtsc, or one clock_gettime. */
static inline uint64_t nemb__clock_stamp(const nemb__clock *c) {
#if defined(__x86_64__)
  if (c->kind == NEMB__CLOCK_TSC) {
    return __rdtsc();
  }
#endif
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Chooses the kind and takes the begin point. @p want is "auto" (or NULL or ""): the TSC when it
 * is invariant here (nemb__clock_tsc_invariant), else CLOCK_MONOTONIC; or "clock_monotonic". The
 * environment variable CODEGREEN_BOUNDARY_CLOCK, when set and not empty, overrides @p want.
 * Returns 0, or NEMB_ECONFIG (with nemb_last_error() naming the value) for any other value.
 */
int nemb__clock_init(nemb__clock *c, const char *want);

/* Takes the end point: conversions after it use (begin, end). */
void nemb__clock_finish(nemb__clock *c);

/* A calibration point now (the best of a few back-to-back pairs, for the TSC). */
void nemb__clock_point_now(const nemb__clock *c, nemb__clock_point *p);

/* The line through @p a and @p b (b later than a) for stamps of @p kind. Pure. */
void nemb__clock_line_init(nemb__clock_line *l, nemb__clock_kind kind, const nemb__clock_point *a,
                           const nemb__clock_point *b);

/* round(@p d * @p frac / 2^64): the fractional part of a slope applied to @p d ticks. */
static inline uint64_t nemb__clock_mul_frac(uint64_t d, uint64_t frac) {
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 u128;
  return (uint64_t)(((u128)d * frac + ((u128)1 << 63)) >> 64);
#else
  uint64_t dl = d & 0xffffffffu, dh = d >> 32, fl = frac & 0xffffffffu, fh = frac >> 32;
  uint64_t ll = dl * fl, lh = dl * fh, hl = dh * fl, hh = dh * fh;
  uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu) + (1u << 31);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
}

/*
 * CLOCK_MONOTONIC ns of @p stamp on line @p l, rounded to the nearest ns and clamped to
 * [a.ns, b.ns] when the stamp lies outside [a.stamp, b.stamp]; a degenerate line (no ticks or no
 * ns between its points) gives a.ns. For CLOCK_MONOTONIC stamps, the stamp itself. Pure; the one
 * rule every stamp conversion goes through.
 */
static inline uint64_t nemb__clock_line_ns(const nemb__clock_line *l, uint64_t stamp) {
  if (l->kind != NEMB__CLOCK_TSC) {
    return stamp;
  }
  if (stamp <= l->a_stamp || l->span == 0) {
    return l->a_ns;
  }
  uint64_t d = stamp - l->a_stamp;
  if (d >= l->span) {
    return l->a_ns + l->span_ns;
  }
  return l->a_ns + d * l->whole + nemb__clock_mul_frac(d, l->frac);
}

/* nemb__clock_line_ns() on the line through @p a and @p b (b later than a). Pure. */
uint64_t nemb__clock_convert(nemb__clock_kind kind, const nemb__clock_point *a,
                             const nemb__clock_point *b, uint64_t stamp);

/* nemb__clock_convert() through the begin and end points (after nemb__clock_finish()). */
uint64_t nemb__clock_to_ns(const nemb__clock *c, uint64_t stamp);

/*
 * Whether /proc/cpuinfo text @p cpuinfo (its first "flags" line) names both constant_tsc and
 * nonstop_tsc. Pure; false for NULL.
 */
bool nemb__clock_tsc_flags(const char *cpuinfo);

/*
 * Whether this process may use the TSC as its boundary clock: x86-64, and the flags of
 * /proc/cpuinfo (under CODEGREEN_SYSFS_ROOT) say it is invariant. @p why receives the reason
 * either way.
 */
bool nemb__clock_tsc_invariant(char *why, size_t len);

/* After nemb__clock_finish(): the half-width in ns of the wider calibration window, which bounds
 * a converted instant's error (0 for CLOCK_MONOTONIC); and the TSC's measured rate in Hz (0 for
 * CLOCK_MONOTONIC). */
uint64_t nemb__clock_error_ns(const nemb__clock *c);
double nemb__clock_tsc_hz(const nemb__clock *c);

/* The name of @p kind as the report writes it: "tsc" or "clock_monotonic". */
const char *nemb__clock_kind_name(nemb__clock_kind kind);

#endif /* NEMB_CLOCK_H */
