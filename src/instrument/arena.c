/*
 * arena.c - tree-sitter's memory during one cgi_instrument() call, taken from an arena of the
 * calling thread and handed back all at once at the end of the call.
 *
 * Parsing a file makes hundreds of thousands of small allocations (subtrees, stack nodes, cursor
 * stacks) that are all freed when the tree is deleted; with libc's malloc they were about a tenth
 * of `codegreen analyze`'s time (callgrind, CPython's standard library). Inside a call, tree-sitter
 * allocates by bumping a pointer in the thread's arena, its frees of arena memory do nothing, and
 * cgi__arena_end() takes back the arena's chunks at once (so the tree need not be deleted node by
 * node) and keeps them, up to CGI_ARENA_KEEP bytes, for the thread's next calls (unmapped when the
 * thread ends).
 * Outside a call (compiling a query, another thread not in a call) and past CGI_ARENA_MAX bytes in
 * one call, allocations go to libc as before.
 *
 * Chunks of 2 MiB and more are huge-page mappings (../nemb/huge.h): a parse writes its tree a few
 * dozen bytes at a time into fresh memory, and page faults were three quarters of the time
 * `codegreen measure` spent instrumenting an 80 000-line file on a KVM guest (perf; 28 600 faults,
 * 118 MB). Smaller chunks are ordinary mappings: most files need only those.
 *
 * Chunks are mapped with mmap(): they are not allocations of the engine (whose every malloc may
 * fail and be answered), but tree-sitter's, which it cannot survive failing (its own allocator
 * aborts, and so does this one when even libc fails it).
 *
 * Thread safety: the allocator is installed once, by a constructor, before main() and any thread;
 * each thread has its own arena (thread-local state). Every tree-sitter object made inside a call
 * must be deleted inside it (engine.c deletes the tree and cursors before cgi__arena_end()).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <tree_sitter/api.h>

#include "../nemb/huge.h"
#include "stages.h"

#define CGI_ARENA_CHUNK ((size_t)256 << 10) /* the first chunk; later ones double */
#define CGI_ARENA_BIG ((size_t)16 << 20)    /* up to this size */
#define CGI_ARENA_MAX ((size_t)1024 << 20)  /* beyond this in one call: libc */
#define CGI_ARENA_KEEP ((size_t)32 << 20)   /* kept between calls, at most */
#define HDR 16                              /* the size of each block, before it (alignment) */

typedef struct chunk {
  struct chunk *next;
  char *data;
  size_t cap, used;
  size_t last; /* offset of the last block handed out (realloc grows it in place) */
  size_t pad;  /* (a multiple of 16 bytes) */
} chunk;
_Static_assert(sizeof(chunk) % 16 == 0, "blocks after a chunk's header stay 16-byte aligned");

static _Thread_local struct {
  chunk *head;  /* the chunks of this call, newest first */
  chunk *spare; /* chunks of earlier calls, empty, for this call to reuse */
  size_t total;
  int depth;    /* cgi__arena_begin() calls not yet ended */
  bool spilled; /* something tree-sitter allocated in this call is libc's */
} A;

static void *need(void *p, size_t n) {
  if (p == NULL && n > 0) { /* tree-sitter does not check; its own allocator aborts too */
    fprintf(stderr, "codegreen: tree-sitter failed to allocate %zu bytes\n", n);
    abort();
  }
  return p;
}

static chunk *owner(const void *p) {
  for (chunk *k = A.head; k != NULL; k = k->next) {
    if ((const char *)p >= k->data && (const char *)p < k->data + k->cap) {
      return k;
    }
  }
  return NULL;
}

