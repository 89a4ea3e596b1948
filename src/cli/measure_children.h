/*
 * measure_children.h - the program's child processes in `codegreen measure`'s report
 * (measure_children.c). Python children started with the inherited environment (subprocess,
 * multiprocessing's spawn and forkserver) import codegreen_runtime through measure's
 * sitecustomize and write their own report as DIR/<pid>.json at exit.
 */
#ifndef CG_MEASURE_CHILDREN_H
#define CG_MEASURE_CHILDREN_H

#include <jansson.h>
#include <stddef.h>

/* Merges the children's reports in @p dir into @p report (the program's): every row of
 * "functions" gets "pid" (the program's from meta.pid), each child's rows are appended with
 * theirs, and "processes" lists the program and each child ({"pid", "name", "argv", "parent":
 * true for the program, "functions": rows with calls, "energy_j" and "duration_s" of its own
 * session}), children by pid. A child's energy is whole-machine energy over its own session,
 * inside the program's run: it is not added to the program's totals. Unreadable files are
 * skipped. @return how many children were merged. */
size_t cg_measure_merge_children(json_t *report, const char *dir);

#endif /* CG_MEASURE_CHILDREN_H */
