/*
 * measure_java.c - `codegreen measure [options] java Main.java|DIR... [--main CLASS] [-- ARGS]`.
 *
 * 1. Each source (a DIR stands for every .java file below it) is instrumented into a fresh
 *    temporary directory, keeping its file name: every method, constructor (after its this(...)
 *    or super(...)), initialiser and block lambda gets enter / try { BODY } finally { exit }, on
 *    the body's own lines, and the file's id table is a class of its own after the last line, so
 *    stack traces keep the user's line numbers.
 * 2. javac ($JAVA_HOME/bin/javac, else javac on PATH; --javac) compiles the copies with the
 *    runtime (codegreen-runtime.jar) and $CLASSPATH on the class path; --cflags passes flags.
 * 3. java runs the main class (--main, else the single file's class, in its package) with ARGS,
 *    the runtime jar on the class path and libcodegreen-jni on java.library.path; the runtime
 *    writes the report to $CODEGREEN_RESULT_FILE from its shutdown hook.
 * 4. The same table and report as for Python and C (cmd_measure.c).
 */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <regex.h>
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
#include "measure.h"

#ifndef CG_BUILD_JAVA_JAR
#define CG_BUILD_JAVA_JAR ""
#endif
#ifndef CG_INSTALL_JAVA_JAR
#define CG_INSTALL_JAVA_JAR "share/codegreen/java/codegreen-runtime.jar"
#endif

static bool exists(const char *p) {
  struct stat st;
  return p != NULL && p[0] != '\0' && stat(p, &st) == 0;
}

/* codegreen-runtime.jar: $CODEGREEN_JAVA_RUNTIME, this build's, or <bindir>/../share/... */
static char *runtime_jar(void) {
  const char *env = getenv("CODEGREEN_JAVA_RUNTIME");
  if (env != NULL && env[0] != '\0') {
    return exists(env) ? strdup(env) : NULL;
  }
  if (exists(CG_BUILD_JAVA_JAR)) {
    return strdup(CG_BUILD_JAVA_JAR);
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    return NULL;
  }
  exe[n] = '\0';
  char *p = NULL;
  if (asprintf(&p, "%s/../%s", dirname(exe), CG_INSTALL_JAVA_JAR) < 0) {
    return NULL;
  }
  if (exists(p)) {
    return p;
  }
  free(p);
  return NULL;
}

/* A JDK tool: --java/--javac, $JAVA_HOME/bin/NAME, else NAME on PATH. */
static char *jdk_tool(const char *given, const char *name) {
  if (given != NULL) {
    return cg_measure_find_program(given);
  }
  const char *home = getenv("JAVA_HOME");
  if (home != NULL && home[0] != '\0') {
    char *p = NULL;
    if (asprintf(&p, "%s/bin/%s", home, name) >= 0 && access(p, X_OK) == 0) {
      return p;
    }
    free(p);
  }
  return cg_measure_find_program(name);
}

/* ----- the sources ----- */

static struct {
  char **v;
  size_t n;
} found;

static int add_source(const char *path) {
  char *p = strdup(path);
  char **g = realloc(found.v, (found.n + 1) * sizeof *g);
  if (p == NULL || g == NULL) {
    free(p);
    if (g != NULL) {
      found.v = g;
    }
    return -1;
  }
  found.v = g;
  found.v[found.n++] = p;
  return 0;
}

static int java_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  size_t n = strlen(path);
  return flag == FTW_F && n > 5 && strcmp(path + n - 5, ".java") == 0 ? add_source(path) : 0;
}

/* The package a source declares ("" for none), as a new string. */
static char *package_of(const char *src) {
  regex_t re;
  char *pkg = NULL;
  if (regcomp(&re, "^[[:space:]]*package[[:space:]]+([A-Za-z0-9_.[:space:]]+);",
              REG_EXTENDED | REG_NEWLINE) != 0) {
    return strdup("");
  }
  regmatch_t m[2];
  if (regexec(&re, src, 2, m, 0) == 0) {
    pkg = malloc((size_t)(m[1].rm_eo - m[1].rm_so) + 1);
    if (pkg != NULL) {
      size_t k = 0;
      for (regoff_t i = m[1].rm_so; i < m[1].rm_eo; i++) {
        if (src[i] != ' ' && src[i] != '\t' && src[i] != '\n' && src[i] != '\r') {
          pkg[k++] = src[i];
        }
      }
      pkg[k] = '\0';
    }
  }
  regfree(&re);
  return pkg != NULL ? pkg : strdup("");
}

