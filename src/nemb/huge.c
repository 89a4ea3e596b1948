/*
 * huge.c - 2 MiB-aligned anonymous mappings advised MADV_HUGEPAGE (huge.h says why).
 */
#include <stdint.h>
#include <sys/mman.h>

#include "huge.h"

size_t nemb__huge_len(size_t len) {
  return (len + NEMB__HUGE_BYTES - 1) & ~(NEMB__HUGE_BYTES - 1);
}

void *nemb__huge_map(size_t len) {
  len = nemb__huge_len(len);
  if (len == 0) {
    return NULL;
  }
  /* The length and one huge page more, then the slack before and after the aligned part
   * unmapped: mmap() only promises page alignment, and a huge page needs its 2 MiB aligned. */
  char *p = mmap(NULL, len + NEMB__HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) {
    return NULL;
  }
  char *q = (char *)(((uintptr_t)p + NEMB__HUGE_BYTES - 1) & ~(uintptr_t)(NEMB__HUGE_BYTES - 1));
  if (q > p) {
    munmap(p, (size_t)(q - p));
  }
  munmap(q + len, NEMB__HUGE_BYTES - (size_t)(q - p));
#ifdef MADV_HUGEPAGE
  madvise(q, len, MADV_HUGEPAGE); /* a hint: refused or ignored, the pages are ordinary ones */
#endif
  return q;
}

void nemb__huge_unmap(void *p, size_t len) {
  if (p != NULL) {
    munmap(p, nemb__huge_len(len));
  }
}
