/*
 * funcviews.h - per-function views of a `codegreen measure` report for people who explore
 * profiles (cProfile's, flame graphs'): sorting, callers and callees with the energy along each
 * edge, collapsed stacks weighted by energy, speedscope, and function spans for plots.
 *
 * Everything but sorting replays the report's per-invocation checkpoint records
 * (checkpoints.measurements: enter/exit, name, context, thread, timestamp, cumulative joules) on
 * a shadow stack per thread, so each invocation's parent is known. Those records are kept up to
 * measurement.checkpoints.detail_limit (100000 by default); beyond it the views cover the records
 * kept and say so ("complete": false).
 */
#ifndef CG_FUNCVIEWS_H
#define CG_FUNCVIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The keys of --sort, for the usage text. */
#define CG_SORT_KEYS "energy, self-energy, time, self-time, calls, power, name"

/* Sorts report.functions in place by @p key (largest first; name A-Z). @return 0, or -1 for an
 * unknown key. */
int cg_sort_functions(json_t *report, const char *key);

/* @return whether @p key is one of CG_SORT_KEYS. */
bool cg_sort_key_valid(const char *key);

typedef struct cg_views cg_views;

/* Replays the records of @p report. @return the views (never NULL unless out of memory). */
cg_views *cg_views_build(json_t *report);
void cg_views_free(cg_views *v);

/* Whether every invocation's records were kept. */
bool cg_views_complete(const cg_views *v);

/* {"edges": [{caller, callee, calls, energy_j, duration_s}], "complete": bool, "source": ...};
 * callers of top-level invocations are "<root>". New reference. */
json_t *cg_views_call_graph(const cg_views *v);

/* Prints, for function @p name, its callers and callees with the energy along each edge. */
void cg_views_print_edges(const cg_views *v, const char *name, FILE *fp);

/* Collapsed stacks ("main;work;hot 1234"), weighted by self energy in microjoules, one line per
 * distinct stack: what flamegraph.pl, inferno and speedscope read. @return 0 or -1 (printed). */
int cg_views_write_folded(const cg_views *v, const char *path);

/* A speedscope file (https://www.speedscope.app/file-format-schema.json): one "sampled" profile
 * per thread whose weights are self energy in microjoules. @return 0 or -1 (printed). */
int cg_views_write_speedscope(const cg_views *v, const char *title, const char *path);

/* Invocations as tasks for a plot: {name, depth, parent, started_at_mono_ns, ended_at_mono_ns,
 * energy_j, timeseries: null}, depth from 1 (under the program's task @p root), only those at
 * least @p min_ns long, at most @p max of them (the longest). New reference. */
json_t *cg_views_spans(const cg_views *v, const char *root, uint64_t min_ns, size_t max);

#endif /* CG_FUNCVIEWS_H */
