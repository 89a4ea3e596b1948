/*
 * sim.c - a simulated energy device whose power is a known function of CLOCK_MONOTONIC.
 *
 * It behaves like a RAPL counter: the value changes only every update_interval_us (default
 * 976.5625 us, 1/1024 s, what RAPL does on many parts), at a phase of its own (update_phase_us,
 * default random, as real counters run unsynchronised with the sampler: a phase locked to the
 * sampler would hide every error of reading a counter between its updates), it counts whole
 * energy units (RAPL's is 1/2^14 J = 61.03515625 uJ), and it wraps after max_energy_range_uj.
 * Because the power is a closed-form function of time, the true energy of any interval is known
 * exactly, and tests can check the whole chain (sampling, unwrapping, interpolation) to the
 * microjoule without hardware.
 *
 * Configuration: providers.sim in config.json, overridden key by key by a JSON object in
 * $CODEGREEN_SIM_CONFIG. Keys: update_interval_us, update_phase_us, energy_unit_uj,
 * max_energy_range_uj, and
 * domains, an array of {name, kind, waveform, ...}:
 *   "constant": power_w
 *   "square":   low_w, high_w, period_ms, duty (share of the period at high_w, default 0.5)
 *   "ramp":     low_w rising linearly to high_w over period_ms, then back to low_w (a sawtooth)
 * and optionally includes (names), top_level, in_total. Without domains it simulates a package
 * (square wave 10/30 W, 100 ms) containing a core (square 5/20 W), and a DRAM at a constant 3 W.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "provider.h"
#include "sim.h"

#define SIM_MAX_DOMAINS 16

typedef enum { WAVE_CONSTANT, WAVE_SQUARE, WAVE_RAMP } wave_kind;

typedef struct wave {
  wave_kind kind;
  double low_w, high_w; /* constant: both are the power */
  double period_ns;
  double duty;
} wave;

typedef struct sim_state {
  uint64_t epoch_ns;
  double update_ns; /* fractional: 976562.5 ns */
  double phase_ns;  /* the first update after the epoch, in [0, update_ns) */
  double unit_uj;
  uint64_t range_uj;
  size_t n;
  nemb__domain domains[SIM_MAX_DOMAINS];
  wave waves[SIM_MAX_DOMAINS];
} sim_state;

static const char default_domains[] =
    "[{\"name\":\"package-0\",\"kind\":\"cpu_package\",\"waveform\":\"square\",\"low_w\":10,"
    "\"high_w\":30,\"period_ms\":100,\"duty\":0.5,\"includes\":[\"core\"]},"
    "{\"name\":\"core\",\"kind\":\"nested\",\"waveform\":\"square\",\"low_w\":5,\"high_w\":20,"
    "\"period_ms\":100,\"duty\":0.5},"
    "{\"name\":\"dram\",\"kind\":\"dram\",\"waveform\":\"constant\",\"power_w\":3}]";

/* ----- the power functions and their integrals ----- */

static double wave_power(const wave *w, double t_ns) {
  if (w->kind == WAVE_CONSTANT) {
    return w->low_w;
  }
  double r = fmod(t_ns, w->period_ns);
  if (w->kind == WAVE_SQUARE) {
    return r < w->duty * w->period_ns ? w->high_w : w->low_w;
  }
  return w->low_w + (w->high_w - w->low_w) * r / w->period_ns;
}

/* Joules would lose precision over hours; work in W x ns = nJ, return uJ. Whole periods are
 * counted as an integer so the result is exact to well below a microjoule. */
static double wave_energy_uj(const wave *w, double t_ns) {
  if (t_ns <= 0) {
    return 0;
  }
  if (w->kind == WAVE_CONSTANT) {
    return w->low_w * t_ns / 1e3;
  }
  double T = w->period_ns;
  double periods = floor(t_ns / T);
  double r = t_ns - periods * T;
  double per_period, partial;
  if (w->kind == WAVE_SQUARE) {
    double hi = w->duty * T;
    per_period = w->high_w * hi + w->low_w * (T - hi);
    partial = r < hi ? w->high_w * r : w->high_w * hi + w->low_w * (r - hi);
  } else {
    per_period = T * (w->low_w + w->high_w) / 2;
    partial = w->low_w * r + (w->high_w - w->low_w) * r * r / (2 * T);
  }
  return (periods * per_period + partial) / 1e3;
}

