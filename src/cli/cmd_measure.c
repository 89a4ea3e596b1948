/*
 * cmd_measure.c - `codegreen measure [options] [LANGUAGE] SCRIPT [ARGS...]`: instruments a
 * program, runs it, and reports the energy of every function.
 *
 * 1. The script is instrumented in memory (src/instrument) with a line map back to the original.
 * 2. Everything codegreen writes goes into a fresh temporary directory, never beside the user's
 *    file: the instrumented copy and its line map (cg-src/), the language's runner (cg-runner/),
 *    the compiled program and the result file.
 * 3. The runner, run with the user's interpreter, compiles the instrumented copy so that it
 *    keeps the user's file name, lines and columns (tracebacks and warnings look as without
 *    codegreen) and writes a .pyc.
 * 4. The program runs with that interpreter, the user's arguments, stdin, stdout, stderr and
 *    working directory. The runtime module it imports (codegreen_runtime, from the python/
 *    directory put on PYTHONPATH) measures through libcodegreen-nemb and, at exit, writes the
 *    report to $CODEGREEN_RESULT_FILE: nothing is parsed out of the program's output.
 * 5. codegreen prints the per-function table on stderr (sorted by energy, with where the figures
 *    come from), the report with --json or -o, and exits with the program's status (128 + signal
 *    if it was killed). SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGPIPE sent to codegreen reach the
 *    program's process group; the runtime writes its report on SIGTERM and SIGHUP too, then
 *    dies of the signal as it would have.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "funcviews.h"
#include "instrument.h"
#include "json_load.h"
#include "left.h"
#include "measure.h"
#include "measure_children.h"
#include "measure_project.h"
#include "measure_runpy.h"
#include "nemb.h"
#include "outputs.h"

/* The views the table prints under each function (--call-graph), or NULL. */
static const cg_views *table_views;
#include "secure_env.h"

#ifndef CG_SOURCE_PYTHON_DIR
#define CG_SOURCE_PYTHON_DIR ""
#endif
#ifndef CG_INSTALL_PYTHON_DIR
#define CG_INSTALL_PYTHON_DIR "share/codegreen/python"
#endif

static void print_usage(FILE *fp) {
  fprintf(
      fp,
      "usage: codegreen measure [options] [LANGUAGE] SCRIPT [ARGS...]\n"
      "       codegreen measure [options] python [-m MODULE | DIR | ZIP] [ARGS...]\n\n"
      "Instruments SCRIPT (every function; with -g fine also loops and the module body),\n"
      "runs it with ARGS, and reports each function's energy. The program's stdin, stdout,\n"
      "stderr, working directory and exit status are its own; the table goes to stderr.\n"
      "measure exits with the program's status, else 2 for a usage error (also an -o that\n"
      "cannot be written: nothing is run), 3 when the program exited 0 but an output could\n"
      "not be written after all.\n"
      "Languages: %s (LANGUAGE may be left out when the file's extension says it).\n"
      "Interpreter options go between LANGUAGE and SCRIPT: measure python -X dev -O s.py;\n"
      "as for python, '--' ends them (measure python -O -- -dash.py, measure -- -dash.py).\n"
      "-m MODULE, a directory or a zip file with __main__.py run as python runs them; the\n"
      "working directory's, the directory's or the archive's modules are instrumented.\n\n"
      "  -g, --granularity G  coarse (default) or fine\n"
      "  --python PATH        the interpreter (default: $CODEGREEN_PYTHON, else python3 on PATH)\n"
      "  --json               print the JSON report on stderr instead of the table\n"
      "  -o, --output FILE    write the report; repeatable. The extension says the kind: .json\n"
      "                       (any kind + .zst: zstd-compressed), .csv (one row per function, "
      "with\n"
      "                       provenance), .md (Markdown),\n"
      "                       .folded (collapsed stacks weighted by microjoules: an energy\n"
      "                       flame graph with flamegraph.pl or inferno), .speedscope.json\n"
      "                       (open in speedscope.app); '-' writes the JSON to stdout\n"
      "  --append             add the CSV rows to an existing file with the same header\n"
      "  --sort KEY           order of the table and files: %s\n"
      "                       (default energy)\n"
      "  --call-graph         under each function, its callers and callees with the energy\n"
      "                       along each edge (also in the JSON report as call_graph)\n"
      "  --export-plot FILE   draw the run's power over time with the functions' spans\n"
      "                       (.html, .png or .svg)\n"
      "  --carbon-intensity G grams CO2e per kWh (user-given): adds co2e_g to the report\n"
      "  --top N              rows in the table (default 25; 0: all)\n"
      "  -c, --config FILE    the config.json the measurement uses\n"
      "  --keep-temp          keep the temporary directory and print where it is\n"
      "  -q, --quiet          no table\n"
      "  --leave-decorated NAME  leave functions with this decorator as they are (besides the\n"
      "                       JIT compilers codegreen knows: numba, torch.jit, ...)\n"
      "  --include PATH       also instrument the modules under PATH (repeatable; the\n"
      "                       script's directory always is, site-packages never)\n"
      "  --script-only        instrument the script alone, not the modules beside it\n"
      "  -h, --help           this help\n\n"
      "C and C++ (measure c|cpp FILE... [-- ARGS], or a project: measure --build CMD\n"
      "--instrument DIR -- PROG [ARGS]) and Java (measure java Main.java|DIR [-- ARGS]):\n",
      cgi_language_list(), CG_SORT_KEYS);
  cg_measure_native_help(fp);
  fprintf(
      fp,
      "\n"
      "codegreen's options may come before or after SCRIPT (as in `codegreen measure python\n"
      "script.py -g fine --export-plot energy.html`). The script's own arguments follow '--':\n"
      "`codegreen measure script.py -- -v input.txt`. Words after SCRIPT that are not options\n"
      "also go to the script; an unknown option before '--' is an error.\n"
      "Output convention (as perf stat and codegreen run): stdout belongs to the program.\n\n"
      "Environment: CODEGREEN_PYTHON_DIR (where codegreen_runtime.py is), CODEGREEN_PYTHON (the\n"
      "default interpreter; pip's codegreen sets it to its own), CODEGREEN_PROVIDERS,\n"
      "CODEGREEN_CONFIG, TMPDIR.\n");
}

/* Interpreter options between the language and the script ("measure python -X dev -W error
 * s.py"), given to the interpreter for the compile step and the run alike. `-m MODULE` (or
 * -mMODULE) ends them, as for python: the module's name takes the script's place. Options that
 * run no program of the user's files (-c) or hide the environment measure uses (-E, -I) are
 * refused. */
static int interpreter_options(int argc, char **argv, int *i, measure_opts *o) {
  int start = *i;
  int end = -1;
  while (*i < argc && argv[*i][0] == '-' && argv[*i][1] != '\0') {
    const char *a = argv[*i];
    if (strcmp(a, "--") == 0) {
      /* python's rule: "--" ends the options, and the next word is the script whatever it starts
       * with (`python3 -O -- -dash.py`); it is not passed on, as python does not need it */
      end = *i;
      *i += 1;
      if (*i < argc) {
        o->script_after_dd = true;
      }
      break;
    }
    if (a[1] == 'm') {
      o->module = true;
      end = *i;
      if (a[2] != '\0') {
        argv[*i] += 2; /* -mNAME: NAME is the word that follows the options */
      } else {
        *i += 1;
      }
      break;
    }
    if (strchr("EIc", a[1]) != NULL || a[1] == '-') {
      fprintf(stderr,
              "codegreen measure: interpreter option '%s' is not supported (-E and -I hide the "
              "environment measure needs; -c runs no file)\n",
              a);
      return -1;
    }
    bool takes_value = (a[1] == 'W' || a[1] == 'X') && a[2] == '\0';
    *i += takes_value ? 2 : 1;
  }
  if (o->module && *i >= argc) {
    fprintf(stderr, "codegreen measure: -m wants a module's name\n");
    return -1;
  }
  if (*i >= argc) {
    return 0; /* "no script given" follows */
  }
  o->interp = argv + start;
  o->n_interp = (size_t)((end >= 0 ? end : *i) - start);
  return 0;
}

/* argv for the interpreter: PYTHON, the interpreter options, then @p rest (NULL-terminated).
 * Returns NULL when out of memory; free() it. */
static char **interpreter_argv(const char *python, const measure_opts *o, char *const *rest) {
  size_t n = 0;
  while (rest[n] != NULL) {
    n++;
  }
  char **v = calloc(1 + o->n_interp + n + 1, sizeof *v);
  if (v != NULL) {
    v[0] = (char *)python;
    for (size_t k = 0; k < o->n_interp; k++) {
      v[1 + k] = o->interp[k];
    }
    for (size_t k = 0; k < n; k++) {
      v[1 + o->n_interp + k] = rest[k];
    }
  }
  return v;
}

struct paths;
static int prepare_modules(const measure_opts *o, const cgi_options *io, cg_run_kind kind,
                           const char *target, const char *zip_list, const struct paths *p,
                           char **list, char **done, size_t *points, json_t *point_list);
static bool is_python_archive_or_dir(const char *target) {
  return cg_run_kind_of(target) != CG_RUN_SCRIPT;
}

enum {
  OPT_PYTHON = 256,
  OPT_JSON,
  OPT_PLOT,
  OPT_TOP,
  OPT_KEEP,
  OPT_APPEND,
  OPT_SORT,
  OPT_GRAPH,
  OPT_LEAVE,
  OPT_INCLUDE,
  OPT_SCRIPT_ONLY,
  OPT_CARBON
};

