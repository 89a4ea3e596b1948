/*
 * measure_native.c - `codegreen measure` for C and C++: instrument, compile, run, report.
 *
 *   codegreen measure [options] c|cpp FILE... [-- ARGS]
 *     1. Each FILE is instrumented (src/instrument, block_style brace) into a fresh temporary
 *        directory, never beside the user's file. The copies start with #line directives, so
 *        __FILE__, __LINE__, diagnostics and debug information name the user's file and lines.
 *     2. Each copy is compiled on its own with the user's compiler and flags ($CC or cc, $CFLAGS;
 *        C++: $CXX or c++, $CXXFLAGS; --cc and --cflags replace them), with -iquote the
 *        original's directory (its "local.h" headers are found as before) and -I the directory
 *        of codegreen_runtime.h; then linked with $LDFLAGS, $LDLIBS and libcodegreen-nemb (an
 *        rpath to the library this codegreen runs with).
 *     3. The program runs with ARGS, the user's stdin, stdout, stderr and working directory; its
 *        runtime (codegreen_runtime.h) writes the report to $CODEGREEN_RESULT_FILE at exit.
 *     4. The same table and report as for Python (cmd_measure.c), and the program's exit status.
 *
 *   codegreen measure [options] --build CMD --instrument DIR [--instrument DIR...] -- PROG ARGS
 *     For real projects: the working directory is copied into the temporary directory, every
 *     C and C++ source under each DIR is instrumented in the copy (including the runtime header
 *     by its absolute path, so the build needs no flag of ours), CMD runs there with /bin/sh,
 *     then PROG (a relative path is taken in the copy) runs from the user's working directory.
 *     The build does not link libcodegreen-nemb: the runtime loads it with dlopen().
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wordexp.h>

#include "child.h"
#include "cli.h"
#include "instrument.h"
#include "json_load.h"
#include "left.h"
#include "measure.h"

#ifndef CG_SOURCE_INCLUDE_DIR
#define CG_SOURCE_INCLUDE_DIR ""
#endif

/* The C, C++ and Java front's own options; it takes every measurement's too (cg_measure_options:
 * outputs, --sort, --call-graph, --carbon-intensity, ...), so that the language is told and the
 * command line read the same way whichever options come first. */
static const struct option own_options[] = {
    {"cc", required_argument, NULL, 'C'},    {"cflags", required_argument, NULL, 'F'},
    {"build", required_argument, NULL, 'B'}, {"instrument", required_argument, NULL, 'I'},
    {"main", required_argument, NULL, 'M'},  {"java", required_argument, NULL, 'J'},
    {"javac", required_argument, NULL, 'K'}, {NULL, 0, NULL, 0}};

/* own_options then cg_measure_options, made on first use (the CLI parses on one thread). */
static const struct option *native_options(void) {
  static struct option all[64];
  if (all[0].name == NULL) {
    size_t n = 0;
    for (const struct option *t = own_options; t->name != NULL; t++) {
      all[n++] = *t;
    }
    for (const struct option *t = cg_measure_options; t->name != NULL && n + 1 < 64; t++) {
      all[n++] = *t;
    }
  }
  return all;
}

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen measure [options] c|cpp FILE... [options] [-- ARGS]\n"
          "       codegreen measure [options] --build CMD --instrument DIR... -- PROG [ARGS]\n"
          "       codegreen measure [options] java Main.java|DIR [options] [-- ARGS]\n\n"
          "Instruments every function of the sources, builds and runs the program, and reports\n"
          "each function's energy (the table on stderr; the program's output and exit status\n"
          "are its own). codegreen's options may follow the files, up to '--'.\n\n");
  cg_measure_native_help(fp);
  fprintf(fp, "  -g, --granularity G  coarse (functions; the only one for these languages)\n"
              "  -o FILE (repeatable), --append, --sort KEY, --call-graph, --top N, --json,\n"
              "  --carbon-intensity G, -c FILE, --keep-temp, -q, --export-plot FILE\n"
              "                       as for Python (`codegreen measure --help`); --include,\n"
              "                       --script-only and --leave-decorated are Python's only\n");
}

