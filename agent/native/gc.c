// loopwatch's native GC timer: every GC pause of the calling thread, timed by V8's GC prologue and epilogue
// callbacks and added straight into that thread's GC histogram in shared memory. It replaces a `gc`
// PerformanceObserver, for which Node creates a PerformanceEntry object per GC and runs JavaScript to deliver it:
// 0.15 % of a saturated server's main thread on Node 24 and 0.38 % on Node 22 (docs/performance.md run 21). Here
// a GC costs two clock reads and a few stores, and no JavaScript runs.
//
// V8's GC callbacks are C++ (v8::Isolate member functions) and Node-API does not offer them. Node's binary exports
// them, so they are looked up by their mangled names with dlsym. A mangled name encodes the parameter types: if a
// future V8 changes the signature, the lookup fails, gcwatch() throws LOOPWATCH_NATIVE_GC_UNAVAILABLE and the
// agent uses the PerformanceObserver instead. A change that keeps the names resolvable (an enum's values, the
// callback's calling rules) would not be caught here, so the agent calls gcwatch() only on the V8 versions the tests
// ran on (agent/src/runtime/internals.ts). The timing rules are Node's own (src/node_perf.cc), so the durations
// equal the observer's: the prologue of a GC that starts while another is running is ignored, and the epilogue
// records only the GC whose prologue started the clock.
//
// JavaScript API (agent/src/runtime/native.ts wraps it; nothing else calls it):
//   gcwatch(region, bounds, kinds) -> watch   start timing the calling thread's GCs into `region`, a Float64Array
//                                             over a SharedArrayBuffer (held until unwatched; a plain ArrayBuffer
//                                             could be transferred or shrunk under the callbacks): per GC type, one
//                                             count per bucket of `bounds` (upper bounds inclusive, then +Inf),
//                                             then the sum of seconds; `kinds`, an Int32Array of 32, maps V8's
//                                             GCType (1 scavenge, 2 minor mark-sweep, 4 mark-sweep-compact,
//                                             8 incremental marking, 16 weak callbacks) to the type's block in
//                                             `region` (0…127), -1 to ignore it
//   ungcwatch(watch)                          stop and release (idempotent; also done when the handle is collected
//                                             and at thread teardown)
#define NAPI_VERSION 8
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include <uv.h>

#include "gc.h"

// slot_finalize stops a watch, which is safe only because finalizers of non-experimental Node-API modules run after
// the GC (from an immediate), never inside it where V8 is walking its callback list.
#if defined(NAPI_EXPERIMENTAL)
#error "gc.c's finalizer removes V8 GC callbacks: it must not run inside a GC (NAPI_EXPERIMENTAL runs it there)"
#endif

#define GCWATCH_MAGIC 0x6c776763u  // "lwgc"
#define MAX_BOUNDS 32
#define KINDS 32

// v8::Isolate::GCCallbackWithData: void(Isolate*, GCType, GCCallbackFlags, void*). Both enums are int-sized.
typedef void (*gc_callback)(void* isolate, int type, int flags, void* data);
typedef void (*add_callback_fn)(void* isolate, gc_callback cb, void* data, int type_filter);
typedef void (*remove_callback_fn)(void* isolate, gc_callback cb, void* data);
typedef void* (*current_isolate_fn)(void);

#define GC_TYPE_ALL 0x1f  // v8::kGCTypeAll: every GCType bit

static struct {
  current_isolate_fn current;
  add_callback_fn add_prologue;
  add_callback_fn add_epilogue;
  remove_callback_fn remove_prologue;
  remove_callback_fn remove_epilogue;
  const char* missing;  // the first symbol not found, or NULL when all were
} v8api;
static pthread_once_t v8api_once = PTHREAD_ONCE_INIT;

static void* lookup(const char* name) {
  void* p = dlsym(RTLD_DEFAULT, name);
  if (p == NULL && v8api.missing == NULL) v8api.missing = name;
  return p;
}

static void resolve_v8api(void) {
  v8api.current = (current_isolate_fn)lookup("_ZN2v87Isolate10GetCurrentEv");
  v8api.add_prologue = (add_callback_fn)lookup("_ZN2v87Isolate21AddGCPrologueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_");
  v8api.add_epilogue = (add_callback_fn)lookup("_ZN2v87Isolate21AddGCEpilogueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_");
  v8api.remove_prologue = (remove_callback_fn)lookup("_ZN2v87Isolate24RemoveGCPrologueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_");
  v8api.remove_epilogue = (remove_callback_fn)lookup("_ZN2v87Isolate24RemoveGCEpilogueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_");
}