const struct option cg_measure_options[] = {
    {"granularity", required_argument, NULL, 'g'},
    {"python", required_argument, NULL, OPT_PYTHON},
    {"json", no_argument, NULL, OPT_JSON},
    {"output", required_argument, NULL, 'o'},
    {"append", no_argument, NULL, OPT_APPEND},
    {"sort", required_argument, NULL, OPT_SORT},
    {"call-graph", no_argument, NULL, OPT_GRAPH},
    {"export-plot", required_argument, NULL, OPT_PLOT},
    {"top", required_argument, NULL, OPT_TOP},
    {"config", required_argument, NULL, 'c'},
    {"keep-temp", no_argument, NULL, OPT_KEEP},
    {"quiet", no_argument, NULL, 'q'},
    {"leave-decorated", required_argument, NULL, OPT_LEAVE},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"script-only", no_argument, NULL, OPT_SCRIPT_ONLY},
    {"carbon-intensity", required_argument, NULL, OPT_CARBON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

const char *cg_measure_python_only(int c) {
  switch (c) {
  case OPT_LEAVE:
    return "--leave-decorated";
  case OPT_INCLUDE:
    return "--include";
  case OPT_SCRIPT_ONLY:
    return "--script-only";
  default:
    return NULL;
  }
}

int cg_measure_take_option(int c, measure_opts *o) {
  switch (c) {
  case 'g':
    if (cgi_parse_granularity(optarg, &o->gran) != 0) {
      fprintf(stderr, "codegreen measure: --granularity is coarse or fine, not '%s'\n", optarg);
      return CG_EXIT_USAGE;
    }
    return 0;
  case OPT_PYTHON:
    o->python = optarg;
    return 0;
  case OPT_JSON:
    o->json = true;
    return 0;
  case 'o':
    return cg_outputs_add(&o->out, "measure", optarg,
                          CG_OUT_JSON | CG_OUT_CSV | CG_OUT_MD | CG_OUT_FOLDED | CG_OUT_SPEEDSCOPE);
  case OPT_APPEND:
    o->out.append = true;
    return 0;
  case OPT_SORT:
    if (!cg_sort_key_valid(optarg)) {
      fprintf(stderr, "codegreen measure: --sort takes one of %s, not '%s'\n", CG_SORT_KEYS,
              optarg);
      return CG_EXIT_USAGE;
    }
    o->sort = optarg;
    return 0;
  case OPT_GRAPH:
    o->call_graph = true;
    return 0;
  case OPT_PLOT:
    if (o->plot != NULL) { /* the second one silently replaced the first */
      fprintf(stderr,
              "codegreen measure: --export-plot is given twice ('%s', '%s'): one plot per "
              "run (`codegreen plot` draws another kind from a report); nothing was run\n",
              o->plot, optarg);
      return CG_EXIT_USAGE;
    }
    o->plot = optarg;
    return 0;
  case OPT_TOP: {
    char *end;
    o->top = strtol(optarg, &end, 10);
    if (end == optarg || *end != '\0' || o->top < 0) {
      fprintf(stderr, "codegreen measure: --top wants a whole number (0: all rows)\n");
      return CG_EXIT_USAGE;
    }
    return 0;
  }
  case 'c':
    o->config = optarg;
    return 0;
  case OPT_KEEP:
    o->keep = true;
    return 0;
  case 'q':
    o->quiet = true;
    return 0;
  case OPT_LEAVE:
    if (cgi_append_word(o->leave, sizeof o->leave, optarg) != 0) {
      fprintf(stderr, "codegreen measure: too many --leave-decorated names\n");
      return CG_EXIT_USAGE;
    }
    return 0;
  case OPT_INCLUDE:
    if (o->n_include == sizeof o->include / sizeof o->include[0]) {
      fprintf(stderr, "codegreen measure: too many --include paths\n");
      return CG_EXIT_USAGE;
    }
    o->include[o->n_include++] = optarg;
    return 0;
  case OPT_SCRIPT_ONLY:
    o->script_only = true;
    return 0;
  case OPT_CARBON:
    return cg_carbon_option("measure", optarg);
  case 'h':
    print_usage(stdout);
    return -1;
  default:
    /* getopt has named the option; the 50 lines of usage would bury that line. */
    if (optopt == 'm') {
      fprintf(stderr, "codegreen measure: to run a module as `python -m` does, name the language "
                      "first: codegreen measure python -m MODULE [ARGS]\n");
    }
    fprintf(stderr, "codegreen measure: 'codegreen measure --help' lists the options\n");
    return CG_EXIT_USAGE;
  }
}

int cg_measure_args_after(int argc, char **argv, int i, const cg_measure_after *a, char **args) {
  int dd = i;
  while (dd < argc && strcmp(argv[dd], "--") != 0) {
    dd++;
  }
  bool has_dd = dd < argc;
  /* getopt_long reads its own vector: the words up to "--", after the program's name */
  char **sub = calloc((size_t)(dd - i) + 2, sizeof *sub);
  if (sub == NULL) {
    fprintf(stderr, "codegreen measure: out of memory\n");
    return CG_EXIT_FAIL;
  }
  sub[0] = argv[0];
  for (int k = i; k < dd; k++) {
    sub[k - i + 1] = argv[k];
  }
  int subc = dd - i + 1, c, rc = 0;
  const char *taken = NULL;
  size_t n = 0;
  optind = 0; /* glibc: start over on a new vector */
  opterr = 0;
  /* '-': getopt_long permutes nothing and hands each plain word over as c == 1, so plain words
   * stay the program's arguments in their order */
  while ((c = getopt_long(subc, sub, "-g:o:c:qh", a->options, NULL)) != -1) {
    if (c == 1) {
      args[n++] = optarg;
      continue;
    }
    if (c == '?' || c == ':') {
      const char *bad = sub[optind - 1];
      fprintf(stderr,
              "codegreen measure: '%s' after the %s is not a codegreen option%s.\n"
              "  The %s's own arguments follow '--': codegreen measure [options] %s -- %s\n",
              bad, a->after, c == ':' ? " or lacks its value" : "", a->whose, a->before, bad);
      rc = CG_EXIT_USAGE;
      break;
    }
    if (taken == NULL) { /* the option's own word, not its value */
      taken = optarg != NULL && optarg == sub[optind - 1] ? sub[optind - 2] : sub[optind - 1];
    }
    if ((rc = a->take(c, a->ctx)) != 0) {
      break;
    }
  }
  opterr = 1;
  free(sub);
  if (rc != 0) {
    return rc;
  }
  for (int k = dd + 1; has_dd && k < argc; k++) {
    args[n++] = argv[k];
  }
  args[n] = NULL;
  if (a->check != NULL && (rc = a->check(a->ctx)) != 0) {
    return rc;
  }
  if (taken != NULL && !has_dd && !a->m->quiet && !a->m->json) {
    fprintf(stderr,
            "codegreen measure: note: '%s' after the %s is taken as codegreen's option; "
            "arguments for the %s go after '--'\n",
            taken, a->after, a->whose);
  }
  return 0;
}

static int take_measure_option(int c, void *o) {
  return cg_measure_take_option(c, o);
}

int cg_measure_check_plot(const measure_opts *o) {
  if (o->plot != NULL) {
    const char *dot = strrchr(o->plot, '.');
    if (dot == NULL || (strcasecmp(dot, ".html") != 0 && strcasecmp(dot, ".htm") != 0 &&
                        strcasecmp(dot, ".png") != 0 && strcasecmp(dot, ".svg") != 0)) {
      fprintf(stderr, "codegreen measure: --export-plot wants a file ending in .html "
                      "(interactive page), .png or .svg (image); nothing was run\n");
      return CG_EXIT_USAGE;
    }
  }
  return 0;
}

int cg_measure_check_outputs(const measure_opts *o) {
  const char *dests[CG_MAX_OUTPUTS + 2];
  size_t n_dests = 0;
  for (size_t i = 0; i < o->out.n; i++) {
    dests[n_dests++] = o->out.item[i].path;
  }
  dests[n_dests++] = o->output;
  dests[n_dests++] = o->plot;
  /* usage, as an unknown extension is: the command line names it */
  return cg_check_outputs("measure", dests, n_dests) != 0 ? CG_EXIT_USAGE : 0;
}

int cg_measure_check_paths(const char *option, char *const *paths, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (access(paths[i], F_OK) != 0) {
      fprintf(stderr, "codegreen measure: %s %s: %s; nothing was run\n", option, paths[i],
              strerror(errno));
      return CG_EXIT_USAGE;
    }
  }
  return 0;
}

/* Why the program @p target has no language: a language's name with no file after it, an
 * extension no language has (each language's are listed), or no extension to tell by. */
static void unknown_language(const char *target) {
  const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
  const char *dot = strrchr(base, '.');
  if (cgi_language_find(target) != NULL && access(target, F_OK) != 0) {
    fprintf(stderr,
            "codegreen measure: no file after the language '%s': codegreen measure %s FILE... "
            "[-- ARGS]\n",
            target, target);
    return;
  }
  char known[512] = "";
  char names[256];
  snprintf(names, sizeof names, "%s", cgi_language_list());
  char *save = NULL;
  for (char *n = strtok_r(names, ", ", &save); n != NULL; n = strtok_r(NULL, ", ", &save)) {
    const char *ext = cgi_language_get(cgi_language_find(n), "extensions");
    size_t used = strlen(known);
    snprintf(known + used, sizeof known - used, "%s%s (%s)", used ? ", " : "", n,
             ext != NULL ? ext : "");
  }
  if (dot != NULL && dot != base) {
    fprintf(stderr,
            "codegreen measure: cannot measure '%s' by function: codegreen instruments %s; "
            "a program in one of them under another name: codegreen measure LANGUAGE %s; any "
            "program as a whole: codegreen run -- PROG\n",
            target, known, target);
    return;
  }
  fprintf(stderr,
          "codegreen measure: cannot tell the language of '%s' from its name; say it: "
          "codegreen measure python %s (languages: %s)\n",
          target, target, cgi_language_list());
}

static int parse_args(int argc, char **argv, measure_opts *o) {
  *o = (measure_opts){.gran = CGI_COARSE, .top = 25};
  int c, rc;
  argv[0] = "codegreen measure"; /* getopt's messages start with it */
  /* '+': options before the script stop at the script's name */
  while ((c = getopt_long(argc, argv, "+g:o:c:qh", cg_measure_options, NULL)) != -1) {
    if ((rc = cg_measure_take_option(c, o)) != 0) {
      return rc;
    }
  }
  int i = optind;
  if (i < argc && strcmp(argv[i], "--") == 0) {
    i++;
  }
  /* "measure python script.py": a language name first when a script follows it */
  if (i + 1 < argc && cgi_language_find(argv[i]) != NULL) {
    o->lang = cgi_language_find(argv[i]);
    i++;
  }
  if (i >= argc) {
    fprintf(stderr, "codegreen measure: no script given\n\n");
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  /* Interpreter options go between the language and the script: without a language name the
   * word is the script, whatever it starts with (`codegreen measure -- -dash.py`). */
  if (o->lang != NULL && interpreter_options(argc, argv, &i, o) != 0) {
    return CG_EXIT_USAGE;
  }
  if (i >= argc) {
    fprintf(stderr, "codegreen measure: no script given after the interpreter's options\n");
    return CG_EXIT_USAGE;
  }
  const char *script = argv[i++];
  if (script[0] == '-' && o->lang != NULL && !o->script_after_dd) {
    fprintf(stderr,
            "codegreen measure: '%s': measure runs a script, a directory or zip file with "
            "__main__.py, or -m MODULE\n",
            script);
    return CG_EXIT_USAGE;
  }
  o->cmd = calloc((size_t)(argc - i) + 2, sizeof *o->cmd);
  if (o->cmd == NULL) {
    fprintf(stderr, "codegreen measure: out of memory\n");
    return CG_EXIT_FAIL;
  }
  o->cmd[0] = (char *)script;
  const cg_measure_after after = {.after = "script",
                                  .whose = "script",
                                  .before = script,
                                  .options = cg_measure_options,
                                  .take = take_measure_option,
                                  .ctx = o,
                                  .m = o};
  if ((rc = cg_measure_args_after(argc, argv, i, &after, o->cmd + 1)) != 0) {
    return rc;
  }
  if (o->lang == NULL && is_python_archive_or_dir(o->cmd[0])) {
    o->lang = cgi_language_find("python");
  }
  if (o->lang == NULL) {
    o->lang = cgi_language_for_path(o->cmd[0]);
    if (o->lang == NULL) {
      unknown_language(o->cmd[0]);
      return CG_EXIT_USAGE;
    }
  }
  if (cg_measure_check_paths("--include", o->include, o->n_include) != 0) {
    return CG_EXIT_USAGE;
  }
  /* A configuration the measurement cannot use is refused before anything runs, as `run` does:
   * the program's runtime would find it only when the program had run, warn, and report
   * nothing. */
  nemb_config *cfg = NULL;
  if (nemb_config_load(o->config, &cfg) != 0) {
    cg_fail(NEMB_ECONFIG, "cannot load the configuration (nothing was run)");
    return CG_EXIT_FAIL;
  }
  nemb_config_destroy(cfg);
  return cg_measure_check_plot(o);
}

/* ----- paths ----- */

static bool is_dir_with(const char *dir, const char *file) {
  char p[PATH_MAX];
  struct stat st;
  return dir != NULL && dir[0] != '\0' &&
         snprintf(p, sizeof p, "%s/%s", dir, file) < (int)sizeof p && stat(p, &st) == 0;
}

/* Where codegreen_runtime.py is: $CODEGREEN_PYTHON_DIR; else <bindir>/../share/codegreen/python,
 * what `cmake --install` put there; else this source tree's python/, but only for the build
 * tree's own executable (an installed copy, pip's included, never reaches back into the tree it
 * was built from). NULL for a pip-installed codegreen: its interpreter ($CODEGREEN_PYTHON, set by
 * the `codegreen` wrapper) imports the runtime by itself. */
static char *python_dir(void) {
  const char *env = nemb__env_get("CODEGREEN_PYTHON_DIR"); /* ignored when privileged */
  if (env != NULL && env[0] != '\0') {
    return is_dir_with(env, "codegreen_runtime.py") ? strdup(env) : NULL;
  }
  /* An installed codegreen uses what was installed with it, even while the source tree it was
   * built from still exists. */
  char exe[PATH_MAX];
  if (cg_measure_bin_dir(exe, sizeof exe) != 0) {
    return NULL;
  }
  char *p = NULL;
  if (asprintf(&p, "%s/../%s", exe, CG_INSTALL_PYTHON_DIR) >= 0) {
    if (is_dir_with(p, "codegreen_runtime.py")) {
      return p;
    }
    free(p);
  }
#ifdef CG_BUILD_BIN_DIR
  char build_bin[PATH_MAX];
  bool in_build_tree = realpath(CG_BUILD_BIN_DIR, build_bin) != NULL && strcmp(build_bin, exe) == 0;
#else
  bool in_build_tree = true;
#endif
  if (in_build_tree && is_dir_with(CG_SOURCE_PYTHON_DIR, "codegreen_runtime.py")) {
    return strdup(CG_SOURCE_PYTHON_DIR);
  }
  return NULL;
}

/* @p name looked up on PATH like execvp does; a name with a slash is taken as it is. */
char *cg_measure_find_program(const char *name) {
  if (strchr(name, '/') != NULL) {
    return access(name, X_OK) == 0 ? strdup(name) : NULL;
  }
  const char *path = getenv("PATH");
  if (path == NULL) {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  while (*path) {
    size_t n = strcspn(path, ":");
    char *p = NULL;
    if (asprintf(&p, "%.*s/%s", (int)n, n ? path : ".", name) < 0) {
      return NULL;
    }
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
      return p;
    }
    free(p);
    path += n + (path[n] == ':');
  }
  return NULL;
}

/* Removes what it can and carries on: a walk that stopped at the first failure left the rest of
 * the tree (the instrumented copy of the user's sources) in /tmp for good. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void cg_measure_remove_tree(const char *dir) {
  /* A child that outlives the program (a pool worker or forkserver exiting late) may still
   * write its report into the tree while it is removed, so a directory is not empty when its
   * turn comes: walk again, a few times, a little later each time (waits of 10 ms to 640 ms,
   * about 1.3 s in all, only while something is left). */
  for (int attempt = 0;; attempt++) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    struct stat st;
    if (lstat(dir, &st) != 0 || attempt == 7) {
      return;
    }
    struct timespec pause = {0, 10000000L << attempt};
    nanosleep(&pause, NULL);
  }
}

