/*
 * plot.c - power-over-time charts of a session: the public entry points, on top of the plot's
 * other files, which never call back into this one: plot_source.c builds the model
 * (plot_model.c) from a session or a saved report, plot_html.c and plot_png.c draw it.
 *
 * One core serves both entry points: nemb_session_export_plot() builds the model from the
 * session's sample store, nemb_report_export_plot() from a saved report's time series (read as a
 * stream, .json or .json.zst, by plot_stream.c), and the same writers draw it. The file goes
 * through the one atomic writer (atomic_file.h), so a reader never sees half a page and a failed
 * write keeps the old one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
                             nemb__atomic_strerror(e));
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
  if (!atomic_load(&s->report_ready)) {
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
  nemb__plot p;
  nemb__plot_init(&p);
  rc = nemb__plot_from_report_file(report_json, report_json, &p);
  if (rc == 0) {
    rc = render(&p, path, k);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory preparing the plot %s", path);
  }
  nemb__plot_release(&p);
  return rc;
}
