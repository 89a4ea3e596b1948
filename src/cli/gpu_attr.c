/*
 * gpu_attr.c - `codegreen run`'s GPU attribution from per-process utilisation (gpu_attr.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_attr.h"

void cg_gpu_take(nemb_meter *m, uint64_t t0_ns, uint64_t t1_ns, cg_gpu_uses *out) {
  memset(out, 0, sizeof *out);
  size_t n = m != NULL ? nemb_meter_domain_count(m) : 0;
  for (size_t d = 0; d < n; d++) {
    nemb_domain_info info;
    if (nemb_meter_domain(m, d, &info) != 0 || info.kind == NULL || strcmp(info.kind, "gpu") != 0) {
      continue;
    }
    cg_gpu_use *grown = realloc(out->u, (out->n + 1) * sizeof *grown);
    if (grown == NULL) {
      return;
    }
    out->u = grown;
    cg_gpu_use *g = &out->u[out->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->domain, sizeof g->domain, "%s", info.name);
    nemb_gpu_usage u;
    if (nemb_meter_gpu_usage_span(m, d, t0_ns, t1_ns, &u) != 0) {
      g->status = NEMB_EINVAL;
      g->reason = strdup("the meter does not know this domain");
      continue;
    }
    g->status = u.status;
    g->reason = u.status != 0 ? strdup(u.reason) : NULL;
    g->own_sm = u.own_sm;
    g->all_sm = u.all_sm;
    g->samples = u.samples;
    g->own_samples = u.own_samples;
    g->outside_samples = u.outside_samples;
    g->dropped_samples = u.dropped_samples;
    nemb_meter_gpu_forget(m, d, t1_ns); /* no later run looks before this one's end */
  }
}

void cg_gpu_free(cg_gpu_uses *u) {
  for (size_t i = 0; i < u->n; i++) {
    free(u->u[i].reason);
  }
  free(u->u);
  memset(u, 0, sizeof *u);
}

const char *cg_gpu_method(const cg_gpu_uses *d, const char *domain, char *buf, size_t len) {
  for (size_t i = 0; i < d->n; i++) {
    const cg_gpu_use *g = &d->u[i];
    if (strcmp(g->domain, domain) != 0) {
      continue;
    }
    if (g->status == 0) {
      snprintf(buf, len, "nvml_process_utilization");
    } else {
      snprintf(buf, len, "not_attributed: %s", g->reason ? g->reason : "no per-process figures");
    }
    return buf;
  }
  return NULL;
}

json_t *cg_gpu_attribution(const cg_gpu_uses *d, json_t *task_domains, double *attributed_j,
                           double *covered_j) {
  json_t *out = json_object();
  for (size_t i = 0; i < d->n; i++) {
    const cg_gpu_use *g = &d->u[i];
    double e = json_number_value(json_object_get(task_domains, g->domain));
    char method[256];
    cg_gpu_method(d, g->domain, method, sizeof method);
    json_t *o = json_pack("{s:s, s:f}", "method", method, "energy_j", e);
    if (g->status != 0) {
      json_object_set_new(o, "share", json_null());
      json_object_set_new(o, "attributed_energy_j", json_null());
    } else {
      double share = g->all_sm > 0 ? g->own_sm / g->all_sm : 0;
      share = share < 0 ? 0 : share > 1 ? 1 : share;
      json_object_set_new(o, "share", json_real(share));
      json_object_set_new(o, "attributed_energy_j", json_real(share * e));
      json_object_set_new(o, "samples", json_integer((json_int_t)g->samples));
      json_object_set_new(o, "own_samples", json_integer((json_int_t)g->own_samples));
      json_object_set_new(o, "other_samples",
                          json_integer((json_int_t)(g->samples - g->own_samples)));
      json_object_set_new(o, "samples_outside_run", json_integer((json_int_t)g->outside_samples));
      json_object_set_new(o, "samples_dropped", json_integer((json_int_t)g->dropped_samples));
      if (g->samples == 0) {
        json_object_set_new(o, "note",
                            json_string("no utilisation sample during the run: no "
                                        "process kept the GPU's SMs busy"));
      } else if (g->own_samples == 0) {
        json_object_set_new(o, "note",
                            json_string("none of the command's processes appeared "
                                        "in the GPU's utilisation samples"));
      }
      *attributed_j += share * e;
      *covered_j += e;
    }
    json_object_set_new(out, g->domain, o);
  }
  return out;
}
