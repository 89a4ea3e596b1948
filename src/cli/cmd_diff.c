/*
 * cmd_diff.c - `codegreen diff A.json B.json`: what changed between two saved reports.
 *
 * Rows are the reports' groups (groups.h): per command for `run` reports, per function for
 * `measure` reports, per task name for Session reports, and the whole first. For each: energy,
 * time and power on both sides, the absolute and relative change, and, when both sides hold two or
 * more values (repeats), the spread and Welch's t-test on the energy. Rows pair by name.
 * --fail-if-regressed PCT turns the first row (A's whole) into a CI gate.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "groups.h"
#include "json_load.h"
#include "nemb.h"
#include "outputs.h"

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen diff [options] A.json B.json\n\n"
          "Compares two saved reports (codegreen run -o, codegreen measure -o, or a Session's\n"
          "file): per command, function or task, energy, time and power on both sides, the change\n"
          "B - A absolute and in %%, and with repeats on both sides the standard deviation and\n"
          "Welch's t-test (two-sided, alpha 0.05) on the energy. Rows are paired by name (the\n"
          "command line, function or task; one only in A or B says so); only when no name is in\n"
          "both are the first rows paired, and a note says so (JSON pairing: first_rows). The\n"
          "first row is A's whole: a run report's first command, else the report's\n"
          "totals.energy_j (a Session's over its tasks' time, totals.task_duration_s). Both\n"
          "sides' energy_source is named. A task\n"
          "name with instances beyond task_detail_limit is compared by the means of all its\n"
          "instances (task_groups), untested.\n\n"
          "  --fail-if-regressed PCT  exit 1 when the whole's energy grew more than PCT %%, and\n"
          "                           significantly when both sides have repeats (with a single\n"
          "                           value on a side no test is possible: the threshold alone\n"
          "                           decides); exit 2 without deciding when a side was not\n"
          "                           measured (energy_source none), the two energy_source\n"
          "                           differ (measured, estimated, simulated) or A's first\n"
          "                           row is not in B\n"
          "  -o, --output FILE        also write the comparison: .json, .csv or .md; repeatable\n"
          "  --json                   print the comparison as JSON on stdout instead of the table\n"
          "  --top N                  rows in the table (default 30; 0: all)\n"
          "  -q, --quiet              no table (with --fail-if-regressed: only the exit status)\n"
          "  -h, --help               this help\n\n"
          "Exit status: 0, 1 when --fail-if-regressed fires, 2 for a usage error (also an -o\n"
          "that cannot be written: nothing is read), a file that is not a codegreen report, or\n"
          "a gate that cannot decide, 3 when an output could not be written after all.\n");
}

static json_t *num_or_null(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

/* Why a row's test is not made: a side with instances beyond the detail limit. NULL: tested. */
static const char *untested_why(const cg_group *a, const cg_group *b, char *buf, size_t len) {
  const cg_group *p = a != NULL && cg_group_partial(a) ? a : b;
  if (p == NULL || !cg_group_partial(p)) {
    return NULL;
  }
  snprintf(buf, len,
           "%s details %zu of %zu instances (task_detail_limit): the means are of all "
           "instances (task_groups), a test would cover only the first",
           p == a ? "A" : "B", p->n, p->count);
  return buf;
}

/* One row of the comparison, as JSON: the columns of the table and of CSV/Markdown. A side
 * that was not measured (@p ma, @p mb false) has its time but no energy or power. */
