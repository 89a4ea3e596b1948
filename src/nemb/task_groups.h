/*
 * task_groups.h - a session's tasks grouped by name, parent and depth, for reports of many
 * tasks: every group's count and energy and duration statistics over all its instances, and
 * which instances the report details (the first task_detail_limit of each group, in start
 * order). A @codegreen.task function called a million times is one group and, by default, ten
 * thousand detailed tasks, not a million. Not installed.
 *
 * Built once per report from the task records (report.c); single-threaded, owns its arrays.
 */
#ifndef NEMB_TASK_GROUPS_H
#define NEMB_TASK_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "records.h"

typedef struct nemb__task_group {
  const char *name, *parent; /* the first instance's (pooled strings, the session's) */
  uint32_t depth;
  uint64_t count, detailed; /* instances; of which in the report's tasks */
  double energy_sum_uj, energy_min_uj, energy_max_uj;
  uint64_t duration_sum_ns, duration_min_ns, duration_max_ns;
} nemb__task_group;

typedef struct nemb__task_groups {
  nemb__task_group *g; /* n groups, in the order their first instance started */
  size_t n;
  bool *detailed; /* per task (the records' order): in the report's tasks */
  size_t n_detailed;
} nemb__task_groups;

/* Groups the @p n task records @p tasks (start order) with their in-total energies @p energy_uj,
 * detailing at most @p detail_limit instances per group. Returns 0 or NEMB_ENOMEM; on success
 * @p out is the caller's to release. */
int nemb__task_groups_build(const nemb__task_rec *tasks, const double *energy_uj, size_t n,
                            uint64_t detail_limit, nemb__task_groups *out);

void nemb__task_groups_release(nemb__task_groups *gs);

#endif
