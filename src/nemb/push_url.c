/*
 * push_url.c - the Pushgateway URL rule (push.h): what nemb_report_push() checks before sending,
 * and what `codegreen run --push` checks before running anything.
 *
 * The URL is parsed by libcurl's own parser (curl_url(), the one that will send the push), so
 * what passes here is what libcurl can send to: a hand-written check let "http://a b",
 * "http://host:notaport" and "http://[::1" through, and the push failed after the work. libcurl
 * is loaded here the way push.c loads it (dlopen of the fixed soname, at the first check).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dl.h"
#include "nemb.h"
#include "push.h"

typedef struct curlu_api {
  CURLU *(*url)(void);
  void (*url_cleanup)(CURLU *);
  CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
  CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
  const char *(*url_strerror)(CURLUcode);
  void (*free_fn)(void *);
} curlu_api;
static curlu_api cu;

#define SYM(field, name) NEMB__DL_SYM(curlu_api, field, name)
static const nemb__dl_sym curlu_syms[] = {
    SYM(url, "curl_url"),
    SYM(url_cleanup, "curl_url_cleanup"),
    SYM(url_set, "curl_url_set"),
    SYM(url_get, "curl_url_get"),
    SYM(url_strerror, "curl_url_strerror"),
    SYM(free_fn, "curl_free"),
};
#undef SYM
static nemb__dl_lib curlu_lib =
    NEMB__DL_LIB_INIT("libcurl.so.4", "checking a Pushgateway URL needs libcurl", "libcurl4", "",
                      "libcurl older than 7.80", curlu_syms, &cu);

/* Whether @p h was given an explicit port outside 1-65535 (libcurl refuses a port above 65535
 * but keeps port 0, where nothing listens). */
static int bad_port(CURLU *h) {
  char *port = NULL;
  int bad = 0;
  if (cu.url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK && port != NULL) {
    long n = strtol(port, NULL, 10);
    bad = n < 1 || n > 65535;
  }
  cu.free_fn(port);
  return bad;
}

/* Whether @p h has the part @p what (a query, a fragment, user credentials). */
static int has_part(CURLU *h, CURLUPart what) {
  char *v = NULL;
  int has = cu.url_get(h, what, &v, 0) == CURLUE_OK && v != NULL;
  cu.free_fn(v);
  return has;
}

const char *nemb__push_url_redact(const char *url, char *out, size_t len) {
  const char *auth = url != NULL ? strstr(url, "://") : NULL;
  if (auth == NULL) {
    snprintf(out, len, "%s", url != NULL ? url : "");
    return out;
  }
  auth += 3;
  size_t end = strcspn(auth, "/?#"); /* the authority: up to the path, query or fragment */
  const char *at = NULL;
  for (size_t k = 0; k < end; k++) {
    if (auth[k] == '@') {
      at = auth + k; /* the last '@' of the authority ends the user information */
    }
  }
  const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  if (colon == NULL) {
    snprintf(out, len, "%s", url);
  } else {
    snprintf(out, len, "%.*s***%s", (int)(colon + 1 - url), url, at);
  }
  return out;
}

/* libcurl's verdict on @p url, then what a push needs of it beyond a valid URL. */
static int parse_check(const char *raw, char *why, size_t len) {
  char url[1024]; /* what the messages show */
  nemb__push_url_redact(raw, url, sizeof url);
  CURLU *h = cu.url();
  if (h == NULL) {
    snprintf(why, len, "out of memory checking Pushgateway URL '%s'", url);
    return NEMB_ENOMEM;
  }
  int rc = NEMB_EINVAL;
  /* No CURLU_ALLOW_SPACE, CURLU_GUESS_SCHEME or CURLU_NON_SUPPORT_SCHEME: a space, a missing
   * scheme or an unknown one is refused. */
  CURLUcode uc = cu.url_set(h, CURLUPART_URL, raw, 0);
  if (uc != CURLUE_OK) {
    snprintf(why, len, "Pushgateway URL '%s' is not a valid URL (libcurl: %s)", url,
             cu.url_strerror(uc));
  } else if (!has_part(h, CURLUPART_HOST)) {
    snprintf(why, len, "Pushgateway URL '%s' names no host (http://HOST:9091)", url);
  } else if (bad_port(h)) {
    snprintf(why, len, "Pushgateway URL '%s' has a port outside 1 to 65535", url);
  } else if (has_part(h, CURLUPART_QUERY) || has_part(h, CURLUPART_FRAGMENT)) {
    snprintf(why, len,
             "Pushgateway URL '%s' has a query or fragment, where the push appends "
             "/metrics/job/... to the path",
             url);
  } else {
    rc = 0;
  }
  cu.url_cleanup(h);
  return rc;
}

int nemb__push_url_check(const char *raw, char *why, size_t len) {
  char url[1024]; /* what the messages show */
  if (raw == NULL || raw[0] == '\0') {
    snprintf(why, len, "pushing needs a Pushgateway URL");
    return NEMB_EINVAL;
  }
  nemb__push_url_redact(raw, url, sizeof url);
  size_t scheme = strncmp(raw, "http://", 7) == 0 ? 7 : strncmp(raw, "https://", 8) == 0 ? 8 : 0;
  if (scheme == 0) {
    snprintf(why, len, "Pushgateway URL '%s' must start with http:// or https://", url);
    return NEMB_EINVAL;
  }
  if (raw[scheme] == '\0' || raw[scheme] == '/') {
    snprintf(why, len, "Pushgateway URL '%s' names no host (http://HOST:9091)", url);
    return NEMB_EINVAL;
  }
  const char *not_loaded = nemb__dl_load(&curlu_lib);
  if (not_loaded != NULL) {
    snprintf(why, len, "%s", not_loaded); /* the push itself would need it too */
    return NEMB_ENOTSUP;
  }
  return parse_check(raw, why, len);
}

int nemb_push_url_check(const char *url, char *why, size_t len) {
  char ignored[1];
  return why != NULL ? nemb__push_url_check(url, why, len)
                     : nemb__push_url_check(url, ignored, sizeof ignored);
}
