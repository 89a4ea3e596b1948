/*
 * nvml.c - NVIDIA GPUs through NVML, the NVIDIA Management Library that ships with the driver.
 *
 * The library is loaded at run time with dlopen("libnvidia-ml.so.1") (the driver's soname; the
 * unversioned .so comes only with development packages), so building codegreen needs neither CUDA
 * nor NVML headers: the few types and functions used are declared below from NVIDIA's NVML API
 * reference. CODEGREEN_NVML_LIB names another library (a path), which is how the tests load a
 * fake one. A missing library is NEMB_ENOTSUP with the reason, never a failure of the meter.
 *
 * Every GPU becomes a domain gpu0, gpu1, ... in NVML's index order: kind gpu, top-level, in the
 * total (a discrete GPU's energy is not inside any CPU counter). Per GPU, the best source wins:
 *   1. nvmlDeviceGetTotalEnergyConsumption: a cumulative counter in millijoules since the driver
 *      loaded (Volta and later), 64-bit, so it never wraps in practice;
 *   2. otherwise the field NVML_FI_DEV_POWER_INSTANT (milliwatts, current power) through
 *      nvmlDeviceGetFieldValues, integrated over the sampler's timestamps;
 *   3. otherwise nvmlDeviceGetPowerUsage (milliwatts; on older GPUs a one-second average),
 *      integrated the same way.
 * The choice is made once at open and stated in the domain's detail, so `codegreen info` shows
 * it. A GPU with none of the three is left out with a log line.
 *
 * CODEGREEN_SYSFS_ROOT substitutes a fixture tree for the machine; a GPU driver cannot live in
 * such a tree, so while it is set NVML is loaded only when CODEGREEN_NVML_LIB is set too. This
 * keeps fixture-based tests the same on machines with and without GPUs.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "provider.h"
#include "secure_env.h"

#define DEFAULT_LIB "libnvidia-ml.so.1"
#define NVML_UPDATE_NS 20000000ULL /* NVML refreshes power and energy every 20-100 ms */

/* ----- the part of nvml.h codegreen uses (NVML API reference, "nvmlReturn_t", "Field Value
 * Queries", "Device Queries") ----- */

typedef struct nvml_device_st *nvml_device; /* nvmlDevice_t */
typedef int nvml_return;                    /* nvmlReturn_t */

enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
  NVML_ERROR_UNKNOWN = 999
};

enum {
  NVML_VALUE_TYPE_DOUBLE = 0,
  NVML_VALUE_TYPE_UNSIGNED_INT = 1,
  NVML_VALUE_TYPE_UNSIGNED_LONG = 2,
  NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
  NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4,
  NVML_VALUE_TYPE_SIGNED_INT = 5
};

#define NVML_FI_DEV_POWER_INSTANT 186 /* current GPU power, milliwatts */
#define NVML_DEVICE_NAME_BUFFER_SIZE 96

typedef union nvml_value {
  double dVal;
  int siVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  signed long long sllVal;
  unsigned short usVal;
} nvml_value;

typedef struct nvml_field_value {
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;
  long long latencyUsec;
  int valueType;  /* nvmlValueType_t */
  int nvmlReturn; /* nvmlReturn_t */
  nvml_value value;
} nvml_field_value;

typedef struct nvml_api {
  nvml_return (*init)(void);
  nvml_return (*shutdown)(void);
  const char *(*error_string)(nvml_return);
  nvml_return (*device_count)(unsigned int *);
  nvml_return (*device_handle)(unsigned int, nvml_device *);
  nvml_return (*device_name)(nvml_device, char *, unsigned int);
  nvml_return (*total_energy)(nvml_device, unsigned long long *);
  nvml_return (*field_values)(nvml_device, int, nvml_field_value *);
  nvml_return (*power_usage)(nvml_device, unsigned int *);
} nvml_api;

/* ----- the provider ----- */

enum source { SRC_ENERGY, SRC_FIELD, SRC_USAGE };

typedef struct gpu {
  nvml_device dev;
  enum source src;
  uint64_t last_mw;
  double energy_uj; /* integrated energy, for the power sources */
} gpu;

