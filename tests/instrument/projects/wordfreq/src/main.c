/* wordfreq [N] < text - prints the N (default 5) most frequent words and their counts. */
#include <stdio.h>
#include <stdlib.h>

#include "table.h"
#include "words.h"

static char *read_all(FILE *fp, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf != NULL && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (bigger == NULL) {
        free(buf);
        return NULL;
      }
      buf = bigger;
    }
  }
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  long top = argc > 1 ? strtol(argv[1], NULL, 10) : 5;
  size_t len = 0;
  char *text = read_all(stdin, &len);
  table t;
  if (text == NULL || table_init(&t) != 0) {
    fprintf(stderr, "wordfreq: out of memory\n");
    return 1;
  }
  long words = count_words(&t, text, len);
  size_t n = 0;
  entry *e = table_sorted(&t, &n);
  printf("%ld words, %zu distinct\n", words, n);
  for (size_t i = 0; i < n && (long)i < top; i++) {
    printf("%6ld %s\n", e[i].count, e[i].word);
  }
  table_free(&t);
  free(text);
  return n > 0 ? 0 : 2;
}
