// loopwatch's native deadline (Linux): a kernel timer (timerfd) that a monitored thread pushes back on every
// heartbeat and the watchdog thread polls in its own event loop. Re-arming a timerfd wakes nobody, so the
// watchdog sleeps until a heartbeat is really overdue instead of waking about once per stall threshold to look
// (each wake-up of a thread costs ~0.2 ms of CPU on a VM). Everything here runs on the calling JS thread.
//
// JavaScript API (agent/src/native.ts wraps it; nothing else calls it):
//   create() -> deadline                      a timerfd owned by the calling thread
//   arm(deadline, ms) -> boolean              fire once `ms` from now (0 disarms); false if the kernel refused
//   fd(deadline) -> number                    its descriptor, for the watchdog (-1 once closed)
//   close(deadline)                           disarm and close (idempotent; also done when it is collected)
//   watch(fd, callback) -> watch              poll a duplicate of a deadline's descriptor; `callback()` runs
//                                             each time it fires. Throws if `fd` is not a timerfd.
//   unwatch(watch)                            stop and release (idempotent; also done at thread teardown)
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s failed: %s", what, strerror(err));
  napi_throw_error(env, "LOOPWATCH_NATIVE", msg);
  return NULL;
}

static napi_value throw_type(napi_env env, const char* msg) {
  napi_throw_type_error(env, "LOOPWATCH_NATIVE", msg);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

// --- deadline (the monitored thread's side) ---

typedef struct {
  int fd;  // -1 once closed
} deadline_t;

static void deadline_close(deadline_t* d) {
  if (d->fd < 0) return;
  struct itimerspec off;
  memset(&off, 0, sizeof off);
  // Disarmed first: the watchdog's duplicate keeps the timer alive after this descriptor is closed.
  timerfd_settime(d->fd, 0, &off, NULL);
  close(d->fd);
  d->fd = -1;
}

static void deadline_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  deadline_close((deadline_t*)data);
  free(data);
}

static deadline_t* get_deadline(napi_env env, napi_value v) {
  napi_valuetype type;
  void* data = NULL;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (deadline_t*)data;
}

static napi_value Create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "timerfd_create", errno);
  deadline_t* d = malloc(sizeof *d);
  if (d == NULL) {
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  d->fd = fd;
  napi_value ext;
  if (napi_create_external(env, d, deadline_finalize, NULL, &ext) != napi_ok) {
    deadline_finalize(env, d, NULL);
    return NULL;
  }
  return ext;
}

static napi_value Arm(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  double ms;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "arm(deadline, ms)");
  deadline_t* d = get_deadline(env, argv[0]);
  if (d == NULL) return throw_type(env, "arm: not a deadline");
  if (napi_get_value_double(env, argv[1], &ms) != napi_ok || !(ms >= 0 && ms <= 86400000.0)) return throw_type(env, "arm: ms must be 0 … 86400000");
  bool ok = false;
  if (d->fd >= 0) {
    int64_t ns = (int64_t)(ms * 1e6);
    struct itimerspec when;
    memset(&when, 0, sizeof when);
    when.it_value.tv_sec = (time_t)(ns / 1000000000);
    when.it_value.tv_nsec = (long)(ns % 1000000000);
    ok = timerfd_settime(d->fd, 0, &when, NULL) == 0;
  }
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

static napi_value Fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_type(env, "fd(deadline)");
  deadline_t* d = get_deadline(env, argv[0]);
  if (d == NULL) return throw_type(env, "fd: not a deadline");
  napi_value r;
  napi_create_int32(env, d->fd, &r);
  return r;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_type(env, "close(deadline)");
  deadline_t* d = get_deadline(env, argv[0]);
  if (d == NULL) return throw_type(env, "close: not a deadline");
  deadline_close(d);
  return undefined(env);
}

// --- watch (the watchdog's side) ---

typedef struct watch_s watch_t;

// What the JS handle points at; outlives the watch so a late unwatch() finds `w == NULL` instead of freed memory.
typedef struct {
  watch_t* w;
} watch_slot_t;

struct watch_s {
  uv_poll_t poll;
  int fd;  // our duplicate
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle hook;
  watch_slot_t* slot;  // NULL once the JS handle was collected
  bool closing;
};

static void watch_closed(uv_handle_t* handle) {
  watch_t* w = (watch_t*)handle->data;
  close(w->fd);
  if (w->slot != NULL) w->slot->w = NULL;
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->context);
  // Last: during thread teardown this tells Node the handle is gone and the loop may close.
  napi_remove_async_cleanup_hook(w->hook);
  free(w);
}