void cg_measure_native_help(FILE *fp) {
  fprintf(
      fp,
      "  --cc CC              the C or C++ compiler (default $CC or cc; C++: $CXX or c++)\n"
      "  --cflags FLAGS       compiler flags (default $CFLAGS; C++: $CXXFLAGS; Java: javac's);\n"
      "                       $LDFLAGS and $LDLIBS are passed to the link\n"
      "  --build CMD          build a copy of the project with CMD (run by /bin/sh) ...\n"
      "  --instrument DIR     ... after instrumenting the C and C++ sources under DIR\n"
      "                       (repeatable); then PROG after '--' runs from the copy\n"
      "  --main CLASS         Java: the class whose main runs (default: the file's class)\n"
      "  --java PATH          Java: the launcher (default $JAVA_HOME/bin/java, else PATH)\n"
      "  --javac PATH         Java: the compiler (default $JAVA_HOME/bin/javac, else PATH)\n");
}

static bool native_name(const cgi_language *l) {
  const char *n = l != NULL ? cgi_language_name(l) : "";
  return strcmp(n, "c") == 0 || strcmp(n, "cpp") == 0 || strcmp(n, "java") == 0;
}

const char *cg_measure_native_language(int argc, char **argv) {
  int saved = opterr, c;
  bool build = false, main_class = false;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, "+g:o:c:qh", native_options(), NULL)) != -1) {
    build |= c == 'B';
    main_class |= c == 'M';
  }
  int i = optind;
  opterr = saved;
  optind = 0;
  if (build) {
    return "c";
  }
  if (i < argc && strcmp(argv[i], "--") == 0) {
    i++;
  }
  if (i >= argc) {
    return NULL;
  }
  const cgi_language *l = i + 1 < argc ? cgi_language_find(argv[i]) : NULL;
  if (l == NULL) {
    l = cgi_language_for_path(argv[i]);
  }
  if (l == NULL && main_class) {
    return "java"; /* a source directory and --main */
  }
  return native_name(l) ? cgi_language_name(l) : NULL;
}

static int push(char ***v, size_t *n, char *s) {
  char **g = realloc(*v, (*n + 2) * sizeof **v);
  if (g == NULL) {
    return -1;
  }
  g[(*n)++] = s;
  g[*n] = NULL;
  *v = g;
  return 0;
}

