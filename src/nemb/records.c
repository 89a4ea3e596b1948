/*
 * records.c - the per-thread records of a session (records.h says what they are and the protocol
 * between recording threads and the end): the string pool, each thread's record found through
 * a thread-local cache, task records in chunks (chunks.h), and what the end does to them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

/* Each thread remembers its record in the last few sessions it recorded into (more than one is
 * live when the instrumenter's runtime runs beside a user's session). */
#define TLS_SLOTS 4
static _Thread_local struct {
  nemb__thread *thread;
  uint64_t generation;
} tls[TLS_SLOTS];
static _Thread_local unsigned tls_next;

/* ----- the string pool ----- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  }
  return h;
}

static bool intern_grow(nemb__intern *pool) {
  size_t cap = pool->cap ? pool->cap * 2 : 64;
  char **slots = calloc(cap, sizeof *slots);
  if (slots == NULL) {
    return false;
  }
  for (size_t i = 0; i < pool->cap; i++) {
    if (pool->slots[i] != NULL) {
      size_t j = hash_str(pool->slots[i]) & (cap - 1);
      while (slots[j] != NULL) {
        j = (j + 1) & (cap - 1);
      }
      slots[j] = pool->slots[i];
    }
  }
  free(pool->slots);
  pool->slots = slots;
  pool->cap = cap;
  return true;
}

const char *nemb__intern_get(nemb__intern *pool, const char *str) {
  if (pool->n * 2 >= pool->cap && !intern_grow(pool)) {
    return NULL;
  }
  size_t j = hash_str(str) & (pool->cap - 1);
  while (pool->slots[j] != NULL) {
    if (strcmp(pool->slots[j], str) == 0) {
      return pool->slots[j];
    }
    j = (j + 1) & (pool->cap - 1);
  }
  pool->slots[j] = strdup(str);
  if (pool->slots[j] != NULL) {
    pool->n++;
  }
  return pool->slots[j];
}

void nemb__intern_release(nemb__intern *pool) {
  for (size_t i = 0; i < pool->cap; i++) {
    free(pool->slots[i]);
  }
  free(pool->slots);
  memset(pool, 0, sizeof *pool);
}

/* ----- threads ----- */

/* A thread's identity: a number drawn once per thread from a counter, held under a pthread key
 * whose destructor retires it when the thread exits. glibc reuses a finished thread's pthread_t
 * (and its stack, so its thread-local addresses) for the next thread; told apart by pthread_t, a
 * new thread would take over a finished one's records: its open tasks as parents, its counts. */
static pthread_key_t identity_key;
static pthread_once_t identity_once = PTHREAD_ONCE_INIT;
static int identity_key_ok;
static atomic_uint_fast64_t identities;
static _Thread_local uint64_t identity_cached;

static void retire_identity(void *p) {
  /* The number is never drawn again, so no later thread can match this thread's records; they
   * stay in their sessions for the report. */
  free(p);
  identity_cached = 0;
}

static void make_identity_key(void) {
  identity_key_ok = pthread_key_create(&identity_key, retire_identity) == 0;
}

/* @return this thread's identity (> 0), or 0 when it cannot be made (out of memory). */
static uint64_t thread_identity(void) {
  if (identity_cached != 0) {
    return identity_cached;
  }
  pthread_once(&identity_once, make_identity_key);
  uint64_t *id = identity_key_ok ? pthread_getspecific(identity_key) : NULL;
  if (id == NULL) {
    id = malloc(sizeof *id);
    if (id == NULL) {
      return 0;
    }
    *id = atomic_fetch_add(&identities, 1) + 1;
    if (identity_key_ok && pthread_setspecific(identity_key, id) != 0) {
      free(id);
      return 0;
    }
    if (!identity_key_ok) {
      uint64_t v = *id; /* no key: the number alone, still never reused */
      free(id);
      identity_cached = v;
      return v;
    }
  }
  identity_cached = *id;
  return *id;
}

