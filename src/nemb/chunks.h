/*
 * chunks.h - where a recording thread's growing runs of fixed-size records live: lists of chunks
 * that grow without moving what they hold, the first chunks from malloc() and the later ones in
 * 2 MiB mappings that the kernel can back with one transparent huge page. The one place for that
 * rule; used for a thread's task records (records.c) and its checkpoint details and event queue
 * (checkpoint.c). Not installed.
 *
 * Why huge pages: see huge.h (a first write to a 4 KiB page under virtualisation costs tens of
 * microseconds; a record of 56-72 B fills a page every 57-73 records, so where records are written
 * at a few nanoseconds each the faults were most of the cost).
 *
 * Why small chunks first: most lists stay short, and a mapping backed by a huge page holds 2 MiB
 * of memory as soon as its first record is written, so lists start in malloc()'s memory and only
 * those that outgrow it (nemb__chunk_rule.small chunks) take 2 MiB at a time.
 *
 * Thread safety: a list belongs to one thread at a time (its recording thread, or the end once
 * every thread has left its calls); an arena may be shared by any number of threads.
 */
#ifndef NEMB_CHUNKS_H
#define NEMB_CHUNKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "huge.h"

#define NEMB__ARENA_BLOCK ((size_t)32 << 10) /* bytes an arena hands a list at a time */

/* 2 MiB huge-page mappings shared by the lists of many threads: each list takes blocks of
 * NEMB__ARENA_BLOCK bytes from the newest mapping, under the arena's lock, so the memory of all
 * those lists together is their records rounded up to one block per list plus one partly used
 * mapping, however many threads record. Every block lives until nemb__arena_release(). */
typedef struct nemb__arena {
  pthread_mutex_t lock;
  char *next, *end; /* the untaken rest of the newest mapping */
  void **maps;      /* every mapping, for the release */
  size_t n_maps, cap_maps;
  void *spare; /* a mapping made ahead of need by nemb__arena_prepare(), or NULL */
} nemb__arena;

/* @return 0, or NEMB_ENOMEM. */
int nemb__arena_init(nemb__arena *a);
/* @return NEMB__ARENA_BLOCK bytes aligned like malloc()'s, or NULL when out of memory. Safe to
 * call from any thread. */
void *nemb__arena_take(nemb__arena *a);
/* Makes the arena's next mapping now, with its pages faulted in (MADV_POPULATE_WRITE, Linux 5.14
 * and later; where the kernel refuses, they fault on first write as before), so that the thread
 * that later takes its first block does not pay for it: a fault that maps and zeroes a 2 MiB page
 * is a few hundred microseconds on a virtual machine. Does nothing if a spare is ready or the
 * mapping fails. Safe to call from any thread; the mapping is made outside the arena's lock. */
void nemb__arena_prepare(nemb__arena *a);
/* Unmaps every block taken and the spare; no thread may use the arena or a list that took from it
 * any more. */
void nemb__arena_release(nemb__arena *a);

/* How a list's chunks grow. */
typedef struct nemb__chunk_rule {
  size_t size;        /* bytes per record */
  size_t first;       /* records in the first chunk (> 0) */
  unsigned small;     /* chunks from malloc(), doubling from `first`, before the big ones (>= 1) */
  nemb__arena *arena; /* NULL: every later chunk a 2 MiB mapping of its own; else a block of
                         the arena's (memory shared by many threads' lists) */
} nemb__chunk_rule;

typedef struct nemb__chunk {
  struct nemb__chunk *next;
  size_t n, cap; /* records held, and room */
  size_t mapped; /* 0: from malloc() or an arena (see `arena`); else its own mapping's length */
  bool arena;    /* a block of an arena: freed with the arena, not with the list */
  _Alignas(16) unsigned char recs[]; /* cap records of the rule's size */
} nemb__chunk;

/* A list of records, oldest first; {0} is an empty list. */
typedef struct nemb__chunks {
  nemb__chunk *first, *last;
} nemb__chunks;

/* Appends a chunk after the list's last, sized by @p rule; @return it, or NULL when out of
 * memory (the list is unchanged). When a 2 MiB mapping fails the chunk comes from malloc(), as
 * large as the last small one. */
nemb__chunk *nemb__chunks_grow(nemb__chunks *l, const nemb__chunk_rule *rule);

/* @return room for one more record at the end of @p l (counted as held), or NULL when out of
 * memory. */
static inline void *nemb__chunks_push(nemb__chunks *l, const nemb__chunk_rule *rule) {
  nemb__chunk *c = l->last;
  if (c == NULL || c->n == c->cap) {
    c = nemb__chunks_grow(l, rule);
    if (c == NULL) {
      return NULL;
    }
  }
  return c->recs + c->n++ * rule->size;
}

/* @return how many records @p l holds. */
size_t nemb__chunks_count(const nemb__chunks *l);

/* Frees every chunk of @p l that is not an arena's, and empties it. */
void nemb__chunks_free(nemb__chunks *l);

#endif /* NEMB_CHUNKS_H */
