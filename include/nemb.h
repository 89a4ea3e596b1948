/*
 * nemb.h - the public C API of libcodegreen-nemb, the codegreen measurement library.
 *
 * The library turns the machine's energy counters (Intel and AMD RAPL through powercap, perf_event
 * or MSRs, hwmon sensors, NVIDIA GPUs through NVML; a simulated device for tests; where no counter
 * exists, a clearly labelled CPU-time estimate) into a stream of timestamped cumulative-energy
 * samples, and attributes them to code: sessions with nested per-thread tasks and checkpoints,
 * reports (JSON, CSV), plots, comparisons and pushes to Prometheus. The sections below follow that
 * order; ARCHITECTURE.md at the root of the source tree says which file holds each part.
 *
 * Lifecycle:
 *   1. Load a configuration with nemb_config_load() (or pass NULL wherever a config is taken to
 *      use the standard search order and built-in defaults).
 *   2. Create a meter with nemb_meter_create(). This chooses and opens the providers, and fixes
 *      the list of domains (package-0, core, dram, ...) for the meter's lifetime.
 *   3. Start the sampler thread with nemb_meter_start(). It appends one sample per
 *      coordinator.measurement_interval_ms: a CLOCK_MONOTONIC timestamp and, per domain, the
 *      energy in microjoules accumulated since the start (counter wraparound already undone).
 *   4. Read samples from any thread with nemb_meter_sample_count() and nemb_meter_sample(),
 *      while the sampler runs or after it stopped.
 *   5. Stop with nemb_meter_stop(), which takes one last sample, and free everything with
 *      nemb_meter_destroy() and nemb_config_destroy().
 * Most programs use a session instead (nemb_session_begin(), tasks, nemb_session_end()), which
 * runs these steps itself and builds the report.
 *
 * Conventions. Unless otherwise stated: pointer arguments must be non-NULL; functions that can
 * fail return 0 on success or a negative NEMB_E* code; after a failure, nemb_last_error() gives a
 * sentence that says what went wrong and, where the library knows, how to fix it. Energy is an
 * unsigned 64-bit count of microjoules, time an unsigned 64-bit count of nanoseconds of
 * CLOCK_MONOTONIC. Strings returned as `const char *` belong to the library.
 *
 * Thread safety is stated with each function. "Any thread" means safe to call concurrently with
 * every other function of the same object except its destroy.
 */
#ifndef NEMB_H
#define NEMB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NEMB_EXTERN __attribute__((visibility("default")))
#else
#define NEMB_EXTERN
#endif

#if defined(NEMB_ALLOW_DEPRECATED) || !(defined(__GNUC__) || defined(__clang__))
#define NEMB_DEPRECATED(msg)
#else
#define NEMB_DEPRECATED(msg) __attribute__((deprecated(msg)))
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------------------------- */

#define NEMB_VERSION_MAJOR 0
#define NEMB_VERSION_MINOR 1
#define NEMB_VERSION_PATCH 0
#define NEMB_VERSION_HEX                                                                           \
  ((NEMB_VERSION_MAJOR << 16) | (NEMB_VERSION_MINOR << 8) | NEMB_VERSION_PATCH)

/* The ABI generation that Python and Java fronts check when they load the library. */
#define NEMB_ABI_VERSION 3

/** @return NEMB_ABI_VERSION of the library actually loaded. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_abi_version(void);

/** @return NEMB_VERSION_HEX of the library actually loaded. Any thread. Since 0.1. */
NEMB_EXTERN unsigned nemb_version(void);

/** @return the version as "MAJOR.MINOR.PATCH", a static string. Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_version_string(void);

/* ---------------------------------------------------------------------------------------------
 * Errors
 *
 * System errors are negative errno values; errors that belong to energy measurement sit below
 * -4000, outside the errno range. The table is the single source of the enum, of
 * nemb_strerror() and of nemb_err_name().
 * ------------------------------------------------------------------------------------------- */

#define NEMB_ERRNO_MAP(XX)                                                                         \
  XX(EINVAL, -EINVAL, "invalid argument")                                                          \
  XX(ENOMEM, -ENOMEM, "out of memory")                                                             \
  XX(EACCES, -EACCES, "permission denied")                                                         \
  XX(ENOENT, -ENOENT, "no such file or directory")                                                 \
  XX(EIO, -EIO, "input/output error")                                                              \
  XX(ERANGE, -ERANGE, "value out of range")                                                        \
  XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                          \
  XX(ENOSPC, -ENOSPC, "no space left on device")                                                   \
  XX(EISDIR, -EISDIR, "is a directory")                                                            \
  XX(ENOTDIR, -ENOTDIR, "not a directory")                                                         \
  XX(EROFS, -EROFS, "read-only file system")                                                       \
  XX(EFBIG, -EFBIG, "file too large")                                                              \
  XX(EDQUOT, -EDQUOT, "disk quota exceeded")                                                       \
  XX(ENAMETOOLONG, -ENAMETOOLONG, "file name too long")                                            \
  XX(ENOPROVIDER, -4001, "no energy provider could be opened on this machine")                     \
  XX(EUNKNOWNPROV, -4002, "unknown provider name")                                                 \
  XX(ENOTSUP, -4003, "not supported on this machine")                                              \
  XX(ECONFIG, -4004, "invalid configuration")                                                      \
  XX(ESTATE, -4005, "operation not valid in the current state")                                    \
  XX(EFULL, -4006, "sample store is full")                                                         \
  XX(EPARSE, -4007, "malformed value read from a counter")                                         \
  XX(ETIMEDOUT, -ETIMEDOUT, "timed out: a call into the driver did not return in time")

typedef enum nemb_errno {
#define NEMB__ERR_ENUM(name, value, text) NEMB_##name = (value),
  NEMB_ERRNO_MAP(NEMB__ERR_ENUM)
#undef NEMB__ERR_ENUM
      NEMB_OK = 0
} nemb_errno;

/** @param err a return value of this library.
 *  @return a static, human-readable description ("unknown error" for codes not in the map).
 *  Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_strerror(int err);

/** @param err a return value of this library.
 *  @return the code's name without prefix ("EACCES", "ENOPROVIDER"), a static string.
 *  Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_err_name(int err);

/** @return the detailed message of the last failure in the calling thread: what failed, on which
 *  file or key, and how to fix it where known. Empty string if nothing failed yet. The pointer
 *  stays valid until the next library call in the same thread. Any thread (thread-local).
 *  Since 0.1. */
NEMB_EXTERN const char *nemb_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Logging. The library prints nothing; messages go to the callback, if one is set.
 * ------------------------------------------------------------------------------------------- */

typedef enum nemb_log_level {
  NEMB_LOG_ERROR = 1,
  NEMB_LOG_WARN = 2,
  NEMB_LOG_INFO = 3,
  NEMB_LOG_DEBUG = 4
} nemb_log_level;

/** Receives one message, without trailing newline. Called from whichever thread logged,
 *  including the sampler thread, so it must be thread-safe and must not call back into a meter. */
typedef void (*nemb_log_fn)(nemb_log_level level, const char *message, void *user);

/** Routes messages up to @p max_level to @p fn (NULL switches logging off, the default).
 *  @param fn the callback, or NULL.
 *  @param user passed unchanged to @p fn.
 *  @param max_level the most verbose level delivered.
 *  Call before creating meters: changing it while a sampler runs is not synchronised. Since 0.1. */
NEMB_EXTERN void nemb_set_log_callback(nemb_log_fn fn, void *user, nemb_log_level max_level);