static void watch_close(watch_t* w) {
  if (w->closing) return;
  w->closing = true;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t*)&w->poll, watch_closed);
}

static void watch_teardown(napi_async_cleanup_hook_handle handle, void* arg) {
  (void)handle;
  watch_close((watch_t*)arg);
}

static void watch_fired(uv_poll_t* handle, int status, int events) {
  (void)status;
  (void)events;
  watch_t* w = (watch_t*)handle->data;
  if (w->closing) return;
  uint64_t expirations;
  // Read the expiration count, or the level-triggered poll reports the descriptor readable again at once.
  while (read(w->fd, &expirations, sizeof expirations) < 0 && errno == EINTR) {
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(w->env, &scope) != napi_ok) return;
  napi_value cb, recv, result;
  // napi_make_callback needs an object receiver (undefined fails with a pending TypeError).
  if (napi_get_reference_value(w->env, w->callback, &cb) == napi_ok && cb != NULL && napi_get_global(w->env, &recv) == napi_ok) {
    napi_make_callback(w->env, w->context, recv, cb, 0, NULL, &result);
  }
  bool pending = false;
  if (napi_is_exception_pending(w->env, &pending) == napi_ok && pending) {
    // The callback handles its own errors (agent/src/native.ts); never leave one pending for unrelated code.
    napi_value exception;
    napi_get_and_clear_last_exception(w->env, &exception);
  }
  napi_close_handle_scope(w->env, scope);
}

static void slot_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  watch_slot_t* slot = (watch_slot_t*)data;
  if (slot->w != NULL) slot->w->slot = NULL;
  free(slot);
}

static napi_value Watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "watch(fd, callback)");
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, "watch: fd must be a descriptor number");
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) return throw_type(env, "watch: callback must be a function");
  // Only a timerfd is accepted: a wrong number must not have us read from an application's descriptor.
  struct itimerspec probe;
  if (timerfd_gettime(fd, &probe) != 0) return throw_errno(env, "watch: timerfd_gettime", errno);
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, "watch: no event loop");
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return throw_errno(env, "watch: dup", errno);
  watch_t* w = calloc(1, sizeof *w);
  watch_slot_t* slot = calloc(1, sizeof *slot);
  if (w == NULL || slot == NULL) {
    free(w);
    free(slot);
    close(own);
    return throw_errno(env, "watch: calloc", ENOMEM);
  }
  w->fd = own;
  w->env = env;
  napi_value resource, name, handle;
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) goto fail_ref;
  if (napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "loopwatch.deadline", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &w->context) != napi_ok)
    goto fail_context;
  int err = uv_poll_init(loop, &w->poll, own);
  if (err != 0) {
    napi_async_destroy(env, w->context);
    napi_delete_reference(env, w->callback);
    free(w);
    free(slot);
    close(own);
    char msg[160];
    snprintf(msg, sizeof msg, "watch: uv_poll_init failed: %s", uv_strerror(err));
    napi_throw_error(env, "LOOPWATCH_NATIVE", msg);
    return NULL;
  }
  w->poll.data = w;
  // From here on the handle is closed through uv_close (watch_close), never freed directly.
  if (napi_add_async_cleanup_hook(env, watch_teardown, w, &w->hook) != napi_ok) {
    w->hook = NULL;
    watch_close(w);
    free(slot);
    return throw_type(env, "watch: could not register the teardown hook");
  }
  err = uv_poll_start(&w->poll, UV_READABLE, watch_fired);
  slot->w = w;
  w->slot = slot;
  if (err != 0 || napi_create_external(env, slot, slot_finalize, NULL, &handle) != napi_ok) {
    watch_close(w);
    if (err == 0) {
      // The external was not created: nothing will finalize the slot.
      w->slot = NULL;
      free(slot);
      return NULL;
    }
    w->slot = NULL;
    free(slot);
    char msg[160];
    snprintf(msg, sizeof msg, "watch: uv_poll_start failed: %s", uv_strerror(err));
    napi_throw_error(env, "LOOPWATCH_NATIVE", msg);
    return NULL;
  }
  return handle;

fail_context:
  napi_delete_reference(env, w->callback);
fail_ref:
  free(w);
  free(slot);
  close(own);
  return throw_type(env, "watch: could not set up the callback");
}

static napi_value Unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype type;
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_type(env, "unwatch(watch)");
  if (napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok)
    return throw_type(env, "unwatch: not a watch");
  watch_slot_t* slot = (watch_slot_t*)data;
  if (slot->w != NULL) watch_close(slot->w);
  return undefined(env);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, Create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"arm", NULL, Arm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fd", NULL, Fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, Watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatch", NULL, Unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