typedef struct gcwatch_s gcwatch_t;

// What the JS handle points at; outlives the watch so a late ungcwatch() finds `w == NULL` instead of freed memory.
typedef struct {
  uint32_t magic;
  gcwatch_t* w;
} gcwatch_slot_t;

struct gcwatch_s {
  void* isolate;
  napi_env env;
  napi_ref array;  // keeps `region`'s buffer alive while GCs are added to it
  double* region;
  size_t region_length;
  size_t stride;  // bounds + 1 counts (+Inf last), then the sum
  size_t nbounds;
  double bounds[MAX_BOUNDS];
  int8_t kinds[KINDS];
  uint64_t started;  // uv_hrtime() at the prologue of the GC being timed
  int current;       // its GCType, 0 when none is being timed
  gcwatch_slot_t* slot;  // NULL once the JS handle was collected
};

// Runs inside V8's GC, on the thread that owns the isolate: no V8 or Node-API call is allowed here.
static void on_prologue(void* isolate, int type, int flags, void* data) {
  (void)isolate;
  (void)flags;
  gcwatch_t* w = (gcwatch_t*)data;
  if (w->current != 0) return;
  w->started = uv_hrtime();
  w->current = type;
}

static void on_epilogue(void* isolate, int type, int flags, void* data) {
  (void)isolate;
  (void)flags;
  gcwatch_t* w = (gcwatch_t*)data;
  if (type != w->current) return;
  w->current = 0;
  double seconds = (double)(uv_hrtime() - w->started) / 1e9;
  int k = type > 0 && type < KINDS ? w->kinds[type] : -1;
  if (k < 0) return;
  // Same layout and bucket rule as ThreadState.recordGc (agent/src/thread/state.ts).
  double* block = w->region + (size_t)k * w->stride;
  size_t i = 0;
  while (i < w->nbounds && seconds > w->bounds[i]) i++;
  // Relaxed atomic stores: the watchdog thread reads these cells while they change (same 8-byte moves as plain ones).
  double count = block[i] + 1;
  double sum = block[w->stride - 1] + seconds;
  __atomic_store(&block[i], &count, __ATOMIC_RELAXED);
  __atomic_store(&block[w->stride - 1], &sum, __ATOMIC_RELAXED);
}

// Stops timing and frees the watch, exactly once per watch (the slot and the cleanup hook are unlinked on every
// path, so no second call can happen): V8 removes a callback unchecked in release builds, and a callback that is
// not registered corrupts its list. Never called from inside a GC either, where V8 walks that list.
static void gcwatch_stop(gcwatch_t* w) {
  v8api.remove_prologue(w->isolate, on_prologue, w);
  v8api.remove_epilogue(w->isolate, on_epilogue, w);
  if (w->slot != NULL) w->slot->w = NULL;
  napi_delete_reference(w->env, w->array);
  free(w);
}

static void gcwatch_teardown(void* arg) { gcwatch_stop((gcwatch_t*)arg); }

static void slot_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  gcwatch_slot_t* slot = (gcwatch_slot_t*)data;
  // The handle was collected without ungcwatch() (see the #error above for why stopping here is safe). At the
  // thread's teardown the cleanup hook may have stopped the watch already: then slot->w is NULL.
  gcwatch_t* w = slot->w;
  if (w != NULL) {
    napi_remove_env_cleanup_hook(w->env, gcwatch_teardown, w);
    w->slot = NULL;
    gcwatch_stop(w);
  }
  free(slot);
}