static nemb__thread *register_thread(nemb_session *s) {
  uint64_t self = thread_identity();
  if (self == 0) {
    return NULL;
  }
  pthread_mutex_lock(&s->threads_lock);
  /* Checked again under the lock: nemb_session_end() sets `ended` before it takes the lock to
   * wait for the threads, so a thread that gets here after that wait must not join the list
   * that end() now reads without the lock. */
  if (atomic_load(&s->ended)) {
    pthread_mutex_unlock(&s->threads_lock);
    errno = ESRCH;
    return NULL;
  }
  nemb__thread *t = s->threads;
  while (t != NULL && t->owner != self) {
    t = t->next; /* known to the session but pushed out of the thread-local cache */
  }
  if (t == NULL) {
    t = calloc(1, sizeof *t);
    if (t == NULL) {
      pthread_mutex_unlock(&s->threads_lock);
      return NULL;
    }
    atomic_init(&t->in_call, 0);
    t->owner = self;
    t->index = s->n_threads++;
    t->next = s->threads;
    s->threads = t;
  }
  pthread_mutex_unlock(&s->threads_lock);
  tls[tls_next].thread = t;
  tls[tls_next].generation = s->generation;
  tls_next = (tls_next + 1) % TLS_SLOTS;
  return t;
}

static nemb__thread *find_thread(const nemb_session *s) {
  for (unsigned i = 0; i < TLS_SLOTS; i++) {
    if (tls[i].generation == s->generation) {
      return tls[i].thread;
    }
  }
  /* Not cached, or pushed out by other sessions: register_thread() looks in the session's list
   * first, so a thread never gets two records in one session. */
  return NULL;
}

nemb__thread *nemb__thread_enter(nemb_session *s, int *rc) {
  nemb__thread *t = find_thread(s);
  if (t == NULL) {
    if (atomic_load(&s->ended)) {
      *rc = nemb__fail(NEMB_ESTATE, "the session has ended; nothing more can be recorded");
      return NULL;
    }
    errno = 0;
    t = register_thread(s);
    if (t == NULL) {
      *rc = errno == ESRCH
                ? nemb__fail(NEMB_ESTATE, "the session has ended; nothing more can be recorded")
                : nemb__fail(NEMB_ENOMEM, "out of memory registering a thread");
      return NULL;
    }
  }
  atomic_store(&t->in_call, 1);
  if (atomic_load(&s->ended)) {
    atomic_store_explicit(&t->in_call, 0, memory_order_release);
    *rc = nemb__fail(NEMB_ESTATE, "the session has ended; nothing more can be recorded");
    return NULL;
  }
  return t;
}

void nemb__thread_leave(nemb__thread *t) {
  atomic_store_explicit(&t->in_call, 0, memory_order_release);
}

nemb__task_rec nemb__thread_top_record(const nemb__thread *t, uint64_t t_end, bool closed_at_end) {
  const nemb__open_task *open = &t->stack[t->depth - 1];
  return (nemb__task_rec){
      .name = open->name,
      .parent = t->depth > 1 ? t->stack[t->depth - 2].name : NULL,
      .depth = t->depth - 1,
      .thread = t->index,
      .seq = open->seq,
      .t_start = open->t_start,
      .t_end = t_end,
      .closed_at_end = closed_at_end,
  };
}

int64_t nemb__thread_loose_slot(nemb__thread *t) {
  if (t->loose_free != 0) {
    uint32_t slot = t->loose_free - 1;
    t->loose_free = t->loose[slot].next_free;
    return slot;
  }
  if (t->n_loose == t->loose_cap) {
    uint32_t cap = t->loose_cap ? t->loose_cap * 2 : 16;
    if (cap > (1u << NEMB__LOOSE_SLOT_BITS)) {
      return -1;
    }
    nemb__loose_task *grown = realloc(t->loose, cap * sizeof *grown);
    if (grown == NULL) {
      return -1;
    }
    t->loose = grown;
    t->loose_cap = cap;
  }
  return t->n_loose++;
}

void nemb__thread_loose_release(nemb__thread *t, uint32_t slot) {
  t->loose[slot].seq = NEMB__LOOSE_FREE;
  t->loose[slot].next_free = t->loose_free;
  t->loose_free = slot + 1;
}

nemb__task_rec nemb__thread_loose_record(const nemb__thread *t, uint32_t slot, uint64_t t_end,
                                         bool closed_at_end) {
  const nemb__loose_task *open = &t->loose[slot];
  return (nemb__task_rec){
      .name = open->name,
      .parent = open->parent,
      .depth = open->depth,
      .thread = t->index,
      .seq = open->seq,
      .t_start = open->t_start,
      .t_end = t_end,
      .closed_at_end = closed_at_end,
  };
}

/* A thread's task records (chunks.h): 512, 1024 and 2048 records from malloc() (200 KB: a pool
 * of threads that each record a few thousand tasks should not hold megabytes each), then 2 MiB
 * mappings of their own, one huge page each where the kernel can. */
