/*
 * fake_nvml.c - a stand-in for libnvidia-ml.so.1, built by the tests (cmake/nemb.cmake) so
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
 *                      Each may be followed by options, ":"-separated, to behave like a real
 *                      driver does:
 *                        step=MS    the energy counter advances only every MS ms (real ones:
 *                                   10-100 ms), at a phase of its own;
 *                        phase=MS   ... that phase: the first update MS ms (modulo the step)
 *                                   after nvmlInit_v2;
 *                        lost=S     from S s after nvmlInit_v2 on, every call on the device
 *                                   returns NVML_ERROR_GPU_IS_LOST (15);
 *                        noperm     every call on the device returns NVML_ERROR_NO_PERMISSION;
 *                        slow=MS    every call on the device takes MS ms (a driver lock held
 *                                   by others); the value is taken at a random instant
 *                                   within the call, as a driver's is;
 *                        nofield    the energy counter is not served as the field
 *                                   NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION (older drivers);
 *                        hang=S     from S s after nvmlInit_v2 on, every call on the device
 *                                   blocks, as in a hung driver, until the test calls
 *                                   fake_nvml_release() (or forever);
 *                        mig        MIG mode is on, with two instances whose UUIDs are
 *                                   "MIG-00000000-fake-000N-000K-000000000000" (GPU N,
 *                                   instance K = 0, 1), found by nvmlDeviceGetHandleByUUID;
 *                                   like NVML, energy and power are not per instance;
 *                        procnotsup nvmlDeviceGetProcessUtilization returns
 *                                   NVML_ERROR_NOT_SUPPORTED (3), as on GPUs before Maxwell;
 *                        procnoperm ... returns NVML_ERROR_NO_PERMISSION (4);
 *                      e.g. "energy:250,energy:100:lost=0.7".
 *   FAKE_NVML_PROCS    the processes using every GPU, for nvmlDeviceGetProcessUtilization:
 *                      ";"-separated WHO=SM, SM being the SM utilisation in percent and WHO a
 *                      pid, "children" (every child of the process that loaded the fake, so a
 *                      command codegreen runs is one) or "tree" (every descendant), listed
 *                      from /proc when the fake samples;
 *                      e.g. "children=50;1=50". Unset: no process uses the GPUs.
 *   FAKE_NVML_SAMPLE_MS  the driver's sample period (default 100): like a driver, the fake has a
 *                      sample every period since nvmlInit_v2, stamped with the period's time
 *                      (CLOCK_REALTIME microseconds), one per process with a non-zero
 *                      utilisation, the processes being those present when the fake recorded
 *                      the period (at its next device call, every few ms under the provider);
 *                      a process that has ended keeps its recorded samples; only the last 64
 *                      periods are kept.
 *                      A GPU in MIG mode answers NVML_ERROR_NOT_SUPPORTED, as NVML does.
 *   FAKE_NVML_LATENCY_US  each device call takes this long (a driver lock held by others).
 *   FAKE_NVML_INIT     an nvmlReturn_t for nvmlInit_v2 to fail with (9 = driver not loaded).
 * Energy grows at the stated power with CLOCK_MONOTONIC from nvmlInit_v2 on; a counter with
 * step=MS advances every MS ms at a phase of its own, not tied to anyone's reads. Field values
 * (NVML_FI_DEV_POWER_INSTANT, NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION) carry the CLOCK_REALTIME
 * instant the value was taken in us (nvmlFieldValue_t.timestamp) and the call's latencyUsec.
 * fake_nvml_calls() counts the device calls made, fake_nvml_hung() those blocked in a hang now,
 * fake_nvml_last_energy_ns() the CLOCK_MONOTONIC instant of the last energy value answered;
 * fake_nvml_first_lost_ns(i) and fake_nvml_last_good_ns(i) when device i first answered "lost" and
 * last answered a call; fake_nvml_hang_now() makes every device call hang from now on, until
 * fake_nvml_release(). A test that dlopens the same file gets the same instance and can pin
 * readings exactly with fake_nvml_set_energy_mj() and fake_nvml_set_power_mw(), and count
 * init/shutdown pairs with fake_nvml_live().
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_DEVICES 8

enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_GPU_IS_LOST = 15
};
enum { NVML_VALUE_TYPE_UNSIGNED_INT = 1, NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3 };
#define NVML_FI_DEV_POWER_INSTANT 186
#define NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION 83

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
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
typedef struct nvmlPciInfo_st {
  char busIdLegacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device);
EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig,
                                                                 nvmlDevice_t *device);
EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *is_mig);
EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current,
                                         unsigned int *pending);
typedef struct nvmlProcessUtilizationSample_st {
  unsigned int pid;
  unsigned long long timeStamp;
  unsigned int smUtil;
  unsigned int memUtil;
  unsigned int encUtil;
  unsigned int decUtil;
} nvmlProcessUtilizationSample_t;
EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                    nvmlProcessUtilizationSample_t *utilization,
                                                    unsigned int *processSamplesCount,
                                                    unsigned long long lastSeenTimeStamp);
EXPORT void fake_nvml_set_energy_mj(unsigned index, long long mj);
EXPORT void fake_nvml_set_power_mw(unsigned index, long long mw);
EXPORT int fake_nvml_live(void);
EXPORT long long fake_nvml_calls(void);
EXPORT void fake_nvml_release(void);
EXPORT void fake_nvml_hang_now(void);
EXPORT int fake_nvml_hung(void);
EXPORT long long fake_nvml_last_energy_ns(void);
EXPORT long long fake_nvml_first_lost_ns(unsigned index);
EXPORT long long fake_nvml_last_good_ns(unsigned index);

enum method { M_ENERGY, M_FIELD, M_USAGE, M_NONE };

struct nvmlDevice_st {
  unsigned index;
  enum method method;
  double watts;
  _Atomic long long pinned_mj; /* -1: follow the clock */
  _Atomic long long pinned_mw; /* -1: the configured power */
  double step_s;               /* 0: a continuous counter */
  double phase_s;
  double lost_s; /* < 0: never lost */
  /* CLOCK_MONOTONIC ns of the first call answered NVML_ERROR_GPU_IS_LOST, and of the last call
   * answered NVML_SUCCESS (0: none yet): when the driver said so, whenever codegreen asked. */
  _Atomic long long first_lost_ns;
  _Atomic long long last_good_ns;
  bool noperm;
  bool nofield;
  bool mig;
  int proc_rc;    /* what nvmlDeviceGetProcessUtilization returns instead of samples; 0: samples */
  double slow_s;  /* each call's own latency */
  double hang_s;  /* < 0: never hangs */
  int mig_parent; /* a MIG instance's handle: its GPU's index; -1 for a GPU */
  unsigned mig_index;
};