/* ---------------------------------------------------------------------------------------------
 * Configuration (config.json)
 *
 * Search order when no path is given: $CODEGREEN_CONFIG, $XDG_CONFIG_HOME/codegreen/config.json
 * (or ~/.config/codegreen/config.json), /etc/codegreen/config.json, then built-in defaults.
 * Keys the library reads are listed in README.md; unknown keys are ignored so that one file can
 * serve several codegreen versions. Values are checked against their allowed range at load.
 * ------------------------------------------------------------------------------------------- */

typedef struct nemb_config nemb_config;

/** Loads and validates a configuration.
 *  @param path a config.json to read, or NULL for the search order above. A named path that
 *         does not exist is an error; in the search order, missing files are skipped.
 *  @param out receives a new config owned by the caller (free with nemb_config_destroy()).
 *  @return 0; NEMB_ECONFIG for malformed JSON (the message names file, line and column) or a
 *          value out of range (the message names the key and the allowed range); NEMB_ENOENT or
 *          NEMB_EACCES when @p path cannot be read. In a privileged process (AT_SECURE: file
 *          capabilities, set-user-ID) $CODEGREEN_CONFIG is ignored and @p path must be a regular
 *          file owned by root that no one else can write, else NEMB_EACCES.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_config_load(const char *path, nemb_config **out);

/** Like nemb_config_load() but from JSON text in memory.
 *  @param json the document.
 *  @param origin a label for messages and for nemb_config_origin(), e.g. "test"; may be NULL.
 *  @param out receives a new config owned by the caller.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_config_from_string(const char *json, const char *origin, nemb_config **out);

/** Frees a config. Accepts NULL. Meters created from it keep their own copy of what they need,
 *  so a config may be destroyed while meters built from it live on. Since 0.1. */
NEMB_EXTERN void nemb_config_destroy(nemb_config *cfg);

/** @return where the config came from: a file path, or "built-in defaults". Owned by @p cfg.
 *  Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_config_origin(const nemb_config *cfg);

/** Reads a number by dotted key, e.g. "coordinator.measurement_interval_ms". Keys the library
 *  knows fall back to their documented default when the file does not set them.
 *  @param out receives the value.
 *  @return 0; -ENOENT when the key is neither set nor known; NEMB_ECONFIG when it is not a number.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_config_get_double(const nemb_config *cfg, const char *key, double *out);

/** Reads a boolean by dotted key; same rules as nemb_config_get_double(). Since 0.1. */
NEMB_EXTERN int nemb_config_get_bool(const nemb_config *cfg, const char *key, int *out);

/** Reads a string by dotted key into @p buf with snprintf semantics (always NUL-terminated when
 *  @p len > 0); same rules as nemb_config_get_double(). @return -ERANGE when truncated.
 *  Since 0.1. */
NEMB_EXTERN int nemb_config_get_string(const nemb_config *cfg, const char *key, char *buf,
                                       size_t len);

/* ---------------------------------------------------------------------------------------------
 * Meters: providers + sampler + sample store
 * ------------------------------------------------------------------------------------------- */

typedef struct nemb_meter nemb_meter;

/** What one energy domain is. Filled by nemb_meter_domain(); the strings belong to the meter and
 *  stay valid until nemb_meter_destroy(). */
typedef struct nemb_domain_info {
  const char *name;   /* "package-0", "core", "uncore", "dram", "psys", "cpu-estimate", ... */
  const char *kind;   /* "cpu_package", "nested", "dram", "platform", "gpu", "estimate" */
  const char *source; /* the provider: "powercap", "sim", "estimate", ... */
  int top_level;      /* 1 if no other domain contains this one */
  int in_total;       /* 1 if this domain's energy is added into energy_j totals */
  int measured;       /* 1 for a hardware (or simulated hardware) counter, 0 for an estimate */
  size_t n_includes;  /* how many names includes[] holds */
  const char *const *includes; /* names of domains whose energy this one already contains */
  uint64_t range_uj; /* the raw counter wraps after this many microjoules; 0 if it never does */
} nemb_domain_info;

/** How the sampler has behaved so far. */
typedef struct nemb_sampler_stats {
  uint64_t samples;          /* samples stored */
  uint64_t reads;            /* counter reads, including reads between stored samples that
                                guard against wraparound */
  uint64_t late_wakeups;     /* wake-ups later than half an interval after their deadline */
  uint64_t missed_deadlines; /* deadlines skipped because the thread woke a whole interval late */
  uint64_t worst_lateness_ns;
  uint64_t mean_lateness_ns;
  uint64_t read_errors;    /* failed provider reads (the sample repeats the last value) */
  uint64_t dropped_at_cap; /* samples not stored (out of memory; at its cap the store coarsens) */
  uint64_t capacity;       /* the cap: coordinator.max_samples */
  uint64_t interval_ns;    /* the current measurement interval */
  int running;             /* 1 while the sampler thread runs */
  /* The update-edge model and the counters' health. */
  uint64_t probes;            /* extra reads that bracket a counter's updates (learning, checks) */
  uint64_t same_update;       /* deadlines whose read showed the update already stored */
  uint64_t rejected_readings; /* readings rejected as physically implausible (glitches) */
  uint64_t counter_resets;    /* counters that went back and carried on from the new value */
  uint64_t ambiguous_gaps; /* gaps between reads long enough to hide an unknown number of wraps */
  uint64_t coarsened;      /* times the store halved its resolution to stay within its cap */
} nemb_sampler_stats;

/** Chooses and opens providers and prepares (but does not start) the sampler.
 *
 *  Selection: if $CODEGREEN_PROVIDERS or providers.list is set, exactly those providers, each of
 *  which must open. Otherwise every real provider that opens (perf, powercap, msr, hwmon, nvml,
 *  in that order of preference, each domain counted once), plus the estimate provider when no
 *  real provider measures a CPU package, unless providers.estimate.enabled is false.
 *
 *  @param cfg the configuration, or NULL to load it by the search order.
 *  @param out receives a new meter owned by the caller (free with nemb_meter_destroy()).
 *  @return 0; NEMB_ENOPROVIDER when nothing can measure (nemb_last_error() says, per provider,
 *          why); NEMB_EUNKNOWNPROV for a forced name that does not exist; a provider's error
 *          (for example -EACCES) when a forced provider fails to open; NEMB_ECONFIG.
 *  Call from one controlling thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_create(const nemb_config *cfg, nemb_meter **out);

/** Stops the sampler if it runs, closes the providers and frees the meter. Accepts NULL.
 *  No other call on the meter may be in progress. Since 0.1. */
NEMB_EXTERN void nemb_meter_destroy(nemb_meter *m);

/** @return the number of domains, fixed for the meter's lifetime. Any thread. Since 0.1. */
NEMB_EXTERN size_t nemb_meter_domain_count(const nemb_meter *m);

/** Describes domain @p index (0 <= index < nemb_meter_domain_count()).
 *  @return 0 or NEMB_EINVAL. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_domain(const nemb_meter *m, size_t index, nemb_domain_info *out);

/** The provenance of the meter's figures, the one classification every front uses (the report's
 *  meta.energy_source): "measured" (hardware counters), "simulated" (the sim provider; a
 *  simulation, never to be called measured), "estimated" (a model from CPU time; wins over
 *  "simulated"), or "none" for a NULL meter. Static strings. Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_meter_energy_source(const nemb_meter *m);

/** The words every front prints for a provenance word of nemb_meter_energy_source() (or of a
 *  report's meta.energy_source): "measured" for "measured", "ESTIMATED from CPU time, not
 *  measured", "SIMULATED device, not hardware", "NOT MEASURED: no energy backend", and
 *  "unknown" for NULL (a report that does not say). An unknown word reads as "measured" only if
 *  it is "measured"; any other reads "unknown". Static strings. Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_energy_source_words(const char *source);

/** @return 1 if any domain of the meter is an estimate rather than a measurement. Any thread.
 *  Since 0.1. */
