/*
 * proc_stat.h - the one reader of /proc/PID/stat, for the fields codegreen needs: a process's
 * state, its parent and its start time. Not installed.
 *
 * Format (proc(5), "/proc/pid/stat"): "pid (comm) state ppid pgrp ... starttime ...", one line,
 * fields separated by single spaces. comm (the command name, at most 15 bytes) may itself hold
 * spaces and parentheses, so fields are counted from the LAST ')' in the line. starttime is
 * field 22, in clock ticks (sysconf(_SC_CLK_TCK)) since boot.
 *
 * Thread-safe: no state.
 */
#ifndef NEMB_PROC_STAT_H
#define NEMB_PROC_STAT_H

#include <sys/types.h>

typedef struct nemb__proc_stat {
  char state;                     /* field 3: R, S, D, Z (zombie), X (dead), ... */
  pid_t ppid;                     /* field 4: the parent's pid (0 for init's parent) */
  unsigned long long start_ticks; /* field 22: clock ticks since boot */
} nemb__proc_stat;

/* Parses one /proc/PID/stat line. Returns 0, or NEMB_EPARSE when a field is missing or not a
 * number. */
int nemb__proc_stat_parse(const char *line, nemb__proc_stat *out);

/* Reads and parses /proc/@p pid/stat. Returns 0, -ENOENT (no such process: it ended and was
 * reaped), another -errno, or NEMB_EPARSE. */
int nemb__proc_stat_read(pid_t pid, nemb__proc_stat *out);

#endif
