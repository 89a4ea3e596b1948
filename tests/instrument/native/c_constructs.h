/* A header with a static inline function: headers are not instrumented, but the .c files are. */
#ifndef C_CONSTRUCTS_H
#define C_CONSTRUCTS_H
static inline int clamp_inline(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }
int clamp(int x, int lo, int hi);
#endif
