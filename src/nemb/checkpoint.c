/*
 * checkpoint.c - function enter/exit checkpoints from instrumented code, aggregated per function
 * in bounded memory.
 *
 * The hot path (nemb_checkpoint_enter/exit, and nemb_checkpoint once a thread has seen the same
 * call site) reads the session's boundary clock (clock.h: the TSC, or CLOCK_MONOTONIC) and appends
 * {stamp, function, kind} to the calling thread's own queue. It takes no lock, makes no other
 * system call and allocates nothing once the queue has reached the size the program's call rate
 * needs.
 *
 * Under `codegreen measure` the session follows measure's sampler (node.c): resolution first
 * appends the samples measure published since the last look (a pread, at most every 2 ms).
 *
 * Energy cannot be known at the instant of the call: it is interpolated between the samples that
 * bracket the instant, and the later of those does not exist yet. So every 64 events the thread
 * RESOLVES the events of its queue that are no newer than the newest stored sample (each stamp
 * turned into CLOCK_MONOTONIC ns through the session's begin point and a calibration point of the
 * thread's own, taken again at most once per new sample and always after the events it converts):
 * it replays them on a shadow call stack, computes each invocation's inclusive and self time and
 * energy, adds them to the thread's per-function aggregates, and keeps a per-invocation detail
 * record (cp_kept, 48 B) while the session-wide count of kept records is below detail_limit
 * (beyond it they are counted as dropped; may_keep() says how the count is kept without an atomic
 * operation per event). Memory is therefore bounded by the queue, the deepest stack, the number
 * of functions and the detail limit, however many invocations happen.
 *
 * If the queue is full and its oldest event is still newer than the newest sample (a thread that
 * records faster than the samples come: under `codegreen measure` they are published every
 * 20 ms), the queue first grows, up to QUEUE_MAX events (about 50 ms of the fastest thread's
 * events); at that size the thread waits for the next sample (WAIT_MAX_NS at most, and only while
 * samples keep coming), which covers the queue's events, so they are interpolated as every other
 * instant is. Only when no sample comes (a stalled sampler, an interval longer than the wait, a
 * leader that ended) is the oldest eighth resolved against the latest reading and, past it,
 * extrapolated with the power of the last two stored samples. Such events are counted in
 * `extrapolated`, and a call with an end among them carries the energy since the last stored
 * sample as its uncertainty (cause "extrapolated"): the counters say only that the energy at
 * such an instant is at least the last sample's.
 *
 * Pairing. An exit is paired with the innermost open enter of the same function in the same
 * thread: the same id for nemb_checkpoint_exit(), the same name for nemb_checkpoint() (whose enter
 * and exit checkpoints sit on different lines). Frames above the matching one were left without
 * their exit (an exception, a longjmp): they are closed at the exit's instant and counted as
 * unbalanced; an exit that matches no open frame is counted as unbalanced and otherwise ignored.
 * Frames still open at the end are closed at the session's end and counted likewise.
 *
 * Invocation numbers (the reference's "#inv_N") are given at the end, to the kept details only:
 * a function's enters are numbered 1..N in time order across threads, and an exit's detail
 * carries its enter's number (the thread's record of the enter is the exit's link to it). Neither
 * the hot path nor resolution touches a shared cache line for them.
 *
 * Recursion. A function's inclusive time and energy are added to its aggregate only by its
 * outermost active frame in the thread, so recursion is not counted twice; self time, self energy
 * and calls are added by every frame.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "energy.h"
#include "job.h"

/* ----- sizes ----- */

#define FUNC_CHUNK 1024u         /* function records per chunk */
#define FUNC_MAX (1u << 20)      /* most functions per session (NEMB_ERANGE beyond) */
#define QUEUE_MIN 1024u          /* events: the first allocation of a thread's queue */
#define QUEUE_MAX (1u << 20)     /* events (24 MiB): the queue never grows beyond this */
#define WAIT_MAX_NS 100000000ull /* the longest a full queue waits for a sample (100 ms) */
#define WAIT_STEP_NS 200000L     /* between two looks at the samples while waiting */
#define RESOLVE_EVERY 64u        /* events between two attempts to resolve */
#define STACK_MIN 64u            /* frames */
#define STACK_MAX (1u << 16)     /* frames: enters beyond are counted unbalanced */
#define CACHE_SIZE 512u          /* per-thread call-site cache of nemb_checkpoint() */
#define CACHE_BITS 9u            /* log2(CACHE_SIZE) */
#define DETAIL_FIRST 512u        /* detail records in a thread's first chunk (chunks.h) */
#define KEEP_BATCH 256u      /* details a thread keeps between two looks at the session's count */
#define KEPT_NONE UINT32_MAX /* a frame whose enter kept no detail */
#define KIND_SHIFT 30        /* an event's ref: kind << 30 | function or name id */
#define REF_MASK ((1u << KIND_SHIFT) - 1u)
#define REF_NONE REF_MASK    /* an exit whose name no function has */
#define LINE_OF_FUNC INT_MIN /* the event's line is its function's line */

enum { KIND_ENTER = 0, KIND_EXIT = 1, KIND_EXIT_NAME = 2 };

size_t nemb__cp_queue_max = QUEUE_MAX;
uint64_t nemb__cp_wait_max_ns = WAIT_MAX_NS;

/* ----- the registry: shared by all threads ----- */

typedef struct cp_func {
  const char *name;    /* owned by the registry (shared by functions of the same name) */
  const char *context; /* owned by the registry, or NULL */
  int line;
  uint32_t group; /* the first function registered with this name: exits by name match it */
  bool owns_name;
} cp_func;

struct nemb__cp_registry {
  pthread_mutex_t lock; /* registration, and the hash tables below */
  /* chunks[] is allocated once at its full size, so a reader never sees it move; a record is
   * written before n_funcs is raised with release ordering and never changes afterwards. */
  cp_func **chunks;
  _Atomic uint32_t n_funcs;
  uint32_t *by_key; /* (name, context, line) -> id + 1, open addressing; 0 is empty */
  size_t key_cap;
  uint32_t *by_name; /* name -> group + 1 */
  size_t name_cap;
  size_t n_names;
  /* Detail records kept, session-wide, as the threads have told it: each adds what it kept
   * every KEEP_BATCH records (may_keep), so it is never more than the truth. */
  _Atomic uint64_t kept;
  /* Where threads keep their details: DETAIL_FIRST from malloc(), then blocks of one arena of
   * 2 MiB huge-page mappings for the whole session (chunks.h), so that neither a session that
   * keeps few details nor a pool of threads that each keep some holds 2 MiB per thread. */
  nemb__arena det_arena;
  nemb__chunk_rule det_rule;

  /* The result of nemb__cp_finish(). */
  bool finished;
  nemb__func_stats *stats;
  size_t n_stats;
  nemb__cp_detail *details;
  size_t n_details;
  nemb__cp_summary summary;
};

/* ----- per thread ----- */

typedef struct cp_event {
  uint64_t stamp;   /* the boundary clock's (clock.h) */
  const char *cpid; /* interned in the thread's pool, or NULL */
  uint32_t ref;     /* kind << KIND_SHIFT | id */
  int32_t line;     /* the call's line, or LINE_OF_FUNC */
} cp_event;

/* A kept detail as resolution writes it: what only that moment knows (the instant, the energy and
 * power there, the call's line and checkpoint id, an exit's link to its enter) and the function's
 * id, from which the end fills in the rest of a nemb__cp_detail (name, context, the function's
 * line, the thread, the invocation number).
 * 48 B where a nemb__cp_detail is 72: the first detail_limit events of a session write one each,
 * and every byte is a byte of fresh memory the kernel must zero and the cache must take in. */