/* ----- running ----- */

/* Waits, up to CG_STRAGGLER_WAIT_MS, for the program's descendants still running after it
 * ended (measure is their subreaper): a pool worker or forkserver child writes
 * children/<pid>.json as it exits, and one that exits after the merge would be missing from the
 * report (`processes`, its rows). A descendant that outlives the wait (a daemon) is left alone.
 * Only descendants of the program exist then: the compile steps have been waited for. */
#define CG_STRAGGLER_WAIT_MS 3000
static void wait_for_stragglers(void) {
  for (int waited_ms = 0; waited_ms < CG_STRAGGLER_WAIT_MS;) {
    int st;
    pid_t w = waitpid(-1, &st, WNOHANG);
    if (w < 0 && errno != EINTR) {
      return; /* ECHILD: every descendant has ended */
    }
    if (w == 0) {
      struct timespec pause = {0, 10000000L};
      nanosleep(&pause, NULL);
      waited_ms += 10;
    }
  }
}

static int run_wait_env(char *const argv[], char *const envp[], bool quiet_stdin, bool forward,
                        int *status, int *err) {
  pid_t pid = cg_child_start_env(argv, envp, false, quiet_stdin, err);
  if (pid < 0) {
    return -1;
  }
  *status = cg_child_wait(pid, forward, NULL);
  return 0;
}

/* Runs @p argv (a path, not looked up); @p quiet_stdin gives it /dev/null as stdin. Fills
 * *status with the exit code or 128 + signal. @return 0, or -1 when it could not start (errno in
 * *err). */
int cg_measure_run_wait(char *const argv[], bool quiet_stdin, bool forward, int *status, int *err) {
  return run_wait_env(argv, NULL, quiet_stdin, forward, status, err);
}

/* The glibc tunables of the compile step (glibc manual, "Memory Allocation Tunables"): malloc's
 * memory advised MADV_HUGEPAGE (glibc.malloc.hugetlb=1), in one arena (glibc.malloc.arena_max=1:
 * the step compiles in a thread of its own, whose arena the first would not reach). Compiling a
 * big file writes its syntax tree and code objects into fresh memory a few bytes at a time, and a
 * page fault costs tens of microseconds on a virtual machine: an 80 000-line file's step made
 * 83 000 faults and took 2.4 s of CPU, 31 000 and 1.9 s with these (KVM guest, 2026-12-01). The
 * step only compiles; the program runs with the user's environment. */
#define COMPILE_TUNABLES "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"

/* This process's environment with COMPILE_TUNABLES before the user's own GLIBC_TUNABLES (whose
 * settings therefore win), or NULL when out of memory. Free the array and its last entry with
 * free_compile_environment(). */
static char **compile_environment(void) {
  size_t n = 0;
  while (environ[n] != NULL) {
    n++;
  }
  char **env = calloc(n + 2, sizeof *env);
  if (env == NULL) {
    return NULL;
  }
  static const char name[] = "GLIBC_TUNABLES=";
  const char *user = getenv("GLIBC_TUNABLES");
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(environ[i], name, sizeof name - 1) != 0) {
      env[k++] = environ[i];
    }
  }
  if (asprintf(&env[k], "%s%s%s%s", name, COMPILE_TUNABLES, user && user[0] ? ":" : "",
               user ? user : "") < 0) {
    free(env);
    return NULL;
  }
  return env;
}

static void free_compile_environment(char **env) {
  if (env != NULL) {
    size_t n = 0;
    while (env[n + 1] != NULL) {
      n++;
    }
    free(env[n]);
    free(env);
  }
}

/* The file of the libcodegreen-nemb this executable runs with, for the runtime to load too. */
const char *cg_measure_own_library(void) {
  static Dl_info info;
  unsigned (*fn)(void) = nemb_version;
  void *addr; /* ISO C has no cast from a function pointer to void * */
  memcpy(&addr, &fn, sizeof addr);
  if (dladdr(addr, &info) != 0 && info.dli_fname != NULL && info.dli_fname[0] == '/') {
    return info.dli_fname;
  }
  return NULL;
}

int cg_measure_prepend_env(const char *name, const char *dir) {
  const char *old = getenv(name);
  char *v = NULL;
  if (asprintf(&v, "%s%s%s", dir, old && old[0] ? ":" : "", old && old[0] ? old : "") < 0) {
    return -1;
  }
  int rc = setenv(name, v, 1);
  free(v);
  return rc;
}

static int measure_env_set(const char *name, const char *value);

/* What measure adds to the program's environment, for codegreen_runtime to undo once its session
 * has begun (so the program and its children see a plain run's environment): the names it sets,
 * in CODEGREEN_MEASURE_SET (comma-separated), the value each had before in
 * CODEGREEN_MEASURE_ORIG_<NAME> (absent when it was unset), and the user's own PYTHONPATH in
 * CODEGREEN_MEASURE_PYTHONPATH ("=VALUE", or "" when it was unset). */
static int measure_env_record(void) {
  const char *pp = getenv("PYTHONPATH");
  char *v = NULL;
  if (asprintf(&v, "%s%s", pp ? "=" : "", pp ? pp : "") < 0) {
    return -1;
  }
  int rc = setenv("CODEGREEN_MEASURE_PYTHONPATH", v, 1);
  free(v);
  return rc != 0 ? rc : setenv("CODEGREEN_MEASURE_SET", "", 1);
}

int cg_measure_env_set(const char *name, const char *value) {
  if (getenv("CODEGREEN_MEASURE_SET") == NULL && setenv("CODEGREEN_MEASURE_SET", "", 1) != 0) {
    return -1; /* (C, C++, Java: no PYTHONPATH to record, only the list) */
  }
  return measure_env_set(name, value);
}

static int measure_env_set(const char *name, const char *value) {
  const char *set = getenv("CODEGREEN_MEASURE_SET");
  if (set != NULL) {
    size_t n = strlen(name);
    bool listed = false;
    for (const char *q = set; *q && !listed; q = strchr(q, ',') ? strchr(q, ',') + 1 : "") {
      listed = strncmp(q, name, n) == 0 && (q[n] == ',' || q[n] == '\0');
    }
    char *v = NULL, *orig = NULL;
    const char *old = getenv(name);
    if (!listed && (asprintf(&v, "%s%s%s", set, set[0] ? "," : "", name) < 0 ||
                    asprintf(&orig, "CODEGREEN_MEASURE_ORIG_%s", name) < 0 ||
                    setenv("CODEGREEN_MEASURE_SET", v, 1) != 0 ||
                    (old != NULL && setenv(orig, old, 1) != 0))) {
      free(v);
      free(orig);
      return -1;
    }
    free(v);
    free(orig);
  }
  return setenv(name, value, 1);
}

/* When only the table is wanted, the per-invocation checkpoint detail of the report (up to
 * measurement.checkpoints.detail_limit records, 100000 by default: megabytes of JSON) would be
 * written and read for nothing. The program then gets a copy of the configuration in force (the
 * user's file, or none) with that limit at 0. @return 0, or -1 when the configuration cannot be
 * read (it is then left alone, and the runtime reports the problem itself). */
bool cg_measure_wants_detail(const measure_opts *o) {
  return o->json || o->out.n > 0 || o->output != NULL || o->call_graph || o->plot != NULL;
}