typedef struct nvml_state {
  void *lib;
  nvml_api api;
  bool initialised;
  size_t n;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  gpu gpus[NEMB__MAX_DOMAINS];
  uint64_t last_t_ns;
  bool started;
} nvml_state;

static const char *nvml_error(const nvml_state *st, nvml_return r) {
  const char *s = st->api.error_string ? st->api.error_string(r) : NULL;
  return s ? s : "unknown NVML error";
}

/* dlsym into a function pointer: POSIX guarantees the conversion works; ISO C does not allow it
 * directly, so it goes through memcpy. */
static bool bind(void *lib, const char *symbol, void *fn_ptr, size_t size) {
  void *p = dlsym(lib, symbol);
  if (p == NULL) {
    return false;
  }
  memcpy(fn_ptr, &p, size);
  return true;
}

static void nvml_close(void *state) {
  nvml_state *st = state;
  if (st == NULL) {
    return;
  }
  if (st->initialised) {
    st->api.shutdown();
  }
  if (st->lib != NULL) {
    dlclose(st->lib);
  }
  free(st);
}

/* Reads a GPU's current power in milliwatts through the source chosen for it. */
static nvml_return read_power(const nvml_state *st, const gpu *g, uint64_t *mw) {
  if (g->src == SRC_FIELD) {
    nvml_field_value fv;
    memset(&fv, 0, sizeof fv);
    fv.fieldId = NVML_FI_DEV_POWER_INSTANT;
    nvml_return r = st->api.field_values(g->dev, 1, &fv);
    if (r != NVML_SUCCESS) {
      return r;
    }
    if (fv.nvmlReturn != NVML_SUCCESS) {
      return fv.nvmlReturn;
    }
    switch (fv.valueType) {
    case NVML_VALUE_TYPE_DOUBLE:
      *mw = fv.value.dVal > 0 ? (uint64_t)fv.value.dVal : 0;
      break;
    case NVML_VALUE_TYPE_UNSIGNED_INT:
      *mw = fv.value.uiVal;
      break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG:
      *mw = fv.value.ulVal;
      break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG:
      *mw = fv.value.ullVal;
      break;
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG:
      *mw = fv.value.sllVal > 0 ? (uint64_t)fv.value.sllVal : 0;
      break;
    case NVML_VALUE_TYPE_SIGNED_INT:
      *mw = fv.value.siVal > 0 ? (uint64_t)fv.value.siVal : 0;
      break;
    default:
      return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
  }
  unsigned int v = 0;
  nvml_return r = st->api.power_usage(g->dev, &v);
  *mw = v;
  return r;
}

/* Finds the best source a GPU supports; false when it has none. */
static bool choose_source(const nvml_state *st, gpu *g, char *detail, size_t len) {
  unsigned long long mj;
  if (st->api.total_energy != NULL && st->api.total_energy(g->dev, &mj) == NVML_SUCCESS) {
    g->src = SRC_ENERGY;
    snprintf(detail, len, "nvmlDeviceGetTotalEnergyConsumption (energy counter, mJ)");
    return true;
  }
  uint64_t mw;
  if (st->api.field_values != NULL) {
    g->src = SRC_FIELD;
    if (read_power(st, g, &mw) == NVML_SUCCESS) {
      snprintf(detail, len, "NVML_FI_DEV_POWER_INSTANT (mW), integrated over time");
      return true;
    }
  }
  if (st->api.power_usage != NULL) {
    g->src = SRC_USAGE;
    if (read_power(st, g, &mw) == NVML_SUCCESS) {
      snprintf(detail, len, "nvmlDeviceGetPowerUsage (mW), integrated over time");
      return true;
    }
  }
  return false;
}

/* Says why nvmlInit failed, in words a user can act on. */
static int init_failed(nvml_state *st, nvml_return r, const char *lib, char *why, size_t len) {
  const char *text = nvml_error(st, r);
  switch (r) {
  case NVML_ERROR_DRIVER_NOT_LOADED:
    nemb__say(why, len,
        "%s loaded but nvmlInit failed: %s (%d): the NVIDIA kernel driver is not running; "
        "check `nvidia-smi` and `lsmod | grep nvidia`",
        lib, text, r);
    return NEMB_ENOTSUP;
  case NVML_ERROR_NO_PERMISSION:
    nemb__say(why, len,
        "%s loaded but nvmlInit failed: %s (%d): this user cannot open /dev/nvidiactl and "
        "/dev/nvidia*; on most systems they belong to group video or render (`sudo usermod -aG "
        "video $USER`, then log in again)",
        lib, text, r);
    return NEMB_EACCES;
  case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
    nemb__say(why, len,
        "%s loaded but nvmlInit failed: %s (%d): the NVML library and the running kernel "
        "driver are different versions, usually after a driver update without a reboot",
        lib, text, r);
    return NEMB_ENOTSUP;
  default:
    nemb__say(why, len, "%s loaded but nvmlInit failed: %s (%d)", lib, text, r);
    return NEMB_EIO;
  }
}

static int nvml_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  *state = NULL;
  int enabled = 1;
  if (env != NULL && env->cfg != NULL &&
      nemb_config_get_bool(env->cfg, "providers.nvml.enabled", &enabled) == 0 && !enabled) {
    nemb__say(why, why_len, "disabled by providers.nvml.enabled in the configuration");
    return NEMB_ENOTSUP;
  }
  const char *lib = nemb__env_get("CODEGREEN_NVML_LIB"); /* never dlopen()ed when privileged */
  if (lib == NULL || lib[0] == '\0') {
    if (nemb__sysfs_root()[0] != '\0') {
      nemb__say(why, why_len,
          "not probed: CODEGREEN_SYSFS_ROOT substitutes a fixture tree for this machine, which "
          "cannot hold a GPU driver; set CODEGREEN_NVML_LIB to load an NVML library anyway");
      return NEMB_ENOTSUP;
    }
    lib = DEFAULT_LIB;
  }
  nvml_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    nemb__say(why, why_len, "out of memory");
    return NEMB_ENOMEM;
  }
  dlerror();
  st->lib = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (st->lib == NULL) {
    const char *err = dlerror();
    nemb__say(why, why_len,
        "cannot load %s (%s): no NVIDIA driver is installed, so there is no NVIDIA GPU to "
        "measure%s",
        lib, err ? err : "not found",
        strcmp(lib, DEFAULT_LIB) == 0 ? " (the library comes with the driver, e.g. Debian's "
                                        "libnvidia-ml1 or nvidia-utils)"
                                      : "");
    nvml_close(st);
    return NEMB_ENOTSUP;
  }
  nvml_api *a = &st->api;
  bool ok =
      bind(st->lib, "nvmlInit_v2", &a->init, sizeof a->init) &&
      bind(st->lib, "nvmlShutdown", &a->shutdown, sizeof a->shutdown) &&
      bind(st->lib, "nvmlDeviceGetCount_v2", &a->device_count, sizeof a->device_count) &&
      bind(st->lib, "nvmlDeviceGetHandleByIndex_v2", &a->device_handle, sizeof a->device_handle);
  bind(st->lib, "nvmlErrorString", &a->error_string, sizeof a->error_string);
  bind(st->lib, "nvmlDeviceGetName", &a->device_name, sizeof a->device_name);
  bind(st->lib, "nvmlDeviceGetTotalEnergyConsumption", &a->total_energy, sizeof a->total_energy);
  bind(st->lib, "nvmlDeviceGetFieldValues", &a->field_values, sizeof a->field_values);
  bind(st->lib, "nvmlDeviceGetPowerUsage", &a->power_usage, sizeof a->power_usage);
  if (!ok) {
    nemb__say(why, why_len,
        "%s lacks nvmlInit_v2, nvmlShutdown, nvmlDeviceGetCount_v2 or "
        "nvmlDeviceGetHandleByIndex_v2: the driver is older than NVML 5 (2012) or this is "
        "not NVML",
        lib);
    nvml_close(st);
    return NEMB_ENOTSUP;
  }
  nvml_return r = a->init();
  if (r != NVML_SUCCESS) {
    int rc = init_failed(st, r, lib, why, why_len);
    nvml_close(st);
    return rc;
  }
  st->initialised = true;
  unsigned int count = 0;
  r = a->device_count(&count);
  if (r != NVML_SUCCESS || count == 0) {
    nemb__say(why, why_len, "NVML finds no GPU (%s)",
        r != NVML_SUCCESS ? nvml_error(st, r) : "device count 0");
    nvml_close(st);
    return NEMB_ENOTSUP;
  }
  unsigned skipped = 0;
  for (unsigned i = 0; i < count && st->n < NEMB__MAX_DOMAINS; i++) {
    gpu *g = &st->gpus[st->n];
    nemb__domain *d = &st->domains[st->n];
    memset(d, 0, sizeof *d);
    r = a->device_handle(i, &g->dev);
    char name[NVML_DEVICE_NAME_BUFFER_SIZE] = "";
    if (r == NVML_SUCCESS && a->device_name != NULL &&
        a->device_name(g->dev, name, sizeof name) != NVML_SUCCESS) {
      name[0] = '\0';
    }
    char how[80];
    if (r != NVML_SUCCESS || !choose_source(st, g, how, sizeof how)) {
      nemb__log(NEMB_LOG_WARN, "nvml: GPU %u (%s) reports neither energy nor power%s%s", i,
                name[0] ? name : "unnamed", r != NVML_SUCCESS ? ": " : "",
                r != NVML_SUCCESS ? nvml_error(st, r) : "");
      skipped++;
      continue;
    }
    snprintf(d->name, sizeof d->name, "gpu%u", i);
    d->kind = NEMB__KIND_GPU;
    d->top_level = true;
    d->in_total = true;
    d->range_uj = 0;
    d->method = g->src == SRC_ENERGY ? NEMB__METHOD_COUNTER : NEMB__METHOD_INTEGRATED;
    snprintf(d->detail, sizeof d->detail, "%.30s: %.60s", name[0] ? name : "NVIDIA GPU", how);
    st->n++;
  }
  if (st->n == 0) {
    nemb__say(why, why_len, "NVML finds %u GPU%s but none reports energy or power", count,
        count == 1 ? "" : "s");
    nvml_close(st);
    return NEMB_ENOTSUP;
  }
  if (skipped > 0) {
    nemb__log(NEMB_LOG_INFO, "nvml: %u GPU%s left out (no energy or power reading)", skipped,
              skipped == 1 ? "" : "s");
  }
  *state = st;
  return 0;
}

