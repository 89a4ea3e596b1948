/*
 * push.c - a finished run's totals, pushed to a Prometheus Pushgateway (batch jobs have no
 * process left for Prometheus to scrape when they end).
 *
 * The report's totals become gauges in the Prometheus text format (version 0.0.4), sent with one
 * HTTP PUT through libcurl to <url>/metrics/job/<job>/instance/<hostname>[/rank/<rank>] (a value
 * a path cannot carry as it is in the Pushgateway's <key>@base64/<value> form): PUT
 * replaces the whole group, so a rerun of the same job and host overwrites its previous numbers
 * instead of mixing with them. The HTTP itself is libcurl's; only the text is written here.
 *
 * libcurl is loaded on the first push, with dlopen("libcurl.so.4") (Debian's libcurl4 soname),
 * not linked: it brings some 40 shared libraries whose loading every process that opens this
 * library would pay (each measured Python process and child). The name is fixed, so nothing in
 * the environment chooses the library, privileged or not (see secure_env.h).
 */
#define CURL_DISABLE_TYPECHECK 1 /* the calls go through the pointers below, not curl's macros */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dl.h"
#include "internal.h"
#include "push.h"

/* Appends a label value with the escapes the text format requires (\\, \", \n). */
static void label_value(nemb__buf *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\') {
      nemb__buf_append(b, "\\\\", 2);
    } else if (*v == '"') {
      nemb__buf_append(b, "\\\"", 2);
    } else if (*v == '\n') {
      nemb__buf_append(b, "\\n", 2);
    } else {
      nemb__buf_append(b, v, 1);
    }
  }
}

static void printf_buf(nemb__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_buf(nemb__buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) {
    nemb__buf_append(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
  }
}

static double number(const json_t *obj, const char *key, double dflt) {
  const json_t *v = json_object_get(obj, key);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

static const char *string_or(const json_t *obj, const char *key, const char *dflt) {
  const char *v = json_string_value(json_object_get(obj, key));
  return v ? v : dflt;
}

static void gauge(nemb__buf *b, const char *name, const char *help, double v) {
  printf_buf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

int nemb__push_text(const char *report_json, char **out) {
  json_error_t err;
  json_t *r = json_loads(report_json, 0, &err);
  const json_t *meta = json_object_get(r, "meta"), *totals = json_object_get(r, "totals");
  if (!json_is_object(meta) || !json_is_object(totals)) {
    json_decref(r);
    return nemb__fail(NEMB_EINVAL, "not a codegreen report (no meta and totals objects)");
  }
  nemb__buf b = NEMB__BUF_INIT;
  gauge(&b, "codegreen_run_energy_joules",
        "Energy of the run's top-level tasks (sum of the in-total domains), in joules.",
        number(totals, "energy_j", 0));
  gauge(&b, "codegreen_run_session_energy_joules",
        "Energy from the session's begin to its end, tasks and gaps, in joules.",
        number(totals, "session_energy_j", number(totals, "energy_j", 0)));
  gauge(&b, "codegreen_run_duration_seconds", "Wall-clock duration of the session, in seconds.",
        number(totals, "wall_duration_s", 0));
  const json_t *domains = json_object_get(totals, "domains");
  const json_t *topo = json_object_get(meta, "domain_topology");
  if (json_is_object(domains) && json_object_size(domains) > 0) {
    printf_buf(&b, "# HELP codegreen_run_domain_energy_joules Energy of the run's top-level "
                   "tasks per domain, in joules (nested domains are inside their parent's).\n"
                   "# TYPE codegreen_run_domain_energy_joules gauge\n");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)domains, name, v) {
      const json_t *t = json_object_get(topo, name);
      nemb__buf_append(&b, "codegreen_run_domain_energy_joules{domain=\"", 43);
      label_value(&b, name);
      nemb__buf_append(&b, "\",kind=\"", 8);
      label_value(&b, string_or(t, "kind", "unknown"));
      printf_buf(&b, "\",top_level=\"%s\"} %.17g\n",
                 json_is_true(json_object_get(t, "top_level")) ? "true" : "false",
                 json_is_number(v) ? json_number_value(v) : 0.0);
    }
  }
  printf_buf(&b, "# HELP codegreen_measurement_info Where the energy came from: measured, "
                 "simulated, estimated or none.\n# TYPE codegreen_measurement_info gauge\n"
                 "codegreen_measurement_info{energy_source=\"");
  label_value(&b, string_or(meta, "energy_source", "unknown"));
  nemb__buf_append(&b, "\",measurement_quality=\"", 23);
  label_value(&b, string_or(meta, "measurement_quality", "unknown"));
  nemb__buf_append(&b, "\"} 1\n", 5);
  json_decref(r);
  if (b.oom) {
    free(b.data);
    return nemb__fail(NEMB_ENOMEM, "out of memory formatting the metrics to push");
  }
  *out = b.data;
  return 0;
}

/* The libcurl functions a push uses, bound once per process by load_curl(); the library stays
 * loaded to the process's end (curl_global_init has no safe undo while other threads may push). */
typedef struct curl_api {
  CURLcode (*global_init)(long);
  CURL *(*easy_init)(void);
  char *(*easy_escape)(CURL *, const char *, int);
  void (*free_fn)(void *);
  void (*easy_cleanup)(CURL *);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_perform)(CURL *);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  const char *(*easy_strerror)(CURLcode);
} curl_api;
static curl_api cu;