NEMB_EXTERN int nemb_meter_is_estimated(const nemb_meter *m);

/** Starts the sampler thread. It stores the first sample (all zeros) at once, then one per
 *  interval. A meter is started at most once.
 *  @return 0; NEMB_ESTATE if it was started before; a negative errno if the thread cannot start.
 *  Controlling thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_start(nemb_meter *m);

/** Takes a final sample, stops the sampler promptly (it does not wait for the next tick) and
 *  joins it. Samples stay readable. @return 0 or NEMB_ESTATE if the sampler is not running.
 *  Controlling thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_stop(nemb_meter *m);

/** The sampler's interval range, milliseconds, inclusive: the one statement of it, read by
 *  coordinator.measurement_interval_ms, nemb_set_measurement_interval_ms(),
 *  nemb_session_options.sample_interval_ms and every front's --interval-ms. */
#define NEMB_INTERVAL_MS_MIN 1
#define NEMB_INTERVAL_MS_MAX 60000

/** Changes the sampler's interval; the next deadline uses it. This writes the very setting that
 *  coordinator.measurement_interval_ms initialises; there is no other copy.
 *  @param ms NEMB_INTERVAL_MS_MIN to NEMB_INTERVAL_MS_MAX.
 *  @return 0 or NEMB_ERANGE. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_set_measurement_interval_ms(nemb_meter *m, unsigned ms);

/** @return the current interval in milliseconds. Any thread. Since 0.1. */
NEMB_EXTERN unsigned nemb_measurement_interval_ms(const nemb_meter *m);

/** @return how many samples are stored. Samples below this index never change. Any thread,
 *  never blocks the sampler. Since 0.1. */
NEMB_EXTERN size_t nemb_meter_sample_count(const nemb_meter *m);

/** Copies sample @p index.
 *  @param t_ns receives its CLOCK_MONOTONIC time.
 *  @param energy_uj receives @p n values: per domain, in nemb_meter_domain() order, microjoules
 *         since the sampler started.
 *  @param n the capacity of @p energy_uj; must be at least nemb_meter_domain_count().
 *  @return 0; NEMB_EINVAL for an index not yet stored or a short array. Any thread, never blocks
 *  the sampler. Since 0.1. */
NEMB_EXTERN int nemb_meter_sample(const nemb_meter *m, size_t index, uint64_t *t_ns,
                                  uint64_t *energy_uj, size_t n);

/** Copies the most recent reading, which may be newer than the last stored sample (the sampler
 *  reads between samples to guard against wraparound, and keeps reading when the store is full).
 *  Same parameters as nemb_meter_sample(). @return 0; NEMB_ESTATE before the first reading.
 *  Any thread, lock-free. Since 0.1. */
NEMB_EXTERN int nemb_meter_latest(const nemb_meter *m, uint64_t *t_ns, uint64_t *energy_uj,
                                  size_t n);

/** Copies the sampler's statistics. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_stats(const nemb_meter *m, nemb_sampler_stats *out);

/** What the GPU driver says about the processes using a GPU domain, for attributing part of its
 *  energy to a program (`codegreen run`). Filled by nemb_meter_gpu_usage(). The figures are sums
 *  of NVML's per-process utilisation samples (nvmlDeviceGetProcessUtilization, NVML API
 *  reference, "Device Queries"): each sample is one process's SM (3D/compute) utilisation in
 *  percent over one of the driver's sample periods, which are of equal length, so a sum of smUtil
 *  is proportional to SM-time; each is stamped with the CPU time at which the driver recorded it
 *  (microseconds; taken as CLOCK_REALTIME). "Own" samples are those of the meter's process and
 *  its descendants while they lived: every descendant seen by the library's walks of the process
 *  tree (every providers.nvml.process_poll_ms, through /proc), or reported by
 *  nemb_descendant_started()/nemb_descendant_ended(), is remembered with its life, so a process
 *  that ended before its samples were read still counts, and a sample of a reused pid after the
 *  descendant's end does not. A descendant that lived less than one walk period and was reaped
 *  by a parent other than the program is never seen. Utilisation is a time-share proxy:
 *  own_sm / all_sm is an attribution estimate, never a measurement of energy. */
typedef struct nemb_gpu_usage {
  int status;       /* 0: per-process figures are read; else why none (reason): NEMB_ENOTSUP
                       (not offered: no such NVML call, NVML_ERROR_NOT_SUPPORTED, MIG mode, a
                       domain that is not an NVML GPU), NEMB_EACCES (NVML_ERROR_NO_PERMISSION),
                       NEMB_EIO (any other NVML error) */
  char method[32];  /* "nvml_process_utilization" when status is 0, else "" */
  char reason[192]; /* when status is not 0: why, in words */
  double own_sm;    /* since the meter started: sum of smUtil (percent) over own samples */
  double all_sm;    /* the same over every process's samples */
  uint64_t samples; /* samples read in the span, every process */
  uint64_t own_samples;
  uint64_t outside_samples; /* samples read (and not forgotten) stamped outside the span */
  uint64_t dropped_samples; /* samples not kept (over 2^20 per GPU): in no figure */
} nemb_gpu_usage;

/** The per-process utilisation of GPU domain @p index so far (cumulative: take the difference of
 *  two calls for a span). The figures are read on the GPU provider's own thread every
 *  providers.nvml.process_poll_ms, so they lag the GPU by up to that long plus the driver's
 *  sample period.
 *  @return 0 with *out filled (out->status says whether there are figures); NEMB_EINVAL for an
 *  index out of range. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_gpu_usage(const nemb_meter *m, size_t index, nemb_gpu_usage *out);

/** Like nemb_meter_gpu_usage(), over the samples stamped from @p t0_ns to @p t1_ns
 *  (CLOCK_MONOTONIC, nemb_now_ns(); converted to CLOCK_REALTIME once, at the call). First asks
 *  the GPU provider's thread for one more read of the samples and the process tree (waiting up
 *  to twice providers.nvml.deadline_ms), so that a span that just ended has its tail.
 *  @return 0 or NEMB_EINVAL as nemb_meter_gpu_usage(). Any thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_gpu_usage_span(const nemb_meter *m, size_t index, uint64_t t0_ns,
                                          uint64_t t1_ns, nemb_gpu_usage *out);

/** Forgets GPU domain @p index's kept samples stamped before @p t_ns (CLOCK_MONOTONIC), once no
 *  span that old will be asked for. Any thread. Since 0.1. */
NEMB_EXTERN void nemb_meter_gpu_forget(const nemb_meter *m, size_t index, uint64_t t_ns);

/** Tell the library that descendant @p pid has started (call right after fork()) or has ended
 *  (call when reaping it: a program that is its children's subreaper knows when each it reaps
 *  ended), for placing GPU samples (nemb_gpu_usage). Any thread. Since 0.1. */
NEMB_EXTERN void nemb_descendant_started(pid_t pid);
NEMB_EXTERN void nemb_descendant_ended(pid_t pid);

