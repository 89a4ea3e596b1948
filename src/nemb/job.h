/*
 * job.h - who this process is in a parallel job (MPI rank, node-local rank, job id), read from
 * the launchers' environment, and the node-local leader that samples on behalf of every rank of
 * a node (node.c). Not installed.
 *
 * Launchers and the variables read (the first one set wins, in this order):
 *   rank        OMPI_COMM_WORLD_RANK (Open MPI), PMIX_RANK, PMI_RANK (MPICH, Intel MPI),
 *               SLURM_PROCID (srun)
 *   local rank  OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID (MPICH), PMI_LOCAL_RANK (Cray),
 *               SLURM_LOCALID
 *   size        OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS
 *   job id      CODEGREEN_JOB_ID, then SLURM_JOB_ID (with ".SLURM_STEP_ID" when set), then
 *               OMPI_MCA_ess_base_jobid, PMIX_NAMESPACE, PMI_KVSNAME; an MPICH job started by
 *               mpiexec without any of them is named after the session id of the process
 *               ("sid<N>"), which all its ranks on one node share.
 * A process is "in a job" when a rank was found. CODEGREEN_NODE_LEADER=0 switches the leader off
 * (every rank then samples for itself, as a lone process would).
 */
#ifndef NEMB_JOB_H
#define NEMB_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

typedef struct nemb__job {
  bool present;         /* a launcher's rank variable was found */
  char id[64];          /* the job id, reduced to [A-Za-z0-9._-] so it can name files */
  long rank;            /* -1 when unknown */
  long local_rank;      /* -1 when unknown */
  long size;            /* -1 when unknown */
  const char *launcher; /* "openmpi", "pmix", "pmi", "slurm": where the rank came from */
} nemb__job;

/* Fills @p out from the environment. Any thread (reads environ only). */
void nemb__job_detect(nemb__job *out);

/* Writes the default report name of a rank, "codegreen_<job>_<rank>.<ext>", into @p buf.
 * Returns false (and writes nothing) when the process is not in a job. */
bool nemb__job_default_file(const nemb__job *job, const char *ext, char *buf, size_t len);

/* ----- node.c: the node-local leader ----- */

struct nemb_session;
struct json_t;

/* Decides, for a session about to create its meter, whether this process samples. Outside a
 * job (or with CODEGREEN_NODE_LEADER=0) it just creates the meter. In a job the first rank of the
 * node to take the job's lock is the leader: it creates the meter and publishes every sample to
 * a node-local file; the others create no meter and become followers. Returns what
 * nemb_meter_create() returns (0 for a follower, whose *meter stays NULL). */
int nemb__node_meter_create(struct nemb_session *s, const nemb_config *cfg, nemb_meter **meter);

/* A leader's publishing thread, started once its meter runs (the session has fixed the meter's
 * sample store by then: a publisher started with the meter read a store that the session's
 * buffer_samples then replaced). Nothing for any other role. */
void nemb__node_start_publishing(struct nemb_session *s);

/* At the end, before the session stops its meter: a leader waits (bounded) until its followers
 * have their samples, publishing meanwhile. Nothing for a lone process. */
void nemb__node_before_stop(struct nemb_session *s);

/* At the end, after the meter stopped: a leader publishes its last samples and marks the file
 * finished; a follower waits (bounded) for the samples that cover its end and builds from them the
 * meter its report is computed from (s->meter). */
void nemb__node_after_stop(struct nemb_session *s);

/* A live follower (under `codegreen measure`, see node.c): appends the samples the measuring
 * process published since the last look (at most every 2 ms unless @p now_please; skipped while
 * another thread does it). Returns whether samples were added; false for any other session.
 * Any recording thread. */
bool nemb__node_refresh(struct nemb_session *s, bool now_please);

/* Whether the session follows a leader (its meter holds the leader's samples, never started). */
bool nemb__node_follows(const struct nemb_session *s);

/* The times (CLOCK_MONOTONIC ns) of the samples in a leader's file @p path ("<base>.samples"), in
 * file order, into @p t (at most @p cap of them). @return the count the file's header gives, or
 * -1 when it cannot be read as one. For tests (test_job.c); any thread. */
long nemb__node_file_times(const char *path, uint64_t *t, size_t cap);

/* The report's meta.job object (rank, role, node energy, CPU time), or NULL outside a job. */
struct json_t *nemb__node_meta(const struct nemb_session *s);

/* Releases the locks and the publishing thread. Accepts a session without node state. */
void nemb__node_free(struct nemb_session *s);

#endif /* NEMB_JOB_H */
