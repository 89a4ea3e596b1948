/*
 * main.c - the codegreen command: finds the verb in a table and runs it.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nemb.h"
#include "outputs.h"

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"run", cg_cmd_run, "measure the energy of a command, once or over repeats"},
    {"measure", cg_cmd_measure, "instrument a program and measure every function's energy"},
    {"analyze", cg_cmd_analyze, "list (or save) the instrumentation points of a program"},
    {"info", cg_cmd_info, "what this machine can measure, and why not"},
    {"diff", cg_cmd_diff, "compare two saved reports: energy, time, power, significance"},
    {"plot", cg_cmd_plot, "draw a saved report's power over time (.html, .png or .svg)"},
    {"setup-permissions", cg_cmd_setup_permissions,
     "(as root) let a group read the energy counters without root"},
    {"sample", cg_cmd_sample, "run the sampler for a while and print the energy it measured"},
    {"merge", cg_cmd_merge, "merge a job's per-node and per-rank reports into one"},
    {"exporter", cg_cmd_exporter, "serve the energy counters to Prometheus (/metrics)"},
};

static void print_usage(FILE *fp) {
  fprintf(fp, "usage: codegreen <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    fprintf(fp, "  %-18s %s\n", commands[i].name, commands[i].summary);
  }
  fprintf(fp,
          "\n'codegreen <command> --help' describes a command.\n"
          "Environment: CODEGREEN_CONFIG (config.json to use), CODEGREEN_PROVIDERS (force a\n"
          "provider list, e.g. 'sim'), CODEGREEN_SYSFS_ROOT (read /sys, /proc, /dev under it).\n");
}

int cg_fail(int rc, const char *what) {
  const char *detail = nemb_last_error();
  fprintf(stderr, "codegreen: %s: %s\n", what, detail[0] ? detail : nemb_strerror(rc));
  return CG_EXIT_FAIL;
}

const char *cg_one_operand(int argc, char **argv, const char *verb, const char *what,
                           void (*usage)(FILE *)) {
  if (optind == argc - 1) {
    return argv[optind];
  }
  if (optind >= argc) {
    fprintf(stderr, "codegreen %s: no %s given\n\n", verb, what);
  } else {
    fprintf(stderr, "codegreen %s: one %s at a time\n\n", verb, what);
  }
  usage(stderr);
  return NULL;
}

bool cg_no_operand(int argc, char **argv, const char *verb, void (*usage)(FILE *)) {
  if (optind >= argc) {
    return true;
  }
  fprintf(stderr, "codegreen %s: unexpected argument '%s'\n", verb, argv[optind]);
  usage(stderr);
  return false;
}

bool cg_parse_interval_ms(const char *text, long *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= NEMB_INTERVAL_MS_MIN && v <= NEMB_INTERVAL_MS_MAX) ||
      v != (double)(long)v) {
    return false;
  }
  *out = (long)v;
  return true;
}

int cg_finish_stdout(int code) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "codegreen: cannot write to standard output: %s\n", strerror(errno));
    return code ? code : CG_EXIT_OUTPUT;
  }
  return code;
}

/* The library's warnings (an unknown config key and its nearest known one, a provider skipping
 * a domain) go to stderr, each distinct one once: a failing counter read would repeat its
 * warning every millisecond. */
static void log_to_stderr(nemb_log_level level, const char *message, void *user) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static char said[32][256];
  static size_t n_said;
  (void)level;
  (void)user;
  pthread_mutex_lock(&lock);
  bool seen = false;
  for (size_t i = 0; i < n_said && i < 32 && !seen; i++) {
    seen = strncmp(said[i], message, sizeof said[i] - 1) == 0;
  }
  if (!seen) {
    snprintf(said[n_said++ % 32], sizeof said[0], "%.255s", message);
    fprintf(stderr, "codegreen: warning: %s\n", message);
  }
  pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
  cg_std_reserve(); /* first: nothing opened may take a closed standard stream's number */
  nemb_set_log_callback(log_to_stderr, NULL, NEMB_LOG_WARN);
  if (argc < 2) {
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  const char *verb = argv[1];
  if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
    print_usage(stdout);
    return cg_finish_stdout(CG_EXIT_OK);
  }
  if (strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
    printf("codegreen %s (libcodegreen-nemb ABI %d)\n", nemb_version_string(), nemb_abi_version());
    return cg_finish_stdout(CG_EXIT_OK);
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(verb, commands[i].name) == 0) {
      return cg_finish_stdout(commands[i].fn(argc - 1, argv + 1));
    }
  }
  fprintf(stderr, "codegreen: unknown command '%s'\n\n", verb);
  print_usage(stderr);
  return CG_EXIT_USAGE;
}
