/*
 * gpu_select.c - the GPUs of a Slurm job step (see gpu_select.h).
 */
#include <string.h>

#include "gpu_select.h"

static json_t *split(const char *list) {
  json_t *out = json_array();
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    while (n > 0 && (*p == ' ' || *p == '\t')) {
      p++;
      n--;
    }
    size_t k = n;
    while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t')) {
      k--;
    }
    if (k > 0) {
      json_array_append_new(out, json_stringn(p, k));
    }
    p += n;
    if (*p == ',') {
      p++;
    }
  }
  return out;
}

json_t *cg_gpu_select(const char *slurm_job_gpus, const char *cuda_visible,
                      const char *nvidia_visible, const char **source) {
  static const char *const names[] = {"SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES",
                                      "NVIDIA_VISIBLE_DEVICES"};
  const char *values[] = {slurm_job_gpus, cuda_visible, nvidia_visible};
  *source = NULL;
  for (size_t i = 0; i < 3; i++) {
    const char *v = values[i];
    if (v == NULL || v[0] == '\0') {
      continue;
    }
    *source = names[i];
    if (strcmp(v, "all") == 0) {
      return NULL;
    }
    if (strcmp(v, "NoDevFiles") == 0 || strcmp(v, "none") == 0 || strcmp(v, "void") == 0) {
      return json_array();
    }
    return split(v);
  }
  return NULL;
}

int cg_gpu_apply(json_t *config, json_t *devices) {
  if (!json_is_object(config)) {
    json_decref(devices);
    return -1;
  }
  json_t *providers = json_object_get(config, "providers");
  if (!json_is_object(providers)) {
    providers = json_object();
    json_object_set_new(config, "providers", providers);
  }
  json_t *nvml = json_object_get(providers, "nvml");
  if (!json_is_object(nvml)) {
    nvml = json_object();
    json_object_set_new(providers, "nvml", nvml);
  }
  return json_object_set_new(nvml, "devices", devices) == 0 ? 0 : -1;
}