int cg_measure_config_without_detail(const char *explicit_path, const char *out_path) {
  nemb_config *cfg = NULL;
  if (nemb_config_load(explicit_path, &cfg) != 0) {
    return -1;
  }
  const char *origin = nemb_config_origin(cfg);
  json_t *doc = NULL;
  if (origin != NULL && origin[0] == '/') {
    doc = json_load_file(origin, 0, NULL);
  } else if (origin != NULL && explicit_path != NULL) {
    doc = json_load_file(explicit_path, 0, NULL);
  }
  nemb_config_destroy(cfg);
  if (doc == NULL) {
    doc = json_object();
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    return -1;
  }
  json_t *m = json_object_get(doc, "measurement");
  if (!json_is_object(m)) {
    m = json_object();
    json_object_set_new(doc, "measurement", m);
  }
  json_t *cp = json_object_get(m, "checkpoints");
  if (!json_is_object(cp)) {
    cp = json_object();
    json_object_set_new(m, "checkpoints", cp);
  }
  json_object_set_new(cp, "detail_limit", json_integer(0));
  int rc = json_dump_file(doc, out_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(doc);
  return rc == 0 ? 0 : -1;
}

/* ----- the report ----- */

/* The warnings of measure's table, and of its report's "warnings" (cg_measurement_warnings):
 * "checkpoints_only" is how a program measured by its checkpoints alone is, not a warning. */
static json_t *measurement_warnings(const json_t *report) {
  return cg_measurement_warnings(report, "checkpoints_only");
}

void cg_measure_print_table(json_t *report, const measure_opts *o, size_t n_points, int status) {
  json_t *meta = json_object_get(report, "meta");
  json_t *totals = json_object_get(report, "totals");
  json_t *funcs = json_object_get(report, "functions");
  json_t *cps = json_object_get(report, "checkpoints");
  const char *source = json_string_value(json_object_get(meta, "energy_source"));
  /* The program's run: the report's one depth-0 task (program_as_task), so the line says what
   * totals.energy_j and every share say; the session's own span is a little wider (its begin
   * and end around the program). Without that task (an older report), the session's. */
  double session_j = json_number_value(json_object_get(totals, "energy_j"));
  double wall = json_number_value(json_object_get(totals, "task_duration_s"));
  if (wall <= 0) {
    session_j = json_number_value(json_object_get(totals, "session_energy_j"));
    wall = json_number_value(json_object_get(totals, "wall_duration_s"));
  }
  if (wall <= 0) {
    wall = json_number_value(json_object_get(meta, "duration_total_s"));
  }
  const char *lang = cgi_language_name(o->lang);
  bool python = lang != NULL && strcmp(lang, "python") == 0;
  bool java = lang != NULL && strcmp(lang, "java") == 0;
  size_t n_called = 0, i;
  json_t *f, *called = json_object();
  json_array_foreach(funcs, i, f) {
    /* Functions, not rows: a function called in several processes has a row for each pid. */
    if (json_integer_value(json_object_get(f, "calls")) > 0) {
      const char *nm = json_string_value(json_object_get(f, "name"));
      const char *cx = json_string_value(json_object_get(f, "context"));
      char *key = NULL;
      if (asprintf(&key, "%s\x1f%s\x1f%lld", nm ? nm : "", cx ? cx : "",
                   (long long)json_integer_value(json_object_get(f, "line"))) >= 0) {
        json_object_set_new(called, key, json_true());
        free(key);
      }
    }
  }
  n_called = json_object_size(called);
  json_decref(called);
  fprintf(stderr, "\ncodegreen measure: %s", o->cmd[0]);
  for (char **a = o->cmd + 1; *a; a++) {
    fprintf(stderr, " %s", *a);
  }
  fprintf(stderr, "  (exit status %d)\n", status);
  fprintf(stderr, "  energy       %.4f J over %.3f s (%.2f W average)   [%s]\n", session_j, wall,
          wall > 0 ? session_j / wall : 0.0, cg_source_words(source));
  cg_print_uncertainty_of(
      stderr, "               ",
      json_number_value(json_object_get(totals, "session_energy_uncertainty_j")),
      cg_uncertainty_cause(json_object_get(totals, "session_energy_uncertainty_cause")),
      "the program's run", false, report);
  cg_carbon_print(stderr, report, "session_co2e_g", "over the run");
  /* provenance: which domains, from which provider */
  json_t *topo = json_object_get(meta, "domain_topology");
  const char *dname;
  json_t *dinfo;
  bool first = true;
  json_object_foreach(topo, dname, dinfo) {
    fprintf(stderr, "%s%s%s (%s)", first ? "  domains      " : ", ", dname,
            json_is_true(json_object_get(dinfo, "in_total"))    ? ""
            : json_is_true(json_object_get(dinfo, "top_level")) ? " platform, not added"
                                                                : " nested",
            json_string_value(json_object_get(dinfo, "source"))
                ? json_string_value(json_object_get(dinfo, "source"))
                : "?");
    first = false;
  }
  if (!first) {
    fprintf(stderr, "\n");
  }
  const char *pyver = json_string_value(json_object_get(meta, "python_version"));
  const char *hot =
      json_string_value(json_object_get(json_object_get(report, "instrumentation"), "hot_path"));
  fprintf(stderr, "  instrumented %zu point%s (%s, %s granularity), %zu called%s%s%s%s%s\n",
          n_points, n_points == 1 ? "" : "s", cgi_language_name(o->lang),
          o->gran == CGI_FINE ? "fine" : "coarse", n_called, pyver ? "; python " : "",
          pyver ? pyver : "", hot ? " (" : "", hot ? hot : "", hot ? " hot path)" : "");
  cg_print_left_json(stderr, "  left         ",
                     json_object_get(json_object_get(report, "instrumentation"), "left"));
  json_t *procs = json_object_get(report, "processes");
  if (json_array_size(procs) > 1) {
    fprintf(stderr,
            "  children     %zu Python process%s measured (rows marked [pid N]; their "
            "energy is the machine's during their run, inside the program's)\n",
            json_array_size(procs) - 1, json_array_size(procs) == 2 ? "" : "es");
    /* A child that ran a .py file as its script: the runtime cannot hand Python the compiled
     * copy of a script (src/instrument/README.md, "Not instrumented"), so it shows no rows. */
    json_t *proc;
    json_array_foreach(procs, i, proc) {
      const char *arg0 = json_string_value(json_array_get(json_object_get(proc, "argv"), 0));
      size_t n = arg0 != NULL ? strlen(arg0) : 0;
      if (json_is_false(json_object_get(proc, "parent")) &&
          json_integer_value(json_object_get(proc, "functions")) == 0 && n > 3 &&
          strcmp(arg0 + n - 3, ".py") == 0) {
        fprintf(stderr,
                "               pid %lld ran %s as its script: a child's script is not "
                "instrumented (only the modules it imports are); call its functions from a module "
                "or measure it on its own\n",
                (long long)json_integer_value(json_object_get(proc, "pid")), arg0);
      }
    }
  }
  if (json_object_get(meta, "program_report") != NULL) {
    fprintf(stderr, "  missing      the main process wrote no measurements (an exit that skips "
                    "its exit handlers,\n               exec, a crash or a signal): the energy "
                    "above is measure's own sampling of\n               the run; its functions "
                    "are not measured\n");
  }
  const char *unmeasured = json_string_value(json_object_get(meta, "functions_not_measured"));
  if (n_called == 0 && unmeasured != NULL) {
    fprintf(stderr,
            "  functions    not measured: the program's runtime had no energy backend (%s)\n",
            unmeasured);
  } else if (n_called == 0) {
    if (json_object_get(meta, "program_report") == NULL) {
      fprintf(stderr, "  no instrumented function was called\n");
    }
  } else {
    fprintf(stderr, "\n  %-32s %-18s %9s %11s %-11s %11s %10s %10s %9s %7s\n", "FUNCTION", "WHERE",
            "CALLS", "ENERGY J", " ± J" /* 5 bytes, 4 columns */, "SELF J", "TIME s", "SELF s",
            "AVG W", "SHARE");
    long shown = 0;
    unsigned unc_why = 0; /* causes of the rows' uncertainties, for the legend */
    bool unc_large = false;
    json_array_foreach(funcs, i, f) {
      if (json_integer_value(json_object_get(f, "calls")) == 0) {
        continue;
      }
      if (o->top > 0 && shown >= o->top) {
        fprintf(stderr, "  ... %zu more (--top 0 shows all)\n", n_called - (size_t)shown);
        break;
      }
      shown++;
      const char *ctx = json_string_value(json_object_get(f, "context"));
      const char *base = ctx ? strrchr(ctx, '/') : NULL;
      char where[64];
      snprintf(where, sizeof where, "%s:%lld", base ? base + 1 : (ctx ? ctx : "?"),
               (long long)json_integer_value(json_object_get(f, "line")));
      const char *name = json_string_value(json_object_get(f, "name"));
      json_int_t pid = json_integer_value(json_object_get(f, "pid"));
      char shown_name[160];
      if (pid != 0 && pid != json_integer_value(json_object_get(meta, "pid"))) {
        snprintf(shown_name, sizeof shown_name, "%s [pid %lld]", name ? name : "?", (long long)pid);
        name = shown_name;
      }
      double e = json_number_value(json_object_get(f, "energy_j"));
      double unc = json_number_value(json_object_get(f, "energy_uncertainty_j"));
      char pm[32] = "";
      if (unc > 0) {
        /* '~' marks a figure the counters fix only to worse than CG_UNC_LARGE of itself. */
        bool large = unc > CG_UNC_LARGE * fabs(e);
        snprintf(pm, sizeof pm, "±%.4f%s", unc, large ? "~" : "");
        unc_large |= large;
        unc_why |= cg_uncertainty_cause(json_object_get(f, "energy_uncertainty_cause"));
      }
      char name_cols[256], where_cols[128];
      fprintf(stderr, "  %s %s %9lld %11.4f %-*s %11.4f %10.4f %10.4f %9.2f %6.1f%%\n",
              cg_columns(name_cols, sizeof name_cols, name ? name : "?", 32, false),
              cg_columns(where_cols, sizeof where_cols, where, 18, false),
              (long long)json_integer_value(json_object_get(f, "calls")), e, 10 + (unc > 0 ? 1 : 0),
              pm, /* ± is two bytes, one column */
              json_number_value(json_object_get(f, "self_energy_j")),
              json_number_value(json_object_get(f, "duration_s")),
              json_number_value(json_object_get(f, "self_duration_s")),
              json_number_value(json_object_get(f, "avg_power_w")),
              100.0 * json_number_value(json_object_get(f, "share_of_total")));
      if (table_views != NULL && name != NULL) {
        cg_views_print_edges(table_views, name, stderr);
      }
    }
    fprintf(stderr, "  (ENERGY and TIME include callees, SELF excludes them%s)\n",
            python ? "; a generator's or coroutine's CALLS count its resumptions" : "");
    if (unc_why != 0) {
      bool gap = (unc_why & CG_UNC_GAP) != 0, extra = (unc_why & CG_UNC_EXTRA) != 0;
      fprintf(stderr,
              "  (± J: the counters fix ENERGY only to within this either way, summed over the "
              "calls: %s%s%s%s%s; energy_uncertainty_j)\n",
              unc_why & CG_UNC_SHORT ? "calls shorter than a few updates of an energy counter" : "",
              (unc_why & CG_UNC_SHORT) && (gap || extra) ? ", or " : "",
              gap ? "a call's start or end fell between stored samples many "
                    "counter updates apart"
                  : "",
              gap && extra ? ", or " : "",
              extra ? "a call's start or end came after the last stored sample and its "
                      "energy was extrapolated"
                    : "");
    }
    if (unc_large) {
      fprintf(stderr, "  (~: the counters fix this figure only to worse than %.0f %% of it)\n",
              100 * CG_UNC_LARGE);
    }
  }
  long long extrapolated = json_integer_value(json_object_get(cps, "extrapolated"));
  if (extrapolated > 0) {
    fprintf(stderr,
            "  note         %lld checkpoint%s came after the last stored sample and no sample "
            "followed in time\n               (a stalled sampler or a long interval): their "
            "energy is extrapolated from the\n               last power, and the calls they "
            "end carry the energy since that sample as ± J\n",
            extrapolated, extrapolated == 1 ? "" : "s");
  }
  long long unbalanced = json_integer_value(json_object_get(cps, "unbalanced"));
  if (unbalanced > 0 && python) {
    fprintf(stderr,
            "  note         %lld checkpoint%s without a partner: a generator or coroutine ended "
            "from outside\n               (close(), throw(), cancellation) while suspended at a "
            "yield or await inside an\n               expression, whose last moments are then "
            "not attributed to it; or functions still\n               running at exit "
            "(os._exit, threads)\n",
            unbalanced, unbalanced == 1 ? "" : "s");
  } else if (unbalanced > 0) {
    fprintf(stderr,
            "  note         %lld checkpoint%s without a partner: functions still running when "
            "the program ended\n               (%s, or other threads), closed at its end\n",
            unbalanced, unbalanced == 1 ? "" : "s",
            java ? "System.exit() or an uncaught exception"
                 : "exit() or abort() inside them, longjmp() out of them");
  }
  json_t *warnings = measurement_warnings(report);
  json_t *w;
  json_array_foreach(warnings, i, w) {
    fprintf(stderr, "  warning      %s\n", json_string_value(w));
  }
  json_decref(warnings);
  if (source != NULL && strcmp(source, "none") == 0) {
    const char *why = json_string_value(json_object_get(meta, "backend_error"));
    fprintf(stderr, "  why          %s\n", why ? why : "no energy provider could be opened");
  }
}

/* @p as_is: NULL, or why the script ran as it is (none of its functions measured); @p modules:
 * the points of the program's modules measure instrumented too (taken), listed after the
 * script's, so the list is what the summary's "instrumented N points" counts. */
static json_t *instrumentation_json(const measure_opts *o, const cgi_result *ir, const char *python,
                                    const char *as_is, json_t *modules) {
  json_t *pts = json_array();
  for (size_t i = 0; ir != NULL && as_is == NULL && i < cgi_result_point_count(ir); i++) {
    json_array_append_new(pts, cg_project_point(cgi_result_point(ir, i), o->cmd[0]));
  }
  json_array_extend(pts, modules);
  json_decref(modules);
  /* the file and interpreter: bytes, maybe not UTF-8 (U+FFFD per byte, as everywhere) */
  json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "language", cgi_language_name(o->lang),
                        "granularity", o->gran == CGI_FINE ? "fine" : "coarse", "file",
                        cg_json_text(o->cmd[0]), "interpreter", cg_json_text(python), "points", pts,
                        "left", ir != NULL && as_is == NULL ? cgi_left_json(ir) : json_array());
  if (j != NULL && as_is != NULL) {
    json_object_set_new(j, "not_instrumented", json_string(as_is));
  }
  return j;
}

