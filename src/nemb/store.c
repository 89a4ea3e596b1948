/*
 * store.c - the sample store; the concurrency argument and the compaction rule are in store.h.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "store.h"

int nemb__store_init(nemb__store *s, size_t n_domains, size_t cap) {
  memset(s, 0, sizeof *s);
  s->stride = 1 + n_domains;
  s->cap = cap;
  s->n_chunks = (cap + NEMB__STORE_CHUNK - 1) / NEMB__STORE_CHUNK;
  s->chunks = calloc(s->n_chunks ? s->n_chunks : 1, sizeof *s->chunks);
  if (s->chunks == NULL) {
    return NEMB_ENOMEM;
  }
  s->chunks[0] = malloc(NEMB__STORE_CHUNK * s->stride * sizeof(uint64_t));
  if (s->chunks[0] == NULL) {
    free(s->chunks);
    s->chunks = NULL;
    return NEMB_ENOMEM;
  }
  atomic_init(&s->count, 0);
  atomic_init(&s->coarsened, 0);
  atomic_init(&s->high, 0);
  pthread_rwlock_init(&s->lock, NULL);
  s->lock_ready = true;
  return 0;
}

void nemb__store_release(nemb__store *s) {
  if (s->chunks != NULL) {
    for (size_t i = 0; i < s->n_chunks; i++) {
      free(s->chunks[i]);
    }
    free(s->chunks);
  }
  if (s->lock_ready) {
    pthread_rwlock_destroy(&s->lock);
  }
  memset(s, 0, sizeof *s);
}

static uint64_t *slot(const nemb__store *s, size_t i) {
  return s->chunks[i / NEMB__STORE_CHUNK] + (i % NEMB__STORE_CHUNK) * s->stride;
}

/* Keeps samples 0, 2, 4, ... and the newest, in place (sampler thread, at the cap). */
static size_t compact(nemb__store *s, size_t n) {
  pthread_rwlock_wrlock(&s->lock);
  size_t k = 1;
  for (size_t i = 2; i + 1 < n; i += 2) {
    memmove(slot(s, k++), slot(s, i), s->stride * sizeof(uint64_t));
  }
  memmove(slot(s, k++), slot(s, n - 1), s->stride * sizeof(uint64_t));
  atomic_store_explicit(&s->count, k, memory_order_release);
  atomic_fetch_add_explicit(&s->coarsened, 1, memory_order_relaxed);
  pthread_rwlock_unlock(&s->lock);
  return k;
}

int nemb__store_append(nemb__store *s, uint64_t t_ns, const uint64_t *energy_uj) {
  /* Only this thread writes count, so a relaxed load of our own value is enough. */
  size_t n = atomic_load_explicit(&s->count, memory_order_relaxed);
  if (n >= s->cap) {
    if (s->cap < 4) {
      return NEMB_EFULL;
    }
    n = compact(s, n);
  }
  size_t chunk = n / NEMB__STORE_CHUNK;
  if (s->chunks[chunk] == NULL) {
    s->chunks[chunk] = malloc(NEMB__STORE_CHUNK * s->stride * sizeof(uint64_t));
    if (s->chunks[chunk] == NULL) {
      return NEMB_ENOMEM;
    }
  }
  uint64_t *w = slot(s, n);
  w[0] = t_ns;
  memcpy(w + 1, energy_uj, (s->stride - 1) * sizeof(uint64_t));
  atomic_store_explicit(&s->count, n + 1, memory_order_release);
  if (n + 1 > atomic_load_explicit(&s->high, memory_order_relaxed)) {
    atomic_store_explicit(&s->high, n + 1, memory_order_relaxed);
  }
  return 0;
}

size_t nemb__store_count(const nemb__store *s) {
  return atomic_load_explicit(&((nemb__store *)s)->count, memory_order_acquire);
}

unsigned nemb__store_coarsened(const nemb__store *s) {
  return atomic_load_explicit(&((nemb__store *)s)->coarsened, memory_order_relaxed);
}

size_t nemb__store_bytes(const nemb__store *s) {
  size_t bytes = s->n_chunks * sizeof *s->chunks;
  size_t chunk_bytes = NEMB__STORE_CHUNK * s->stride * sizeof(uint64_t);
  /* Chunks stay allocated after a compaction: count those the highest count ever needed. */
  size_t n = atomic_load_explicit(&((nemb__store *)s)->high, memory_order_relaxed);
  size_t used_chunks = n == 0 ? 1 : (n - 1) / NEMB__STORE_CHUNK + 1;
  return bytes + used_chunks * chunk_bytes;
}
