// The loop meter's exports (meter.c), added to the addon's by deadline.c's module init.
#ifndef LOOPWATCH_METER_H
#define LOOPWATCH_METER_H
#include <node_api.h>
napi_status loopwatch_meter_init(napi_env env, napi_value exports);
#endif
