/*
 * measure.h - what the `measure` verb's files share: its options, the helpers of cmd_measure.c
 * (finding programs, running them, the report) and the entry points of the languages that build
 * before they run (measure_native.c: C and C++; measure_java.c: Java).
 */
#ifndef CG_MEASURE_H
#define CG_MEASURE_H

#include "outputs.h"
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "instrument.h"
#include "nemb.h"

typedef struct measure_opts {
  cgi_granularity gran;
  const char *python;
  bool json, quiet, keep;
  const char *output, *plot, *config;
  long top;
  char leave[1024]; /* --leave-decorated names, blank-separated */
  const cgi_language *lang;
  char **cmd;    /* script and its arguments, NULL-terminated */
  char **interp; /* interpreter options given before the script (-X dev, -W error, -O, ...) */
  size_t n_interp;
  char *include[16]; /* --include PATH: more directories of the program's own modules */
  size_t n_include;
  bool script_only;     /* --script-only: not the modules beside it */
  bool module;          /* `python -m MODULE`: cmd[0] is the module's name, not a file */
  bool script_after_dd; /* the script followed the interpreter options' "--" (python's rule) */
  bool call_graph;      /* --call-graph */
  const char *sort;     /* --sort KEY, or NULL */
  cg_outputs out; /* -o, repeatable (outputs.h); `output` above is the one -o of other fronts */
} measure_opts;

/* ----- cmd_measure.c ----- */

/* Whether the run's outputs need each checkpoint's detail (--json, -o, --call-graph,
 * --export-plot); without them the runtime is given cg_measure_config_without_detail(). */
bool cg_measure_wants_detail(const measure_opts *o);

/* The options of every measurement (getopt_long entries, {NULL} last; short ones "g:o:c:qh"):
 * outputs, sorting, the call graph, --carbon-intensity, ... The C, C++ and Java front adds its
 * own (measure_native.c) and refuses those cg_measure_python_only() names. */
extern const struct option cg_measure_options[];
/* Takes one of cg_measure_options (getopt_long's @p c and optarg) into @p o. @return 0, -1 after
 * --help (Python's usage printed), or CG_EXIT_USAGE (the reason printed). */
int cg_measure_take_option(int c, measure_opts *o);
/* "--include" and the other options that only a Python program has a use for, or NULL. */
const char *cg_measure_python_only(int c);

/* How cg_measure_args_after() reads the words that follow a script or a program's files. */
typedef struct cg_measure_after {
  const char *after;            /* what they follow, in the messages: "script", "files" */
  const char *whose;            /* whose arguments go after "--": "script", "program" */
  const char *before;           /* the command line before "--" in the hint: "script.py" */
  const struct option *options; /* getopt_long's table (the short options are "g:o:c:qh") */
  /* Takes one option (getopt_long's @p c and optarg). @return 0, -1 after --help, or an exit
   * status (the reason printed). */
  int (*take)(int c, void *ctx);
  /* NULL, or run once every option was taken and before the note: non-zero refuses. */
  int (*check)(void *ctx);
  void *ctx;
  const measure_opts *m; /* whose -q and --json, once taken, silence the note */
} cg_measure_after;

/* After the script (or the files): codegreen's options (the reference's `script.py -g fine
 * --export-plot energy.html`) up to "--"; plain words there and every word after "--" are the
 * program's arguments, in their order, into @p args (room for argc - @p i + 1 pointers, NULL
 * last). When an option was taken there and no "--" was given, a note says how to pass it to the
 * program instead. @p i: the first word after the script or files. @return 0, -1 after --help, or
 * an exit status (the reason printed). */
int cg_measure_args_after(int argc, char **argv, int i, const cg_measure_after *a, char **args);

/* @p name looked up on PATH like execvp does; a name with a slash is taken as it is. A new
 * string, or NULL. */
char *cg_measure_find_program(const char *name);
/* Removes a directory tree (the temporary directory), past entries it cannot remove, walking
 * again while something is left (a late child writing into it), for at most about 1.3 s. */
void cg_measure_remove_tree(const char *dir);
/* Runs @p argv (a path, not looked up); @p quiet_stdin gives it /dev/null as stdin; @p forward
 * passes SIGINT/SIGTERM on. Fills *status with the exit code or 128 + signal. @return 0, or -1
 * when it could not start (errno in *err). */
int cg_measure_run_wait(char *const argv[], bool quiet_stdin, bool forward, int *status, int *err);
/* The file of the libcodegreen-nemb this executable runs with, or NULL. */
const char *cg_measure_own_library(void);
/* Puts @p dir first in the PATH-like variable @p name. @return 0 or -1. */
int cg_measure_prepend_env(const char *name, const char *dir);
/* Writes the configuration in force with the per-invocation detail off to @p out_path (when only
 * the table is wanted). @return 0 or -1. */