#define MIG_PER_GPU 2

static struct nvmlDevice_st devices[MAX_DEVICES];
static struct nvmlDevice_st instances[MAX_DEVICES * MIG_PER_GPU];
static unsigned n_devices;
static atomic_int live; /* nvmlInit_v2 calls not yet shut down */
static double t0_s;
static unsigned long long t0_real_us; /* CLOCK_REALTIME at nvmlInit_v2, microseconds */
static double realtime_offset_s;      /* CLOCK_REALTIME - CLOCK_MONOTONIC at nvmlInit_v2 */
static _Atomic long long calls;
/* When the last energy value was taken, CLOCK_MONOTONIC ns (fake_nvml_last_energy_ns). */
static _Atomic long long last_energy_ns;
static long latency_us;
static atomic_bool released; /* fake_nvml_release() was called: hung calls return */
static atomic_int hung;      /* calls blocked in a hang now */
static atomic_bool hang_all; /* fake_nvml_hang_now() was called: every device call hangs */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long real_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u;
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
    d->step_s = 0;
    d->lost_s = -1;
    atomic_store(&d->first_lost_ns, 0);
    atomic_store(&d->last_good_ns, 0);
    d->noperm = false;
    d->nofield = false;
    d->mig = false;
    d->proc_rc = 0;
    d->slow_s = 0;
    d->hang_s = -1;
    double phase_ms = -1;
    if (colon) {
      *colon = '\0';
      for (char *opt = strchr(colon + 1, ':'); opt != NULL; opt = strchr(opt + 1, ':')) {
        if (strncmp(opt + 1, "step=", 5) == 0) {
          d->step_s = strtod(opt + 6, NULL) / 1e3;
        } else if (strncmp(opt + 1, "lost=", 5) == 0) {
          d->lost_s = strtod(opt + 6, NULL);
        } else if (strncmp(opt + 1, "noperm", 6) == 0) {
          d->noperm = true;
        } else if (strncmp(opt + 1, "nofield", 7) == 0) {
          d->nofield = true;
        } else if (strncmp(opt + 1, "phase=", 6) == 0) {
          phase_ms = strtod(opt + 7, NULL);
        } else if (strncmp(opt + 1, "slow=", 5) == 0) {
          d->slow_s = strtod(opt + 6, NULL) / 1e3;
        } else if (strncmp(opt + 1, "hang=", 5) == 0) {
          d->hang_s = strtod(opt + 6, NULL);
        } else if (strncmp(opt + 1, "procnotsup", 10) == 0) {
          d->proc_rc = NVML_ERROR_NOT_SUPPORTED;
        } else if (strncmp(opt + 1, "procnoperm", 10) == 0) {
          d->proc_rc = NVML_ERROR_NO_PERMISSION;
        } else if (strncmp(opt + 1, "mig", 3) == 0) {
          d->mig = true;
        }
      }
    }
    /* A phase of its own, fixed per index so that runs repeat, unless phase= says. */
    d->phase_s = d->step_s * (0.37 + 0.21 * n_devices) - d->step_s * (int)(0.37 + 0.21 * n_devices);
    if (phase_ms >= 0 && d->step_s > 0) {
      double ph = phase_ms / 1e3;
      d->phase_s = ph - d->step_s * (double)(long long)(ph / d->step_s);
    }
    d->method = strcmp(tok, "energy") == 0  ? M_ENERGY
                : strcmp(tok, "field") == 0 ? M_FIELD
                : strcmp(tok, "usage") == 0 ? M_USAGE
                                            : M_NONE;
    d->index = n_devices;
    d->mig_parent = -1;
    for (unsigned k = 0; k < MIG_PER_GPU; k++) {
      struct nvmlDevice_st *in = &instances[n_devices * MIG_PER_GPU + k];
      in->index = n_devices;
      in->method = M_NONE;
      in->mig_parent = (int)n_devices;
      in->mig_index = k;
      in->lost_s = in->hang_s = -1;
      atomic_store(&in->pinned_mj, -1);
      atomic_store(&in->pinned_mw, -1);
    }
    atomic_store(&d->pinned_mj, -1);
    atomic_store(&d->pinned_mw, -1);
    n_devices++;
  }
}

