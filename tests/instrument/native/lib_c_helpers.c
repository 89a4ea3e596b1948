// A second file of the same program (listed after c_constructs.c by the corpus runner).
#include "c_constructs.h"

int clamp(int x, int lo, int hi) { return clamp_inline(x, lo, hi); }