double nemb__sim_true_energy_uj(const void *state, size_t d, uint64_t t_ns) {
  const sim_state *s = state;
  return t_ns <= s->epoch_ns ? 0 : wave_energy_uj(&s->waves[d], (double)(t_ns - s->epoch_ns));
}

double nemb__sim_power_w(const void *state, size_t d, uint64_t t_ns) {
  const sim_state *s = state;
  return t_ns < s->epoch_ns ? 0 : wave_power(&s->waves[d], (double)(t_ns - s->epoch_ns));
}

uint64_t nemb__sim_counter_uj(const void *state, size_t d, uint64_t t_ns) {
  const sim_state *s = state;
  if (t_ns <= s->epoch_ns) {
    return 0;
  }
  double since = (double)(t_ns - s->epoch_ns) - s->phase_ns;
  if (since < 0) {
    return 0;
  }
  double updated = floor(since / s->update_ns) * s->update_ns + s->phase_ns;
  double units = floor(wave_energy_uj(&s->waves[d], updated) / s->unit_uj);
  return (uint64_t)floor(units * s->unit_uj);
}

double nemb__sim_update_ns(const void *state) {
  return ((const sim_state *)state)->update_ns;
}

double nemb__sim_phase_ns(const void *state) {
  return ((const sim_state *)state)->phase_ns;
}

uint64_t nemb__sim_epoch_ns(const void *state) {
  return ((const sim_state *)state)->epoch_ns;
}

double nemb__sim_unit_uj(const void *state) {
  return ((const sim_state *)state)->unit_uj;
}

/* ----- configuration ----- */

/* A number from the environment's override object, else from the config. */
static double setting(const json_t *over, const nemb_config *cfg, const char *key) {
  json_t *v = over ? json_object_get(over, key) : NULL;
  if (json_is_number(v)) {
    return json_number_value(v);
  }
  char full[128];
  snprintf(full, sizeof full, "providers.sim.%s", key);
  return nemb__config_number(cfg, full);
}

static int number_field(const json_t *obj, const char *key, double dflt, double lo, double hi,
                        size_t index, double *out, char *why, size_t why_len) {
  json_t *v = json_object_get(obj, key);
  if (v == NULL) {
    if (isnan(dflt)) {
      snprintf(why, why_len, "providers.sim.domains[%zu].%s is required", index, key);
      return NEMB_ECONFIG;
    }
    *out = dflt;
    return 0;
  }
  if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
    snprintf(why, why_len, "providers.sim.domains[%zu].%s must be a number from %g to %g", index,
             key, lo, hi);
    return NEMB_ECONFIG;
  }
  *out = json_number_value(v);
  return 0;
}

static const char *parse_kind(const char *k) {
  static const char *const kinds[] = {NEMB__KIND_PACKAGE, NEMB__KIND_NESTED, NEMB__KIND_DRAM,
                                      NEMB__KIND_PLATFORM, NEMB__KIND_GPU};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(kinds); i++) {
    if (strcmp(k, kinds[i]) == 0) {
      return kinds[i];
    }
  }
  return NULL;
}

/* The keys a domain object may hold, and the type of each, so that a misspelt or mistyped key
 * is never silently replaced by its default ("kind": 7 used to read as cpu_package). */
static const char *const domain_keys[] = {"name",     "kind",      "top_level", "in_total",
                                          "includes", "waveform",  "power_w",   "low_w",
                                          "high_w",   "period_ms", "duty"};