static napi_value fail(napi_env env, const char* code, const char* msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value GcWatch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return fail(env, "LOOPWATCH_NATIVE", "gcwatch(region, bounds, kinds)");
  pthread_once(&v8api_once, resolve_v8api);
  if (v8api.missing != NULL) {
    char msg[256];
    strcpy(msg, "V8's GC callbacks are not exported by this node binary: ");
    strncat(msg, v8api.missing, sizeof msg - strlen(msg) - 1);
    return fail(env, "LOOPWATCH_NATIVE_GC_UNAVAILABLE", msg);
  }

  bool is_typed = false;
  napi_typedarray_type type;
  size_t region_length = 0, nbounds = 0, nkinds = 0;
  void *region = NULL, *bounds = NULL, *kinds = NULL;
  napi_value region_buffer;
  bool plain_buffer = true;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &region_length, &region, &region_buffer, NULL) != napi_ok || type != napi_float64_array ||
      region == NULL || napi_is_arraybuffer(env, region_buffer, &plain_buffer) != napi_ok || plain_buffer)
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: region must be a Float64Array over a SharedArrayBuffer");
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &nbounds, &bounds, NULL, NULL) != napi_ok || type != napi_float64_array ||
      nbounds > MAX_BOUNDS || (nbounds > 0 && bounds == NULL))
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: bounds must be a Float64Array of at most 32");
  if (napi_is_typedarray(env, argv[2], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[2], &type, &nkinds, &kinds, NULL, NULL) != napi_ok || type != napi_int32_array || nkinds != KINDS ||
      kinds == NULL)
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: kinds must be an Int32Array of 32");
  size_t stride = nbounds + 2;
  for (size_t i = 0; i < KINDS; i++) {
    int32_t k = ((int32_t*)kinds)[i];
    // Every mapped block must lie inside the region: the callbacks write without checking.
    if (k > 127 || (k >= 0 && ((size_t)k + 1) * stride > region_length)) return fail(env, "LOOPWATCH_NATIVE", "gcwatch: kinds point past the region");
  }
  void* isolate = v8api.current();
  if (isolate == NULL) return fail(env, "LOOPWATCH_NATIVE", "gcwatch: no current isolate");

  gcwatch_t* w = (gcwatch_t*)calloc(1, sizeof *w);
  gcwatch_slot_t* slot = (gcwatch_slot_t*)calloc(1, sizeof *slot);
  if (w == NULL || slot == NULL) {
    free(w);
    free(slot);
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: out of memory");
  }
  w->isolate = isolate;
  w->env = env;
  w->region = (double*)region;
  w->region_length = region_length;
  w->stride = stride;
  w->nbounds = nbounds;
  if (nbounds > 0) memcpy(w->bounds, bounds, nbounds * sizeof(double));
  for (size_t i = 0; i < KINDS; i++) {
    int32_t k = ((int32_t*)kinds)[i];
    w->kinds[i] = (int8_t)(k < 0 ? -1 : k);
  }
  if (napi_create_reference(env, argv[0], 1, &w->array) != napi_ok) {
    free(w);
    free(slot);
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: could not hold the region");
  }
  napi_value handle;
  slot->magic = GCWATCH_MAGIC;
  slot->w = w;
  w->slot = slot;
  if (napi_create_external(env, slot, slot_finalize, NULL, &handle) != napi_ok) {
    napi_delete_reference(env, w->array);
    free(w);
    free(slot);
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: could not create the handle");
  }
  if (napi_add_env_cleanup_hook(env, gcwatch_teardown, w) != napi_ok) {
    // The slot is owned by the handle now: its finalizer frees it.
    slot->w = NULL;
    napi_delete_reference(env, w->array);
    free(w);
    return fail(env, "LOOPWATCH_NATIVE", "gcwatch: could not register the teardown hook");
  }
  v8api.add_prologue(isolate, on_prologue, w, GC_TYPE_ALL);
  v8api.add_epilogue(isolate, on_epilogue, w, GC_TYPE_ALL);
  return handle;
}

static napi_value GcUnwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype vtype;
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "LOOPWATCH_NATIVE", "ungcwatch(watch)");
  if (napi_typeof(env, argv[0], &vtype) != napi_ok || vtype != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL ||
      ((gcwatch_slot_t*)data)->magic != GCWATCH_MAGIC)
    return fail(env, "LOOPWATCH_NATIVE", "ungcwatch: not a GC watch");
  gcwatch_slot_t* slot = (gcwatch_slot_t*)data;
  gcwatch_t* w = slot->w;
  if (w != NULL) {
    napi_remove_env_cleanup_hook(w->env, gcwatch_teardown, w);
    gcwatch_stop(w);
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

napi_status loopwatch_gc_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gcwatch", NULL, GcWatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ungcwatch", NULL, GcUnwatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
