/**
 * Longer than 300 lines: it is the one place that holds every private internal, by design (issue #20, item 4).
 *
 * Every private Node, V8 and OpenTelemetry internal loopwatch reaches, behind one door. Each is probed once per
 * thread (at first use), and where the probe fails the feature that needs it turns off, with one diagnostic line
 * naming the internal and the feature; the rest of the agent keeps working.
 *
 * | name                       | what                                                                  | needed by                                                                    | without it                                                                 |
 * |----------------------------|-----------------------------------------------------------------------|------------------------------------------------------------------------------|----------------------------------------------------------------------------|
 * | `http.connectionListener`  | `require('node:http')._connectionListener`                            | requestScope 'connection' (attribution/request-context.ts)                   | a context frame per request, from the request channel                      |
 * | `http.parserIncoming`      | an HTTP parser's `incoming` (the request it read last)                | requestScope 'connection': naming the request of a connection's frame         | a context frame per request, from the request channel                      |
 * | `http.socketResponse`      | `socket._httpMessage` (the ServerResponse a socket is assigned to)    | scope 'connection'; requests in flight (victims); response close (thread.ts) | a frame per request, from the channel; stalls carry no count in flight     |
 * | `http.parserCallbacks`     | an HTTP parser's `onIncoming(request, keepAlive)` (per connection),  | requestScope 'request': entering each request's frame inside node:http's     | the frame is entered from `http.server.request.start` (more per request;   |
 * |                            | its body callbacks (`kOnBody`, `kOnMessageComplete`, per parser), all  | parser callbacks (attribution/request-frames.ts)                             | body events run outside the request's frame)                               |
 * |                            | called as the parser's methods, reading the request off `incoming`    |                                                                              |                                                                            |
 * | `http.serverConnections`   | `server[Symbol('http.server.connections')]` (node:http's list)       | requests in flight; finding connections accepted before loopwatch           | no count in flight; old connections found only by the periodic probe       |
 * | `process.getActiveHandles` | `process._getActiveHandles()` (DEP0161, documentation-only)           | finding the thread's HTTP servers (same two features)                        | as for `http.serverConnections`                                            |
 * | `als.propagate`            | `AsyncLocalStorage.prototype._propagate` (async_hooks-based ALS only) | telling which ALS the runtime has (requestContext 'auto', thread.ts)        | inferred from the Node version and the async-context-frame flags          |
 * | `otel.apiGlobal`           | `globalThis[Symbol.for('opentelemetry.js.api.1')]` and the span key   | seeing an app's OTel providers / active span without loading the API        | OpenTelemetry integration off (no app MeterProvider, no trace ids)         |
 * | `otel.sdkSharedState`      | an SDK MeterProvider's `_sharedState` (resource, metric readers)      | the stall push's resource and "is the app's pipeline OTLP" (export/otel.ts) | resource from OTEL_* variables; OTLP detected from the endpoint variables  |
 * | `v8.gcCallbacks`           | V8's `Isolate::Add/RemoveGC{Prologue,Epilogue}Callback`, `GetCurrent`, | the native GC timer (native/gc.c, heartbeat/gc.ts)                           | a `gc` PerformanceObserver                                                 |
 * |                            | found by mangled name with dlsym, allowed only on the V8s tested      |                                                                              |                                                                            |
 *
 * Not behind this door (yet): the inspector's worker target title `[worker <threadId>]` (attribution/stack-sampler.ts,
 * checked per target), Express 4's `app._router` (attribution/route.ts), and the pool libraries' private fields
 * read by pools/adapters/ (mysql2 `_allConnections`…, generic-pool `_availableObjects`…, undici's symbols): those
 * adapters check each shape where they read it.
 *
 * Tests force probes to fail with `LOOPWATCH_TEST_DISABLE_INTERNALS=name,name` (test-only: read once at load; a
 * name it does not know is reported too, so a typo cannot pass for a fallback).
 */
import * as http from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';
import { isMainThread } from 'node:worker_threads';
import { PREFIX, writeStderr } from './diag';

export type InternalName =
  | 'http.connectionListener'
  | 'http.parserIncoming'
  | 'http.socketResponse'
  | 'http.parserCallbacks'
  | 'http.serverConnections'
  | 'process.getActiveHandles'
  | 'als.propagate'
  | 'otel.apiGlobal'
  | 'otel.sdkSharedState'
  | 'v8.gcCallbacks';