static void procs_record(void);
static void procs_reset(void);

EXPORT nvmlReturn_t nvmlInit_v2(void) {
  const char *fail = getenv("FAKE_NVML_INIT");
  if (fail != NULL && fail[0] != '\0' && atoi(fail) != 0) {
    return atoi(fail);
  }
  if (atomic_fetch_add(&live, 1) == 0) {
    configure();
    t0_s = now_s();
    t0_real_us = real_us();
    procs_reset();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    realtime_offset_s = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9 - now_s();
    atomic_store(&released, false);
    atomic_store(&hang_all, false);
    const char *lat = getenv("FAKE_NVML_LATENCY_US");
    latency_us = lat ? atol(lat) : 0;
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
  case NVML_ERROR_NO_PERMISSION:
    return "Insufficient Permissions";
  case NVML_ERROR_GPU_IS_LOST:
    return "GPU is lost";
  case NVML_ERROR_NOT_FOUND:
    return "Not Found";
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

/* What every device call does first, as a driver would: take its time, count the call, and
 * refuse when the device is not this user's or has fallen off the bus. */
static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* A driver call's own time: the part before the value is taken is slept in device_call(), the
 * rest (returned in *rest_s) by end_call() after it; the split is random per call. */
static _Atomic unsigned long long split_seed = 88172645463325252ull;

static double split(void) {
  unsigned long long x = atomic_fetch_add(&split_seed, 0x9E3779B97F4A7C15ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return (double)(x >> 11) / 9007199254740992.0;
}

static void end_call(double rest_s) {
  if (rest_s > 0) {
    sleep_s(rest_s);
  }
}

static nvmlReturn_t device_call_split(const struct nvmlDevice_st *d, double *rest_s) {
  atomic_fetch_add(&calls, 1);
  procs_record();
  double own = (double)latency_us / 1e6 + d->slow_s, u = own > 0 ? split() : 0;
  *rest_s = own * (1 - u);
  if (own > 0) {
    sleep_s(own * u);
  }
  if ((atomic_load(&hang_all) || (d->hang_s >= 0 && now_s() - t0_s >= d->hang_s)) &&
      !atomic_load(&released)) {
    atomic_fetch_add(&hung, 1);
    while (!atomic_load(&released)) {
      sleep_s(0.001);
    }
    atomic_fetch_sub(&hung, 1);
  }
  if (d->noperm) {
    return NVML_ERROR_NO_PERMISSION;
  }
  double now = now_s();
  if (d->lost_s >= 0 && now - t0_s >= d->lost_s) {
    long long none = 0;
    atomic_compare_exchange_strong(&((struct nvmlDevice_st *)d)->first_lost_ns, &none,
                                   (long long)(now * 1e9));
    return NVML_ERROR_GPU_IS_LOST;
  }
  atomic_store(&((struct nvmlDevice_st *)d)->last_good_ns, (long long)(now * 1e9));
  return NVML_SUCCESS;
}

/* A call that takes all its time before answering. */
static nvmlReturn_t device_call(const struct nvmlDevice_st *d) {
  double rest;
  nvmlReturn_t r = device_call_split(d, &rest);
  end_call(rest);
  return r;
}

/* The energy counter's value at CLOCK_MONOTONIC second @p t (since nvmlInit_v2), millijoules. */
static unsigned long long energy_mj(const struct nvmlDevice_st *d, double t) {
  long long pinned = atomic_load(&d->pinned_mj);
  if (d->step_s > 0) {
    /* The value of the last update: updates every step_s at the device's phase. */
    double k = (t - d->phase_s) / d->step_s;
    t = k < 0 ? 0 : (double)(long long)k * d->step_s + d->phase_s;
  }
  /* A counter since the driver loaded: start well above zero, as a real one does. */
  return pinned >= 0 ? (unsigned long long)pinned
                     : 123456789ULL + (unsigned long long)(d->watts * t * 1000.0);
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
  double rest;
  nvmlReturn_t r = device_call_split(device, &rest);
  if (r == NVML_SUCCESS && device->method != M_ENERGY) {
    r = NVML_ERROR_NOT_SUPPORTED;
  }
  if (r == NVML_SUCCESS) {
    double at = now_s();
    atomic_store(&last_energy_ns, (long long)(at * 1e9));
    *energy = energy_mj(device, at - t0_s);
  }
  end_call(rest);
  return r;
}

EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count,
                                             nvmlFieldValue_t *values) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  double rest;
  nvmlReturn_t r = device_call_split(device, &rest);
  if (r != NVML_SUCCESS) {
    end_call(rest);
    return r;
  }
  /* The values are taken now: their timestamp (CLOCK_REALTIME, us) says when, from the same
   * clock reading as the values (a driver stamps the instant it took them). */
  double mono = now_s(), t = mono - t0_s;
  long long stamp = (long long)((mono + realtime_offset_s) * 1e6);
  long long latency = (long long)(((double)latency_us / 1e6 + device->slow_s) * 1e6);
  for (int i = 0; i < count; i++) {
    nvmlFieldValue_t *v = &values[i];
    v->timestamp = stamp;
    v->latencyUsec = latency;
    if (v->fieldId == NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION && device->method == M_ENERGY &&
        !device->nofield) {
      v->nvmlReturn = NVML_SUCCESS;
      v->valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
      v->value.ullVal = energy_mj(device, t);
      atomic_store(&last_energy_ns, (long long)(mono * 1e9));
      continue;
    }
    if (v->fieldId != NVML_FI_DEV_POWER_INSTANT || device->method == M_USAGE ||
        device->method == M_NONE) {
      v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
      continue;
    }
    v->nvmlReturn = NVML_SUCCESS;
    v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    v->value.uiVal = power_mw(device);
  }
  end_call(rest);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  nvmlReturn_t r = device_call(device);
  if (r != NVML_SUCCESS) {
    return r;
  }
  if (device->method == M_NONE) {
    return NVML_ERROR_NOT_SUPPORTED;
  }
  *power = power_mw(device);
  return NVML_SUCCESS;
}

/* UUIDs "GPU-00000000-fake-0000-0000-00000000000N" and bus ids "00000000:0N:00.0"; the option
 * "mig" turns MIG mode on. */
EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  int n = device->mig_parent >= 0
              ? snprintf(uuid, length, "MIG-00000000-fake-%04d-%04u-000000000000",
                         device->mig_parent, device->mig_index)
              : snprintf(uuid, length, "GPU-00000000-fake-0000-0000-%012u", device->index);
  return n < 0 || (unsigned)n >= length ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
  memset(pci, 0, sizeof *pci);
  pci->bus = device->index + 1;
  snprintf(pci->busId, sizeof pci->busId, "00000000:%02X:00.0", device->index + 1);
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", device->index + 1);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  char buf[96];
  for (unsigned i = 0; i < n_devices; i++) {
    nvmlDeviceGetUUID(&devices[i], buf, sizeof buf);
    if (strcmp(buf, uuid) == 0) {
      *device = &devices[i];
      return NVML_SUCCESS;
    }
    for (unsigned k = 0; devices[i].mig && k < MIG_PER_GPU; k++) {
      nvmlDeviceGetUUID(&instances[i * MIG_PER_GPU + k], buf, sizeof buf);
      if (strcmp(buf, uuid) == 0) {
        *device = &instances[i * MIG_PER_GPU + k];
        return NVML_SUCCESS;
      }
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig,
                                                                 nvmlDevice_t *device) {
  if (mig->mig_parent < 0) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *device = &devices[mig->mig_parent];
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *is_mig) {
  *is_mig = device->mig_parent >= 0;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current,
                                         unsigned int *pending) {
  *current = *pending = device->mig ? 1u : 0u;
  return NVML_SUCCESS;
}

/* ----- per-process utilisation ----- */

#define MAX_PROCS 32
#define KEPT_PERIODS 64

/* The children (@p deep: every descendant) of this process now, from /proc. */
/* The parent and the start (clock ticks since boot) of @p pid from /proc/PID/stat ("pid (comm)
 * state ppid ...", fields counted from the last ')', starttime the 22nd); false when it is gone. */
static bool stat_fields(unsigned pid, int *ppid, unsigned long long *start_ticks) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  FILE *fp = fopen(path, "re");
  if (fp == NULL) {
    return false;
  }
  size_t len = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[len] = '\0';
  char *p = strrchr(buf, ')');
  char state;
  if (p == NULL || sscanf(p + 1, " %c %d", &state, ppid) != 2) {
    return false;
  }
  for (int field = 3; p != NULL && field <= 22; field++) {
    p = strchr(p + 1, ' ');
  }
  *start_ticks = p != NULL ? strtoull(p + 1, NULL, 10) : 0;
  return true;
}

/* When @p pid started, CLOCK_REALTIME microseconds to the clock tick (as codegreen's proc_tree
 * reads it), or 0 when no such process exists (a made-up pid of FAKE_NVML_PROCS). */
static unsigned long long start_real_us(unsigned pid) {
  int ppid;
  unsigned long long ticks;
  if (!stat_fields(pid, &ppid, &ticks)) {
    return 0;
  }
  struct timespec b;
  clock_gettime(CLOCK_BOOTTIME, &b);
  unsigned long long boot_real = real_us() - ((unsigned long long)b.tv_sec * 1000000ull +
                                              (unsigned long long)b.tv_nsec / 1000u);
  unsigned long long hz = (unsigned long long)sysconf(_SC_CLK_TCK);
  hz = hz > 0 ? hz : 100;
  return boot_real + ticks / hz * 1000000ull + ticks % hz * 1000000ull / hz;
}

static size_t children(unsigned *out, size_t cap, bool deep) {
  enum { SCAN = 4096 };
  static unsigned pids[SCAN], ppids[SCAN]; /* under proc_lock */
  DIR *dir = opendir("/proc");
  size_t n_all = 0, n = 0;
  if (dir == NULL) {
    return 0;
  }
  for (struct dirent *e = readdir(dir); e != NULL && n_all < SCAN; e = readdir(dir)) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') {
      continue;
    }
    int ppid = -1;
    unsigned long long start;
    if (stat_fields((unsigned)pid, &ppid, &start) && ppid > 0) {
      pids[n_all] = (unsigned)pid;
      ppids[n_all++] = (unsigned)ppid;
    }
  }
  closedir(dir);
  unsigned self = (unsigned)getpid();
  for (size_t i = 0; i < n_all && n < cap; i++) {
    if (ppids[i] == self) {
      out[n++] = pids[i];
    }
  }
  for (size_t k = 0; deep && k < n; k++) { /* breadth first: out grows as it is read */
    for (size_t i = 0; i < n_all && n < cap; i++) {
      if (ppids[i] == out[k]) {
        out[n++] = pids[i];
      }
    }
  }
  return n;
}

