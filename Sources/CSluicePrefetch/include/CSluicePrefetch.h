#ifndef SLUICE_CSLUICEPREFETCH_H
#define SLUICE_CSLUICEPREFETCH_H
// A cache prefetch hint, which Swift cannot spell: asks for the line at `address` for writing,
// without waiting for it. Any address is safe; a prefetch never faults.
static inline void sluice_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}
#endif