/** One domain's counter health, the per-domain share of nemb_sampler_stats' update-edge fields. */
typedef struct nemb_domain_stats {
  uint64_t rejected_readings; /* readings rejected as physically implausible (glitches) */
  uint64_t counter_resets;    /* times the counter went back and carried on from the new value */
  uint64_t ambiguous_gaps; /* gaps between reads long enough to hide an unknown number of wraps */
} nemb_domain_stats;

/** Copies domain @p index's counter health into @p out. The figures belong to the sampler
 *  thread: they are filled once the sampler has stopped (all zero before).
 *  @return 0; NEMB_EINVAL for an index out of range. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_meter_domain_stats(const nemb_meter *m, size_t index, nemb_domain_stats *out);

/** @return the current CLOCK_MONOTONIC time in nanoseconds, the clock of every sample.
 *  Any thread. Since 0.1. */
NEMB_EXTERN uint64_t nemb_now_ns(void);

/* ---------------------------------------------------------------------------------------------
 * Sessions, tasks and checkpoints
 *
 * A session measures a span of a program: it owns a meter, records tasks (named, nested spans,
 * one stack per thread) and checkpoints (function enter/exit marks from instrumented code), and at
 * its end builds the report: the JSON envelope of the reference (meta, tasks, totals), or CSV.
 *
 * Recording is cheap: a task start/stop or a checkpoint takes a CLOCK_MONOTONIC timestamp and
 * writes it into the calling thread's own records, with no lock shared with the sampler, no I/O
 * and no allocation in the steady state. Energy is computed afterwards by interpolating the
 * sampler's samples at those timestamps.
 *
 * One session is active per process at a time. If no energy provider can be opened, the session
 * still works (tasks, timings) and its report says measurement_quality "no_backend" with zero
 * energy: measuring must never break the program being measured.
 * ------------------------------------------------------------------------------------------- */

typedef struct nemb_session nemb_session;

typedef enum nemb_output_format {
  NEMB_FORMAT_AUTO = 0, /* from the name: ".csv" is CSV, ".json" JSON (each also ".zst", any
                           case), an existing device or FIFO JSON; any other name is NEMB_EINVAL
                           (at nemb_session_begin for output_file, before any work) */
  NEMB_FORMAT_JSON = 1,
  NEMB_FORMAT_CSV = 2,
  NEMB_FORMAT_NONE = 3 /* write no file */
} nemb_output_format;

/** Options of nemb_session_begin(). Initialise with nemb_session_options_init() (or
 *  NEMB_SESSION_OPTIONS_INIT) and set what differs; the strings are copied by begin. */
typedef struct nemb_session_options {
  const char *name;        /* session_name in the report; NULL writes null (as CLI runs do);
                            * "" is NEMB_EINVAL */
  const char *output_file; /* NULL means codegreen_<pid>.json in the working directory (the
                              process's later default-named sessions: codegreen_<pid>_N.json,
                              N = 2, 3, ..., so that none overwrites another) */
  nemb_output_format output_format;
  int save_to_file;            /* 0: write nothing, whatever the format */
  int record_time_series;      /* 1: per-task samples and noise statistics in the report */
  unsigned sample_interval_ms; /* 0: coordinator.measurement_interval_ms from the config */
  size_t buffer_samples;       /* 0: coordinator.max_samples; else the sample store's cap */
  const char *python_version;  /* meta.python_version; NULL writes null (not run from Python) */
  const char *const *argv;     /* meta.argv; NULL reads this process's command line */
  size_t argc;
  const nemb_config *config; /* NULL: the config search order */
  int exclusive; /* 1 (default): the one active session of the process. 0: a session that may
                    run beside it, as the instrumenter's runtime does beside a user's Session;
                    it has its own sampler. Since 0.1. */
} nemb_session_options;

#define NEMB_SESSION_OPTIONS_INIT                                                                  \
  { NULL, NULL, NEMB_FORMAT_AUTO, 1, 0, 0, 0, NULL, NULL, 0, NULL, 1 }

/** Fills @p opts with the defaults above. Since 0.1. */
NEMB_EXTERN void nemb_session_options_init(nemb_session_options *opts);

/** Begins a session: creates its meter and starts sampling.
 *  @param opts the options, or NULL for defaults.
 *  @param out receives the session, owned by the caller (nemb_session_destroy()).
 *  @return 0 (also when no provider could be opened: see the section comment); NEMB_ESTATE when
 *          another exclusive session is active in this process (only for an exclusive one);
 *          NEMB_EINVAL for a bad option; NEMB_ECONFIG; the error the report's write would meet
 *          (NEMB_EACCES, NEMB_EROFS, NEMB_EISDIR, ...) when its destination cannot be written
 *          as things stand, so the work is not done for nothing (a missing directory is
 *          allowed: the program may create it before the end).
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_session_begin(const nemb_session_options *opts, nemb_session **out);

/** Starts a task in the calling thread, nested in the thread's innermost open task if any.
 *  @param name the task's name (copied on first use, then reused); not empty.
 *  @return 0; NEMB_EINVAL for a NULL or empty name; NEMB_ESTATE after the session ended;
 *          NEMB_ERANGE beyond 256 nested tasks.
 *  Any thread; each thread has its own stack. Since 0.1. */
NEMB_EXTERN int nemb_task_start(nemb_session *s, const char *name);

/** Stops the calling thread's innermost open task.
 *  @param name the name it must have, or NULL to stop whatever is innermost.
 *  @return 0; NEMB_ESTATE if this thread has no open task or the session ended; NEMB_EINVAL if
 *          @p name is not the innermost task (the message names the innermost one, and nothing is
 *          stopped). Any thread. Since 0.1. */
NEMB_EXTERN int nemb_task_stop(nemb_session *s, const char *name);

/** Opens a task outside the calling thread's stack, for a front whose units of work interleave
 *  in one thread (Python's asyncio tasks: each keeps its own open tasks, in a context variable,
 *  and a task spans its awaits while other asyncio tasks of the thread start and stop theirs).
 *  The task is recorded as nemb_task_start()'s are (same report row, same energy over its span),
 *  with the parent and depth given here rather than the thread's innermost task; it never
 *  changes the thread's stack, and nemb_task_start() tasks never nest in it.
 *  @param name   the task's name; not empty.
 *  @param parent the enclosing task's name, or NULL: the task nests in the calling thread's
 *                innermost open task (top level when there is none).
 *  @param depth  with @p parent, the task's depth (1 .. 255); ignored without one.
 *  @param id     receives the task's id for nemb_task_close().
 *  @param depth_out receives the depth the task was given (for its own children), or NULL.
 *  @return 0; NEMB_EINVAL for a NULL or empty name or parent, or a NULL @p id; NEMB_ERANGE for
 *          a depth out of range; NEMB_ESTATE after the session ended; NEMB_ENOMEM.
 *  Any thread; the task is the calling thread's (a task open at the end is closed there, with
 *  "closed_at_end": true). nemb_session_task_info()'s parent_index is the latest task of the
 *  parent's name started before it at depth - 1 in its thread. Since 0.1. */
NEMB_EXTERN int nemb_task_open(nemb_session *s, const char *name, const char *parent,
                               uint32_t depth, uint64_t *id, uint32_t *depth_out);

