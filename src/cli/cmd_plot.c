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
          "                      (the report's name with .html for .json)\n"
          "  -q, --quiet         do not name the files written\n"
          "  -h, --help          this help\n",
          MAX_OUTPUTS);
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
    /* REPORT.json -> REPORT.html beside it; another name gets .html added. */
    size_t len = strlen(report);
    bool json = len > 5 && strcmp(report + len - 5, ".json") == 0;
    if (asprintf(&fallback, "%.*s.html", (int)(json ? len - 5 : len), report) < 0) {
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
      code = cg_fail(rc, "cannot plot the report");
    } else if (!quiet) {
      fprintf(stderr, "codegreen plot: wrote %s\n", outputs[i]);
    }
  }
  free(fallback);
  return code;
}
