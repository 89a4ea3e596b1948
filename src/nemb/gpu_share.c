/*
 * gpu_share.c - per-process GPU utilisation samples summed into the program's share of a GPU
 * (gpu_share.h says what the share means and what it cannot say).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_share.h"
#include "proc_stat.h"
#include "proc_tree.h"

#define MAX_GENERATIONS 64
#define MAX_SEEN 64 /* pids placed per batch, remembered within the batch */

void nemb__gpu_share_init(nemb__gpu_share *g) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->lock, NULL);
}

void nemb__gpu_share_destroy(nemb__gpu_share *g) {
  free(g->kept);
  pthread_mutex_destroy(&g->lock);
}

/* The parent of @p pid; -1 if it cannot be read (the process is gone). */
static pid_t parent_of(pid_t pid) {
  nemb__proc_stat st;
  return nemb__proc_stat_read(pid, &st) == 0 ? st.ppid : -1;
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

static bool own_by_tree(unsigned int pid, uint64_t ts_us, void *ctx) {
  (void)ctx;
  return nemb__proc_tree_owns(pid, ts_us);
}

void nemb__gpu_share_add(nemb__gpu_share *g, const nemb__proc_sample *s, size_t n) {
  /* Record the pids in the tree now (a batch holds several sample periods of the same pids:
   * each is looked up once). */
  unsigned int seen[MAX_SEEN];
  size_t n_seen = 0;
  for (size_t i = 0; i < n; i++) {
    bool found = false;
    for (size_t k = 0; k < n_seen && !found; k++) {
      found = seen[k] == s[i].pid;
    }
    if (found || n_seen == MAX_SEEN) {
      continue;
    }
    seen[n_seen++] = s[i].pid;
    if (s[i].pid > 0 && nemb__pid_in_tree((pid_t)s[i].pid, getpid())) {
      nemb__proc_tree_note((pid_t)s[i].pid, nemb__proc_start_us((pid_t)s[i].pid), NEMB__PROC_ALIVE);
    }
  }
  pthread_mutex_lock(&g->lock);
  if (g->status == 0) {
    for (size_t i = 0; i < n; i++) {
      if (g->n_kept == g->cap_kept) {
        size_t cap = g->cap_kept ? g->cap_kept * 2 : 256;
        nemb__kept_sample *grown =
            cap <= NEMB__GPU_SHARE_KEEP ? realloc(g->kept, cap * sizeof *grown) : NULL;
        if (grown == NULL) {
          g->dropped += n - i;
          break;
        }
        g->kept = grown;
        g->cap_kept = cap;
      }
      g->kept[g->n_kept++] = (nemb__kept_sample){s[i].timeStamp, s[i].pid, s[i].smUtil};
    }
  }
  pthread_mutex_unlock(&g->lock);
}

void nemb__gpu_share_fail(nemb__gpu_share *g, int status, const char *reason) {
  pthread_mutex_lock(&g->lock);
  g->status = status;
  snprintf(g->reason, sizeof g->reason, "%s", reason);
  pthread_mutex_unlock(&g->lock);
}

void nemb__gpu_share_get(nemb__gpu_share *g, uint64_t from_us, uint64_t to_us, nemb__own_fn own,
                         void *ctx, nemb_gpu_usage *out) {
  if (own == NULL) {
    own = own_by_tree;
  }
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&g->lock);
  out->status = g->status;
  snprintf(out->reason, sizeof out->reason, "%s", g->reason);
  out->dropped_samples = g->dropped;
  for (size_t i = 0; i < g->n_kept; i++) {
    const nemb__kept_sample *k = &g->kept[i];
    if (k->ts_us < from_us || k->ts_us > to_us) {
      out->outside_samples++;
      continue;
    }
    out->samples++;
    out->all_sm += k->sm;
    if (own(k->pid, k->ts_us, ctx)) {
      out->own_samples++;
      out->own_sm += k->sm;
    }
  }
  pthread_mutex_unlock(&g->lock);
  if (out->status == 0) {
    snprintf(out->method, sizeof out->method, "%s", NEMB__GPU_SHARE_METHOD);
  }
}

void nemb__gpu_share_forget(nemb__gpu_share *g, uint64_t before_us) {
  pthread_mutex_lock(&g->lock);
  size_t w = 0;
  for (size_t i = 0; i < g->n_kept; i++) {
    if (g->kept[i].ts_us >= before_us) {
      g->kept[w++] = g->kept[i];
    }
  }
  g->n_kept = w;
  pthread_mutex_unlock(&g->lock);
}
