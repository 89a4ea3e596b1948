/*
 * plot.c - power-over-time charts of a session: the public entry points, on top of the plot's
 * other files, which never call back into this one: plot_source.c builds the model
 * (plot_model.c) from a session or a saved report, plot_html.c and plot_png.c draw it.
 *
 * One core serves both entry points: nemb_session_export_plot() builds the model from the
 * session's sample store, nemb_report_export_plot() from a saved report's time series, and the
 * same writers draw it. The file goes through the one atomic writer (atomic_file.h), so a reader
 * never sees half a page and a failed write keeps the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "plot.h"
#include "records.h"

/* ----- entry points ----- */

typedef enum kind { KIND_NONE, KIND_HTML, KIND_PNG, KIND_SVG } kind;

static kind kind_of(const char *path) {
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (dot == NULL || (slash != NULL && dot < slash)) {
    return KIND_NONE;
  }
  if (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0) {
    return KIND_HTML;
  }
  if (strcasecmp(dot, ".svg") == 0) {
    return KIND_SVG;
  }
  return strcasecmp(dot, ".png") == 0 ? KIND_PNG : KIND_NONE;
}

static int write_file(const char *path, const char *data, size_t len) {
  int e = nemb__atomic_write(path, data, len);
  return e == 0 ? 0
                : nemb__fail(nemb__from_errno(e), "cannot write the plot to %s: %s", path,
                             strerror(e));
}

/* Draws @p p into @p path, by the path's extension. */
static int render(const nemb__plot *p, const char *path, kind k) {
  nemb__buf out = NEMB__BUF_INIT;
  int rc = k == KIND_HTML  ? nemb__plot_html(p, &out)
           : k == KIND_SVG ? nemb__plot_svg(p, &out)
                           : nemb__plot_png(p, &out);
  if (rc == 0 && out.oom) {
    rc = NEMB_ENOMEM;
  }
  if (rc == 0) {
    rc = write_file(path, out.data ? out.data : "", out.len);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory drawing the plot %s", path);
  }
  nemb__buf_release(&out);
  return rc;
}

static int check_path(const char *fn, const char *path, kind *k) {
  if (path == NULL || path[0] == '\0') {
    return nemb__fail(NEMB_EINVAL, "%s needs a file name ending in .html, .png or .svg", fn);
  }
  *k = kind_of(path);
  if (*k == KIND_NONE) {
    return nemb__fail(NEMB_EINVAL,
                      "cannot tell what kind of plot '%s' should be: use the extension .html "
                      "(interactive page), .png or .svg (static image)",
                      path);
  }
  return 0;
}

int nemb_session_export_plot(const nemb_session *s, const char *path) {
  nemb__clear_error();
  kind k;
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_export_plot needs a session");
  }
  int rc = check_path("nemb_session_export_plot", path, &k);
  if (rc != 0) {
    return rc;
  }
  if (s->report_json == NULL) {
    return nemb__fail(NEMB_ESTATE, "a session can be plotted only after nemb_session_end() (and "
                                   "only by the process that began it)");
  }
  nemb__plot p;
  nemb__plot_init(&p);
  rc = nemb__plot_from_session(s, &p);
  if (rc == 0) {
    rc = render(&p, path, k);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory preparing the plot %s", path);
  }
  nemb__plot_release(&p);
  return rc;
}

int nemb__report_read(const char *path, struct json_t **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return nemb__fail(nemb__from_errno(e), "cannot read the report %s: %s", path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return nemb__fail(NEMB_EINVAL,
                      "%s is a directory; give the report's file (a .json written "
                      "by codegreen run -o, measure -o or a Session)",
                      path);
  }
  /* Read it whole (up to the cap) so that a read error, the cap and memory are told apart from
   * bad JSON: jansson reports them all as a parse error at line -1. */
  size_t cap = 0, n = 0;
  char *buf = NULL;
  int e = 0;
  for (;;) {
    if (n == cap) {
      if (cap >= NEMB__REPORT_MAX_BYTES) {
        e = EFBIG;
        break;
      }
      size_t ncap = cap ? cap * 2 : 65536;
      ncap = ncap > NEMB__REPORT_MAX_BYTES ? NEMB__REPORT_MAX_BYTES : ncap;
      char *g = realloc(buf, ncap);
      if (g == NULL) {
        e = ENOMEM;
        break;
      }
      buf = g;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      e = errno;
      break;
    }
    if (r == 0) {
      break;
    }
    n += (size_t)r;
  }
  close(fd);
  if (e == EFBIG) {
    free(buf);
    return nemb__fail(NEMB_EINVAL,
                      "the report %s is larger than %d MiB, more than codegreen "
                      "reads",
                      path, (int)(NEMB__REPORT_MAX_BYTES >> 20));
  }
  if (e != 0) {
    free(buf);
    return nemb__fail(nemb__from_errno(e), "cannot read the report %s: %s", path, strerror(e));
  }
  json_error_t err;
  json_t *report = json_loadb(buf ? buf : "", n, 0, &err);
  free(buf);
  if (report == NULL) {
    if (json_error_code(&err) == json_error_out_of_memory) {
      return nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", path);
    }
    if (err.line < 0) {
      return nemb__fail(NEMB_EINVAL, "%s is not a valid report: %s", path, err.text);
    }
    return nemb__fail(NEMB_EINVAL, "%s is not valid JSON (line %d, column %d): %s", path, err.line,
                      err.column, err.text);
  }
  *out = report;
  return 0;
}

int nemb_report_export_plot(const char *report_json, const char *path) {
  nemb__clear_error();
  kind k;
  if (report_json == NULL || report_json[0] == '\0') {
    return nemb__fail(NEMB_EINVAL, "nemb_report_export_plot needs the path of a report");
  }
  int rc = check_path("nemb_report_export_plot", path, &k);
  if (rc != 0) {
    return rc;
  }
  json_t *report = NULL;
  rc = nemb__report_read(report_json, &report);
  if (rc != 0) {
    return rc;
  }
  nemb__plot p;
  nemb__plot_init(&p);
  rc = nemb__plot_from_report(report, report_json, &p);
  json_decref(report);
  if (rc == 0) {
    rc = render(&p, path, k);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory preparing the plot %s", path);
  }
  nemb__plot_release(&p);
  return rc;
}