/* The table (unless --quiet), the report to -o FILE and with --json to stdout. @return the
 * status to exit with: @p status, or a failure when the report cannot be written. */
/* One row per function, with the provenance and identity of the run (CodeCarbon's habit);
 * co2e_g is empty without a carbon intensity (as run's column); co2e_g and pid (the process the
 * function's calls ran in: a child's rows are merged by pid) come last, so that the columns of
 * files written before them keep their places. */
static const char *const csv_columns[] = {CG_META_COLUMNS,   "command",
                                          "exit_status",     "name",
                                          "context",         "line",
                                          "calls",           "energy_j",
                                          "self_energy_j",   "duration_s",
                                          "self_duration_s", "avg_power_w",
                                          "share_of_total",  "energy_uncertainty_j",
                                          "co2e_g",          "pid"};

static json_t *function_rows(json_t *report, const measure_opts *o, int status) {
  char *command = cg_command_string(o->cmd);
  json_t *rows = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(report, "functions"), i, f) {
    json_t *row = json_array();
    cg_row_add_meta(row, report);
    json_array_append_new(row, cg_json_text(command ? command : "")); /* bytes, maybe not UTF-8 */
    json_array_append_new(row, json_integer(status));
    const char *fk[] = {"name",        "context",       "line",       "calls",
                        "energy_j",    "self_energy_j", "duration_s", "self_duration_s",
                        "avg_power_w", "share_of_total"};
    for (size_t k = 0; k < sizeof fk / sizeof fk[0]; k++) {
      json_t *v = json_object_get(f, fk[k]);
      json_array_append_new(row, v ? json_incref(v) : json_null());
    }
    /* 0 where the counters fix the energy (the JSON leaves the field out then). */
    json_array_append_new(row,
                          json_real(json_number_value(json_object_get(f, "energy_uncertainty_j"))));
    json_t *co2e = json_object_get(f, "co2e_g"); /* with a carbon intensity only */
    json_array_append_new(row, json_is_number(co2e) ? json_incref(co2e) : json_null());
    /* the process its calls ran in: a merged child's, else the program's own */
    json_t *pid = json_object_get(f, "pid");
    if (!json_is_integer(pid)) {
      pid = json_object_get(json_object_get(report, "meta"), "pid");
    }
    json_array_append_new(row, json_is_integer(pid) ? json_incref(pid) : json_null());
    json_array_append_new(rows, row);
  }
  free(command);
  return rows;
}

/* The table as Markdown; "Share" is relative to the program's energy (totals.energy_j). With a
 * carbon intensity, a "CO2e [g]" column (each function's co2e_g) before it, as run's table. */
static int write_markdown(json_t *report, const char *path) {
  static const char *const all_cols[] = {"Function", "Where",    "Calls",    "Energy [J]",
                                         "± [J]",    "Self [J]", "Time [s]", "Power [W]",
                                         "CO2e [g]", "Share"};
  static const char *const plain_cols[] = {"Function",   "Where",     "Calls",
                                           "Energy [J]", "± [J]",     "Self [J]",
                                           "Time [s]",   "Power [W]", "Share"};
  bool carbon = json_is_object(json_object_get(json_object_get(report, "meta"), "carbon"));
  /* Child processes merged: each row says its process, as the text table does. */
  bool processes = json_array_size(json_object_get(report, "processes")) > 1;
  json_t *rows = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(report, "functions"), i, f) {
    char where[340], share[32];
    json_t *pid = json_object_get(f, "pid");
    snprintf(where, sizeof where, "%s:%lld",
             json_string_value(json_object_get(f, "context"))
                 ? json_string_value(json_object_get(f, "context"))
                 : "?",
             (long long)json_integer_value(json_object_get(f, "line")));
    if (processes && json_is_integer(pid)) {
      size_t at = strlen(where);
      snprintf(where + at, sizeof where - at, " [pid %lld]", (long long)json_integer_value(pid));
    }
    snprintf(share, sizeof share, "%.1f %%",
             100 * json_number_value(json_object_get(f, "share_of_total")));
    json_t *row =
        json_pack("[O, s, O, f, f, f, f, f]", json_object_get(f, "name"), where,
                  json_object_get(f, "calls"), json_number_value(json_object_get(f, "energy_j")),
                  json_number_value(json_object_get(f, "energy_uncertainty_j")),
                  json_number_value(json_object_get(f, "self_energy_j")),
                  json_number_value(json_object_get(f, "duration_s")),
                  json_number_value(json_object_get(f, "avg_power_w")));
    if (carbon) {
      json_t *co2e = json_object_get(f, "co2e_g");
      json_array_append_new(row, json_is_number(co2e)
                                     ? json_sprintf("%.6f", json_number_value(co2e))
                                     : json_string("n/a"));
    }
    json_array_append_new(row, json_string(share));
    json_array_append_new(rows, row);
  }
  char *title = NULL;
  json_t *meta = json_object_get(report, "meta");
  if (asprintf(&title, "Energy per function (%s; program %.4f J)",
               cg_source_words(json_string_value(json_object_get(meta, "energy_source"))),
               json_number_value(json_object_get(json_object_get(report, "totals"), "energy_j"))) <
      0) {
    title = NULL;
  }
  cg_table t = {carbon ? all_cols : plain_cols,
                carbon ? sizeof all_cols / sizeof all_cols[0]
                       : sizeof plain_cols / sizeof plain_cols[0],
                rows};
  int rc = cg_write_markdown("measure", &t, title, path);
  free(title);
  json_decref(rows);
  return rc;
}

/* The reference's envelope for a CLI run: session_name null, and the program as the one depth-0
 * task, so that totals.energy_j holds its energy as in every other report (a consumer of "the
 * same envelope" reads it there). Normally program_from_own_session() has already made the task
 * from measure's own session of the whole run; this is the fallback when measure had none (no
 * meter of its own: then neither had the program, and every figure is 0). The runtime's session
 * records checkpoints, not tasks; its session_energy_j over wall_duration_s is then the program's
 * run, which is also the union of the top-level tasks (union + gap = session). */
static void program_as_task(json_t *report, const measure_opts *o) {
  json_t *meta = json_object_get(report, "meta");
  json_t *totals = json_object_get(report, "totals");
  json_t *tasks = json_object_get(report, "tasks");
  if (json_is_object(meta)) {
    json_object_set_new(meta, "session_name", json_null());
  }
  if (!json_is_object(totals) || !json_is_array(tasks) || json_array_size(tasks) > 0) {
    return;
  }
  double e = json_number_value(json_object_get(totals, "session_energy_j"));
  double d = json_number_value(json_object_get(totals, "wall_duration_s"));
  const char *base = strrchr(o->cmd[0], '/') ? strrchr(o->cmd[0], '/') + 1 : o->cmd[0];
  json_t *task =
      json_pack("{s:s, s:i, s:n, s:f, s:f, s:f, s:s}", "name", base, "depth", 0, "parent",
                "energy_j", e, "avg_power_w", d > 0 ? e / d : 0.0, "duration_s", d, "source",
                "the whole program: totals.session_energy_j over "
                "totals.wall_duration_s");
  json_t *unc = json_object_get(totals, "session_energy_uncertainty_j");
  if (json_is_number(unc)) {
    json_object_set(task, "energy_uncertainty_j", unc);
    json_object_set(task, "energy_uncertainty_cause",
                    json_object_get(totals, "session_energy_uncertainty_cause"));
  }
  json_array_append_new(tasks, task);
  json_object_set_new(totals, "energy_j", json_real(e));
  json_object_set_new(totals, "duration_s", json_real(d));
  json_object_set_new(totals, "task_duration_s", json_real(d));
  json_object_set_new(totals, "gap_duration_s", json_real(0));
  json_object_set_new(totals, "gap_energy_j", json_real(0));
  json_object_set_new(totals, "top_level_union_energy_j", json_real(e));
  json_object_set_new(totals, "n_tasks", json_integer(1));
  json_object_set_new(totals, "n_tasks_detailed", json_integer(1));
  json_object_set_new(totals, "n_top_level_tasks", json_integer(1));
}

/* When the program ended without writing its measurements (os._exit() in the main process,
 * exec, a crash), what is still known: measure's own session sampled the counters over the whole
 * run (its one task is the program), and the children's reports are merged as usual. The main
 * process's functions are missing, and the report says so (meta.program_report, and the verdict
 * no_tasks unless a child's rows make it checkpoints_only). @p stopped: how such a program of
 * its language ends. NULL when measure had no meter. */
static json_t *program_only_report(nemb_session *ps, pid_t pid, int status, const char *stopped) {
  const char *text =
      ps != NULL && nemb_session_meter(ps) != NULL ? nemb_session_report_json(ps) : NULL;
  json_t *r = text != NULL ? json_loads(text, 0, NULL) : NULL;
  json_t *meta = json_object_get(r, "meta");
  char *why = NULL;
  if (!json_is_object(meta) ||
      asprintf(&why,
               "missing: the program ended without writing its measurements (it was %s); its "
               "energy is measure's own sampling of the whole run, and the main process's "
               "functions are not measured",
               status > 128 ? "killed by a signal" : stopped) < 0) {
    json_decref(r);
    return NULL;
  }
  json_object_set_new(meta, "pid", json_integer(pid));
  json_object_set_new(meta, "measurement_quality", json_string("no_tasks"));
  json_object_set_new(meta, "program_report", json_string(why));
  free(why);
  json_object_set_new(r, "functions", json_array());
  return r;
}

/* One definition of "the program" in every output: the run measure's own session sampled, from
 * the program's start to its exit, as `codegreen run` measures a command (the plot draws it; the
 * report of a program that never wrote its measurements is it). The runtime's session, whose
 * report holds the functions, begins when the instrumented code first runs, after the
 * interpreter's start-up, and has no task of its own: its tasks, totals and verdict give way to
 * the whole run's (the program as the one depth-0 task, with its domains, instants, union and
 * CO2e, all from the library), and every function's share is of that run. */
static void program_from_own_session(json_t *report, json_t *own) {
  json_t *tasks = json_object_get(own, "tasks");
  json_t *totals = json_object_get(own, "totals");
  json_t *rtasks = json_object_get(report, "tasks");
  json_t *meta = json_object_get(report, "meta");
  if (json_array_size(tasks) != 1 || !json_is_object(totals) || !json_is_object(meta) ||
      json_array_size(rtasks) > 0) {
    return; /* no run of measure's own, or a report that is already the run's */
  }
  json_object_set(report, "tasks", tasks);
  json_object_set(report, "totals", totals);
  json_t *own_meta = json_object_get(own, "meta");
  json_t *quality = json_object_get(own_meta, "measurement_quality");
  if (json_is_string(quality)) {
    json_object_set(meta, "measurement_quality", quality);
  }
  /* The figures are the run's: so is their provenance, also where the program's runtime had no
   * backend (it could not load the library: its backend_error stays, naming why its functions
   * have no rows). */
  const char *src = json_string_value(json_object_get(meta, "energy_source"));
  if (src != NULL && strcmp(src, "none") == 0) {
    static const char *const keys[] = {"energy_source", "domain_support", "domain_topology",
                                       "measurement_quality_reason"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      json_t *v = json_object_get(own_meta, keys[k]);
      if (v != NULL) {
        json_object_set(meta, keys[k], v);
      }
    }
    if (json_object_get(meta, "backend_error") != NULL &&
        !json_is_null(json_object_get(meta, "backend_error"))) {
      json_object_set(meta, "functions_not_measured", json_object_get(meta, "backend_error"));
    }
  }
  double whole_j = json_number_value(json_object_get(totals, "session_energy_j"));
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(report, "functions"), i, f) {
    double fj = json_number_value(json_object_get(f, "energy_j"));
    json_object_set_new(f, "share_of_total", json_real(whole_j > 0 ? fj / whole_j : 0));
  }
}