static json_t *row_json(const char *name, const cg_group *a, const cg_group *b, bool ma, bool mb,
                        const cg_groups *ga, const cg_groups *gb) {
  nemb_stats ae = {0}, ad = {0}, be = {0}, bd = {0};
  bool ta = a != NULL && cg_group_stats(a, &ae, &ad) == 0;
  bool tb = b != NULL && cg_group_stats(b, &be, &bd) == 0;
  bool ha = ta && ma, hb = tb && mb;
  char why[160];
  const char *untested = untested_why(a, b, why, sizeof why);
  json_t *r = json_pack("{s:s}", "name", name);
  json_object_set_new(r, "a_n", json_integer(ta ? (json_int_t)ae.n_used : 0));
  json_object_set_new(r, "a_detailed", json_integer(ta ? (json_int_t)a->n : 0));
  json_object_set_new(r, "a_energy_j", num_or_null(ha ? ae.mean : NAN));
  json_object_set_new(r, "a_energy_std_j",
                      num_or_null(ha && ae.n_used > 1 && !cg_group_partial(a) ? ae.std : NAN));
  json_object_set_new(r, "b_n", json_integer(tb ? (json_int_t)be.n_used : 0));
  json_object_set_new(r, "b_detailed", json_integer(tb ? (json_int_t)b->n : 0));
  json_object_set_new(r, "b_energy_j", num_or_null(hb ? be.mean : NAN));
  json_object_set_new(r, "b_energy_std_j",
                      num_or_null(hb && be.n_used > 1 && !cg_group_partial(b) ? be.std : NAN));
  nemb_comparison c;
  bool both = ha && hb && cg_compare(&ae, &be, untested == NULL, &c) == 0;
  json_object_set_new(r, "energy_diff_j", num_or_null(both ? c.diff : NAN));
  json_object_set_new(r, "energy_diff_percent", num_or_null(both ? c.diff_percent : NAN));
  json_object_set_new(r, "energy_ratio", num_or_null(both ? c.ratio : NAN));
  json_object_set_new(r, "a_duration_s", num_or_null(ta ? ad.mean : NAN));
  json_object_set_new(r, "b_duration_s", num_or_null(tb ? bd.mean : NAN));
  json_object_set_new(
      r, "duration_diff_percent",
      num_or_null(ta && tb && ad.mean > 0 ? 100 * (bd.mean - ad.mean) / ad.mean : NAN));
  double pa = ha && ad.mean > 0 ? ae.mean / ad.mean : NAN;
  double pb = hb && bd.mean > 0 ? be.mean / bd.mean : NAN;
  json_object_set_new(r, "a_power_w", num_or_null(pa));
  json_object_set_new(r, "b_power_w", num_or_null(pb));
  json_object_set_new(r, "power_diff_percent",
                      num_or_null(pa > 0 && isfinite(pb) ? 100 * (pb - pa) / pa : NAN));
  json_object_set_new(r, "p_value", num_or_null(both ? c.p_value : NAN));
  json_object_set_new(r, "significant",
                      both && c.significant >= 0 ? json_boolean(c.significant) : json_null());
  json_object_set_new(r, "not_tested_because",
                      untested != NULL && both ? json_string(untested) : json_null());
  json_object_set_new(r, "only_in", ta && tb ? json_null() : json_string(ta ? "A" : "B"));
  json_object_set_new(r, "a_energy_source", json_string(ga->source));
  json_object_set_new(r, "b_energy_source", json_string(gb->source));
  return r;
}

/* @p prec digits after the point; @p sign: always show the sign (a change). */
static void fmt(char *buf, size_t len, json_t *v, int prec, bool sign) {
  if (json_is_number(v)) {
    snprintf(buf, len, sign ? "%+.*f" : "%.*f", prec, json_number_value(v));
  } else {
    snprintf(buf, len, "-");
  }
}

static void print_table(json_t *rows, long top) {
  printf("%-40s %13s %13s %12s %8s %9s %9s %8s %9s %9s  %s\n", "NAME", "A ENERGY J", "B ENERGY J",
         "DIFF J", "DIFF %", "A TIME s", "B TIME s", "TIME %", "A W", "B W", "SIGNIFICANCE");
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    if (top > 0 && (long)i >= top) {
      printf("  ... %zu more (--top 0 shows all)\n", json_array_size(rows) - i);
      break;
    }
    char ae[32], be[32], dj[32], dp[32], at[32], bt[32], tp[32], aw[32], bw[32], sig[64];
    fmt(ae, sizeof ae, json_object_get(r, "a_energy_j"), 4, false);
    fmt(be, sizeof be, json_object_get(r, "b_energy_j"), 4, false);
    if (json_is_number(json_object_get(r, "a_energy_std_j"))) {
      size_t l = strlen(ae);
      snprintf(ae + l, sizeof ae - l, "±%.2g",
               json_number_value(json_object_get(r, "a_energy_std_j")));
    }
    if (json_is_number(json_object_get(r, "b_energy_std_j"))) {
      size_t l = strlen(be);
      snprintf(be + l, sizeof be - l, "±%.2g",
               json_number_value(json_object_get(r, "b_energy_std_j")));
    }
    fmt(dj, sizeof dj, json_object_get(r, "energy_diff_j"), 4, true);
    fmt(dp, sizeof dp, json_object_get(r, "energy_diff_percent"), 1, true);
    fmt(at, sizeof at, json_object_get(r, "a_duration_s"), 4, false);
    fmt(bt, sizeof bt, json_object_get(r, "b_duration_s"), 4, false);
    fmt(tp, sizeof tp, json_object_get(r, "duration_diff_percent"), 1, true);
    fmt(aw, sizeof aw, json_object_get(r, "a_power_w"), 3, false);
    fmt(bw, sizeof bw, json_object_get(r, "b_power_w"), 3, false);
    json_t *s = json_object_get(r, "significant");
    const char *only = json_string_value(json_object_get(r, "only_in"));
    if (only != NULL) {
      snprintf(sig, sizeof sig, "only in %s", only);
    } else if (!json_is_number(json_object_get(r, "energy_diff_j"))) {
      snprintf(sig, sizeof sig, "not compared (a side not measured)");
    } else if (json_is_string(json_object_get(r, "not_tested_because"))) {
      snprintf(sig, sizeof sig, "not tested (only the first instances detailed)");
    } else if (json_is_null(s)) {
      snprintf(sig, sizeof sig, "not tested (no repeats)");
    } else {
      snprintf(sig, sizeof sig, "%s p=%.2g", json_is_true(s) ? "significant" : "not significant",
               json_number_value(json_object_get(r, "p_value")));
    }
    const char *name = json_string_value(json_object_get(r, "name"));
    char name_cols[256];
    printf("%s %13s %13s %12s %8s %9s %9s %8s %9s %9s  %s\n",
           cg_columns(name_cols, sizeof name_cols, name, 40, true), ae, be, dj, dp, at, bt, tp, aw,
           bw, sig);
  }
}

