// loopwatch's native deadline (Linux): a kernel timer (timerfd) that a monitored thread pushes back on every
// heartbeat and the watchdog thread polls in its own event loop. Re-arming a timerfd wakes nobody, so the
// watchdog sleeps until a heartbeat is really overdue instead of waking about once per stall threshold to look
// (each wake-up of a thread costs ~0.2 ms of CPU on a VM). Everything here runs on the calling JS thread.
//
// JavaScript API (agent/src/native.ts wraps it; nothing else calls it):
//   create() -> deadline                      a timerfd owned by the calling thread
//   arm(deadline, ms) -> boolean              fire once `ms` from now (0 disarms); false if the kernel refused
//   id(deadline) -> number                    its process-wide id, for the watchdog (-1 once closed)
//   close(deadline)                           disarm and close (idempotent; also done when it is collected)
//   watch(id, callback) -> watch              poll a duplicate of that deadline's timerfd in this thread's loop;
//                                             `callback()` runs each time it fires. Throws (code
//                                             LOOPWATCH_DEADLINE_GONE) if the deadline is closed.
//   unwatch(watch)                            stop and release (idempotent; also done at thread teardown)
// and the loop meter's meter()/unmeter() (meter.c) and the GC timer's gcwatch()/ungcwatch() (gc.c).
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>

#include "gc.h"
#include "meter.h"

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
//
// Deadlines live in a process-wide table (this library's statics are shared by every thread that loads it) and
// are named to other threads by id = generation × TABLE_SIZE + slot, never by descriptor number: a number read
// from shared memory may have been closed and reused since, by the application, and `watch` must never touch a
// descriptor that is not one of ours. The table's lock is held while a descriptor is closed and while the
// watchdog duplicates one, so a duplicate is always of the deadline the id names, or refused.

#define TABLE_SIZE 4096
#define DEADLINE_MAGIC 0x6c776474u  // "lwdt"
#define WATCH_MAGIC 0x6c777763u     // "lwwc"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int fd;  // -1: free
  uint32_t generation;
} table[TABLE_SIZE];
static bool table_ready = false;

typedef struct {
  uint32_t magic;
  int slot;  // -1 once closed
  int fd;    // the owner's copy of table[slot].fd (only the owner thread arms and closes)
  double id;
} deadline_t;

// Caller holds table_lock.
static void table_init(void) {
  if (table_ready) return;
  for (int i = 0; i < TABLE_SIZE; i++) table[i].fd = -1;
  table_ready = true;
}

/**
 * `closeFd`: false when the kernel said the descriptor is not ours any more (EBADF/EINVAL: something in the
 * process closed it, and the number may name another file by now), so it is forgotten, not closed.
 */
static void deadline_close(deadline_t* d, bool close_fd) {
  if (d->slot < 0) return;
  pthread_mutex_lock(&table_lock);
  if (close_fd) {
    struct itimerspec off;
    memset(&off, 0, sizeof off);
    // Disarmed first: a watchdog's duplicate keeps the timer alive after this descriptor is closed.
    timerfd_settime(d->fd, 0, &off, NULL);
    close(d->fd);
  }
  table[d->slot].fd = -1;
  pthread_mutex_unlock(&table_lock);
  d->slot = -1;
  d->fd = -1;
}

static void deadline_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  deadline_close((deadline_t*)data, true);
  free(data);
}

static deadline_t* get_deadline(napi_env env, napi_value v) {
  napi_valuetype type;
  void* data = NULL;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) return NULL;
  deadline_t* d = (deadline_t*)data;
  return d->magic == DEADLINE_MAGIC ? d : NULL;
}