/* The processes using the GPUs now, from FAKE_NVML_PROCS. */
static size_t procs_now(unsigned *pid, unsigned *sm, size_t cap) {
  const char *spec = getenv("FAKE_NVML_PROCS");
  char buf[512];
  snprintf(buf, sizeof buf, "%s", spec ? spec : "");
  size_t n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ";", &save); tok != NULL && n < cap;
       tok = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(tok, '=');
    unsigned util = eq ? (unsigned)atoi(eq + 1) : 0;
    if (eq == NULL || util == 0) {
      continue;
    }
    *eq = '\0';
    if (strcmp(tok, "children") == 0 || strcmp(tok, "tree") == 0) {
      size_t k = children(pid + n, cap - n, strcmp(tok, "tree") == 0);
      for (size_t i = 0; i < k; i++) {
        sm[n + i] = util;
      }
      n += k;
    } else {
      pid[n] = (unsigned)atoi(tok);
      sm[n++] = util;
    }
  }
  return n;
}

/* Like a driver, the fake samples the processes using the GPUs once per sample period and keeps
 * the last KEPT_PERIODS periods: here at every device call (the provider makes one every few
 * milliseconds), recording each period passed since the last call with the processes present
 * now that had started by the period's time (a driver never samples a process before it
 * exists: a late call must not stamp earlier periods with a newer child). A process that has
 * since ended keeps its recorded samples; one that started and ended between two calls has
 * none. */
