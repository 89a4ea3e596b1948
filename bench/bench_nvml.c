/*
 * bench_nvml.c - what a real NVIDIA driver does with the calls codegreen's NVML provider makes:
 * how long each call takes and how often the GPU's energy counter actually changes.
 *
 *   bench_nvml [-n CALLS] [-s SECONDS] [-d INDEX] [-l LIBRARY]
 *
 * It loads the driver's library itself (dlopen "libnvidia-ml.so.1", or -l), independently of
 * libcodegreen-nemb, so its figures can check the provider's:
 *   1. per-call cost (CLOCK_MONOTONIC around each call; median, p99, max over CALLS calls) of
 *      nvmlDeviceGetTotalEnergyConsumption, nvmlDeviceGetFieldValues for the same counter
 *      (NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, field 83, the way the provider reads it) and
 *      nvmlDeviceGetPowerUsage;
 *   2. the counter's update period: the counter is read back to back for SECONDS, and the time
 *      between two reads that saw it change is one period (its resolution is one call, item 1);
 *      the median, p5 and p95 of those periods, the median step in mJ, and the mean power the
 *      counter gives over the window beside the mean of the instant readings taken meanwhile.
 * Whatever the GPU is doing meanwhile is what is measured: run a load beside it to see the
 * counter under load. Figures, never assertions; no test runs this (CI has no GPU).
 *
 * Signatures and field ids: NVIDIA's nvml.h (NVML API Reference, docs.nvidia.com/deploy/nvml-api).
 * nvmlDeviceGetTotalEnergyConsumption: mJ since the driver was last reloaded (Volta and newer).
 * nvmlDeviceGetPowerUsage: mW; on Ampere and newer (except GA100) a one-second average.
 */

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

typedef void *nvml_device;
typedef int nvml_return;

/* nvmlFieldValue_t (nvml.h): fieldId, scopeId, timestamp (us since 1970), latencyUsec,
 * valueType, nvmlReturn, value (a union of 8 bytes). */
typedef struct field_value {
  unsigned int field_id;
  unsigned int scope_id;
  long long timestamp_us;
  long long latency_us;
  int value_type;
  int nvml_return;
  union {
    double d;
    unsigned long long ull;
  } value;
} field_value;

#define FIELD_TOTAL_ENERGY 83 /* NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, mJ */

static struct {
  nvml_return (*init)(void);
  nvml_return (*shutdown)(void);
  const char *(*error_string)(nvml_return);
  nvml_return (*count)(unsigned int *);
  nvml_return (*handle)(unsigned int, nvml_device *);
  nvml_return (*name)(nvml_device, char *, unsigned int);
  nvml_return (*driver)(char *, unsigned int);
  nvml_return (*energy)(nvml_device, unsigned long long *);
  nvml_return (*fields)(nvml_device, int, field_value *);
  nvml_return (*power)(nvml_device, unsigned int *);
} api;

static int bind(void *lib, const char *symbol, void *slot) {
  void *f = dlsym(lib, symbol);
  if (f == NULL) {
    fprintf(stderr, "bench_nvml: %s is missing from the library\n", symbol);
    return -1;
  }
  memcpy(slot, &f, sizeof f);
  return 0;
}

static int load(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "bench_nvml: cannot load %s: %s\n", path, dlerror());
    return -1;
  }
  int bad = 0;
  bad |= bind(lib, "nvmlInit_v2", &api.init);
  bad |= bind(lib, "nvmlShutdown", &api.shutdown);
  bad |= bind(lib, "nvmlErrorString", &api.error_string);
  bad |= bind(lib, "nvmlDeviceGetCount_v2", &api.count);
  bad |= bind(lib, "nvmlDeviceGetHandleByIndex_v2", &api.handle);
  bad |= bind(lib, "nvmlDeviceGetName", &api.name);
  bad |= bind(lib, "nvmlDeviceGetTotalEnergyConsumption", &api.energy);
  bad |= bind(lib, "nvmlDeviceGetFieldValues", &api.fields);
  bad |= bind(lib, "nvmlDeviceGetPowerUsage", &api.power);
  void *driver = dlsym(lib, "nvmlSystemGetDriverVersion"); /* optional: a name only */
  memcpy(&api.driver, &driver, sizeof driver);
  return bad ? -1 : 0;
}

