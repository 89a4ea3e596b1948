/*
 * gpu_select.c - the GPUs of a Slurm job step (see gpu_select.h).
 */
#include <stdlib.h>
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
  /* The NVML provider reads the key as one comma-separated string (indices or UUIDs), where ""
   * means every GPU: an empty selection is written "none". */
  size_t len = 0, i;
  json_t *d;
  json_array_foreach(devices, i, d) {
    len += strlen(json_string_value(d) ? json_string_value(d) : "") + 1;
  }
  char *list = malloc(len + sizeof "none");
  if (list == NULL) {
    json_decref(devices);
    return -1;
  }
  list[0] = '\0';
  json_array_foreach(devices, i, d) {
    if (i > 0) {
      strcat(list, ",");
    }
    strcat(list, json_string_value(d) ? json_string_value(d) : "");
  }
  if (list[0] == '\0') {
    strcpy(list, "none");
  }
  json_decref(devices);
  int rc = json_object_set_new(nvml, "devices", json_string(list)) == 0 ? 0 : -1;
  free(list);
  return rc;
}
