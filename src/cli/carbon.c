/*
 * carbon.c - the --carbon-intensity option that `run` and `measure` share.
 *
 * The value goes to the library through CODEGREEN_CARBON_INTENSITY, which every session reads
 * (codegreen's own, and the runtime's in the measured program), so the rule that turns energy
 * into co2e_g lives in one place, libcodegreen-nemb's carbon.c. `run` puts the variable back as
 * it was once its session has begun (cg_carbon_env_restore), so the command does not inherit
 * the flag, and names the flag as the intensity's origin (cg_carbon_label). `measure` does the
 * same for its own session, and hands the value to the measured program under its own name
 * (cg_carbon_flag_value(), CODEGREEN_MEASURE_CARBON_INTENSITY), which codegreen_runtime puts
 * in CODEGREEN_CARBON_INTENSITY only while its session begins: neither the program nor its
 * children inherit the flag.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CARBON_ENV "CODEGREEN_CARBON_INTENSITY"
#define CARBON_FLAG "--carbon-intensity"

static bool flag_given;  /* --carbon-intensity was given */
static char *env_before; /* the variable's value before it, or NULL when it was unset */
static char *flag_value; /* the last --carbon-intensity given, or NULL */

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
  if (!flag_given) {
    const char *before = getenv(CARBON_ENV);
    env_before = before != NULL ? strdup(before) : NULL;
    flag_given = true;
  }
  char *copy = strdup(arg);
  if (copy == NULL || setenv(CARBON_ENV, arg, 1) != 0) {
    free(copy);
    fprintf(stderr, "codegreen %s: cannot set CODEGREEN_CARBON_INTENSITY\n", verb);
    return CG_EXIT_FAIL;
  }
  free(flag_value);
  flag_value = copy;
  return 0;
}

const char *cg_carbon_flag_value(void) {
  return flag_value;
}

void cg_carbon_env_restore(void) {
  if (!flag_given) {
    return;
  }
  if (env_before != NULL) {
    setenv(CARBON_ENV, env_before, 1);
  } else {
    unsetenv(CARBON_ENV);
  }
}

void cg_carbon_label(struct json_t *report) {
  json_t *carbon = json_object_get(json_object_get(report, "meta"), "carbon");
  if (flag_given && json_is_object(carbon)) {
    json_object_set_new(carbon, "from", json_string(CARBON_FLAG));
  }
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
