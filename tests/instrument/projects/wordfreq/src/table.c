#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < len; i++) {
    h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  }
  return h;
}

int table_init(table *t) {
  t->cap = 16;
  t->n = 0;
  t->slots = calloc(t->cap, sizeof *t->slots);
  return t->slots != NULL ? 0 : -1;
}

static int grow(table *t) {
  table bigger = {calloc(t->cap * 2, sizeof *t->slots), t->cap * 2, 0};
  if (bigger.slots == NULL) {
    return -1;
  }
  for (size_t i = 0; i < t->cap; i++) {
    if (t->slots[i].word != NULL) {
      size_t j = hash(t->slots[i].word, strlen(t->slots[i].word)) & (bigger.cap - 1);
      while (bigger.slots[j].word != NULL) {
        j = (j + 1) & (bigger.cap - 1);
      }
      bigger.slots[j] = t->slots[i];
      bigger.n++;
    }
  }
  free(t->slots);
  *t = bigger;
  return 0;
}

int table_add(table *t, const char *word, size_t len) {
  if ((t->n + 1) * 4 > t->cap * 3 && grow(t) != 0) {
    return -1;
  }
  size_t j = hash(word, len) & (t->cap - 1);
  while (t->slots[j].word != NULL) {
    if (strlen(t->slots[j].word) == len && memcmp(t->slots[j].word, word, len) == 0) {
      t->slots[j].count++;
      return 0;
    }
    j = (j + 1) & (t->cap - 1);
  }
  t->slots[j].word = malloc(len + 1);
  if (t->slots[j].word == NULL) {
    return -1;
  }
  memcpy(t->slots[j].word, word, len);
  t->slots[j].word[len] = '\0';
  t->slots[j].count = 1;
  t->n++;
  return 0;
}

static int by_count(const void *a, const void *b) {
  const entry *x = a, *y = b;
  if (x->count != y->count) {
    return x->count > y->count ? -1 : 1;
  }
  return strcmp(x->word, y->word);
}

entry *table_sorted(table *t, size_t *n) {
  size_t w = 0;
  for (size_t i = 0; i < t->cap; i++) {
    if (t->slots[i].word != NULL) {
      t->slots[w++] = t->slots[i];
    }
  }
  for (size_t i = w; i < t->cap; i++) {
    t->slots[i].word = NULL;
  }
  qsort(t->slots, w, sizeof *t->slots, by_count);
  *n = w;
  return t->slots;
}

void table_free(table *t) {
  for (size_t i = 0; i < t->cap; i++) {
    free(t->slots[i].word);
  }
  free(t->slots);
}
