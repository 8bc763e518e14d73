#ifndef SLUICE_CSLUICEMALLOC_H
#define SLUICE_CSLUICEMALLOC_H
#include <stdlib.h> // defines __GLIBC__ on glibc
#ifdef __GLIBC__
#include <malloc.h>
#endif

// glibc's mallopt, which Swift's Glibc module does not carry (it lives in malloc.h): buffers below
// `mmap_threshold` bytes come from the heap, and the heap is trimmed only when more than
// `trim_threshold` bytes at its top are free. Does nothing on other C libraries.
static inline void sluice_malloc_keep_buffers(int mmap_threshold, int trim_threshold) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
#endif
}
#endif
