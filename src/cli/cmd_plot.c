/*
 * cmd_plot.c - `codegreen plot REPORT.json -o OUT.html|OUT.png`: draws a saved report's power
 * over time. The report must hold time series (Session(record_time_series=True), or
 * `codegreen run --time-series`); `codegreen run --export-plot` draws a run directly instead.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nemb.h"
#include "outputs.h"

#define MAX_OUTPUTS 8

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen plot REPORT.json [-o OUT.html|OUT.png|OUT.svg ...]\n\n"
          "Draws the power over time of a saved report, with each task's window shaded and\n"
          "named. The report needs time series: record with `codegreen run --time-series` or\n"
          "Session(record_time_series=True); `codegreen run --export-plot FILE` plots a run\n"
          "without them.\n\n"
          "  -o, --output FILE   .html: one self-contained interactive page (zoom, hover), opens\n"
          "                      offline; .png: a 1200x700 image; .svg: the same image as\n"
          "                      vectors. May be given up to %d times. Without -o: REPORT.html\n"
          "                      (the report's name with .html for .json or .json.zst)\n"
          "  -q, --quiet         do not name the files written\n"
          "  -h, --help          this help\n",
          MAX_OUTPUTS);
}

/* The length of @p report without its .json or .json.zst ending (the whole name otherwise):
 * the default output is that stem with .html. */
static size_t report_stem(const char *report) {
  static const char *const endings[] = {".json.zst", ".json"};
  size_t len = strlen(report);
  for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
    size_t n = strlen(endings[i]);
    if (len > n && strcmp(report + len - n, endings[i]) == 0) {
      return len - n;
    }
  }
  return len;
}

int cg_cmd_plot(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *outputs[MAX_OUTPUTS];
  size_t n_out = 0;
  int quiet = 0, c;
  while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      if (n_out == MAX_OUTPUTS) {
        fprintf(stderr, "codegreen plot: at most %d outputs\n", MAX_OUTPUTS);
        return CG_EXIT_USAGE;
      }
      for (size_t i = 0; i < n_out; i++) {
        if (cg_same_path(outputs[i], optarg)) {
          fprintf(stderr, "codegreen plot: -o %s given twice\n", optarg);
          return CG_EXIT_USAGE;
        }
      }
      outputs[n_out++] = optarg;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  const char *report = cg_one_operand(argc, argv, "plot", "report", print_usage);
  if (report == NULL) {
    return CG_EXIT_USAGE;
  }
  char *fallback = NULL;
  if (n_out == 0) {
    if (asprintf(&fallback, "%.*s.html", (int)report_stem(report), report) < 0) {
      return cg_fail(NEMB_ENOMEM, "out of memory");
    }
    outputs[n_out++] = fallback;
  }
  int code = CG_EXIT_OK;
  for (size_t i = 0; i < n_out; i++) {
    int rc = nemb_report_export_plot(report, outputs[i]);
    if (rc == NEMB_EINVAL && strstr(nemb_last_error(), "extension") != NULL) {
      fprintf(stderr, "codegreen plot: %s\n", nemb_last_error());
      free(fallback);
      return CG_EXIT_USAGE;
    }
    if (rc != 0) {
      /* A message that does not name this output is about the report (unreadable, not a
       * report, no series): every other output would fail the same way. */
      bool report_failed = strstr(nemb_last_error(), outputs[i]) == NULL;
      code = cg_fail(rc, "cannot plot the report");
      if (report_failed) {
        break;
      }
    } else if (!quiet) {
      fprintf(stderr, "codegreen plot: wrote %s\n", outputs[i]);
    }
  }
  free(fallback);
  return code;
}
