/*
 * plot_html.c - the plot as one self-contained HTML page: uPlot (from npm, embedded at build
 * time) and its stylesheet inlined, the data as JSON in <script type="application/json"
 * id="codegreen-data">, and a small script that draws power against time with each task's window
 * shaded and named, per-domain series, drag-to-zoom and hover values. Nothing is fetched from the
 * network, so the page opens offline and can be mailed or archived as one file.
 *
 * Text from the session (names, the command line) can hold anything. In the JSON block every
 * '<', '>' and '&' is written as a \u escape, so nothing in it can close the script element; in
 * the HTML it is entity-escaped; bytes that are not UTF-8 become '?'.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"

/* A JSON string (or null) that is safe inside a <script> element. */
static void json_str(nemb__buf *b, const char *v) {
  if (v == NULL) {
    nemb__buf_append(b, "null", 4);
    return;
  }
  const unsigned char *s = (const unsigned char *)v;
  size_t n = strlen(v);
  nemb__buf_append(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len = nemb__plot_utf8_len(s + i, n - i);
    if (len == 0) {
      nemb__buf_append(b, "?", 1);
      i++;
    } else if (len == 3 && c == 0xe2 && s[i + 1] == 0x80 &&
               (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
      nemb__buf_printf(b, "\\u%04x", s[i + 2] == 0xa8 ? 0x2028u : 0x2029u);
      i += 3;
    } else if (len > 1) {
      nemb__buf_append(b, v + i, len);
      i += len;
    } else {
      if (c == '"' || c == '\\') {
        nemb__buf_printf(b, "\\%c", (char)c);
      } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        nemb__buf_printf(b, "\\u%04x", c);
      } else {
        nemb__buf_append(b, v + i, 1);
      }
      i++;
    }
  }
  nemb__buf_append(b, "\"", 1);
}

/* Text escaped for HTML content and attribute values. */
static void html_text(nemb__buf *b, const char *v) {
  const unsigned char *s = (const unsigned char *)v;
  size_t n = strlen(v);
  for (size_t i = 0; i < n;) {
    size_t len = nemb__plot_utf8_len(s + i, n - i);
    if (len == 0) {
      nemb__buf_append(b, "?", 1);
      i++;
      continue;
    }
    switch (s[i]) {
    case '&':
      nemb__buf_append(b, "&amp;", 5);
      break;
    case '<':
      nemb__buf_append(b, "&lt;", 4);
      break;
    case '>':
      nemb__buf_append(b, "&gt;", 4);
      break;
    case '"':
      nemb__buf_append(b, "&quot;", 6);
      break;
    case '\'':
      nemb__buf_append(b, "&#39;", 5);
      break;
    default:
      nemb__buf_append(b, v + i, len);
    }
    i += len;
  }
}

static void json_num(nemb__buf *b, double v, int digits) {
  if (!isfinite(v)) {
    nemb__buf_append(b, "null", 4);
  } else {
    nemb__buf_printf(b, "%.*g", digits, v);
  }
}

