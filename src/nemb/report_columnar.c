/*
 * report_columnar.c - the columnar layout of the report's time series (issue 18), chosen by
 * measurement.report.timeseries_layout = "columnar": the session's series once, as columns, and
 * each task's series as a window into it, where the samples layout (the reference's, the
 * default) repeats every sample in every task that contains it, as one object per point.
 *
 * The session's points (the top-level "timeseries", written last in the envelope):
 *   {"t_ns": [...], "energy_j": [...], "power_w": [...],
 *    "domain_j": {"<domain>": [...], ...}, "domain_w": {"<domain>": [...], ...}}
 * are the series of the span from the session's begin to its end (report_series.c's rule: the
 * synthesised begin point, every stored sample between, the synthesised end point), widened to
 * any task that reaches outside it. Units as in a sample: t_ns CLOCK_MONOTONIC nanoseconds,
 * energy_j and domain_j joules since the session's begin, power_w and domain_w watts since the
 * point before. Each column is one line of numbers separated by "," (an hour at 1 ms is millions
 * of numbers: a line each, as JSON_INDENT would lay them out, would add a third to the size);
 * the numbers are jansson's (json_text.h), the rest is laid out as JSON_INDENT(2).
 *
 * A task's "timeseries" is
 *   {"start": point, "first": i, "count": n, "first_power": {"power_w": w, "domain_w": {...}},
 *    "end": point}
 * and its samples-layout series is, value for value: start, then the session's points first ..
 * first + count - 1 with the first one's power_w and domain_w taken from first_power (the samples
 * layout measures that point's power since the task's start, the session's columns since the
 * point before; the same power, not the same bits), then end. first_power is null when count is
 * 0; end is null for a task of zero length (its series is its start point alone). Without a meter
 * the columns are empty and a window is {"start": null, "first": 0, "count": 0,
 * "first_power": null, "end": null}, the samples layout's [].
 *
 * Writing streams: the columns are written one at a time, walking the session's series once per
 * column, and never hold more than one point.
 */
#include <stdint.h>
#include <string.h>

#include "json_text.h"
#include "report.h"

int nemb__columnar_layout(const char *name, const char *from, bool *columnar) {
  if (name[0] == '\0' || strcmp(name, "samples") == 0) {
    *columnar = false;
  } else if (strcmp(name, "columnar") == 0) {
    *columnar = true;
  } else {
    return nemb__fail(NEMB_ECONFIG,
                      "%s = \"%s\" is not a time-series layout: use samples (the default, one "
                      "object per point in every task) or columnar (the session's points once)",
                      from, name);
  }
  return 0;
}

static void text(nemb__buf *b, const char *s) {
  nemb__buf_append(b, s, strlen(s));
}

/* What a column holds: the point's time, in-total energy or power, or a domain's. */
enum column { C_T, C_ENERGY, C_POWER, C_DOM_J, C_DOM_W };

static void column(const nemb__report_model *md, nemb__buf *b, enum column c, size_t d,
                   void (*spill)(void *), void *ctx) {
  text(b, "[");
  if (md->m != NULL) {
    nemb__series_iter it;
    nemb__series_point p;
    static const nemb__series_want want[] = {NEMB__SERIES_TIME, NEMB__SERIES_ENERGY,
                                             NEMB__SERIES_POWER, NEMB__SERIES_DOMAIN_J,
                                             NEMB__SERIES_DOMAIN_W};
    nemb__series_start(&it, md, md->span_a, md->span_b);
    nemb__series_only(&it, want[c], d);
    for (bool first = true; nemb__series_next(&it, &p); first = false) {
      if (!first) {
        nemb__buf_append(b, ",", 1);
      }
      switch (c) {
      case C_T:
        nemb__json_u64(b, p.t_ns);
        break;
      case C_ENERGY:
        nemb__json_real(b, p.energy_j);
        break;
      case C_POWER:
        nemb__json_real(b, p.power_w);
        break;
      case C_DOM_J:
        nemb__json_real(b, p.dj[d]);
        break;
      case C_DOM_W:
        nemb__json_real(b, p.dw[d]);
        break;
      }
      if (spill != NULL) {
        spill(ctx);
      }
    }
  }
  text(b, "]");
}

