/*
 * bench_tasks.c - the C side of bench_scale.py's figure 2: a session whose one task name is
 * started and stopped N times in a loop (what a `@codegreen.task` function called N times does
 * from Python), then ended, the report written to a file.
 *
 *   bench_tasks N OUTPUT.json
 *
 * Prints one JSON line: the CPU and wall seconds of nemb_session_end() (which aggregates the
 * tasks by name and parent, streams the report into OUTPUT and stops the sampler) and this
 * process's peak RSS in kB before the loop ("base_kb"); the caller reads the process's peak from
 * wait4's rusage, as it does for the Python run, so the two are measured alike. Figures, never
 * assertions. Run on the simulated device (CODEGREEN_PROVIDERS=sim) like the Python side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench_common.h"
#include "nemb.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_tasks N OUTPUT.json\n");
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long base_kb = ru.ru_maxrss;

  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "scale";
  o.output_file = argv[2];
  nemb_session *s = NULL;
  int rc = nemb_session_begin(&o, &s);
  if (rc != 0) {
    fprintf(stderr, "bench_tasks: nemb_session_begin: %s\n", nemb_strerror(rc));
    return 1;
  }
  for (long i = 0; i < n; i++) {
    if ((rc = nemb_task_start(s, "f")) != 0 || (rc = nemb_task_stop(s, "f")) != 0) {
      fprintf(stderr, "bench_tasks: task %ld: %s\n", i, nemb_strerror(rc));
      return 1;
    }
  }
  uint64_t c0 = bench_cpu_ns(), w0 = bench_now_ns();
  rc = nemb_session_end(s);
  uint64_t c1 = bench_cpu_ns(), w1 = bench_now_ns();
  if (rc != 0) {
    fprintf(stderr, "bench_tasks: nemb_session_end: %s\n", nemb_strerror(rc));
    return 1;
  }
  nemb_session_destroy(s);
  printf("{\"stop_cpu_s\": %.6f, \"stop_wall_s\": %.6f, \"base_kb\": %ld}\n",
         (double)(c1 - c0) / 1e9, (double)(w1 - w0) / 1e9, base_kb);
  return 0;
}
