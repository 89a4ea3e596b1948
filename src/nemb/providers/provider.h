/*
 * provider.h - the interface every energy provider implements.
 *
 * A provider turns one kind of hardware interface into cumulative energy readings for a fixed
 * list of domains. Each provider lives in its own file and exports exactly one
 * `const struct nemb__provider_ops nemb__provider_<name>`; everything else in the file is static.
 *
 * The meter calls, in order: open() once, domains() once, read() many times from the sampler
 * thread only (or from the provider's own poller thread, see cadence()), close() once. A
 * provider needs no locking: its state is used by one thread at a time. read() is the hot path:
 * no allocation, no opening of files, no stdio.
 */
#ifndef NEMB_PROVIDER_H
#define NEMB_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nemb.h"

#define NEMB__NAME_MAX 32
#define NEMB__MAX_INCLUDES 8
#define NEMB__MAX_DOMAINS 64

/* The raw value of a domain read() could not read (see read()). */
#define NEMB__RAW_INVALID UINT64_MAX

/* Domain kinds, as written into the report's domain_topology. */
#define NEMB__KIND_PACKAGE "cpu_package"
#define NEMB__KIND_NESTED "nested"
#define NEMB__KIND_DRAM "dram"
#define NEMB__KIND_PLATFORM "platform"
#define NEMB__KIND_GPU "gpu"
#define NEMB__KIND_ESTIMATE "estimate"

/* How a domain's energy is obtained (nemb__domain.method). A counter the hardware keeps is the
 * best there is; power sampled and integrated over the sampler's timestamps misses what happens
 * between two readings, so `codegreen info` says which one each domain is. */
#define NEMB__METHOD_COUNTER "energy_counter"
#define NEMB__METHOD_INTEGRATED "integrated_power"
#define NEMB__DETAIL_MAX 192

typedef struct nemb__domain {
  char name[NEMB__NAME_MAX]; /* unique within the meter: "package-0", "core", "dram-1" */
  const char *kind;          /* one of NEMB__KIND_*, a static string */
  bool top_level;            /* contained in no other domain */
  bool in_total;             /* added into energy_j (packages, DRAM, GPUs; not psys, not core) */
  char includes[NEMB__MAX_INCLUDES][NEMB__NAME_MAX]; /* domains this one already contains */
  size_t n_includes;
  uint64_t range_uj;     /* the raw reading wraps to 0 after this value; 0 = never wraps */
  uint64_t max_power_uw; /* a ceiling on plausible power, used to read often enough that a wrap
                            cannot be missed; 0 = unknown (the sampler assumes 2 kW) */
  /* How the energy is obtained, for `codegreen info`. Providers that leave these zero read an
   * energy counter (or, when not measured, a model) and need not say more. */
  const char *method;            /* NEMB__METHOD_*, or NULL for the provider's default */
  char detail[NEMB__DETAIL_MAX]; /* e.g. "MSR 0x611 on CPU 0", "power1_average of hwmon2" */
  /* The counter is a whole device's that others share: a GPU in MIG mode, where the program has
   * an instance of it and NVML counts energy per physical GPU only. The report says so. */
  bool whole_device;
} nemb__domain;

/* A domain a provider found but cannot use, while it uses the others (one bad zone does not
 * refuse its provider): for `codegreen info`. */
typedef struct nemb__unused {
  char name[NEMB__NAME_MAX]; /* the domain it would have been, or the zone/device */
  char reason[256];          /* what is wrong */
  char fix[256];             /* what to do about it; "" when nothing can be done */
} nemb__unused;

#define NEMB__MAX_UNUSED 16

/* What open() gets: the configuration (never NULL) and nothing else; paths come from
 * nemb__path(), which applies CODEGREEN_SYSFS_ROOT. */
typedef struct nemb__provider_env {
  const nemb_config *cfg;
} nemb__provider_env;

/* RAPL's energy counters (powercap, perf, msr) change about once a millisecond (Intel SDM vol. 3B,
 * 15.10: "updated approximately every 1 ms"; many parts use 1/1024 s). */
#define NEMB__RAPL_UPDATE_NS 1000000ULL

struct nemb__provider_ops {
  const char *name; /* as used in CODEGREEN_PROVIDERS and in each domain's "source" */
  bool measured;    /* false for models that estimate instead of measure */
  bool simulated;   /* true for the simulated device: used only when named explicitly */
  /* The command that lets this user read the provider's counters, which every "permission"
   * status in `codegreen info` names; NULL when codegreen has none. */
  const char *permission_fix;
  /* true when hypervisors keep this interface from guests (CPU energy counters), so `info` says
   * so when it is absent in a virtual machine; false where it is often passed through (GPUs). */
  bool hidden_in_vm;