static napi_value Create(napi_env env, napi_callback_info info) {
  (void)info;
  deadline_t* d = malloc(sizeof *d);
  if (d == NULL) return throw_errno(env, "malloc", ENOMEM);
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    free(d);
    return throw_errno(env, "timerfd_create", err);
  }
  int slot = -1;
  pthread_mutex_lock(&table_lock);
  table_init();
  for (int i = 0; i < TABLE_SIZE; i++) {
    if (table[i].fd < 0) {
      slot = i;
      table[i].fd = fd;
      table[i].generation++;
      d->id = (double)table[i].generation * TABLE_SIZE + i;
      break;
    }
  }
  pthread_mutex_unlock(&table_lock);
  if (slot < 0) {
    close(fd);
    free(d);
    napi_throw_error(env, "LOOPWATCH_NATIVE", "create: too many deadlines in this process");
    return NULL;
  }
  d->magic = DEADLINE_MAGIC;
  d->slot = slot;
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
  if (d->slot >= 0) {
    int64_t ns = (int64_t)(ms * 1e6);
    struct itimerspec when;
    memset(&when, 0, sizeof when);
    when.it_value.tv_sec = (time_t)(ns / 1000000000);
    when.it_value.tv_nsec = (long)(ns % 1000000000);
    ok = timerfd_settime(d->fd, 0, &when, NULL) == 0;
    // Not a timerfd of ours any more (closed behind our back): forget the number without closing it.
    if (!ok && (errno == EBADF || errno == EINVAL)) deadline_close(d, false);
  }
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

static napi_value Id(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_type(env, "id(deadline)");
  deadline_t* d = get_deadline(env, argv[0]);
  if (d == NULL) return throw_type(env, "id: not a deadline");
  napi_value r;
  napi_create_double(env, d->slot < 0 ? -1 : d->id, &r);
  return r;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_type(env, "close(deadline)");
  deadline_t* d = get_deadline(env, argv[0]);
  if (d == NULL) return throw_type(env, "close: not a deadline");
  deadline_close(d, true);
  return undefined(env);
}

// --- watch (the watchdog's side) ---

typedef struct watch_s watch_t;

// What the JS handle points at; outlives the watch so a late unwatch() finds `w == NULL` instead of freed memory.
typedef struct {
  uint32_t magic;
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
  double id;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "watch(id, callback)");
  if (napi_get_value_double(env, argv[0], &id) != napi_ok || !(id >= 0 && id < 9007199254740992.0) || id != (double)(int64_t)id)
    return throw_type(env, "watch: id must be a deadline id");
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) return throw_type(env, "watch: callback must be a function");
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_type(env, "watch: no event loop");
  int64_t n = (int64_t)id;
  int index = (int)(n % TABLE_SIZE);
  uint32_t generation = (uint32_t)(n / TABLE_SIZE);
  // Duplicated under the table's lock: the deadline cannot be closed (and its number reused) in between.
  int own = -1, dup_errno = 0;
  pthread_mutex_lock(&table_lock);
  table_init();
  if (table[index].fd >= 0 && table[index].generation == generation) {
    own = fcntl(table[index].fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) dup_errno = errno;
  }
  pthread_mutex_unlock(&table_lock);
  if (own < 0 && dup_errno == 0) {
    // Closed since its id was published (the thread stopped): a normal race, told apart by its code.
    napi_throw_error(env, "LOOPWATCH_DEADLINE_GONE", "watch: that deadline is closed");
    return NULL;
  }
  if (own < 0) return throw_errno(env, "watch: dup", dup_errno);
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
  // A watch never keeps a thread alive by itself (the watchdog's lifetime is its own business).
  uv_unref((uv_handle_t*)&w->poll);
  // From here on the handle is closed through uv_close (watch_close), never freed directly.
  if (napi_add_async_cleanup_hook(env, watch_teardown, w, &w->hook) != napi_ok) {
    w->hook = NULL;
    watch_close(w);
    free(slot);
    return throw_type(env, "watch: could not register the teardown hook");
  }
  err = uv_poll_start(&w->poll, UV_READABLE, watch_fired);
  slot->magic = WATCH_MAGIC;
  slot->w = w;
  w->slot = slot;
  if (err != 0 || napi_create_external(env, slot, slot_finalize, NULL, &handle) != napi_ok) {
    watch_close(w);
    if (err == 0) {
      // The external was not created: nothing will finalize the slot.
      w->slot = NULL;
      free(slot);
      return throw_type(env, "watch: could not create the handle");
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
  if (slot->magic != WATCH_MAGIC) return throw_type(env, "unwatch: not a watch");
  if (slot->w != NULL) watch_close(slot->w);
  return undefined(env);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, Create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"arm", NULL, Arm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"id", NULL, Id, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, Watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatch", NULL, Unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  // The loop meter (meter.c) ships in the same binary.
  if (loopwatch_meter_init(env, exports) != napi_ok) return NULL;
  // So does the GC timer (gc.c).
  if (loopwatch_gc_init(env, exports) != napi_ok) return NULL;
  return exports;
}