#define SYM(field, name) NEMB__DL_SYM(curl_api, field, name)
static const nemb__dl_sym curl_syms[] = {
    SYM(global_init, "curl_global_init"),       SYM(easy_init, "curl_easy_init"),
    SYM(easy_escape, "curl_easy_escape"),       SYM(free_fn, "curl_free"),
    SYM(easy_cleanup, "curl_easy_cleanup"),     SYM(slist_append, "curl_slist_append"),
    SYM(slist_free_all, "curl_slist_free_all"), SYM(easy_setopt, "curl_easy_setopt"),
    SYM(easy_perform, "curl_easy_perform"),     SYM(easy_getinfo, "curl_easy_getinfo"),
    SYM(easy_strerror, "curl_easy_strerror"),
};
#undef SYM
static nemb__dl_lib curl_lib = NEMB__DL_LIB_INIT("libcurl.so.4", "pushing needs libcurl",
                                                 "libcurl4", "", NULL, curl_syms, &cu);
static const char *curl_why; /* NULL once loaded and started; else why not */
static char curl_start_why[256];
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe in older libcurls: once per process, here. */
static void load_curl(void) {
  curl_why = nemb__dl_load(&curl_lib);
  if (curl_why != NULL) {
    return;
  }
  CURLcode cc = cu.global_init(CURL_GLOBAL_DEFAULT);
  if (cc != CURLE_OK) {
    snprintf(curl_start_why, sizeof curl_start_why, "libcurl could not start: %s",
             cu.easy_strerror(cc));
    curl_why = curl_start_why;
  }
}

/* Appends "/<key>/<escaped value>" to the group path. */
/* Appends @p v in base64's URL and file-name alphabet (RFC 4648, section 5), padded with '='. */
static void base64url(nemb__buf *b, const char *v) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unsigned char *s = (const unsigned char *)v;
  size_t n = strlen(v);
  for (size_t i = 0; i < n; i += 3) {
    unsigned w = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                 (i + 2 < n ? s[i + 2] : 0);
    char q[4] = {abc[w >> 18 & 63], abc[w >> 12 & 63], i + 1 < n ? abc[w >> 6 & 63] : '=',
                 i + 2 < n ? abc[w & 63] : '='};
    nemb__buf_append(b, q, 4);
  }
}

/* "/<key>/<value>" of the grouping key, the value %-escaped; a value a URL path cannot carry as
 * it is ("", "." and "..", which HTTP clients remove as dot segments, anything with '/') goes in
 * the Pushgateway's "/<key>@base64/<value in base64url>" form ("=" for the empty value), so a
 * Session named ".." is pushed as job "..", not to another group. */
static void group_part(nemb__buf *b, CURL *curl, const char *key, const char *value) {
  nemb__buf_append(b, "/", 1);
  nemb__buf_append(b, key, strlen(key));
  if (value[0] == '\0' || strcmp(value, ".") == 0 || strcmp(value, "..") == 0 ||
      strchr(value, '/') != NULL) {
    nemb__buf_append(b, "@base64/", 8);
    if (value[0] == '\0') {
      nemb__buf_append(b, "=", 1);
    } else {
      base64url(b, value);
    }
    return;
  }
  char *esc = cu.easy_escape(curl, value, 0);
  nemb__buf_append(b, "/", 1);
  if (esc != NULL) {
    nemb__buf_append(b, esc, strlen(esc));
    cu.free_fn(esc);
  } else {
    b->oom = true;
  }
}

