#ifndef SLUICE_CPROTOBUFC_SHIM_H
#define SLUICE_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