typedef struct cp_kept {
  uint64_t t_ns;
  double energy_uj, power_w;
  const char *cpid; /* as in the event */
  uint32_t func;    /* function id << 1 | enter */
  int32_t line;     /* the event's: LINE_OF_FUNC for the function's own */
  /* An exit: its enter's record, as an index into the thread's records (KEPT_NONE: the enter
   * kept none). nemb__cp_finish() uses this field and the next for its own ends. */
  uint32_t inv;
  uint32_t thread;
} cp_kept;
_Static_assert(sizeof(cp_kept) == 48, "cp_kept grew");

typedef struct cp_frame {
  uint32_t func;
  uint32_t kept; /* the enter's detail record in the thread's (cp_kept.inv), or KEPT_NONE */
  uint64_t t_ns;
  double e_uj;       /* cumulative in-total energy at t_ns */
  double gap_uj;     /* how far e_uj may be off: t_ns fell in a sampler gap of this energy */
  uint64_t child_ns; /* inclusive time of the frames called directly from this one */
  double child_uj;
  unsigned gap_why; /* NEMB__UNC_GAP or NEMB__UNC_EXTRA: why gap_uj */
} cp_frame;

typedef struct cp_agg {
  uint64_t calls, incl_ns, self_ns;
  double incl_uj, self_uj;
  double unc_uj;    /* the outermost calls' uncertainties (energy.h's rules), summed */
  unsigned unc_why; /* NEMB__UNC_* bits */
  /* The short-span rule's part, summed over a run of calls whose windows [start - P, end + P]
   * overlap (P the longest update period: a generator's resumptions, a tight loop's calls), is
   * capped by the energy over the run's window: every call's energy and its estimate lie between
   * 0 and that, whatever the counters did (summed alone, 2 000 resumptions of a generator inside
   * a 0.2 s program gave +/- 78 J). The run still open: [win_lo, win_hi], its sum and its
   * highest power (uJ per ns); closed runs are in unc_uj. */
  uint64_t win_lo, win_hi;
  double win_sum, win_rate;
  uint32_t active; /* frames of this function open on the thread's stack now */
  uint32_t max_depth;
} cp_agg;

/* One call site of nemb_checkpoint(), so that repeated calls skip the registry's lock. */
typedef struct cp_site {
  uint64_t hash;              /* 0: empty */
  const char *name, *context; /* the registry's copies */
  const char *cpid;           /* the thread pool's copy, or NULL */
  int line;
  uint32_t ref;
} cp_site;

/* The caller's own pointers at a call site seen before, and its entry: a call that passes the
 * very same pointers (string literals, a runtime's interned strings) finds the entry without
 * hashing the strings. The strings are still compared with the entry's, since a caller may
 * reuse a buffer for another name and an entry may have been taken by another site since. */
typedef struct cp_recent {
  const char *name, *context, *cpid; /* the caller's pointers, never dereferenced */
  cp_site *site;                     /* NULL: empty */
} cp_recent;

/* A thread's call-site cache: entries by the strings' hash, and the same entries by pointers. */
typedef struct cp_sites {
  cp_site by_key[CACHE_SIZE];
  cp_recent by_ptr[CACHE_SIZE];
} cp_sites;

typedef struct nemb__cp_thread {
  uint32_t index; /* the thread's registration index */

  cp_event *q; /* a ring of q_cap (a power of two) events, q_n of them pending from q_head */
  size_t q_cap, q_head, q_n;
  bool q_mapped; /* q is a mapping of QUEUE_MAX events (grow_queue), not malloc()'s */
  uint32_t since_resolve;

  cp_frame *stack;
  size_t depth, stack_cap;
  uint64_t overflow; /* enters beyond STACK_MAX still waiting for their exits */

  cp_agg *agg; /* indexed by function id */
  size_t agg_cap;

  nemb__chunks det; /* cp_kept records, in the registry's det_rule's chunks */
  size_t det_n;

  cp_sites *sites; /* allocated on the first nemb_checkpoint() */

  size_t hint;           /* sample index near the last resolved instant */
  nemb__clock_point cal; /* the later calibration point for converting stamps (clock.h) */
  nemb__clock_line line; /* through the session's begin point and cal */
  /* The stored interval around the last resolved instant, with its in-total energies, so that
   * instants within it (most of them: an interval holds many events) cost one interpolation and
   * no lock. br_tb == 0: none. */
  uint64_t br_ta, br_tb;
  double br_ea, br_eb;
  double br_slope; /* (br_eb - br_ea) / (br_tb - br_ta), uJ per ns */
  uint64_t last_t; /* the instant of the last interpolated energy, for power_now() */
  int last_mode;   /* how the last energy was found: 0 none, 1 interpolated, 2 extrapolated */
  /* Of the last energy_at(): the in-total power there (uJ per ns; the last known one where no
   * stored interval holds the instant) and how far the energy may be off because the instant
   * fell in a sampler gap (uJ; 0 when not). */
  double last_rate;
  double last_gap_uj;
  unsigned last_gap_why; /* NEMB__UNC_GAP, or NEMB__UNC_EXTRA for an extrapolated energy */
  /* A wait for samples ended without one, when the newest sample was at stalled_at: the
   * thread waits again only once a newer sample has come. */
  bool stalled;
  uint64_t stalled_at;

  bool full;          /* the session's detail limit was reached: no more details */
  uint32_t allowance; /* details this thread may keep before it looks at the session's count */
  uint32_t granted;   /* the allowance it was last given: kept, and not yet added to the count */

  uint64_t events, invocations, dropped, unbalanced, extrapolated;
} nemb__cp_thread;

/* ----- small helpers ----- */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull; /* FNV-1a */
  }
  return h;
}

static uint64_t hash_str(uint64_t h, const char *s) {
  if (s == NULL) {
    return hash_bytes(h, "\xff", 1); /* NULL differs from "" */
  }
  return hash_bytes(h, s, strlen(s) + 1);
}

/* A faster hash for the per-call site lookup: eight bytes per step instead of one. */
static uint64_t hash_words(uint64_t h, const char *s) {
  if (s == NULL) {
    return (h ^ 0xff) * 0x9e3779b97f4a7c15ull;
  }
  size_t n = strlen(s), i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8); /* a fixed size: one load, not a call */
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  if (i < n) {
    uint64_t w = 0;
    for (size_t j = 0; i + j < n; j++) {
      w |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
    }
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  return (h ^ n) * 0xbf58476d1ce4e5b9ull;
}

static bool str_eq(const char *a, const char *b) {
  if (a == NULL || b == NULL) {
    return a == b;
  }
  return strcmp(a, b) == 0;
}

static uint64_t key_hash(const char *name, const char *context, int line) {
  uint64_t h = hash_str(14695981039346656037ull, name);
  h = hash_str(h, context);
  return hash_bytes(h, &line, sizeof line);
}

static cp_func *func_at(const struct nemb__cp_registry *r, uint32_t id) {
  return &r->chunks[id / FUNC_CHUNK][id % FUNC_CHUNK];
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c != NULL) {
    memcpy(c, s, n);
  }
  return c;
}

/* ----- registry: everything below runs with r->lock held ----- */

