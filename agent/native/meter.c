// loopwatch's native loop meter (Linux builds; plain libuv, nothing platform-specific): measures each event-loop
// iteration's busy span — the time between the loop's return from polling for I/O and its next poll, one
// continuous stretch in which the thread yields to nothing — from a prepare handle, in C, so the JavaScript
// heartbeat no longer has to beat every 10 ms for a stall's duration to be exact. A 10 ms JavaScript timer
// costs ~0.4 % CPU per request of a saturated server on this VM; this handle measured +0.2 % (−0.6 … +0.8, not
// resolved) (docs/performance.md run 20).
//
// JavaScript API (agent/src/native.ts wraps it; nothing else calls it):
//   meter(cells) -> meter     start measuring the calling thread's loop into `cells`, a Float64Array of 7 over
//                             an ArrayBuffer of its own (the meter holds it):
//                               [0] monotonic ms (uv_hrtime) of the latest prepare phase: the loop's last poll
//                               [1] the loop's idle time (uv_metrics_idle_time, ms) at that moment
//                               [2] busy ms of the iterations completed since JavaScript last set it to 0 that
//                                   reached [4], added up, less what JavaScript already counted of them ([5])
//                               [3] when the first of them began (monotonic ms)
//                               [4] the stall threshold, ms (written by JavaScript; until then nothing counts)
//                               [5] busy ms of the iteration [6] JavaScript already counted (written by JavaScript)
//                               [6] that iteration's identity: its [0] (written by JavaScript)
//   unmeter(meter)            stop and release (idempotent; also done at thread teardown)
//
// Busy span of the iteration that ends at a prepare callback = wall time since the previous prepare callback
// minus the idle time accumulated since (the poll's wait, which libuv adds up when the poll returns). The span
// in progress is therefore `now - cells[0] - (idle_now - cells[1])` for JavaScript to compute.
#define NAPI_VERSION 8
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <node_api.h>
#include <uv.h>

#include "meter.h"

#define METER_MAGIC 0x6c776d74u  // "lwmt"
#define CELLS 7

typedef struct meter_s meter_t;

// What the JS handle points at; outlives the meter so a late unmeter() finds `m == NULL` instead of freed memory.
typedef struct {
  uint32_t magic;
  meter_t* m;
} meter_slot_t;

struct meter_s {
  uv_prepare_t prepare;
  double* cells;
  napi_env env;
  napi_ref array;  // keeps `cells`' buffer alive while this writes to it
  napi_async_cleanup_hook_handle hook;
  meter_slot_t* slot;  // NULL once the JS handle was collected
  bool closing;
};

static double now_ms(void) { return (double)uv_hrtime() / 1e6; }

static void meter_prepare(uv_prepare_t* handle) {
  meter_t* m = (meter_t*)handle->data;
  double* c = m->cells;
  double now = now_ms();
  double idle = (double)uv_metrics_idle_time(handle->loop) / 1e6;
  double busy = (now - c[0]) - (idle - c[1]);
  // The heartbeat ran inside this iteration and counted its busy time up to then: only the rest is new.
  if (c[0] == c[6]) busy -= c[5];
  // Every iteration that reached the threshold until the next beat adds up (the watchdog sees one freeze from
  // that beat on); the busy part of an iteration is its end, after the poll's wait.
  if (busy >= c[4]) {
    if (c[2] == 0) c[3] = now - busy;
    c[2] += busy;
  }
  c[0] = now;
  c[1] = idle;
}

static void meter_closed(uv_handle_t* handle) {
  meter_t* m = (meter_t*)handle->data;
  if (m->slot != NULL) m->slot->m = NULL;
  napi_delete_reference(m->env, m->array);
  // Last: during thread teardown this tells Node the handle is gone and the loop may close.
  if (m->hook != NULL) napi_remove_async_cleanup_hook(m->hook);
  free(m);
}

static void meter_close(meter_t* m) {
  if (m->closing) return;
  m->closing = true;
  uv_prepare_stop(&m->prepare);
  uv_close((uv_handle_t*)&m->prepare, meter_closed);
}

static void meter_teardown(napi_async_cleanup_hook_handle handle, void* arg) {
  (void)handle;
  meter_close((meter_t*)arg);
}

static void slot_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  meter_slot_t* slot = (meter_slot_t*)data;
  // The handle was collected without unmeter(): stop measuring (nothing can read the cells any more).
  if (slot->m != NULL) {
    slot->m->slot = NULL;
    meter_close(slot->m);
  }
  free(slot);
}

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_type_error(env, "LOOPWATCH_NATIVE", msg);
  return NULL;
}

static napi_value Meter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "meter(cells)");
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed) return fail(env, "meter: cells must be a Float64Array");
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < CELLS || data == NULL)
    return fail(env, "meter: cells must be a Float64Array of 7");
  uv_loop_t* loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) return fail(env, "meter: no event loop");

  meter_t* m = (meter_t*)calloc(1, sizeof *m);
  meter_slot_t* slot = (meter_slot_t*)calloc(1, sizeof *slot);
  if (m == NULL || slot == NULL) {
    free(m);
    free(slot);
    return fail(env, "meter: out of memory");
  }
  m->env = env;
  m->cells = (double*)data;
  if (napi_create_reference(env, argv[0], 1, &m->array) != napi_ok) {
    free(m);
    free(slot);
    return fail(env, "meter: could not hold the cells");
  }
  int err = uv_prepare_init(loop, &m->prepare);
  if (err != 0) {
    napi_delete_reference(env, m->array);
    free(m);
    free(slot);
    return fail(env, "meter: uv_prepare_init failed");
  }
  m->prepare.data = m;
  // Measuring never keeps a thread alive.
  uv_unref((uv_handle_t*)&m->prepare);
  // From here on the handle is closed through uv_close (meter_close), never freed directly.
  if (napi_add_async_cleanup_hook(env, meter_teardown, m, &m->hook) != napi_ok) {
    m->hook = NULL;
    meter_close(m);
    free(slot);
    return fail(env, "meter: could not register the teardown hook");
  }
  double* c = m->cells;
  c[0] = now_ms();
  c[1] = (double)uv_metrics_idle_time(loop) / 1e6;
  c[2] = c[3] = c[5] = 0;
  c[4] = 1e300;
  c[6] = -1;
  uv_prepare_start(&m->prepare, meter_prepare);
  slot->magic = METER_MAGIC;
  slot->m = m;
  m->slot = slot;
  napi_value handle;
  if (napi_create_external(env, slot, slot_finalize, NULL, &handle) != napi_ok) {
    m->slot = NULL;
    meter_close(m);
    free(slot);
    return fail(env, "meter: could not create the handle");
  }
  return handle;
}

static napi_value Unmeter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "unmeter(meter)");
  if (napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok)
    return fail(env, "unmeter: not a meter");
  meter_slot_t* slot = (meter_slot_t*)data;
  if (slot == NULL || slot->magic != METER_MAGIC) return fail(env, "unmeter: not a meter");
  if (slot->m != NULL) meter_close(slot->m);
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

napi_status loopwatch_meter_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"meter", NULL, Meter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmeter", NULL, Unmeter, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
