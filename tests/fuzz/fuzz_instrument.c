/*
 * fuzz_instrument.c - the instrumenter: any bytes as a Python source, at both granularities.
 * A source that is not valid UTF-8, has a NUL or a syntax error must be refused with a message;
 * one that parses must come back instrumented with a line map. Nothing may crash or leak.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "instrument.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) {
    return 0;
  }
  const cgi_language *py = cgi_language_find("python");
  if (py == NULL) {
    abort(); /* the build lost its only language */
  }
  for (int g = 0; g < 2; g++) {
    cgi_options o = {.granularity = g ? CGI_FINE : CGI_COARSE, .context = "fuzz.py", .line_map = 1};
    cgi_result *r = NULL;
    int rc = cgi_instrument(py, (const char *)data, size, &o, &r);
    if (rc == 0) {
      size_t len;
      if (cgi_result_text(r, &len) == NULL || cgi_result_line_map(r) == NULL) {
        abort(); /* success without output */
      }
    } else if (r != NULL && cgi_result_error(r) == NULL) {
      abort(); /* a refusal must say why */
    }
    cgi_result_destroy(r);
  }
  return 0;
}