static int table_grow(struct nemb__cp_registry *r, bool names) {
  uint32_t **slots = names ? &r->by_name : &r->by_key;
  size_t *cap = names ? &r->name_cap : &r->key_cap;
  size_t ncap = *cap * 2;
  uint32_t *n = calloc(ncap, sizeof *n);
  if (n == NULL) {
    return NEMB_ENOMEM;
  }
  for (size_t i = 0; i < *cap; i++) {
    uint32_t v = (*slots)[i];
    if (v == 0) {
      continue;
    }
    const cp_func *f = func_at(r, v - 1);
    uint64_t h =
        names ? hash_str(14695981039346656037ull, f->name) : key_hash(f->name, f->context, f->line);
    size_t j = (size_t)h & (ncap - 1);
    while (n[j] != 0) {
      j = (j + 1) & (ncap - 1);
    }
    n[j] = v;
  }
  free(*slots);
  *slots = n;
  *cap = ncap;
  return 0;
}

/* The group (first function id) of @p name, or REF_NONE. */
static uint32_t find_name(const struct nemb__cp_registry *r, const char *name, size_t *slot) {
  size_t mask = r->name_cap - 1;
  size_t j = (size_t)hash_str(14695981039346656037ull, name) & mask;
  for (;;) {
    uint32_t v = r->by_name[j];
    if (v == 0) {
      *slot = j;
      return REF_NONE;
    }
    if (strcmp(func_at(r, v - 1)->name, name) == 0) {
      *slot = j;
      return v - 1;
    }
    j = (j + 1) & mask;
  }
}

static int find_or_add(struct nemb__cp_registry *r, const char *name, const char *context, int line,
                       uint32_t *id) {
  size_t mask = r->key_cap - 1;
  size_t j = (size_t)key_hash(name, context, line) & mask;
  for (;;) {
    uint32_t v = r->by_key[j];
    if (v == 0) {
      break;
    }
    const cp_func *f = func_at(r, v - 1);
    if (f->line == line && strcmp(f->name, name) == 0 && str_eq(f->context, context)) {
      *id = v - 1;
      return 0;
    }
    j = (j + 1) & mask;
  }

  /* A new function. */
  uint32_t n = atomic_load_explicit(&r->n_funcs, memory_order_relaxed);
  if (n >= FUNC_MAX) {
    return nemb__fail(NEMB_ERANGE, "more than %u checkpointed functions", FUNC_MAX);
  }
  /* Keep both tables at most half full, so probes stay short and always end. */
  if (2 * ((size_t)n + 1) > r->key_cap) {
    int rc = table_grow(r, false);
    if (rc != 0) {
      return nemb__fail(rc, "out of memory registering a checkpoint");
    }
  }
  if (2 * (r->n_names + 1) > r->name_cap) {
    int rc = table_grow(r, true);
    if (rc != 0) {
      return nemb__fail(rc, "out of memory registering a checkpoint");
    }
  }
  if (r->chunks[n / FUNC_CHUNK] == NULL) {
    r->chunks[n / FUNC_CHUNK] = calloc(FUNC_CHUNK, sizeof(cp_func));
    if (r->chunks[n / FUNC_CHUNK] == NULL) {
      return nemb__fail(NEMB_ENOMEM, "out of memory registering a checkpoint");
    }
  }
  size_t name_slot;
  uint32_t group = find_name(r, name, &name_slot);
  cp_func *f = func_at(r, n);
  memset(f, 0, sizeof *f);
  if (group == REF_NONE) {
    f->name = dup_str(name);
    f->owns_name = true;
  } else {
    f->name = func_at(r, group)->name;
  }
  f->context = context ? dup_str(context) : NULL;
  if (f->name == NULL || (context != NULL && f->context == NULL)) {
    if (f->owns_name) {
      free((char *)f->name);
    }
    free((char *)f->context);
    memset(f, 0, sizeof *f);
    return nemb__fail(NEMB_ENOMEM, "out of memory registering a checkpoint");
  }
  f->line = line;
  f->group = group == REF_NONE ? n : group;
  if (group == REF_NONE) {
    r->by_name[name_slot] = n + 1;
    r->n_names++;
  }
  mask = r->key_cap - 1; /* the table may have grown */
  j = (size_t)key_hash(name, context, line) & mask;
  while (r->by_key[j] != 0) {
    j = (j + 1) & mask;
  }
  r->by_key[j] = n + 1;
  atomic_store_explicit(&r->n_funcs, n + 1, memory_order_release);
  *id = n;
  return 0;
}

static int register_func(nemb_session *s, const char *name, const char *context, int line,
                         uint32_t *id) {
  struct nemb__cp_registry *r = s->cp;
  pthread_mutex_lock(&r->lock);
  int rc = find_or_add(r, name, context, line, id);
  pthread_mutex_unlock(&r->lock);
  return rc;
}

static uint32_t lookup_group(nemb_session *s, const char *name) {
  struct nemb__cp_registry *r = s->cp;
  size_t slot;
  pthread_mutex_lock(&r->lock);
  uint32_t g = find_name(r, name, &slot);
  pthread_mutex_unlock(&r->lock);
  return g;
}

/* ----- energy at an instant, as resolution sees the samples ----- */

typedef struct cp_view {
  const nemb_meter *m; /* NULL: no backend, every energy is 0 */
  size_t count;        /* samples usable */
  uint64_t last_t;     /* time of sample count - 1 */
  /* Extrapolation beyond last_t, loaded on first need. */
  bool extra_loaded;
  uint64_t base_t; /* the newest known point: the latest reading, or the last sample */
  double base_uj;
  double last_uj;        /* in-total energy of sample count - 1 */
  double p_uj_ns;        /* in-total power of the last stored interval, uJ per ns */
  nemb__short_rule rule; /* a call's uncertainty (energy.h), from the periods learned so far */
} cp_view;

static void view_load(cp_view *v, const nemb_meter *m) {
  memset(v, 0, sizeof *v);
  v->m = m;
  if (m != NULL) {
    v->count = nemb__energy_extent(m, &v->last_t);
    nemb__energy_short_rule(m, v->count, &v->rule);
  }
}

/* Can the event at @p t be resolved by interpolation now? */
static bool view_covers(const cp_view *v, uint64_t t) {
  return v->m == NULL || (v->count > 0 && t <= v->last_t);
}

static void view_load_extra(cp_view *v) {
  const nemb_meter *m = v->m;
  v->extra_loaded = true;
  if (v->count >= 2) {
    v->p_uj_ns = nemb__energy_power_w(m, v->count, v->last_t, NULL) / 1e3;
  }
  if (v->count > 0) {
    v->last_uj = nemb__energy_total_at(m, v->count, v->last_t, NULL);
    v->base_t = v->last_t;
    v->base_uj = v->last_uj;
  }
  uint64_t lt, uj[NEMB__MAX_DOMAINS];
  if (nemb_meter_latest(m, &lt, uj, NEMB__MAX_DOMAINS) == 0 && (v->count == 0 || lt > v->last_t)) {
    double sum = 0;
    for (size_t d = 0; d < m->n_domains; d++) {
      if (m->domains[d].in_total) {
        sum += (double)uj[d];
      }
    }
    v->base_t = lt;
    v->base_uj = sum;
  }
}

