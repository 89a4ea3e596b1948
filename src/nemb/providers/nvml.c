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
 *      loaded (Volta and later), 64-bit, so it never wraps in practice. Where NVML serves the
 *      same counter as the field NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, it is read that way:
 *      a field value carries the CPU time NVML took it at (nvmlFieldValue_t.timestamp, us since
 *      1970), which places each counter update in time to within the reads' spacing instead of
 *      the whole driver call (a call waiting on the driver lock takes hundreds of us to tens of
 *      ms); stamps() hands those instants to the poller (poller.h);
 *   2. otherwise the field NVML_FI_DEV_POWER_INSTANT (milliwatts, current power) through
 *      nvmlDeviceGetFieldValues, integrated over the sampler's timestamps;
 *   3. otherwise nvmlDeviceGetPowerUsage (milliwatts), integrated the same way. What it returns
 *      depends on the architecture: on Ampere and newer (except GA100) it is the average over
 *      the last second, on older GPUs (and GA100) the instantaneous power (NVML API reference,
 *      nvmlDeviceGetPowerUsage); the domain's detail says which applies, judged from the
 *      device's name.
 * The choice is made once at open and stated in the domain's detail, so `codegreen info` shows
 * it. A GPU with none of the three is left out and listed (with the reason and, for
 * NVML_ERROR_NO_PERMISSION, the fix) by `codegreen info`.
 *
 * Only the GPUs the program may use are measured: CUDA_VISIBLE_DEVICES, else
 * NVIDIA_VISIBLE_DEVICES, else the configuration key providers.nvml.devices, each a
 * comma-separated list of NVML indices or UUIDs ("GPU-..."; a UUID prefix is enough, as CUDA
 * accepts). NVML numbers GPUs in PCI bus order, CUDA by default fastest first, so an index is
 * NVML's only when CUDA_DEVICE_ORDER=PCI_BUS_ID; UUIDs are unambiguous and recommended. A domain
 * is named gpuN after its NVML index; its detail holds the UUID and the PCI bus id, to match it to
 * cuda:N. A MIG instance ("MIG-...", see resolve_migs()) selects its GPU: NVML has no per-instance
 * energy, so with MIG the figure is the whole GPU's, which the detail and the report say.
 *
 * NVML calls take a driver lock and can block for tens of milliseconds, or never return on a hung
 * GPU, so the meter reads this provider on a thread of its own (cadence(), poller.h), every
 * providers.nvml.poll_ms (10 ms: peers poll at 10-100 Hz), and marks the GPUs failed when a read
 * runs past providers.nvml.deadline_ms. The energy counter's update period (10-100 ms depending
 * on the GPU) is measured at open, as peers do, for the update-edge model (edges.h).
 *
 * Per process: where the driver offers nvmlDeviceGetProcessUtilization (Maxwell and later, not in
 * MIG mode), the poller thread also reads every GPU's per-process utilisation samples every
 * providers.nvml.process_poll_ms (only the samples newer than the last one seen), keeps them
 * (gpu_share.h) and then walks the meter's process tree (proc_tree.h), so that they can be placed
 * by timestamp and process life when asked for (nemb_meter_gpu_usage_span(), whose gpu_flush()
 * asks this thread for one more read first). Where
 * the driver refuses (NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NO_PERMISSION, any other error), the
 * GPU has no per-process figures from then on and its usage says why. This path has been checked
 * against the fake NVML of the tests only, never against a real driver.
 *
 * CODEGREEN_SYSFS_ROOT substitutes a fixture tree for the machine; a GPU driver cannot live in
 * such a tree, so while it is set NVML is loaded only when CODEGREEN_NVML_LIB is set too. This
 * keeps fixture-based tests the same on machines with and without GPUs.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dl.h"
#include "edges.h"
#include "gpu_share.h"
#include "internal.h"
#include "proc_tree.h"
#include "provider.h"
#include "secure_env.h"

#define DEFAULT_LIB "libnvidia-ml.so.1"
#define NVML_UPDATE_NS 20000000ULL   /* NVML refreshes power and energy every 20-100 ms */
#define MEASURE_NS 250000000ULL      /* measuring the energy counter's update period at open, */
#define MEASURE_MAX_NS 1000000000ULL /* ... longer while not known to MEASURE_OK, up to this */
#define MEASURE_OK 0.025             /* (relative uncertainty) */
#define MEASURE_GAP_NS 1000000L      /* ... reading every GPU's counter about every 1 ms */
#define MEASURE_CHANGES 6            /* ... until each changed this often */
#define MEASURE_REL 0.01             /* ... and its period is known this well */
#define CONTINUOUS_NS 3000000ULL     /* a counter changing at (nearly) every 1 ms read counts */

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
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_GPU_IS_LOST = 15,
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
/* nvml.h "Energy Counter", field id 83: "Total energy consumption for the
 * GPU in mJ since the driver was last reloaded", the counter nvmlDeviceGetTotalEnergyConsumption
 * returns. */
#define NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION 83
#define NVML_DEVICE_NAME_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
#define NVML_DEVICE_MIG_ENABLE 1

