/*
 * json_text.h - numbers written as JSON text exactly as jansson writes them, for the report's
 * time series, whose points are too many to build as jansson objects (issue 18: an hour at
 * 1 ms is millions of points). Not installed. Thread-safe: no state.
 */
#ifndef NEMB_JSON_TEXT_H
#define NEMB_JSON_TEXT_H

#include "internal.h"

/* Appends @p v as json_dumps() writes a real with JSON_REAL_PRECISION(17): "%.17g", ".0" added
 * when that reads as an integer, the exponent without '+' and without leading zeros ("1e-5",
 * "2.5e20"); "null" for NaN and infinities (as the report writes a number it cannot represent).
 * The C locale's '.' is assumed: the library never calls setlocale(). */
void nemb__json_real(nemb__buf *b, double v);

/* Appends @p v in decimal, as json_dumps() writes an integer (times in nanoseconds, counts). */
void nemb__json_u64(nemb__buf *b, uint64_t v);

#endif