static size_t nvml_domains(void *state, const nemb__domain **out) {
  const nvml_state *st = state;
  *out = st->domains;
  return st->n;
}

static int nvml_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  nvml_state *st = state;
  uint64_t v[NEMB__MAX_DOMAINS];
  for (size_t i = 0; i < st->n; i++) {
    gpu *g = &st->gpus[i];
    nvml_return r;
    if (g->src == SRC_ENERGY) {
      unsigned long long mj = 0;
      r = st->api.total_energy(g->dev, &mj);
      v[i] = (uint64_t)mj * 1000u;
    } else {
      r = read_power(st, g, &v[i]);
    }
    if (r != NVML_SUCCESS) {
      return r == NVML_ERROR_NO_PERMISSION ? NEMB_EACCES : NEMB_EIO;
    }
  }
  /* Integrate only once every read succeeded, so a failed read loses no energy. */
  double dt_s = st->started && t_ns > st->last_t_ns ? (double)(t_ns - st->last_t_ns) / 1e9 : 0;
  for (size_t i = 0; i < st->n; i++) {
    gpu *g = &st->gpus[i];
    if (g->src == SRC_ENERGY) {
      raw_uj[i] = v[i];
      continue;
    }
    if (st->started) {
      /* mW * s = mJ; the mean of the two readings (trapezoid rule), times 1000 for uJ. */
      g->energy_uj += ((double)g->last_mw + (double)v[i]) / 2 * dt_s * 1000.0;
    }
    g->last_mw = v[i];
    raw_uj[i] = (uint64_t)g->energy_uj;
  }
  if (!st->started || t_ns > st->last_t_ns) {
    st->last_t_ns = t_ns;
  }
  st->started = true;
  return 0;
}

static uint64_t nvml_update_interval_ns(void *state) {
  (void)state;
  return NVML_UPDATE_NS;
}

const struct nemb__provider_ops nemb__provider_nvml = {
    .name = "nvml",
    .measured = true,
    .open = nvml_open,
    .domains = nvml_domains,
    .read = nvml_read,
    .update_interval_ns = nvml_update_interval_ns,
    .close = nvml_close,
};