static int check_domain_types(const json_t *obj, size_t i, char *why, size_t why_len) {
  static const struct {
    const char *key;
    json_type type;
    const char *what;
  } typed[] = {{"kind", JSON_STRING, "a string"},
               {"waveform", JSON_STRING, "a string"},
               {"top_level", JSON_TRUE, "a boolean"},
               {"in_total", JSON_TRUE, "a boolean"},
               {"includes", JSON_ARRAY, "an array of domain names"}};
  for (size_t k = 0; k < NEMB__ARRAY_LEN(typed); k++) {
    json_t *v = json_object_get(obj, typed[k].key);
    bool ok = v == NULL ||
              (typed[k].type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == typed[k].type);
    if (!ok) {
      snprintf(why, why_len, "providers.sim.domains[%zu].%s must be %s", i, typed[k].key,
               typed[k].what);
      return NEMB_ECONFIG;
    }
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool known = false;
    for (size_t k = 0; k < NEMB__ARRAY_LEN(domain_keys) && !known; k++) {
      known = strcmp(key, domain_keys[k]) == 0;
    }
    if (!known) {
      const char *near = nemb__nearest(key, domain_keys, NEMB__ARRAY_LEN(domain_keys));
      nemb__log(NEMB_LOG_WARN, "providers.sim.domains[%zu]: unknown key %s is ignored%s%s%s", i,
                key, near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
    }
  }
  return 0;
}

/* Every name in an includes list is another domain of the device, and no domain contains itself
 * through a chain of includes (the totals would count energy twice or never). */
static int check_includes(const sim_state *s, char *why, size_t why_len) {
  int idx[SIM_MAX_DOMAINS][NEMB__MAX_INCLUDES];
  for (size_t d = 0; d < s->n; d++) {
    for (size_t k = 0; k < s->domains[d].n_includes; k++) {
      const char *inc = s->domains[d].includes[k];
      idx[d][k] = -1;
      for (size_t e = 0; e < s->n; e++) {
        if (strcmp(s->domains[e].name, inc) == 0) {
          idx[d][k] = (int)e;
        }
      }
      if (idx[d][k] < 0 || (size_t)idx[d][k] == d) {
        snprintf(why, why_len, "providers.sim.domains[%zu] (%s) includes %s, %s", d,
                 s->domains[d].name, inc,
                 idx[d][k] < 0 ? "which is not a domain of the device" : "itself");
        return NEMB_ECONFIG;
      }
    }
  }
  /* A cycle: from each domain, follow includes; reaching it again within n steps is a cycle. */
  for (size_t start = 0; start < s->n; start++) {
    bool reach[SIM_MAX_DOMAINS] = {false};
    int stack[SIM_MAX_DOMAINS * NEMB__MAX_INCLUDES + 1];
    size_t top = 0;
    stack[top++] = (int)start;
    while (top > 0) {
      int d = stack[--top];
      for (size_t k = 0; k < s->domains[d].n_includes; k++) {
        int e = idx[d][k];
        if ((size_t)e == start) {
          snprintf(why, why_len,
                   "providers.sim.domains: %s includes itself through a cycle of includes",
                   s->domains[start].name);
          return NEMB_ECONFIG;
        }
        if (!reach[e]) {
          reach[e] = true;
          stack[top++] = e;
        }
      }
    }
  }
  return 0;
}

/* The counter must not wrap faster than codegreen can tell wraps apart: at a domain's peak
 * power the range has to hold SIM_MIN_WRAP_MS (a sampler reads at least every 100 us for wraps,
 * and wants four reads per wrap with room for a busy machine). */
#define SIM_MIN_WRAP_MS 10
static int check_range(const sim_state *s, char *why, size_t why_len) {
  if (s->unit_uj >= (double)s->range_uj) {
    snprintf(why, why_len,
             "simulated device: energy_unit_uj (%g) must be below "
             "max_energy_range_uj (%llu)",
             s->unit_uj, (unsigned long long)s->range_uj);
    return NEMB_ECONFIG;
  }
  for (size_t d = 0; d < s->n; d++) {
    double wrap_ms = (double)s->range_uj / (double)s->domains[d].max_power_uw * 1e3;
    if (wrap_ms < SIM_MIN_WRAP_MS) {
      snprintf(why, why_len,
               "simulated device: max_energy_range_uj = %llu wraps every %.3g ms at domain %s's "
               "%.6g W peak, too fast to tell wraps apart; it must hold at least %d ms (%.0f uJ)",
               (unsigned long long)s->range_uj, wrap_ms, s->domains[d].name,
               (double)s->domains[d].max_power_uw / 1e6, SIM_MIN_WRAP_MS,
               ceil((double)s->domains[d].max_power_uw * SIM_MIN_WRAP_MS / 1e3));
      return NEMB_ECONFIG;
    }
  }
  return 0;
}

static int parse_domain(const json_t *obj, size_t i, nemb__domain *d, wave *w, char *why,
                        size_t why_len) {
  const char *name = json_string_value(json_object_get(obj, "name"));
  if (!json_is_object(obj) || name == NULL || name[0] == '\0' || strlen(name) >= NEMB__NAME_MAX) {
    snprintf(why, why_len, "providers.sim.domains[%zu] needs a \"name\" of 1 to %d characters", i,
             NEMB__NAME_MAX - 1);
    return NEMB_ECONFIG;
  }
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  int trc = check_domain_types(obj, i, why, why_len);
  if (trc != 0) {
    return trc;
  }
  const char *kind = json_string_value(json_object_get(obj, "kind"));
  d->kind = parse_kind(kind ? kind : NEMB__KIND_PACKAGE);
  if (d->kind == NULL) {
    snprintf(why, why_len,
             "providers.sim.domains[%zu].kind \"%s\" is not one of cpu_package, nested, dram, "
             "platform, gpu",
             i, kind);
    return NEMB_ECONFIG;
  }
  bool nested = strcmp(d->kind, NEMB__KIND_NESTED) == 0;
  bool platform = strcmp(d->kind, NEMB__KIND_PLATFORM) == 0;
  json_t *b = json_object_get(obj, "top_level");
  d->top_level = json_is_boolean(b) ? json_is_true(b) : !nested;
  b = json_object_get(obj, "in_total");
  d->in_total = json_is_boolean(b) ? json_is_true(b) : !nested && !platform;
  json_t *inc = json_object_get(obj, "includes");
  size_t k;
  json_t *name_v;
  json_array_foreach(inc, k, name_v) {
    if (!json_is_string(name_v) || !nemb__domain_add_include(d, json_string_value(name_v))) {
      snprintf(why, why_len, "providers.sim.domains[%zu].includes must hold at most %d names", i,
               NEMB__MAX_INCLUDES);
      return NEMB_ECONFIG;
    }
  }

  const char *form = json_string_value(json_object_get(obj, "waveform"));
  form = form ? form : "constant";
  double period_ms = 100;
  int rc = 0;
  if (strcmp(form, "constant") == 0) {
    w->kind = WAVE_CONSTANT;
    rc = number_field(obj, "power_w", NAN, 0, 1e6, i, &w->low_w, why, why_len);
    w->high_w = w->low_w;
  } else if (strcmp(form, "square") == 0 || strcmp(form, "ramp") == 0) {
    w->kind = form[0] == 's' ? WAVE_SQUARE : WAVE_RAMP;
    rc = number_field(obj, "low_w", NAN, 0, 1e6, i, &w->low_w, why, why_len);
    rc = rc ? rc : number_field(obj, "high_w", NAN, 0, 1e6, i, &w->high_w, why, why_len);
    rc = rc ? rc : number_field(obj, "period_ms", 100, 0.001, 1e9, i, &period_ms, why, why_len);
    rc = rc ? rc : number_field(obj, "duty", 0.5, 0, 1, i, &w->duty, why, why_len);
  } else {
    snprintf(why, why_len,
             "providers.sim.domains[%zu].waveform \"%s\" is not one of constant, square, ramp", i,
             form);
    return NEMB_ECONFIG;
  }
  w->period_ns = period_ms * 1e6;
  double peak = w->high_w > w->low_w ? w->high_w : w->low_w;
  d->max_power_uw = (uint64_t)(peak * 1e6) + 1;
  return rc;
}

/* ----- the provider ----- */

static int sim_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  json_t *over = NULL;
  json_t *domains = NULL;
  const char *env_text = getenv("CODEGREEN_SIM_CONFIG");
  if (env_text != NULL && env_text[0] != '\0') {
    json_error_t err;
    over = json_loads(env_text, 0, &err);
    if (over != NULL && !json_is_object(over)) {
      snprintf(why, why_len, "CODEGREEN_SIM_CONFIG must be a JSON object ({...}), not %s",
               json_is_array(over) ? "an array" : "a single value");
      json_decref(over);
      return NEMB_ECONFIG;
    }
    if (over == NULL) {
      snprintf(why, why_len, "CODEGREEN_SIM_CONFIG is not valid JSON (column %d: %s)", err.column,
               err.text);
      json_decref(over);
      return NEMB_ECONFIG;
    }
    /* The rules config.json's providers.sim gets (types, ranges, unknown keys): one validator. */
    if (nemb__config_check_section("providers.sim", over, "CODEGREEN_SIM_CONFIG") != 0) {
      snprintf(why, why_len, "%s", nemb_last_error());
      json_decref(over);
      return NEMB_ECONFIG;
    }
  }
  sim_state *s = calloc(1, sizeof *s);
  if (s == NULL) {
    json_decref(over);
    return NEMB_ENOMEM;
  }
  int rc = 0;
  s->update_ns = setting(over, env->cfg, "update_interval_us") * 1e3;
  s->phase_ns = setting(over, env->cfg, "update_phase_us") * 1e3;
  s->unit_uj = setting(over, env->cfg, "energy_unit_uj");
  s->range_uj = (uint64_t)setting(over, env->cfg, "max_energy_range_uj");
  if (!(s->update_ns >= 1000) || !(s->unit_uj > 0) || s->range_uj < 1000 ||
      s->phase_ns >= s->update_ns) {
    snprintf(why, why_len,
             "simulated device: update_interval_us must be at least 1, energy_unit_uj positive, "
             "max_energy_range_uj at least 1000, and update_phase_us below update_interval_us");
    rc = NEMB_ECONFIG;
    goto out;
  }

  const json_t *list = over ? json_object_get(over, "domains") : NULL;
  if (list == NULL) {
    list = nemb__config_lookup(env->cfg, "providers.sim.domains");
  }
  if (list == NULL) {
    list = domains = json_loads(default_domains, 0, NULL);
  }
  if (!json_is_array(list) || json_array_size(list) == 0 ||
      json_array_size(list) > SIM_MAX_DOMAINS) {
    snprintf(why, why_len, "providers.sim.domains must be an array of 1 to %d domains",
             SIM_MAX_DOMAINS);
    rc = NEMB_ECONFIG;
    goto out;
  }
  for (size_t i = 0; i < json_array_size(list) && rc == 0; i++) {
    rc = parse_domain(json_array_get(list, i), i, &s->domains[i], &s->waves[i], why, why_len);
    s->domains[i].range_uj = s->range_uj;
    for (size_t j = 0; j < i && rc == 0; j++) {
      if (strcmp(s->domains[i].name, s->domains[j].name) == 0) {
        snprintf(why, why_len, "providers.sim.domains has two domains named %s",
                 s->domains[i].name);
        rc = NEMB_ECONFIG;
      }
    }
    s->n = i + 1;
  }
  rc = rc ? rc : check_includes(s, why, why_len);
  rc = rc ? rc : check_range(s, why, why_len);
  s->epoch_ns = nemb__now_ns();
  if (s->phase_ns < 0) {
    /* Random, so that no two meters and no test sees the updates at one fixed lag. */
    uint64_t x = s->epoch_ns ^ ((uint64_t)(uintptr_t)s << 17);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    s->phase_ns = (double)(x % 1000000u) / 1e6 * s->update_ns;
  }

out:
  json_decref(domains);
  json_decref(over);
  if (rc != 0) {
    free(s);
    return rc;
  }
  *state = s;
  return 0;
}

static size_t sim_domains(void *state, const nemb__domain **out) {
  sim_state *s = state;
  *out = s->domains;
  return s->n;
}

static int sim_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  sim_state *s = state;
  for (size_t d = 0; d < s->n; d++) {
    raw_uj[d] = nemb__sim_counter_uj(s, d, t_ns) % s->range_uj; /* wraps like the hardware */
  }
  return 0;
}

static uint64_t sim_update_interval_ns(void *state) {
  return (uint64_t)llround(((sim_state *)state)->update_ns);
}

static void sim_close(void *state) {
  free(state);
}

const struct nemb__provider_ops nemb__provider_sim = {
    .name = "sim",
    .measured = true,
    .simulated = true,
    .open = sim_open,
    .domains = sim_domains,
    .read = sim_read,
    .update_interval_ns = sim_update_interval_ns,
    .close = sim_close,
};
