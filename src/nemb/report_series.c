/*
 * report_series.c - which points a span's time series holds and what each says (report.h): the
 * one rule that both layouts of the report (each task's samples, or the session's columns with
 * windows) and the series' noise statistics follow, and a point's text.
 *
 * The rule that makes a task's series reproduce its energy_j: the series holds a point at the
 * task's start and one at its end (interpolated on the counters' update-aligned energy curve,
 * energy.c), with every stored sample strictly between them. energy_j of a point is the in-total
 * energy since the session began, so the last point's minus the first's is the task's energy_j
 * exactly; power_w of a point is the mean power since the point before it (the first point's: of
 * the stored interval that contains the task's start), so the sum of power_w x the time since the
 * previous point is energy_j, and the trapezoidal rule over (t_ns, power_w) approximates it.
 *
 * Filled points: the trapezoidal rule errs at each change of power by half the change times the
 * difference of the intervals around it, so one long stored interval (a sampler thread that woke
 * late on a busy machine: 16-36 ms between samples were seen at 1 ms) weighs that many times more
 * than the rest (a task's trapezoid was 0.2-0.5 % off its energy_j at 1 s). A stored interval
 * longer than 1.5 times the fill spacing (the store's effective resolution: the sampling interval
 * x 2^coarsened) therefore holds evenly spaced points, round(interval / spacing) - 1 of them, on
 * the straight line between its two samples, which is all the counters say about it (the power
 * stays the interval's mean). They depend on the stored interval alone, not on the span, so a
 * task's series and the session's columns hold the same ones; the series' noise statistics
 * (samples_captured, power CV) leave them out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "report.h"

size_t nemb__series_first_at_or_after(const nemb__report_model *md, uint64_t t) {
  size_t lo = 0, hi = md->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (nemb__store_at(&md->m->store, mid)[0] < t) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

static uint64_t stored_t(const nemb__report_model *md, size_t i) {
  return nemb__store_at(&md->m->store, i)[0];
}

/* The pieces the series splits the stored interval ending at sample @p j into (1: none). */
static uint64_t fill_pieces(const nemb__report_model *md, size_t j) {
  if (md->fill_ns == 0 || j == 0 || j >= md->count) {
    return 1;
  }
  uint64_t len = stored_t(md, j) - stored_t(md, j - 1);
  uint64_t n = (len + md->fill_ns / 2) / md->fill_ns;
  return n >= 2 ? n : 1;
}

/* The time of filled point @p k (0 < k < n) of the @p n pieces of the interval ending at @p j:
 * k x len / n exactly, in integers (len x k alone may not fit 64 bits for an hour's gap). */
static uint64_t fill_t(const nemb__report_model *md, size_t j, uint64_t k, uint64_t n) {
  uint64_t t0 = stored_t(md, j - 1), len = stored_t(md, j) - t0;
  return t0 + k * (len / n) + k * (len % n) / n;
}

/* How many filled points of the interval ending at @p j lie before @p t. */
static uint64_t fill_before(const nemb__report_model *md, size_t j, uint64_t t) {
  uint64_t n = fill_pieces(md, j);
  if (n < 2 || t <= stored_t(md, j - 1)) {
    return 0;
  }
  uint64_t len = stored_t(md, j) - stored_t(md, j - 1);
  uint64_t k = (uint64_t)((double)(t - stored_t(md, j - 1)) / (double)len * (double)n);
  k = k < n ? k : n - 1;
  while (k > 0 && fill_t(md, j, k, n) >= t) {
    k--;
  }
  while (k + 1 < n && fill_t(md, j, k + 1, n) < t) {
    k++;
  }
  return k; /* points 1..k */
}

int nemb__series_fill_build(nemb__report_model *md) {
  md->fill_ns = 0;
  md->n_filled = 0;
  if (md->m == NULL || md->count < 2) {
    return 0;
  }
  unsigned c = nemb__store_coarsened(&md->m->store);
  md->fill_ns = (uint64_t)nemb_measurement_interval_ms(md->m) * 1000000u << (c < 20 ? c : 20);
  size_t n = 0;
  for (size_t j = 1; j < md->count; j++) {
    n += fill_pieces(md, j) > 1;
  }
  if (n == 0) {
    return 0;
  }
  md->filled_at = malloc(n * sizeof *md->filled_at);
  md->filled_cum = malloc(n * sizeof *md->filled_cum);
  if (md->filled_at == NULL || md->filled_cum == NULL) {
    nemb__series_fill_release(md);
    return NEMB_ENOMEM;
  }
  size_t cum = 0;
  for (size_t j = 1; j < md->count; j++) {
    uint64_t pieces = fill_pieces(md, j);
    if (pieces > 1) {
      cum += (size_t)(pieces - 1);
      md->filled_at[md->n_filled] = j;
      md->filled_cum[md->n_filled++] = cum;
    }
  }
  return 0;
}

