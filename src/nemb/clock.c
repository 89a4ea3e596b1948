/*
 * clock.c - choosing the boundary clock, calibration points and the stamp -> ns line (clock.h).
 *
 * Why the TSC only when invariant: without constant_tsc its rate follows the core's frequency,
 * and without nonstop_tsc it stops in deep C-states, so a straight line between two points would
 * not describe it. With both (every x86-64 CPU of the last decade, and the hypervisors that pass
 * them through), the kernel itself trusts it as a clocksource.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"

#define ENV_NAME "CODEGREEN_BOUNDARY_CLOCK"
#define PAIR_TRIES 5

const char *nemb__clock_kind_name(nemb__clock_kind kind) {
  return kind == NEMB__CLOCK_TSC ? "tsc" : "clock_monotonic";
}

/* Does the space-separated list [p, end) hold the word @p w? */
static bool has_word(const char *p, const char *end, const char *w) {
  size_t n = strlen(w);
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ':')) {
      p++;
    }
    const char *q = p;
    while (q < end && *q != ' ' && *q != '\t') {
      q++;
    }
    if ((size_t)(q - p) == n && memcmp(p, w, n) == 0) {
      return true;
    }
    p = q;
  }
  return false;
}

bool nemb__clock_tsc_flags(const char *cpuinfo) {
  if (cpuinfo == NULL) {
    return false;
  }
  for (const char *line = cpuinfo; *line != '\0';) {
    const char *end = strchr(line, '\n');
    if (end == NULL) {
      end = line + strlen(line);
    }
    if (strncmp(line, "flags", 5) == 0) {
      const char *colon = memchr(line, ':', (size_t)(end - line));
      return colon != NULL && has_word(colon + 1, end, "constant_tsc") &&
             has_word(colon + 1, end, "nonstop_tsc");
    }
    line = *end == '\n' ? end + 1 : end;
  }
  return false;
}

bool nemb__clock_tsc_invariant(char *why, size_t len) {
#if defined(__x86_64__)
  char path[4096];
  char *buf = malloc(16384);
  if (buf == NULL || nemb__path(path, sizeof path, "/proc/cpuinfo") != 0 ||
      nemb__read_text(path, buf, 16384) != 0) {
    free(buf);
    nemb__say(why, len,
              "clock_monotonic: /proc/cpuinfo is not readable, so the TSC's invariance "
              "is unknown");
    return false;
  }
  bool ok = nemb__clock_tsc_flags(buf);
  free(buf);
  if (ok) {
    nemb__say(why, len, "tsc: invariant (cpuinfo flags constant_tsc and nonstop_tsc)");
  } else {
    nemb__say(why, len,
              "clock_monotonic: the TSC is not known to be invariant (cpuinfo flags "
              "lack constant_tsc or nonstop_tsc)");
  }
  return ok;
#else
  nemb__say(why, len, "clock_monotonic: no TSC on this architecture");
  return false;
#endif
}

void nemb__clock_point_now(const nemb__clock *c, nemb__clock_point *p) {
  if (c->kind != NEMB__CLOCK_TSC) {
    p->ns = nemb__clock_stamp(c);
    p->stamp = p->ns;
    p->window = 0;
    return;
  }
  /* The clock read between two stamps: the pair's instant is their midpoint, known within half
   * their distance. The tightest of a few tries avoids an interrupt or a preemption between. */
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < PAIR_TRIES; i++) {
    uint64_t s0 = nemb__clock_stamp(c);
    uint64_t ns = nemb__now_ns();
    uint64_t s1 = nemb__clock_stamp(c);
    if (s1 >= s0 && s1 - s0 < best) {
      best = s1 - s0;
      p->stamp = s0 + (s1 - s0) / 2;
      p->ns = ns;
    }
  }
  if (best == UINT64_MAX) {
    p->stamp = nemb__clock_stamp(c);
    p->ns = nemb__now_ns();
    best = 0;
  }
  p->window = best;
}

