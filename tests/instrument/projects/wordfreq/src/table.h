/* table.h - a hash table from words to counts (open addressing, grows at 3/4). */
#ifndef TABLE_H
#define TABLE_H
#include <stddef.h>

typedef struct entry {
  char *word;
  long count;
} entry;

typedef struct table {
  entry *slots;
  size_t cap, n;
} table;

int table_init(table *t);
int table_add(table *t, const char *word, size_t len);
/* the entries, sorted by count (descending) then word; owned by the table */
entry *table_sorted(table *t, size_t *n);
void table_free(table *t);
#endif
