/*
 * chunks.c - lists of record chunks and the arenas of 2 MiB huge-page mappings that they share
 * (chunks.h says why).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "chunks.h"
#include "internal.h"

/* ----- arenas ----- */

int nemb__arena_init(nemb__arena *a) {
  memset(a, 0, sizeof *a);
  return pthread_mutex_init(&a->lock, NULL) == 0 ? 0 : NEMB_ENOMEM;
}

void *nemb__arena_take(nemb__arena *a) {
  pthread_mutex_lock(&a->lock);
  if ((size_t)(a->end - a->next) < NEMB__ARENA_BLOCK) {
    void *m = NULL;
    if (a->n_maps == a->cap_maps) {
      size_t ncap = a->cap_maps ? 2 * a->cap_maps : 8;
      void **n = realloc(a->maps, ncap * sizeof *n);
      if (n != NULL) {
        a->maps = n;
        a->cap_maps = ncap;
      }
    }
    if (a->n_maps < a->cap_maps) {
      m = a->spare != NULL ? a->spare : nemb__huge_map(NEMB__HUGE_BYTES);
      a->spare = NULL;
    }
    if (m == NULL) {
      pthread_mutex_unlock(&a->lock);
      return NULL;
    }
    a->maps[a->n_maps++] = m;
    a->next = m;
    a->end = a->next + NEMB__HUGE_BYTES;
  }
  void *b = a->next;
  a->next += NEMB__ARENA_BLOCK;
  pthread_mutex_unlock(&a->lock);
  return b;
}

void nemb__arena_prepare(nemb__arena *a) {
  pthread_mutex_lock(&a->lock);
  bool ready = a->spare != NULL;
  pthread_mutex_unlock(&a->lock);
  if (ready) {
    return;
  }
  void *m = nemb__huge_map(NEMB__HUGE_BYTES);
  if (m == NULL) {
    return;
  }
#ifdef MADV_POPULATE_WRITE
  madvise(m, NEMB__HUGE_BYTES, MADV_POPULATE_WRITE); /* refused (EINVAL) before Linux 5.14 */
#endif
  pthread_mutex_lock(&a->lock);
  if (a->spare == NULL) {
    a->spare = m;
    m = NULL;
  }
  pthread_mutex_unlock(&a->lock);
  nemb__huge_unmap(m, NEMB__HUGE_BYTES); /* another thread made one meanwhile */
}

void nemb__arena_release(nemb__arena *a) {
  nemb__huge_unmap(a->spare, NEMB__HUGE_BYTES);
  for (size_t i = 0; i < a->n_maps; i++) {
    nemb__huge_unmap(a->maps[i], NEMB__HUGE_BYTES);
  }
  free(a->maps);
  pthread_mutex_destroy(&a->lock);
  memset(a, 0, sizeof *a);
}

/* ----- lists ----- */

nemb__chunk *nemb__chunks_grow(nemb__chunks *l, const nemb__chunk_rule *rule) {
  size_t hdr = offsetof(nemb__chunk, recs);
  size_t last_small = rule->first << (rule->small ? rule->small - 1 : 0);
  size_t cap = l->last == NULL ? rule->first : l->last->cap * 2;
  nemb__chunk *c = NULL;
  if (l->last != NULL && cap > last_small) {
    /* Past the small chunks: a 2 MiB mapping of its own, or a block of the arena's. */
    size_t bytes = rule->arena ? NEMB__ARENA_BLOCK : NEMB__HUGE_BYTES;
    c = rule->arena ? nemb__arena_take(rule->arena) : nemb__huge_map(bytes);
    if (c != NULL) {
      c->mapped = rule->arena ? 0 : bytes;
      c->arena = rule->arena != NULL;
      c->cap = (bytes - hdr) / rule->size;
    }
    cap = last_small; /* if the mapping failed, stay at this size */
  }
  if (c == NULL) {
    c = malloc(hdr + cap * rule->size);
    if (c == NULL) {
      return NULL;
    }
    c->mapped = 0;
    c->arena = false;
    c->cap = cap;
  }
  c->next = NULL;
  c->n = 0;
  if (l->last != NULL) {
    l->last->next = c;
  } else {
    l->first = c;
  }
  l->last = c;
  return c;
}

size_t nemb__chunks_count(const nemb__chunks *l) {
  size_t n = 0;
  for (const nemb__chunk *c = l->first; c != NULL; c = c->next) {
    n += c->n;
  }
  return n;
}

void nemb__chunks_free(nemb__chunks *l) {
  for (nemb__chunk *c = l->first, *next; c != NULL; c = next) {
    next = c->next;
    if (c->mapped) {
      nemb__huge_unmap(c, c->mapped);
    } else if (!c->arena) {
      free(c);
    }
  }
  l->first = l->last = NULL;
}