typedef struct period_slot {
  unsigned long long k; /* the period, counted from nvmlInit_v2; 0: empty */
  unsigned n, pid[MAX_PROCS], sm[MAX_PROCS];
} period_slot;

static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;
static period_slot slots[KEPT_PERIODS]; /* under proc_lock */
static unsigned long long recorded_k;   /* the newest period recorded */

static unsigned long long sample_period_us(void) {
  const char *ms = getenv("FAKE_NVML_SAMPLE_MS");
  unsigned long long period = (unsigned long long)((ms ? atof(ms) : 100) * 1000);
  return period > 0 ? period : 100000;
}

static void procs_reset(void) {
  pthread_mutex_lock(&proc_lock);
  memset(slots, 0, sizeof slots);
  recorded_k = 0;
  pthread_mutex_unlock(&proc_lock);
}

static void procs_record(void) {
  if (getenv("FAKE_NVML_PROCS") == NULL) {
    return;
  }
  unsigned long long period = sample_period_us(), now = real_us();
  unsigned long long last = now > t0_real_us ? (now - t0_real_us) / period : 0;
  pthread_mutex_lock(&proc_lock);
  if (last > recorded_k) {
    unsigned long long first = recorded_k + 1;
    if (last >= KEPT_PERIODS && first < last - KEPT_PERIODS + 1) {
      first = last - KEPT_PERIODS + 1;
    }
    unsigned pid[MAX_PROCS], sm[MAX_PROCS];
    unsigned long long since[MAX_PROCS];
    size_t np = procs_now(pid, sm, MAX_PROCS);
    for (size_t i = 0; i < np; i++) {
      since[i] = start_real_us(pid[i]);
    }
    for (unsigned long long k = first; k <= last; k++) {
      period_slot *slot = &slots[k % KEPT_PERIODS];
      unsigned long long stamp = t0_real_us + k * period; /* as nvmlDeviceGetProcessUtilization */
      slot->k = k;
      slot->n = 0;
      for (size_t i = 0; i < np; i++) {
        if (since[i] <= stamp) {
          slot->pid[slot->n] = pid[i];
          slot->sm[slot->n++] = sm[i];
        }
      }
    }
    recorded_k = last;
  }
  pthread_mutex_unlock(&proc_lock);
}