static const char *const columns[] = {"name",
                                      "a_n",
                                      "a_detailed",
                                      "a_energy_j",
                                      "a_energy_std_j",
                                      "b_n",
                                      "b_detailed",
                                      "b_energy_j",
                                      "b_energy_std_j",
                                      "energy_diff_j",
                                      "energy_diff_percent",
                                      "energy_ratio",
                                      "a_duration_s",
                                      "b_duration_s",
                                      "duration_diff_percent",
                                      "a_power_w",
                                      "b_power_w",
                                      "power_diff_percent",
                                      "p_value",
                                      "significant",
                                      "not_tested_because",
                                      "only_in",
                                      "a_energy_source",
                                      "b_energy_source"};

static json_t *table_rows(json_t *rows) {
  json_t *out = json_array();
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    json_t *row = json_array();
    for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++) {
      json_t *v = json_object_get(r, columns[c]);
      json_array_append_new(row, v ? json_incref(v) : json_null());
    }
    json_array_append_new(out, row);
  }
  return out;
}

static json_t *load(const char *path, cg_groups *g) {
  char msg[600];
  json_t *doc = NULL;
  if (nemb__report_load(path, &doc, msg, sizeof msg) != 0) {
    fprintf(stderr, "codegreen diff: %s\n", msg);
    return NULL;
  }
  if (cg_groups_from_report(doc, g) != 0 || g->n == 0) {
    fprintf(stderr,
            "codegreen diff: %s is not a codegreen report (no meta, runs, functions or "
            "tasks)\n",
            path);
    json_decref(doc);
    return NULL;
  }
  return doc;
}

