/*
 * huge.h - anonymous mappings that the kernel can back with 2 MiB transparent huge pages: the one
 * place for that rule, used by the library's record chunks (chunks.h) and by the instrumenter's
 * parse arena (src/instrument/arena.c, which compiles huge.c in too). Not installed.
 *
 * Why. The first write to each 4 KiB page is a page fault, and under virtualisation a fault can
 * cost tens of microseconds: 13-47 us per page on the 2-vCPU development guest (a Firecracker
 * VM), where a fault that maps a whole 2 MiB huge page cost 60-200 us when the guest had freed
 * one recently and 0.5-0.7 ms in a fresh process (measured by touching 2 MiB a page at a time,
 * with and without MADV_HUGEPAGE; 2026-11-30). Memory written a few bytes at a time (records,
 * parse trees) pays mostly for its faults. madvise(MADV_HUGEPAGE) is a hint (kernel doc
 * admin-guide/mm/transhuge.rst): where transparent huge pages are off ("never"), or the kernel
 * finds no free 2 MiB, the mapping fills 4 KiB pages as malloc()'s memory would.
 *
 * Thread safety: none needed (each call maps or unmaps memory of its own).
 */
#ifndef NEMB_HUGE_H
#define NEMB_HUGE_H

#include <stddef.h>

#define NEMB__HUGE_BYTES ((size_t)2 << 20) /* one transparent huge page on x86-64 and arm64 */

/* @return @p len rounded up to a multiple of NEMB__HUGE_BYTES (0 for 0). */
size_t nemb__huge_len(size_t len);

/* @return nemb__huge_len(@p len) bytes of zeroed, private, anonymous memory aligned to
 * NEMB__HUGE_BYTES and advised MADV_HUGEPAGE, or NULL when @p len is 0 or the mapping fails
 * (errno from mmap). Free it with nemb__huge_unmap() and the same @p len. */
void *nemb__huge_map(size_t len);
void nemb__huge_unmap(void *p, size_t len);

#endif
