/*
 * report_file.c - nemb_report_read_text(): a saved report's whole text, through the one report
 * source (zsource.h: plain or zstd-compressed).
 */
#include <stdlib.h>

#include "internal.h"
#include "nemb.h"
#include "zsource.h"

#define CHUNK (256 * 1024)

int nemb_report_read_text(const char *path, char **out, size_t *len) {
  if (out == NULL || path == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_report_read_text needs a path and a place for the text");
  }
  *out = NULL;
  if (len != NULL) {
    *len = 0;
  }
  nemb__zsrc src;
  int rc = nemb__zsrc_open(&src, path, 0);
  char *chunk = rc == 0 ? malloc(CHUNK) : NULL;
  nemb__buf text = NEMB__BUF_INIT;
  if (rc == 0 && chunk == NULL) {
    text.oom = true;
  }
  while (rc == 0 && !src.done && !text.oom) {
    size_t got = 0;
    rc = nemb__zsrc_read(&src, chunk, CHUNK, &got);
    nemb__buf_append(&text, chunk, got);
  }
  free(chunk);
  if (rc == 0 && text.oom) {
    rc = nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", path);
  } else if (rc != 0) {
    nemb__fail(rc, "%s", src.msg);
  }
  nemb__zsrc_close(&src);
  if (rc != 0) {
    nemb__buf_release(&text);
    return rc;
  }
  if (len != NULL) {
    *len = text.len;
  }
  *out = nemb__buf_detach(&text);
  return *out != NULL ? 0 : nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", path);
}