/** Closes task @p id of nemb_task_open(), in any order.
 *  @return 0; NEMB_EINVAL when no task with that id is open in the calling thread (closed
 *          already, or opened by another thread); NEMB_ESTATE after the session ended;
 *          NEMB_ENOMEM. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_task_close(nemb_session *s, uint64_t id);

/** The innermost open task of the calling thread, or NULL. The string lives as long as @p s.
 *  Any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_task_current(nemb_session *s);

/** Records a checkpoint from instrumented code. Each exit is paired with the latest unpaired
 *  enter of the same name in the same thread, so recursion and threads pair correctly; the pair
 *  gets an invocation number (the reference's "#inv_N").
 *  @param checkpoint_id the instrumentation point's id (kept in the per-invocation detail).
 *  @param name the function's name.
 *  @param type "enter" or "exit".
 *  @param line the source line, or 0.
 *  @param context free text such as the file name; may be NULL.
 *  @return 0; NEMB_EINVAL for another type; NEMB_ESTATE after the session ended.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_checkpoint(nemb_session *s, const char *checkpoint_id, const char *name,
                                const char *type, int line, const char *context);

/** Registers a function once so the hot path can pass a number instead of strings.
 *  @param id receives the function's id, the same for the same (name, context, line).
 *  @return 0, NEMB_ENOMEM or NEMB_ERANGE (too many functions). Any thread. Since 0.1. */
NEMB_EXTERN int nemb_checkpoint_register(nemb_session *s, const char *name, const char *context,
                                         int line, uint32_t *id);

/** Registers in @p s every function registered in @p from, in @p from's order, so each keeps
 *  its id: for a forked child, whose instrumented code holds the ids its parent's session gave,
 *  to record into a session of its own (the parent's copy in the child is left as it is; it must
 *  not be ended or destroyed there).
 *  @return 0; NEMB_EINVAL for a NULL or the same session; NEMB_ESTATE when @p s already has
 *          functions, or a function was registered in @p s meanwhile; NEMB_ENOMEM, NEMB_ERANGE.
 *  @p from is read without its lock: call it only while no thread registers in @p from (in a
 *  forked child, at once). Since 0.1. */
NEMB_EXTERN int nemb_checkpoint_inherit(nemb_session *s, const nemb_session *from);

/** Enter and exit of a registered function: the fast form of nemb_checkpoint().
 *  @return 0; NEMB_EINVAL for an unknown id; NEMB_ESTATE after the session ended.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_checkpoint_enter(nemb_session *s, uint32_t id);
NEMB_EXTERN int nemb_checkpoint_exit(nemb_session *s, uint32_t id);

/** Ends the session: closes tasks still open (each is reported with "closed_at_end": true),
 *  stops the sampler, builds the report and, unless the options say otherwise, writes it.
 *  Recording calls made after (or racing with) the end fail with NEMB_ESTATE.
 *  @return 0; NEMB_ESTATE if already ended; an error writing the file (-EACCES, -ENOENT, ...) with
 *          the path in the message, in which case the report is still available.
 *  Any thread, once. Since 0.1. */
NEMB_EXTERN int nemb_session_end(nemb_session *s);

/** Cuts short the wait of an MPI follower rank's nemb_session_end() for its node leader's
 *  samples (a stopped leader would hold it for mpi.node_leader_wait_s): the report then has
 *  what the rank has, meta.backend_error naming @p sig. Only a call during that wait counts.
 *  Async-signal-safe: for a SIGTERM handler. Since 0.1. */
NEMB_EXTERN void nemb_session_interrupt_wait(int sig);

/** Chooses how the report holds the time series (when record_time_series is on), over the
 *  config key measurement.report.timeseries_layout: "samples" (the default and the reference's:
 *  each task lists its points as {t_ns, energy_j, power_w, domain_j, domain_w} objects) or
 *  "columnar" (the session's points once, as a top-level "timeseries" of columns, and each
 *  task's series as a window into them: a fraction of the size and of the time to write; the
 *  README's report section gives the shape).
 *  @return 0; NEMB_ECONFIG for another name; NEMB_ESTATE after the end; NEMB_EINVAL for NULL.
 *  Before nemb_session_end(), from the thread that ends the session. Since 0.1. */
NEMB_EXTERN int nemb_session_set_timeseries_layout(nemb_session *s, const char *layout);

/** The report as JSON text, after nemb_session_end(); NULL before. Owned by @p s (valid until
 *  nemb_session_destroy()). The text is built on the first call, not by the end
 *  (which streams the file from the figures without holding the text): the first call of a big
 *  report costs its build (an hour at 1 ms with time series: hundreds of MB), later calls
 *  return the same pointer. The bytes are those of the file the end wrote, less its closing
 *  newline. NULL also when that build runs out of memory (nemb_last_error() says so; a later
 *  call tries again). Any thread: concurrent first calls build once (a lock). Since 0.1. */
NEMB_EXTERN const char *nemb_session_report_json(const nemb_session *s);

/** The report without its time series, after nemb_session_end(); NULL before or out of memory:
 *  the envelope of nemb_session_report_json() with each task's "timeseries" null and no
 *  top-level "timeseries" (columnar layout), every other member as in the report (meta, tasks'
 *  figures and noise statistics, totals with its noise_warnings, task_groups, functions,
 *  checkpoints). What a front needs at the end, without parsing the series. Without time
 *  series it is the report itself. Built on the first call, owned by @p s; any thread.
 *  Since 0.1. */
NEMB_EXTERN const char *nemb_session_report_summary_json(const nemb_session *s);

/** The report's meta.sampler.warnings alone, after nemb_session_end(): a JSON array of
 *  sentences about what makes the figures less than exact (a domain lost or never changing,
 *  counter resets, rejected readings, coarsening), and for a session that found no energy
 *  backend one sentence with the reason (the report's meta.backend_error); "[]" when there are
 *  none (a follower rank, whose energy is its node leader's, has none of its own); NULL
 *  before the end or out of memory. What a front prints or raises at the end without building
 *  the report's text. Built on the first call, owned by @p s; any thread. Since 0.1. */
NEMB_EXTERN const char *nemb_session_warnings_json(const nemb_session *s);

/** Writes the report (after nemb_session_end()) to @p path in @p format (AUTO: by extension, as
 *  NEMB_FORMAT_AUTO says). @return 0; NEMB_EINVAL for a NULL path or, with AUTO, a name of no
 *  known kind (nothing written); or a negative code with the path in the message. Any thread.
 *  Since 0.1. */
NEMB_EXTERN int nemb_session_write(const nemb_session *s, const char *path,
                                   nemb_output_format format);

/** The provenance and identity columns every codegreen CSV starts each row with, in this order:
 *  the report's meta fields of these names (null as an empty field). The library's session CSV
 *  (nemb_session_write) and the CLI's tables (run, measure) share this list. Since 0.1. */
#define NEMB_CSV_META_COLUMNS                                                                      \
  "run_id", "session_name", "started_at", "hostname", "cpu_model", "energy_source",                \
      "measurement_quality"

/** The one CSV quoting of codegreen's CSV files (the library's report and the CLI's tables): a
 *  field is written as it is unless it holds a comma, a double quote or a line break; then it is
 *  quoted, with each double quote doubled (RFC 4180).
 *  @param field the text, NUL-terminated; NULL reads as "".
 *  @param buf receives the field as written, with snprintf semantics (always NUL-terminated when
 *         @p n > 0; may be NULL when @p n is 0).
 *  @return the length of the whole field as written, without the NUL (so a result >= @p n means
 *          @p buf was too small). Any thread. Since 0.1. */
NEMB_EXTERN size_t nemb_csv_field(const char *field, char *buf, size_t n);

/** The path the report was (or will be) written to by nemb_session_end(), or NULL when the
 *  session writes no file. Owned by @p s. Since 0.1. */