void nemb__series_fill_release(nemb__report_model *md) {
  free(md->filled_at);
  free(md->filled_cum);
  md->filled_at = md->filled_cum = NULL;
  md->n_filled = 0;
}

/* Filled points of the whole store before @p t. */
static size_t fills_before(const nemb__report_model *md, uint64_t t) {
  size_t j = nemb__series_first_at_or_after(md, t); /* the interval holding t ends at j */
  size_t lo = 0, hi = md->n_filled;                 /* the filled intervals ending before j */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (md->filled_at[mid] < j) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  size_t whole = lo ? md->filled_cum[lo - 1] : 0;
  return whole + (j > 0 && j < md->count ? (size_t)fill_before(md, j, t) : 0);
}

size_t nemb__series_points_before(const nemb__report_model *md, uint64_t t) {
  if (t <= md->span_a) {
    return 0;
  }
  /* The begin point, the stored samples after it, the filled points after it. */
  return 1 + (nemb__series_first_at_or_after(md, t) - md->span_first) +
         (fills_before(md, t) - fills_before(md, md->span_a + 1));
}

void nemb__series_start(nemb__series_iter *it, const nemb__report_model *md, uint64_t a,
                        uint64_t b) {
  memset(it, 0, sizeof *it);
  it->md = md;
  it->a = a;
  it->b = b;
  it->next = nemb__series_first_at_or_after(md, a);
  if (it->next < md->count && nemb__store_at(&md->m->store, it->next)[0] == a) {
    it->next++; /* that sample is the start point itself */
  }
  it->fill_for = SIZE_MAX;
  /* The first filled interval that can end at the next stored sample or after it. */
  size_t lo = 0, hi = md->n_filled;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (md->filled_at[mid] < it->next) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  it->fill_at = lo;
  nemb__series_only(it, NEMB__SERIES_ALL, 0);
  nemb__energy_rates(md->m, md->count, a, it->w0);
}

void nemb__series_only(nemb__series_iter *it, nemb__series_want what, size_t d) {
  const nemb__report_model *md = it->md;
  uint64_t all = md->nd >= 64 ? UINT64_MAX : ((uint64_t)1 << md->nd) - 1, total = 0;
  for (size_t i = 0; i < md->nd; i++) {
    total |= md->m->domains[i].in_total ? (uint64_t)1 << i : 0;
  }
  uint64_t one = d < md->nd ? (uint64_t)1 << d : 0;
  it->want = what;
  it->need_e = what == NEMB__SERIES_ALL        ? all
               : what == NEMB__SERIES_ENERGY   ? total
               : what == NEMB__SERIES_DOMAIN_J ? one
                                               : 0;
  it->need_w = what == NEMB__SERIES_ALL        ? all
               : what == NEMB__SERIES_POWER    ? total
               : what == NEMB__SERIES_DOMAIN_W ? one
                                               : 0;
}

void nemb__series_skip_to(nemb__series_iter *it, size_t stored) {
  if (it->phase == 1 && stored > it->next) {
    it->next = stored;
    it->fill_for = stored; /* the interval before it is skipped with the rest */
    it->fill_k = it->fill_n = 0;
  }
}

/* The next filled point of the interval ending at the next stored sample that lies after the
 * last point given and before b, into @p at. */
static bool next_fill(nemb__series_iter *it, uint64_t *at) {
  const nemb__report_model *md = it->md;
  size_t j = it->next;
  if (md->fill_ns == 0 || j == 0 || j >= md->count) {
    return false;
  }
  if (it->fill_for != j) {
    it->fill_for = j;
    /* Most intervals are not filled: the table says so without fill_pieces()' divisions (the
     * columns walk every stored sample once per column). */
    while (it->fill_at < md->n_filled && md->filled_at[it->fill_at] < j) {
      it->fill_at++;
    }
    if (it->fill_at == md->n_filled || md->filled_at[it->fill_at] != j) {
      it->fill_k = it->fill_n = 1;
      return false;
    }
    it->fill_n = fill_pieces(md, j);
    it->fill_k = 1 + fill_before(md, j, it->prev_t + 1); /* those up to the last point: given */
  }
  if (it->fill_k >= it->fill_n) {
    return false;
  }
  uint64_t t = fill_t(md, j, it->fill_k, it->fill_n);
  if (t >= it->b) {
    it->fill_k = it->fill_n;
    return false;
  }
  it->fill_k++;
  *at = t;
  return true;
}

