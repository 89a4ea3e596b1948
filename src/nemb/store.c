/*
 * store.c - the append-only sample store; the concurrency argument is in store.h.
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
  s->chunks = calloc(s->n_chunks, sizeof *s->chunks);
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
  return 0;
}

void nemb__store_release(nemb__store *s) {
  if (s->chunks != NULL) {
    for (size_t i = 0; i < s->n_chunks; i++) {
      free(s->chunks[i]);
    }
    free(s->chunks);
  }
  memset(s, 0, sizeof *s);
}

int nemb__store_append(nemb__store *s, uint64_t t_ns, const uint64_t *energy_uj) {
  /* Only this thread writes count, so a relaxed load of our own value is enough. */
  size_t n = atomic_load_explicit(&s->count, memory_order_relaxed);
  if (n >= s->cap) {
    return NEMB_EFULL;
  }
  size_t chunk = n / NEMB__STORE_CHUNK;
  if (s->chunks[chunk] == NULL) {
    s->chunks[chunk] = malloc(NEMB__STORE_CHUNK * s->stride * sizeof(uint64_t));
    if (s->chunks[chunk] == NULL) {
      return NEMB_ENOMEM;
    }
  }
  uint64_t *slot = s->chunks[chunk] + (n % NEMB__STORE_CHUNK) * s->stride;
  slot[0] = t_ns;
  memcpy(slot + 1, energy_uj, (s->stride - 1) * sizeof(uint64_t));
  atomic_store_explicit(&s->count, n + 1, memory_order_release);
  return 0;
}

size_t nemb__store_count(const nemb__store *s) {
  return atomic_load_explicit(&((nemb__store *)s)->count, memory_order_acquire);
}

const uint64_t *nemb__store_at(const nemb__store *s, size_t index) {
  return s->chunks[index / NEMB__STORE_CHUNK] + (index % NEMB__STORE_CHUNK) * s->stride;
}

size_t nemb__store_bytes(const nemb__store *s) {
  size_t bytes = s->n_chunks * sizeof *s->chunks;
  size_t chunk_bytes = NEMB__STORE_CHUNK * s->stride * sizeof(uint64_t);
  size_t n = nemb__store_count(s);
  size_t used_chunks = n == 0 ? 1 : (n - 1) / NEMB__STORE_CHUNK + 1;
  return bytes + used_chunks * chunk_bytes;
}