NEMB_EXTERN const char *nemb_session_output_path(const nemb_session *s);

/** The session's meter (NULL when no provider could be opened), for live readings and samples.
 *  Owned by the session. Since 0.1. */
NEMB_EXTERN nemb_meter *nemb_session_meter(nemb_session *s);

/** Ends the session if needed and frees it. Accepts NULL. No other call on @p s may be running.
 *  Since 0.1. */
NEMB_EXTERN void nemb_session_destroy(nemb_session *s);

/* ---------------------------------------------------------------------------------------------
 * Statistics over repeated runs (codegreen run -r N, and the fronts' multi-run helpers)
 * ------------------------------------------------------------------------------------------- */

/** Summary of a set of measurements after the outlier filter (meta.outlier_method "iqr_1.5":
 *  values outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR], with quartiles interpolated linearly between
 *  order statistics, are set aside and reported, not hidden). */
typedef struct nemb_stats {
  size_t n;          /* values given */
  size_t n_used;     /* values kept after the filter */
  size_t n_outliers; /* n - n_used */
  double mean, median;
  double std;        /* sample standard deviation (n_used - 1 in the denominator); 0 when
                        n_used < 2 */
  double cv_percent; /* 100 * std / mean; 0 when the mean is 0 */
  double min, max;
  double ci95_low, ci95_high; /* mean -/+ t(0.975, n_used - 1) * std / sqrt(n_used) */
} nemb_stats;

/** Computes @p out over @p values.
 *  @param n how many values; at least 1.
 *  @param filter_outliers 1 to apply the iqr_1.5 filter (it needs at least 4 values to act).
 *  @param is_outlier if not NULL, receives n flags: 1 for each value set aside.
 *  @return 0 or NEMB_EINVAL (n == 0, or a value that is not finite). Any thread. Since 0.1. */
NEMB_EXTERN int nemb_stats_compute(const double *values, size_t n, int filter_outliers,
                                   nemb_stats *out, unsigned char *is_outlier);

/** B against A: the difference and ratio of the means, and Welch's unequal-variance t-test
 *  (two-sided, Welch-Satterthwaite degrees of freedom) on whether the means differ. */
typedef struct nemb_comparison {
  double diff;         /* mean_b - mean_a */
  double diff_percent; /* 100 * diff / mean_a; NAN when mean_a is 0 */
  double ratio;        /* mean_b / mean_a; NAN when mean_a is 0 */
  double ratio_std;    /* the ratio's standard deviation, propagated to first order from the
                          two sides' standard deviations (the spread of single runs) */
  double t, df;        /* Welch's statistic and degrees of freedom; NAN when not tested */
  double p_value;      /* two-sided; NAN when not tested */
  double alpha;        /* the significance level used */
  int significant;     /* 1: p_value < alpha; 0: not; -1: not tested (a side has < 2 values) */
} nemb_comparison;

/** Compares two summaries from nemb_stats_compute() (their mean, std and n_used).
 *  @param alpha significance level, 0 < alpha < 1 (codegreen uses 0.05).
 *  @return 0 or NEMB_EINVAL. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_stats_compare(const nemb_stats *a, const nemb_stats *b, double alpha,
                                   nemb_comparison *out);
/* ----- [results] reading an ended session's results without JSON ----- */

/* ---------------------------------------------------------------------------------------------
 * Results without JSON
 *
 * After nemb_session_end(), the figures of the report can be read as numbers: each task (in the
 * order the tasks started, the order of the report's "tasks" list), its energy per domain, and
 * the totals. They are the report's own figures: a task's energy_uj is its "energy_j" times 10^6,
 * rounded to the nearest microjoule; the totals are those of the report's "totals" object.
 *
 * Units: energy in microjoules (uint64_t), time in nanoseconds of CLOCK_MONOTONIC (uint64_t),
 * CO2-equivalent in grams (double). Strings belong to the session and stay valid until
 * nemb_session_destroy(). Every function here is a read-only query: any thread, concurrently
 * with the others of this section, after nemb_session_end() has returned. Before the end (and in
 * a forked child, which has no report) they return NEMB_ESTATE, or 0 for the counts.
 *
 * Example (error checks left out):
 *
 *   nemb_session_end(s);
 *   for (size_t i = 0; i < nemb_session_task_count(s); i++) {
 *     nemb_task_info t;
 *     nemb_session_task_info(s, i, &t);
 *     printf("%s: %.3f J in %.3f s\n", t.name, t.energy_uj / 1e6, t.duration_ns / 1e9);
 *   }
 * ------------------------------------------------------------------------------------------- */

/* nemb_task_info.parent_index of a top-level task. */
#define NEMB_NO_PARENT SIZE_MAX

/** One task of an ended session, filled by nemb_session_task_info(). */
typedef struct nemb_task_info {
  const char *name;     /* the task's name; owned by the session */
  const char *parent;   /* the enclosing task's name, NULL at depth 0; owned by the session */
  size_t parent_index;  /* the enclosing task's index, NEMB_NO_PARENT at depth 0 */
  uint32_t depth;       /* 0 for a top-level task, 1 inside one, ... */
  uint32_t thread;      /* the recording thread, numbered from 0 in order of first use */
  uint64_t energy_uj;   /* in-total energy (packages, DRAM, GPUs; never nested domains) */
  uint64_t duration_ns; /* ended_at_ns - started_at_ns */
  uint64_t started_at_ns, ended_at_ns; /* CLOCK_MONOTONIC instants */
  int closed_at_end;                   /* 1 when the task was still open at nemb_session_end() */
  double co2e_g; /* grams CO2-equivalent at the session's carbon intensity; 0 when none
                    was given (see nemb_totals_info.carbon_intensity_g_per_kwh) */
} nemb_task_info;

/** The session's totals, filled by nemb_session_totals(); the report's "totals" object. */
typedef struct nemb_totals_info {
  uint64_t energy_uj;         /* "energy_j": the top-level tasks' in-total energy */
  uint64_t session_energy_uj; /* "session_energy_j": from begin to end, tasks or not */
  uint64_t gap_energy_uj;     /* "gap_energy_j": outside every top-level task */
  uint64_t task_duration_ns;  /* "task_duration_s": sum of top-level task durations */
  uint64_t wall_duration_ns;  /* "wall_duration_s": begin to end */
  uint64_t gap_duration_ns;   /* "gap_duration_s": wall time outside every top-level task */
  size_t n_tasks, n_top_level_tasks;
  double carbon_intensity_g_per_kwh; /* the intensity the user gave (config key
                                        measurement.report.carbon_intensity_g_per_kwh or
                                        CODEGREEN_CARBON_INTENSITY), 0 when none */
  double co2e_g;                     /* "co2e_g": energy_uj at that intensity; 0 when none */
  double session_co2e_g;             /* "session_co2e_g"; 0 when none */
} nemb_totals_info;

/** @return how many tasks the ended session recorded (the report's totals.n_tasks); 0 before
 *  the end or for NULL. Since 0.1. */
NEMB_EXTERN size_t nemb_session_task_count(const nemb_session *s);

/** Reads task @p index (0 .. nemb_session_task_count() - 1, in start order).
 *  @param out receives the task; its strings belong to @p s.
 *  @return 0; NEMB_ERANGE for an index past the last task; NEMB_ESTATE before the end;
 *          NEMB_ENOMEM. Since 0.1. */
NEMB_EXTERN int nemb_session_task_info(const nemb_session *s, size_t index, nemb_task_info *out);

