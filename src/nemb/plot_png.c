/*
 * plot_png.c - the plot as a static 1200 x 700 PNG drawn with cairo: title and provenance, a
 * strip naming each task above the chart, the tasks' windows shaded, power against time with
 * ticks, grid and units, and a legend.
 *
 * Drawing reduces the series to one value per pixel column: the column's energy over its known
 * time (so a column's height is its true average power), and for the total also the lowest and
 * highest power of the intervals inside it, drawn as a light band where they differ, so peaks
 * that the averaging hides stay visible however long the session.
 *
 * cairo is loaded when the first plot is drawn (cairo_lib.h says why); every cairo call goes
 * through its table, nemb__cairo.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairo_lib.h"
#include "plot.h"

#define WIDTH 1200
#define HEIGHT 700
#define FONT "DejaVu Sans"
#define STRIP_ROW 22.0
#define MAX_ROWS 4

typedef struct frame {
  double left, right, top, bottom; /* the plotting area */
  double xmax, ymax;               /* the axes run over [0, xmax] s and [0, ymax] W */
  double ystep;                    /* between y ticks */
  int rows;                        /* task strip rows (depths shown) */
} frame;

static void rgb(cairo_t *cr, uint32_t c, double alpha) {
  nemb__cairo.set_source_rgba(cr, (double)((c >> 16) & 0xff) / 255, (double)((c >> 8) & 0xff) / 255,
                              (double)(c & 0xff) / 255, alpha);
}

static void font(cairo_t *cr, double size, bool bold) {
  nemb__cairo.select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  nemb__cairo.set_font_size(cr, size);
}

/* A copy of @p s that is valid UTF-8 (other bytes become '?'), at most @p max bytes of text. */
static void clean_utf8(const char *s, char *out, size_t max) {
  size_t n = strlen(s), o = 0;
  for (size_t i = 0; i < n && o + 4 < max;) {
    size_t len = nemb__plot_utf8_len((const unsigned char *)s + i, n - i);
    if (len == 0 || (unsigned char)s[i] < 0x20) {
      out[o++] = '?';
      i++;
    } else {
      memcpy(out + o, s + i, len);
      o += len;
      i += len;
    }
  }
  out[o] = '\0';
}

static double text_width(cairo_t *cr, const char *s) {
  cairo_text_extents_t e;
  nemb__cairo.text_extents(cr, s, &e);
  return e.x_advance;
}

/* Shortens @p s (valid UTF-8) in place with an ellipsis until it fits @p width; "" if nothing
 * does. */
static void fit(cairo_t *cr, char *s, double width) {
  if (text_width(cr, s) <= width) {
    return;
  }
  size_t n = strlen(s);
  char tmp[512];
  while (n > 0) {
    n--;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
      n--; /* not inside a UTF-8 sequence */
    }
    snprintf(tmp, sizeof tmp, "%.*s\xe2\x80\xa6", (int)n, s);
    if (text_width(cr, tmp) <= width) {
      snprintf(s, 512, "%s", tmp);
      return;
    }
  }
  s[0] = '\0';
}

static void show(cairo_t *cr, double x, double y, const char *s) {
  nemb__cairo.move_to(cr, x, y);
  nemb__cairo.show_text(cr, s);
}