/* snprintf into a PATH_MAX buffer; @return 0, or -1 (with a message) when the path is too long. */
static int pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pathf(char *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, PATH_MAX, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= PATH_MAX) {
    fprintf(stderr, "codegreen measure: a path is too long (%.60s...)\n", out);
    return -1;
  }
  return 0;
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Takes one option of native_options() (getopt_long's @p c and optarg) into @p o. @return 0, -1
 * after --help, or CG_EXIT_USAGE / CG_EXIT_FAIL (the reason printed). */
static int take_option(int c, native_opts *o) {
  switch (c) {
  case 'C':
    o->cc = optarg;
    return 0;
  case 'F':
    o->cflags = optarg;
    return 0;
  case 'B':
    o->build = optarg;
    return 0;
  case 'I':
    return push(&o->instrument, &o->n_instrument, optarg) != 0 ? CG_EXIT_FAIL : 0;
  case 'M':
    o->main_class = optarg;
    return 0;
  case 'J':
    o->java = optarg;
    return 0;
  case 'K':
    o->javac = optarg;
    return 0;
  case 'h':
    print_usage(stdout);
    return -1;
  default: {
    const char *python = cg_measure_python_only(c);
    if (python != NULL) {
      fprintf(stderr, "codegreen measure: %s is for Python programs only\n", python);
      return CG_EXIT_USAGE;
    }
    return cg_measure_take_option(c, &o->m); /* (prints why when it refuses) */
  }
  }
}

static int take_native_option(int c, void *o) {
  return take_option(c, o);
}

static int refuse_build_after_files(void *ctx) {
  const native_opts *o = ctx;
  if (o->build != NULL) {
    fprintf(stderr, "codegreen measure: --build measures `--build CMD --instrument DIR -- PROG "
                    "ARGS`, not source files\n");
    return CG_EXIT_USAGE;
  }
  return 0;
}

/* After the files: codegreen's options up to "--", as after a Python script; the program's
 * arguments into o->own_args. @p i: the first word after the files. @return 0, -1 after --help,
 * or an exit status (usage). */
static int options_after_files(int argc, char **argv, int i, native_opts *o) {
  o->own_args = calloc((size_t)(argc - i) + 1, sizeof *o->own_args);
  if (o->own_args == NULL) {
    fprintf(stderr, "codegreen measure: out of memory\n");
    return CG_EXIT_FAIL;
  }
  char before[PATH_MAX + 16]; /* the hint's command line: "c main.c" */
  snprintf(before, sizeof before, "%s %s", cgi_language_name(o->m.lang), o->files[0]);
  const cg_measure_after after = {.after = "files",
                                  .whose = "program",
                                  .before = before,
                                  .options = native_options(),
                                  .take = take_native_option,
                                  .check = refuse_build_after_files,
                                  .ctx = o,
                                  .m = &o->m};
  int rc = cg_measure_args_after(argc, argv, i, &after, o->own_args);
  if (rc == 0) {
    o->args = o->own_args;
  }
  return rc;
}

int cg_measure_native_args(int argc, char **argv, native_opts *o) {
  *o = (native_opts){.m = {.gran = CGI_COARSE, .top = 25}};
  int c;
  optind = 0;
  argv[0] = "codegreen measure"; /* getopt's messages start with it */
  while ((c = getopt_long(argc, argv, "+g:o:c:qh", native_options(), NULL)) != -1) {
    int rc = take_option(c, o);
    if (rc != 0) {
      return rc;
    }
  }
  if (cg_outputs_check_append(&o->m.out, "measure") != 0) {
    return CG_EXIT_USAGE;
  }
  int i = optind;
  if (i < argc && strcmp(argv[i], "--") == 0) {
    i++;
  }
  if (i < argc && native_name(cgi_language_find(argv[i])) && (i + 1 < argc || o->build != NULL)) {
    o->m.lang = cgi_language_find(argv[i]);
    i++;
  }
  if (i < argc && strcmp(argv[i], "--help") == 0) {
    print_usage(stdout);
    return -1;
  }
  if (o->m.gran == CGI_FINE) {
    fprintf(stderr, "codegreen measure: -g fine (loops) is not available for C, C++ and Java "
                    "yet; functions are measured with -g coarse\n");
    return CG_EXIT_USAGE;
  }
  if (cg_measure_check_plot(&o->m) != 0 ||
      cg_measure_check_paths("--instrument", o->instrument, o->n_instrument) != 0) {
    return CG_EXIT_USAGE;
  }
  if (o->build != NULL) {
    if (o->n_instrument == 0) {
      fprintf(stderr, "codegreen measure: --build needs --instrument DIR (the sources to "
                      "instrument)\n");
      return CG_EXIT_USAGE;
    }
    if (i < argc && strcmp(argv[i], "--") == 0) {
      i++;
    }
    if (i >= argc) {
      fprintf(stderr, "codegreen measure: --build needs the program to run: -- PROG [ARGS]\n");
      return CG_EXIT_USAGE;
    }
    o->args = argv + i;
    o->m.cmd = argv + i;
    if (o->m.lang == NULL) {
      o->m.lang = cgi_language_find("c");
    }
    return 0;
  }
  while (i < argc && strcmp(argv[i], "--") != 0) {
    const cgi_language *l = cgi_language_for_path(argv[i]);
    bool java_dir =
        is_dir(argv[i]) && (o->m.lang == NULL || strcmp(cgi_language_name(o->m.lang), "java") == 0);
    if (!java_dir && (l == NULL || (o->m.lang != NULL && l != o->m.lang) || !native_name(l))) {
      break;
    }
    if (o->m.lang == NULL) {
      o->m.lang = java_dir ? cgi_language_find("java") : l;
    }
    if (push(&o->files, &o->n_files, argv[i]) != 0) {
      return CG_EXIT_FAIL;
    }
    i++;
  }
  if (o->n_files == 0) {
    fprintf(stderr, "codegreen measure: no %s source file given%s%s\n\n",
            o->m.lang ? cgi_language_name(o->m.lang) : "C, C++ or Java", i < argc ? " before " : "",
            i < argc ? argv[i] : "");
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  int rc = options_after_files(argc, argv, i, o);
  if (rc != 0) {
    return rc;
  }
  /* for the table's first line: the first file and the program's arguments */
  char **shown = NULL;
  size_t n = 0;
  if (push(&shown, &n, o->files[0]) != 0) {
    return CG_EXIT_FAIL;
  }
  for (char **a = o->args; *a; a++) {
    if (push(&shown, &n, *a) != 0) {
      free(shown);
      return CG_EXIT_FAIL;
    }
  }
  o->shown = shown;
  o->m.cmd = shown;
  return 0;
}

void cg_measure_native_args_free(native_opts *o) {
  free(o->own_args);
  free(o->instrument);
  free(o->files);
  free(o->shown);
}

char *cg_measure_include_dir(void) {
  char p[PATH_MAX];
  struct stat st;
  if (CG_SOURCE_INCLUDE_DIR[0] != '\0' &&
      snprintf(p, sizeof p, "%s/codegreen_runtime.h", CG_SOURCE_INCLUDE_DIR) < (int)sizeof p &&
      stat(p, &st) == 0) {
    return strdup(CG_SOURCE_INCLUDE_DIR);
  }
  char exe[PATH_MAX];
  if (cg_measure_bin_dir(exe, sizeof exe) != 0) {
    return NULL;
  }
  char *dir = NULL;
  if (asprintf(&dir, "%s/../include", exe) < 0) {
    return NULL;
  }
  if (snprintf(p, sizeof p, "%s/codegreen_runtime.h", dir) < (int)sizeof p && stat(p, &st) == 0) {
    return dir;
  }
  free(dir);
  return NULL;
}

void cg_measure_add_points(json_t *instrumentation, const cgi_result *ir, const char *file) {
  json_t *pts = json_object_get(instrumentation, "points");
  for (size_t i = 0; i < cgi_result_point_count(ir); i++) {
    const cgi_point *p = cgi_result_point(ir, i);
    json_array_append_new(pts, json_pack("{s:s, s:s, s:o, s:i}", "name", p->name, "kind", p->kind,
                                         "file", cg_json_text(file), "line", p->line));
  }
  json_t *left = cgi_left_json(ir), *e;
  size_t i;
  json_array_foreach(left, i, e) {
    json_object_set_new(e, "file", cg_json_text(file));
  }
  json_array_extend(json_object_get(instrumentation, "left"), left); /* copies the references */
  json_decref(left);
}

/* ----- building ----- */

typedef struct strv {
  char **v;
  size_t n;
  char **owned; /* strings to free */
  size_t n_owned;
  wordexp_t we[4];
  int n_we;
} strv;

static int sv_add(strv *s, const char *a) {
  return push(&s->v, &s->n, (char *)a);
}

static int sv_own(strv *s, char *a) {
  if (a == NULL || push(&s->owned, &s->n_owned, a) != 0) {
    free(a);
    return -1;
  }
  return sv_add(s, a);
}

/* Adds the shell words of @p text (no command substitution). @return 0, or -1 with a message. */
static int sv_words(strv *s, const char *text, const char *what) {
  if (text == NULL || text[0] == '\0') {
    return 0;
  }
  if (s->n_we == 4) {
    return -1;
  }
  wordexp_t *w = &s->we[s->n_we];
  int rc = wordexp(text, w, WRDE_NOCMD | WRDE_UNDEF);
  if (rc != 0) {
    fprintf(stderr, "codegreen measure: cannot read %s as shell words: '%s'\n", what, text);
    return -1;
  }
  s->n_we++;
  for (size_t i = 0; i < w->we_wordc; i++) {
    if (sv_add(s, w->we_wordv[i]) != 0) {
      return -1;
    }
  }
  return 0;
}

static void sv_free(strv *s) {
  for (size_t i = 0; i < s->n_owned; i++) {
    free(s->owned[i]);
  }
  free(s->owned);
  for (int i = 0; i < s->n_we; i++) {
    wordfree(&s->we[i]);
  }
  free(s->v);
  *s = (strv){0};
}

/* Runs a build step; @return 0, or -1 after saying what failed. */
static int run_step(strv *cmd, const char *what) {
  char *path = cg_measure_find_program(cmd->v[0]);
  if (path == NULL) {
    fprintf(stderr, "codegreen measure: cannot find the %s '%s' on PATH\n", what, cmd->v[0]);
    return -1;
  }
  char *first = cmd->v[0];
  cmd->v[0] = path;
  int st = 0, e = 0;
  int rc = cg_measure_run_wait(cmd->v, true, true, &st, &e);
  cmd->v[0] = first;
  free(path);
  if (rc != 0) {
    fprintf(stderr, "codegreen measure: cannot run the %s %s: %s\n", what, first, strerror(e));
    return -1;
  }
  if (st != 0) {
    fprintf(stderr, "codegreen measure: the %s failed (exit status %d)\n", what, st);
    return -1;
  }
  return 0;
}

/* Instruments @p path into @p out. @return the result (the caller frees it), or NULL after a
 * message. */
static cgi_result *instrument_to(const cgi_language *lang, const char *path, const char *context,
                                 const char *out, const char *runtime_header) {
  char *src = NULL;
  size_t len = 0;
  if (cgi_read_file(path, &src, &len) != 0) {
    fprintf(stderr, "codegreen measure: cannot read %s: %s\n", path, strerror(errno));
    return NULL;
  }
  cgi_options io = {.granularity = CGI_COARSE,
                    .context = context,
                    .line_map = 0,
                    .runtime_header = runtime_header};
  cgi_result *ir = NULL;
  int rc = cgi_instrument(lang, src, len, &io, &ir);
  free(src);
  if (rc != 0) {
    const char *err = cgi_result_error(ir);
    fprintf(stderr, "codegreen measure: %s\n", err ? err : "out of memory");
    cgi_result_destroy(ir);
    return NULL;
  }
  size_t n;
  const char *text = cgi_result_text(ir, &n);
  if (cgi_mkdirs_for(out) != 0 || cgi_write_file(out, text, n) != 0) {
    fprintf(stderr, "codegreen measure: cannot write %s: %s\n", out, strerror(errno));
    cgi_result_destroy(ir);
    return NULL;
  }
  return ir;
}

/* ----- running and the report ----- */

/* Runs the program and reports. @p points: the instrumentation points (taken). */
static int run_and_report(native_opts *o, char **run, const char *tmp, json_t *instrumentation,
                          size_t n_points) {
  char result[PATH_MAX], config[PATH_MAX];
  if (pathf(result, "%s/result.json", tmp) != 0 || pathf(config, "%s/config.json", tmp) != 0) {
    json_decref(instrumentation);
    return CG_EXIT_FAIL;
  }
  const char *lib = cg_measure_own_library();
  if (cg_measure_env_set("CODEGREEN_RESULT_FILE", result) != 0 ||
      (o->m.config != NULL && cg_measure_env_set("CODEGREEN_CONFIG", o->m.config) != 0) ||
      (lib != NULL && getenv("CODEGREEN_LIB_PATH") == NULL &&
       cg_measure_env_set("CODEGREEN_LIB_PATH", lib) != 0)) {
    fprintf(stderr, "codegreen measure: cannot set up the environment: %s\n", strerror(errno));
    json_decref(instrumentation);
    return CG_EXIT_FAIL;
  }
  if (!cg_measure_wants_detail(&o->m) &&
      cg_measure_config_without_detail(o->m.config, config) == 0) {
    cg_measure_env_set("CODEGREEN_CONFIG", config);
  }
  return cg_measure_run_program(&o->m, run, tmp, result,
                                "stopped before its exit handlers ran (_exit, exec, or a crash)",
                                instrumentation, n_points);
}

static json_t *instrumentation_json(const native_opts *o, const char *tool) {
  return json_pack("{s:s, s:s, s:s, s:[], s:[], s:[]}", "language", cgi_language_name(o->m.lang),
                   "granularity", "coarse", o->build ? "build" : "compiler", tool, "files",
                   "points", "left");
}

static void add_file(json_t *ins, const char *file, const cgi_result *ir, size_t *n_points) {
  json_array_append_new(json_object_get(ins, "files"), cg_json_text(file));
  cg_measure_add_points(ins, ir, file);
  *n_points += cgi_result_point_count(ir);
}

/* ----- codegreen measure c|cpp FILE... ----- */

static int measure_files(native_opts *o, const char *tmp) {
  bool cpp = strcmp(cgi_language_name(o->m.lang), "cpp") == 0;
  const char *cc = o->cc ? o->cc : getenv(cpp ? "CXX" : "CC");
  if (cc == NULL || cc[0] == '\0') {
    cc = cpp ? "c++" : "cc";
  }
  const char *cflags = o->cflags ? o->cflags : getenv(cpp ? "CXXFLAGS" : "CFLAGS");
  char *inc = cg_measure_include_dir();
  /* the library the program will load: $CODEGREEN_LIB_PATH (a sanitizer build of codegreen
   * measures programs that are not sanitized), else the one this codegreen runs with */
  const char *lib = getenv("CODEGREEN_LIB_PATH");
  if (lib == NULL || lib[0] == '\0' || strchr(lib, '/') == NULL) {
    lib = cg_measure_own_library();
  }
  if (inc == NULL || lib == NULL) {
    fprintf(stderr, "codegreen measure: cannot find %s (looked beside this codegreen)\n",
            inc == NULL ? "codegreen_runtime.h" : "libcodegreen-nemb.so");
    free(inc);
    return CG_EXIT_FAIL;
  }
  char libdir[PATH_MAX];
  snprintf(libdir, sizeof libdir, "%s", lib);
  *strrchr(libdir, '/') = '\0';
  json_t *ins = instrumentation_json(o, cc);
  size_t n_points = 0;
  strv link = {0};
  int status = CG_EXIT_FAIL;
  if (sv_words(&link, cc, "the compiler") != 0 || link.n == 0 ||
      sv_words(&link, cflags, "the compiler flags") != 0) {
    goto out;
  }
  for (size_t k = 0; k < o->n_files; k++) {
    const char *file = o->files[k];
    char out[PATH_MAX], obj[PATH_MAX], dir[PATH_MAX];
    char *b = strdup(file);
    if (b == NULL) {
      goto out;
    }
    int prc =
        pathf(out, "%s/cg-src/%zu/%s", tmp, k, basename(b)) | pathf(obj, "%s/cg-obj/%zu.o", tmp, k);
    free(b);
    if (prc != 0) {
      goto out;
    }
    char *d = strdup(file);
    if (d == NULL) {
      goto out;
    }
    snprintf(dir, sizeof dir, "%s", dirname(d));
    free(d);
    cgi_result *ir = instrument_to(o->m.lang, file, file, out, NULL);
    if (ir == NULL) {
      goto out;
    }
    add_file(ins, file, ir, &n_points);
    cgi_result_destroy(ir);
    strv cmd = {0};
    int rc = sv_words(&cmd, cc, "the compiler") != 0 ||
                     sv_words(&cmd, cflags, "the compiler flags") != 0 || sv_add(&cmd, "-I") ||
                     sv_add(&cmd, inc) || sv_add(&cmd, "-iquote") || sv_add(&cmd, dir) ||
                     sv_add(&cmd, "-c") || sv_add(&cmd, out) || sv_add(&cmd, "-o") ||
                     sv_add(&cmd, obj) || cgi_mkdirs_for(obj) != 0
                 ? -1
                 : run_step(&cmd, "compiler");
    sv_free(&cmd);
    if (rc != 0 || sv_own(&link, strdup(obj)) != 0) {
      goto out;
    }
    if (cg_signals_caught()) {
      goto out;
    }
  }
  char prog[PATH_MAX];
  if (pathf(prog, "%s/cg-bin/program", tmp) != 0) {
    goto out;
  }
  char *rpath = NULL, *ldir = NULL;
  if (asprintf(&rpath, "-Wl,-rpath,%s", libdir) < 0 || asprintf(&ldir, "-L%s", libdir) < 0 ||
      sv_add(&link, "-o") || sv_add(&link, prog) ||
      sv_words(&link, getenv("LDFLAGS"), "$LDFLAGS") != 0 ||
      sv_words(&link, getenv("LDLIBS"), "$LDLIBS") != 0 || sv_own(&link, ldir) != 0 ||
      sv_add(&link, "-lcodegreen-nemb") || sv_own(&link, rpath) != 0 || cgi_mkdirs_for(prog) != 0 ||
      run_step(&link, "linker") != 0 || cg_signals_caught()) {
    goto out;
  }
  strv run = {0};
  if (sv_add(&run, prog) != 0) {
    goto out;
  }
  for (char **a = o->args; *a; a++) {
    if (sv_add(&run, *a) != 0) {
      sv_free(&run);
      goto out;
    }
  }
  status = run_and_report(o, run.v, tmp, ins, n_points);
  ins = NULL;
  sv_free(&run);
out:
  json_decref(ins);
  sv_free(&link);
  free(inc);
  return status;
}

/* ----- codegreen measure --build CMD --instrument DIR -- PROG ARGS ----- */

static struct {
  const char *tree;   /* the copy */
  size_t tree_len;    /* of its path, with the slash after it */
  const char *header; /* "\"/abs/include/codegreen_runtime.h\"" */
  json_t *ins;
  size_t n_points, n_files;
  int failed;
} walk;

static int instrument_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (flag != FTW_F) {
    return 0;
  }
  const cgi_language *l = cgi_language_for_path(path);
  if (l == NULL || !native_name(l) || strcmp(cgi_language_name(l), "java") == 0) {
    return 0;
  }
  const char *rel = path + walk.tree_len; /* as the user names it, from the working directory */
  cgi_result *ir = instrument_to(l, path, rel, path, walk.header);
  if (ir == NULL) {
    walk.failed = 1;
    return 1;
  }
  add_file(walk.ins, rel, ir, &walk.n_points);
  walk.n_files++;
  cgi_result_destroy(ir);
  return 0;
}

/* --instrument @p arg as a path relative to the working directory @p cwd (physical, as getcwd()
 * gives it) into @p rel ("" for the directory itself): resolved with realpath() first, so
 * "../proj/src" from proj and "src/../src" are what they name. @return 0, or CG_EXIT_USAGE when it
 * does not exist or is outside (the build runs in a copy of the directory). */
static int instrument_rel(const char *arg, const char *cwd, char *rel) {
  char real[PATH_MAX];
  if (realpath(arg, real) == NULL) {
    fprintf(stderr, "codegreen measure: --instrument %s: %s; nothing was run\n", arg,
            strerror(errno));
    return CG_EXIT_USAGE;
  }
  size_t n = strlen(cwd);
  bool root = n == 1; /* cwd "/": every path is under it */
  if (!root && (strncmp(real, cwd, n) != 0 || (real[n] != '\0' && real[n] != '/'))) {
    fprintf(
        stderr,
        "codegreen measure: --instrument %s (%s) is outside the working directory %s: the "
        "build runs in a copy of the working directory, so DIR must be in it; nothing was run\n",
        arg, real, cwd);
    return CG_EXIT_USAGE;
  }
  const char *r = real + (root ? 0 : n);
  while (*r == '/') {
    r++;
  }
  snprintf(rel, PATH_MAX, "%s", r);
  return 0;
}

static int measure_build(native_opts *o, const char *tmp) {
  char tree[PATH_MAX], cwd[PATH_MAX];
  if (pathf(tree, "%s/cg-tree", tmp) != 0) {
    return CG_EXIT_FAIL;
  }
  if (getcwd(cwd, sizeof cwd) == NULL) {
    fprintf(stderr, "codegreen measure: cannot read the working directory: %s\n", strerror(errno));
    return CG_EXIT_FAIL;
  }
  char *inc = cg_measure_include_dir();
  if (inc == NULL) {
    fprintf(stderr, "codegreen measure: cannot find codegreen_runtime.h beside this codegreen\n");
    return CG_EXIT_FAIL;
  }
  char *header = NULL;
  if (asprintf(&header, "\"%s/codegreen_runtime.h\"", inc) < 0) {
    free(inc);
    return CG_EXIT_FAIL;
  }
  free(inc);
  int status = CG_EXIT_FAIL;
  json_t *ins = instrumentation_json(o, o->build);
  /* 0. each DIR, a path under the working directory (refused before anything is copied) */
  char(*rel)[PATH_MAX] = calloc(o->n_instrument ? o->n_instrument : 1, sizeof *rel);
  if (rel == NULL) {
    goto out;
  }
  for (size_t k = 0; k < o->n_instrument; k++) {
    if ((status = instrument_rel(o->instrument[k], cwd, rel[k])) != 0) {
      goto out;
    }
  }
  status = CG_EXIT_FAIL;
  /* 1. the copy */
  char *copy[] = {"/bin/cp", "-a", "--", ".", tree, NULL};
  int st = 0, e = 0;
  if (cg_measure_run_wait(copy, true, true, &st, &e) != 0 || st != 0) {
    fprintf(stderr, "codegreen measure: cannot copy %s into %s\n", cwd, tree);
    goto out;
  }
  /* 2. the sources under each DIR */
  walk.tree = tree;
  walk.tree_len = strlen(tree) + 1;
  walk.header = header;
  walk.ins = ins;
  walk.n_points = walk.n_files = 0;
  walk.failed = 0;
  for (size_t k = 0; k < o->n_instrument; k++) {
    char dir[PATH_MAX];
    if (pathf(dir, "%s/%s", tree, rel[k]) != 0) {
      goto out;
    }
    if (nftw(dir, instrument_entry, 16, FTW_PHYS) != 0 || walk.failed) {
      goto out;
    }
  }
  if (walk.n_files == 0) {
    fprintf(stderr, "codegreen measure: no C or C++ source under --instrument\n");
    goto out;
  }
  /* 3. the user's build, in the copy */
  int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (here < 0 || chdir(tree) != 0) {
    fprintf(stderr, "codegreen measure: cannot enter %s: %s\n", tree, strerror(errno));
    if (here >= 0) {
      close(here);
    }
    goto out;
  }
  char *build[] = {"/bin/sh", "-c", (char *)o->build, NULL};
  int brc = cg_measure_run_wait(build, true, true, &st, &e);
  if (fchdir(here) != 0) {
    close(here);
    goto out;
  }
  close(here);
  if (brc != 0 || st != 0) {
    fprintf(stderr, "codegreen measure: the build (%s) failed in the instrumented copy %s\n",
            o->build, tree);
    status = CG_EXIT_FAIL;
    goto out;
  }
  if (cg_signals_caught()) {
    goto out;
  }
  /* 4. the program: a relative path means the copy's */
  char prog[PATH_MAX];
  const char *p0 = o->args[0];
  char *found = NULL;
  int prc;
  if (strchr(p0, '/') != NULL && p0[0] != '/') {
    prc = pathf(prog, "%s/%s", tree, p0);
  } else if (strchr(p0, '/') == NULL && (found = cg_measure_find_program(p0)) != NULL) {
    prc = pathf(prog, "%s", found);
  } else {
    prc = pathf(prog, "%s", p0);
  }
  free(found);
  if (prc != 0) {
    goto out;
  }
  size_t n = 0;
  while (o->args[n] != NULL) {
    n++;
  }
  char **run = calloc(n + 1, sizeof *run);
  if (run == NULL) {
    goto out;
  }
  run[0] = prog;
  for (size_t k = 1; k < n; k++) {
    run[k] = o->args[k];
  }
  status = run_and_report(o, run, tmp, ins, walk.n_points);
  ins = NULL;
  free(run);
out:
  free(rel);
  json_decref(ins);
  free(header);
  return status;
}

int cg_measure_run_program(const measure_opts *m, char **run, const char *tmp, const char *result,
                           const char *stopped, json_t *instrumentation, size_t n_points) {
  const char *task = strrchr(m->cmd[0], '/') ? strrchr(m->cmd[0], '/') + 1 : m->cmd[0];
  nemb_session *own = NULL;
  pid_t pid = -1;
  int status = CG_EXIT_FAIL, e = 0;
  char concurrent[CG_CONCURRENT_LEN];
  int rc = cg_measure_run_sampled(run, m, tmp, task, false, &own, &pid, &status, &e, concurrent);
  if (rc != 0) {
    if (rc < 0) {
      fprintf(stderr, "codegreen measure: cannot run %s: %s\n", run[0], strerror(e));
    }
    nemb_session_destroy(own);
    json_decref(instrumentation);
    return rc < 0 ? CG_EXIT_CANNOT_RUN : rc;
  }
  json_t *report = cg_measure_program_report(result, own, pid, status, stopped, concurrent, m);
  if (report == NULL) {
    nemb_session_destroy(own);
    json_decref(instrumentation);
    return status ? status : CG_EXIT_FAIL;
  }
  json_object_set_new(report, "instrumentation", instrumentation);
  status = cg_measure_report(report, m, n_points, status);
  status = cg_measure_export_plot(own, report, task, tmp, m, status);
  nemb_session_destroy(own);
  json_decref(report);
  return status;
}

int cg_measure_bin_dir(char *buf, size_t len) {
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  if (n <= 0) {
    return -1;
  }
  buf[n] = '\0';
  char *slash = strrchr(buf, '/');
  if (slash == NULL) {
    return -1;
  }
  *slash = '\0';
  return 0;
}

const char *cg_measure_tmp_dir(char *buf, size_t len) {
  const char *tmpdir = getenv("TMPDIR");
  const char *in = tmpdir && tmpdir[0] ? tmpdir : "/tmp";
  snprintf(buf, len, "%s/codegreen-measure-XXXXXX", in);
  return mkdtemp(buf) != NULL ? NULL : in;
}

int cg_measure_native_main(int argc, char **argv, int (*measure)(native_opts *o, const char *tmp)) {
  native_opts o;
  int rc = cg_measure_native_args(argc, argv, &o);
  if (rc == 0) {
    rc = cg_measure_check_outputs(&o.m); /* after the options that follow the files, too */
  }
  if (rc != 0) {
    cg_measure_native_args_free(&o);
    return rc < 0 ? CG_EXIT_OK : rc;
  }
  char tmp[PATH_MAX];
  const char *in = cg_measure_tmp_dir(tmp, sizeof tmp);
  if (in != NULL) {
    fprintf(stderr, "codegreen measure: cannot make a temporary directory in %s: %s\n", in,
            strerror(errno));
    cg_measure_native_args_free(&o);
    return CG_EXIT_FAIL;
  }
  /* SIGINT/SIGTERM reach whichever child runs; the temporary directory is always removed */
  cg_signals_catch();
  int status = measure(&o, tmp);
  cg_signals_restore();
  if (cg_signals_caught() && status == CG_EXIT_FAIL) {
    status = 128 + cg_signals_caught();
  }
  if (o.m.keep) {
    fprintf(stderr, "codegreen measure: kept %s\n", tmp);
  } else {
    cg_measure_remove_tree(tmp);
  }
  cg_measure_native_args_free(&o);
  return status;
}

static int measure_native(native_opts *o, const char *tmp) {
  return o->build != NULL ? measure_build(o, tmp) : measure_files(o, tmp);
}

int cg_measure_native(int argc, char **argv) {
  return cg_measure_native_main(argc, argv, measure_native);
}
