/*
 * cmd_analyze.c - `codegreen analyze [options] [LANGUAGE] PATH...`: lists the instrumentation
 * points of source files (function, line, kind), optionally writes the instrumented files.
 *
 * A directory argument stands for every source file of the language below it (hidden
 * directories and __pycache__ left out), in sorted order. Nothing is run. A file that cannot be
 * instrumented (syntax error, not UTF-8) is reported as FILE:LINE:COLUMN: message and the others
 * are still processed; the exit status is then 1.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "instrument.h"
#include "left.h"
#include "outputs.h"

typedef struct analyze_opts {
  cgi_granularity gran;
  bool json, save, quiet;
  const char *out_dir;
  const cgi_language *lang; /* forced, or NULL: by extension */
  char leave[1024];         /* --leave-decorated names, blank-separated */
} analyze_opts;

typedef struct file_job {
  char *path; /* as displayed and used as the report's context */
  char *rel;  /* path under the output directory */
} file_job;

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen analyze [options] [LANGUAGE] PATH...\n\n"
          "Lists where `codegreen measure` would put checkpoints: every function and method\n"
          "(and with -g fine every loop and the module body), with line and kind. A directory\n"
          "stands for every source file below it. Languages: %s.\n\n"
          "  -g, --granularity G    coarse (default: functions) or fine (also loops, module)\n"
          "  --json                 print the points as JSON\n"
          "  --save-instrumented    write the instrumented files into --output-dir\n"
          "  --output-dir DIR       where to write them (default ./codegreen-instrumented)\n"
          "  -q, --quiet            no listing (with --save-instrumented)\n"
          "  --leave-decorated NAME leave functions with this decorator as they are (besides\n"
          "                         the JIT compilers codegreen knows: numba, torch.jit, ...)\n"
          "  -h, --help             this help\n",
          cgi_language_list());
}