/* This thread's CPU time in nanoseconds: whether a driver call waits or spins. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sorts @p v (n wall times in ns) and prints its median, p99 and max in microseconds, and the
 * CPU time the n calls took (@p cpu_ns) per call and as a share of their wall time. */
static void print_cost(const char *what, double *v, size_t n, uint64_t cpu_ns) {
  double wall = 0;
  for (size_t i = 0; i < n; i++) {
    wall += v[i];
  }
  qsort(v, n, sizeof *v, bench_cmp_double);
  printf("call %-38s median %8.2f us  p99 %8.2f us  max %8.2f us  CPU %8.2f us/call (%3.0f %% "
         "of its time)  (%zu calls)\n",
         what, v[n / 2] / 1e3, v[(size_t)((double)n * 0.99)] / 1e3, v[n - 1] / 1e3,
         (double)cpu_ns / (double)n / 1e3, wall > 0 ? (double)cpu_ns / wall * 100 : 0.0, n);
}

static int read_field(nvml_device dev, unsigned long long *mj) {
  field_value fv;
  memset(&fv, 0, sizeof fv);
  fv.field_id = FIELD_TOTAL_ENERGY;
  nvml_return r = api.fields(dev, 1, &fv);
  if (r != 0 || fv.nvml_return != 0)
    return -1;
  *mj = fv.value.ull;
  return 0;
}

/* Item 1: the cost of each call, @p n times. */
static int measure_costs(nvml_device dev, size_t n) {
  double *v = calloc(n, sizeof *v);
  if (v == NULL)
    return -1;
  unsigned long long mj;
  unsigned int mw;
  uint64_t c0 = thread_cpu_ns();
  for (size_t i = 0; i < n; i++) {
    uint64_t t0 = bench_now_ns();
    nvml_return r = api.energy(dev, &mj);
    v[i] = (double)(bench_now_ns() - t0);
    if (r != 0) {
      printf("nvmlDeviceGetTotalEnergyConsumption: %s (%d)\n", api.error_string(r), r);
      free(v);
      return -1;
    }
  }
  print_cost("nvmlDeviceGetTotalEnergyConsumption", v, n, thread_cpu_ns() - c0);
  c0 = thread_cpu_ns();
  for (size_t i = 0; i < n; i++) {
    uint64_t t0 = bench_now_ns();
    int r = read_field(dev, &mj);
    v[i] = (double)(bench_now_ns() - t0);
    if (r != 0) {
      printf("nvmlDeviceGetFieldValues(field 83) refused\n");
      break;
    }
    if (i == n - 1)
      print_cost("nvmlDeviceGetFieldValues(field 83)", v, n, thread_cpu_ns() - c0);
  }
  c0 = thread_cpu_ns();
  for (size_t i = 0; i < n; i++) {
    uint64_t t0 = bench_now_ns();
    nvml_return r = api.power(dev, &mw);
    v[i] = (double)(bench_now_ns() - t0);
    if (r != 0) {
      printf("nvmlDeviceGetPowerUsage: %s (%d)\n", api.error_string(r), r);
      break;
    }
    if (i == n - 1)
      print_cost("nvmlDeviceGetPowerUsage", v, n, thread_cpu_ns() - c0);
  }
  free(v);
  return 0;
}

/* Item 2: the counter read back to back for @p seconds; a change seen between two reads ends
 * one update period. */