/* Like the driver: the recorded samples newer than lastSeenTimeStamp, each stamped with the time
 * of its period; NOT_FOUND when there are none; with a NULL or short buffer,
 * INSUFFICIENT_SIZE and the count needed. */
EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                    nvmlProcessUtilizationSample_t *utilization,
                                                    unsigned int *processSamplesCount,
                                                    unsigned long long lastSeenTimeStamp) {
  if (atomic_load(&live) <= 0) {
    return NVML_ERROR_UNINITIALIZED;
  }
  if (processSamplesCount == NULL) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  nvmlReturn_t r = device_call(device);
  if (r != NVML_SUCCESS) {
    return r;
  }
  if (device->proc_rc != 0) {
    return device->proc_rc;
  }
  if (device->mig) {
    return NVML_ERROR_NOT_SUPPORTED;
  }
  unsigned long long period = sample_period_us();
  pthread_mutex_lock(&proc_lock);
  unsigned long long first =
      lastSeenTimeStamp >= t0_real_us ? (lastSeenTimeStamp - t0_real_us) / period + 1 : 1;
  unsigned need = 0;
  for (unsigned long long k = first; k <= recorded_k; k++) {
    const period_slot *slot = &slots[k % KEPT_PERIODS];
    need += slot->k == k ? slot->n : 0;
  }
  if (need == 0 || utilization == NULL || *processSamplesCount < need) {
    pthread_mutex_unlock(&proc_lock);
    if (need == 0) {
      return NVML_ERROR_NOT_FOUND;
    }
    *processSamplesCount = need;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  unsigned w = 0;
  for (unsigned long long k = first; k <= recorded_k; k++) {
    const period_slot *slot = &slots[k % KEPT_PERIODS];
    for (unsigned i = 0; slot->k == k && i < slot->n; i++) {
      nvmlProcessUtilizationSample_t *u = &utilization[w++];
      memset(u, 0, sizeof *u);
      u->pid = slot->pid[i];
      u->timeStamp = t0_real_us + k * period;
      u->smUtil = slot->sm[i];
      u->memUtil = slot->sm[i] / 2;
    }
  }
  pthread_mutex_unlock(&proc_lock);
  *processSamplesCount = w;
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

EXPORT long long fake_nvml_calls(void) {
  return atomic_load(&calls);
}

EXPORT void fake_nvml_hang_now(void) {
  atomic_store(&hang_all, true);
}

EXPORT void fake_nvml_release(void) {
  atomic_store(&released, true);
}

EXPORT int fake_nvml_hung(void) {
  return atomic_load(&hung);
}

EXPORT long long fake_nvml_last_energy_ns(void) {
  return atomic_load(&last_energy_ns);
}

EXPORT long long fake_nvml_first_lost_ns(unsigned index) {
  return index < n_devices ? atomic_load(&devices[index].first_lost_ns) : 0;
}

EXPORT long long fake_nvml_last_good_ns(unsigned index) {
  return index < n_devices ? atomic_load(&devices[index].last_good_ns) : 0;
}