/** @return how many energy domains the session's meter has (the report's "domains" keys); 0
 *  without an energy backend. Since 0.1. */
NEMB_EXTERN size_t nemb_session_domain_count(const nemb_session *s);

/** Describes domain @p domain (0 .. nemb_session_domain_count() - 1): its name, kind, whether it
 *  is added to energy totals. The strings belong to the session.
 *  @return 0 or NEMB_ERANGE. Since 0.1. */
NEMB_EXTERN int nemb_session_domain(const nemb_session *s, size_t domain, nemb_domain_info *out);

/** The energy of domain @p domain during task @p index (the task's "domains" entry), in
 *  microjoules. Nested domains (core, uncore) are reported here although energy_uj leaves them
 *  out. @return 0; NEMB_ERANGE for a bad index; NEMB_ESTATE before the end; NEMB_ENOMEM.
 *  Since 0.1. */
NEMB_EXTERN int nemb_session_task_domain_energy(const nemb_session *s, size_t index, size_t domain,
                                                uint64_t *energy_uj);

/** Reads the totals. @return 0; NEMB_ESTATE before the end; NEMB_ENOMEM. Since 0.1. */
NEMB_EXTERN int nemb_session_totals(const nemb_session *s, nemb_totals_info *out);

/** The energy of domain @p domain over the top-level tasks (the totals' "domains" entry), in
 *  microjoules. @return 0; NEMB_ERANGE; NEMB_ESTATE before the end. Since 0.1. */
NEMB_EXTERN int nemb_session_total_domain_energy(const nemb_session *s, size_t domain,
                                                 uint64_t *energy_uj);

/* ---------------------------------------------------------------------------------------------
 * Plots: power against time, each task's window shaded and named
 *
 * The kind of file follows the path's extension (either case):
 *   .html (or .htm)  one self-contained page that opens offline: the chart library (uPlot) is
 *                    inlined, with drag-to-zoom, hover values, per-domain series, the tasks'
 *                    windows shaded and named, and a table of tasks. The data behind the chart is
 *                    in the page as JSON, in <script type="application/json"
 *                    id="codegreen-data">.
 *   .png             a 1200 x 700 image drawn with cairo: title, axes with units, legend, task
 *                    windows shaded and named.
 * Time runs in seconds from the session's start. Each power value is the average over the
 * sampling interval that ends at its time (power is constant between two readings of the
 * counters, as for every energy in the report), so the area under the total power over a task's
 * window equals that task's energy_j. Sessions of more than 100000 sampling intervals are
 * averaged into about 100000 buckets whose boundaries include every task's start and end: the
 * areas stay exact, and the lowest and highest power inside each bucket are kept and drawn as a
 * band. Figures that are estimated or simulated say so on the chart.
 *
 * The file is written beside @p path and renamed into place. The library prints nothing.
 * ------------------------------------------------------------------------------------------- */

/** Draws an ended session's power over time into @p path (.html, .png or .svg: the same chart as
 * the PNG, as vectors; since 0.1).
 *
 *  Uses every sample the session's sampler stored, so it works whether or not the session
 *  recorded time series in its report. A session without an energy backend gives a chart of its
 *  tasks that says nothing was measured.
 *  @param s a session after nemb_session_end().
 *  @param path the file to write; its extension chooses the kind.
 *  @return 0; NEMB_EINVAL for a path whose extension is neither .html nor .png (the message
 *          names both); NEMB_ESTATE before nemb_session_end() (or in a forked child, which has
 *          no report); NEMB_ENOMEM; an error writing the file (-EACCES, -ENOENT, ...) with the
 *          path in the message.
 *  Any thread, concurrently with other read-only calls on @p s. Since 0.1. */
NEMB_EXTERN int nemb_session_export_plot(const nemb_session *s, const char *path);

/** Draws the session saved in a JSON report (nemb_session_write(), Session(...) output, or
 *  codegreen run -o) into @p path (.html, .png or .svg: the same chart as the PNG, as vectors;
 * since 0.1).
 *
 *  A report keeps only the samples inside its tasks ("timeseries", recorded with
 *  record_time_series), so the chart covers the tasks' windows and leaves the time between
 *  top-level tasks blank; within each window the area under the power is the task's energy_j.
 *  @param report_json the report's path.
 *  @param path the file to write; its extension chooses the kind.
 *  @return 0; NEMB_EINVAL for a bad extension, a file that is not a codegreen JSON report, or a
 *          report without time series (the message says how to record them); -ENOENT or -EACCES
 *          when the report cannot be read; NEMB_ENOMEM; an error writing @p path.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_report_export_plot(const char *report_json, const char *path);

/** Reads the whole text of a saved report file, decompressed when it is zstd-compressed (a name
 *  ending in .zst, or zstd's magic at its start; libzstd is loaded then): for readers that have
 *  no zstd of their own, such as Python's codegreen.load(). The text is not parsed or checked.
 *  @param path the report's path.
 *  @param out receives a NUL-terminated string (the file's bytes, decompressed; the reports'
 *         JSON holds no NUL) the caller frees with nemb_free(); NULL on failure.
 *  @param len receives its length in bytes, without the terminating NUL; may be NULL.
 *  @return 0; NEMB_ENOENT or NEMB_EACCES when the file cannot be read; NEMB_EINVAL for a
 *          directory, or corrupt or truncated zstd data; NEMB_ENOTSUP when the file is
 *          compressed and libzstd (Debian's libzstd1) cannot be loaded; NEMB_ENOMEM; NEMB_EIO.
 *          The message (nemb_last_error()) names the file and, for NEMB_ENOTSUP, the library
 *          and the fix.
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_report_read_text(const char *path, char **out, size_t *len);

/* ---------------------------------------------------------------------------------------------
 * The process registry: which codegreen processes of this user are measuring right now
 *
 * RAPL counters are machine-wide, so two measurements that overlap in time both include each
 * other's energy. A front that registers its process while it measures (the Python Session, the
 * instrumenter's runtime, `codegreen run`) lets any other one warn about the overlap.
 *
 * The registry is one file per user, $XDG_RUNTIME_DIR/codegreen-<uid>.pids when XDG_RUNTIME_DIR
 * names an absolute directory, else /tmp/codegreen-<uid>.pids. It holds one line per
 * registration, "<pid> <start time>" (the start time from /proc/<pid>/stat, so a recycled pid is
 * not taken for the old process), followed by " <job id>" for a rank of a parallel job (MPI,
 * Slurm: the ranks of one job on a node share one sampler on purpose, so nemb_procs_list_others()
 * leaves the caller's own job's ranks out). The file is created with mode 0600 and never made
 * group- or world-writable; a file there that another user owns, or a symbolic link, is refused.
 * Every access holds an exclusive flock() on it and drops the lines of dead processes (no
 * /proc/<pid>, a zombie, or another start time) and any line that is not a registration, so a crash
 * leaves no lasting trace and a damaged file repairs itself.
 * ------------------------------------------------------------------------------------------- */

/** Writes the registry's path into @p buf with snprintf semantics.
 *  @return 0, or NEMB_ERANGE when @p len is too small (the text is truncated).
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_procs_path(char *buf, size_t len);

/** Registers the calling process. Registrations count: a process that registers twice (a Session
 *  beside the instrumenter's runtime) stays registered until it unregisters twice.
 *  @return 0; NEMB_EACCES when the file is owned by another user, is not a regular file or
 *          cannot be opened for writing; another negative code for an I/O error. The message
 *          names the path. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_procs_register(void);

/** Removes one registration of the calling process; without one, only cleans the file.
 *  @return 0 or an error as for nemb_procs_register(). Any thread. Since 0.1. */