/* measure's one warning of another measurement at the same time (cg_concurrent_warning()), on
 * stderr as `run` says it; the report carries it too (cg_measure_program_report()). */
static void say_concurrent(const measure_opts *o, const char *text) {
  if (!o->quiet && !o->json) {
    fprintf(stderr, "codegreen measure: warning: %s\n", text);
  }
}

int cg_measure_run_sampled(char *const run[], const measure_opts *o, const char *tmp,
                           const char *task, bool python, nemb_session **own, pid_t *pid,
                           int *status, int *err, char *concurrent) {
  /* measure samples the counters itself, for the whole run, and publishes every sample to
   * CODEGREEN_MEASURE_SAMPLES; the program (and its Python children) follow (node.c): they
   * record only their functions' boundaries and take their energy from these samples, so no
   * sampler thread runs in them. The same session's time series is the plot's. */
  *own = NULL;
  *pid = -1;
  concurrent[0] = '\0';
  char *samples = NULL;
  nemb_session_options so;
  nemb_session_options_init(&so);
  so.save_to_file = 0;
  so.exclusive = 0;
  so.record_time_series = o->plot != NULL;
  so.argv = (const char *const *)o->cmd;
  for (char **a = o->cmd; *a; a++) {
    so.argc++;
  }
  if (asprintf(&samples, "%s/cg-meter", tmp) < 0 ||
      measure_env_set("CODEGREEN_MEASURE_SAMPLES", samples) != 0 ||
      nemb_session_begin(&so, own) != 0) {
    if (o->plot != NULL) {
      cg_fail(NEMB_EIO, "cannot begin the session for the plot");
    }
    *own = NULL;
    unsetenv("CODEGREEN_MEASURE_SAMPLES"); /* the program then samples for itself */
  }
  free(samples);
  if (python) {
    /* measure's session has read it; the program gets the user's (and --carbon-intensity as
     * CODEGREEN_MEASURE_CARBON_INTENSITY, which its runtime applies to its own sessions only) */
    cg_carbon_env_restore();
  }
  if (*own != NULL &&
      cg_named_providers_check("measure", NULL, nemb_session_meter(*own) != NULL) != 0) {
    return CG_EXIT_FAIL;
  }
  /* RAPL is machine-wide: one warning, as `run` gives, when another codegreen process measures
   * during the run (at the start when it measures already, else at the end). A Python program's
   * runtime registers its process, so measure does not (a codegreen.Session in the program would
   * take measure for an overlap); a native or Java program's runtime does not, so measure
   * registers for it, and the others are told. */
  bool registered = !python && nemb_procs_register() == 0;
  bool already = cg_concurrent_warning("already", concurrent, CG_CONCURRENT_LEN);
  if (already) {
    say_concurrent(o, concurrent);
  }
  if (*own != NULL) {
    nemb_task_start(*own, task);
  }
  /* The program's orphans (pool workers, forkserver children exiting after the main process)
   * become measure's children, so their exit, after which their report is complete, is seen. */
  if (python) {
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  *pid = cg_child_start(run, false, false, err);
  if (*pid > 0) {
    *status = cg_child_wait(*pid, true, NULL);
  }
  if (*own != NULL) {
    nemb_task_stop(*own, task);
    nemb_session_end(*own);
  }
  if (*pid > 0 && python) {
    wait_for_stragglers(); /* after the program's span: it ends when the main process does */
  }
  /* the program's own processes have ended: whoever is registered now is another measurement */
  if (*pid > 0 && !already && cg_concurrent_warning("now", concurrent, CG_CONCURRENT_LEN)) {
    say_concurrent(o, concurrent);
  }
  if (registered) {
    nemb_procs_unregister();
  }
  unsetenv("CODEGREEN_MEASURE_SAMPLES");
  return *pid > 0 ? 0 : -1;
}

/* Appends "warning: @p text" to the report's top-level "warnings" (measure's own). */
static void add_warning(json_t *report, const char *text) {
  json_t *said = json_object_get(report, "warnings");
  if (!json_is_array(said)) {
    said = json_array();
    json_object_set_new(report, "warnings", said);
  }
  char *line = NULL;
  if (asprintf(&line, "warning: %s", text) >= 0) {
    json_array_append_new(said, cg_json_text(line));
    free(line);
  }
}

static json_t *program_report(const char *result, nemb_session *own, pid_t pid, int status,
                              const char *stopped, const measure_opts *o) {
  char jmsg[600];
  json_t *report = NULL;
  nemb__report_load(result, &report, jmsg, sizeof jmsg);
  if (report == NULL) {
    /* measure's own warning: the report's top-level "warnings"; on stderr too, but not with
     * --json when a report carries it (its stderr is the JSON alone), nor with -q (the program's
     * output and status only; the files are still written) */
    bool no_file = access(result, F_OK) != 0;
    char said[800];
    snprintf(said, sizeof said,
             "warning: the program ended without writing its measurements (%s); it was %s",
             no_file ? "no result file" : jmsg, status > 128 ? "killed by a signal" : stopped);
    if (!o->quiet && (!o->json || !no_file)) {
      fprintf(stderr, "codegreen measure: %s\n", said + strlen("warning: "));
    }
    report = no_file ? program_only_report(own, pid, status, stopped) : NULL;
    if (report != NULL) {
      json_object_set_new(report, "warnings", json_pack("[o]", cg_json_text(said)));
    }
    return report;
  }
  if (own != NULL && nemb_session_meter(own) != NULL) {
    /* The sampler that measured is measure's own (the program followed it): its figures. */
    const char *own_text = nemb_session_report_json(own);
    json_t *doc = own_text != NULL ? json_loads(own_text, 0, NULL) : NULL;
    json_t *sampler = json_object_get(json_object_get(doc, "meta"), "sampler");
    json_t *meta = json_object_get(report, "meta");
    if (json_is_object(sampler) && json_object_get(meta, "sampler") != NULL) {
      json_object_set(meta, "sampler", sampler);
    }
    program_from_own_session(report, doc);
    json_decref(doc);
  }
  return report;
}

json_t *cg_measure_program_report(const char *result, nemb_session *own, pid_t pid, int status,
                                  const char *stopped, const char *concurrent,
                                  const measure_opts *o) {
  json_t *report = program_report(result, own, pid, status, stopped, o);
  if (report != NULL && concurrent[0] != '\0') {
    add_warning(report, concurrent);
  }
  return report;
}

/* The run's power from codegreen's own session, with the functions' spans (the longest 300, at
 * least 1/400 of the run) as tasks under the program's, drawn through a report file. */
static int export_plot_with_spans(nemb_session *ps, const cg_views *views, const char *task,
                                  const char *tmpdir, const char *path) {
  const char *text = nemb_session_report_json(ps);
  json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
  json_t *t0 = json_array_get(json_object_get(doc, "tasks"), 0);
  if (doc == NULL || t0 == NULL || views == NULL) {
    json_decref(doc);
    return nemb_session_export_plot(ps, path);
  }
  uint64_t a = (uint64_t)json_integer_value(json_object_get(t0, "started_at_mono_ns"));
  uint64_t b = (uint64_t)json_integer_value(json_object_get(t0, "ended_at_mono_ns"));
  json_t *spans = cg_views_spans(views, task, b > a ? (b - a) / 400 : 0, 300);
  json_array_extend(json_object_get(doc, "tasks"), spans);
  json_decref(spans);
  char *file = NULL;
  int rc = NEMB_ENOMEM;
  if (asprintf(&file, "%s/plot-report.json", tmpdir) >= 0 &&
      json_dump_file(doc, file, JSON_REAL_PRECISION(17)) == 0) {
    rc = nemb_report_export_plot(file, path);
  }
  free(file);
  json_decref(doc);
  return rc;
}

int cg_measure_export_plot(nemb_session *own, json_t *report, const char *task, const char *tmpdir,
                           const measure_opts *o, int status) {
  if (own == NULL || o->plot == NULL) {
    return status;
  }
  cg_views *spans = cg_views_build(report);
  int prc = export_plot_with_spans(own, spans, task, tmpdir, o->plot);
  cg_views_free(spans);
  if (prc != 0) {
    cg_fail(NEMB_EIO, "cannot draw the plot");
    return cg_output_lost("measure", o->plot, "program", status);
  }
  if (!o->quiet && !o->json) {
    fprintf(stderr, "  plot         %s\n", o->plot);
  }
  return status;
}

int cg_measure_report(json_t *report, const measure_opts *o, size_t n_points, int status) {
  cg_outputs outs = o->out;
  if (outs.n == 0 && o->output != NULL &&
      cg_outputs_add(&outs, "measure", o->output, CG_OUT_JSON | CG_OUT_CSV) != 0) {
    return status ? status : CG_EXIT_USAGE;
  }
  program_as_task(report, o);
  cg_measure_user_meta(report, o->cmd, o->module);
  if (json_object_get(report, "warnings") == NULL) { /* measure's own (see measure_with) */
    json_object_set_new(report, "warnings", json_array());
  }
  json_t *summary_warnings = measurement_warnings(report); /* the table's, in the report too */
  cg_report_warnings_add(report, summary_warnings);
  json_decref(summary_warnings);
  cg_carbon_label(report);
  int lost = 0; /* the exit status a lost output leads to (cg_output_lost) */
  if (o->sort != NULL) {
    cg_sort_functions(report, o->sort);
  }
  bool want_detail = o->json || outs.n > 0 || o->call_graph;
  cg_views *views = want_detail ? cg_views_build(report) : NULL;
  if (views != NULL) {
    json_object_set_new(report, "call_graph", cg_views_call_graph(views));
  }
  if (!o->quiet && !o->json) {
    table_views = o->call_graph ? views : NULL;
    cg_measure_print_table(report, o, n_points, status);
    table_views = NULL;
  }
  for (size_t k = 0; k < outs.n; k++) {
    const char *path = outs.item[k].path;
    int wrc = 0;
    switch (outs.item[k].kind) {
    case CG_OUT_CSV: {
      json_t *rows = function_rows(report, o, status);
      cg_table t = {csv_columns, sizeof csv_columns / sizeof csv_columns[0], rows};
      wrc = cg_write_csv("measure", &t, path, outs.append);
      json_decref(rows);
      break;
    }
    case CG_OUT_MD:
      wrc = write_markdown(report, path);
      break;
    case CG_OUT_FOLDED:
      wrc = views ? cg_views_write_folded(views, path) : -1;
      break;
    case CG_OUT_SPEEDSCOPE:
      wrc = views ? cg_views_write_speedscope(views, o->cmd[0], path) : -1;
      break;
    default:
      wrc = cg_write_json("measure", report, path, NULL);
    }
    if (wrc != 0) {
      lost = cg_output_lost("measure", path, "program", status);
    }
  }
  if (views != NULL && !cg_views_complete(views) && !o->quiet && !o->json &&
      (o->call_graph || outs.n > 0)) {
    fprintf(stderr, "  note         the call graph, stacks and spans cover the checkpoints kept "
                    "(measurement.checkpoints.detail_limit) or closed\n");
  }
  if (o->json && cg_write_json("measure", report, NULL, stderr) != 0) {
    lost = cg_output_lost("measure", "the report (--json)", "program", status);
  }
  cg_views_free(views);
  return status != 0 ? status : lost;
}

/* ----- the verb ----- */

typedef struct paths {
  char tmp[PATH_MAX];
  char *src_dir, *runner_dir, *support_dir, *instrumented, *map, *runner, *pyc, *result, *config;
  char *children; /* the children's reports (measure_children.h) */
} paths;

static void free_paths(paths *p) {
  free(p->src_dir);
  free(p->runner_dir);
  free(p->support_dir);
  free(p->instrumented);
  free(p->map);
  free(p->runner);
  free(p->pyc);
  free(p->result);
  free(p->config);
  free(p->children);
}

static int make_paths(paths *p, const char *script) {
  if (cg_measure_tmp_dir(p->tmp, sizeof p->tmp) != NULL) {
    return -1;
  }
  const char *base = strrchr(script, '/');
  base = base ? base + 1 : script;
  /* The temporary names add up to 14 bytes to the script's ("-codegreen.pyc"): a name near
   * NAME_MAX, which python runs, would not fit. Those copies go by a short name instead (the
   * program still sees its own name: the compile step gives the code the user's path). */
  if (strlen(base) + 16 > NAME_MAX) {
    base = "program.py";
  }
  char stem[NAME_MAX + 1];
  snprintf(stem, sizeof stem, "%s", base);
  char *dot = strrchr(stem, '.');
  if (dot != NULL && dot != stem) {
    *dot = '\0';
  }
  /* Names with a dash cannot be imported, so nothing in the temporary directory (the first entry
   * of sys.path while the runtime loads) can shadow a module. */
  if (asprintf(&p->src_dir, "%s/cg-src", p->tmp) < 0 ||
      asprintf(&p->runner_dir, "%s/cg-runner", p->tmp) < 0 ||
      asprintf(&p->support_dir, "%s/cg-support", p->tmp) < 0 ||
      asprintf(&p->instrumented, "%s/%s", p->src_dir, base) < 0 ||
      asprintf(&p->map, "%s/%s.map.json", p->src_dir, stem) < 0 ||
      asprintf(&p->runner, "%s/runner.py", p->runner_dir) < 0 ||
      asprintf(&p->pyc, "%s/%s-codegreen.pyc", p->tmp, stem) < 0 ||
      asprintf(&p->result, "%s/result.json", p->tmp) < 0 ||
      asprintf(&p->config, "%s/config.json", p->tmp) < 0 ||
      asprintf(&p->children, "%s/children", p->tmp) < 0) {
    return -1;
  }
  if (mkdir(p->src_dir, 0700) != 0 || mkdir(p->runner_dir, 0700) != 0 ||
      mkdir(p->support_dir, 0700) != 0) {
    return -1;
  }
  return 0;
}

/* A directory with no program of its own in it: /, the home directory, the temporary
 * directory (those hold everybody's files). */
static bool everybodys_dir(const char *real) {
  const char *home = getenv("HOME"), *tmpd = getenv("TMPDIR");
  char rh[PATH_MAX] = "", rt[PATH_MAX] = "";
  if (home == NULL || realpath(home, rh) == NULL) {
    rh[0] = '\0';
  }
  if (realpath(tmpd && tmpd[0] ? tmpd : "/tmp", rt) == NULL) {
    rt[0] = '\0';
  }
  return real[0] == '\0' || strcmp(real, "/") == 0 || strcmp(real, rh) == 0 ||
         strcmp(real, rt) == 0;
}

/* The program's own modules, instrumented into the temporary directory: those of the
 * directory python puts first on sys.path (the script's, the directory run, the working
 * directory for -m), of a zip run (@p zip_list: its members as the runner extracted them), and
 * of --include. *list for the runner's compile step, *done for what it compiled (both NULL when
 * there is none), *points their instrumentation points. The runtime's import hook
 * (CODEGREEN_MEASURE_MODULES) loads them in place of the files. */
static int prepare_modules(const measure_opts *o, const cgi_options *io, cg_run_kind kind,
                           const char *target, const char *zip_list, const struct paths *p,
                           char **list, char **done, size_t *points, json_t *point_list) {
  *list = *done = NULL;
  *points = 0;
  char real[PATH_MAX] = "";
  if (kind == CG_RUN_MODULE) {
    if (getcwd(real, sizeof real) == NULL) {
      real[0] = '\0';
    }
  } else if (kind != CG_RUN_ZIP && realpath(target, real) == NULL) {
    return 0;
  }
  char *slash = kind == CG_RUN_SCRIPT ? strrchr(real, '/') : NULL;
  if (slash != NULL) {
    *slash = '\0'; /* a script in / leaves "": no directory */
  }
  char *dirs[17];
  size_t n = 0;
  if (kind != CG_RUN_ZIP && !everybodys_dir(real)) {
    dirs[n++] = real;
  }
  for (size_t i = 0; i < o->n_include; i++) {
    dirs[n++] = o->include[i];
  }
  size_t found = 0;
  if (cg_project_prepare(o->lang, io, kind == CG_RUN_SCRIPT ? target : NULL, dirs, n, zip_list,
                         p->tmp, list, &found, points, point_list) != 0) {
    return -1;
  }
  if (*list != NULL && asprintf(done, "%s/modules.ok", p->tmp) < 0) {
    free(*list);
    *list = *done = NULL;
    return -1;
  }
  return 0;
}

/* What the program and its children need to be measured from the interpreter's start-up:
 * measure's sitecustomize first on PYTHONPATH, the program's name, measure's pid (the program
 * is its child; any other process is the program's), where children write their reports, and
 * for a script its compiled copy (multiprocessing's spawn runs the script again). */
static int boot_environment(const paths *p, cg_run_kind kind, bool as_is, const char *script) {
  char *boot = NULL, *main_entry = NULL, pid[32];
  char real[PATH_MAX];
  const char *base =
      strrchr(script, '/') && strrchr(script, '/')[1] ? strrchr(script, '/') + 1 : script;
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  int rc = -1;
  if (asprintf(&boot, "%s/cg-boot", p->tmp) >= 0 && cg_runpy_write_boot(boot) == 0 &&
      mkdir(p->children, 0700) == 0 && cg_measure_prepend_env("PYTHONPATH", boot) == 0 &&
      measure_env_set("CODEGREEN_MEASURE_BOOT", base) == 0 &&
      measure_env_set("CODEGREEN_MEASURE_PPID", pid) == 0 &&
      measure_env_set("CODEGREEN_MEASURE_CHILDREN", p->children) == 0) {
    rc = 0;
    if (kind == CG_RUN_SCRIPT && !as_is && realpath(script, real) != NULL &&
        strchr(real, '\t') == NULL) {
      rc = asprintf(&main_entry, "%s\t%s", real, p->pyc) < 0 ||
                   measure_env_set("CODEGREEN_MEASURE_MAIN", main_entry) != 0
               ? -1
               : 0;
    }
  }
  free(boot);
  free(main_entry);
  return rc;
}

/* The verb once its arguments are parsed. */
static int measure_with(measure_opts o) {
  int rc;
  /* SIGINT/SIGTERM from here on are caught (and passed to whichever child runs): one that comes
   * before the program started ends measure with a line saying nothing ran, never silently. */
  cg_signals_catch();
  const char *runner_text = cgi_language_runner(o.lang);
  if (runner_text == NULL) {
    fprintf(stderr,
            "codegreen measure: %s programs cannot be run by codegreen yet; "
            "`codegreen analyze %s FILE` shows where the checkpoints would go\n",
            cgi_language_name(o.lang), cgi_language_name(o.lang));
    return CG_EXIT_FAIL;
  }
  if (cg_outputs_check_append(&o.out, "measure") != 0) {
    return CG_EXIT_USAGE;
  }
  if (cg_measure_check_outputs(&o) != 0) {
    return CG_EXIT_USAGE;
  }
  for (size_t i = 0; o.out.append && i < o.out.n; i++) {
    cg_table header = {csv_columns, sizeof csv_columns / sizeof csv_columns[0], NULL};
    if (o.out.item[i].kind == CG_OUT_CSV &&
        cg_check_append("measure", &header, o.out.item[i].path) != 0) {
      return CG_EXIT_USAGE;
    }
  }
  const char *script = o.cmd[0];
  /* a script is compiled by the runner and run as a .pyc; the rest python runs itself */
  cg_run_kind kind = o.module ? CG_RUN_MODULE : cg_run_kind_of(script);
  for (size_t k = 0; kind != CG_RUN_SCRIPT && k < o.n_interp; k++) {
    if (o.interp[k][0] == '-' && o.interp[k][1] != 'W' && o.interp[k][1] != 'X' &&
        strchr(o.interp[k], 'S') != NULL) {
      fprintf(stderr,
              "codegreen measure: -S is not supported with %s (measure begins through "
              "the site module)\n",
              kind == CG_RUN_MODULE ? "-m" : "a directory or zip file");
      return CG_EXIT_USAGE;
    }
  }
  char *src = NULL;
  size_t len = 0;
  if (kind == CG_RUN_SCRIPT && cgi_read_file(script, &src, &len) != 0) {
    fprintf(stderr, "codegreen measure: cannot read %s: %s\n", script, cgi_read_error(errno));
    return CG_EXIT_FAIL;
  }
  /* --python, else the interpreter codegreen was installed for (pip's wrapper sets it), else
   * python3 on PATH. */
  const char *want = o.python;
  if (want == NULL && getenv("CODEGREEN_PYTHON") != NULL && getenv("CODEGREEN_PYTHON")[0]) {
    want = getenv("CODEGREEN_PYTHON");
  }
  char *python = cg_measure_find_program(want ? want : "python3");
  if (python == NULL && want == NULL) {
    python = cg_measure_find_program("python");
  }
  if (python == NULL) {
    fprintf(stderr, "codegreen measure: cannot find the interpreter '%s'%s\n",
            want ? want : "python3", want ? "" : " on PATH (choose one with --python PATH)");
    free(src);
    return CG_EXIT_FAIL;
  }
  /* NULL: the interpreter must find codegreen_runtime by itself (an installed package); the
   * runner checks that before anything runs. */
  const char *pyenv = nemb__env_get("CODEGREEN_PYTHON_DIR");
  char *pydir = python_dir();
  if (pydir == NULL && pyenv != NULL && pyenv[0] != '\0') {
    fprintf(stderr, "codegreen measure: CODEGREEN_PYTHON_DIR=%s holds no codegreen_runtime.py\n",
            pyenv);
    free(src);
    free(python);
    return CG_EXIT_FAIL;
  }

  paths p = {0};
  cgi_result *ir = NULL;
  int status = CG_EXIT_FAIL;
  json_t *report = NULL;
  json_t *mod_json = json_array(); /* the modules' points, for the report */
  nemb_session *plot_session = NULL;
  bool ran = false; /* the program ran: its status is the answer */
  /* From here on the temporary directory is always removed. */
  if (cg_signals_caught()) {
    goto out; /* came while the interpreter was looked for */
  }
  if (make_paths(&p, script) != 0) {
    fprintf(stderr, "codegreen measure: cannot make a temporary directory in %s: %s\n",
            getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(errno));
    goto out;
  }
  if (cgi_write_file(p.runner, runner_text, strlen(runner_text)) != 0) {
    fprintf(stderr, "codegreen measure: cannot write %s: %s\n", p.runner, strerror(errno));
    goto out;
  }
  cgi_options io = {o.gran, script, 1, o.leave, NULL};
  int irc = kind == CG_RUN_SCRIPT ? cgi_instrument(o.lang, src, len, &io, &ir) : 0;
  bool as_is = false;           /* python compiles and runs the script as it is */
  const char *as_is_why = NULL; /* and why, for the report */
  if (irc != 0) {
    const char *err = cgi_result_error(ir);
    fprintf(stderr, "codegreen measure: %s\n", err ? err : "out of memory");
    if (err != NULL && strstr(err, "syntax error") != NULL) {
      /* Let Python say it the way `python SCRIPT` would; what it compiles runs as it is. */
      char *check_rest[] = {p.runner, "check", (char *)script, NULL};
      char **check = interpreter_argv(python, &o, check_rest);
      int st = 0, e = 0;
      int crc = check != NULL ? cg_measure_run_wait(check, true, true, &st, &e) : -1;
      free(check);
      as_is = crc == 0 && st == 0;
    }
    if (!as_is) {
      goto out;
    }
    fprintf(stderr,
            "codegreen measure: warning: Python compiles %s but the %s grammar (tree-sitter) "
            "does not parse it: it runs as it is, none of its functions measured\n",
            script, cgi_language_name(o.lang));
    as_is_why = err;
  }
  size_t text_len = 0;
  const char *text = ir != NULL && !as_is ? cgi_result_text(ir, &text_len) : NULL;
  const char *map = ir != NULL && !as_is ? cgi_result_line_map(ir) : NULL;
  if (text != NULL && (cgi_write_file(p.instrumented, text, text_len) != 0 ||
                       cgi_write_file(p.map, map, strlen(map)) != 0)) {
    fprintf(stderr, "codegreen measure: cannot write into %s: %s\n", p.tmp, strerror(errno));
    goto out;
  }

  /* 3. compile with the user's interpreter (which also checks that it finds the runtime) */
  if (measure_env_record() != 0 ||
      (pydir != NULL && cg_measure_prepend_env("PYTHONPATH", pydir) != 0)) {
    fprintf(stderr, "codegreen measure: cannot set up the environment: %s\n", strerror(errno));
    goto out;
  }
  /* the library's directory is where the runner (and then the runtime) finds _codegreen_fast */
  const char *lib = cg_measure_own_library();
  if (lib != NULL && nemb__env_get("CODEGREEN_LIB_PATH") == NULL) { /* privileged: always ours */
    measure_env_set("CODEGREEN_LIB_PATH", lib);
  }
  /* 3b. with the program's own modules (best effort: those that cannot be done run as they
   * are), in the same interpreter run */
  char *mod_list = NULL, *mod_done = NULL, *zip_list = NULL;
  size_t mod_points = 0;
  int st = 0, e = 0, crc = 0;
  if (kind == CG_RUN_ZIP && !o.script_only) {
    /* the archive's members, extracted by the runner (python reads zip files) */
    char *zip_dir = NULL;
    if (asprintf(&zip_dir, "%s/cg-zip", p.tmp) < 0 ||
        asprintf(&zip_list, "%s/zip.tsv", p.tmp) < 0) {
      free(zip_dir);
      goto out;
    }
    char *unzip_rest[] = {p.runner, "zip-list", (char *)script, zip_dir, zip_list, NULL};
    char **unzip = interpreter_argv(python, &o, unzip_rest);
    crc = unzip != NULL ? cg_measure_run_wait(unzip, true, true, &st, &e) : -1;
    free(unzip);
    free(zip_dir);
    if (crc != 0 || st != 0) {
      free(zip_list);
      zip_list = NULL; /* the archive runs as it is */
    }
  }
  if (!o.script_only && prepare_modules(&o, &io, kind, script, zip_list, &p, &mod_list, &mod_done,
                                        &mod_points, mod_json) != 0) {
    fprintf(stderr, "codegreen measure: cannot write into %s: %s\n", p.tmp, strerror(errno));
    free(zip_list);
    goto out;
  }
  free(zip_list);
  /* the script's and the program's modules' (prepared beside it, instrumented as they import) */
  size_t n_points = (ir != NULL ? cgi_result_point_count(ir) : 0) + mod_points;
  char *compile_rest[] = {p.runner, "compile",           p.instrumented, p.map,    (char *)script,
                          p.tmp,    "codegreen_runtime", p.pyc,          mod_list, mod_done,
                          NULL};
  char *list_rest[] = {p.runner, "compile-list", mod_list, mod_done, NULL};
  char **compile = NULL;
  if (kind == CG_RUN_SCRIPT && !as_is) {
    compile = interpreter_argv(python, &o, compile_rest);
  } else if (mod_list != NULL) {
    compile = interpreter_argv(python, &o, list_rest);
  }
  st = 0;
  if ((kind == CG_RUN_SCRIPT && !as_is) || mod_list != NULL) {
    char **env = compile_environment();
    crc = compile != NULL && env != NULL ? run_wait_env(compile, env, true, true, &st, &e) : -1;
    e = env == NULL ? ENOMEM : e;
    free_compile_environment(env);
  }
  free(compile);
  struct stat mod_st;
  if (crc == 0 && st == 0 && mod_done != NULL && stat(mod_done, &mod_st) == 0 &&
      mod_st.st_size > 0 && measure_env_set("CODEGREEN_MEASURE_MODULES", mod_done) != 0) {
    crc = -1;
    e = errno;
  }
  free(mod_list);
  free(mod_done);
  if (crc != 0) {
    fprintf(stderr, "codegreen measure: cannot run %s: %s\n", python, strerror(e));
    status = CG_EXIT_CANNOT_RUN;
    goto out;
  }
  if (cg_signals_caught()) {
    goto out; /* nothing was run */
  }
  if (st == 5) { /* the runner's AS_IS: only the recursion limit stops the script's compile */
    fprintf(stderr,
            "codegreen measure: warning: %s nests too deeply for this interpreter to compile an "
            "instrumented copy; python compiles and runs it as it is, none of its functions "
            "measured\n",
            script);
    as_is = true;
    as_is_why = "it nests too deeply for the interpreter to compile an instrumented copy "
                "(RecursionError at its recursion limit)";
    st = 0;
  }
  if (st != 0) {
    /* 1: the program has a syntax error (Python's message is out); 3: an internal error; 4: no
     * runtime (the runner said which interpreter and what to do) */
    status = st == 1 ? 1 : CG_EXIT_FAIL;
    /* Status 1 with Python's own message is a syntax error, shown as `python SCRIPT` shows it.
     * Anything else, or a status 1 from a program that is not a Python at all (--python
     * /bin/false), must not pass in silence. */
    char *probe[] = {python, "-c", "", NULL};
    int pst = 0, pe = 0;
    if (st != 1 || cg_measure_run_wait(probe, true, false, &pst, &pe) != 0 || pst != 0) {
      fprintf(stderr,
              "codegreen measure: %s exited with status %d compiling %s%s; the program was not "
              "run\n",
              python, st, script,
              st == 1 ? " (and fails `-c \"\"` too: not a Python interpreter)" : "");
    }
    goto out;
  }

  /* 4. run; the support module (async for/with helpers) only when the program needs it */
  const char *support_module = NULL;
  const char *support = cgi_language_support(o.lang, &support_module);
  if (ir != NULL && cgi_result_uses_support(ir) && support != NULL && support_module != NULL) {
    char *sp = NULL;
    if (asprintf(&sp, "%s/%s.py", p.support_dir, support_module) < 0 ||
        cgi_write_file(sp, support, strlen(support)) != 0 ||
        cg_measure_prepend_env("PYTHONPATH", p.support_dir) != 0) {
      fprintf(stderr, "codegreen measure: cannot write %s: %s\n", sp ? sp : p.support_dir,
              strerror(errno));
      free(sp);
      goto out;
    }
    free(sp);
  }
  /* --carbon-intensity reaches the program's sessions under measure's own name: the runtime
   * sets CODEGREEN_CARBON_INTENSITY only while a session begins (carbon.c), so neither the
   * program nor its children inherit the flag. */
  const char *carbon = cg_carbon_flag_value();
  if (measure_env_set("CODEGREEN_RESULT_FILE", p.result) != 0 ||
      (o.config != NULL && measure_env_set("CODEGREEN_CONFIG", o.config) != 0) ||
      (carbon != NULL && measure_env_set("CODEGREEN_MEASURE_CARBON_INTENSITY", carbon) != 0)) {
    fprintf(stderr, "codegreen measure: cannot set up the environment: %s\n", strerror(errno));
    goto out;
  }
  /* The per-invocation records feed the JSON report and the call-graph views and spans. */
  if (!cg_measure_wants_detail(&o) && cg_measure_config_without_detail(o.config, p.config) == 0) {
    measure_env_set("CODEGREEN_CONFIG", p.config);
  }
  size_t n_args = 0;
  while (o.cmd[n_args] != NULL) {
    n_args++;
  }
  char **rest = calloc(n_args + 1, sizeof *rest); /* the compiled script and its arguments */
  if (rest == NULL) {
    goto out;
  }
  for (size_t k = 1; k < n_args; k++) {
    rest[k] = o.cmd[k];
  }
  rest[0] = as_is ? (char *)script : p.pyc; /* as it is: python compiles it, as a plain run */
  char **run = NULL;
  /* measure's sitecustomize begins the measurement in the program (the form python runs
   * itself: -m NAME ARGS, DIR ARGS, ZIP ARGS) and in its Python children */
  if (boot_environment(&p, kind, as_is, script) != 0) {
    fprintf(stderr, "codegreen measure: cannot write into %s: %s\n", p.tmp, strerror(errno));
    free(rest);
    goto out;
  }
  if (kind == CG_RUN_SCRIPT) {
    run = interpreter_argv(python, &o, rest);
  } else {
    char **full = calloc(n_args + 2, sizeof *full);
    if (full != NULL) {
      size_t m = 0;
      if (kind == CG_RUN_MODULE) {
        full[m++] = "-m";
      }
      full[m++] = (char *)script;
      for (size_t k = 1; k < n_args; k++) {
        full[m++] = o.cmd[k];
      }
      run = interpreter_argv(python, &o, full);
      free(full);
    }
  }
  free(rest);
  if (run == NULL) {
    goto out;
  }
  const char *task = strrchr(script, '/') ? strrchr(script, '/') + 1 : script;
  pid_t program_pid = -1;
  char concurrent[CG_CONCURRENT_LEN];
  {
    int prc = cg_measure_run_sampled(run, &o, p.tmp, task, true, &plot_session, &program_pid,
                                     &status, &e, concurrent);
    if (prc == CG_EXIT_FAIL) {
      free(run);
      status = CG_EXIT_FAIL;
      goto out;
    }
    rc = prc;
  }
  ran = rc == 0;
  free(run);
  if (rc != 0) {
    fprintf(stderr, "codegreen measure: cannot run %s: %s\n", python, strerror(e));
    status = CG_EXIT_CANNOT_RUN;
    goto out;
  }

  /* 5. the report */
  report = cg_measure_program_report(p.result, plot_session, program_pid, status,
                                     "stopped before its exit handlers ran (os._exit, exec, or "
                                     "a crash)",
                                     concurrent, &o);
  if (report == NULL) {
    goto out;
  }
  json_t *instr = instrumentation_json(&o, ir, python, as_is_why, mod_json);
  mod_json = NULL;
  json_t *hot = json_object_get(report, "python_hot_path"); /* written by codegreen_runtime */
  if (json_is_string(hot)) {
    json_object_set(instr, "hot_path", hot);
  }
  json_object_del(report, "python_hot_path");
  json_object_set_new(report, "instrumentation", instr);
  if (cg_measure_merge_children(report, p.children) > 0 && o.sort == NULL) {
    cg_sort_functions(report, "energy");
  }
  status = cg_measure_report(report, &o, n_points, status);
  status = cg_measure_export_plot(plot_session, report, task, p.tmp, &o, status);

out:
  if (cg_signals_caught() && !ran) {
    status = 128 + (int)cg_signals_caught(); /* stopped before the program ran */
    char name[32];
    cg_signal_name(cg_signals_caught(), name, sizeof name);
    fprintf(stderr,
            "codegreen measure: %s came before the program started: nothing was run or "
            "measured; exit %d\n",
            name, status);
  }
  json_decref(mod_json);
  nemb_session_destroy(plot_session);
  json_decref(report);
  cgi_result_destroy(ir);
  if (p.tmp[0] != '\0' && p.src_dir != NULL) {
    if (o.keep) {
      fprintf(stderr, "codegreen measure: kept %s\n", p.tmp);
    } else {
      cg_measure_remove_tree(p.tmp);
    }
  }
  free_paths(&p);
  /* Only now: the temporary directory (a copy of the user's source) is gone whatever came. */
  cg_signals_restore();
  free(pydir);
  free(python);
  free(src);
  return status;
}

int cg_cmd_measure(int argc, char **argv) {
  /* C, C++ (measure_native.c) and Java (measure_java.c) build before they run */
  const char *native = cg_measure_native_language(argc, argv);
  if (native != NULL) {
    return strcmp(native, "java") == 0 ? cg_measure_java(argc, argv)
                                       : cg_measure_native(argc, argv);
  }
  measure_opts o;
  int rc = parse_args(argc, argv, &o);
  rc = rc == 0 ? measure_with(o) : rc < 0 ? CG_EXIT_OK : rc;
  free(o.cmd); /* built by parse_args */
  return rc;
}
