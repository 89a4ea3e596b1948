/*
 * store.h - where the sampler keeps its samples: append-only, growable in chunks, readable from
 * any thread without locks.
 *
 * A sample is 1 + n_domains unsigned 64-bit words: the CLOCK_MONOTONIC time, then each domain's
 * cumulative microjoules. The sampler is the only writer. It fills a slot and then publishes it by
 * raising `count` with release ordering; a reader loads `count` with acquire ordering and may then
 * read every slot below it, which never changes again. The table of chunk pointers is allocated
 * once, at its full size, so a reader never sees it move. Chunks are allocated as the store
 * grows, so memory follows the samples actually taken, up to the cap.
 *
 * Bounded, never lossy: at the cap the store keeps every other sample (always the first and the
 * newest) and carries on, so memory stays at the cap however long a session runs. Samples are
 * cumulative energies, so dropping one loses no energy: the energy at any instant is still
 * interpolated between the samples around it, only over a longer interval (the effective
 * resolution, interval x 2^coarsened, which the report states). Compaction moves published
 * samples, so it holds `lock` for writing; a reader that may run while the sampler does (a
 * checkpoint resolving during the run) holds it for reading (energy.c does this).
 */
#ifndef NEMB_STORE_H
#define NEMB_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NEMB__STORE_CHUNK 4096 /* samples per chunk: 4 s at 1 ms */

typedef struct nemb__store {
  size_t stride;     /* words per sample */
  size_t cap;        /* most samples it will hold */
  size_t n_chunks;   /* length of chunks[] */
  uint64_t **chunks; /* chunk i holds samples [i * CHUNK, (i + 1) * CHUNK) */
  _Atomic size_t count;
  _Atomic size_t high;        /* the highest count ever published (chunks allocated) */
  _Atomic unsigned coarsened; /* compactions so far: each halved the resolution */
  pthread_rwlock_t lock;      /* held for writing only while compacting */
  bool lock_ready;
} nemb__store;

/* Prepares an empty store for @p n_domains domains and at most @p cap samples, allocating the
 * first chunk now so the sampler's first seconds allocate nothing. Returns 0 or NEMB_ENOMEM. */
int nemb__store_init(nemb__store *s, size_t n_domains, size_t cap);

/* Frees everything. No reader may be using the store. */
void nemb__store_release(nemb__store *s);

/* Appends one sample (sampler thread only), compacting first when the store is at its cap.
 * Returns 0 or NEMB_ENOMEM (NEMB_EFULL only for a cap below 4, too small to compact). */
int nemb__store_append(nemb__store *s, uint64_t t_ns, const uint64_t *energy_uj);

/* The number of published samples. Any thread. */
size_t nemb__store_count(const nemb__store *s);

/* The words of sample @p index, which must be below a count this thread loaded. Any thread.
 * Inline: the report's end looks up millions of instants, each a binary search over it. */
static inline const uint64_t *nemb__store_at(const nemb__store *s, size_t index) {
  return s->chunks[index / NEMB__STORE_CHUNK] + (index % NEMB__STORE_CHUNK) * s->stride;
}

/* How many times the store halved its resolution to stay within the cap. Any thread. */
unsigned nemb__store_coarsened(const nemb__store *s);

/* Bytes the store holds now (chunks and table), for benchmarks and the memory report. */
size_t nemb__store_bytes(const nemb__store *s);

#endif /* NEMB_STORE_H */