typedef struct upload {
  const char *data;
  size_t left;
} upload;

static size_t read_cb(char *dst, size_t size, size_t n, void *arg) {
  upload *u = arg;
  size_t k = size * n < u->left ? size * n : u->left;
  memcpy(dst, u->data, k);
  u->data += k;
  u->left -= k;
  return k;
}

static size_t discard_cb(char *p, size_t size, size_t n, void *arg) {
  (void)p;
  (void)arg;
  return size * n;
}

int nemb_report_push(const char *report_json, const char *url, const char *job) {
  nemb__clear_error();
  char why[512];
  if (report_json == NULL) {
    return nemb__fail(NEMB_EINVAL, "pushing needs a report and a Pushgateway URL");
  }
  if (nemb__push_url_check(url, why, sizeof why) != 0) {
    return nemb__fail(NEMB_EINVAL, "%s", why);
  }
  char *text = NULL;
  int rc = nemb__push_text(report_json, &text);
  if (rc != 0) {
    return rc;
  }
  pthread_once(&curl_once, load_curl);
  if (curl_why != NULL) {
    free(text);
    return nemb__fail(NEMB_ENOTSUP, "%s", curl_why);
  }
  json_t *r = json_loads(report_json, 0, NULL);
  const json_t *meta = json_object_get(r, "meta");
  const json_t *jobmeta = json_object_get(meta, "job");
  const char *session = json_string_value(json_object_get(meta, "session_name"));
  const char *host = json_string_value(json_object_get(meta, "hostname"));
  if (job == NULL || job[0] == '\0') {
    job = session && session[0] ? session : "codegreen";
  }

  CURL *curl = cu.easy_init();
  if (curl == NULL) {
    json_decref(r);
    free(text);
    return nemb__fail(NEMB_ENOMEM, "libcurl could not start a transfer");
  }
  nemb__buf target = NEMB__BUF_INIT;
  size_t ulen = strlen(url);
  while (ulen > 0 && url[ulen - 1] == '/') {
    ulen--;
  }
  nemb__buf_append(&target, url, ulen);
  nemb__buf_append(&target, "/metrics", 8);
  group_part(&target, curl, "job", job);
  group_part(&target, curl, "instance", host ? host : "unknown");
  if (json_is_integer(json_object_get(jobmeta, "rank"))) {
    char rank[32];
    snprintf(rank, sizeof rank, "%lld",
             (long long)json_integer_value(json_object_get(jobmeta, "rank")));
    group_part(&target, curl, "rank", rank);
  }
  json_decref(r);
  if (target.oom) {
    cu.easy_cleanup(curl);
    free(target.data);
    free(text);
    return nemb__fail(NEMB_ENOMEM, "out of memory building the Pushgateway URL");
  }

  upload u = {text, strlen(text)};
  struct curl_slist *headers =
      cu.slist_append(NULL, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
  char curl_err[CURL_ERROR_SIZE] = "";
  cu.easy_setopt(curl, CURLOPT_URL, target.data);
  cu.easy_setopt(curl, CURLOPT_UPLOAD, 1L); /* PUT */
  cu.easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
  cu.easy_setopt(curl, CURLOPT_READDATA, &u);
  cu.easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.left);
  cu.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  cu.easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_cb);
  cu.easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
  cu.easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  cu.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in the measured program */
  CURLcode cc = cu.easy_perform(curl);
  long status = 0;
  cu.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  char shown[1024]; /* the target without its password */
  nemb__push_url_redact(target.data, shown, sizeof shown);
  if (cc != CURLE_OK) {
    rc = nemb__fail(NEMB_EIO, "cannot push to %s: %s", shown,
                    curl_err[0] ? curl_err : cu.easy_strerror(cc));
  } else if (status < 200 || status >= 300) {
    rc = nemb__fail(NEMB_EIO, "the Pushgateway at %s answered HTTP %ld", shown, status);
  }
  cu.slist_free_all(headers);
  cu.easy_cleanup(curl);
  free(target.data);
  free(text);
  return rc;
}

int nemb_session_push(const nemb_session *s, const char *url, const char *job) {
  const char *json = nemb_session_report_json(s);
  if (json == NULL) {
    return nemb__fail(NEMB_ESTATE, "a session is pushed after nemb_session_end(), not before");
  }
  return nemb_report_push(json, url, job);
}