int cg_measure_config_without_detail(const char *explicit_path, const char *out_path);
/* The table on stderr (@p n_points: the instrumentation points). */
void cg_measure_print_table(json_t *report, const measure_opts *o, size_t n_points, int status);
/* The table (unless --quiet), the report to -o FILE and with --json to stdout. @return the
 * status to exit with: @p status, or a failure when the report cannot be written. */
int cg_measure_report(json_t *report, const measure_opts *o, size_t n_points, int status);

/* Runs @p run (a path, not looked up; the user's stdin; SIGINT/SIGTERM passed on) as the measured
 * program, inside measure's own session of the whole run, from before the program starts (an
 * interpreter's or a JVM's start-up included) to its exit, as `codegreen run` measures a
 * command: its one task @p task is the program. The session publishes its samples in @p tmp
 * (CODEGREEN_MEASURE_SAMPLES, unset again on return), so the program's runtime follows it
 * (node.c) rather than sampling for itself. @p python: measure becomes the subreaper of the
 * program's orphans and waits for them (bounded) after the program's end (Python's pool
 * workers write their reports as they exit), and the program gets the user's
 * CODEGREEN_CARBON_INTENSITY back (its runtime takes --carbon-intensity under measure's name);
 * a native or Java program inherits --carbon-intensity's value as set. *@p own: the ended session
 * (destroy it), or NULL when none could begin (the program then samples for itself); *@p pid the
 * program's;
 * *@p status its exit status or 128 + signal. When another codegreen process measures on this
 * host at the program's start or end, @p concurrent (CG_CONCURRENT_LEN bytes) receives the
 * warning, said on stderr (not with -q or --json), for cg_measure_program_report(); else "".
 * @return 0; -1 when the program could not start (errno in *@p err); CG_EXIT_FAIL, nothing run,
 * when a provider named in CODEGREEN_PROVIDERS is missing (said on stderr). Not thread-safe (the
 * environment). */
int cg_measure_run_sampled(char *const run[], const measure_opts *o, const char *tmp,
                           const char *task, bool python, nemb_session **own, pid_t *pid,
                           int *status, int *err, char *concurrent);
/* The report of a run of cg_measure_run_sampled(): the program's runtime's report at @p result,
 * with the whole run's task, totals, verdict and sampler from @p own (may be NULL). When the
 * program wrote none (a crash, a signal, _exit), measure's own session of the run is the
 * report, its functions empty and meta.program_report saying why, in the words of @p stopped
 * (how a program of that language ends without writing it: "stopped before ..."), and that
 * warning in the report's top-level "warnings". Says it on stderr too, unless @p o is quiet, or
 * --json with a report to carry it. @p concurrent: cg_measure_run_sampled()'s warning, added
 * to the report's "warnings" unless "". @return a new report, or NULL (nothing to report: no
 * result and no session of measure's own). */
json_t *cg_measure_program_report(const char *result, nemb_session *own, pid_t pid, int status,
                                  const char *stopped, const char *concurrent,
                                  const measure_opts *o);

/* --export-plot's file name: .html, .htm, .png or .svg. @return 0, or CG_EXIT_USAGE (said). */
int cg_measure_check_plot(const measure_opts *o);
/* Every destination (-o, --export-plot) is tried before anything is built or run: the first that
 * cannot be written is refused ("cannot write P: REASON; nothing was run"), for every language.
 * @return 0 or CG_EXIT_USAGE (said). */
int cg_measure_check_outputs(const measure_opts *o);
/* The paths @p option named (@p n of them) must exist; the first that does not is refused
 * ("--include X: No such file or directory; nothing was run"). @return 0 or CG_EXIT_USAGE. */
int cg_measure_check_paths(const char *option, char *const *paths, size_t n);
/* --export-plot (o->plot; nothing without it or without @p own, measure's session of the run):
 * the run's power with the functions' spans of @p report under the program's task @p task,
 * drawn through a file in @p tmpdir. @return @p status, the exit status so far; a plot that could
 * not be drawn is said and is a lost output (cg_output_lost: 3 unless the program failed). */
int cg_measure_export_plot(nemb_session *own, json_t *report, const char *task, const char *tmpdir,
                           const measure_opts *o, int status);

/* ----- measure_native.c ----- */