void nemb__clock_line_init(nemb__clock_line *l, nemb__clock_kind kind, const nemb__clock_point *a,
                           const nemb__clock_point *b) {
  memset(l, 0, sizeof *l);
  l->kind = kind;
  l->a_stamp = a->stamp;
  l->a_ns = a->ns;
  if (kind != NEMB__CLOCK_TSC || b->stamp <= a->stamp || b->ns <= a->ns) {
    return; /* span 0: every stamp gives a.ns */
  }
  l->span = b->stamp - a->stamp;
  l->span_ns = b->ns - a->ns;
  /* span_ns / span as a 64.64 fixed-point number, rounded to nearest: once per line. */
  l->whole = l->span_ns / l->span;
  uint64_t rem = l->span_ns % l->span; /* frac = round(rem * 2^64 / span), rem < span */
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 u128;
  u128 q = (((u128)rem << 64) + l->span / 2) / l->span;
  l->frac = q >> 64 ? UINT64_MAX : (uint64_t)q;
#else
  long double q = ldexpl((long double)rem / (long double)l->span, 64);
  l->frac = q >= ldexpl(1.0L, 64) ? UINT64_MAX : (uint64_t)q;
#endif
}

uint64_t nemb__clock_convert(nemb__clock_kind kind, const nemb__clock_point *a,
                             const nemb__clock_point *b, uint64_t stamp) {
  nemb__clock_line l;
  nemb__clock_line_init(&l, kind, a, b);
  return nemb__clock_line_ns(&l, stamp);
}

uint64_t nemb__clock_to_ns(const nemb__clock *c, uint64_t stamp) {
  return nemb__clock_line_ns(&c->line, stamp);
}

uint64_t nemb__clock_error_ns(const nemb__clock *c) {
  const nemb__clock_point *a = &c->begin, *b = &c->end;
  if (c->kind != NEMB__CLOCK_TSC || b->stamp <= a->stamp || b->ns <= a->ns) {
    return 0;
  }
  uint64_t w = a->window > b->window ? a->window : b->window;
  return (uint64_t)llroundl((long double)w / 2 * (long double)(b->ns - a->ns) /
                            (long double)(b->stamp - a->stamp));
}

double nemb__clock_tsc_hz(const nemb__clock *c) {
  const nemb__clock_point *a = &c->begin, *b = &c->end;
  if (c->kind != NEMB__CLOCK_TSC || b->stamp <= a->stamp || b->ns <= a->ns) {
    return 0;
  }
  return (double)(b->stamp - a->stamp) * 1e9 / (double)(b->ns - a->ns);
}

int nemb__clock_init(nemb__clock *c, const char *want) {
  memset(c, 0, sizeof *c);
  const char *env = getenv(ENV_NAME);
  const char *from = "measurement.boundary_clock";
  if (env != NULL && env[0] != '\0') {
    want = env;
    from = ENV_NAME;
  }
  if (want != NULL && want[0] != '\0' && strcmp(want, "auto") != 0 &&
      strcmp(want, "clock_monotonic") != 0) {
    return nemb__fail(NEMB_ECONFIG,
                      "%s = \"%s\" is not a boundary clock: use auto or "
                      "clock_monotonic",
                      from, want);
  }
  if (want != NULL && strcmp(want, "clock_monotonic") == 0) {
    c->kind = NEMB__CLOCK_MONOTONIC;
    nemb__say(c->why, sizeof c->why, "clock_monotonic: asked for by %s", from);
  } else {
    c->kind =
        nemb__clock_tsc_invariant(c->why, sizeof c->why) ? NEMB__CLOCK_TSC : NEMB__CLOCK_MONOTONIC;
  }
  nemb__clock_point_now(c, &c->begin);
  return 0;
}

void nemb__clock_finish(nemb__clock *c) {
  nemb__clock_point_now(c, &c->end);
  nemb__clock_line_init(&c->line, c->kind, &c->begin, &c->end);
}
