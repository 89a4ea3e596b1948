#include "words.h"

#include <ctype.h>

static int is_word_char(int c) { return isalnum(c) || c == '\''; }

long count_words(table *t, const char *text, size_t len) {
  long n = 0;
  char buf[64];
  size_t i = 0;
  while (i < len) {
    while (i < len && !is_word_char((unsigned char)text[i])) {
      i++;
    }
    size_t k = 0;
    while (i < len && is_word_char((unsigned char)text[i])) {
      if (k < sizeof buf) {
        buf[k++] = (char)tolower((unsigned char)text[i]);
      }
      i++;
    }
    if (k > 0) {
      if (table_add(t, buf, k) != 0) {
        return -1;
      }
      n++;
    }
  }
  return n;
}