NEMB_EXTERN int nemb_procs_unregister(void);

/** Lists the live registered processes other than the caller, each once.
 *  @param pids receives up to @p cap process ids; may be NULL when @p cap is 0.
 *  @param cap the capacity of @p pids.
 *  @param n receives how many there are, which may exceed @p cap (then only @p cap are written).
 *  @return 0 (also when no registry file exists yet: *n is 0) or an error as for
 *          nemb_procs_register(). Any thread. Since 0.1. */
NEMB_EXTERN int nemb_procs_list_others(int *pids, size_t cap, size_t *n);

/* ---------------------------------------------------------------------------------------------
 * A termination signal an interpreter handles (for language runtimes)
 *
 * A runtime that handles SIGTERM to write its report first (codegreen_runtime) relies on its
 * interpreter's handler, which runs only when the interpreter's main thread next checks: a signal
 * that lands just before a blocking call, or that another thread takes, waits for the call to
 * return, maybe forever, where without the runtime the default action would have ended the
 * process. The guard puts a C handler in front of the interpreter's: it calls it, then interrupts
 * the main thread every 10 ms (SIGALRM, without SA_RESTART) until the interpreter's handler says
 * nemb_term_guard_seen(). A handler the program sets for the signal afterwards replaces both.
 * ------------------------------------------------------------------------------------------- */

/** Guards @p sig's handler, which the calling thread (the interpreter's main thread, which its
 *  handlers run in) has just set, with the kicks above.
 *  @param sig the signal (SIGTERM, SIGHUP); never SIGALRM, which the kicks use.
 *  @return 0 (also when it is guarded already); NEMB_EINVAL for a signal it cannot guard;
 *          NEMB_ENOTSUP when @p sig has no plain handler (SIG_DFL, SIG_IGN, an SA_SIGINFO one):
 *          left as it is. Call from the main thread, before other threads may take the signal.
 *          Since 0.1. */
NEMB_EXTERN int nemb_term_guard(int sig);

/** Says that the interpreter's handler of a guarded signal runs: the kicks stop and SIGALRM's
 *  disposition is as it was before them. Call from that handler. Since 0.1. */
NEMB_EXTERN void nemb_term_guard_seen(void);

/** @return the guarded signal received and not yet seen (nemb_term_guard_seen()), or 0. A forked
 *  child asks when its fork hooks are done: CPython's after-fork step drops every signal not yet
 *  handled, so one that came meanwhile would never reach the handler. Async-signal-safe.
 *  Since 0.1. */
NEMB_EXTERN int nemb_term_guard_received(void);

/* ---------------------------------------------------------------------------------------------
 * Pushing a run's totals to a Prometheus Pushgateway (batch jobs end before any scrape)
 *
 * The totals become gauges in the Prometheus text format: codegreen_run_energy_joules (the
 * top-level tasks' energy_j), codegreen_run_session_energy_joules (begin to end, gaps included),
 * codegreen_run_duration_seconds, codegreen_run_domain_energy_joules{domain,kind,top_level} and
 * codegreen_measurement_info{energy_source,measurement_quality} = 1. They are sent with one HTTP
 * PUT (libcurl) to <url>/metrics/job/<job>/instance/<hostname>, plus /rank/<rank> for a rank of
 * an MPI or Slurm job, so a rerun replaces its own group and ranks do not overwrite each other.
 * ------------------------------------------------------------------------------------------- */

/** Pushes the totals of a JSON report (nemb_session_report_json(), or a saved report's text).
 *  @param report_json the report.
 *  @param url the Pushgateway, "http://host:9091" (a trailing slash is fine).
 *  @param job the grouping key's job; NULL: the session's name, else "codegreen".
 *  @return 0; NEMB_EINVAL for a URL that is not http(s) or text that is not a report; NEMB_EIO
 *          when the transfer fails or the Pushgateway answers other than 2xx (the message gives
 *          the URL and the reason); NEMB_ENOTSUP when libcurl (libcurl.so.4, Debian's libcurl4,
 *          loaded on the first push) cannot be loaded; NEMB_ENOMEM. Blocks up to 30 s. Any
 *          thread. Since 0.1. */
NEMB_EXTERN int nemb_report_push(const char *report_json, const char *url, const char *job);

/** The default report name of a rank of a parallel job, "codegreen_<job>_<rank>.<ext>", where
 *  the rank and job id come from the launcher's environment (Open MPI, PMIx, MPICH/PMI, Slurm;
 *  CODEGREEN_JOB_ID overrides the job id). Sessions use it when output_file is NULL.
 *  @param ext "json" or "csv".
 *  @param buf receives the name (snprintf semantics).
 *  @return 0; -ENOENT when this process is not a rank of a job (nothing written).
 *  Any thread. Since 0.1. */
NEMB_EXTERN int nemb_job_default_output(const char *ext, char *buf, size_t len);

/** Checks a Pushgateway URL as nemb_report_push() does before sending: http:// or https://, a
 *  URL libcurl's parser (curl_url()) accepts, a host, a port (if any) from 1 to 65535, no query
 *  or fragment. So a front can refuse a bad one before the work it would measure. Loads libcurl
 *  (as the push would) on the first call.
 *  @param why receives the reason when the URL is refused (snprintf semantics; may be NULL when
 *         @p len is 0).
 *  @return 0, NEMB_EINVAL, or NEMB_ENOTSUP when libcurl cannot be loaded. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_push_url_check(const char *url, char *why, size_t len);

/** nemb_report_push() of an ended session's report.
 *  @return as nemb_report_push(); NEMB_ESTATE before nemb_session_end(). Any thread.
 *  Since 0.1. */
NEMB_EXTERN int nemb_session_push(const nemb_session *s, const char *url, const char *job);

/* Hardware providers (since 0.1): besides powercap, a build may have perf (the perf_event "power"
 * PMU), msr (/dev/cpu/N/msr), hwmon (/sys/class/hwmon energy and power sensors) and nvml (NVIDIA
 * GPUs, loaded with dlopen; CODEGREEN_NVML_LIB names another library). In automatic selection a
 * domain that several of them see is read from one only, by the preference
 * powercap > perf > msr > hwmon > nvml, never added twice; the others are compared with it at
 * meter creation (providers.cross_check_ms, default 100, 0 to skip) and nemb_describe_json()
 * reports the outcome under selection.counted_once. The estimate is added when no real provider
 * measures a CPU package. Forcing two providers that see one domain is refused (NEMB_ECONFIG). */

/* ---------------------------------------------------------------------------------------------
 * Describing the machine (what `codegreen info` prints)
 * ------------------------------------------------------------------------------------------- */

/** Tries every provider the library knows and describes, as JSON, what each found or why it
 *  found nothing (absent, permission, virtual machine, ...), its domains and topology, and what
 *  a meter created now would use (measured or estimated). Opens and closes each provider; starts
 *  no sampler.
 *  @param cfg the configuration, or NULL for the search order.
 *  @param out receives a NUL-terminated string the caller frees with nemb_free().
 *  @return 0, NEMB_ENOMEM, or NEMB_ECONFIG. Any thread. Since 0.1. */
NEMB_EXTERN int nemb_describe_json(const nemb_config *cfg, char **out);

/** Frees memory the library handed to the caller. Accepts NULL. Since 0.1. */
NEMB_EXTERN void nemb_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* NEMB_H */
