/*
 * proc_tree.c - the calling process's descendants over time (proc_tree.h).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc_stat.h"
#include "proc_tree.h"

/* A sample this much before a recorded start still matches: the start is read to the clock
 * tick (10 ms) and converted through the boot time, which NTP may have moved since. */
#define START_SLACK_US 20000u
#define MAX_FOUND 4096 /* descendants found per walk */

typedef struct life {
  pid_t pid;
  uint64_t start_us, end_us;
} life;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static life *lives; /* under lock */
static size_t n_lives, cap_lives;
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static uint64_t boot_real_us; /* CLOCK_REALTIME at boot, read once */
static long ticks_per_s;

static uint64_t clock_us(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t nemb__realtime_us(void) {
  return clock_us(CLOCK_REALTIME);
}

static void read_boot(void) {
  boot_real_us = clock_us(CLOCK_REALTIME) - clock_us(CLOCK_BOOTTIME);
  ticks_per_s = sysconf(_SC_CLK_TCK);
  ticks_per_s = ticks_per_s > 0 ? ticks_per_s : 100;
}

uint64_t nemb__proc_start_us(pid_t pid) {
  pthread_once(&boot_once, read_boot);
  nemb__proc_stat st;
  if (nemb__proc_stat_read(pid, &st) != 0) {
    return 0;
  }
  unsigned long long ticks = st.start_ticks;
  return boot_real_us + ticks / (unsigned long long)ticks_per_s * 1000000u +
         ticks % (unsigned long long)ticks_per_s * 1000000u / (unsigned long long)ticks_per_s;
}

static void add_locked(pid_t pid, uint64_t start_us, uint64_t end_us) {
  if (n_lives == cap_lives) {
    size_t cap = cap_lives ? cap_lives * 2 : 64;
    if (cap > NEMB__PROC_TREE_MAX) {
      return;
    }
    life *grown = realloc(lives, cap * sizeof *grown);
    if (grown == NULL) {
      return;
    }
    lives = grown;
    cap_lives = cap;
  }
  lives[n_lives++] = (life){pid, start_us, end_us};
}

static void note_locked(pid_t pid, uint64_t start_us, uint64_t end_us) {
  life *alive = NULL, *latest = NULL;
  for (size_t i = n_lives; i-- > 0;) {
    life *l = &lives[i];
    if (l->pid != pid) {
      continue;
    }
    if (start_us != 0 && l->start_us == start_us) { /* the same process */
      l->end_us = end_us < l->end_us ? end_us : l->end_us;
      return;
    }
    if (alive == NULL && l->end_us == NEMB__PROC_ALIVE) {
      alive = l;
    }
    if (latest == NULL) {
      latest = l;
    }
  }
  if (alive != NULL && (start_us == 0 || alive->start_us == 0)) {
    alive->start_us = alive->start_us != 0 ? alive->start_us : start_us;
    alive->end_us = end_us;
    return;
  }
  /* Ended by a walk that noticed it gone after the reaper did: the reaper's end is the exact one.
   */
  if (start_us == 0 && latest != NULL && end_us != NEMB__PROC_ALIVE && latest->end_us >= end_us) {
    latest->end_us = end_us;
    return;
  }
  add_locked(pid, start_us, end_us);
}

void nemb__proc_tree_note(pid_t pid, uint64_t start_us, uint64_t end_us) {
  pthread_mutex_lock(&lock);
  note_locked(pid, start_us, end_us);
  pthread_mutex_unlock(&lock);
}

/* Appends the children of every thread of @p pid to @p out; false when /proc has no children
 * files (a kernel without CONFIG_PROC_CHILDREN) or the process is gone. */
static bool children_of(pid_t pid, pid_t *out, size_t *n, size_t cap) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *dir = opendir(path);
  if (dir == NULL) {
    return false;
  }
  bool any = false;
  for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') {
      continue;
    }
    snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", (int)pid, e->d_name);
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
      continue;
    }
    any = true;
    int child;
    while (*n < cap && fscanf(fp, "%d", &child) == 1) {
      out[(*n)++] = (pid_t)child;
    }
    fclose(fp);
  }
  closedir(dir);
  return any;
}

size_t nemb__proc_tree_walk(uint64_t now_us) {
  pid_t *found = malloc(MAX_FOUND * sizeof *found);
  uint64_t *start = malloc(MAX_FOUND * sizeof *start);
  if (found == NULL || start == NULL) {
    free(found);
    free(start);
    return 0;
  }
  size_t n = 0;
  if (!children_of(getpid(), found, &n, MAX_FOUND)) {
    free(found);
    free(start);
    return 0; /* no children files: nothing can be said about who ended */
  }
  for (size_t i = 0; i < n; i++) { /* breadth first: found grows as it is read */
    start[i] = nemb__proc_start_us(found[i]);
    children_of(found[i], found, &n, MAX_FOUND);
  }
  pid_t self = getpid(); /* the root: never among the found, never ended by a walk */
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < n; i++) {
    if (start[i] != 0) {
      note_locked(found[i], start[i], NEMB__PROC_ALIVE);
    }
  }
  for (size_t k = 0; k < n_lives; k++) {
    life *l = &lives[k];
    if (l->end_us != NEMB__PROC_ALIVE || l->pid == self) {
      continue;
    }
    bool still = false;
    for (size_t i = 0; i < n && !still; i++) {
      still = found[i] == l->pid && (l->start_us == 0 || l->start_us == start[i]);
    }
    if (!still) {
      l->end_us = now_us;
    }
  }
  pthread_mutex_unlock(&lock);
  free(found);
  free(start);
  return n;
}

bool nemb__proc_tree_owns(unsigned int pid, uint64_t ts_us) {
  bool own = false;
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < n_lives && !own; i++) {
    const life *l = &lives[i];
    own =
        (unsigned int)l->pid == pid && ts_us + START_SLACK_US >= l->start_us && ts_us <= l->end_us;
  }
  pthread_mutex_unlock(&lock);
  return own;
}

void nemb__proc_tree_reset(void) {
  pthread_mutex_lock(&lock);
  free(lives);
  lives = NULL;
  n_lives = cap_lives = 0;
  pthread_mutex_unlock(&lock);
}
