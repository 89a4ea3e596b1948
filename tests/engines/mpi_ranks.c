/*
 * mpi_ranks.c - an MPI program measured with the C Session API, for test_mpi.sh: every rank
 * begins a session (the default output, codegreen_<job>_<rank>.json), burns CPU in a task
 * ("compute", longer for higher ranks), and ends its session after a barrier.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "nemb.h"

static volatile double sink;

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "mpi-ranks";
  nemb_session *s = NULL;
  if (nemb_session_begin(&o, &s) != 0) {
    fprintf(stderr, "rank %d: %s\n", rank, nemb_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  nemb_task_start(s, "compute");
  double x = 0;
  for (long i = 0; i < (long)(rank + 1) * 20000000L; i++) {
    x += (double)(i % 7) * 0.5;
  }
  sink = x;
  nemb_task_stop(s, "compute");
  MPI_Barrier(MPI_COMM_WORLD);
  int rc = nemb_session_end(s);
  if (rc != 0) {
    fprintf(stderr, "rank %d: %s\n", rank, nemb_last_error());
  }
  nemb_session_destroy(s);
  MPI_Finalize();
  return rc == 0 ? 0 : 1;
}