/* The cumulative in-total energy at @p t. */
static double energy_at(nemb__cp_thread *c, cp_view *v, uint64_t t) {
  c->last_gap_uj = 0;
  c->last_gap_why = NEMB__UNC_GAP;
  if (v->m == NULL) {
    c->last_mode = 0;
    c->last_rate = 0;
    return 0;
  }
  if (v->count > 0 && t <= v->last_t) {
    c->last_mode = 1;
    c->last_t = t; /* for power_now() */
    if (c->br_tb == 0 || t < c->br_ta || t >= c->br_tb) {
      if (!nemb__energy_bracket(v->m, v->count, t, &c->br_ta, &c->br_ea, &c->br_tb, &c->br_eb,
                                &c->hint)) {
        c->br_tb = 0;
        return nemb__energy_total_at(v->m, v->count, t, &c->hint);
      }
      c->br_slope = (c->br_eb - c->br_ea) / (double)(c->br_tb - c->br_ta);
    }
    c->last_rate = c->br_slope;
    if ((double)(t - c->br_ta) > v->rule.gap_ns && (double)(c->br_tb - t) > v->rule.gap_ns) {
      c->last_gap_uj = c->br_eb - c->br_ea; /* energy.c's rule: anywhere between the two */
    }
    return c->br_ea + c->br_slope * (double)(t - c->br_ta);
  }
  /* Beyond the stored samples: the latest reading, then the last known power. */
  if (!v->extra_loaded) {
    view_load_extra(v);
  }
  c->extrapolated++;
  c->last_mode = 2;
  c->last_rate = v->p_uj_ns;
  double e;
  if (v->count > 0 && t <= v->base_t && v->base_t > v->last_t) {
    double f = (double)(t - v->last_t) / (double)(v->base_t - v->last_t);
    e = v->last_uj + f * (v->base_uj - v->last_uj);
  } else {
    e = v->base_uj + (t > v->base_t ? v->p_uj_ns * (double)(t - v->base_t) : 0);
  }
  /* The counters fix only that the energy here is at least the last stored sample's: the
   * whole energy since then is what this instant's may be off by, either way. */
  c->last_gap_uj = v->count > 0 && e > v->last_uj ? e - v->last_uj : e - v->base_uj;
  c->last_gap_why = NEMB__UNC_EXTRA;
  return e;
}

/* The in-total power in watts around the instant of the last energy_at(). */
static double power_now(nemb__cp_thread *c, const cp_view *v) {
  if (c->last_mode == 0) {
    return 0;
  }
  if (c->last_mode == 2) {
    return 1e3 * v->p_uj_ns;
  }
  if (c->br_tb != 0 && c->last_t >= c->br_ta && c->last_t < c->br_tb) {
    return c->br_slope * 1e3;
  }
  return v->count < 2 ? 0 : nemb__energy_power_w(v->m, v->count, c->last_t, &c->hint);
}

/* ----- resolution ----- */

static bool grow_agg(nemb__cp_thread *c, uint32_t id) {
  if (id < c->agg_cap) {
    return true;
  }
  size_t ncap = c->agg_cap ? c->agg_cap : 64;
  while (ncap <= id) {
    ncap *= 2;
  }
  cp_agg *n = realloc(c->agg, ncap * sizeof *n);
  if (n == NULL) {
    return false;
  }
  memset(n + c->agg_cap, 0, (ncap - c->agg_cap) * sizeof *n);
  c->agg = n;
  c->agg_cap = ncap;
  return true;
}

/* May the thread keep one more detail? The session-wide count is touched once per KEEP_BATCH
 * records rather than once per event (an atomic add per event, with its wait for the stores before
 * it, and another per enter for its number cost the first detail_limit events a fifth of their
 * time: bench_hotpath --cold, 2026-12-01): the thread
 * adds what it kept since its last look and takes a new allowance of at most KEEP_BATCH, no more
 * than the count leaves below the limit. The count only holds records already kept, so a thread
 * stops only once at least detail_limit records exist; threads that look at the same time may
 * together keep up to KEEP_BATCH each beyond it, and nemb__cp_finish() keeps the earliest
 * detail_limit of them all. */
static bool may_keep(nemb_session *s, nemb__cp_thread *c) {
  if (c->allowance > 0) {
    return true;
  }
  if (c->full) {
    return false;
  }
  struct nemb__cp_registry *r = s->cp;
  uint64_t total =
      atomic_fetch_add_explicit(&r->kept, c->granted, memory_order_relaxed) + c->granted;
  c->granted = 0;
  if (total >= s->detail_limit) {
    c->full = true; /* the count only grows: this thread keeps no more, and asks no more */
    return false;
  }
  uint64_t left = s->detail_limit - total;
  c->granted = c->allowance = left < KEEP_BATCH ? (uint32_t)left : KEEP_BATCH;
  return true;
}

/* Keeps a detail of the event if the limit allows; @return its index among the thread's records,
 * or KEPT_NONE. @p enter_rec: an exit's enter's record (KEPT_NONE for an enter). */
static uint32_t keep_detail(nemb_session *s, nemb__cp_thread *c, cp_view *v, uint32_t fid,
                            const cp_event *ev, uint64_t t_ns, bool enter, uint32_t enter_rec,
                            double e_uj) {
  if (!may_keep(s, c)) {
    c->dropped++;
    return KEPT_NONE;
  }
  cp_kept *d = nemb__chunks_push(&c->det, &s->cp->det_rule);
  if (d == NULL) {
    c->dropped++;
    return KEPT_NONE;
  }
  c->allowance--;
  d->t_ns = t_ns;
  d->energy_uj = e_uj;
  d->power_w = power_now(c, v);
  d->cpid = ev->cpid;
  d->func = fid << 1 | (uint32_t)enter;
  d->line = ev->line;
  d->inv = enter_rec;
  return (uint32_t)c->det_n++;
}

/* What the run of calls still open in @p a allows either side (cp_agg says why). */
static double short_run_uj(const cp_agg *a) {
  return fmin(a->win_sum, a->win_rate * (double)(a->win_hi - a->win_lo));
}

/* Adds a call over [@p t0, @p t1] whose short-span bound is @p s at in-total power @p rate to
 * the run of calls open in @p a, or closes that run and opens one with it. */
static void add_short_call(cp_agg *a, const nemb__short_rule *r, uint64_t t0, uint64_t t1, double s,
                           double rate) {
  uint64_t per = (uint64_t)ceil(r->limit_ns[0] / NEMB__FEW_UPDATES);
  uint64_t lo = t0 > per ? t0 - per : 0, hi = t1 + per;
  if (a->win_hi != 0 && lo <= a->win_hi) {
    a->win_hi = hi > a->win_hi ? hi : a->win_hi;
    a->win_sum += s;
    a->win_rate = fmax(a->win_rate, rate);
    return;
  }
  a->unc_uj += a->win_hi != 0 ? short_run_uj(a) : 0;
  a->win_lo = lo;
  a->win_hi = hi;
  a->win_sum = s;
  a->win_rate = rate;
}

/* Pops the innermost frame, ending it at (@p t, @p e_uj), into the aggregates; the energy's
 * instant was the last energy_at()'s (its power and gap in c->last_*). */
static void close_top(nemb__cp_thread *c, const cp_view *v, uint64_t t, double e_uj) {
  cp_frame *f = &c->stack[--c->depth];
  uint64_t incl_ns = t > f->t_ns ? t - f->t_ns : 0;
  double incl_uj = e_uj - f->e_uj;
  cp_agg *a = &c->agg[f->func];
  a->calls++;
  a->active--;
  a->self_ns += incl_ns > f->child_ns ? incl_ns - f->child_ns : 0;
  a->self_uj += incl_uj - f->child_uj;
  if (a->active == 0) {
    /* The outermost frame of this function: recursion inside it is already included. */
    a->incl_ns += incl_ns;
    a->incl_uj += incl_uj;
    /* What the counters allow either side of incl_uj: energy.h's rule, in its per-call form,
     * plus what a sampler gap at either end leaves open. A compare and an add for a call long
     * enough and outside gaps, so the rule costs the hot path nothing measurable. */
    double s = nemb__short_rule_uj(&v->rule, incl_ns, c->last_rate);
    double g = f->gap_uj + c->last_gap_uj;
    if (s > 0) {
      add_short_call(a, &v->rule, f->t_ns, t, s, c->last_rate);
      a->unc_why |= NEMB__UNC_SHORT;
    }
    if (g > 0) {
      a->unc_uj += g;
      a->unc_why |= (f->gap_uj > 0 ? f->gap_why : 0u) | (c->last_gap_uj > 0 ? c->last_gap_why : 0u);
    }
  }
  if (c->depth > 0) {
    c->stack[c->depth - 1].child_ns += incl_ns;
    c->stack[c->depth - 1].child_uj += incl_uj;
  }
}