typedef struct nvml_pci_info { /* nvmlPciInfo_t, as nvmlDeviceGetPciInfo_v3 fills it */
  char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvml_pci_info;

typedef union nvml_value {
  double dVal;
  int siVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  signed long long sllVal;
  unsigned short usVal;
} nvml_value;

/* nvmlFieldValue_t. NVML API reference, "nvmlFieldValue_t" (docs.nvidia.com/deploy/nvml-api/,
 * structnvmlFieldValue__t): timestamp is the "CPU Timestamp of this value in microseconds since
 * 1970", i.e. CLOCK_REALTIME when NVML took the value (the driver's, not the moment the GPU's
 * counter last advanced); latencyUsec "how long this field value took to update (in usec)
 * within NVML". */
typedef struct nvml_field_value {
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;   /* us since 1970 (CLOCK_REALTIME) */
  long long latencyUsec; /* us */
  int valueType;         /* nvmlValueType_t */
  int nvmlReturn;        /* nvmlReturn_t */
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
  nvml_return (*uuid)(nvml_device, char *, unsigned int);
  nvml_return (*pci_info)(nvml_device, nvml_pci_info *);
  nvml_return (*mig_mode)(nvml_device, unsigned int *, unsigned int *);
  nvml_return (*handle_by_uuid)(const char *, nvml_device *);
  nvml_return (*mig_parent)(nvml_device, nvml_device *);
  /* nvmlDeviceGetProcessUtilization(device, samples, count in/out, lastSeenTimeStamp): the
   * samples newer than lastSeenTimeStamp (microseconds), NVML_ERROR_NOT_FOUND when none, and
   * NVML_ERROR_INSUFFICIENT_SIZE (count set to what is needed) when the buffer is too small. */
  nvml_return (*process_utilization)(nvml_device, nemb__proc_sample *, unsigned int *,
                                     unsigned long long);
} nvml_api;

#define PROC_SAMPLES_FIRST 512      /* the per-process sample buffer's first size */
#define PROC_SAMPLES_MAX (1u << 20) /* and the most it grows to (1 Mi samples) */

/* ----- the provider ----- */

enum source { SRC_ENERGY, SRC_FIELD, SRC_USAGE };

typedef struct gpu {
  nvml_device dev;
  enum source src;
  bool stamped;      /* the counter is read as a field value, with the instant NVML took it */
  uint64_t stamp_ns; /* CLOCK_MONOTONIC instant of the latest value; 0 = not known */
  uint64_t last_mw;
  double energy_uj;   /* integrated energy, for the power sources */
  uint64_t last_t_ns; /* each GPU's own time base: a lost GPU must not freeze its neighbours */
  bool started;
  nemb__gpu_share share;           /* per-process utilisation, summed (gpu_share.h) */
  unsigned long long last_seen_us; /* the newest sample's timestamp, CLOCK_REALTIME us */
  bool procs_on;                   /* still reading per-process samples */
} gpu;

typedef struct nvml_state {
  void *lib;
  nvml_api api;
  bool initialised;
  size_t n;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  gpu gpus[NEMB__MAX_DOMAINS];
  size_t n_unused;
  nemb__unused unused[NEMB__MAX_UNUSED];
  uint64_t poll_ns, deadline_ns; /* the cadence of its own reading thread (cadence()) */
  uint64_t update_ns;            /* the energy counters' update period, measured at open */
  double update_rel;             /* ... known to within this fraction of it (0: the default) */
  uint64_t proc_poll_ns;         /* per-process samples read this often (poller thread) */
  uint64_t last_proc_ns;
  /* gpu_flush(): asks (flush_req) the poller thread for one more read, which it reports done
   * (flush_done); both under flush_lock, flush_cond signalled when done. */
  pthread_mutex_t flush_lock;
  pthread_cond_t flush_cond;
  unsigned flush_req, flush_done;
  bool flush_init;
  nemb__proc_sample *procs; /* the poller thread's buffer, procs_cap samples, grown as needed */
  unsigned int procs_cap;
} nvml_state;

static void note_unused(nvml_state *st, const char *name, const char *reason, const char *fix) {
  if (st->n_unused >= NEMB__MAX_UNUSED) {
    return;
  }
  nemb__unused *u = &st->unused[st->n_unused++];
  snprintf(u->name, sizeof u->name, "%s", name);
  snprintf(u->reason, sizeof u->reason, "%s", reason);
  snprintf(u->fix, sizeof u->fix, "%s", fix);
}

/* The list of GPUs the program may use, and where it came from; NULL when all may be used. */
static const char *visible_list(const nemb__provider_env *env, char *buf, size_t len,
                                const char **origin) {
  static const char *const vars[] = {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(vars); i++) {
    const char *v = getenv(vars[i]);
    if (v != NULL) {
      *origin = vars[i];
      snprintf(buf, len, "%s", v);
      return buf;
    }
  }
  if (env != NULL && env->cfg != NULL &&
      nemb_config_get_string(env->cfg, "providers.nvml.devices", buf, len) == 0 && buf[0]) {
    *origin = "providers.nvml.devices";
    return buf;
  }
  return NULL;
}

/* Whether GPU @p index with @p uuid is in the comma-separated @p list: an NVML index or a UUID
 * (or its prefix, as CUDA accepts). "all" lists every GPU; "none", "void" and "" none. */
static bool listed(const char *list, unsigned index, const char *uuid) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
    if (strcmp(tok, "all") == 0) {
      return true;
    }
    char *end;
    unsigned long v = strtoul(tok, &end, 10);
    if (end != tok && *end == '\0' && v == index) {
      return true;
    }
    if (uuid[0] != '\0' && strncmp(tok, "GPU-", 4) == 0 && strncmp(uuid, tok, strlen(tok)) == 0) {
      return true;
    }
  }
  return false;
}