static int measure_period(nvml_device dev, double seconds) {
  size_t cap = 1 << 16, n = 0;
  double *period = calloc(cap, sizeof *period), *step = calloc(cap, sizeof *step);
  unsigned long long first, last, now;
  if (period == NULL || step == NULL || api.energy(dev, &first) != 0) {
    free(period);
    free(step);
    return -1;
  }
  last = first;
  uint64_t start = bench_now_ns(), end = start + (uint64_t)(seconds * 1e9);
  uint64_t last_change = 0, t = start, reads = 0;
  double power_sum = 0;
  size_t power_n = 0;
  uint64_t next_power = start;
  while (t < end) {
    if (api.energy(dev, &now) != 0)
      break;
    t = bench_now_ns();
    reads++;
    if (now != last) {
      if (last_change != 0 && n < cap) {
        period[n] = (double)(t - last_change);
        step[n] = (double)(now - last);
        n++;
      }
      last_change = t;
      last = now;
    }
    if (t >= next_power) { /* the instant reading every 10 ms, for the comparison */
      unsigned int mw;
      if (api.power(dev, &mw) == 0) {
        power_sum += mw / 1e3;
        power_n++;
      }
      next_power += 10000000ull;
    }
  }
  double span = (double)(t - start) / 1e9;
  printf("counter read back to back for %.3f s: %llu reads, %zu update periods seen\n", span,
         (unsigned long long)reads, n);
  if (n == 0) {
    printf("the counter never changed twice: no update period to report\n");
  } else {
    qsort(period, n, sizeof *period, bench_cmp_double);
    qsort(step, n, sizeof *step, bench_cmp_double);
    printf("update period median %.3f ms  p5 %.3f ms  p95 %.3f ms  min %.3f ms  max %.3f ms\n",
           period[n / 2] / 1e6, period[n / 20] / 1e6, period[n - 1 - n / 20] / 1e6, period[0] / 1e6,
           period[n - 1] / 1e6);
    printf("step median %.0f mJ  p5 %.0f mJ  p95 %.0f mJ\n", step[n / 2], step[n / 20],
           step[n - 1 - n / 20]);
  }
  printf("mean power over the window: counter %.2f W, nvmlDeviceGetPowerUsage %.2f W (%zu "
         "readings)\n",
         (double)(last - first) / 1e3 / span, power_n ? power_sum / (double)power_n : 0.0, power_n);
  free(period);
  free(step);
  return 0;
}

int main(int argc, char **argv) {
  size_t calls = 2000;
  double seconds = 2.0;
  unsigned int index = 0;
  const char *path = "libnvidia-ml.so.1";
  int opt;
  while ((opt = getopt(argc, argv, "n:s:d:l:")) != -1) {
    if (opt == 'n')
      calls = (size_t)strtoul(optarg, NULL, 10);
    else if (opt == 's')
      seconds = strtod(optarg, NULL);
    else if (opt == 'd')
      index = (unsigned int)strtoul(optarg, NULL, 10);
    else if (opt == 'l')
      path = optarg;
    else {
      fprintf(stderr, "usage: bench_nvml [-n CALLS] [-s SECONDS] [-d INDEX] [-l LIBRARY]\n");
      return 2;
    }
  }
  if (calls == 0 || seconds <= 0) {
    fprintf(stderr, "bench_nvml: -n and -s must be positive\n");
    return 2;
  }
  if (load(path) != 0)
    return 1;
  nvml_return r = api.init();
  if (r != 0) {
    fprintf(stderr, "bench_nvml: nvmlInit_v2: %s (%d)\n", api.error_string(r), r);
    return 1;
  }
  unsigned int count = 0;
  nvml_device dev;
  char name[96] = "?", driver[80] = "?";
  api.count(&count);
  if (index >= count || api.handle(index, &dev) != 0) {
    fprintf(stderr, "bench_nvml: no GPU %u (%u found)\n", index, count);
    api.shutdown();
    return 1;
  }
  api.name(dev, name, sizeof name);
  if (api.driver != NULL)
    api.driver(driver, sizeof driver);
  printf("GPU %u of %u: %s, driver %s\n", index, count, name, driver);
  int rc = measure_costs(dev, calls) != 0 || measure_period(dev, seconds) != 0;
  api.shutdown();
  return rc;
}
