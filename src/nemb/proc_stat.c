/*
 * proc_stat.c - /proc/PID/stat read in one place (proc_stat.h gives the format and its source).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "proc_stat.h"

/* The field after the one @p p points into ("a b" -> "b"), or NULL at the end of the line. */
static const char *next_field(const char *p) {
  p = strchr(p, ' ');
  return p != NULL ? p + 1 : NULL;
}

static int parse_ull(const char *p, unsigned long long *out) {
  char *end;
  errno = 0;
  *out = strtoull(p, &end, 10);
  return errno == 0 && end != p && (*end == ' ' || *end == '\0') ? 0 : NEMB_EPARSE;
}

int nemb__proc_stat_parse(const char *line, nemb__proc_stat *out) {
  const char *p = strrchr(line, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0') {
    return NEMB_EPARSE;
  }
  p += 2; /* field 3 */
  out->state = *p;
  p = next_field(p); /* field 4 */
  unsigned long long ppid;
  if (p == NULL || parse_ull(p, &ppid) != 0) {
    return NEMB_EPARSE;
  }
  out->ppid = (pid_t)ppid;
  for (int field = 4; p != NULL && field < 22; field++) {
    p = next_field(p);
  }
  return p != NULL ? parse_ull(p, &out->start_ticks) : NEMB_EPARSE;
}

int nemb__proc_stat_read(pid_t pid, nemb__proc_stat *out) {
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int rc = nemb__read_text(path, line, sizeof line);
  return rc != 0 ? rc : nemb__proc_stat_parse(line, out);
}
