/*
 * describe.c - what `codegreen info` shows: every provider this build knows, whether it works
 * here and exactly why not, and what a meter created now would measure with.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

static const char *status_of(int rc) {
  switch (rc) {
  case 0:
    return "available";
  case NEMB_ENOTSUP:
    return "absent";
  case NEMB_EACCES:
    return "permission";
  case NEMB_ECONFIG:
    return "config";
  default:
    return "error";
  }
}

static json_t *domain_json(const nemb__domain *d, const char *source, bool measured) {
  json_t *inc = json_array();
  for (size_t k = 0; k < d->n_includes; k++) {
    json_array_append_new(inc, json_string(d->includes[k]));
  }
  /* Providers that predate nemb__domain.method read counters (or, unmeasured, a model). */
  const char *method = d->method ? d->method : measured ? NEMB__METHOD_COUNTER : "model";
  return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:I, s:s, s:s?}", "name", d->name, "kind",
                   d->kind, "source", source, "top_level", d->top_level, "in_total", d->in_total,
                   "measured", measured, "includes", inc, "range_uj", (json_int_t)d->range_uj,
                   "method", method, "detail", d->detail[0] ? d->detail : NULL);
}

/* Opens one provider, describes it, closes it. */
static json_t *probe_provider(const struct nemb__provider_ops *ops, const nemb_config *cfg,
                              const char *vm) {
  nemb__provider_env env = {cfg};
  void *state = NULL;
  char why[1024] = "";
  int rc = ops->open(&env, &state, why, sizeof why);
  json_t *doms = json_array();
  json_t *unused = json_array();
  if (rc == 0) {
    const nemb__domain *d;
    size_t n = ops->domains(state, &d);
    for (size_t i = 0; i < n; i++) {
      json_array_append_new(doms, domain_json(&d[i], ops->name, ops->measured));
    }
    const nemb__unused *u = NULL;
    size_t nu = ops->unused ? ops->unused(state, &u) : 0;
    for (size_t i = 0; i < nu; i++) {
      json_array_append_new(unused, json_pack("{s:s, s:s, s:s?}", "name", u[i].name, "reason",
                                              u[i].reason, "fix", u[i].fix[0] ? u[i].fix : NULL));
    }
    ops->close(state);
  } else if (rc == NEMB_ENOTSUP && ops->hidden_in_vm && vm != NULL) {
    /* The most common reason of all: say it plainly. */
    size_t len = strlen(why);
    snprintf(why + len, sizeof why - len,
             "%sThis is a virtual machine (%s): hypervisors do not pass CPU energy counters to "
             "guests.",
             len == 0              ? ""
             : why[len - 1] == '.' ? " "
                                   : ". ",
             vm);
  }
  const char *role = ops->simulated   ? "used only when named in CODEGREEN_PROVIDERS"
                     : !ops->measured ? "used only when no real counter measures the CPU"
                                      : "used whenever available";
  return json_pack("{s:s, s:b, s:b, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:o}", "name", ops->name,
                   "measured", ops->measured, "simulated", ops->simulated, "role", role, "status",
                   status_of(rc), "error", rc ? nemb_err_name(rc) : NULL, "reason", rc ? why : NULL,
                   "fix", rc == NEMB_EACCES ? ops->permission_fix : NULL, "domains", doms, "unused",
                   unused);
}

static const char *verdict_name(nemb__xcheck v) {
  switch (v) {
  case NEMB__XCHECK_AGREE:
    return "agree";
  case NEMB__XCHECK_DISAGREE:
    return "disagree";
  case NEMB__XCHECK_FAILED:
    return "failed";
  case NEMB__XCHECK_SKIPPED:
    break;
  }
  return "skipped";
}

/* The domains several providers see, which one each is read from, and the start-up comparison. */
static json_t *overlaps_json(const nemb_meter *m) {
  json_t *arr = json_array();
  for (size_t o = 0; arr != NULL && o < m->n_overlaps; o++) {
    const nemb__overlap *ov = &m->overlaps[o];
    bool compared = ov->verdict == NEMB__XCHECK_AGREE || ov->verdict == NEMB__XCHECK_DISAGREE;
    json_t *check = json_pack("{s:s, s:f, s:s}", "verdict", verdict_name(ov->verdict), "window_ms",
                              (double)ov->window_ns / 1e6, "note", ov->note);
    if (check != NULL && compared) {
      json_object_set_new(check, "used_w", json_real(ov->used_w));
      json_object_set_new(check, "other_w", json_real(ov->other_w));
    }
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o*}", "domain", ov->domain, "used",
                                         ov->used, "also_seen_by", ov->other, "name_there",
                                         ov->other_name, "cross_check", check));
  }
  return arr;
}

/* The registry's order of real providers: which one a domain is read from when several see it. */
static json_t *preference_json(void) {
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && nemb__providers[i] != NULL; i++) {
    if (nemb__providers[i]->measured && !nemb__providers[i]->simulated) {
      json_array_append_new(arr, json_string(nemb__providers[i]->name));
    }
  }
  return arr;
}

