/*
 * push_url.c - the Pushgateway URL rule (push.h): what nemb_report_push() checks before sending,
 * and what `codegreen run --push` checks before running anything.
 */
#include <stdio.h>
#include <string.h>

#include "nemb.h"
#include "push.h"

int nemb__push_url_check(const char *url, char *why, size_t len) {
  if (url == NULL || url[0] == '\0') {
    snprintf(why, len, "pushing needs a Pushgateway URL");
    return NEMB_EINVAL;
  }
  size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
  if (scheme == 0) {
    snprintf(why, len, "Pushgateway URL '%s' must start with http:// or https://", url);
    return NEMB_EINVAL;
  }
  if (url[scheme] == '\0' || url[scheme] == '/') {
    snprintf(why, len, "Pushgateway URL '%s' names no host (http://HOST:9091)", url);
    return NEMB_EINVAL;
  }
  return 0;
}

int nemb_push_url_check(const char *url, char *why, size_t len) {
  char ignored[1];
  return why != NULL ? nemb__push_url_check(url, why, len)
                     : nemb__push_url_check(url, ignored, sizeof ignored);
}