/* The options of the languages that build before they run. */
typedef struct native_opts {
  measure_opts m;     /* m.cmd: the program's arguments after the files (NULL-terminated) */
  const char *cc;     /* --cc: the compiler (C: $CC or cc; C++: $CXX or c++) */
  const char *cflags; /* --cflags: replaces $CFLAGS ($CXXFLAGS) */
  const char *build;  /* --build CMD */
  char **instrument;  /* --instrument DIR... */
  size_t n_instrument;
  char **files; /* the sources (or a Java source directory) */
  size_t n_files;
  char **args;            /* the program's arguments (--build: the program and its arguments) */
  char **own_args;        /* args when made of the words after the files (owned) */
  char **shown;           /* the first file and the arguments, for the table's first line (owned) */
  const char *main_class; /* --main CLASS (Java) */
  const char *java, *javac; /* --java, --javac (Java) */
} native_opts;

/* Parses the command line of a native or Java measurement. @return 0, -1 after --help, or an exit
 * status (usage). */
int cg_measure_native_args(int argc, char **argv, native_opts *o);
/* Frees what cg_measure_native_args() allocated. */
void cg_measure_native_args_free(native_opts *o);

/* "c", "cpp" or "java" when the command line measures a program in one of those languages (named
 * first, told by the first file's extension, or a --build), else NULL (Python: cmd_measure.c).
 * Prints nothing. */
const char *cg_measure_native_language(int argc, char **argv);
/* The option lines of the C, C++ and Java measurements (--cc, --cflags, --build, --instrument,
 * --main, --java, --javac), the one text both `measure --help` and `measure c --help` print. */
void cg_measure_native_help(FILE *fp);
/* `codegreen measure [options] c|cpp FILE... [-- ARGS]` and `--build CMD --instrument DIR -- PROG
 * ARGS`. @return the exit status. */
int cg_measure_native(int argc, char **argv);
/* What a native or Java measurement does around its work: parses the command line, makes the
 * temporary directory, runs @p measure with SIGINT/SIGTERM passed on to whichever child runs,
 * then removes the directory (or says where it is kept, --keep). @return the exit status:
 * measure's, or 128 + the signal that interrupted a failed run. */
int cg_measure_native_main(int argc, char **argv, int (*measure)(native_opts *o, const char *tmp));

/* Makes a new temporary directory codegreen-measure-XXXXXX in $TMPDIR (else /tmp), its path in
 * @p buf (of @p len bytes, PATH_MAX). @return NULL, or the folder it could not be made in (errno
 * set). */
const char *cg_measure_tmp_dir(char *buf, size_t len);
/* Runs a built native or Java program @p run (its runtime writes its report to @p result, the
 * environment already set) under cg_measure_run_sampled() and reports (cg_measure_report()),
 * @p instrumentation (taken) added. @p stopped: cg_measure_program_report()'s. @return the exit
 * status: the program's, or measure's when it could not run or report. */
int cg_measure_run_program(const measure_opts *m, char **run, const char *tmp, const char *result,
                           const char *stopped, json_t *instrumentation, size_t n_points);
/* setenv(@p name, @p value) for the program, recorded as measure's own (CODEGREEN_MEASURE_SET,
 * the user's value in CODEGREEN_MEASURE_ORIG_<NAME>): the Python runtime undoes it once its
 * session has begun, and cg_measure_user_meta() leaves it out of the report. @return 0 or -1. */
int cg_measure_env_set(const char *name, const char *value);
/* Makes @p report's meta say what the user ran, not how measure ran it: meta.argv (and the
 * program's processes[] entry) become @p cmd as typed (the script, directory, module or first
 * source file, then the program's arguments; "-m" first when @p module), not the temporary .pyc
 * or the `java -cp /tmp/...` line; meta.codegreen_env loses measure's own variables
 * (CODEGREEN_MEASURE_*, CODEGREEN_RESULT_FILE) and gets back the user's value of one measure
 * replaced (CODEGREEN_LIB_PATH). */
void cg_measure_user_meta(json_t *report, char *const *cmd, bool module);
/* The directory of the running executable (/proc/self/exe) in @p buf. @return 0 or -1. */
int cg_measure_bin_dir(char *buf, size_t len);

/* Where codegreen_runtime.h (and nemb.h beside it) is: this source tree's include/, else
 * <bindir>/../include. A new string, or NULL. */
char *cg_measure_include_dir(void);

/* Adds the points of one instrumented file to @p instrumentation's "points" (name, kind, file,
 * line) and the functions left as they are to its "left" (cgi_left_json(), with the file). */
void cg_measure_add_points(json_t *instrumentation, const cgi_result *ir, const char *file);

/* ----- measure_java.c ----- */

/* `codegreen measure [options] java Main.java|DIR [--main CLASS] [-- ARGS]`. */
int cg_measure_java(int argc, char **argv);

#endif /* CG_MEASURE_H */
