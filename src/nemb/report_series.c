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
 */
#include <stdint.h>
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
  nemb__energy_rates(md->m, md->count, a, it->w0);
}

void nemb__series_skip_to(nemb__series_iter *it, size_t stored) {
  if (it->phase == 1 && stored > it->next) {
    it->next = stored;
  }
}

bool nemb__series_next(nemb__series_iter *it, nemb__series_point *p) {
  const nemb__report_model *md = it->md;
  uint64_t at;
  p->stored = SIZE_MAX;
  if (it->phase == 0) {
    at = it->a;
    it->phase = 1;
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
  for (size_t d = 0; d < md->nd; d++) {
    double e = p->cur_uj[d] - md->base_uj[d];
    double pw = it->n == 0 ? it->w0[d] : dt_ns > 0 ? (p->cur_uj[d] - it->prev[d]) / dt_ns * 1e3 : 0;
    p->dj[d] = e / 1e6;
    p->dw[d] = pw;
    if (md->m->domains[d].in_total) {
      cum += e;
      power += pw;
    }
    it->prev[d] = p->cur_uj[d];
  }
  p->t_ns = at;
  p->cum_uj = cum;
  p->energy_j = cum / 1e6;
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
  nemb__buf_printf(b, "\"t_ns\": %llu,\n", (unsigned long long)p->t_ns);
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