static const nemb__chunk_rule task_rule = {sizeof(nemb__task_rec), NEMB__TASK_CHUNK, 3, NULL};

/* The records of chunk @p c. */
static nemb__task_rec *chunk_recs(const nemb__chunk *c) {
  return (nemb__task_rec *)(void *)c->recs;
}

int nemb__thread_append_task(nemb__thread *t, const nemb__task_rec *rec) {
  nemb__task_rec *r = nemb__chunks_push(&t->tasks, &task_rule);
  if (r == NULL) {
    return NEMB_ENOMEM;
  }
  *r = *rec;
  return 0;
}

/* ----- the task records, gathered ----- */

static int compare_seq(const void *a, const void *b) {
  uint64_t x = ((const nemb__task_rec *)a)->seq, y = ((const nemb__task_rec *)b)->seq;
  return (x > y) - (x < y);
}

int nemb__session_tasks(const nemb_session *s, nemb__task_rec **out, size_t *n) {
  size_t total = 0;
  for (const nemb__thread *t = s->threads; t != NULL; t = t->next) {
    total += nemb__chunks_count(&t->tasks);
  }
  nemb__task_rec *all = malloc((total ? total : 1) * sizeof *all);
  if (all == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory gathering %zu tasks", total);
  }
  size_t k = 0;
  for (const nemb__thread *t = s->threads; t != NULL; t = t->next) {
    for (const nemb__chunk *c = t->tasks.first; c != NULL; c = c->next) {
      memcpy(all + k, chunk_recs(c), c->n * sizeof *all);
      k += c->n;
    }
  }
  qsort(all, total, sizeof *all, compare_seq);
  *out = all;
  *n = total;
  return 0;
}

/* ----- at the end ----- */

/* Turns every task stamp into CLOCK_MONOTONIC ns, through the clock's begin and end points. */
void nemb__records_to_ns(nemb_session *s) {
  if (s->clock.kind == NEMB__CLOCK_MONOTONIC) {
    return; /* the stamps are ns already */
  }
  for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
    for (uint32_t i = 0; i < t->depth; i++) {
      t->stack[i].t_start = nemb__clock_to_ns(&s->clock, t->stack[i].t_start);
    }
    for (uint32_t i = 0; i < t->n_loose; i++) {
      if (t->loose[i].seq != NEMB__LOOSE_FREE) {
        t->loose[i].t_start = nemb__clock_to_ns(&s->clock, t->loose[i].t_start);
      }
    }
    for (nemb__chunk *c = t->tasks.first; c != NULL; c = c->next) {
      nemb__task_rec *r = chunk_recs(c);
      for (size_t i = 0; i < c->n; i++) {
        r[i].t_start = nemb__clock_to_ns(&s->clock, r[i].t_start);
        r[i].t_end = nemb__clock_to_ns(&s->clock, r[i].t_end);
      }
    }
  }
}

/* Closes, at t_end, the tasks that threads left open: a forgotten stop loses no data. */
void nemb__records_close_open(nemb_session *s) {
  for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
    while (t->depth > 0) {
      nemb__task_rec rec = nemb__thread_top_record(t, s->t_end, true);
      if (nemb__thread_append_task(t, &rec) != 0) {
        nemb__log(NEMB_LOG_ERROR, "out of memory closing task '%s' at the end", rec.name);
      } else {
        nemb__log(NEMB_LOG_WARN, "task '%s' was still open at the end; closed there", rec.name);
      }
      t->depth--;
    }
    for (uint32_t i = 0; i < t->n_loose; i++) {
      if (t->loose[i].seq == NEMB__LOOSE_FREE) {
        continue;
      }
      nemb__task_rec rec = nemb__thread_loose_record(t, i, s->t_end, true);
      if (nemb__thread_append_task(t, &rec) != 0) {
        nemb__log(NEMB_LOG_ERROR, "out of memory closing task '%s' at the end", rec.name);
      } else {
        nemb__log(NEMB_LOG_WARN, "task '%s' was still open at the end; closed there", rec.name);
      }
      nemb__thread_loose_release(t, i);
    }
  }
}

void nemb__records_free(nemb_session *s) {
  for (nemb__thread *t = s->threads, *next; t != NULL; t = next) {
    next = t->next;
    nemb__chunks_free(&t->tasks);
    free(t->loose);
    nemb__intern_release(&t->names);
    free(t);
  }
  s->threads = NULL;
}