static void resolve_event(nemb_session *s, nemb__cp_thread *c, cp_view *v, const cp_event *ev,
                          uint64_t t_ns) {
  struct nemb__cp_registry *r = s->cp;
  uint32_t kind = ev->ref >> KIND_SHIFT, ref = ev->ref & REF_MASK;

  if (kind == KIND_ENTER) {
    if (c->depth == c->stack_cap) {
      size_t ncap = c->stack_cap ? 2 * c->stack_cap : STACK_MIN;
      cp_frame *n = ncap <= STACK_MAX ? realloc(c->stack, ncap * sizeof *n) : NULL;
      if (n == NULL) {
        /* Too deep (or out of memory): its exit will find overflow > 0 and be skipped too. */
        c->overflow++;
        c->unbalanced++;
        return;
      }
      c->stack = n;
      c->stack_cap = ncap;
    }
    if (!grow_agg(c, ref)) {
      c->overflow++;
      c->unbalanced++;
      return;
    }
    double e = energy_at(c, v, t_ns);
    cp_frame *f = &c->stack[c->depth++];
    *f = (cp_frame){ref, KEPT_NONE, t_ns, e, c->last_gap_uj, 0, 0, c->last_gap_why};
    cp_agg *a = &c->agg[ref];
    if (++a->active > a->max_depth) {
      a->max_depth = a->active;
    }
    f->kept = keep_detail(s, c, v, ref, ev, t_ns, true, KEPT_NONE, e);
    return;
  }

  /* An exit. */
  if (c->overflow > 0) {
    /* The innermost enters were not tracked (see above); this exit is theirs. */
    c->overflow--;
    c->unbalanced++;
    return;
  }
  size_t k = c->depth;
  if (ref != REF_NONE) {
    while (k > 0) {
      uint32_t fid = c->stack[k - 1].func;
      if (kind == KIND_EXIT ? fid == ref : func_at(r, fid)->group == ref) {
        break;
      }
      k--;
    }
  }
  if (k == 0) {
    c->unbalanced++; /* no open enter of this function in this thread */
    return;
  }
  double e = energy_at(c, v, t_ns);
  /* Frames above the match never saw their exit: close them here. */
  while (c->depth > k) {
    close_top(c, v, t_ns, e);
    c->unbalanced++;
  }
  const cp_frame *top = &c->stack[c->depth - 1];
  uint32_t enter_rec = top->kept, fid = top->func;
  close_top(c, v, t_ns, e);
  c->invocations++;
  keep_detail(s, c, v, fid, ev, t_ns, false, enter_rec, e);
}

/* The CLOCK_MONOTONIC ns of a stamp no later than c->cal's. */
static uint64_t stamp_ns(const nemb__cp_thread *c, uint64_t stamp) {
  return nemb__clock_line_ns(&c->line, stamp);
}

/* Takes the thread's calibration point again: now, or the session's end point after the end. */
static void recalibrate(const nemb_session *s, nemb__cp_thread *c) {
  if (s->clock.end.stamp != 0) {
    c->cal = s->clock.end;
  } else {
    nemb__clock_point_now(&s->clock, &c->cal);
  }
  nemb__clock_line_init(&c->line, s->clock.kind, &s->clock.begin, &c->cal);
}

/* Resolves every pending event that the stored samples now cover. */
static void resolve_ready(nemb_session *s, nemb__cp_thread *c) {
  if (c->q_n == 0) {
    return;
  }
  nemb__node_refresh(s, false); /* under `codegreen measure`: measure's new samples */
  cp_view v;
  view_load(&v, s->meter);
  uint64_t newest = c->q[(c->q_head + c->q_n - 1) & (c->q_cap - 1)].stamp;
  if (newest > c->cal.stamp && (v.m == NULL || c->cal.ns < v.last_t)) {
    /* A sample newer than the calibration point: events up to it may now be covered. Taken
     * after the view, so every event the view covers is older than the point (interpolated). */
    recalibrate(s, c);
  }
  size_t mask = c->q_cap - 1;
  while (c->q_n > 0 && c->q[c->q_head].stamp <= c->cal.stamp) {
    uint64_t t = stamp_ns(c, c->q[c->q_head].stamp);
    if (!view_covers(&v, t)) {
      break;
    }
    resolve_event(s, c, &v, &c->q[c->q_head], t);
    c->q_head = (c->q_head + 1) & mask;
    c->q_n--;
  }
}

/* Resolves the oldest @p n pending events whatever the samples, extrapolating when needed. */
static void resolve_forced(nemb_session *s, nemb__cp_thread *c, size_t n) {
  cp_view v;
  view_load(&v, s->meter);
  recalibrate(s, c);
  size_t mask = c->q_cap - 1;
  while (c->q_n > 0 && n-- > 0) {
    resolve_event(s, c, &v, &c->q[c->q_head], stamp_ns(c, c->q[c->q_head].stamp));
    c->q_head = (c->q_head + 1) & mask;
    c->q_n--;
  }
}

/* Doubles the queue. Past QUEUE_MIN it moves once into a mapping with room for QUEUE_MAX events
 * (chunks.h: one huge page where the kernel can, since the first 100 000 events of a thread that
 * outruns the sampler fill a new 4 KiB page every 170 events), where later doublings happen in
 * place; where the mapping fails, into malloc()'s memory as before. */
static void free_queue(nemb__cp_thread *c) {
  if (c->q_mapped) {
    nemb__huge_unmap(c->q, QUEUE_MAX * sizeof *c->q);
  } else {
    free(c->q);
  }
}

static bool grow_queue(nemb__cp_thread *c) {
  if (c->q_cap >= QUEUE_MAX || c->q_cap >= nemb__cp_queue_max) {
    return false;
  }
  size_t ncap = c->q_cap * 2, mask = c->q_cap - 1;
  if (c->q_mapped) {
    /* The events that wrapped round to the ring's start move to just past its old end. */
    size_t wrapped = c->q_head + c->q_n > c->q_cap ? c->q_head + c->q_n - c->q_cap : 0;
    memcpy(c->q + c->q_cap, c->q, wrapped * sizeof *c->q);
    c->q_cap = ncap;
    return true;
  }
  cp_event *n = nemb__huge_map(QUEUE_MAX * sizeof *n);
  bool mapped = n != NULL;
  if (n == NULL) {
    n = malloc(ncap * sizeof *n);
    if (n == NULL) {
      return false;
    }
  }
  for (size_t i = 0; i < c->q_n; i++) {
    n[i] = c->q[(c->q_head + i) & mask];
  }
  free_queue(c);
  c->q = n;
  c->q_mapped = mapped;
  c->q_cap = ncap;
  c->q_head = 0;
  return true;
}