/* What nemb_meter_create() would choose now. */
static json_t *selection_json(const nemb_config *cfg) {
  nemb_meter *m = NULL;
  int rc = nemb_meter_create(cfg, &m);
  if (rc != 0) {
    return json_pack("{s:s, s:s, s:s, s:o}", "mode", "none", "error", nemb_err_name(rc), "reason",
                     nemb_last_error(), "domains", json_array());
  }
  json_t *doms = json_array();
  json_t *providers = json_array();
  for (size_t p = 0; p < m->n_providers; p++) {
    json_array_append_new(providers, json_string(m->providers[p].ops->name));
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    json_array_append_new(doms, domain_json(&m->domains[d], m->source[d], m->measured[d]));
  }
  const char *mode = nemb_meter_energy_source(m);
  const char *forced = getenv("CODEGREEN_PROVIDERS");
  json_t *out =
      json_pack("{s:s, s:o, s:o, s:s?, s:o}", "mode", mode, "providers", providers, "domains", doms,
                "forced_by", forced && forced[0] ? "CODEGREEN_PROVIDERS" : NULL, "counted_once",
                overlaps_json(m));
  nemb_meter_destroy(m);
  return out;
}

/* The one command that fixes every permission problem found, or null: `codegreen info` ends
 * with it. Each provider's own fix (its ops' permission_fix) is the plain setup command or the
 * command with a flag; the plain one covers every counter, so flags are added only when no
 * provider needs the plain one, and nothing is said when the only problems are alternatives to a
 * first-choice provider (the registry's first) that already works. */
static json_t *permission_fix_json(json_t *providers) {
  static const char setup[] = "sudo codegreen setup-permissions";
  bool any = false;
  bool base = false;
  bool first_ok = false;
  char flags[96] = "";
  size_t i;
  json_t *p;
  json_array_foreach(providers, i, p) {
    const char *status = json_string_value(json_object_get(p, "status"));
    const char *fix = json_string_value(json_object_get(p, "fix"));
    if (i == 0 && strcmp(status, "available") == 0) {
      first_ok = true;
    }
    if (strcmp(status, "permission") != 0 || fix == NULL ||
        strncmp(fix, setup, sizeof setup - 1) != 0) {
      continue;
    }
    any = true;
    const char *flag = fix + sizeof setup - 1;
    if (flag[0] == '\0') {
      base = true;
    } else if (strstr(flags, flag) == NULL) {
      size_t len = strlen(flags);
      snprintf(flags + len, sizeof flags - len, "%s", flag);
    }
  }
  if (!any || (first_ok && !base)) {
    return json_null(); /* nothing, or only alternatives to a first choice that already works */
  }
  char cmd[160];
  snprintf(cmd, sizeof cmd, "%s%s", setup, base ? "" : flags);
  return json_string(cmd);
}

int nemb_describe_json(const nemb_config *cfg, char **out) {
  nemb__clear_error();
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_describe_json: out is NULL");
  }
  *out = NULL;
  const nemb_config *use;
  nemb_config *owned = NULL;
  int rc = nemb__config_resolve(cfg, &use, &owned);
  if (rc != 0) {
    return rc;
  }
  char vm_name[64];
  bool vm = nemb__detect_vm(vm_name, sizeof vm_name);
  double interval_ms = nemb__config_number(use, "coordinator.measurement_interval_ms");

  json_t *providers = json_array();
  for (size_t i = 0; nemb__providers[i] != NULL; i++) {
    json_array_append_new(providers, probe_provider(nemb__providers[i], use, vm ? vm_name : NULL));
  }
  /* Each provider says whether the selection below uses it: the role is what the provider does
   * in general ("used only when named in CODEGREEN_PROVIDERS"), in_use what it does now. */
  json_t *selection = selection_json(use);
  json_t *chosen = json_object_get(selection, "providers");
  size_t pi, ci;
  json_t *p, *c;
  json_array_foreach(providers, pi, p) {
    bool in_use = false;
    json_array_foreach(chosen, ci, c) {
      in_use |= json_equal(c, json_object_get(p, "name"));
    }
    json_object_set_new(p, "in_use", json_boolean(in_use));
  }
  const char *root = nemb__sysfs_root();
  json_t *doc =
      json_pack("{s:s, s:i, s:{s:s, s:f}, s:s, s:{s:b, s:s?}, s:o, s:o}", "codegreen_version",
                nemb_version_string(), "nemb_abi_version", nemb_abi_version(), "config", "origin",
                nemb_config_origin(use), "measurement_interval_ms", interval_ms, "sysfs_root",
                root[0] ? root : "/", "virtual_machine", "detected", vm, "hypervisor",
                vm ? vm_name : NULL, "providers", providers, "selection", selection);
  if (doc != NULL) {
    json_object_set_new(doc, "preference", preference_json());
    json_object_set_new(doc, "permission_fix", permission_fix_json(providers));
  }
  nemb_config_destroy(owned);
  if (doc == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory describing the providers");
  }
  *out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (*out == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory describing the providers");
  }
  return 0;
}