/* Whether nvmlDeviceGetPowerUsage averages over a second on this GPU: Ampere and newer except
 * GA100 (A100, A30), judged from the product name (NVML API reference). */
static bool usage_is_averaged(const char *name) {
  static const char *const older[] = {"Tesla", "Quadro", "GTX",  "TITAN", "V100",  "P100",
                                      "T4",    "K80",    "A100", "A30",   "RTX 20"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(older); i++) {
    if (strstr(name, older[i]) != NULL) {
      return false;
    }
  }
  return true;
}

static const char *nvml_error(const nvml_state *st, nvml_return r) {
  const char *s = st->api.error_string ? st->api.error_string(r) : NULL;
  return s ? s : "unknown NVML error";
}

/* A MIG instance named in the visible list, and the UUID of the GPU it is a part of. */
typedef struct mig_pick {
  char mig[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  char parent_uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
} mig_pick;

#define MAX_MIG 16

/* The MIG instances in the comma-separated @p list: CUDA's "MIG-<uuid>" (found through
 * nvmlDeviceGetHandleByUUID and nvmlDeviceGetDeviceHandleFromMigDeviceHandle) or CUDA 11.0's
 * "MIG-GPU-<gpu uuid>/<gi>/<ci>" (the GPU is in the name). NVML counts energy per physical GPU,
 * never per instance, so an instance selects its whole GPU, and the domain says so. An instance
 * NVML does not know is listed by `codegreen info`. */
static size_t resolve_migs(nvml_state *st, const char *list, mig_pick *out, size_t cap) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", list);
  size_t n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", ", &save); tok != NULL && n < cap;
       tok = strtok_r(NULL, ", ", &save)) {
    if (strncmp(tok, "MIG-", 4) != 0) {
      continue;
    }
    mig_pick *p = &out[n];
    snprintf(p->mig, sizeof p->mig, "%s", tok);
    if (strncmp(tok + 4, "GPU-", 4) == 0) {
      snprintf(p->parent_uuid, sizeof p->parent_uuid, "%.*s", (int)strcspn(tok + 4, "/"), tok + 4);
      n++;
      continue;
    }
    nvml_device mig, parent;
    nvml_return r = NVML_ERROR_NOT_SUPPORTED;
    if (st->api.handle_by_uuid != NULL && st->api.mig_parent != NULL && st->api.uuid != NULL) {
      r = st->api.handle_by_uuid(tok, &mig);
      r = r == NVML_SUCCESS ? st->api.mig_parent(mig, &parent) : r;
      r = r == NVML_SUCCESS ? st->api.uuid(parent, p->parent_uuid, sizeof p->parent_uuid) : r;
    }
    if (r == NVML_SUCCESS) {
      n++;
      continue;
    }
    char reason[256];
    snprintf(reason, sizeof reason, "MIG instance %s: NVML cannot find its GPU: %s (%d)", tok,
             nvml_error(st, r), r);
    note_unused(st, tok, reason, "check the instance's UUID with `nvidia-smi -L`");
    nemb__log(NEMB_LOG_WARN, "nvml: %s", reason);
  }
  return n;
}

