/*
 * gpu_attr.h - `codegreen run`'s attribution of GPU energy to the command, from the driver's
 * per-process utilisation (nemb_meter_gpu_usage(), gpu_share.h in the library).
 *
 * Per run and GPU domain:
 *   share                = sum of smUtil over the command's processes' samples during the run /
 *                          sum of smUtil over every process's samples during the run;
 *   attributed_energy_j  = share x the GPU domain's energy in the run.
 * "During the run": the sample's timestamp falls between the command's start and its end (one
 * last read of the samples is made after it ends). The command's processes are codegreen's
 * descendants while they lived (the library remembers every descendant it saw and those
 * codegreen reports starting and reaping, nemb_gpu_usage), so a process that ended before its
 * samples were read still counts, and a reused pid after its end does not. SM utilisation is a
 * time-share proxy, so the figure is an attribution estimate, never a measurement. Method names:
 *   "nvml_process_utilization"   the share above; with no sample at all during the run (no
 *                                process kept the SMs busy) or none of the command's, share 0;
 *   "not_attributed: REASON"     NVML gives no per-process figures for this GPU (not supported,
 *                                no permission, MIG mode, a simulated GPU, ...): the GPU's energy
 *                                stays in unattributed_energy_j.
 *
 * Single-threaded (the CLI's main thread). Snapshots own their memory: cg_gpu_free().
 */
#ifndef CG_GPU_ATTR_H
#define CG_GPU_ATTR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "nemb.h"

typedef struct cg_gpu_use {
  char domain[32];
  int status;    /* nemb_gpu_usage.status: 0 or why there are no figures */
  char *reason;  /* when status is not 0 (owned) */
  double own_sm; /* sums of smUtil (percent), see nemb_gpu_usage */
  double all_sm;
  unsigned long long samples, own_samples;
  unsigned long long outside_samples, dropped_samples; /* see nemb_gpu_usage */
} cg_gpu_use;

typedef struct cg_gpu_uses {
  size_t n;
  cg_gpu_use *u; /* one per GPU domain of the meter, in the meter's order */
} cg_gpu_uses;

/* Takes every GPU domain's usage over the run from @p t0_ns to @p t1_ns (CLOCK_MONOTONIC,
 * nemb_now_ns()) into @p out (zeroed first; n = 0 without a meter or GPU), after one last read of
 * the samples; then the library forgets the samples before @p t1_ns. */
void cg_gpu_take(nemb_meter *m, uint64_t t0_ns, uint64_t t1_ns, cg_gpu_uses *out);

void cg_gpu_free(cg_gpu_uses *u);

/* The run's "gpu_attribution" object, keyed by GPU domain: method, share, energy_j,
 * attributed_energy_j, samples, own_samples, other_samples, samples_outside_run, samples_dropped
 * (and "note" when the share is 0 for want of
 * samples). @p task_domains is the run's task's per-domain energy. Adds the attributed joules to
 * *@p attributed_j and the energy of the GPU domains so attributed to *@p covered_j. */
json_t *cg_gpu_attribution(const cg_gpu_uses *d, json_t *task_domains, double *attributed_j,
                           double *covered_j);

/* The method word of each GPU domain for the report's attribution block, from the last run's
 * usage: "nvml_process_utilization" or "not_attributed: REASON". NULL when @p domain is not
 * among them. */
const char *cg_gpu_method(const cg_gpu_uses *d, const char *domain, char *buf, size_t len);

#endif /* CG_GPU_ATTR_H */
