#ifndef SLUICE_CSNAPPY_SHIM_H
#define SLUICE_CSNAPPY_SHIM_H
// The C API of libsnappy; snappy.h is C++ only.
#include <snappy-c.h>
#endif