static void nvml_close(void *state) {
  nvml_state *st = state;
  if (st == NULL) {
    return;
  }
  for (size_t i = 0; i < st->n; i++) {
    nemb__gpu_share_destroy(&st->gpus[i].share);
  }
  if (st->flush_init) {
    pthread_mutex_destroy(&st->flush_lock);
    pthread_cond_destroy(&st->flush_cond);
  }
  if (st->initialised) {
    st->api.shutdown();
  }
  if (st->lib != NULL) {
    dlclose(st->lib);
  }
  free(st->procs);
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

/* CLOCK_REALTIME minus CLOCK_MONOTONIC now, in ns: from the closest of three monotonic pairs
 * around a realtime read (a thread preempted between the two reads would shift it). */
static int64_t realtime_offset_ns(void) {
  int64_t best = 0, best_gap = INT64_MAX;
  for (int k = 0; k < 3 && best_gap > 20000; k++) {
    struct timespec m0, rt, m1;
    clock_gettime(CLOCK_MONOTONIC, &m0);
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    int64_t a = (int64_t)m0.tv_sec * 1000000000 + m0.tv_nsec;
    int64_t b = (int64_t)m1.tv_sec * 1000000000 + m1.tv_nsec;
    if (b - a < best_gap) {
      best_gap = b - a;
      best = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - (a + (b - a) / 2);
    }
  }
  return best;
}

/* The energy counter as the field NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION: millijoules into *mj
 * and the CLOCK_MONOTONIC instant NVML took it into *at_ns (0 when NVML gives none). NVML stamps
 * a field with CLOCK_REALTIME in us (nvml_field_value above); the offset between the clocks is
 * taken just after the call, and a stamp outside [the call's start - 1 s, now] (a clock step) is
 * not used. Where the driver does not serve the field (older drivers) the counter is read with
 * nvmlDeviceGetTotalEnergyConsumption, its value known only to lie within the call. */
static nvml_return read_energy_field(const nvml_state *st, const gpu *g, unsigned long long *mj,
                                     uint64_t *at_ns) {
  nvml_field_value fv;
  memset(&fv, 0, sizeof fv);
  fv.fieldId = NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION;
  uint64_t t0 = nemb__now_ns();
  nvml_return r = st->api.field_values(g->dev, 1, &fv);
  int64_t offset = realtime_offset_ns();
  int64_t now_mono = (int64_t)nemb__now_ns();
  if (r == NVML_SUCCESS && fv.nvmlReturn != NVML_SUCCESS) {
    r = fv.nvmlReturn;
  }
  if (r != NVML_SUCCESS) {
    return r;
  }
  if (fv.valueType == NVML_VALUE_TYPE_UNSIGNED_LONG_LONG) {
    *mj = fv.value.ullVal;
  } else if (fv.valueType == NVML_VALUE_TYPE_UNSIGNED_LONG) {
    *mj = fv.value.ulVal;
  } else {
    return NVML_ERROR_NOT_SUPPORTED; /* not the counter as nvml.h describes it */
  }
  *at_ns = 0;
  int64_t at = fv.timestamp > 0 ? fv.timestamp * 1000 - offset : 0;
  if (at > 0 && at <= now_mono && (uint64_t)at + 1000000000u >= t0) {
    *at_ns = (uint64_t)at;
  }
  return NVML_SUCCESS;
}

/* Finds the best source a GPU supports; false when it has none. */
static bool choose_source(const nvml_state *st, gpu *g, char *detail, size_t len) {
  unsigned long long mj;
  if (st->api.total_energy != NULL && st->api.total_energy(g->dev, &mj) == NVML_SUCCESS) {
    g->src = SRC_ENERGY;
    uint64_t at = 0;
    g->stamped = st->api.field_values != NULL && read_energy_field(st, g, &mj, &at) == 0 && at;
    snprintf(detail, len, "%s",
             g->stamped ? "NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION (energy counter, mJ, timestamped)"
                        : "nvmlDeviceGetTotalEnergyConsumption (energy counter, mJ)");
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
    nemb__say(
        why, len,
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

/* The energy counters' update period, measured as peers do at open: every GPU's counter read
 * about every millisecond until each changed MEASURE_CHANGES times and its period is known to
 * MEASURE_REL (at most MEASURE_NS, or MEASURE_MAX_NS while it is not known to MEASURE_OK: a
 * slow counter seen through delayed reads); the slowest GPU's. Each change is bracketed by the last
 * read that showed the old value and the first that showed the new one (by the instants NVML
 * stamped them with, where it does), and nemb__edges_measure() counts the periods between
 * them: a read delayed past an update (a busy machine) shows two updates as one change, which
 * the mean of the gaps took for one long period. The update-edge model starts within 3 % of
 * this figure (edges.c), so it must be better than that. A counter that changes at (nearly)
 * every read is continuous for the update-edge model; none seen: NVML_UPDATE_NS. */
static uint64_t measure_update_ns(const nvml_state *st, double *rel_out) {
  typedef struct {
    uint64_t lo[NEMB__EDGES_MEASURE_MAX], hi[NEMB__EDGES_MEASURE_MAX];
    size_t n;
    uint64_t last_mj, prev_t;
    double rel; /* the period's relative uncertainty so far */
    bool have, done;
  } seen;
  seen *s = calloc(st->n, sizeof *s);
  size_t counters = 0;
  *rel_out = 0;
  for (size_t i = 0; i < st->n && s != NULL; i++) {
    counters += st->gpus[i].src == SRC_ENERGY;
    s[i].rel = INFINITY;
  }
  if (counters == 0 || s == NULL) {
    free(s);
    return NVML_UPDATE_NS;
  }
  uint64_t start = nemb__now_ns();
  for (uint64_t now = start; now - start < MEASURE_MAX_NS; now = nemb__now_ns()) {
    size_t done = 0;
    bool late = now - start >= MEASURE_NS;
    for (size_t i = 0; i < st->n; i++) {
      seen *g = &s[i];
      if (st->gpus[i].src != SRC_ENERGY || g->done) {
        done += g->done;
        continue;
      }
      if (late && g->rel <= MEASURE_OK) {
        g->done = true;
        done++;
        continue;
      }
      unsigned long long mj = 0;
      uint64_t t0 = nemb__now_ns(), at = 0;
      nvml_return r = st->gpus[i].stamped ? read_energy_field(st, &st->gpus[i], &mj, &at)
                                          : st->api.total_energy(st->gpus[i].dev, &mj);
      uint64_t t1 = nemb__now_ns();
      if (at != 0 && at <= t1 && (!g->have || at >= g->prev_t)) {
        t0 = t1 = at; /* the instant NVML took the value, not the whole call */
      }
      if (r != NVML_SUCCESS) {
        continue;
      }
      if (g->have && mj != g->last_mj && g->n < NEMB__EDGES_MEASURE_MAX) {
        g->lo[g->n] = g->prev_t;
        g->hi[g->n] = t1;
        g->n++;
        double p = nemb__edges_measure(g->lo, g->hi, g->n, &g->rel);
        g->done = g->n >= NEMB__EDGES_MEASURE_MAX ||
                  (g->n >= MEASURE_CHANGES && (g->rel <= MEASURE_REL || p < CONTINUOUS_NS));
      }
      g->have = true;
      g->last_mj = mj;
      g->prev_t = t0;
      done += g->done;
    }
    if (done == counters) {
      break;
    }
    struct timespec ts = {0, MEASURE_GAP_NS};
    nanosleep(&ts, NULL);
  }
  double period = 0, period_rel = 0;
  for (size_t i = 0; i < st->n; i++) {
    double rel;
    double p =
        st->gpus[i].src == SRC_ENERGY ? nemb__edges_measure(s[i].lo, s[i].hi, s[i].n, &rel) : 0;
    if (p > period) {
      period = p;
      period_rel = rel;
    }
  }
  free(s);
  if (!(period > 0)) {
    return NVML_UPDATE_NS;
  }
  /* Not pinned to 3 % within the time allowed: the update-edge model is told how far off the
   * figure may be (edges.h, nemb__edges_init_within), instead of trusting it to 3 %. */
  *rel_out = period < (double)CONTINUOUS_NS ? 0 : period_rel;
  return period < (double)CONTINUOUS_NS ? 1000u : (uint64_t)llround(period);
}

/* Prepares GPU @p g's per-process figures: none on a GPU in MIG mode (NVML gives no per-process
 * utilisation of the whole GPU there) or without nvmlDeviceGetProcessUtilization. Only samples
 * newer than now are read. */
static void procs_start(const nvml_state *st, gpu *g, bool mig) {
  nemb__gpu_share_init(&g->share);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  g->last_seen_us =
      (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u;
  g->procs_on = false;
  if (mig) {
    nemb__gpu_share_fail(&g->share, NEMB_ENOTSUP,
                         "MIG mode: NVML gives no per-process utilisation of the whole GPU");
  } else if (st->api.process_utilization == NULL) {
    nemb__gpu_share_fail(&g->share, NEMB_ENOTSUP,
                         "this NVML has no nvmlDeviceGetProcessUtilization (driver too old)");
  } else {
    g->procs_on = true;
  }
}

/* Reads GPU @p g's per-process samples newer than the last seen (poller thread). A refusal ends
 * the GPU's per-process figures, with the reason. */
static void procs_read(nvml_state *st, gpu *g) {
  unsigned int count = st->procs_cap;
  nvml_return r = st->procs != NULL
                      ? st->api.process_utilization(g->dev, st->procs, &count, g->last_seen_us)
                      : NVML_ERROR_INSUFFICIENT_SIZE;
  if (r == NVML_ERROR_NOT_FOUND) {
    return; /* no sample since the last seen: no process used the GPU meanwhile */
  }
  if (r == NVML_ERROR_INSUFFICIENT_SIZE) {
    /* More samples than the buffer holds (count says how many, or 0 if the driver did not say):
     * grow it and read again, so that none is lost; lastSeenTimeStamp has not moved. */
    unsigned int want = count > st->procs_cap ? count + count / 4 : st->procs_cap * 2;
    want = want < PROC_SAMPLES_FIRST ? PROC_SAMPLES_FIRST : want;
    want = want > PROC_SAMPLES_MAX ? PROC_SAMPLES_MAX : want;
    nemb__proc_sample *grown = want > st->procs_cap || st->procs == NULL
                                   ? realloc(st->procs, (size_t)want * sizeof *grown)
                                   : NULL;
    if (grown == NULL) {
      nemb__log(NEMB_LOG_WARN, "nvml: %u per-process samples at once, more than %u: skipped", count,
                st->procs_cap);
      return;
    }
    st->procs = grown;
    st->procs_cap = want;
    count = want;
    r = st->api.process_utilization(g->dev, st->procs, &count, g->last_seen_us);
    if (r == NVML_ERROR_NOT_FOUND || r == NVML_ERROR_INSUFFICIENT_SIZE) {
      return; /* none now, or still more: the next read tries again with the bigger buffer */
    }
  }
  if (r != NVML_SUCCESS) {
    char reason[192];
    snprintf(reason, sizeof reason, "nvmlDeviceGetProcessUtilization: %s (%d)%s", nvml_error(st, r),
             r,
             r == NVML_ERROR_NO_PERMISSION   ? ": this user may not see other users' processes"
             : r == NVML_ERROR_NOT_SUPPORTED ? ": this GPU or driver does not offer it"
                                             : "");
    nemb__gpu_share_fail(&g->share,
                         r == NVML_ERROR_NOT_SUPPORTED   ? NEMB_ENOTSUP
                         : r == NVML_ERROR_NO_PERMISSION ? NEMB_EACCES
                                                         : NEMB_EIO,
                         reason);
    g->procs_on = false;
    return;
  }
  count = count > st->procs_cap ? st->procs_cap : count;
  for (unsigned int i = 0; i < count; i++) {
    g->last_seen_us =
        st->procs[i].timeStamp > g->last_seen_us ? st->procs[i].timeStamp : g->last_seen_us;
  }
  nemb__gpu_share_add(&g->share, st->procs, count);
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
      nemb__say(
          why, why_len,
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
  pthread_mutex_init(&st->flush_lock, NULL);
  pthread_cond_init(&st->flush_cond, NULL);
  st->flush_init = true;
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
  bool ok = NEMB__DL_BIND(st->lib, a->init, "nvmlInit_v2") &&
            NEMB__DL_BIND(st->lib, a->shutdown, "nvmlShutdown") &&
            NEMB__DL_BIND(st->lib, a->device_count, "nvmlDeviceGetCount_v2") &&
            NEMB__DL_BIND(st->lib, a->device_handle, "nvmlDeviceGetHandleByIndex_v2");
  NEMB__DL_BIND(st->lib, a->error_string, "nvmlErrorString");
  NEMB__DL_BIND(st->lib, a->device_name, "nvmlDeviceGetName");
  NEMB__DL_BIND(st->lib, a->total_energy, "nvmlDeviceGetTotalEnergyConsumption");
  NEMB__DL_BIND(st->lib, a->field_values, "nvmlDeviceGetFieldValues");
  NEMB__DL_BIND(st->lib, a->power_usage, "nvmlDeviceGetPowerUsage");
  NEMB__DL_BIND(st->lib, a->uuid, "nvmlDeviceGetUUID");
  NEMB__DL_BIND(st->lib, a->pci_info, "nvmlDeviceGetPciInfo_v3");
  NEMB__DL_BIND(st->lib, a->mig_mode, "nvmlDeviceGetMigMode");
  NEMB__DL_BIND(st->lib, a->handle_by_uuid, "nvmlDeviceGetHandleByUUID");
  NEMB__DL_BIND(st->lib, a->mig_parent, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle");
  NEMB__DL_BIND(st->lib, a->process_utilization, "nvmlDeviceGetProcessUtilization");
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
  unsigned skipped = 0, hidden = 0, denied = 0;
  char vis_buf[1024];
  const char *vis_origin = NULL;
  const char *visible = visible_list(env, vis_buf, sizeof vis_buf, &vis_origin);
  mig_pick migs[MAX_MIG];
  size_t n_migs = visible != NULL ? resolve_migs(st, visible, migs, MAX_MIG) : 0;
  for (unsigned i = 0; i < count && st->n < NEMB__MAX_DOMAINS; i++) {
    gpu *g = &st->gpus[st->n];
    nemb__domain *d = &st->domains[st->n];
    memset(d, 0, sizeof *d);
    r = a->device_handle(i, &g->dev);
    char name[NVML_DEVICE_NAME_BUFFER_SIZE] = "";
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
    if (r == NVML_SUCCESS && a->device_name != NULL &&
        a->device_name(g->dev, name, sizeof name) != NVML_SUCCESS) {
      name[0] = '\0';
    }
    if (r == NVML_SUCCESS && a->uuid != NULL &&
        a->uuid(g->dev, uuid, sizeof uuid) != NVML_SUCCESS) {
      uuid[0] = '\0';
    }
    char dname[NEMB__NAME_MAX];
    snprintf(dname, sizeof dname, "gpu%u", i);
    const char *via_mig = NULL; /* the MIG instance that selects this GPU, if any */
    for (size_t k = 0; k < n_migs && uuid[0] != '\0'; k++) {
      if (strcmp(migs[k].parent_uuid, uuid) == 0) {
        via_mig = migs[k].mig;
      }
    }
    if (visible != NULL && !listed(visible, i, uuid) && via_mig == NULL) {
      hidden++; /* not this program's GPU */
      continue;
    }
    char how[80];
    nvml_return why_r = r;
    if (r == NVML_SUCCESS && !choose_source(st, g, how, sizeof how)) {
      unsigned long long mj;
      why_r = st->api.total_energy ? st->api.total_energy(g->dev, &mj) : NVML_ERROR_NOT_SUPPORTED;
      why_r = why_r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : why_r;
    }
    if (why_r != NVML_SUCCESS) {
      char reason[256];
      snprintf(reason, sizeof reason, "GPU %u (%s): %s (%d)", i, name[0] ? name : "unnamed",
               why_r == NVML_ERROR_NOT_SUPPORTED ? "reports neither energy nor power"
                                                 : nvml_error(st, why_r),
               why_r);
      bool perm = why_r == NVML_ERROR_NO_PERMISSION;
      denied += perm;
      note_unused(st, dname, reason,
                  perm ? "this user may not query the GPU: run as a member of the group owning "
                         "/dev/nvidia* (often video), or ask the administrator to allow it "
                         "(nvidia-smi -acp UNRESTRICTED allows some queries to all users)"
                       : "");
      nemb__log(NEMB_LOG_WARN, "nvml: %s", reason);
      skipped++;
      continue;
    }
    snprintf(d->name, sizeof d->name, "%s", dname);
    d->kind = NEMB__KIND_GPU;
    d->top_level = true;
    d->in_total = true;
    d->range_uj = 0;
    d->method = g->src == SRC_ENERGY ? NEMB__METHOD_COUNTER : NEMB__METHOD_INTEGRATED;
    nvml_pci_info pci;
    memset(&pci, 0, sizeof pci);
    if (a->pci_info == NULL || a->pci_info(g->dev, &pci) != NVML_SUCCESS) {
      pci.busId[0] = '\0';
    }
    pci.busId[sizeof pci.busId - 1] = '\0';
    unsigned mig = 0, mig_pending = 0;
    bool mig_on = a->mig_mode != NULL && a->mig_mode(g->dev, &mig, &mig_pending) == NVML_SUCCESS &&
                  mig == NVML_DEVICE_MIG_ENABLE;
    const char *usage_note = g->src != SRC_USAGE       ? ""
                             : usage_is_averaged(name) ? ", a 1 s average"
                                                       : ", instantaneous";
    snprintf(d->detail, sizeof d->detail, "%.24s %.40s %.16s: %.28s%s%s",
             name[0] ? name : "NVIDIA GPU", uuid, pci.busId,
             g->src != SRC_ENERGY ? "power integrated"
             : g->stamped         ? "energy counter, timestamped"
                                  : "energy counter",
             usage_note,
             via_mig != NULL ? "; a MIG instance chosen: the whole GPU's energy"
             : mig_on        ? "; MIG on: the whole GPU's energy"
                             : "");
    d->whole_device = via_mig != NULL || mig_on;
    procs_start(st, g, mig_on || via_mig != NULL);
    if (via_mig != NULL) {
      nemb__log(NEMB_LOG_INFO,
                "nvml: %s selects MIG instance %s of GPU %u: NVML counts energy per physical "
                "GPU, so %s is the whole GPU's energy, the other instances' work included",
                vis_origin, via_mig, i, dname);
    }
    st->n++;
  }
  if (st->n == 0) {
    if (hidden > 0 && hidden + skipped == count) {
      nemb__say(why, why_len, "%s lists none of the %u GPU%s NVML finds", vis_origin, count,
                count == 1 ? "" : "s");
    } else if (denied > 0) {
      nemb__say(
          why, why_len,
          "NVML finds %u GPU%s but this user may not query %s (NVML_ERROR_NO_PERMISSION): run as "
          "a member of the group owning /dev/nvidia* (often video), or as root",
          count, count == 1 ? "" : "s", denied == 1 ? "it" : "them");
      nvml_close(st);
      return NEMB_EACCES;
    } else {
      nemb__say(why, why_len, "NVML finds %u GPU%s but none reports energy or power", count,
                count == 1 ? "" : "s");
    }
    nvml_close(st);
    return NEMB_ENOTSUP;
  }
  double poll_ms = 10, deadline_ms = 1000, proc_ms = 100;
  if (env != NULL && env->cfg != NULL) {
    nemb_config_get_double(env->cfg, "providers.nvml.poll_ms", &poll_ms);
    nemb_config_get_double(env->cfg, "providers.nvml.deadline_ms", &deadline_ms);
    nemb_config_get_double(env->cfg, "providers.nvml.process_poll_ms", &proc_ms);
  }
  st->proc_poll_ns = (uint64_t)((proc_ms < 10 ? 10 : proc_ms) * 1e6);
  st->poll_ns = (uint64_t)((poll_ms < 10 ? 10 : poll_ms) * 1e6);
  st->deadline_ns = (uint64_t)((deadline_ms < 10 ? 10 : deadline_ms) * 1e6);
  st->update_ns = measure_update_ns(st, &st->update_rel);
  nemb__log(NEMB_LOG_INFO, "nvml: energy counters update every %.1f ms (measured at open%s%.1f %%)",
            (double)st->update_ns / 1e6, st->update_rel > 0 ? ", only to " : ", to 2.5 % or better",
            st->update_rel > 0 ? st->update_rel * 100 : 0.0);
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
  int first_rc = 0;
  size_t ok = 0;
  for (size_t i = 0; i < st->n; i++) {
    gpu *g = &st->gpus[i];
    nvml_return r;
    uint64_t v = 0;
    if (g->src == SRC_ENERGY) {
      unsigned long long mj = 0;
      g->stamp_ns = 0;
      r = g->stamped ? read_energy_field(st, g, &mj, &g->stamp_ns)
                     : st->api.total_energy(g->dev, &mj);
      v = (uint64_t)mj * 1000u;
    } else {
      r = read_power(st, g, &v);
    }
    if (r != NVML_SUCCESS) {
      /* This GPU only (NVML_ERROR_GPU_IS_LOST on one of eight leaves seven to measure). */
      raw_uj[i] = NEMB__RAW_INVALID;
      first_rc = first_rc ? first_rc : r == NVML_ERROR_NO_PERMISSION ? NEMB_EACCES : NEMB_EIO;
      continue;
    }
    ok++;
    if (g->src == SRC_ENERGY) {
      raw_uj[i] = v;
      continue;
    }
    if (g->started && t_ns > g->last_t_ns) {
      /* mW * s = mJ; the mean of the two readings (trapezoid rule), times 1000 for uJ. */
      double dt_s = (double)(t_ns - g->last_t_ns) / 1e9;
      g->energy_uj += ((double)g->last_mw + (double)v) / 2 * dt_s * 1000.0;
    }
    g->last_mw = v;
    raw_uj[i] = (uint64_t)g->energy_uj;
    if (!g->started || t_ns > g->last_t_ns) {
      g->last_t_ns = t_ns;
    }
    g->started = true;
  }
  pthread_mutex_lock(&st->flush_lock);
  unsigned req = st->flush_req;
  pthread_mutex_unlock(&st->flush_lock);
  if (t_ns - st->last_proc_ns >= st->proc_poll_ns || req != st->flush_done) {
    st->last_proc_ns = t_ns;
    bool any = false;
    for (size_t i = 0; i < st->n; i++) {
      if (st->gpus[i].procs_on && raw_uj[i] != NEMB__RAW_INVALID) {
        procs_read(st, &st->gpus[i]);
        any = true;
      }
    }
    if (any) { /* after the samples: a process in them that is still there is seen */
      nemb__proc_tree_walk(nemb__realtime_us());
    }
    pthread_mutex_lock(&st->flush_lock);
    st->flush_done = req;
    pthread_cond_broadcast(&st->flush_cond);
    pthread_mutex_unlock(&st->flush_lock);
  }
  return ok > 0 || st->n == 0 ? 0 : first_rc;
}

static void nvml_gpu_usage(void *state, size_t dom, uint64_t from_us, uint64_t to_us,
                           nemb_gpu_usage *out) {
  nvml_state *st = state;
  nemb__gpu_share_get(&st->gpus[dom].share, from_us, to_us, NULL, NULL, out);
}

static void nvml_gpu_forget(void *state, size_t dom, uint64_t before_us) {
  nvml_state *st = state;
  nemb__gpu_share_forget(&st->gpus[dom].share, before_us);
}

/* Asks the poller thread for one more read and waits for it (at most twice the deadline plus a
 * poll): a read that does not come (the meter stopped, the driver hung) leaves the tail out. */
static void nvml_gpu_flush(void *state) {
  nvml_state *st = state;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  uint64_t wait_ns = 2 * st->deadline_ns + st->poll_ns;
  until.tv_sec += (time_t)(wait_ns / 1000000000u);
  until.tv_nsec += (long)(wait_ns % 1000000000u);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&st->flush_lock);
  unsigned want = ++st->flush_req;
  while (st->flush_done != want &&
         pthread_cond_timedwait(&st->flush_cond, &st->flush_lock, &until) == 0) {
  }
  pthread_mutex_unlock(&st->flush_lock);
}

static void nvml_stamps(void *state, uint64_t *at_ns) {
  const nvml_state *st = state;
  for (size_t i = 0; i < st->n; i++) {
    at_ns[i] = st->gpus[i].stamped ? st->gpus[i].stamp_ns : 0;
  }
}

static size_t nvml_unused(void *state, const nemb__unused **out) {
  const nvml_state *st = state;
  *out = st->unused;
  return st->n_unused;
}

static uint64_t nvml_update_interval_ns(void *state) {
  const nvml_state *st = state;
  return st->update_ns;
}

static double nvml_update_interval_rel(void *state) {
  const nvml_state *st = state;
  return st->update_rel;
}

/* NVML calls take a driver lock and can block for tens of milliseconds, or forever on a hung
 * GPU: NVML is read on a thread of its own (poller.h), at most at 100 Hz as peers do, never on
 * the 1 ms sampler's. */
static void nvml_cadence(void *state, uint64_t *every_ns, uint64_t *deadline_ns) {
  const nvml_state *st = state;
  *every_ns = st->poll_ns;
  *deadline_ns = st->deadline_ns;
}

const struct nemb__provider_ops nemb__provider_nvml = {
    .name = "nvml",
    .measured = true,
    .open = nvml_open,
    .domains = nvml_domains,
    .read = nvml_read,
    .update_interval_ns = nvml_update_interval_ns,
    .update_interval_rel = nvml_update_interval_rel,
    .unused = nvml_unused,
    .cadence = nvml_cadence,
    .gpu_usage = nvml_gpu_usage,
    .gpu_flush = nvml_gpu_flush,
    .gpu_forget = nvml_gpu_forget,
    .stamps = nvml_stamps,
    .close = nvml_close,
};