/* The queue is full of events newer than the newest sample: waits, WAIT_MAX_NS at most, for a
 * sample that covers some of them (the sampler stores on while the program runs; a follower
 * looks at measure's file each time), resolving what it covers. A wait that ends without a
 * sample is not repeated until a newer sample has come, so a stalled sampler costs one wait. */
static void wait_for_sample(nemb_session *s, nemb__cp_thread *c) {
  uint64_t last_t = 0;
  if (s->meter == NULL) {
    return;
  }
  nemb__energy_extent(s->meter, &last_t);
  if (c->stalled && last_t == c->stalled_at) {
    return;
  }
  c->stalled = false;
  uint64_t until = nemb_now_ns() + nemb__cp_wait_max_ns;
  while (c->q_n == c->q_cap) {
    if (nemb_now_ns() >= until) {
      c->stalled = true;
      c->stalled_at = 0;
      nemb__energy_extent(s->meter, &c->stalled_at);
      return;
    }
    struct timespec pause = {0, WAIT_STEP_NS};
    nanosleep(&pause, NULL);
    nemb__node_refresh(s, true);
    resolve_ready(s, c);
  }
}

/* Makes room for one event and, every RESOLVE_EVERY events, resolves what the samples cover. An
 * enter calls it before reading the clock and an exit after, so this work (a few microseconds
 * now and then) is never counted inside the function being measured. */
static void prepare(nemb_session *s, nemb__cp_thread *c) {
  if (c->q_n == c->q_cap) {
    resolve_ready(s, c);
    if (c->q_n == c->q_cap && !grow_queue(c)) {
      if (nemb__node_refresh(s, true)) { /* following measure: its newest samples first */
        resolve_ready(s, c);
      }
      if (c->q_n == c->q_cap) {
        wait_for_sample(s, c);
      }
      if (c->q_n == c->q_cap) {
        resolve_forced(s, c, c->q_cap / 8);
      }
    }
  } else if (c->since_resolve >= RESOLVE_EVERY) {
    c->since_resolve = 0;
    resolve_ready(s, c);
  }
}

/* The hot path's one write, into room that prepare() made. */
static void append(nemb__cp_thread *c, uint64_t t, uint32_t ref, int line, const char *cpid) {
  cp_event *ev = &c->q[(c->q_head + c->q_n) & (c->q_cap - 1)];
  ev->stamp = t;
  ev->cpid = cpid;
  ev->ref = ref;
  ev->line = line;
  c->q_n++;
  c->events++;
  c->since_resolve++;
}

/* ----- per-thread state ----- */

static void thread_free(nemb__cp_thread *c) {
  if (c == NULL) {
    return;
  }
  free_queue(c);
  free(c->stack);
  free(c->agg);
  nemb__chunks_free(&c->det);
  free(c->sites);
  free(c);
}

static nemb__cp_thread *thread_cp(nemb__thread *t) {
  if (t->cp != NULL) {
    return t->cp;
  }
  nemb__cp_thread *c = calloc(1, sizeof *c);
  if (c == NULL) {
    return NULL;
  }
  c->q = malloc(QUEUE_MIN * sizeof *c->q);
  if (c->q == NULL) {
    free(c);
    return NULL;
  }
  c->q_cap = QUEUE_MIN;
  c->index = t->index;
  t->cp = c;
  return c;
}

/* Allocates what the calling thread's first events will write, and touches it, when a function
 * is registered rather than at those events (the first write to each 4 KiB page is a fault of
 * 13-47 us on a virtual machine: chunks.h): the thread's event queue, its first chunk of details
 * and, once per session, the details' first 2 MiB mapping. All of it is needed as soon as the
 * thread records, and none of it is more than the first events would allocate. */
static void prepare_thread(nemb_session *s, nemb__thread *t) {
  struct nemb__cp_registry *r = s->cp;
  bool fresh = t->cp == NULL;
  nemb__cp_thread *c = thread_cp(t);
  if (c == NULL || atomic_load_explicit(&r->kept, memory_order_relaxed) >= s->detail_limit) {
    return;
  }
  if (fresh) {
    memset(c->q, 0, c->q_cap * sizeof *c->q);
  }
  if (c->det.first == NULL) {
    nemb__chunk *ch = nemb__chunks_grow(&c->det, &r->det_rule);
    if (ch != NULL) {
      memset(ch->recs, 0, ch->cap * r->det_rule.size);
    }
  }
  if (s->detail_limit > r->det_rule.first) {
    nemb__arena_prepare(&r->det_arena);
  }
}

/* ----- the public API ----- */

int nemb_checkpoint_register(nemb_session *s, const char *name, const char *context, int line,
                             uint32_t *id) {
  if (s == NULL || name == NULL || id == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_checkpoint_register: session, name and id are required");
  }
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  rc = register_func(s, name, context, line, id);
  if (rc == 0) {
    prepare_thread(s, t);
  }
  nemb__thread_leave(t);
  return rc;
}

int nemb_checkpoint_inherit(nemb_session *s, const nemb_session *from) {
  if (s == NULL || from == NULL || s == from) {
    return nemb__fail(NEMB_EINVAL, "nemb_checkpoint_inherit needs two sessions");
  }
  /* @p from is not locked: in a forked child no other thread runs, and a record below n_funcs
   * (read with acquire) was complete before it was counted (see find_or_add). */
  const struct nemb__cp_registry *old = from->cp;
  uint32_t n = atomic_load_explicit(&old->n_funcs, memory_order_acquire);
  if (atomic_load_explicit(&s->cp->n_funcs, memory_order_acquire) != 0) {
    return nemb__fail(NEMB_ESTATE, "nemb_checkpoint_inherit: the session already has functions");
  }
  int rc = 0;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    const cp_func *f = func_at(old, i);
    uint32_t id = 0;
    rc = register_func(s, f->name, f->context, f->line, &id);
    if (rc == 0 && id != i) { /* another thread registered meanwhile */
      rc = nemb__fail(NEMB_ESTATE, "nemb_checkpoint_inherit: a function was registered "
                                   "in the session meanwhile");
    }
  }
  nemb__thread_leave(t);
  return rc;
}

static int enter_exit(nemb_session *s, uint32_t id, uint32_t kind) {
  /* An exit's time is taken first and an enter's last, so the checkpoint's own cost falls
   * outside the function being measured. */
  uint64_t now = kind == KIND_EXIT ? nemb__clock_stamp(&s->clock) : 0;
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  if (id >= atomic_load_explicit(&s->cp->n_funcs, memory_order_acquire)) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_EINVAL, "checkpoint id %u was not registered in this session", id);
  }
  nemb__cp_thread *c = thread_cp(t);
  if (c == NULL) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_ENOMEM, "out of memory for this thread's checkpoints");
  }
  prepare(s, c);
  append(c, kind == KIND_EXIT ? now : nemb__clock_stamp(&s->clock), (kind << KIND_SHIFT) | id,
         LINE_OF_FUNC, NULL);
  nemb__thread_leave(t);
  return 0;
}

int nemb_checkpoint_enter(nemb_session *s, uint32_t id) {
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_checkpoint_enter: no session");
  }
  return enter_exit(s, id, KIND_ENTER);
}

int nemb_checkpoint_exit(nemb_session *s, uint32_t id) {
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_checkpoint_exit: no session");
  }
  return enter_exit(s, id, KIND_EXIT);
}

/* Whether cache entry @p e is the call site (@p name, @p enter, @p line, @p context, @p cpid). */
static bool site_is(const cp_site *e, const char *name, bool enter, int line, const char *context,
                    const char *cpid) {
  return e->hash != 0 && e->line == line && (e->ref >> KIND_SHIFT == KIND_ENTER) == enter &&
         strcmp(e->name, name) == 0 && str_eq(e->context, context) && str_eq(e->cpid, cpid);
}