/** What turns off, and what takes its place, for each internal (the second half of its diagnostic line). */
const FALLBACK: Readonly<Record<InternalName, string>> = {
  'http.connectionListener': "requestScope 'connection' is off; a request context frame is entered per request instead",
  'http.parserIncoming': "requestScope 'connection' is off; a request context frame is entered per request instead",
  'http.socketResponse': "requestScope 'connection' and the count of requests in flight are off; a request context frame is entered per request instead",
  'http.parserCallbacks':
    "requestScope 'request' enters each request's context frame from the http.server.request.start channel instead (more per request), and a request's body events run outside it; requestScope 'connection' counts no requests per connection (every request counts as past the first: code the parser did not call has no route)",
  'http.serverConnections': 'the count of requests in flight is off, and connections accepted before loopwatch are found only by the periodic probe',
  'process.getActiveHandles': 'the count of requests in flight is off, and connections accepted before loopwatch are found only by the periodic probe',
  'als.propagate': 'which AsyncLocalStorage this Node runs is inferred from its version and flags',
  'otel.apiGlobal': "the OpenTelemetry integration is off (app providers are not seen, stalls carry no trace id); loopwatch's own exports keep working",
  'otel.sdkSharedState': "the stall push reads its resource from OTEL_* variables and tells an OTLP pipeline from the endpoint variables",
  'v8.gcCallbacks': 'the native GC timer is off; a PerformanceObserver times GC instead',
};

/** @internal used by test/agent/runtime/fixtures/internals-app.cjs */
export const INTERNAL_NAMES = Object.keys(FALLBACK) as readonly InternalName[];

/** V8 major.minor of the Node lines whose binaries the native GC timer's tests ran on: Node 22, 24 and 26. */
const GC_TIMER_TESTED_V8: readonly string[] = ['12.4', '13.6', '14.6'];

export type InternalsReport = (what: string, err?: unknown) => void;

