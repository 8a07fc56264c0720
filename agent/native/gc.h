// The native GC timer's exports (gc.c), added to the addon's by deadline.c's module init.
#ifndef LOOPWATCH_GC_H
#define LOOPWATCH_GC_H
#include <node_api.h>
napi_status loopwatch_gc_init(napi_env env, napi_value exports);
#endif