/* Finds (or makes) the thread's cache entry for a call site; returns 0 and the event's ref. */
static int site_lookup(nemb_session *s, nemb__thread *t, nemb__cp_thread *c, const char *cpid,
                       const char *name, bool enter, int line, const char *context, uint32_t *ref,
                       const char **cpid_out) {
  if (c->sites == NULL) {
    c->sites = calloc(1, sizeof *c->sites);
    if (c->sites == NULL) {
      return nemb__fail(NEMB_ENOMEM, "out of memory for this thread's checkpoints");
    }
  }
  uint64_t ph = ((uint64_t)(uintptr_t)name ^ (uint64_t)(uintptr_t)context * 3u ^
                 (uint64_t)(uintptr_t)cpid * 5u ^ (uint64_t)(uint32_t)line << 1 ^ enter) *
                0x9e3779b97f4a7c15ull;
  cp_recent *r = &c->sites->by_ptr[ph >> (64 - CACHE_BITS)];
  if (r->site != NULL && r->name == name && r->context == context && r->cpid == cpid &&
      site_is(r->site, name, enter, line, context, cpid)) {
    *ref = r->site->ref;
    *cpid_out = r->site->cpid;
    return 0;
  }

  uint64_t h = hash_words((uint64_t)(uint32_t)line << 1 | enter, name);
  h = hash_words(h, context);
  h = hash_words(h, cpid);
  h ^= h >> 31;
  h |= 1; /* never 0, which marks an empty entry */
  cp_site *e = &c->sites->by_key[(h >> 7) & (CACHE_SIZE - 1)];
  if (e->hash == h && site_is(e, name, enter, line, context, cpid)) {
    *ref = e->ref;
    *cpid_out = e->cpid;
    *r = (cp_recent){name, context, cpid, e};
    return 0;
  }

  /* A miss: the registry (under its lock), then the thread's pool for the checkpoint id. */
  const char *icpid = NULL;
  if (cpid != NULL) {
    icpid = nemb__intern_get(&t->names, cpid);
    if (icpid == NULL) {
      return nemb__fail(NEMB_ENOMEM, "out of memory for a checkpoint id");
    }
  }
  uint32_t id;
  if (enter) {
    int rc = register_func(s, name, context, line, &id);
    if (rc != 0) {
      return rc;
    }
    *ref = ((uint32_t)KIND_ENTER << KIND_SHIFT) | id;
  } else {
    id = lookup_group(s, name);
    *ref = ((uint32_t)KIND_EXIT_NAME << KIND_SHIFT) | id;
    if (id == REF_NONE) {
      /* No function has this name yet: an unbalanced exit, not cached (one may appear). */
      *cpid_out = icpid;
      return 0;
    }
  }
  const cp_func *f = func_at(s->cp, id);
  const char *ictx = f->context;
  if (!enter && context != NULL && !str_eq(context, f->context)) {
    /* An exit site is keyed by its own context, which need not be its function's. */
    ictx = nemb__intern_get(&t->names, context);
    if (ictx == NULL) {
      return nemb__fail(NEMB_ENOMEM, "out of memory for a checkpoint context");
    }
  } else if (!enter) {
    ictx = context == NULL ? NULL : f->context;
  }
  e->hash = h;
  e->name = f->name;
  e->context = ictx;
  e->cpid = icpid;
  e->line = line;
  e->ref = *ref;
  *r = (cp_recent){name, context, cpid, e};
  *cpid_out = icpid;
  return 0;
}

int nemb_checkpoint(nemb_session *s, const char *checkpoint_id, const char *name, const char *type,
                    int line, const char *context) {
  if (s == NULL || name == NULL || type == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_checkpoint: session, name and type are required");
  }
  /* "enter" or "exit", compared a character at a time (stopping at the first difference, so never
   * past the string's end) rather than by two calls to strcmp per checkpoint. */
  bool enter = type[0] == 'e' && type[1] == 'n' && type[2] == 't' && type[3] == 'e' &&
               type[4] == 'r' && type[5] == '\0';
  if (!enter &&
      !(type[0] == 'e' && type[1] == 'x' && type[2] == 'i' && type[3] == 't' && type[4] == '\0')) {
    return nemb__fail(NEMB_EINVAL, "checkpoint type \"%s\" is neither \"enter\" nor \"exit\"",
                      type);
  }
  /* An exit's time is taken first and an enter's last, so the checkpoint's own cost (the lookup
   * above all) falls outside the function being measured. */
  uint64_t now = enter ? 0 : nemb__clock_stamp(&s->clock);
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  nemb__cp_thread *c = thread_cp(t);
  if (c == NULL) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_ENOMEM, "out of memory for this thread's checkpoints");
  }
  uint32_t ref = REF_NONE;
  const char *cpid = NULL;
  rc = site_lookup(s, t, c, checkpoint_id, name, enter, line, context, &ref, &cpid);
  if (rc == 0) {
    prepare(s, c);
    append(c, enter ? nemb__clock_stamp(&s->clock) : now, ref, line, cpid);
  }
  nemb__thread_leave(t);
  return rc;
}

/* ----- session lifecycle ----- */

int nemb__cp_init(nemb_session *s) {
  struct nemb__cp_registry *r = calloc(1, sizeof *r);
  if (r == NULL) {
    return NEMB_ENOMEM;
  }
  r->chunks = calloc(FUNC_MAX / FUNC_CHUNK, sizeof *r->chunks);
  r->key_cap = 256;
  r->name_cap = 256;
  r->by_key = calloc(r->key_cap, sizeof *r->by_key);
  r->by_name = calloc(r->name_cap, sizeof *r->by_name);
  if (r->chunks == NULL || r->by_key == NULL || r->by_name == NULL ||
      pthread_mutex_init(&r->lock, NULL) != 0) {
    free(r->chunks);
    free(r->by_key);
    free(r->by_name);
    free(r);
    return NEMB_ENOMEM;
  }
  if (nemb__arena_init(&r->det_arena) != 0) {
    pthread_mutex_destroy(&r->lock);
    free(r->chunks);
    free(r->by_key);
    free(r->by_name);
    free(r);
    return NEMB_ENOMEM;
  }
  size_t first = s->detail_limit < DETAIL_FIRST ? (size_t)s->detail_limit : DETAIL_FIRST;
  r->det_rule = (nemb__chunk_rule){sizeof(cp_kept), first > 0 ? first : 1, 1, &r->det_arena};
  atomic_init(&r->n_funcs, 0);
  atomic_init(&r->kept, 0);
  s->cp = r;
  return 0;
}

/* Stable merge sort of details by (t_ns, thread): each thread's records are already in order. */
static int detail_before(const cp_kept *a, const cp_kept *b) {
  if (a->t_ns != b->t_ns) {
    return a->t_ns < b->t_ns;
  }
  return a->thread < b->thread;
}

static void sort_details(cp_kept *d, cp_kept *tmp, size_t n) {
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        tmp[k++] = detail_before(&d[j], &d[i]) ? d[j++] : d[i++];
      }
      while (i < mid) {
        tmp[k++] = d[i++];
      }
      while (j < hi) {
        tmp[k++] = d[j++];
      }
    }
    memcpy(d, tmp, n * sizeof *d);
  }
}