int cg_cmd_diff(int argc, char **argv) {
  enum { OPT_JSON = 256, OPT_FAIL, OPT_TOP };
  static const struct option opts[] = {{"fail-if-regressed", required_argument, NULL, OPT_FAIL},
                                       {"output", required_argument, NULL, 'o'},
                                       {"json", no_argument, NULL, OPT_JSON},
                                       {"top", required_argument, NULL, OPT_TOP},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  cg_outputs out = {0};
  bool json = false, quiet = false, gate = false;
  double pct = 0;
  long top = 30;
  int c;
  while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case OPT_FAIL:
      pct = strtod(optarg, &end);
      if (end == optarg || *end != '\0' || !(pct >= 0)) {
        fprintf(stderr, "codegreen diff: --fail-if-regressed wants a percentage (0 or more)\n");
        return CG_EXIT_USAGE;
      }
      gate = true;
      break;
    case 'o':
      if (cg_outputs_add(&out, "diff", optarg, CG_OUT_JSON | CG_OUT_CSV | CG_OUT_MD) != 0) {
        return CG_EXIT_USAGE;
      }
      break;
    case OPT_JSON:
      json = true;
      break;
    case OPT_TOP:
      top = strtol(optarg, &end, 10);
      if (end == optarg || *end != '\0' || top < 0) {
        fprintf(stderr, "codegreen diff: --top wants a whole number (0: all rows)\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (argc - optind != 2) {
    fprintf(stderr, "codegreen diff: give two reports, A (before) and B (after)\n\n");
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  /* Every destination is tried before the reports are read: a lost -o must not pass for the
   * gate's verdict (exit 1) after it. */
  const char *dests[CG_MAX_OUTPUTS];
  for (size_t i = 0; i < out.n; i++) {
    dests[i] = out.item[i].path;
  }
  if (cg_check_outputs("diff", dests, out.n) != 0) {
    return CG_EXIT_USAGE;
  }
  cg_groups ga, gb;
  json_t *da = load(argv[optind], &ga);
  if (da == NULL) {
    return CG_EXIT_USAGE;
  }
  json_t *db = load(argv[optind + 1], &gb);
  if (db == NULL) {
    cg_groups_free(&ga);
    json_decref(da);
    return CG_EXIT_USAGE;
  }
  if (strcmp(ga.kind, gb.kind) != 0 && !quiet) {
    fprintf(stderr,
            "codegreen diff: note: A is a %s report and B a %s report; only the whole "
            "(first row) compares like with like\n",
            ga.kind, gb.kind);
  }
  const char *pa = argv[optind], *pb = argv[optind + 1];
  bool ma = cg_groups_measured(&ga), mb = cg_groups_measured(&gb);
  char why[600] = "";
  bool incomparable = cg_groups_incomparable(&ga, pa, &gb, pb, why, sizeof why) != 0;
  /* Rows are paired by name (a command line, a function, a task name): the same two commands
   * listed in another order are still compared each with itself. Only when no name is in both
   * reports (a command line changed between A and B, or reports of different kinds) are the
   * first rows paired, and the row and a note say so. */
  size_t common = 0;
  for (size_t i = 0; i < ga.n; i++) {
    common += cg_groups_find(&gb, ga.g[i].name) != NULL;
  }
  bool by_first = common == 0;
  const cg_group *b0 = by_first ? &gb.g[0] : cg_groups_find(&gb, ga.g[0].name);
  json_t *rows = json_array();
  for (size_t i = 0; i < ga.n; i++) {
    if (i == 0 && by_first) {
      char *name = NULL;
      if (asprintf(&name, "A: %s | B: %s", ga.g[0].name, gb.g[0].name) < 0) {
        name = NULL;
      }
      json_array_append_new(
          rows, row_json(name ? name : ga.g[0].name, &ga.g[0], &gb.g[0], ma, mb, &ga, &gb));
      free(name);
      continue;
    }
    const cg_group *b = cg_groups_find(&gb, ga.g[i].name);
    json_array_append_new(rows, row_json(ga.g[i].name, &ga.g[i], b, ma, mb, &ga, &gb));
  }
  for (size_t i = by_first ? 1 : 0; i < gb.n; i++) {
    if (cg_groups_find(&ga, gb.g[i].name) == NULL) {
      json_array_append_new(rows, row_json(gb.g[i].name, NULL, &gb.g[i], ma, mb, &ga, &gb));
    }
  }
  const char *pairing = by_first ? "first_rows" : "by_name";
  if (by_first && !quiet) {
    fprintf(stderr,
            "codegreen diff: note: no %s is in both reports: the first rows are compared, A's "
            "`%s` with B's `%s`\n",
            strcmp(ga.kind, "run") == 0 && strcmp(gb.kind, "run") == 0 ? "command" : "name",
            ga.g[0].name, gb.g[0].name);
  }
  if (!quiet && !json) {
    printf("A: %s  (%s report, energy_source %s: %s)\n", pa, ga.kind, ga.source,
           cg_source_words(ga.source));
    printf("B: %s  (%s report, energy_source %s: %s)\n", pb, gb.kind, gb.source,
           cg_source_words(gb.source));
    if (strcmp(ga.total_time, "task_duration_s") == 0 ||
        strcmp(gb.total_time, "task_duration_s") == 0) {
      printf("(total) of a Session report: totals.energy_j (its tasks' energy) over "
             "totals.task_duration_s (its tasks' time)\n");
    }
  }
  if (incomparable && !quiet && !gate) {
    fprintf(stderr, "codegreen diff: WARNING: %s\n", why);
  }
  int code = CG_EXIT_OK;
  json_t *verdict = json_null();
  if (gate && incomparable) {
    fprintf(stderr,
            "codegreen diff: --fail-if-regressed cannot decide: %s; exit %d (compare reports "
            "measured the same way)\n",
            why, CG_EXIT_USAGE);
    verdict = json_pack("{s:f, s:n, s:o}", "fail_if_regressed_percent", pct, "regressed", "refused",
                        cg_json_text(why));
    code = CG_EXIT_USAGE;
  } else if (gate && b0 == NULL) {
    snprintf(why, sizeof why, "A's first row `%s` is not in B (%s); compare it by name in both",
             ga.g[0].name, pb);
    fprintf(stderr, "codegreen diff: --fail-if-regressed cannot decide: %s; exit %d\n", why,
            CG_EXIT_USAGE);
    verdict = json_pack("{s:f, s:n, s:o}", "fail_if_regressed_percent", pct, "regressed", "refused",
                        cg_json_text(why));
    code = CG_EXIT_USAGE;
  } else if (gate) {
    nemb_stats ae, ad, be, bd;
    nemb_comparison cmp;
    if (cg_group_stats(&ga.g[0], &ae, &ad) == 0 && cg_group_stats(b0, &be, &bd) == 0) {
      bool fired = cg_regressed(&ae, &be, true, pct, &cmp);
      char words[96], change[48], grew[48];
      cg_significance_words(&cmp, NULL, words, sizeof words);
      if (isfinite(cmp.diff_percent)) {
        snprintf(change, sizeof change, "%+.2f %%", cmp.diff_percent);
        snprintf(grew, sizeof grew, "%.2f %%", cmp.diff_percent);
      } else {
        snprintf(change, sizeof change, "from %.4g J to %.4g J", ae.mean, be.mean);
        snprintf(grew, sizeof grew, "%s", change);
      }
      verdict =
          json_pack("{s:f, s:b, s:o, s:s}", "fail_if_regressed_percent", pct, "regressed", fired,
                    "energy_diff_percent", num_or_null(cmp.diff_percent), "test", words);
      if (fired) {
        fprintf(stderr, "codegreen diff: REGRESSION: energy grew %s (threshold %.2f %%), %s\n",
                grew, pct, words);
        code = CG_EXIT_FAIL;
      } else if (!quiet) {
        fprintf(stderr, "codegreen diff: no regression beyond %.2f %% (energy %s, %s)\n", pct,
                change, words);
      }
    }
  }
  json_t *doc = json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "a",
                          cg_json_text(pa), "b", cg_json_text(pb), "a_kind", ga.kind, "b_kind",
                          gb.kind, "a_energy_source", ga.source, "b_energy_source", gb.source,
                          "a_measurement_quality", ga.quality, "b_measurement_quality", gb.quality,
                          "test", "welch_t_test (two-sided, alpha 0.05)", "comparable",
                          json_boolean(!incomparable), "rows", rows, "gate", verdict);
  if (incomparable) {
    json_object_set_new(doc, "not_comparable_because", cg_json_text(why));
  }
  json_object_set_new(doc, "pairing", json_string(pairing));
  json_object_set_new(doc, "a_total_time", json_string(ga.total_time));
  json_object_set_new(doc, "b_total_time", json_string(gb.total_time));
  if (json) {
    if (cg_write_json("diff", doc, "-", NULL) != 0) {
      code = code ? code : CG_EXIT_OUTPUT;
    }
  } else if (!quiet) {
    print_table(rows, top);
  }
  for (size_t i = 0; i < out.n; i++) {
    int rc;
    if (out.item[i].kind == CG_OUT_JSON) {
      rc = cg_write_json("diff", doc, out.item[i].path, NULL);
    } else {
      json_t *tr = table_rows(rows);
      cg_table t = {columns, sizeof columns / sizeof columns[0], tr};
      char title[1200];
      snprintf(title, sizeof title, "codegreen diff: A %s (%s), B %s (%s)%s%s", pa, ga.source, pb,
               gb.source, incomparable ? "; NOT COMPARABLE: " : "", incomparable ? why : "");
      rc = out.item[i].kind == CG_OUT_CSV ? cg_write_csv("diff", &t, out.item[i].path, false)
                                          : cg_write_markdown("diff", &t, title, out.item[i].path);
      json_decref(tr);
    }
    code = rc != 0 && code == 0 ? CG_EXIT_OUTPUT : code;
  }
  json_decref(doc);
  cg_groups_free(&ga);
  cg_groups_free(&gb);
  json_decref(da);
  json_decref(db);
  return code;
}
