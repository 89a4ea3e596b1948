/*
 * carbon.c - grams of CO2-equivalent from energy, at a carbon intensity the user gives.
 *
 * Users compare codegreen's joules with CodeCarbon's emissions, so a report can carry co2e_g
 * beside energy_j. The intensity of the electricity (grams CO2e per kWh) depends on the grid, the
 * hour and the contract; codegreen never looks it up (no network): it is taken from
 * $CODEGREEN_CARBON_INTENSITY (what `--carbon-intensity` sets), else from the config key
 * measurement.report.carbon_intensity_g_per_kwh, and the report names the value and where it came
 * from (meta.carbon, source "user-given"). Without either, reports carry no co2e_g at all.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report.h"

#define CARBON_KEY "measurement.report.carbon_intensity_g_per_kwh"
#define CARBON_ENV "CODEGREEN_CARBON_INTENSITY"
#define CARBON_MAX 10000.0 /* g/kWh; the dirtiest grids are near 1000 */

double nemb__co2e_g(double energy_j, double g_per_kwh) {
  return g_per_kwh > 0 ? energy_j / 3.6e6 * g_per_kwh : 0;
}

int nemb__carbon_resolve(const nemb_config *cfg, double *g_per_kwh, char *from, size_t len) {
  *g_per_kwh = 0;
  from[0] = '\0';
  const char *env = getenv(CARBON_ENV);
  if (env != NULL && env[0] != '\0') {
    char *end;
    errno = 0;
    double v = strtod(env, &end);
    if (end == env || *end != '\0' || errno != 0 || !(v > 0) || v > CARBON_MAX) {
      return nemb__fail(NEMB_ECONFIG,
                        "%s=%s: the carbon intensity is grams CO2e per kWh, a number above 0 and "
                        "at most %g",
                        CARBON_ENV, env, CARBON_MAX);
    }
    *g_per_kwh = v;
    snprintf(from, len, "%s", CARBON_ENV);
    return 0;
  }
  double v = 0;
  if (nemb_config_get_double(cfg, CARBON_KEY, &v) == 0 && v > 0) {
    *g_per_kwh = v;
    snprintf(from, len, "config %s (%s)", CARBON_KEY, nemb_config_origin(cfg));
  }
  return 0;
}
