/* words.h - splitting text into lower-case words. */
#ifndef WORDS_H
#define WORDS_H
#include <stddef.h>
#include "table.h"

/* Adds every word of @p text to @p t; returns the number of words. */
long count_words(table *t, const char *text, size_t len);
#endif