/* A chunk of *cap bytes (whole pages), or NULL; *cap becomes its mapped length. */
static void *map_chunk(size_t *cap) {
  if (*cap >= NEMB__HUGE_BYTES) {
    *cap = nemb__huge_len(*cap);
    return nemb__huge_map(*cap);
  }
  void *m = mmap(NULL, *cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

static void *arena_malloc(size_t n) {
  if (A.depth == 0) {
    return need(malloc(n), n);
  }
  size_t size = (n + HDR + 15) & ~(size_t)15;
  chunk *k = A.head;
  if ((k == NULL || k->cap - k->used < size) && A.spare != NULL && A.spare->cap >= size) {
    k = A.spare; /* a chunk an earlier call touched: no page faults */
    A.spare = k->next;
    k->next = A.head;
    A.head = k;
    A.total += k->cap + sizeof *k;
  }
  if (k == NULL || k->cap - k->used < size) {
    /* mapped lengths (the header included) 256 KiB, 512 KiB ... 16 MiB: those from 2 MiB on
     * are whole huge pages */
    size_t last = k == NULL ? 0 : k->cap + sizeof *k;
    size_t cap = k == NULL ? CGI_ARENA_CHUNK : last < CGI_ARENA_BIG ? last * 2 : last;
    if (cap < size + sizeof *k) {
      cap = size + sizeof *k;
    }
    cap = (cap + 4095) & ~(size_t)4095; /* whole pages */
    void *m = A.total + cap > CGI_ARENA_MAX ? NULL : map_chunk(&cap);
    if (m == NULL) {
      A.spilled = true;
      return need(malloc(n), n);
    }
    k = m;
    k->data = (char *)(k + 1); /* (sizeof *k is a multiple of 16) */
    k->cap = cap - sizeof *k;
    k->used = 0;
    k->last = 0;
    k->next = A.head;
    A.head = k;
    A.total += cap;
  }
  char *p = k->data + k->used;
  *(size_t *)p = n;
  k->last = k->used;
  k->used += size;
  return p + HDR;
}

static void *arena_calloc(size_t count, size_t size) {
  if (A.depth == 0) {
    return need(calloc(count, size), count * size);
  }
  if (size != 0 && count > SIZE_MAX / size) {
    return need(NULL, SIZE_MAX);
  }
  void *p = arena_malloc(count * size);
  memset(p, 0, count * size);
  return p;
}

static void arena_free(void *p) {
  if (p != NULL && (A.depth == 0 || owner(p) == NULL)) {
    free(p);
  }
}

static void *arena_realloc(void *p, size_t n) {
  chunk *k = p != NULL && A.depth > 0 ? owner(p) : NULL;
  if (k == NULL) {
    A.spilled |= p != NULL && A.depth > 0;
    return p == NULL ? arena_malloc(n) : need(realloc(p, n), n);
  }
  char *h = (char *)p - HDR;
  size_t old = *(size_t *)h;
  if ((size_t)(h - k->data) == k->last) { /* the last block of its chunk: grow it in place */
    size_t size = (n + HDR + 15) & ~(size_t)15;
    if (k->last + size <= k->cap) {
      *(size_t *)h = n;
      k->used = k->last + size;
      return p;
    }
  } else if (n <= old) {
    return p;
  }
  void *q = arena_malloc(n);
  memcpy(q, p, old < n ? old : n);
  return q;
}

static void drop_kept(void *kept);
static pthread_key_t kept_key;
static bool have_key; /* (without it no chunk is kept) */

__attribute__((constructor)) static void install(void) {
  have_key = pthread_key_create(&kept_key, drop_kept) == 0;
  ts_set_allocator(arena_malloc, arena_calloc, arena_realloc, arena_free);
}

void cgi__arena_begin(void) {
  A.depth++;
}

bool cgi__arena_holds_all(void) {
  return A.depth > 0 && !A.spilled;
}

/* At a thread's end: the chunks it kept. */
static void drop_kept(void *kept) {
  for (chunk *k = kept, *next; k != NULL; k = next) {
    next = k->next;
    munmap(k, k->cap + sizeof *k);
  }
}

void cgi__arena_end(void) {
  if (--A.depth > 0) {
    return;
  }
  /* The chunks are kept for the thread's next call, up to CGI_ARENA_KEEP bytes: fresh pages cost
   * a fault each on first touch (13-47 us a page on a KVM guest), and a file's parse touches
   * megabytes; keeping only the newest chunk left every file larger than it faulting again. */
  chunk *all = A.head;
  A.head = NULL;
  size_t kept = 0;
  for (chunk *k = A.spare; k != NULL; k = k->next) {
    kept += k->cap + sizeof *k;
  }
  for (chunk *k = all, *next; k != NULL; k = next) {
    next = k->next;
    if (have_key && kept + k->cap + sizeof *k <= CGI_ARENA_KEEP) {
      kept += k->cap + sizeof *k;
      k->used = 0;
      k->last = 0;
      /* largest first, so a big request finds its chunk at the front */
      chunk **at = &A.spare;
      while (*at != NULL && (*at)->cap > k->cap) {
        at = &(*at)->next;
      }
      k->next = *at;
      *at = k;
    } else {
      munmap(k, k->cap + sizeof *k);
    }
  }
  A.total = 0;
  A.spilled = false;
  if (have_key && pthread_setspecific(kept_key, A.spare) != 0) {
    drop_kept(A.spare);
    A.spare = NULL;
  }
}
