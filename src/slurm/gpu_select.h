/*
 * gpu_select.h - which GPUs a Slurm job step was given, as the NVML provider's device selection
 * (providers.nvml.devices) expects them. Used by spank_codegreen.c; no Slurm header needed, so
 * the rule is unit-tested on machines without Slurm.
 */
#ifndef CG_GPU_SELECT_H
#define CG_GPU_SELECT_H

#include <jansson.h>

/* Chooses the job's GPUs from its environment.
 *   SLURM_JOB_GPUS (the physical indices Slurm allocated, e.g. "0,2") wins: slurmstepd sees
 *   every GPU of the node, as NVML numbers them. Otherwise CUDA_VISIBLE_DEVICES (indices or
 *   GPU-/MIG- UUIDs), then NVIDIA_VISIBLE_DEVICES; "all" or nothing set means no restriction.
 *   "NoDevFiles"/"none"/"void" (Slurm's and the container toolkit's "no GPU") select none.
 * @param slurm_job_gpus, cuda_visible, nvidia_visible the variables' values, each may be NULL.
 * @param source receives the variable used ("SLURM_JOB_GPUS", ...), or NULL when none applies.
 * @return a new JSON array of device strings (empty: none selected), or NULL when the job is not
 *         restricted (every GPU). The caller owns it. */
json_t *cg_gpu_select(const char *slurm_job_gpus, const char *cuda_visible,
                      const char *nvidia_visible, const char **source);

/* Sets providers.nvml.devices in @p config (an object; created on the way) to @p devices
 * (consumed) joined by commas, the form the NVML provider reads ("none" for an empty array).
 * Returns 0, or -1 when @p config is not an object or memory runs out. */
int cg_gpu_apply(json_t *config, json_t *devices);

#endif /* CG_GPU_SELECT_H */
