/*
 * measure_project.c - `codegreen measure` instruments the program's own modules, not only its
 * script: every .py file of the script's directory (and of each --include PATH), found before
 * the run, instrumented in memory and written into the temporary directory. The runner compiles
 * them (compile-list) and the runtime's import hook loads those compiled copies in place of the
 * files when the program imports them, so their functions are measured too.
 */
/* FTW_ACTIONRETVAL needs _GNU_SOURCE, which the build defines */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "measure_project.h"
#include "outputs.h"

/* A directory no program's own code lives in, or one too big to walk for it. */
static bool skipped_dir(const char *base, const char *path) {
  if (base[0] == '.' || strcmp(base, "__pycache__") == 0 || strcmp(base, "site-packages") == 0 ||
      strcmp(base, "dist-packages") == 0 || strcmp(base, "node_modules") == 0) {
    return true;
  }
  char cfg[PATH_MAX];
  snprintf(cfg, sizeof cfg, "%s/pyvenv.cfg", path); /* a virtual environment */
  return access(cfg, F_OK) == 0;
}

/* nftw() takes no context: the walk's state, for its one caller at a time. */
static struct {
  const cgi_language *lang;
  const cgi_options *base;
  char script[PATH_MAX];
  const char *dir;
  FILE *list;
  json_t *point_list; /* NULL, or the modules' points for the report */
  size_t n, cap, points;
  int err;
} walk;

/* The module @p key (its real path, or for a zip member the archive's real path and the
 * member's name), read from @p file. */
static void add_module(const char *key, const char *file) {
  char *src = NULL;
  size_t len = 0;
  if (cgi_read_file(file, &src, &len) != 0) {
    return;
  }
  const char *real = key;
  cgi_options io = *walk.base;
  io.context = real;
  io.line_map = 1;
  cgi_result *r = NULL;
  if (cgi_instrument(walk.lang, src, len, &io, &r) == 0 && cgi_result_point_count(r) > 0) {
    char copy[PATH_MAX], map[PATH_MAX], pyc[PATH_MAX];
    snprintf(copy, sizeof copy, "%s/m%zu.py", walk.dir, walk.n);
    snprintf(map, sizeof map, "%s/m%zu.map.json", walk.dir, walk.n);
    snprintf(pyc, sizeof pyc, "%s/m%zu.pyc", walk.dir, walk.n);
    size_t tl;
    const char *text = cgi_result_text(r, &tl);
    const char *lm = cgi_result_line_map(r);
    if (strchr(real, '\t') == NULL && strchr(real, '\n') == NULL) {
      if (cgi_write_file(copy, text, tl) != 0 || cgi_write_file(map, lm, strlen(lm)) != 0 ||
          fprintf(walk.list, "%s\t%s\t%s\t%s\n", real, copy, map, pyc) < 0) {
        walk.err = errno ? errno : EIO;
      } else {
        walk.n++;
        walk.points += cgi_result_point_count(r);
        for (size_t i = 0; walk.point_list != NULL && i < cgi_result_point_count(r); i++) {
          json_array_append_new(walk.point_list, cg_project_point(cgi_result_point(r, i), real));
        }
      }
    }
  }
  cgi_result_destroy(r);
  free(src);
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  const char *base = path + ftw->base;
  if (flag == FTW_D && ftw->level > 0 &&
      (ftw->level > CG_PROJECT_MAX_DEPTH || skipped_dir(base, path))) {
    return FTW_SKIP_SUBTREE;
  }
  if (flag == FTW_F && cgi_language_for_path(path) == walk.lang) {
    if (walk.n >= walk.cap) {
      return FTW_STOP;
    }
    char real[PATH_MAX];
    if (realpath(path, real) != NULL && strcmp(real, walk.script) != 0) {
      add_module(real, path);
    }
  }
  return walk.err ? FTW_STOP : FTW_CONTINUE;
}

/* The lines "key TAB file" of @p extra. */
static void add_listed(const char *extra) {
  FILE *fp = fopen(extra, "r");
  if (fp == NULL) {
    return;
  }
  char line[2 * PATH_MAX + 2];
  while (walk.n < walk.cap && !walk.err && fgets(line, sizeof line, fp) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *tab = strchr(line, '\t');
    if (tab != NULL) {
      *tab = '\0';
      add_module(line, tab + 1);
    }
  }
  fclose(fp);
}

int cg_project_prepare(const cgi_language *lang, const cgi_options *base, const char *script,
                       char *const *dirs, size_t n_dirs, const char *extra, const char *tmp,
                       char **list_path, size_t *found, size_t *points, json_t *point_list) {
  *list_path = NULL;
  *found = *points = 0;
  memset(&walk, 0, sizeof walk);
  walk.point_list = point_list;
  walk.lang = lang;
  walk.base = base;
  walk.cap = CG_PROJECT_MAX_MODULES;
  if (script != NULL && realpath(script, walk.script) == NULL) {
    return -1;
  }
  char dir[PATH_MAX], list[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/cg-mod", tmp);
  snprintf(list, sizeof list, "%s/modules.tsv", tmp);
  if (mkdir(dir, 0700) != 0) {
    return -1;
  }
  walk.dir = dir;
  walk.list = fopen(list, "w");
  if (walk.list == NULL) {
    return -1;
  }
  if (extra != NULL) {
    add_listed(extra);
  }
  for (size_t i = 0; i < n_dirs && !walk.err && walk.n < walk.cap; i++) {
    nftw(dirs[i], visit, 16, FTW_PHYS | FTW_ACTIONRETVAL);
  }
  int rc = fclose(walk.list) != 0 || walk.err ? -1 : 0;
  *found = walk.n;
  *points = walk.points;
  if (rc == 0 && walk.n > 0) {
    *list_path = strdup(list);
    rc = *list_path ? 0 : -1;
  }
  return rc;
}

json_t *cg_project_point(const cgi_point *p, const char *file) {
  return json_pack("{s:s, s:s, s:o, s:i, s:b, s:b, s:i}", "name", p->name, "kind", p->kind, "file",
                   cg_json_text(file), "line", p->line, "async", (p->flags & CGI_ASYNC) != 0,
                   "generator", (p->flags & CGI_GENERATOR) != 0, "suspension_points",
                   p->suspensions);
}
