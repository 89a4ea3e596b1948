/*
 * gpu_share.c - per-process GPU utilisation samples summed into the program's share of a GPU
 * (gpu_share.h says what the share means and what it cannot say).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gpu_share.h"

#define MAX_GENERATIONS 64
#define MAX_SEEN 64 /* pids placed per batch, remembered within the batch */

void nemb__gpu_share_init(nemb__gpu_share *g) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->lock, NULL);
}

void nemb__gpu_share_destroy(nemb__gpu_share *g) {
  pthread_mutex_destroy(&g->lock);
}

/* The parent of @p pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces
 * and parentheses, so the fields are read after the last ')'); -1 if it cannot be read. */
static pid_t parent_of(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *fp = fopen(path, "re");
  if (fp == NULL) {
    return -1;
  }
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  const char *close = strrchr(buf, ')');
  int ppid = -1;
  char state;
  if (close == NULL || sscanf(close + 1, " %c %d", &state, &ppid) != 2) {
    return -1;
  }
  return (pid_t)ppid;
}

bool nemb__pid_in_tree(pid_t pid, pid_t root) {
  for (int gen = 0; gen < MAX_GENERATIONS && pid > 0; gen++) {
    if (pid == root) {
      return true;
    }
    pid = parent_of(pid);
  }
  return false;
}

static bool own_by_proc(unsigned int pid, void *ctx) {
  (void)ctx;
  return nemb__pid_in_tree((pid_t)pid, getpid());
}

void nemb__gpu_share_add(nemb__gpu_share *g, const nemb__proc_sample *s, size_t n, nemb__own_fn own,
                         void *ctx) {
  if (own == NULL) {
    own = own_by_proc;
  }
  /* Place every pid once per batch (a batch holds several sample periods of the same pids). */
  unsigned int seen_pid[MAX_SEEN];
  bool seen_own[MAX_SEEN];
  size_t n_seen = 0;
  double own_sm = 0, all_sm = 0;
  uint64_t own_samples = 0;
  for (size_t i = 0; i < n; i++) {
    bool mine = false, found = false;
    for (size_t k = 0; k < n_seen; k++) {
      if (seen_pid[k] == s[i].pid) {
        mine = seen_own[k];
        found = true;
        break;
      }
    }
    if (!found) {
      mine = own(s[i].pid, ctx);
      if (n_seen < MAX_SEEN) {
        seen_pid[n_seen] = s[i].pid;
        seen_own[n_seen++] = mine;
      }
    }
    all_sm += s[i].smUtil;
    if (mine) {
      own_sm += s[i].smUtil;
      own_samples++;
    }
  }
  pthread_mutex_lock(&g->lock);
  if (g->status == 0) {
    g->own_sm += own_sm;
    g->all_sm += all_sm;
    g->samples += n;
    g->own_samples += own_samples;
  }
  pthread_mutex_unlock(&g->lock);
}

void nemb__gpu_share_fail(nemb__gpu_share *g, int status, const char *reason) {
  pthread_mutex_lock(&g->lock);
  g->status = status;
  snprintf(g->reason, sizeof g->reason, "%s", reason);
  pthread_mutex_unlock(&g->lock);
}

void nemb__gpu_share_get(nemb__gpu_share *g, nemb_gpu_usage *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&g->lock);
  out->status = g->status;
  snprintf(out->reason, sizeof out->reason, "%s", g->reason);
  out->own_sm = g->own_sm;
  out->all_sm = g->all_sm;
  out->samples = g->samples;
  out->own_samples = g->own_samples;
  pthread_mutex_unlock(&g->lock);
  if (out->status == 0) {
    snprintf(out->method, sizeof out->method, "%s", NEMB__GPU_SHARE_METHOD);
  }
}