void nemb__cp_finish(nemb_session *s) {
  struct nemb__cp_registry *r = s->cp;
  if (r == NULL || r->finished) {
    return;
  }
  pthread_mutex_lock(&r->lock); /* also orders every registration before what follows */
  r->finished = true;
  uint64_t t_end = s->t_end ? s->t_end : nemb__now_ns();
  uint32_t n_funcs = atomic_load_explicit(&r->n_funcs, memory_order_acquire);
  nemb__cp_summary sum = {0};

  /* 1. Every thread: resolve what is pending with the final samples, close what is still open. */
  size_t n_det = 0;
  for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
    nemb__cp_thread *c = t->cp;
    if (c == NULL) {
      continue;
    }
    resolve_forced(s, c, c->q_n);
    if (c->depth > 0) {
      cp_view v;
      view_load(&v, s->meter);
      uint64_t extra = c->extrapolated;
      uint64_t te = t_end > c->stack[c->depth - 1].t_ns ? t_end : c->stack[c->depth - 1].t_ns;
      double e = energy_at(c, &v, te);
      c->extrapolated = extra; /* an end, not an event: nothing of the caller's was estimated */
      while (c->depth > 0) {
        close_top(c, &v, te, e);
        c->unbalanced++;
      }
    }
    c->unbalanced += c->overflow;
    c->overflow = 0;
    sum.events += c->events;
    sum.invocations += c->invocations;
    sum.details_dropped += c->dropped;
    sum.unbalanced += c->unbalanced;
    sum.extrapolated += c->extrapolated;
    n_det += c->det_n;
  }

  /* 2. Per-function aggregates over all threads. */
  r->stats = n_funcs ? calloc(n_funcs, sizeof *r->stats) : NULL;
  if (r->stats != NULL) {
    r->n_stats = n_funcs;
    for (uint32_t i = 0; i < n_funcs; i++) {
      const cp_func *f = func_at(r, i);
      r->stats[i].name = f->name;
      r->stats[i].context = f->context;
      r->stats[i].line = f->line;
    }
    for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
      const nemb__cp_thread *c = t->cp;
      for (size_t i = 0; c != NULL && i < c->agg_cap && i < n_funcs; i++) {
        const cp_agg *a = &c->agg[i];
        nemb__func_stats *o = &r->stats[i];
        o->calls += a->calls;
        o->incl_ns += a->incl_ns;
        o->self_ns += a->self_ns;
        o->incl_uj += a->incl_uj;
        o->self_uj += a->self_uj;
        o->unc_uj += a->unc_uj + (a->win_hi != 0 ? short_run_uj(a) : 0);
        o->unc_why |= a->unc_why;
        if (a->max_depth > o->max_depth) {
          o->max_depth = a->max_depth;
        }
      }
    }
  }

  /* 3. Details of all threads, in time order. */
  cp_kept *all = n_det ? malloc(n_det * sizeof *all) : NULL;
  cp_kept *tmp = n_det ? malloc(n_det * sizeof *tmp) : NULL;
  size_t n_out = n_det < s->detail_limit ? n_det : (size_t)s->detail_limit;
  nemb__cp_detail *out = n_out ? malloc(n_out * sizeof *out) : NULL;
  uint64_t *per_func = n_out ? calloc(n_funcs ? n_funcs : 1, sizeof *per_func) : NULL;
  if (all != NULL && tmp != NULL && (n_out == 0 || (out != NULL && per_func != NULL))) {
    /* Every record, with its thread; in cp_kept.inv an enter's own place in `all` before the
     * sort, and an exit's enter's place (KEPT_NONE where its enter kept none). */
    size_t k = 0;
    for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
      const nemb__cp_thread *c = t->cp;
      size_t base = k;
      for (const nemb__chunk *ch = c != NULL ? c->det.first : NULL; ch != NULL; ch = ch->next) {
        memcpy(all + k, ch->recs, ch->n * sizeof *all);
        for (size_t i = k; i < k + ch->n; i++) {
          all[i].thread = c->index;
          if (all[i].func & 1u) {
            all[i].inv = (uint32_t)i;
          } else if (all[i].inv != KEPT_NONE) {
            all[i].inv = (uint32_t)(base + all[i].inv);
          }
        }
        k += ch->n;
      }
    }
    sort_details(all, tmp, n_det);
    /* The earliest detail_limit records (threads may together have kept a few more: may_keep()),
     * their enters numbered per function in time order, in tmp[] (free now) under each enter's
     * old place, where its exit finds the number. */
    uint64_t *number = (uint64_t *)(void *)tmp; /* n_det numbers fit in n_det records */
    memset(number, 0, n_det * sizeof *number);
    for (size_t i = 0; i < n_out; i++) {
      if (all[i].func & 1u) {
        number[all[i].inv] = ++per_func[all[i].func >> 1];
      }
    }
    for (size_t i = 0; i < n_out; i++) {
      const cp_kept *d = &all[i];
      const cp_func *f = func_at(r, d->func >> 1);
      bool enter = (d->func & 1u) != 0;
      /* 0: an exit whose enter kept no detail (out of memory) */
      uint64_t inv = d->inv != KEPT_NONE ? number[d->inv] : 0;
      out[i] = (nemb__cp_detail){
          .name = f->name,
          .context = f->context,
          .checkpoint_id = d->cpid,
          .enter = enter,
          .line = d->line == LINE_OF_FUNC ? f->line : d->line,
          .invocation = inv,
          .thread = d->thread,
          .t_ns = d->t_ns,
          .energy_uj = d->energy_uj,
          .power_w = d->power_w,
      };
    }
    r->details = out;
    r->n_details = n_out;
    sum.details_dropped += n_det - n_out;
    n_det = n_out;
  } else {
    free(out);
    sum.details_dropped += n_det; /* out of memory: counted, like everything beyond the limit */
    n_det = 0;
  }
  free(per_func);
  free(all);
  free(tmp);
  sum.details_kept = n_det;
  r->summary = sum;

  /* 4. The threads' working state is no longer needed. */
  for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
    thread_free(t->cp);
    t->cp = NULL;
  }
  nemb__arena_release(&r->det_arena);
  pthread_mutex_unlock(&r->lock);
}

void nemb__cp_free(nemb_session *s) {
  for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
    thread_free(t->cp);
    t->cp = NULL;
  }
  struct nemb__cp_registry *r = s->cp;
  if (r == NULL) {
    return;
  }
  uint32_t n = atomic_load_explicit(&r->n_funcs, memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) {
    cp_func *f = func_at(r, i);
    if (f->owns_name) {
      free((char *)f->name);
    }
    free((char *)f->context);
  }
  for (size_t i = 0; i < FUNC_MAX / FUNC_CHUNK; i++) {
    free(r->chunks[i]);
  }
  free(r->chunks);
  free(r->by_key);
  free(r->by_name);
  free(r->stats);
  free(r->details);
  if (!r->finished) {
    nemb__arena_release(&r->det_arena); /* after every thread's details (above) */
  }
  pthread_mutex_destroy(&r->lock);
  free(r);
  s->cp = NULL;
}

size_t nemb__cp_functions(const nemb_session *s, const nemb__func_stats **out) {
  const struct nemb__cp_registry *r = s->cp;
  *out = r ? r->stats : NULL;
  return r ? r->n_stats : 0;
}

size_t nemb__cp_details(const nemb_session *s, const nemb__cp_detail **out) {
  const struct nemb__cp_registry *r = s->cp;
  *out = r ? r->details : NULL;
  return r ? r->n_details : 0;
}

void nemb__cp_get_summary(const nemb_session *s, nemb__cp_summary *out) {
  const struct nemb__cp_registry *r = s->cp;
  if (r == NULL) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = r->summary;
}
