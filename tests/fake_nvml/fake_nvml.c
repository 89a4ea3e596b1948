/*
 * fake_nvml.c - a stand-in for libnvidia-ml.so.1, built by the tests (cmake/hardware.cmake) so
 * the nvml provider's real code runs on machines without an NVIDIA GPU. It implements the few
 * NVML functions the provider calls, with NVML's names, types and return codes.
 *
 * Set up through the environment, read at nvmlInit_v2:
 *   FAKE_NVML_DEVICES  comma-separated "method:watts" per GPU, method being
 *                        energy  nvmlDeviceGetTotalEnergyConsumption works (Volta and later);
 *                        field   no energy counter, NVML_FI_DEV_POWER_INSTANT works;
 *                        usage   only nvmlDeviceGetPowerUsage works (old GPUs);
 *                        none    nothing about power works;
 *                      default "energy:250".
 *   FAKE_NVML_INIT     an nvmlReturn_t for nvmlInit_v2 to fail with (9 = driver not loaded).
 * Energy grows at the stated power with CLOCK_MONOTONIC from nvmlInit_v2 on. A test that dlopens
 * the same file gets the same instance and can pin readings exactly with fake_nvml_set_energy_mj()
 * and fake_nvml_set_power_mw(), and count init/shutdown pairs with fake_nvml_live().
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_DEVICES 8

enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9
};
enum { NVML_VALUE_TYPE_UNSIGNED_INT = 1 };
#define NVML_FI_DEV_POWER_INSTANT 186

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef union nvmlValue_st {
  double dVal;
  int siVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  signed long long sllVal;
  unsigned short usVal;
} nvmlValue_t;

typedef struct nvmlFieldValue_st {
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;
  long long latencyUsec;
  int valueType;
  nvmlReturn_t nvmlReturn;
  nvmlValue_t value;
} nvmlFieldValue_t;

/* The exported functions, declared first as the strict warnings want. */
EXPORT nvmlReturn_t nvmlInit_v2(void);
EXPORT nvmlReturn_t nvmlShutdown(void);
EXPORT const char *nvmlErrorString(nvmlReturn_t r);
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                        unsigned long long *energy);
EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count,
                                             nvmlFieldValue_t *values);
EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power);
EXPORT void fake_nvml_set_energy_mj(unsigned index, long long mj);
EXPORT void fake_nvml_set_power_mw(unsigned index, long long mw);
EXPORT int fake_nvml_live(void);

enum method { M_ENERGY, M_FIELD, M_USAGE, M_NONE };

struct nvmlDevice_st {
  unsigned index;
  enum method method;
  double watts;
  _Atomic long long pinned_mj; /* -1: follow the clock */
  _Atomic long long pinned_mw; /* -1: the configured power */
};

static struct nvmlDevice_st devices[MAX_DEVICES];
static unsigned n_devices;
static atomic_int live; /* nvmlInit_v2 calls not yet shut down */
static double t0_s;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void configure(void) {
  const char *spec = getenv("FAKE_NVML_DEVICES");
  char buf[512];
  snprintf(buf, sizeof buf, "%s", spec ? spec : "energy:250");
  n_devices = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok && n_devices < MAX_DEVICES;
       tok = strtok_r(NULL, ",", &save)) {
    struct nvmlDevice_st *d = &devices[n_devices];
    char *colon = strchr(tok, ':');
    d->watts = colon ? strtod(colon + 1, NULL) : 100;
    if (colon) {
      *colon = '\0';
    }
    d->method = strcmp(tok, "energy") == 0  ? M_ENERGY
                : strcmp(tok, "field") == 0 ? M_FIELD
                : strcmp(tok, "usage") == 0 ? M_USAGE
                                            : M_NONE;
    d->index = n_devices;
    atomic_store(&d->pinned_mj, -1);
    atomic_store(&d->pinned_mw, -1);
    n_devices++;
  }
}

EXPORT nvmlReturn_t nvmlInit_v2(void) {
  const char *fail = getenv("FAKE_NVML_INIT");
  if (fail != NULL && fail[0] != '\0' && atoi(fail) != 0) {
    return atoi(fail);
  }
  if (atomic_fetch_add(&live, 1) == 0) {
    configure();
    t0_s = now_s();
  }
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlShutdown(void) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  atomic_fetch_sub(&live, 1);
  return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
  case NVML_SUCCESS:
    return "Success";
  case NVML_ERROR_UNINITIALIZED:
    return "Uninitialized";
  case NVML_ERROR_NOT_SUPPORTED:
    return "Not Supported";
  case NVML_ERROR_DRIVER_NOT_LOADED:
    return "Driver Not Loaded";
  default:
    return "Unknown Error";
  }
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  *count = n_devices;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  if (index >= n_devices) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *device = &devices[index];
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  static const char *const names[] = {"Fake H100", "Fake A100", "Fake V100", "Fake K80"};
  int n = snprintf(name, length, "%s", names[device->method]);
  return n < 0 || (unsigned)n >= length ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
}

static unsigned power_mw(const struct nvmlDevice_st *d) {
  long long pinned = atomic_load(&d->pinned_mw);
  return pinned >= 0 ? (unsigned)pinned : (unsigned)(d->watts * 1000);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                        unsigned long long *energy) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  if (device->method != M_ENERGY) {
    return NVML_ERROR_NOT_SUPPORTED;
  }
  long long pinned = atomic_load(&device->pinned_mj);
  /* A counter since the driver loaded: start well above zero, as a real one does. */
  *energy = pinned >= 0
                ? (unsigned long long)pinned
                : 123456789ULL + (unsigned long long)(device->watts * (now_s() - t0_s) * 1000.0);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count,
                                             nvmlFieldValue_t *values) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  for (int i = 0; i < count; i++) {
    nvmlFieldValue_t *v = &values[i];
    if (v->fieldId != NVML_FI_DEV_POWER_INSTANT || device->method == M_USAGE ||
        device->method == M_NONE) {
      v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
      continue;
    }
    v->nvmlReturn = NVML_SUCCESS;
    v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    v->value.uiVal = power_mw(device);
  }
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  if (device->method == M_NONE) {
    return NVML_ERROR_NOT_SUPPORTED;
  }
  *power = power_mw(device);
  return NVML_SUCCESS;
}

/* ----- test controls (not part of NVML) ----- */

EXPORT void fake_nvml_set_energy_mj(unsigned index, long long mj) {
  if (index < MAX_DEVICES) {
    atomic_store(&devices[index].pinned_mj, mj);
  }
}

EXPORT void fake_nvml_set_power_mw(unsigned index, long long mw) {
  if (index < MAX_DEVICES) {
    atomic_store(&devices[index].pinned_mw, mw);
  }
}

EXPORT int fake_nvml_live(void) {
  return atomic_load(&live);
}