/* A 1-2-5 step giving about @p want ticks over [0, range]. */
static double nice_step(double range, int want) {
  double raw = range / want;
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static int decimals_for(double step) {
  int d = (int)ceil(-log10(step) - 1e-9);
  return d < 0 ? 0 : d > 9 ? 9 : d;
}

static void format_energy(char *out, size_t len, double j) {
  double a = fabs(j);
  if (!isfinite(j)) {
    snprintf(out, len, "? J");
  } else {
    snprintf(out, len, "%.*f J", a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : a >= 1 ? 3 : 4, j);
  }
}

/* ----- the series, one value per pixel column ----- */

typedef struct columns {
  size_t n;
  double *avg;     /* n x (1 + nd): total, then each domain; NAN where nothing is known */
  double *lo, *hi; /* n: the total's range inside the column */
} columns;

static int reduce(const nemb__plot *p, const frame *f, columns *c) {
  size_t stride = 1 + p->nd;
  c->n = (size_t)(f->right - f->left);
  c->avg = calloc(c->n * stride, sizeof *c->avg);
  c->lo = malloc(c->n * sizeof *c->lo);
  c->hi = malloc(c->n * sizeof *c->hi);
  double *known = calloc(c->n, sizeof *known);
  if (c->avg == NULL || c->lo == NULL || c->hi == NULL || known == NULL) {
    free(known);
    return NEMB_ENOMEM;
  }
  for (size_t k = 0; k < c->n; k++) {
    c->lo[k] = INFINITY;
    c->hi[k] = -INFINITY;
  }
  double ns_per_col = f->xmax * 1e9 / (double)c->n;
  size_t col = 0;
  for (size_t i = 1; i < p->n; i++) {
    double tot = p->total_w[i];
    if (isnan(tot)) {
      continue;
    }
    double a = (double)p->t[i - 1], b = (double)p->t[i];
    const double *w = p->w + i * p->nd;
    double lo = p->resampled ? p->min_w[i] : tot, hi = p->resampled ? p->max_w[i] : tot;
    while (col > 0 && (double)col * ns_per_col > a) {
      col--;
    }
    for (; col < c->n; col++) {
      double c0 = (double)col * ns_per_col, c1 = c0 + ns_per_col;
      double ov = fmin(b, c1) - fmax(a, c0);
      if (ov > 0) {
        double *row = c->avg + col * stride;
        row[0] += tot * ov;
        for (size_t d = 0; d < p->nd; d++) {
          row[1 + d] += w[d] * ov;
        }
        known[col] += ov;
        c->lo[col] = fmin(c->lo[col], lo);
        c->hi[col] = fmax(c->hi[col], hi);
      }
      if (c1 >= b) {
        break;
      }
    }
  }
  for (size_t k = 0; k < c->n; k++) {
    for (size_t s = 0; s < stride; s++) {
      c->avg[k * stride + s] = known[k] > 0 ? c->avg[k * stride + s] / known[k] : NAN;
    }
  }
  free(known);
  return 0;
}

static void columns_free(columns *c) {
  free(c->avg);
  free(c->lo);
  free(c->hi);
}

static double ypos(const frame *f, double w) {
  return f->bottom - w / f->ymax * (f->bottom - f->top);
}

static double xpos(const frame *f, double secs) {
  return f->left + secs / f->xmax * (f->right - f->left);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* 1.5 x the 99.5th percentile of @p v[0..n) when there are 50 values or more and the highest is
 * over twice that, else the highest (0 for none); sorts @p v. */
static double ordinary_top(double *v, size_t n) {
  if (n == 0) {
    return 0;
  }
  qsort(v, n, sizeof *v, cmp_double);
  double q = v[(size_t)floor(0.995 * (double)(n - 1))], highest = v[n - 1];
  return n >= 50 && q > 0 && highest > 2 * q ? 1.5 * q : highest;
}

int nemb__plot_y_axis(const double *total, const double *band_hi, size_t n, double lines_max,
                      nemb__plot_yaxis *out) {
  *out = (nemb__plot_yaxis){0, 0, 0};
  double *v = malloc((n ? n : 1) * sizeof *v);
  if (v == NULL) {
    return NEMB_ENOMEM;
  }
  size_t m = 0;
  double band_max = 0;
  for (size_t k = 0; k < n; k++) {
    if (isfinite(band_hi[k])) {
      v[m++] = band_hi[k];
      band_max = fmax(band_max, band_hi[k]);
    }
  }
  double band_top = ordinary_top(v, m);
  m = 0;
  for (size_t k = 0; k < n; k++) {
    if (isfinite(total[k])) {
      v[m++] = total[k];
    }
  }
  double highest = 0;
  for (size_t k = 0; k < m; k++) {
    highest = fmax(highest, v[k]);
  }
  double line_top = ordinary_top(v, m);
  free(v);
  if (line_top < highest && fmax(line_top, band_top) < highest) {
    /* A few totals tower over the rest: the axis stops at the ordinary top. */
    out->top = fmax(line_top, band_top);
    for (size_t k = 0; k < n; k++) {
      out->n_above += isfinite(total[k]) && total[k] > out->top;
    }
    out->max = highest;
    return 0;
  }
  double top = fmax(lines_max, band_top);
  out->top = top > 0 ? top * 1.08 : 1;
  out->max = band_max > out->top * 1.02 ? band_max : 0;
  return 0;
}

static void draw_clip_note(cairo_t *cr, const frame *f, const nemb__plot_yaxis *cl) {
  char text[160];
  if (cl->n_above > 0) {
    snprintf(text, sizeof text, "\xe2\x96\xb2 %zu value%s above the axis, up to %.1f W",
             cl->n_above, cl->n_above == 1 ? "" : "s", cl->max);
  } else if (cl->max > 0) {
    snprintf(text, sizeof text, "\xe2\x96\xb2 the band of highest values reaches %.1f W", cl->max);
  } else {
    return;
  }
  font(cr, 12, false);
  rgb(cr, 0xffffff, 0.85);
  nemb__cairo.rectangle(cr, f->left + 8, f->top + 8, text_width(cr, text) + 12, 20);
  nemb__cairo.fill(cr);
  rgb(cr, 0x333333, 1);
  show(cr, f->left + 14, f->top + 22, text);
}

/* ----- the pieces of the picture ----- */

static void draw_title(cairo_t *cr, const nemb__plot *p) {
  char text[512], num[64];
  const char *prov = nemb__plot_provenance(p);
  double prov_w = 0;
  if (prov != NULL) {
    font(cr, 14, true);
    prov_w = text_width(cr, prov) + 20;
    bool est = p->energy_source != NULL && strcmp(p->energy_source, "estimated") == 0;
    rgb(cr, est ? 0xc62828 : 0x8a6d00, 1);
    nemb__cairo.rectangle(cr, WIDTH - 24 - prov_w, 14, prov_w, 26);
    nemb__cairo.fill(cr);
    rgb(cr, 0xffffff, 1);
    show(cr, WIDTH - 24 - prov_w + 10, 32, prov);
  }
  font(cr, 20, true);
  rgb(cr, 0x111111, 1);
  clean_utf8(p->title, text, sizeof text);
  fit(cr, text, WIDTH - 48 - prov_w - 16);
  show(cr, 24, 34, text);

  size_t top = nemb__plot_top_level_tasks(p);
  format_energy(num, sizeof num, p->energy_j);
  int n =
      snprintf(text, sizeof text, "energy source: %s  \xc2\xb7  %s in %zu top-level task%s",
               p->energy_source ? p->energy_source : "not stated", num, top, top == 1 ? "" : "s");
  if (isfinite(p->session_energy_j) && n > 0 && (size_t)n < sizeof text) {
    format_energy(num, sizeof num, p->session_energy_j);
    n += snprintf(text + n, sizeof text - (size_t)n, "  \xc2\xb7  session %s", num);
  }
  if (n > 0 && (size_t)n < sizeof text) {
    n += snprintf(text + n, sizeof text - (size_t)n, " over %.3f s", (double)p->span_ns / 1e9);
  }
  if (isfinite(p->interval_ms) && n > 0 && (size_t)n < sizeof text) {
    n += snprintf(text + n, sizeof text - (size_t)n, "  \xc2\xb7  sampled every %g ms",
                  p->interval_ms);
  }
  if (p->quality != NULL && strcmp(p->quality, "ok") != 0 && n > 0 && (size_t)n < sizeof text) {
    snprintf(text + n, sizeof text - (size_t)n, "  \xc2\xb7  quality: %s", p->quality);
  }
  font(cr, 13, false);
  rgb(cr, 0x444444, 1);
  char clean[512];
  clean_utf8(text, clean, sizeof clean);
  fit(cr, clean, WIDTH - 48);
  show(cr, 24, 58, clean);
}

static void draw_tasks(cairo_t *cr, const nemb__plot *p, const frame *f) {
  /* Windows, shaded under everything else. */
  size_t group = 0;
  for (size_t i = 0; i < p->n_tasks; i++) {
    const nemb__plot_task *t = &p->tasks[i];
    if (t->depth == 0) {
      group = i;
    }
    double x0 = xpos(f, (double)t->t0 / 1e9), x1 = xpos(f, (double)t->t1 / 1e9);
    uint32_t color = nemb__plot_task_color(t->depth == 0 ? i : group);
    rgb(cr, color, t->depth == 0 ? 0.16 : 0.07);
    nemb__cairo.rectangle(cr, x0, f->top, fmax(x1 - x0, 1), f->bottom - f->top);
    nemb__cairo.fill(cr);
    rgb(cr, color, 0.7);
    nemb__cairo.rectangle(cr, x0, f->top, 1, f->bottom - f->top);
    nemb__cairo.rectangle(cr, x1 - 1, f->top, 1, f->bottom - f->top);
    nemb__cairo.fill(cr);

    /* The strip above the chart: a bar per task, a row per depth, named with its energy. */
    if (t->depth >= (uint32_t)f->rows || x1 - x0 < 2) {
      continue;
    }
    double y = f->top - (f->rows - (int)t->depth) * STRIP_ROW - 4;
    rgb(cr, color, t->depth == 0 ? 0.9 : 0.65);
    nemb__cairo.rectangle(cr, x0, y + 2, x1 - x0, STRIP_ROW - 3);
    nemb__cairo.fill(cr);
    char name[512], label[600], num[64];
    clean_utf8(t->name, name, sizeof name);
    format_energy(num, sizeof num, t->energy_j);
    snprintf(label, sizeof label, "%s \xc2\xb7 %s", name, num);
    font(cr, 12, true);
    if (text_width(cr, label) > x1 - x0 - 8) {
      snprintf(label, sizeof label, "%s", name);
    }
    fit(cr, label, x1 - x0 - 8);
    rgb(cr, 0xffffff, 1);
    show(cr, x0 + 4, y + STRIP_ROW / 2 + 5, label);
  }
}

static void draw_axes(cairo_t *cr, const frame *f) {
  char text[64];
  font(cr, 12, false);
  nemb__cairo.set_line_width(cr, 1);
  /* y: grid and labels */
  double ystep = f->ystep;
  for (double v = 0; v <= f->ymax * (1 + 1e-9); v += ystep) {
    double y = round(ypos(f, v)) + 0.5;
    rgb(cr, 0xe0e0e0, 1);
    nemb__cairo.move_to(cr, f->left, y);
    nemb__cairo.line_to(cr, f->right, y);
    nemb__cairo.stroke(cr);
    rgb(cr, 0x333333, 1);
    nemb__cairo.move_to(cr, f->left - 5, y);
    nemb__cairo.line_to(cr, f->left, y);
    nemb__cairo.stroke(cr);
    snprintf(text, sizeof text, "%.*f", decimals_for(ystep), v);
    show(cr, f->left - 9 - text_width(cr, text), y + 4, text);
  }
  /* x */
  double xstep = nice_step(f->xmax, 10);
  for (double v = 0; v <= f->xmax * (1 + 1e-9); v += xstep) {
    double x = round(xpos(f, v)) + 0.5;
    rgb(cr, 0xeeeeee, 1);
    nemb__cairo.move_to(cr, x, f->top);
    nemb__cairo.line_to(cr, x, f->bottom);
    nemb__cairo.stroke(cr);
    rgb(cr, 0x333333, 1);
    nemb__cairo.move_to(cr, x, f->bottom);
    nemb__cairo.line_to(cr, x, f->bottom + 5);
    nemb__cairo.stroke(cr);
    snprintf(text, sizeof text, "%.*f", decimals_for(xstep), v);
    show(cr, x - text_width(cr, text) / 2, f->bottom + 19, text);
  }
  /* the frame */
  rgb(cr, 0x333333, 1);
  nemb__cairo.move_to(cr, f->left + 0.5, f->top);
  nemb__cairo.line_to(cr, f->left + 0.5, f->bottom + 0.5);
  nemb__cairo.line_to(cr, f->right, f->bottom + 0.5);
  nemb__cairo.stroke(cr);
  /* titles */
  font(cr, 13, true);
  const char *xt = "time since session start (s)";
  show(cr, (f->left + f->right) / 2 - text_width(cr, xt) / 2, f->bottom + 40, xt);
  const char *yt = "power (W)";
  nemb__cairo.save(cr);
  nemb__cairo.move_to(cr, 24, (f->top + f->bottom) / 2 + text_width(cr, yt) / 2);
  nemb__cairo.rotate(cr, -M_PI / 2);
  nemb__cairo.show_text(cr, yt);
  nemb__cairo.restore(cr);
}

static void draw_series(cairo_t *cr, const nemb__plot *p, const frame *f, const columns *c) {
  size_t stride = 1 + p->nd;
  nemb__cairo.save(cr);
  nemb__cairo.rectangle(cr, f->left, f->top - 1, f->right - f->left, f->bottom - f->top + 2);
  nemb__cairo.clip(cr);
  /* The total's min-max band, where a column holds several different powers. */
  rgb(cr, nemb__plot_color(0), 0.16);
  for (size_t k = 0; k < c->n; k++) {
    if (isfinite(c->lo[k]) && c->hi[k] > c->lo[k]) {
      double y0 = ypos(f, c->hi[k]), y1 = ypos(f, c->lo[k]);
      if (y1 - y0 >= 1) {
        nemb__cairo.rectangle(cr, f->left + (double)k, y0, 1, y1 - y0);
      }
    }
  }
  nemb__cairo.fill(cr);
  nemb__cairo.set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  /* Domains first, then the total on top. */
  for (size_t s = stride; s-- > 0;) {
    size_t series = (s + 1) % stride; /* 1 .. nd, then 0 */
    bool total = series == 0;
    rgb(cr, nemb__plot_color(series), 1);
    nemb__cairo.set_line_width(cr, total ? 2.2 : 1.4);
    double dash[] = {6, 3};
    nemb__cairo.set_dash(cr, dash, !total && !p->domains[series - 1].in_total ? 2 : 0, 0);
    bool open = false;
    for (size_t k = 0; k < c->n; k++) {
      double v = c->avg[k * stride + series];
      if (isnan(v)) {
        open = false;
        continue;
      }
      double x = f->left + (double)k + 0.5, y = ypos(f, v);
      if (open) {
        nemb__cairo.line_to(cr, x, y);
      } else {
        nemb__cairo.move_to(cr, x, y);
        open = true;
      }
    }
    nemb__cairo.stroke(cr);
  }
  nemb__cairo.set_dash(cr, NULL, 0, 0);
  nemb__cairo.restore(cr);
}

/* Whether any column shows a min-max band (it holds intervals of different power). */
static bool has_band(const columns *c, const frame *f) {
  for (size_t k = 0; k < c->n; k++) {
    if (isfinite(c->lo[k]) && ypos(f, c->lo[k]) - ypos(f, fmin(c->hi[k], f->ymax)) >= 1) {
      return true;
    }
  }
  return false;
}

/* The legend, in rows under the axis title. */
static void draw_legend(cairo_t *cr, const nemb__plot *p, const frame *f, bool band) {
  double x = f->left, y = f->bottom + 68;
  font(cr, 12, false);
  size_t entries = 1 + p->nd + (band ? 1 : 0) + (p->n_tasks ? 1 : 0);
  for (size_t e = 0; e < entries; e++) {
    char label[128];
    uint32_t color;
    int kind = 0; /* 0 line, 1 dashed line, 2 band, 3 task box */
    if (e == 0) {
      snprintf(label, sizeof label, "total (sum of in-total domains = energy_j)");
      color = nemb__plot_color(0);
    } else if (e <= p->nd) {
      const nemb__plot_domain *d = &p->domains[e - 1];
      clean_utf8(d->name, label, 64);
      if (!d->in_total) {
        size_t n = strlen(label);
        snprintf(label + n, sizeof label - n, " (nested: not added to total)");
        kind = 1;
      }
      color = nemb__plot_color(e);
    } else if (band && e == p->nd + 1) {
      snprintf(label, sizeof label, "total: min-max within a pixel column");
      color = nemb__plot_color(0);
      kind = 2;
    } else {
      snprintf(label, sizeof label, "task window (bar above: name \xc2\xb7 energy)");
      color = nemb__plot_task_color(0);
      kind = 3;
    }
    double w = 34 + text_width(cr, label) + 22;
    if (x + w > WIDTH - 24 && x > f->left) {
      x = f->left;
      y += 20;
    }
    if (kind == 2 || kind == 3) {
      rgb(cr, color, kind == 2 ? 0.25 : 0.3);
      nemb__cairo.rectangle(cr, x, y - 9, 26, 12);
      nemb__cairo.fill(cr);
    } else {
      rgb(cr, color, 1);
      nemb__cairo.set_line_width(cr, e == 0 ? 2.2 : 1.6);
      double dash[] = {6, 3};
      nemb__cairo.set_dash(cr, dash, kind == 1 ? 2 : 0, 0);
      nemb__cairo.move_to(cr, x, y - 3);
      nemb__cairo.line_to(cr, x + 26, y - 3);
      nemb__cairo.stroke(cr);
      nemb__cairo.set_dash(cr, NULL, 0, 0);
    }
    rgb(cr, 0x222222, 1);
    show(cr, x + 34, y + 1, label);
    x += w;
  }
}

static cairo_status_t to_buf(void *closure, const unsigned char *data, unsigned int len) {
  nemb__buf *b = closure;
  nemb__buf_append(b, (const char *)data, len);
  return b->oom ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

/* Draws the chart on a PNG image or an SVG document (cairo draws both alike). */
static int draw(const nemb__plot *p, nemb__buf *out, bool svg) {
  int rc = nemb__cairo_load();
  if (rc != 0) {
    return rc;
  }
  frame f;
  uint32_t max_depth = 0;
  for (size_t i = 0; i < p->n_tasks; i++) {
    max_depth = p->tasks[i].depth > max_depth ? p->tasks[i].depth : max_depth;
  }
  f.rows = p->n_tasks ? (int)(max_depth + 1 < MAX_ROWS ? max_depth + 1 : MAX_ROWS) : 0;
  f.left = 84;
  f.right = WIDTH - 28;
  f.top = 76 + f.rows * STRIP_ROW + 6;
  f.bottom = HEIGHT - 110;
  f.xmax = p->span_ns > 0 ? (double)p->span_ns / 1e9 : 1;

  columns c = {0};
  rc = reduce(p, &f, &c);
  if (rc != 0) {
    columns_free(&c);
    return rc;
  }
  /* The axis (nemb__plot_y_axis): the lines and the band's ordinary top, spikes cut off. */
  double lines_max = 0;
  double *total = malloc((c.n ? c.n : 1) * sizeof *total);
  if (total == NULL) {
    columns_free(&c);
    return NEMB_ENOMEM;
  }
  for (size_t k = 0; k < c.n; k++) {
    total[k] = c.avg[k * (1 + p->nd)];
    for (size_t s = 0; s <= p->nd; s++) {
      double v = c.avg[k * (1 + p->nd) + s];
      lines_max = v > lines_max ? v : lines_max;
    }
  }
  nemb__plot_yaxis cl;
  rc = nemb__plot_y_axis(total, c.hi, c.n, lines_max, &cl);
  free(total);
  if (rc != 0) {
    columns_free(&c);
    return rc;
  }
  f.ystep = nice_step(cl.top, 6);
  f.ymax = cl.n_above > 0 ? cl.top : ceil(cl.top / f.ystep - 1e-9) * f.ystep;
  if (cl.n_above == 0 && !(cl.max > f.ymax * 1.02)) {
    cl.max = 0; /* the rounded axis holds the band */
  }
  cairo_surface_t *surface =
      svg ? nemb__cairo.svg_surface_create_for_stream(to_buf, out, WIDTH, HEIGHT)
          : nemb__cairo.image_surface_create(CAIRO_FORMAT_RGB24, WIDTH, HEIGHT);
  cairo_t *cr = nemb__cairo.create(surface);
  rgb(cr, 0xffffff, 1);
  nemb__cairo.paint(cr);
  draw_title(cr, p);
  draw_tasks(cr, p, &f);
  draw_axes(cr, &f);
  draw_series(cr, p, &f, &c);
  draw_legend(cr, p, &f, has_band(&c, &f));
  draw_clip_note(cr, &f, &cl);
  if (p->nd == 0) {
    font(cr, 16, true);
    rgb(cr, 0x8a6d00, 1);
    const char *msg = "no power data: nothing was measured";
    show(cr, (f.left + f.right) / 2 - text_width(cr, msg) / 2, (f.top + f.bottom) / 2, msg);
  }
  cairo_status_t st = nemb__cairo.status(cr);
  nemb__cairo.destroy(cr);
  if (st == CAIRO_STATUS_SUCCESS && !svg) {
    st = nemb__cairo.surface_write_to_png_stream(surface, to_buf, out);
  }
  if (svg) {
    nemb__cairo.surface_finish(surface); /* the SVG document is written out here */
    st = st == CAIRO_STATUS_SUCCESS ? nemb__cairo.surface_status(surface) : st;
  }
  nemb__cairo.surface_destroy(surface);
  columns_free(&c);
  if (st == CAIRO_STATUS_NO_MEMORY) {
    return NEMB_ENOMEM;
  }
  if (st != CAIRO_STATUS_SUCCESS) {
    return nemb__fail(NEMB_EIO, "cairo could not draw the plot: %s",
                      nemb__cairo.status_to_string(st));
  }
  return 0;
}

int nemb__plot_png(const nemb__plot *p, nemb__buf *out) {
  return draw(p, out, false);
}

int nemb__plot_svg(const nemb__plot *p, nemb__buf *out) {
  return draw(p, out, true);
}
