/*
 * proc_tree.h - every process that was ever the calling process's descendant while it looked,
 * with when each lived, so that a GPU's per-process samples read after a process ended (or
 * after its pid was reused by another program) are still placed right (gpu_share.h). Not
 * installed.
 *
 * One registry per process (the tree is the calling process's). Entries come from:
 *   - walks of the tree (nemb__proc_tree_walk(), on the GPU provider's poller thread every
 *     providers.nvml.process_poll_ms): each descendant found through
 *     /proc/PID/task/TID/children, its start from /proc/PID/stat (starttime, clock ticks since
 *     boot, converted to CLOCK_REALTIME once per process); a process a walk no longer finds has
 *     ended by then (its end is the walk's time: an upper bound);
 *   - the program's own reaping (nemb_descendant_started()/nemb_descendant_ended() in nemb.h):
 *     a program that is its children's subreaper knows exactly when the ones it reaps ended;
 *   - nemb__proc_tree_note(), for pids found in the tree otherwise (gpu_share.c's /proc check).
 * A descendant that lives less than one walk period and is reaped by a parent other than the
 * program is never seen: its samples count as another program's.
 *
 * Times are CLOCK_REALTIME microseconds (the clock of NVML's sample timestamps). Start 0 means
 * unknown (any sample before the end matches). End NEMB__PROC_ALIVE: not known to have ended.
 * Every function is thread-safe (one mutex, held only inside the calls).
 */
#ifndef NEMB_PROC_TREE_H
#define NEMB_PROC_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NEMB__PROC_ALIVE UINT64_MAX
#define NEMB__PROC_TREE_MAX 65536 /* entries kept; later processes are not recorded */

/* The CLOCK_REALTIME time now, in microseconds. */
uint64_t nemb__realtime_us(void);

/* When process @p pid started (CLOCK_REALTIME us, to the clock tick), or 0 when it cannot be read.
 */
uint64_t nemb__proc_start_us(pid_t pid);

/* Records every descendant of the calling process found now, and ends (at @p now_us) the
 * entries believed alive that are no longer found. Returns how many were found. */
size_t nemb__proc_tree_walk(uint64_t now_us);

/* Records process @p pid (start @p start_us, 0 unknown) as a descendant; with @p end_us other
 * than NEMB__PROC_ALIVE, it ended then. Merges with the entry of the same process. */
void nemb__proc_tree_note(pid_t pid, uint64_t start_us, uint64_t end_us);

/* Whether a sample of pid @p pid stamped @p ts_us belongs to one of the recorded descendants:
 * one whose life (start <= ts <= end) holds the time. */
bool nemb__proc_tree_owns(unsigned int pid, uint64_t ts_us);

/* Forgets every entry (tests). */
void nemb__proc_tree_reset(void);

#endif /* NEMB_PROC_TREE_H */