static int parse_args(int argc, char **argv, analyze_opts *o, int *first) {
  static const struct option opts[] = {{"granularity", required_argument, NULL, 'g'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"save-instrumented", no_argument, NULL, 's'},
                                       {"output-dir", required_argument, NULL, 'o'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"leave-decorated", required_argument, NULL, 'L'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  *o = (analyze_opts){.gran = CGI_COARSE};
  int c;
  while ((c = getopt_long(argc, argv, "g:o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'g':
      if (cgi_parse_granularity(optarg, &o->gran) != 0) {
        fprintf(stderr, "codegreen analyze: --granularity is coarse or fine, not '%s'\n", optarg);
        return CG_EXIT_USAGE;
      }
      break;
    case 'j':
      o->json = true;
      break;
    case 's':
      o->save = true;
      break;
    case 'o':
      o->out_dir = optarg;
      /* "out/" and "out" name one directory: joined paths get one '/' ("out/main.py") */
      for (size_t n = strlen(optarg); n > 1 && optarg[n - 1] == '/'; n--) {
        optarg[n - 1] = '\0';
      }
      break;
    case 'q':
      o->quiet = true;
      break;
    case 'L':
      if (cgi_append_word(o->leave, sizeof o->leave, optarg) != 0) {
        fprintf(stderr, "codegreen analyze: too many --leave-decorated names\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'h':
      print_usage(stdout);
      return -1;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (o->out_dir != NULL && !o->save) {
    o->save = true; /* --output-dir alone means: write them there */
  }
  if (o->save && o->out_dir == NULL) {
    o->out_dir = "codegreen-instrumented";
  }
  int i = optind;
  /* "analyze python FILE...": a language name first, when more arguments follow or when no
   * such file exists. */
  if (i < argc) {
    struct stat st;
    const cgi_language *l = cgi_language_find(argv[i]);
    if (l != NULL && (i + 1 < argc || stat(argv[i], &st) != 0)) {
      o->lang = l;
      i++;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "codegreen analyze: no file or directory given\n\n");
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  *first = i;
  return 0;
}

/* ----- collecting files ----- */

typedef struct job_list {
  file_job *v;
  size_t n, cap;
} job_list;

static int add_job(job_list *l, const char *path, const char *rel) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    file_job *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) {
      return -1;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n].path = strdup(path);
  l->v[l->n].rel = strdup(rel);
  if (l->v[l->n].path == NULL || l->v[l->n].rel == NULL) {
    free(l->v[l->n].path);
    free(l->v[l->n].rel);
    return -1;
  }
  l->n++;
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted(const analyze_opts *o, const char *path) {
  return o->lang ? cgi_language_matches(o->lang, path) : cgi_language_for_path(path) != NULL;
}

/* Adds the source files below @p dir (displayed as @p shown, written under @p rel). */
static int walk(const analyze_opts *o, const char *dir, const char *rel, job_list *jobs,
                int depth) {
  if (depth > 64) {
    return 0;
  }
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "codegreen analyze: cannot read directory %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "__pycache__") == 0) {
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **g = realloc(names, cap * sizeof *g);
      if (g == NULL) {
        rc = -1;
        break;
      }
      names = g;
    }
    names[n] = strdup(e->d_name);
    if (names[n] == NULL) {
      rc = -1;
      break;
    }
    n++;
  }
  closedir(d);
  if (n > 0) {
    qsort(names, n, sizeof *names, cmp_name);
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    char *path = NULL, *sub = NULL;
    bool slash = dir[0] != '\0' && dir[strlen(dir) - 1] == '/';
    if (asprintf(&path, "%s%s%s", dir, slash ? "" : "/", names[i]) < 0 ||
        asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) < 0) {
      rc = -1;
      break;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        rc = walk(o, path, sub, jobs, depth + 1);
      } else if (S_ISREG(st.st_mode) && wanted(o, path)) {
        rc = add_job(jobs, path, sub);
      }
    }
    free(path);
    free(sub);
  }
  for (size_t i = 0; i < n; i++) {
    free(names[i]);
  }
  free(names);
  return rc;
}

/* ----- one file ----- */

static json_t *point_json(const cgi_point *p) {
  return json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:i, s:i}", "name", p->name, "kind",
                   p->kind, "line", p->line, "column", p->column, "end_line", p->end_line, "async",
                   (p->flags & CGI_ASYNC) != 0, "generator", (p->flags & CGI_GENERATOR) != 0,
                   "suspension_points", p->suspensions, "index", p->index);
}

static void print_points(const char *path, const cgi_language *lang, const analyze_opts *o,
                         const cgi_result *r) {
  size_t n = cgi_result_point_count(r);
  printf("%s: %zu instrumentation point%s (%s, %s)\n", path, n, n == 1 ? "" : "s",
         cgi_language_name(lang), o->gran == CGI_FINE ? "fine" : "coarse");
  if (n == 0) {
    cgi_print_left(stdout, "  ", r);
    return;
  }
  printf("  %6s  %-24s %s\n", "LINE", "KIND", "NAME");
  for (size_t i = 0; i < n; i++) {
    const cgi_point *p = cgi_result_point(r, i);
    char kind[64];
    cgi_point_kind(p, kind, sizeof kind);
    printf("  %6d  %-24s %s", p->line, kind, p->name);
    if (p->suspensions > 0) {
      printf("  (%d suspension point%s, each resumption measured)", p->suspensions,
             p->suspensions == 1 ? "" : "s");
    }
    printf("\n");
  }
  cgi_print_left(stdout, "  ", r);
}

static int save(const analyze_opts *o, const file_job *j, const cgi_result *r, char **written) {
  char *out = NULL;
  if (asprintf(&out, "%s/%s", o->out_dir, j->rel) < 0) {
    return -1;
  }
  /* never overwrite the source itself */
  char a[PATH_MAX], b[PATH_MAX];
  if (realpath(j->path, a) != NULL && realpath(out, b) != NULL && strcmp(a, b) == 0) {
    fprintf(stderr,
            "codegreen analyze: %s: refusing to overwrite the source with its "
            "instrumented copy; choose another --output-dir\n",
            j->path);
    free(out);
    return -1;
  }
  size_t len;
  const char *text = cgi_result_text(r, &len);
  if (cgi_mkdirs_for(out) != 0 || (errno = cg_write_text(out, text, len)) != 0) {
    fprintf(stderr, "codegreen analyze: cannot write %s: %s\n", out, strerror(errno));
    free(out);
    return -1;
  }
  *written = out;
  return 0;
}

int cg_cmd_analyze(int argc, char **argv) {
  analyze_opts o;
  int first = 0;
  int rc = parse_args(argc, argv, &o, &first);
  if (rc != 0) {
    return rc < 0 ? CG_EXIT_OK : rc;
  }
  job_list jobs = {0};
  int status = CG_EXIT_OK;
  for (int i = first; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "codegreen analyze: %s: %s\n", argv[i], strerror(errno));
      status = CG_EXIT_FAIL;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      /* written under OUTPUT_DIR/<the directory's own name>/... */
      char *copy = strdup(argv[i]);
      size_t n = copy ? strlen(copy) : 0;
      while (n > 1 && copy[n - 1] == '/') {
        copy[--n] = '\0';
      }
      const char *base = copy ? strrchr(copy, '/') : NULL;
      base = base ? base + 1 : copy;
      if (base == NULL || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || base[0] == '\0') {
        base = "";
      }
      size_t before = jobs.n;
      int wrc = copy ? walk(&o, argv[i], base, &jobs, 0) : -1;
      free(copy);
      if (wrc != 0) {
        status = CG_EXIT_FAIL;
      }
      if (jobs.n == before && !o.quiet) {
        fprintf(stderr, "codegreen analyze: %s: no %s source files\n", argv[i],
                o.lang ? cgi_language_name(o.lang) : "known");
      }
    } else {
      const char *base = strrchr(argv[i], '/');
      if (add_job(&jobs, argv[i], base ? base + 1 : argv[i]) != 0) {
        status = CG_EXIT_FAIL;
      }
    }
  }

  json_t *files = json_array();
  size_t n_points = 0, n_failed = 0;
  const cgi_language *support_lang = NULL; /* a saved file imports this language's support */
  for (size_t k = 0; k < jobs.n; k++) {
    file_job *j = &jobs.v[k];
    const cgi_language *lang = o.lang ? o.lang : cgi_language_for_path(j->path);
    if (lang == NULL) {
      fprintf(stderr,
              "codegreen analyze: %s: unknown language (name it: codegreen analyze %s "
              "FILE; known: %s)\n",
              j->path, "python", cgi_language_list());
      status = CG_EXIT_FAIL;
      n_failed++;
      continue;
    }
    char *src = NULL;
    size_t len = 0;
    if (cgi_read_file(j->path, &src, &len) != 0) {
      fprintf(stderr, "codegreen analyze: cannot read %s: %s\n", j->path, cgi_read_error(errno));
      status = CG_EXIT_FAIL;
      n_failed++;
      continue;
    }
    cgi_options io = {o.gran, j->path, 0, o.leave, NULL};
    cgi_result *r = NULL;
    int irc = cgi_instrument(lang, src, len, &io, &r);
    free(src);
    /* the file's JSON only for --json (a big file has thousands of points) */
    json_t *fj = o.json
                     ? json_pack("{s:s, s:s}", "path", j->path, "language", cgi_language_name(lang))
                     : NULL;
    if (irc != 0) {
      fprintf(stderr, "codegreen analyze: %s\n",
              cgi_result_error(r) ? cgi_result_error(r) : "out of memory");
      if (fj != NULL) {
        json_object_set_new(
            fj, "error", json_string(cgi_result_error(r) ? cgi_result_error(r) : "out of memory"));
        json_array_append_new(files, fj);
      }
      cgi_result_destroy(r);
      status = CG_EXIT_FAIL;
      n_failed++;
      continue;
    }
    n_points += cgi_result_point_count(r);
    if (fj != NULL) {
      json_t *pts = json_array();
      for (size_t p = 0; p < cgi_result_point_count(r); p++) {
        json_array_append_new(pts, point_json(cgi_result_point(r, p)));
      }
      json_object_set_new(fj, "points", pts);
      json_object_set_new(fj, "left", cgi_left_json(r));
    }
    char *written = NULL;
    if (o.save) {
      if (save(&o, j, r, &written) != 0) {
        status = CG_EXIT_FAIL;
        n_failed++;
      }
    }
    if (written != NULL && cgi_result_uses_support(r)) {
      support_lang = lang;
    }
    if (fj != NULL) {
      json_object_set_new(fj, "instrumented", written ? json_string(written) : json_null());
      json_array_append_new(files, fj);
    }
    if (!o.json && !o.quiet) {
      print_points(j->path, lang, &o, r);
      if (written != NULL) {
        printf("  -> %s\n", written);
      }
    }
    free(written);
    cgi_result_destroy(r);
  }
  if (support_lang != NULL) {
    /* The helpers of async for / async with, beside the saved files (put the output directory
     * on PYTHONPATH, with codegreen's python/ directory, to run them). */
    const char *module = NULL;
    const char *text = cgi_language_support(support_lang, &module);
    char *sp = NULL;
    if (text != NULL && module != NULL && asprintf(&sp, "%s/%s.py", o.out_dir, module) >= 0) {
      if (cgi_mkdirs_for(sp) != 0 || (errno = cg_write_text(sp, text, strlen(text))) != 0) {
        fprintf(stderr, "codegreen analyze: cannot write %s: %s\n", sp, strerror(errno));
        status = CG_EXIT_FAIL;
      } else if (!o.json && !o.quiet) {
        printf("  -> %s (helpers the instrumented async code imports)\n", sp);
      }
    }
    free(sp);
  }
  if (o.json) {
    json_t *doc = json_pack("{s:s, s:o, s:I, s:I, s:I}", "granularity",
                            o.gran == CGI_FINE ? "fine" : "coarse", "files", files, "n_files",
                            (json_int_t)jobs.n, "n_points", (json_int_t)n_points, "n_failed",
                            (json_int_t)n_failed);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL) {
      printf("%s\n", text);
      free(text);
    }
    json_decref(doc);
  } else {
    json_decref(files);
    if (jobs.n > 1 && !o.quiet) {
      printf("%zu files, %zu instrumentation points%s\n", jobs.n, n_points,
             n_failed ? ", some files failed (see above)" : "");
    }
  }
  for (size_t k = 0; k < jobs.n; k++) {
    free(jobs.v[k].path);
    free(jobs.v[k].rel);
  }
  free(jobs.v);
  return status;
}