const DISABLE_ENV = 'LOOPWATCH_TEST_DISABLE_INTERNALS';
const disabled = new Set<string>(
  (process.env[DISABLE_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

let sink: InternalsReport | undefined;
const pending: [string, InternalsReport | undefined][] = [];
/** Why each internal is unavailable, once known; absent while available or not yet probed. */
const unavailable = new Map<InternalName, string>();

/** Where the lines go (the agent's Diagnostics, counted in its self-metric); before that and after stop, the caller's or stderr. */
export function reportInternalsTo(report: InternalsReport | undefined): void {
  sink = report;
}

/**
 * Reports after the current JavaScript returns: probes may run inside a V8 interrupt (a stall being sampled), where
 * nothing should be logged or counted. The immediate is unref'd (it never keeps a process alive); a process that
 * exits first still gets the line, from its 'exit' event.
 */
function say(line: string, onError: InternalsReport | undefined): void {
  if (pending.push([line, onError]) > 1) return;
  setImmediate(flush).unref();
  process.once('exit', flush);
}
function flush(): void {
  process.removeListener('exit', flush);
  for (const [line, onError] of pending.splice(0)) {
    const to = sink ?? onError;
    if (to) to(line);
    else writeStderr(`${PREFIX} ${line}`);
  }
}

// Said by the main thread only: every thread (the watchdog's too) loads this module.
if (isMainThread) {
  const unknown = [...disabled].filter((n) => !(n in FALLBACK));
  if (unknown.length) say(`${DISABLE_ENV} names no known internal: ${unknown.join(', ')} (known: ${INTERNAL_NAMES.join(', ')})`, undefined);
}

/** Marks `name` unavailable (once: the first reason is the one reported) and says what turned off. */
export function markUnavailable(name: InternalName, why: string, onError?: InternalsReport): void {
  if (unavailable.has(name)) return;
  unavailable.set(name, why);
  say(`private internal ${name} unavailable (${why}): ${FALLBACK[name]}`, onError);
}

/** Runs `probe` once for `name` (a reason string or a throw is a failure); true while the internal is usable. */
function check(name: InternalName, done: { ok?: boolean }, probe: () => true | string, onError?: InternalsReport): boolean {
  if (done.ok !== undefined) return done.ok;
  let why: true | string;
  if (disabled.has(name)) why = `disabled by ${DISABLE_ENV}, tests only`;
  else {
    try {
      why = probe();
    } catch (err) {
      why = `probe threw: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  done.ok = why === true;
  if (why !== true) markUnavailable(name, why, onError);
  return done.ok;
}

/** Why `name` is unavailable, or undefined (available, or not probed yet). For tests and the design doc's checks. */
export function internalUnavailable(name: InternalName): string | undefined {
  return unavailable.get(name);
}

// ---- node:http -------------------------------------------------------------------------------------------------

const listenerDone: { ok?: boolean } = {};
/** A function only compared by identity (found among an emitter's listeners), never called. */
export type ListenerIdentity = (...args: never[]) => unknown;
/** node:http's per-connection listener, or undefined where it is not exported (scope 'connection' off). */
export function httpConnectionListener(onError?: InternalsReport): ListenerIdentity | undefined {
  const fn = (http as unknown as { _connectionListener?: unknown })._connectionListener;
  const ok = check('http.connectionListener', listenerDone, () => typeof fn === 'function' || "node:http exports no function '_connectionListener'", onError);
  return ok ? (fn as ListenerIdentity) : undefined;
}

const incomingDone: { ok?: boolean } = {};
/**
 * Whether a socket's `parser.incoming` names the request it read last. Probed on a parser from node:http's own pool
 * (`_http_common`'s FreeList, which initialises `incoming` on every parser it makes), handed straight back.
 */
export function parserIncomingAvailable(onError?: InternalsReport): boolean {
  return check(
    'http.parserIncoming',
    incomingDone,
    () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const common = require('_http_common') as { parsers?: { alloc?(): unknown; free?(p: unknown): unknown } };
      const pool = common.parsers;
      if (typeof pool?.alloc !== 'function' || typeof pool.free !== 'function') return "_http_common has no parser pool to look at";
      const parser = pool.alloc() as object | null;
      try {
        return (parser !== null && typeof parser === 'object' && 'incoming' in parser) || 'an HTTP parser has no `incoming`';
      } finally {
        pool.free(parser);
      }
    },
    onError,
  );
}

const responseDone: { ok?: boolean } = {};
/** Whether `socket._httpMessage` is kept: node:http's own ServerResponse#assignSocket still sets it. */
export function socketResponseAvailable(onError?: InternalsReport): boolean {
  return check(
    'http.socketResponse',
    responseDone,
    () => {
      const assign = (http.ServerResponse.prototype as { assignSocket?: unknown }).assignSocket;
      return (typeof assign === 'function' && Function.prototype.toString.call(assign).includes('_httpMessage')) || 'ServerResponse#assignSocket no longer sets socket._httpMessage';
    },
    onError,
  );
}

/** The response a server-side socket is assigned to (`socket._httpMessage`); undefined where that is not kept. */
export function socketResponse(socket: object): { req?: object | null } | null | undefined {
  if (responseDone.ok === undefined) socketResponseAvailable();
  return responseDone.ok ? (socket as { _httpMessage?: { req?: object | null } | null })._httpMessage : undefined;
}

/** A server connection's HTTP parser (`_http_common`), as far as requestScope 'request' reads and replaces it. */
/** node:http's per-connection request callback on a server parser (`parserOnIncoming`, bound to the connection). */
export type OnIncoming = (request: object, keepAlive: unknown) => unknown;

export interface HttpParser {
  /** The request whose headers or body the parser reads now (node:http sets it before calling `onIncoming`). */
  incoming: { readonly readableFlowing?: boolean | null } | null;
  socket: object | null;
  /** node:http's `parserOnIncoming`, bound to the connection; called as the parser's method with (request, keepAlive). */
  onIncoming: OnIncoming | null;
}
/** What the parser calls for each piece of a request's body, and when the request ends (as its methods). */
export interface ParserBodyCallbacks {
  readonly onBody: (this: HttpParser, chunk: unknown) => unknown;
  readonly onMessageComplete: (this: HttpParser) => unknown;
}
/** A parser node:http has set up for a connection: its request callback is there. */
export type ServerHttpParser = HttpParser & { onIncoming: NonNullable<HttpParser['onIncoming']> };

const callbacksDone: { ok?: boolean } = {};
let bodyKeys: { body: number; complete: number } | undefined;
let nodeBodyCallbacks: ParserBodyCallbacks | undefined;
/** Body callbacks loopwatch put on parsers (of this or an earlier, stopped agent): they may be replaced again. */
const ownBodyCallbacks = new WeakSet<object>();
const sourceOf = (fn: unknown): string => (typeof fn === 'function' ? Function.prototype.toString.call(fn) : '');

/**
 * Whether a server connection's parser can be made to enter each request's frame: `_http_common`'s headers callback
 * hands the request to `parser.onIncoming(incoming, shouldKeepAlive)`, and its body and end-of-message callbacks
 * (the same functions on every pooled parser) read the request off `this.incoming`. Probed on a parser from
 * node:http's pool, handed straight back; node:http's two body callbacks are kept to be called by loopwatch's.
 */
function parserCallbacksAvailable(onError?: InternalsReport): boolean {
  return check(
    'http.parserCallbacks',
    callbacksDone,
    () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const common = require('_http_common') as {
        parsers?: { alloc?(): unknown; free?(p: unknown): unknown };
        HTTPParser?: { kOnHeadersComplete?: unknown; kOnBody?: unknown; kOnMessageComplete?: unknown };
      };
      const keys = common.HTTPParser;
      const pool = common.parsers;
      if (typeof keys?.kOnHeadersComplete !== 'number' || typeof keys.kOnBody !== 'number' || typeof keys.kOnMessageComplete !== 'number') {
        return "_http_common's HTTPParser has no kOnHeadersComplete, kOnBody and kOnMessageComplete";
      }
      if (typeof pool?.alloc !== 'function' || typeof pool.free !== 'function') return '_http_common has no parser pool to look at';
      const parser = pool.alloc() as Record<number | string, unknown> | null;
      try {
        if (parser === null || typeof parser !== 'object' || !('onIncoming' in parser)) return 'an HTTP parser has no `onIncoming`';
        if (!sourceOf(parser[keys.kOnHeadersComplete]).includes('parser.onIncoming(incoming, shouldKeepAlive)')) {
          return "the parser's headers callback does not call parser.onIncoming(incoming, shouldKeepAlive)";
        }
        const onBody = parser[keys.kOnBody] as ParserBodyCallbacks['onBody'];
        const onMessageComplete = parser[keys.kOnMessageComplete] as ParserBodyCallbacks['onMessageComplete'];
        if (typeof onBody !== 'function' || onBody.length !== 1 || !sourceOf(onBody).includes('this.incoming')) return "the parser's body callback does not read this.incoming";
        if (typeof onMessageComplete !== 'function' || onMessageComplete.length !== 0 || !sourceOf(onMessageComplete).includes('parser.incoming')) {
          return "the parser's end-of-message callback does not read parser.incoming";
        }
        bodyKeys = { body: keys.kOnBody, complete: keys.kOnMessageComplete };
        nodeBodyCallbacks = { onBody, onMessageComplete };
        return true;
      } finally {
        pool.free(parser);
      }
    },
    onError,
  );
}

/** node:http's own body callbacks (what loopwatch's call), undefined where `http.parserCallbacks` is off. */
export function nodeParserBodyCallbacks(onError?: InternalsReport): ParserBodyCallbacks | undefined {
  return parserCallbacksAvailable(onError) ? nodeBodyCallbacks : undefined;
}

/** The parser node:http set up for a server-side socket, with its request callback; undefined where there is none (not set up yet, handed on by an upgrade, or the internal off). */
export function socketParser(socket: object): ServerHttpParser | undefined {
  if (!callbacksDone.ok) return undefined;
  const parser = (socket as { parser?: Partial<HttpParser> | null }).parser;
  return parser !== null && typeof parser === 'object' && typeof parser.onIncoming === 'function' ? (parser as ServerHttpParser) : undefined;
}

/**
 * Puts `callbacks` in place of the parser's body callbacks (they stay on the pooled parser, whoever uses it next:
 * they must pass through for any other connection). False where something other than node:http or loopwatch
 * replaced them: theirs are left in place.
 */
export function setParserBodyCallbacks(parser: HttpParser, callbacks: ParserBodyCallbacks): boolean {
  if (bodyKeys === undefined || nodeBodyCallbacks === undefined) return false;
  const p = parser as unknown as Record<number, unknown>;
  const body = p[bodyKeys.body];
  const complete = p[bodyKeys.complete];
  if (body === callbacks.onBody && complete === callbacks.onMessageComplete) return true;
  const replaceable = (fn: unknown, node: unknown): boolean => fn === node || (typeof fn === 'function' && ownBodyCallbacks.has(fn));
  if (!replaceable(body, nodeBodyCallbacks.onBody) || !replaceable(complete, nodeBodyCallbacks.onMessageComplete)) return false;
  ownBodyCallbacks.add(callbacks.onBody);
  ownBodyCallbacks.add(callbacks.onMessageComplete);
  p[bodyKeys.body] = callbacks.onBody;
  p[bodyKeys.complete] = callbacks.onMessageComplete;
  return true;
}

/** The shape of node:http's internal ConnectionsList, as far as it is read. */
export interface ConnectionsList {
  all(): ArrayLike<{ socket?: object | null } | null | undefined>;
}
const CONNECTIONS_DESCRIPTION = 'http.server.connections';
let connectionsKey: symbol | undefined;
let connectionsOff = false;

/**
 * The object's connections list if it is a listening node:http(s) server. The symbol is found on the first server
 * that has it; a listening node:http(s) server without it means this Node keeps no such list.
 */
export function httpServerConnections(handle: object, onError?: InternalsReport): ConnectionsList | undefined {
  if (connectionsOff) return undefined;
  if (connectionsKey === undefined) {
    if (disabled.has('http.serverConnections')) {
      connectionsOff = true;
      markUnavailable('http.serverConnections', `disabled by ${DISABLE_ENV}, tests only`, onError);
      return undefined;
    }
    connectionsKey = Object.getOwnPropertySymbols(handle).find((s) => s.description === CONNECTIONS_DESCRIPTION);
    if (connectionsKey === undefined) {
      // Both http and https servers carry node:http's options (maxHeadersCount); a listening one must have a list.
      if ('maxHeadersCount' in handle && (handle as { listening?: unknown }).listening === true) {
        connectionsOff = true;
        markUnavailable('http.serverConnections', `a listening HTTP server has no Symbol(${CONNECTIONS_DESCRIPTION})`, onError);
      }
      return undefined;
    }
  }
  const list = (handle as Record<symbol, unknown>)[connectionsKey] as Partial<ConnectionsList> | undefined;
  return list && typeof list.all === 'function' ? (list as ConnectionsList) : undefined;
}

const handlesDone: { ok?: boolean } = {};
const getActiveHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
/** Whether `process._getActiveHandles()` is there to list the thread's handles. */
export function activeHandlesAvailable(onError?: InternalsReport): boolean {
  return check('process.getActiveHandles', handlesDone, () => typeof getActiveHandles === 'function' || 'process._getActiveHandles is not a function', onError);
}
/** The thread's active handles, or undefined where this Node has no way to list them. */
export function activeHandles(onError?: InternalsReport): unknown[] | undefined {
  return activeHandlesAvailable(onError) && getActiveHandles ? getActiveHandles.call(process) : undefined;
}

// ---- AsyncLocalStorage ---------------------------------------------------------------------------------------

const alsDone: { ok?: boolean } = {};
/**
 * Whether AsyncLocalStorage runs on async_hooks (a JS hook per async resource once a store is entered) rather than
 * AsyncContextFrame. `_propagate` exists only on the former; where it cannot be relied on, the answer follows Node's
 * defaults: AsyncContextFrame from Node 24 unless `--no-async-context-frame`, before that only with
 * `--experimental-async-context-frame`.
 */
export function alsOnAsyncHooks(onError?: InternalsReport): boolean {
  const propagate = typeof (AsyncLocalStorage.prototype as { _propagate?: unknown })._propagate === 'function';
  // `_propagate` present settles it. Absent, it is AsyncContextFrame — unless the internal was renamed: then
  // Node's defaults disagree, and the inference wins (it errs towards async_hooks, where tracking is off by default).
  const ok = check(
    'als.propagate',
    alsDone,
    () => propagate || !inferAlsOnAsyncHooks() || `AsyncLocalStorage has no _propagate, yet Node ${process.versions.node} with these flags runs it on async_hooks`,
    onError,
  );
  return ok ? propagate : inferAlsOnAsyncHooks();
}

/**
 * Node's default ALS implementation for this version and these flags.
 * @internal used by test/agent/runtime/internals.test.mjs
 */
export function inferAlsOnAsyncHooks(version = process.versions.node, flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]): boolean {
  const major = Number(version.split('.')[0]);
  if (major >= 24) return flags.includes('--no-async-context-frame');
  return !flags.includes('--experimental-async-context-frame');
}

// ---- OpenTelemetry -------------------------------------------------------------------------------------------

/** Where `@opentelemetry/api` 1.x keeps what is registered (every copy of the API shares it). */
const OTEL_GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');
let otelGlobalState: 0 | 1 | 2 = 0; // 0 not seen yet, 1 checked, 2 off
// Asked on every heartbeat (refresh): the forced-off check is read once, not looked up each time.
const otelGlobalForcedOff = disabled.has('otel.apiGlobal');

/**
 * The OTel API's global registry, undefined while nothing registered or where its shape is not the one known. Checked
 * the first time it is there (it appears when an app registers a provider, possibly after loopwatch started).
 */
export function otelGlobalRegistry(onError?: InternalsReport): Record<string, unknown> | undefined {
  if (otelGlobalState === 2) return undefined;
  if (otelGlobalForcedOff) {
    otelGlobalState = 2;
    markUnavailable('otel.apiGlobal', `disabled by ${DISABLE_ENV}, tests only`, onError);
    return undefined;
  }
  // Whatever the global holds until its shape is checked (once: then it is taken as the registry).
  const registry = (globalThis as Record<symbol, unknown>)[OTEL_GLOBAL_KEY] as Record<string, unknown> | null | undefined;
  if (registry === undefined || otelGlobalState === 1) return registry ?? undefined;
  const version = registry?.version;
  if (typeof registry !== 'object' || registry === null || typeof version !== 'string' || !version.startsWith('1.')) {
    otelGlobalState = 2;
    markUnavailable('otel.apiGlobal', `the global at Symbol.for('opentelemetry.js.api.1') is not an API 1.x registry (version ${String(version)})`, onError);
    return undefined;
  }
  otelGlobalState = 1;
  return registry;
}

/** `@opentelemetry/api`'s key of the active span in a Context (`createContextKey` is `Symbol.for`). */
export const OTEL_SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');

/** What is read of an SDK MeterProvider's private state (sdk-metrics 2.x and 3.x). */
export interface OtelSdkSharedState {
  resource?: { attributes?: Record<string, unknown>; asyncAttributesPending?: boolean; waitForAsyncAttributes?(): Promise<void> };
  /** Private SDK objects: any level may be missing. */
  metricCollectors?: ({ _metricReader?: { _exporter?: { constructor?: { name?: string } } | null } | null } | null | undefined)[];
}
let sdkStateOff = false;
/** An SDK MeterProvider's `_sharedState`, or undefined (another provider, or an SDK that moved it: said once). */
export function otelSdkSharedState(provider: object, onError?: InternalsReport): OtelSdkSharedState | undefined {
  if (sdkStateOff) return undefined;
  if (disabled.has('otel.sdkSharedState')) {
    sdkStateOff = true;
    markUnavailable('otel.sdkSharedState', `disabled by ${DISABLE_ENV}, tests only`, onError);
    return undefined;
  }
  const state = (provider as { _sharedState?: unknown })._sharedState;
  if (state !== null && typeof state === 'object') return state;
  // Only an SDK MeterProvider (it has forceFlush and shutdown) is expected to have it; another provider is no loss.
  const p = provider as { forceFlush?: unknown; shutdown?: unknown };
  if (typeof p.forceFlush === 'function' && typeof p.shutdown === 'function') {
    sdkStateOff = true;
    const ctor = (provider as { constructor?: { name?: string } }).constructor;
    markUnavailable('otel.sdkSharedState', `the app's MeterProvider (${ctor?.name ?? 'unnamed'}) has no _sharedState`, onError);
  }
  return undefined;
}

// ---- V8 ------------------------------------------------------------------------------------------------------

const gcDone: { ok?: boolean } = {};
/** Whether the native GC timer may look V8's GC callbacks up by their mangled names: only on a V8 the tests ran on. */
export function nativeGcTimerAllowed(onError?: InternalsReport, v8 = process.versions.v8): boolean {
  return check('v8.gcCallbacks', gcDone, () => v8Tested(v8) || `V8 ${v8} is not one the native GC timer was tested on (${GC_TIMER_TESTED_V8.join(', ')})`, onError);
}

/**
 * Whether V8 `version` (e.g. '13.6.233.17-node.53') is one of GC_TIMER_TESTED_V8 (by major.minor).
 * @internal used by test/agent/runtime/internals.test.mjs
 */
export function v8Tested(version: string): boolean {
  const m = /^(\d+)\.(\d+)\./.exec(version);
  return m !== null && GC_TIMER_TESTED_V8.includes(`${m[1]}.${m[2]}`);
}