bool nemb__series_next(nemb__series_iter *it, nemb__series_point *p) {
  const nemb__report_model *md = it->md;
  uint64_t at;
  p->stored = SIZE_MAX;
  p->filled = false;
  if (it->phase == 0) {
    at = it->a;
    it->phase = 1;
  } else if (it->phase == 1 && next_fill(it, &at)) {
    p->filled = true;
  } else if (it->phase == 1 && it->next < md->count &&
             nemb__store_at(&md->m->store, it->next)[0] < it->b) {
    p->stored = it->next++;
    at = nemb__store_at(&md->m->store, p->stored)[0];
  } else if (it->phase <= 2 && it->b > it->a) {
    at = it->b;
    it->phase = 3;
  } else {
    it->phase = 3;
    return false;
  }
  const uint64_t *row = p->stored != SIZE_MAX ? nemb__store_at(&md->m->store, p->stored) : NULL;
  if (row != NULL &&
      (p->stored + 1 >= md->count || nemb__store_at(&md->m->store, p->stored + 1)[0] > at)) {
    /* A stored sample is its own value: what nemb__energy_at() gives there (the curve at a
     * sample with no other sample at the same instant), read without the lock and the search,
     * since the columns walk every sample once per column. */
    for (size_t d = 0; d < md->nd; d++) {
      p->cur_uj[d] = (double)row[1 + d];
    }
    it->hint = p->stored;
  } else {
    nemb__energy_at(md->m, md->count, at, p->cur_uj, &it->hint);
  }
  double dt_ns = it->n > 0 ? (double)(at - it->prev_t) : 0;
  double cum = 0, power = 0;
  bool dj = it->want == NEMB__SERIES_ALL || it->want == NEMB__SERIES_DOMAIN_J;
  for (size_t d = 0; d < md->nd; d++) {
    uint64_t bit = (uint64_t)1 << d;
    bool total = md->m->domains[d].in_total;
    if (it->need_e & bit) {
      double e = p->cur_uj[d] - md->base_uj[d];
      if (dj) {
        p->dj[d] = e / 1e6;
      }
      if (total) {
        cum += e;
      }
    }
    if (it->need_w & bit) {
      double pw = it->n == 0  ? it->w0[d]
                  : dt_ns > 0 ? (p->cur_uj[d] - it->prev[d]) / dt_ns * 1e3
                              : 0;
      p->dw[d] = pw;
      if (total) {
        power += pw;
      }
    }
    it->prev[d] = p->cur_uj[d];
  }
  p->t_ns = at;
  p->cum_uj = cum;
  if (it->want == NEMB__SERIES_ALL || it->want == NEMB__SERIES_ENERGY) {
    p->energy_j = cum / 1e6;
  }
  p->power_w = power;
  it->n++;
  it->prev_t = at;
  return true;
}

void nemb__series_indent(nemb__buf *b, int level) {
  static const char spaces[] = "                                ";
  for (int i = 0; i < level; i += 16) {
    int n = level - i < 16 ? level - i : 16;
    nemb__buf_append(b, spaces, (size_t)n * 2);
  }
}

static void text(nemb__buf *b, const char *s) {
  nemb__buf_append(b, s, strlen(s));
}

void nemb__series_domains_text(nemb__buf *b, int lv, const double *v, size_t nd,
                               char *const *dom_key) {
  if (nd == 0) {
    text(b, "{}");
    return;
  }
  text(b, "{");
  for (size_t d = 0; d < nd; d++) {
    text(b, d ? ",\n" : "\n");
    nemb__series_indent(b, lv + 2);
    text(b, dom_key[d]);
    text(b, ": ");
    nemb__json_real(b, v[d]);
  }
  text(b, "\n");
  nemb__series_indent(b, lv + 1);
  text(b, "}");
}

/* The same characters emit() in report.c would give for the object built with jansson
 * (JSON_INDENT(2), reals at 17 digits), without building it: an hour's series is millions of
 * points. */
void nemb__series_point_text(nemb__buf *b, int lv, const nemb__series_point *p, size_t nd,
                             char *const *dom_key) {
  text(b, "{\n");
  nemb__series_indent(b, lv + 1);
  text(b, "\"t_ns\": ");
  nemb__json_u64(b, p->t_ns);
  text(b, ",\n");
  nemb__series_indent(b, lv + 1);
  text(b, "\"energy_j\": ");
  nemb__json_real(b, p->energy_j);
  text(b, ",\n");
  nemb__series_indent(b, lv + 1);
  text(b, "\"power_w\": ");
  nemb__json_real(b, p->power_w);
  text(b, ",\n");
  nemb__series_indent(b, lv + 1);
  text(b, "\"domain_j\": ");
  nemb__series_domains_text(b, lv, p->dj, nd, dom_key);
  text(b, ",\n");
  nemb__series_indent(b, lv + 1);
  text(b, "\"domain_w\": ");
  nemb__series_domains_text(b, lv, p->dw, nd, dom_key);
  text(b, "\n");
  nemb__series_indent(b, lv);
  text(b, "}");
}
