/*
 * job.c - a process's place in a parallel job, from the launchers' environment (see job.h for
 * the variables and their order).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"

/* The first of @p names that is set to a non-negative decimal, or -1. */
static long first_number(const char *const *names, const char **which) {
  for (size_t i = 0; names[i] != NULL; i++) {
    const char *v = getenv(names[i]);
    if (v == NULL || v[0] == '\0') {
      continue;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno == 0 && *end == '\0' && n >= 0) {
      if (which != NULL) {
        *which = names[i];
      }
      return n;
    }
  }
  return -1;
}

/* Copies @p v into @p out keeping only characters that are safe in a file name. */
static void sanitize(const char *v, char *out, size_t len) {
  size_t k = 0;
  for (; *v && k + 1 < len; v++) {
    char c = *v;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    out[k++] = ok ? c : '_';
  }
  out[k] = '\0';
}

static void job_id(char *out, size_t len) {
  const char *v = getenv("CODEGREEN_JOB_ID");
  if (v != NULL && v[0] != '\0') {
    sanitize(v, out, len);
    return;
  }
  const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
  if (job != NULL && job[0] != '\0') {
    char both[128];
    if (step != NULL && step[0] != '\0') {
      snprintf(both, sizeof both, "%s.%s", job, step);
    } else {
      snprintf(both, sizeof both, "%s", job);
    }
    sanitize(both, out, len);
    return;
  }
  static const char *const others[] = {"OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE", "PMI_KVSNAME",
                                       NULL};
  for (size_t i = 0; others[i] != NULL; i++) {
    v = getenv(others[i]);
    if (v != NULL && v[0] != '\0') {
      sanitize(v, out, len);
      return;
    }
  }
  snprintf(out, len, "sid%ld", (long)getsid(0));
}

void nemb__job_detect(nemb__job *out) {
  static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                          "SLURM_PROCID", NULL};
  static const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                           "PMI_LOCAL_RANK", "SLURM_LOCALID", NULL};
  static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", NULL};
  memset(out, 0, sizeof *out);
  const char *which = NULL;
  out->rank = first_number(rank_vars, &which);
  out->local_rank = first_number(local_vars, NULL);
  out->size = first_number(size_vars, NULL);
  out->present = out->rank >= 0;
  out->launcher = NULL;
  if (!out->present) {
    return;
  }
  if (strcmp(which, "OMPI_COMM_WORLD_RANK") == 0) {
    out->launcher = "openmpi";
  } else if (strcmp(which, "PMIX_RANK") == 0) {
    out->launcher = "pmix";
  } else if (strcmp(which, "PMI_RANK") == 0) {
    out->launcher = "pmi";
  } else {
    out->launcher = "slurm";
  }
  job_id(out->id, sizeof out->id);
}

bool nemb__job_default_file(const nemb__job *job, const char *ext, char *buf, size_t len) {
  if (!job->present) {
    return false;
  }
  snprintf(buf, len, "codegreen_%s_%ld.%s", job->id, job->rank, ext);
  return true;
}

int nemb_job_default_output(const char *ext, char *buf, size_t len) {
  nemb__job job;
  nemb__job_detect(&job);
  return nemb__job_default_file(&job, ext ? ext : "json", buf, len) ? 0 : NEMB_ENOENT;
}