/* Nanoseconds as exact decimal seconds. */
static void json_secs(nemb__buf *b, uint64_t ns) {
  nemb__buf_printf(b, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

static void json_key(nemb__buf *b, const char *key) {
  nemb__buf_printf(b, ",\n\"%s\": ", key);
}

/* An array of @p n values taken every @p stride from @p v (powers: 10 significant digits, ample
 * for the 0.2 % area check and far below a counter's resolution). */
static void json_series(nemb__buf *b, const double *v, size_t n, size_t stride) {
  nemb__buf_append(b, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i > 0) {
      nemb__buf_append(b, ",", 1);
    }
    json_num(b, v[i * stride], 10);
  }
  nemb__buf_append(b, "]", 1);
}

/* The index of the top-level task whose window holds task @p i (its colour group). */
static size_t task_group(const nemb__plot *p, size_t i) {
  for (size_t k = i + 1; k-- > 0;) {
    const nemb__plot_task *t = &p->tasks[k];
    if (t->depth == 0 && t->t0 <= p->tasks[i].t0 && p->tasks[i].t1 <= t->t1) {
      return k;
    }
  }
  return i;
}

static void data_json(const nemb__plot *p, nemb__buf *b) {
  nemb__buf_printf(b, "{\"format\": \"codegreen-plot\", \"version\": 1");
  json_key(b, "title");
  json_str(b, p->title);
  json_key(b, "session_name");
  json_str(b, p->session_name);
  json_key(b, "energy_source");
  json_str(b, p->energy_source);
  json_key(b, "provenance");
  json_str(b, nemb__plot_provenance(p));
  json_key(b, "measurement_quality");
  json_str(b, p->quality);
  json_key(b, "started_at");
  json_str(b, p->started_at);
  json_key(b, "source");
  json_str(b, p->origin);
  json_key(b, "energy_j");
  json_num(b, p->energy_j, 17);
  json_key(b, "session_energy_j");
  json_num(b, p->session_energy_j, 17);
  json_key(b, "duration_s");
  json_secs(b, p->span_ns);
  json_key(b, "t0_mono_ns");
  nemb__buf_printf(b, "%" PRIu64, p->t0_mono_ns);
  json_key(b, "sample_interval_ms");
  json_num(b, p->interval_ms, 10);
  json_key(b, "series_model");
  json_str(b, "step: power_w[i] is the average power over (t_s[i-1], t_s[i]], so the area under "
              "power_w over a task's window is its energy_j; null means no data");
  json_key(b, "resampled");
  nemb__buf_printf(b, "%s", p->resampled ? "true" : "false");
  json_key(b, "raw_intervals");
  nemb__buf_printf(b, "%" PRIu64, p->raw_intervals);
  json_key(b, "max_points");
  nemb__buf_printf(b, "%zu", p->max_points);
  json_key(b, "t_s");
  nemb__buf_append(b, "[", 1);
  for (size_t i = 0; i < p->n; i++) {
    if (i > 0) {
      nemb__buf_append(b, ",", 1);
    }
    json_secs(b, p->t[i]);
  }
  nemb__buf_append(b, "]", 1);
  json_key(b, "power_w");
  json_series(b, p->total_w, p->n, 1);
  json_key(b, "power_min_w");
  if (p->resampled) {
    json_series(b, p->min_w, p->n, 1);
  } else {
    nemb__buf_append(b, "null", 4);
  }
  json_key(b, "power_max_w");
  if (p->resampled) {
    json_series(b, p->max_w, p->n, 1);
  } else {
    nemb__buf_append(b, "null", 4);
  }
  json_key(b, "domains");
  nemb__buf_append(b, "[", 1);
  for (size_t d = 0; d < p->nd; d++) {
    nemb__buf_printf(b, "%s\n{\"name\": ", d ? "," : "");
    json_str(b, p->domains[d].name);
    nemb__buf_printf(b, ", \"kind\": ");
    json_str(b, p->domains[d].kind);
    nemb__buf_printf(b, ", \"in_total\": %s, \"color\": \"#%06x\", \"power_w\": ",
                     p->domains[d].in_total ? "true" : "false", (unsigned)nemb__plot_color(d + 1));
    json_series(b, p->w + d, p->n, p->nd);
    nemb__buf_append(b, "}", 1);
  }
  nemb__buf_append(b, "]", 1);
  json_key(b, "tasks");
  nemb__buf_append(b, "[", 1);
  for (size_t i = 0; i < p->n_tasks; i++) {
    const nemb__plot_task *t = &p->tasks[i];
    double dur = (double)(t->t1 - t->t0) / 1e9;
    nemb__buf_printf(b, "%s\n{\"name\": ", i ? "," : "");
    json_str(b, t->name);
    nemb__buf_printf(b, ", \"depth\": %u, \"parent\": ", (unsigned)t->depth);
    json_str(b, t->parent);
    nemb__buf_printf(b, ", \"start_s\": ");
    json_secs(b, t->t0);
    nemb__buf_printf(b, ", \"end_s\": ");
    json_secs(b, t->t1);
    nemb__buf_printf(b, ", \"duration_s\": ");
    json_secs(b, t->t1 - t->t0);
    nemb__buf_printf(b, ", \"energy_j\": ");
    json_num(b, t->energy_j, 17);
    nemb__buf_printf(b, ", \"avg_power_w\": ");
    json_num(b, dur > 0 ? t->energy_j / dur : 0, 17);
    size_t g = task_group(p, i);
    nemb__buf_printf(b, ", \"closed_at_end\": %s, \"color\": \"#%06x\"}",
                     t->closed_at_end ? "true" : "false", (unsigned)nemb__plot_task_color(g));
  }
  nemb__buf_append(b, "]", 1);
  json_key(b, "total_color");
  nemb__buf_printf(b, "\"#%06x\"", (unsigned)nemb__plot_color(0));
  nemb__buf_append(b, "}", 1);
}

/* The page's own script: reads the data block and draws the chart, legend, task strip and table. */
/* One string per line: ISO C caps the length of a single literal. */
static const char *const page_script[] = {
    "(function () {\n",
    "'use strict';\n",
    "var D = JSON.parse(document.getElementById('codegreen-data').textContent);\n",
    "var pr = function () { return uPlot.pxRatio || 1; };\n",
    "function rgba(hex, a) {\n",
    "  var n = parseInt(hex.slice(1), 16);\n",
    "  return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';\n",
    "}\n",
    "function fmtJ(v) {\n",
    "  if (v == null || !isFinite(v)) return '\\u2013';\n",
    "  var a = Math.abs(v);\n",
    "  return (a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) :\n",
    "          a >= 1 ? v.toFixed(3) : v.toPrecision(3)) + ' J';\n",
    "}\n",
    "function fmtW(u, v) {\n",
    "  if (v == null) return '\\u2013';\n",
    "  var a = Math.abs(v);\n",
    "  return (a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3)) + ' W';\n",
    "}\n",
    "function fmtS(v) { return v == null ? '\\u2013' : (+v).toFixed(v < 10 ? 3 : 2) + ' s'; }\n",
    "\n",
    "// The full series (step model: value i is the average over (T[i-1], T[i]]), and what\n",
    "// is drawn: the samples themselves when the view holds few enough of them, else one\n",
    "// average per pixel column (energy over known time, so a column's height is its true\n",
    "// mean power) with the lowest and highest power inside it as a band.\n",
    "var T = D.t_s, N = T.length;\n",
    "var SER = [D.power_w].concat(D.domains.map(function (d) { return d.power_w; }));\n",
    "var LO = D.power_min_w || D.power_w, HI = D.power_max_w || D.power_w;\n",
    "var X0 = N ? T[0] : 0, X1 = N ? T[N - 1] : 1;\n",
    "if (!(X1 > X0)) X1 = X0 + 1;\n",
    "var coarse = D.resampled;\n",
    "function firstAtOrAfter(x) {\n",
    "  var lo = 0, hi = N;\n",
    "  while (lo < hi) { var m = (lo + hi) >> 1; if (T[m] < x) lo = m + 1; else hi = m; }\n",
    "  return lo;\n",
    "}\n",
    "function view(xmin, xmax, cols) {\n",
    "  var a = Math.max(1, firstAtOrAfter(xmin)), b = Math.min(N - 1, firstAtOrAfter(xmax));\n",
    "  var out, s, k;\n",
    "  if (N < 2 || b - a + 1 <= 2 * cols) {\n",
    "    var i0 = a - 1, i1 = b + 1;\n",
    "    out = [T.slice(i0, i1)];\n",
    "    SER.forEach(function (v) { out.push(v.slice(i0, i1)); });\n",
    "    out.push(HI.slice(i0, i1), LO.slice(i0, i1));\n",
    "    var n = out[0].length;\n",
    "    if (n) {\n",
    "      out[0][0] = Math.max(out[0][0], xmin);\n",
    "      out[0][n - 1] = Math.min(out[0][n - 1], xmax);\n",
    "    }\n",
    "    coarse = D.resampled;\n",
    "    return out;\n",
    "  }\n",
    "  var step = (xmax - xmin) / cols, t = [xmin];\n",
    "  var vals = SER.map(function () { return [null]; });\n",
    "  var hi = [null], lo = [null], i = a;\n",
    "  for (k = 0; k < cols; k++) {\n",
    "    var c0 = xmin + k * step, c1 = k == cols - 1 ? xmax : c0 + step, known = 0;\n",
    "    var acc = SER.map(function () { return 0; }), mn = Infinity, mx = -Infinity;\n",
    "    while (i > a && T[i - 1] > c0) i--;\n",
    "    for (; i <= b; i++) {\n",
    "      var ov = Math.min(c1, T[i]) - Math.max(c0, T[i - 1]);\n",
    "      if (ov > 0 && SER[0][i] != null) {\n",
    "        known += ov;\n",
    "        for (s = 0; s < SER.length; s++) acc[s] += (SER[s][i] || 0) * ov;\n",
    "        if (LO[i] < mn) mn = LO[i];\n",
    "        if (HI[i] > mx) mx = HI[i];\n",
    "      }\n",
    "      if (T[i] >= c1) break;\n",
    "    }\n",
    "    t.push(c1);\n",
    "    for (s = 0; s < SER.length; s++) vals[s].push(known > 0 ? acc[s] / known : null);\n",
    "    hi.push(known > 0 ? mx : null);\n",
    "    lo.push(known > 0 ? mn : null);\n",
    "  }\n",
    "  coarse = true;\n",
    "  return [t].concat(vals, [hi, lo]);\n",
    "}\n",
    "\n",
    "var stepped = uPlot.paths.stepped({align: -1, alignGaps: -1});\n",
    "var series = [{label: 'time', value: function (u, v) { return fmtS(v); }},\n",
    "  {label: 'total (sum of in-total domains = energy_j)', stroke: D.total_color,\n",
    "   width: 2.25, paths: stepped, value: fmtW, points: {show: false}}];\n",
    "D.domains.forEach(function (d) {\n",
    "  var s = {label: d.name + (d.in_total ? '' : ' (nested: not added to total)'),\n",
    "           stroke: d.color, width: 1.25, paths: stepped, value: fmtW,\n",
    "           points: {show: false}};\n",
    "  if (!d.in_total) s.dash = [6, 3];\n",
    "  series.push(s);\n",
    "});\n",
    "var band = {stroke: rgba(D.total_color, 0.22), width: 0.75, paths: stepped, value: fmtW,\n",
    "            points: {show: false}, 'class': 'cg-band'};\n",
    "series.push(Object.assign({label: 'total: highest in column'}, band),\n",
    "            Object.assign({label: 'total: lowest in column'}, band));\n",
    "var bands = [{series: [series.length - 2, series.length - 1],\n",
    "              fill: rgba(D.total_color, 0.12)}];\n",
    "\n",
    "var maxDepth = 0;\n",
    "D.tasks.forEach(function (t) { maxDepth = Math.max(maxDepth, t.depth); });\n",
    "var ROWS = D.tasks.length ? Math.min(maxDepth + 1, 4) : 0, ROW = 22;\n",
    "function clipText(ctx, text, w) {\n",
    "  if (ctx.measureText(text).width <= w) return text;\n",
    "  for (var n = text.length - 1; n > 0; n--) {\n",
    "    var t = text.slice(0, n) + '\\u2026';\n",
    "    if (ctx.measureText(t).width <= w) return t;\n",
    "  }\n",
    "  return '';\n",
    "}\n",
    "function xPos(u, v) { return u.valToPos(v, 'x', true); }\n",
    "function shadeTasks(u) {\n",
    "  var ctx = u.ctx, bb = u.bbox;\n",
    "  ctx.save();\n",
    "  ctx.beginPath(); ctx.rect(bb.left, bb.top, bb.width, bb.height); ctx.clip();\n",
    "  D.tasks.forEach(function (t) {\n",
    "    var x0 = xPos(u, t.start_s), x1 = xPos(u, t.end_s);\n",
    "    if (x1 < bb.left || x0 > bb.left + bb.width) return;\n",
    "    ctx.fillStyle = rgba(t.color, t.depth == 0 ? 0.16 : 0.07);\n",
    "    ctx.fillRect(x0, bb.top, Math.max(x1 - x0, 1), bb.height);\n",
    "    ctx.fillStyle = rgba(t.color, 0.7);\n",
    "    ctx.fillRect(x0, bb.top, pr(), bb.height);\n",
    "    ctx.fillRect(x1 - pr(), bb.top, pr(), bb.height);\n",
    "  });\n",
    "  ctx.restore();\n",
    "}\n",
    "function labelTasks(u) {\n",
    "  var ctx = u.ctx, bb = u.bbox, k = pr();\n",
    "  ctx.save();\n",
    "  ctx.beginPath(); ctx.rect(bb.left, 0, bb.width, bb.top); ctx.clip();\n",
    "  ctx.font = 'bold ' + Math.round(12 * k) + 'px sans-serif';\n",
    "  ctx.textBaseline = 'middle';\n",
    "  ctx.textAlign = 'left';\n",
    "  D.tasks.forEach(function (t) {\n",
    "    if (t.depth >= ROWS) return;\n",
    "    var x0 = Math.max(xPos(u, t.start_s), bb.left);\n",
    "    var x1 = Math.min(xPos(u, t.end_s), bb.left + bb.width);\n",
    "    if (x1 - x0 < 2 * k) return;\n",
    "    var y = bb.top - (ROWS - t.depth) * ROW * k - 4 * k;\n",
    "    ctx.fillStyle = rgba(t.color, t.depth == 0 ? 0.9 : 0.65);\n",
    "    ctx.fillRect(x0, y + 2 * k, x1 - x0, (ROW - 3) * k);\n",
    "    var text = clipText(ctx, t.name + ' \\u00b7 ' + fmtJ(t.energy_j), x1 - x0 - 8 * k);\n",
    "    if (!text) text = clipText(ctx, t.name, x1 - x0 - 8 * k);\n",
    "    ctx.fillStyle = '#fff';\n",
    "    if (text) ctx.fillText(text, x0 + 4 * k, y + (ROW / 2 + 1) * k);\n",
    "  });\n",
    "  ctx.restore();\n",
    "  if (D.provenance) {\n",
    "    ctx.save();\n",
    "    ctx.font = 'bold ' + Math.round(15 * k) + 'px sans-serif';\n",
    "    var w = ctx.measureText(D.provenance).width + 16 * k;\n",
    "    var x = bb.left + bb.width - w - 8 * k, y = bb.top + 8 * k;\n",
    "    ctx.fillStyle = 'rgba(255,255,255,0.85)';\n",
    "    ctx.fillRect(x, y, w, 24 * k);\n",
    "    var ink = D.energy_source == 'estimated' ? '#c62828' : '#8a6d00';\n",
    "    ctx.strokeStyle = ctx.fillStyle = ink;\n",
    "    ctx.lineWidth = k;\n",
    "    ctx.strokeRect(x, y, w, 24 * k);\n",
    "    ctx.textBaseline = 'middle';\n",
    "    ctx.textAlign = 'left';\n",
    "    ctx.fillText(D.provenance, x + 8 * k, y + 12 * k);\n",
    "    ctx.restore();\n",
    "  }\n",
    "  document.body.classList.toggle('cg-coarse', coarse);\n",
    "}\n",
    "var readout = document.getElementById('readout');\n",
    "function onCursor(u) {\n",
    "  var left = u.cursor.left;\n",
    "  if (left == null || left < 0) { readout.textContent = '\\u00a0'; return; }\n",
    "  var x = u.posToVal(left, 'x'), inside = [];\n",
    "  for (var i = 0; i < D.tasks.length && inside.length < 8; i++) {\n",
    "    var t = D.tasks[i];\n",
    "    if (t.start_s <= x && x <= t.end_s) inside.push(t);\n",
    "  }\n",
    "  function describe(t) {\n",
    "    return t.name + ' (' + fmtJ(t.energy_j) + ' over ' + fmtS(t.duration_s) + ', ' +\n",
    "           fmtW(null, t.avg_power_w) + ' avg)';\n",
    "  }\n",
    "  readout.textContent = 't = ' + fmtS(x) + (inside.length ?\n",
    "    '   in ' + inside.map(describe).join(' \\u203a ') : '   outside every task');\n",
    "}\n",
    "\n",
    "// The y axis: from 0 to a little above the highest value, unless a few values tower\n",
    "// over the rest (with RAPL-like counters, an interval much shorter than the counter's\n",
    "// update period shows as a spike): then the axis stops at 1.5 x the 99.5th percentile\n",
    "// of the total, and a note says how many values it cuts off and how high they go.\n",
    "var clip = null;\n",
    "function ordinaryTop(v) {\n",
    "  if (!v.length) return 0;\n",
    "  v.sort(function (a, b) { return a - b; });\n",
    "  var q = v[Math.floor(0.995 * (v.length - 1))], highest = v[v.length - 1];\n",
    "  return v.length >= 50 && q > 0 && highest > 2 * q ? 1.5 * q : highest;\n",
    "}\n",
    "function yRange(u) {\n",
    "  var i, s, v = [], lineMax = 0, bandMax = 0, d = u.data, nLines = 1 + D.domains.length;\n",
    "  for (s = 1; s <= nLines; s++)\n",
    "    for (i = 0; i < d[s].length; i++)\n",
    "      if (d[s][i] != null && d[s][i] > lineMax) lineMax = d[s][i];\n",
    "  for (i = 0; i < d[1].length; i++) if (d[1][i] != null) v.push(d[1][i]);\n",
    "  var hi = d[nLines + 1];\n",
    "  for (i = 0; i < hi.length; i++) if (hi[i] != null && hi[i] > bandMax) bandMax = hi[i];\n",
    "  // The band's ordinary top (the same rule over the columns' highs): a long run's\n",
    "  // columns average a square wave while the band holds its high state; the axis reaches "
    "it.\n",
    "  var hv = [];\n",
    "  for (i = 0; i < hi.length; i++) if (hi[i] != null) hv.push(hi[i]);\n",
    "  var bandTop = ordinaryTop(hv);\n",
    "  var top = (Math.max(lineMax, bandTop) > 0 ? Math.max(lineMax, bandTop) : 1) * 1.08;\n",
    "  clip = null;\n",
    "  if (v.length >= 50) {\n",
    "    v.sort(function (a, b) { return a - b; });\n",
    "    var q = v[Math.floor(0.995 * (v.length - 1))], highest = v[v.length - 1];\n",
    "    if (q > 0 && highest > 2 * q) {\n",
    "      top = Math.max(1.5 * q, bandTop);\n",
    "      var cut = 0;\n",
    "      for (i = 0; i < v.length; i++) cut += v[i] > top;\n",
    "      if (cut) clip = {n: cut, max: highest};\n",
    "      else top *= 1.08;\n",
    "    }\n",
    "  }\n",
    "  if (!clip && bandMax > top * 1.02) clip = {n: 0, max: bandMax};\n",
    "  return [0, top];\n",
    "}\n",
    "function noteClip(u) {\n",
    "  if (!clip) return;\n",
    "  var ctx = u.ctx, bb = u.bbox, k = pr();\n",
    "  var text = clip.n ? '\\u25b2 ' + clip.n + ' value' + (clip.n == 1 ? '' : 's') +\n",
    "    ' above the axis, up to ' + fmtW(null, clip.max) + ' (drag across to zoom in)' :\n",
    "    '\\u25b2 the band of highest values reaches ' + fmtW(null, clip.max) +\n",
    "    ' (drag across to zoom in)';\n",
    "  ctx.save();\n",
    "  ctx.font = Math.round(12 * k) + 'px sans-serif';\n",
    "  ctx.textBaseline = 'middle';\n",
    "  ctx.textAlign = 'left';\n",
    "  var w = ctx.measureText(text).width + 12 * k;\n",
    "  ctx.fillStyle = 'rgba(255,255,255,0.85)';\n",
    "  ctx.fillRect(bb.left + 8 * k, bb.top + 8 * k, w, 20 * k);\n",
    "  ctx.fillStyle = '#333';\n",
    "  ctx.fillText(text, bb.left + 14 * k, bb.top + 18 * k);\n",
    "  ctx.restore();\n",
    "}\n",
    "var el = document.getElementById('chart'), u = null, shown = [X0, X1];\n",
    "function size() { return {width: Math.max(480, el.clientWidth), height: 460}; }\n",
    "function columns() {\n",
    "  return Math.max(64, Math.round(u ? u.bbox.width / pr() : size().width - 80));\n",
    "}\n",
    "function zoomTo(a, b) {\n",
    "  a = Math.max(X0, a); b = Math.min(X1, b);\n",
    "  if (!(b > a)) { var mid = (a + b) / 2; a = mid - 5e-4; b = mid + 5e-4; }\n",
    "  shown = [a, b];\n",
    "  u.setData(view(a, b, columns()));\n",
    "}\n",
    "var opts = Object.assign(size(), {\n",
    "  padding: [ROWS * ROW + 10, 16, 0, 0],\n",
    "  series: series, bands: bands,\n",
    "  scales: {x: {time: false},\n",
    "           y: {range: yRange}},\n",
    "  axes: [{label: 'time since session start (s)', labelSize: 24},\n",
    "         {label: 'power (W)', labelSize: 28, size: 56}],\n",
    "  cursor: {drag: {x: true, y: false, setScale: false},\n",
    "           bind: {dblclick: function () {\n",
    "             return function () { zoomTo(X0, X1); return null; };\n",
    "           }}},\n",
    "  legend: {live: true},\n",
    "  hooks: {drawClear: [shadeTasks], draw: [labelTasks, noteClip], setCursor: [onCursor],\n",
    "          setSelect: [function (u) {\n",
    "            var s = u.select;\n",
    "            if (s.width > 2)\n",
    "              zoomTo(u.posToVal(s.left, 'x'), u.posToVal(s.left + s.width, 'x'));\n",
    "            u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);\n",
    "          }]}\n",
    "});\n",
    "u = new uPlot(opts, view(X0, X1, columns()), el);\n",
    "window.codegreenPlot = u;\n",
    "window.addEventListener('resize', function () {\n",
    "  u.setSize(size());\n",
    "  zoomTo(shown[0], shown[1]);\n",
    "});\n",
    "document.getElementById('reset').onclick = function () { zoomTo(X0, X1); };\n",
    "var tb = document.getElementById('task-rows'), LIMIT = 1000;\n",
    "D.tasks.slice(0, LIMIT).forEach(function (t) {\n",
    "  var tr = document.createElement('tr');\n",
    "  [t.name, t.depth, t.parent == null ? '' : t.parent, (+t.start_s).toFixed(4),\n",
    "   (+t.end_s).toFixed(4), (+t.duration_s).toFixed(4), fmtJ(t.energy_j),\n",
    "   fmtW(null, t.avg_power_w)].forEach(function (v, i) {\n",
    "    var td = document.createElement('td');\n",
    "    td.textContent = v;\n",
    "    if (i == 0) { td.style.borderLeft = '6px solid ' + t.color;\n",
    "                  td.style.paddingLeft = (6 + 12 * t.depth) + 'px'; }\n",
    "    if (i >= 3) td.className = 'num';\n",
    "    tr.appendChild(td);\n",
    "  });\n",
    "  tr.title = 'zoom to ' + t.name;\n",
    "  tr.onclick = function () {\n",
    "    var pad = (t.end_s - t.start_s) * 0.05 || 0.001;\n",
    "    zoomTo(t.start_s - pad, +t.end_s + pad);\n",
    "  };\n",
    "  tb.appendChild(tr);\n",
    "});\n",
    "if (D.tasks.length > LIMIT)\n",
    "  document.getElementById('more').textContent = (D.tasks.length - LIMIT) +\n",
    "    ' more tasks are in the chart and in the data block, not listed here.';\n",
    "document.body.setAttribute('data-codegreen', 'rendered');\n",
    "document.body.setAttribute('data-points', String(N));\n",
    "})();\n",
    NULL};

static const char page_style[] =
    "body{font-family:'DejaVu Sans',system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "margin:16px 24px;color:#222;background:#fff}\n"
    "h1{font-size:21px;margin:0 0 4px 0;font-weight:600}\n"
    ".sub{color:#444;font-size:13.5px;line-height:1.5}\n"
    ".sub b{color:#111}\n"
    ".prov{display:inline-block;margin:6px 0 0 0;padding:2px 10px;border-radius:3px;"
    "font-weight:bold;font-size:13px;color:#fff;background:#8a6d00}\n"
    ".prov.estimated{background:#c62828}\n"
    "#chart{margin-top:10px;width:100%}\n"
    "#readout{font-size:13px;color:#333;min-height:1.4em;margin:4px 0 0 0;"
    "font-variant-numeric:tabular-nums}\n"
    ".hint{font-size:12px;color:#666;margin:6px 0}\n"
    "button{font-size:12px;margin-left:8px}\n"
    "table{border-collapse:collapse;font-size:12.5px;margin-top:6px}\n"
    "th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:left;white-space:nowrap}\n"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tbody tr{cursor:pointer}\ntbody tr:hover{background:#f3f6fa}\n"
    ".note{font-size:12px;color:#666;max-width:70em}\n"
    ".uplot .u-legend{font-size:12.5px}\n"
    ".u-legend tr.cg-band{display:none!important}\n"
    "body.cg-coarse .u-legend tr.cg-band{display:inline-block!important}\n";

/* "12.345 J" with sensible digits. */
static void energy_text(nemb__buf *b, double j) {
  double a = fabs(j);
  if (!isfinite(j)) {
    nemb__buf_printf(b, "? J");
  } else {
    nemb__buf_printf(b, "%.*f J", a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : a >= 1 ? 3 : 4, j);
  }
}

static void header(const nemb__plot *p, nemb__buf *b) {
  size_t top = nemb__plot_top_level_tasks(p);
  nemb__buf_printf(b, "<h1>");
  html_text(b, p->title);
  nemb__buf_printf(b, "</h1>\n<div class=\"sub\">energy source: <b>");
  html_text(b, p->energy_source ? p->energy_source : "not stated");
  nemb__buf_printf(b, "</b> &middot; <b>");
  energy_text(b, p->energy_j);
  nemb__buf_printf(b, "</b> in %zu top-level task%s (energy_j)", top, top == 1 ? "" : "s");
  if (isfinite(p->session_energy_j)) {
    nemb__buf_printf(b, " &middot; session ");
    energy_text(b, p->session_energy_j);
  }
  nemb__buf_printf(b, " over %.3f s", (double)p->span_ns / 1e9);
  if (isfinite(p->interval_ms)) {
    nemb__buf_printf(b, " &middot; sampled every %g ms", p->interval_ms);
  }
  if (p->resampled) {
    nemb__buf_printf(b,
                     " &middot; %" PRIu64 " intervals averaged into %zu buckets (energy "
                     "kept exactly; shaded band: min&ndash;max)",
                     p->raw_intervals, p->n > 0 ? p->n - 1 : 0);
  }
  if (p->quality != NULL && strcmp(p->quality, "ok") != 0) {
    nemb__buf_printf(b, " &middot; measurement quality: <b>");
    html_text(b, p->quality);
    nemb__buf_printf(b, "</b>");
  }
  if (p->started_at != NULL) {
    nemb__buf_printf(b, " &middot; started ");
    html_text(b, p->started_at);
  }
  nemb__buf_printf(b, "</div>\n");
  const char *prov = nemb__plot_provenance(p);
  if (prov != NULL) {
    bool est = p->energy_source != NULL && strcmp(p->energy_source, "estimated") == 0;
    nemb__buf_printf(b, "<div class=\"prov%s\">", est ? " estimated" : "");
    html_text(b, prov);
    nemb__buf_printf(b, "</div>\n");
  }
}

int nemb__plot_html(const nemb__plot *p, nemb__buf *b) {
  nemb__buf_printf(b,
                   "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta name=\"generator\" content=\"codegreen %s, uPlot %s\">\n<title>",
                   nemb_version_string(), nemb__plot_uplot_version);
  html_text(b, p->title);
  nemb__buf_printf(b,
                   " &middot; codegreen power plot</title>\n<style>\n/* uPlot %s, MIT License, "
                   "(c) Leon Sorokin: https://github.com/leeoniya/uPlot */\n",
                   nemb__plot_uplot_version);
  nemb__buf_append(b, (const char *)nemb__plot_uplot_css, nemb__plot_uplot_css_len);
  nemb__buf_printf(b, "\n%s</style>\n</head>\n<body>\n", page_style);
  header(p, b);
  nemb__buf_printf(b,
                   "<div id=\"chart\"></div>\n<div id=\"readout\">&nbsp;</div>\n"
                   "<p class=\"hint\">Drag across the chart to zoom in; double-click it, or "
                   "<button id=\"reset\" type=\"button\">show all</button>, to zoom out. Hover "
                   "for values; click a task below to zoom to its window.</p>\n"
                   "<table>\n<thead><tr><th>task</th><th>depth</th><th>parent</th>"
                   "<th class=\"num\">start (s)</th><th class=\"num\">end (s)</th>"
                   "<th class=\"num\">duration (s)</th><th class=\"num\">energy</th>"
                   "<th class=\"num\">avg power</th></tr></thead>\n<tbody id=\"task-rows\">"
                   "</tbody>\n</table>\n<p class=\"note\" id=\"more\"></p>\n"
                   "<p class=\"note\">Each power value is the average over the interval that ends "
                   "at its time (the energy counters are read every sampling interval and power "
                   "is taken as constant between two readings), so the area under the total "
                   "curve over a task's window is that task's energy_j. Time runs from the "
                   "session's start. The data behind this chart is in the page, as JSON in the "
                   "element with id \"codegreen-data\".</p>\n");
  nemb__buf_printf(b, "<script type=\"application/json\" id=\"codegreen-data\">");
  data_json(p, b);
  nemb__buf_printf(b, "</script>\n<script>\n");
  nemb__buf_append(b, (const char *)nemb__plot_uplot_js, nemb__plot_uplot_js_len);
  nemb__buf_printf(b, "\n</script>\n<script>\n");
  for (size_t i = 0; page_script[i] != NULL; i++) {
    nemb__buf_append(b, page_script[i], strlen(page_script[i]));
  }
  nemb__buf_printf(b, "</script>\n</body>\n</html>\n");
  return b->oom ? NEMB_ENOMEM : 0;
}
