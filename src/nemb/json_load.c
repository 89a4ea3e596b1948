/*
 * json_load.c - a report file into a jansson tree through the chunked, zstd-aware source (see
 * json_load.h).
 */
#include "json_load.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "nemb.h"
#include "zsource.h"

/* jansson's callback: the next chunk, 0 at the end, (size_t)-1 on a failure (kept in the source,
 * so that it is told apart from bad JSON: jansson reports both as a parse error). */
static size_t feed(void *buffer, size_t buflen, void *data) {
  nemb__zsrc *s = data;
  size_t got = 0;
  return nemb__zsrc_read(s, buffer, buflen, &got) == 0 ? got : (size_t)-1;
}

int nemb__report_load(const char *path, json_t **out, char *msg, size_t msg_len) {
  *out = NULL;
  nemb__zsrc s;
  int rc = nemb__zsrc_open(&s, path, NEMB__REPORT_MAX_BYTES);
  if (rc == 0) {
    json_error_t err;
    json_t *doc = json_load_callback(feed, &s, 0, &err);
    if (s.err != 0) {
      rc = s.err;
      json_decref(doc);
    } else if (doc == NULL) {
      if (json_error_code(&err) == json_error_out_of_memory) {
        rc = NEMB_ENOMEM;
        snprintf(s.msg, sizeof s.msg, "out of memory reading the report %s", path);
      } else {
        rc = NEMB_EINVAL;
        if (err.line < 0) {
          snprintf(s.msg, sizeof s.msg, "%s is not a valid report: %s", path, err.text);
        } else {
          snprintf(s.msg, sizeof s.msg, "%s is not valid JSON (line %d, column %d): %s", path,
                   err.line, err.column, err.text);
        }
      }
    } else {
      *out = doc;
    }
  }
  if (rc != 0 && msg != NULL && msg_len > 0) {
    snprintf(msg, msg_len, "%s", s.msg);
  }
  nemb__zsrc_close(&s);
  return rc;
}

bool nemb__report_file_name(const char *name) {
  size_t n = strlen(name);
  return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
         (n > 9 && strcmp(name + n - 9, ".json.zst") == 0);
}
