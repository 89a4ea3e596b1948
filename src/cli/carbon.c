/*
 * carbon.c - the --carbon-intensity option that `run` and `measure` share.
 *
 * The value goes to the library through CODEGREEN_CARBON_INTENSITY, which every session reads
 * (codegreen's own, and the runtime's in the measured program), so the rule that turns energy
 * into co2e_g lives in one place, libcodegreen-nemb's carbon.c.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "cli.h"

int cg_carbon_option(const char *verb, const char *arg) {
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (end == arg || *end != '\0' || errno != 0 || !(v > 0) || v > 10000) {
    fprintf(stderr,
            "codegreen %s: --carbon-intensity wants grams CO2e per kWh, a number above 0 and at "
            "most 10000 (your grid's figure; codegreen looks nothing up), not '%s'\n",
            verb, arg);
    return CG_EXIT_USAGE;
  }
  if (setenv("CODEGREEN_CARBON_INTENSITY", arg, 1) != 0) {
    fprintf(stderr, "codegreen %s: cannot set CODEGREEN_CARBON_INTENSITY\n", verb);
    return CG_EXIT_FAIL;
  }
  return 0;
}

void cg_carbon_print(FILE *fp, const struct json_t *report, const char *key, const char *what) {
  json_t *r = (json_t *)report;
  json_t *carbon = json_object_get(json_object_get(r, "meta"), "carbon");
  json_t *co2e = json_object_get(json_object_get(r, "totals"), key);
  if (!json_is_object(carbon) || !json_is_number(co2e)) {
    return;
  }
  const char *source = json_string_value(json_object_get(carbon, "source"));
  fprintf(fp, "  co2e         %.6f g %s at %g g/kWh (%s)\n", json_number_value(co2e), what,
          json_number_value(json_object_get(carbon, "intensity_g_per_kwh")),
          source ? source : "user-given");
}
