/*
 * interval.c - see interval.h. The thread only reads the meter's latest sample (which never
 * blocks the sampler) and sleeps on a condition variable so that stopping is prompt.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interval.h"

struct cg_interval {
  nemb_meter *m;
  long ms;
  const char *sep;
  FILE *fp;
  size_t n;
  uint64_t t_start, t_prev;
  uint64_t *prev, *now;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop, started;
};

static void print_header(cg_interval *iv) {
  const char *s = iv->sep;
  if (s == NULL) {
    fprintf(iv->fp, "#%11s  %-12s %12s %10s\n", "time s", "domain", "energy J", "power W");
    return;
  }
  fprintf(iv->fp, "time_s%senergy_j%spower_w", s, s);
  for (size_t d = 0; d < iv->n; d++) {
    nemb_domain_info info;
    nemb_meter_domain(iv->m, d, &info);
    fprintf(iv->fp, "%s%s_j%s%s_w", s, info.name, s, info.name);
  }
  fputc('\n', iv->fp);
}

/* One interval: from the previous reading to the latest one. */
static void print_interval(cg_interval *iv) {
  uint64_t t = 0;
  if (nemb_meter_latest(iv->m, &t, iv->now, iv->n) != 0 || t <= iv->t_prev) {
    return;
  }
  double secs = (double)(t - iv->t_prev) / 1e9, at = (double)(t - iv->t_start) / 1e9;
  double total = 0;
  for (size_t d = 0; d < iv->n; d++) {
    nemb_domain_info info;
    nemb_meter_domain(iv->m, d, &info);
    total += info.in_total ? (double)(iv->now[d] - iv->prev[d]) / 1e6 : 0;
  }
  if (iv->sep != NULL) {
    fprintf(iv->fp, "%.3f%s%.6f%s%.3f", at, iv->sep, total, iv->sep, total / secs);
    for (size_t d = 0; d < iv->n; d++) {
      double j = (double)(iv->now[d] - iv->prev[d]) / 1e6;
      fprintf(iv->fp, "%s%.6f%s%.3f", iv->sep, j, iv->sep, j / secs);
    }
    fputc('\n', iv->fp);
  } else {
    fprintf(iv->fp, "%12.3f  %-12s %12.4f %10.3f\n", at, "energy_j", total, total / secs);
    for (size_t d = 0; d < iv->n; d++) {
      nemb_domain_info info;
      nemb_meter_domain(iv->m, d, &info);
      double j = (double)(iv->now[d] - iv->prev[d]) / 1e6;
      fprintf(iv->fp, "%12.3f  %-12s %12.4f %10.3f\n", at, info.name, j, j / secs);
    }
  }
  fflush(iv->fp);
  memcpy(iv->prev, iv->now, iv->n * sizeof *iv->prev);
  iv->t_prev = t;
}

static void *loop(void *arg) {
  cg_interval *iv = arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  pthread_mutex_lock(&iv->lock);
  while (!iv->stop) {
    next.tv_sec += iv->ms / 1000;
    next.tv_nsec += (iv->ms % 1000) * 1000000L;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_sec++;
      next.tv_nsec -= 1000000000L;
    }
    while (!iv->stop && pthread_cond_timedwait(&iv->cond, &iv->lock, &next) != ETIMEDOUT) {
    }
    if (!iv->stop) {
      print_interval(iv);
    }
  }
  pthread_mutex_unlock(&iv->lock);
  return NULL;
}

int cg_interval_start(nemb_meter *m, long ms, const char *sep, FILE *fp, cg_interval **out) {
  *out = NULL;
  cg_interval *iv = calloc(1, sizeof *iv);
  if (iv == NULL) {
    return -1;
  }
  iv->m = m;
  iv->ms = ms;
  iv->sep = sep;
  iv->fp = fp;
  iv->n = nemb_meter_domain_count(m);
  iv->prev = calloc(iv->n ? iv->n : 1, sizeof *iv->prev);
  iv->now = calloc(iv->n ? iv->n : 1, sizeof *iv->now);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&iv->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&iv->lock, NULL);
  if (iv->prev == NULL || iv->now == NULL ||
      nemb_meter_latest(m, &iv->t_start, iv->prev, iv->n) != 0) {
    cg_interval_stop(iv);
    errno = ENOMEM;
    return -1;
  }
  iv->t_prev = iv->t_start;
  print_header(iv);
  if (pthread_create(&iv->thread, NULL, loop, iv) != 0) {
    cg_interval_stop(iv);
    return -1;
  }
  iv->started = true;
  *out = iv;
  return 0;
}

void cg_interval_stop(cg_interval *iv) {
  if (iv == NULL) {
    return;
  }
  if (iv->started) {
    pthread_mutex_lock(&iv->lock);
    iv->stop = true;
    pthread_cond_signal(&iv->cond);
    pthread_mutex_unlock(&iv->lock);
    pthread_join(iv->thread, NULL);
    print_interval(iv); /* the last, partial interval */
  }
  pthread_mutex_destroy(&iv->lock);
  pthread_cond_destroy(&iv->cond);
  free(iv->prev);
  free(iv->now);
  free(iv);
}