/* "<key>": {"<domain>": [...], ...} at level @p lv + 1 of the block. */
static void domain_columns(const nemb__report_model *md, nemb__buf *b, int lv, enum column c,
                           char *const *dom_key, void (*spill)(void *), void *ctx) {
  if (md->nd == 0) {
    text(b, "{}");
    return;
  }
  text(b, "{");
  for (size_t d = 0; d < md->nd; d++) {
    text(b, d ? ",\n" : "\n");
    nemb__series_indent(b, lv + 2);
    text(b, dom_key[d]);
    text(b, ": ");
    column(md, b, c, d, spill, ctx);
  }
  text(b, "\n");
  nemb__series_indent(b, lv + 1);
  text(b, "}");
}

void nemb__columnar_session(const nemb__report_model *md, nemb__buf *b, int lv,
                            char *const *dom_key, void (*spill)(void *), void *ctx) {
  static const char *const keys[] = {"t_ns", "energy_j", "power_w", "domain_j", "domain_w"};
  text(b, "{");
  for (int c = C_T; c <= C_DOM_W; c++) {
    text(b, c ? ",\n" : "\n");
    nemb__series_indent(b, lv + 1);
    text(b, "\"");
    text(b, keys[c]);
    text(b, "\": ");
    if (c <= C_POWER) {
      column(md, b, (enum column)c, 0, spill, ctx);
    } else {
      domain_columns(md, b, lv, (enum column)c, dom_key, spill, ctx);
    }
  }
  text(b, "\n");
  nemb__series_indent(b, lv);
  text(b, "}");
}

static void member(nemb__buf *b, int lv, const char *key, bool first) {
  text(b, first ? "\n" : ",\n");
  nemb__series_indent(b, lv + 1);
  text(b, "\"");
  text(b, key);
  text(b, "\": ");
}

void nemb__columnar_window(const nemb__report_model *md, const nemb__task_rec *t, nemb__buf *b,
                           int lv, char *const *dom_key) {
  if (md->m == NULL) {
    text(b, "{");
    member(b, lv, "start", true);
    text(b, "null");
    member(b, lv, "first", false);
    text(b, "0");
    member(b, lv, "count", false);
    text(b, "0");
    member(b, lv, "first_power", false);
    text(b, "null");
    member(b, lv, "end", false);
    text(b, "null");
    text(b, "\n");
    nemb__series_indent(b, lv);
    text(b, "}");
    return;
  }
  nemb__series_iter it;
  nemb__series_point start, p, end;
  nemb__series_start(&it, md, t->t_start, t->t_end);
  nemb__series_next(&it, &start);
  /* The task's inner points are the session's in (t_start, t_end): stored and filled alike. */
  size_t first = nemb__series_points_before(md, t->t_start + 1);
  size_t count = t->t_end > t->t_start ? nemb__series_points_before(md, t->t_end) - first : 0;
  bool have_end = nemb__series_next(&it, &p), have_first = false;
  nemb__series_point head = p;
  if (have_end && (p.stored != SIZE_MAX || p.filled)) {
    have_first = true;
    size_t last = nemb__series_first_at_or_after(md, t->t_end) - 1; /* < t_end: inside */
    nemb__series_skip_to(&it, last);
    have_end = nemb__series_next(&it, &p);
    while (have_end && (p.stored != SIZE_MAX || p.filled)) { /* the last inner point, the end */
      have_end = nemb__series_next(&it, &p);
    }
  }
  end = p;

  text(b, "{");
  member(b, lv, "start", true);
  nemb__series_point_text(b, lv + 1, &start, md->nd, dom_key);
  member(b, lv, "first", false);
  nemb__json_u64(b, first);
  member(b, lv, "count", false);
  nemb__json_u64(b, count);
  member(b, lv, "first_power", false);
  if (have_first) {
    text(b, "{");
    member(b, lv + 1, "power_w", true);
    nemb__json_real(b, head.power_w);
    member(b, lv + 1, "domain_w", false);
    nemb__series_domains_text(b, lv + 1, head.dw, md->nd, dom_key);
    text(b, "\n");
    nemb__series_indent(b, lv + 1);
    text(b, "}");
  } else {
    text(b, "null");
  }
  member(b, lv, "end", false);
  if (have_end) {
    nemb__series_point_text(b, lv + 1, &end, md->nd, dom_key);
  } else {
    text(b, "null");
  }
  text(b, "\n");
  nemb__series_indent(b, lv);
  text(b, "}");
}