  /* Finds the hardware and prepares to read it. On failure returns a negative code and writes one
   * or more plain sentences to @p why saying exactly what is missing and how to fix it:
   *   NEMB_ENOTSUP  the interface is absent on this machine (or disabled in the config);
   *   NEMB_EACCES   present but not readable by this user;
   *   NEMB_ECONFIG  the provider's configuration is wrong;
   *   others        anything else (-errno, NEMB_EPARSE).
   * On success *state is the provider's, to be passed back and finally closed. */
  int (*open)(const nemb__provider_env *env, void **state, char *why, size_t why_len);

  /* The domains, in the order read() fills values. Valid until close(). */
  size_t (*domains)(void *state, const nemb__domain **out);

  /* Reads every domain's raw counter (microjoules, possibly wrapped at range_uj) into @p raw_uj.
   * @p t_ns is the sampler's CLOCK_MONOTONIC timestamp for this reading: hardware providers
   * ignore it; the simulated device and the estimate model use it as "now".
   * Each domain fails on its own: a domain that could not be read gets NEMB__RAW_INVALID and the
   * others their values (one lost GPU or unreadable zone must not freeze its neighbours).
   * Returns 0 when at least one domain was read, else the negative code of the failure; the
   * sampler then treats every domain as unread. */
  int (*read)(void *state, uint64_t t_ns, uint64_t *raw_uj);

  /* How often the underlying counter changes, in nanoseconds (RAPL: about 1 ms). */
  uint64_t (*update_interval_ns)(void *state);

  /* Optional (NULL: within 3 %, edges.c): how far update_interval_ns() may be from the truth,
   * relative to it, where the provider knows (NVML measures its period at open). */
  double (*update_interval_rel)(void *state);

  /* Optional (NULL: none): the domains found but left out, each with its reason and fix. Valid
   * until close(). */
  size_t (*unused)(void *state, const nemb__unused **out);

  /* Optional (NULL: read() never blocks, and the sampler calls it at its own interval). A
   * provider whose calls can block (a driver lock; a hung GPU never answers) is read on a thread
   * of its own (poller.h): every *every_ns on average, and a read still running *deadline_ns
   * after it began marks the provider's domains failed (NEMB_ETIMEDOUT) while the other
   * providers go on being read. read() is then called from that thread only. */
  void (*cadence)(void *state, uint64_t *every_ns, uint64_t *deadline_ns);

  /* Optional (NULL: none): the per-process utilisation of domain @p dom (an index into
   * domains()) over the samples stamped from @p from_us to @p to_us (CLOCK_REALTIME), for
   * attributing GPU energy (gpu_share.h). Called from any thread while read() runs on another: the
   * provider guards these figures itself. */
  void (*gpu_usage)(void *state, size_t dom, uint64_t from_us, uint64_t to_us, nemb_gpu_usage *out);
  /* Optional, with gpu_usage: one more read of the per-process figures now, done by the thread
   * that reads the provider; returns when it is done or after twice the deadline. */
  void (*gpu_flush)(void *state);
  /* Optional, with gpu_usage: forget domain @p dom's samples stamped before @p before_us. */
  void (*gpu_forget)(void *state, size_t dom, uint64_t before_us);
  /* Optional (NULL: none): after a read(), the CLOCK_MONOTONIC instant (ns) at which each
   * domain's value was taken, where the source says (NVML's field values carry one); 0 for a
   * domain whose instant is not known, which is then somewhere within the read() call. Called
   * from the thread that called read(), right after it. */
  void (*stamps)(void *state, uint64_t *at_ns);

  void (*close)(void *state);
};

/* The providers this build has, in selection order (real ones first), NULL-terminated: registry.c.
 * `sim` is in the list but never chosen automatically; `estimate` is only chosen when no real
 * provider opens. */
extern const struct nemb__provider_ops *const nemb__providers[];

/* Finds a provider by name; NULL if unknown. */
const struct nemb__provider_ops *nemb__provider_find(const char *name);

/* Writes the comma-separated names of every known provider into @p buf. */
void nemb__provider_names(char *buf, size_t len);

/* Adds one name to a domain's includes list; false when the list is full. */
bool nemb__domain_add_include(nemb__domain *d, const char *name);

#endif /* NEMB_PROVIDER_H */