static int words(char ***v, size_t *n, wordexp_t *we, const char *text) {
  if (text == NULL || text[0] == '\0') {
    return 0;
  }
  if (wordexp(text, we, WRDE_NOCMD | WRDE_UNDEF) != 0) {
    fprintf(stderr, "codegreen measure: cannot read the javac flags as shell words: '%s'\n", text);
    return -1;
  }
  for (size_t i = 0; i < we->we_wordc; i++) {
    char **g = realloc(*v, (*n + 2) * sizeof *g);
    if (g == NULL) {
      return -1;
    }
    *v = g;
    (*v)[(*n)++] = we->we_wordv[i];
    (*v)[*n] = NULL;
  }
  return 0;
}

static int append(char ***v, size_t *n, const char *s) {
  char **g = realloc(*v, (*n + 2) * sizeof *g);
  if (g == NULL) {
    return -1;
  }
  *v = g;
  (*v)[(*n)++] = (char *)s;
  (*v)[*n] = NULL;
  return 0;
}

static int measure(native_opts *o, const char *tmp) {
  int status = CG_EXIT_FAIL;
  char *javac = jdk_tool(o->javac, "javac"), *java = jdk_tool(o->java, "java");
  char *jar = runtime_jar(), *main_class = NULL, *cp = NULL, *run_cp = NULL, *libpath = NULL;
  char **cmd = NULL;
  size_t n_cmd = 0;
  wordexp_t we;
  bool have_we = false;
  json_t *ins = NULL;
  size_t n_points = 0;
  if (javac == NULL || java == NULL) {
    fprintf(stderr,
            "codegreen measure: cannot find %s (a JDK: install openjdk-17-jdk-headless, or set "
            "JAVA_HOME, --java, --javac)\n",
            javac == NULL ? "javac" : "java");
    goto out;
  }
  if (jar == NULL) {
    fprintf(stderr, "codegreen measure: cannot find codegreen-runtime.jar (this codegreen was "
                    "built without a JDK; set CODEGREEN_JAVA_RUNTIME)\n");
    goto out;
  }
  const char *lib = getenv("CODEGREEN_LIB_PATH");
  if (lib == NULL || strchr(lib, '/') == NULL) {
    lib = cg_measure_own_library();
  }
  char libdir[PATH_MAX], jni[PATH_MAX + 32];
  snprintf(libdir, sizeof libdir, "%s", lib != NULL ? lib : "");
  char *slash = strrchr(libdir, '/');
  if (slash != NULL) {
    *slash = '\0';
  }
  snprintf(jni, sizeof jni, "%s/libcodegreen-jni.so", libdir);
  if (!exists(jni)) {
    fprintf(stderr, "codegreen measure: cannot find libcodegreen-jni.so beside %s\n",
            lib != NULL ? lib : "libcodegreen-nemb");
    goto out;
  }
  /* 1. the sources, instrumented */
  for (size_t k = 0; k < o->n_files; k++) {
    struct stat st;
    if (stat(o->files[k], &st) == 0 && S_ISDIR(st.st_mode)) {
      if (nftw(o->files[k], java_entry, 16, FTW_PHYS) != 0) {
        goto out;
      }
    } else if (add_source(o->files[k]) != 0) {
      goto out;
    }
  }
  if (found.n == 0) {
    fprintf(stderr, "codegreen measure: no .java file in %s\n", o->files[0]);
    goto out;
  }
  if (o->main_class == NULL && found.n > 1) {
    fprintf(stderr, "codegreen measure: several Java sources: say which class runs with "
                    "--main CLASS\n");
    status = CG_EXIT_USAGE;
    goto out;
  }
  ins = json_pack("{s:s, s:s, s:s, s:[], s:[], s:[]}", "language", "java", "granularity", "coarse",
                  "compiler", javac, "files", "points", "left");
  if (append(&cmd, &n_cmd, javac) != 0) {
    goto out;
  }
  have_we = true;
  memset(&we, 0, sizeof we);
  if (words(&cmd, &n_cmd, &we, o->cflags) != 0) {
    goto out;
  }
  const char *user_cp = getenv("CLASSPATH");
  char classes[PATH_MAX + 32];
  snprintf(classes, sizeof classes, "%s/cg-classes", tmp);
  if (asprintf(&cp, "%s%s%s", jar, user_cp && user_cp[0] ? ":" : "", user_cp ? user_cp : "") < 0 ||
      append(&cmd, &n_cmd, "-d") != 0 || append(&cmd, &n_cmd, classes) != 0 ||
      append(&cmd, &n_cmd, "-cp") != 0 || append(&cmd, &n_cmd, cp) != 0) {
    goto out;
  }
  for (size_t k = 0; k < found.n; k++) {
    const char *file = found.v[k];
    char *src = NULL;
    size_t len = 0;
    if (cgi_read_file(file, &src, &len) != 0) {
      fprintf(stderr, "codegreen measure: cannot read %s: %s\n", file, strerror(errno));
      goto out;
    }
    if (main_class == NULL && o->main_class == NULL) {
      /* the single file's class, in its package */
      char *pkg = package_of(src), *b = strdup(file);
      char *base = b != NULL ? basename(b) : NULL;
      char *dot = base != NULL ? strrchr(base, '.') : NULL;
      if (dot != NULL) {
        *dot = '\0';
      }
      if (pkg == NULL || base == NULL ||
          asprintf(&main_class, "%s%s%s", pkg, pkg[0] ? "." : "", base) < 0) {
        main_class = NULL;
      }
      free(pkg);
      free(b);
    }
    cgi_options io = {.granularity = CGI_COARSE, .context = file};
    cgi_result *ir = NULL;
    int rc = cgi_instrument(o->m.lang, src, len, &io, &ir);
    free(src);
    if (rc != 0) {
      fprintf(stderr, "codegreen measure: %s\n",
              cgi_result_error(ir) ? cgi_result_error(ir) : "out of memory");
      cgi_result_destroy(ir);
      goto out;
    }
    char *b = strdup(file), *out = NULL;
    if (b == NULL || asprintf(&out, "%s/cg-src/%zu/%s", tmp, k, basename(b)) < 0) {
      free(b);
      cgi_result_destroy(ir);
      goto out;
    }
    free(b);
    size_t tl;
    const char *text = cgi_result_text(ir, &tl);
    if (cgi_mkdirs_for(out) != 0 || cgi_write_file(out, text, tl) != 0) {
      fprintf(stderr, "codegreen measure: cannot write %s: %s\n", out, strerror(errno));
      free(out);
      cgi_result_destroy(ir);
      goto out;
    }
    json_array_append_new(json_object_get(ins, "files"), cg_json_text(file));
    cg_measure_add_points(ins, ir, file);
    n_points += cgi_result_point_count(ir);
    cgi_result_destroy(ir);
    if (append(&cmd, &n_cmd, out) != 0) {
      free(out);
      goto out;
    }
    found.v[k] = out; /* the list now owns the instrumented copy's path */
    free((char *)file);
  }
  /* 2. javac */
  int st = 0, e = 0;
  if (cg_measure_run_wait(cmd, true, true, &st, &e) != 0) {
    fprintf(stderr, "codegreen measure: cannot run %s: %s\n", javac, strerror(e));
    goto out;
  }
  if (st != 0) {
    fprintf(stderr,
            "codegreen measure: javac failed on the instrumented copies (exit status "
            "%d)\n",
            st);
    goto out;
  }
  if (cg_signals_caught()) {
    goto out;
  }
  /* 3. java */
  free(cmd);
  cmd = NULL;
  n_cmd = 0;
  const char *mc = o->main_class != NULL ? o->main_class : main_class;
  if (asprintf(&run_cp, "%s:%s", classes, cp) < 0 ||
      asprintf(&libpath, "-Djava.library.path=%s", libdir) < 0 || append(&cmd, &n_cmd, java) != 0 ||
      append(&cmd, &n_cmd, "-cp") != 0 || append(&cmd, &n_cmd, run_cp) != 0 ||
      append(&cmd, &n_cmd, libpath) != 0 || append(&cmd, &n_cmd, mc) != 0) {
    goto out;
  }
  for (char **a = o->args; *a; a++) {
    if (append(&cmd, &n_cmd, *a) != 0) {
      goto out;
    }
  }
  char result[PATH_MAX + 32], config[PATH_MAX + 32];
  snprintf(result, sizeof result, "%s/result.json", tmp);
  snprintf(config, sizeof config, "%s/config.json", tmp);
  if (cg_measure_env_set("CODEGREEN_RESULT_FILE", result) != 0 ||
      (o->m.config != NULL && cg_measure_env_set("CODEGREEN_CONFIG", o->m.config) != 0)) {
    fprintf(stderr, "codegreen measure: cannot set up the environment: %s\n", strerror(errno));
    goto out;
  }
  if (!cg_measure_wants_detail(&o->m) &&
      cg_measure_config_without_detail(o->m.config, config) == 0) {
    cg_measure_env_set("CODEGREEN_CONFIG", config);
  }
  status = cg_measure_run_program(&o->m, cmd, tmp, result,
                                  "stopped before its shutdown hooks ran (Runtime.halt, or a "
                                  "crash)",
                                  ins, n_points);
  ins = NULL;
out:
  if (have_we) {
    wordfree(&we);
  }
  json_decref(ins);
  for (size_t k = 0; k < found.n; k++) {
    free(found.v[k]);
  }
  free(found.v);
  found.v = NULL;
  found.n = 0;
  free(cmd);
  free(javac);
  free(java);
  free(jar);
  free(main_class);
  free(cp);
  free(run_cp);
  free(libpath);
  return status;
}

int cg_measure_java(int argc, char **argv) {
  return cg_measure_native_main(argc, argv, measure);
}
