/**
 * HTTP request bookkeeping for attribution, on one thread: how many requests are in flight, and which request the
 * running code serves (the request context the stall sampler reads inside the blocked code).
 *
 * Counting costs a counter and a few property writes per request: node:http publishes `http.server.request.start`
 * and `http.server.response.finish`, and one 'close' listener per connection ends what never finished (a client
 * that went away). A `close` listener per response cost 0.09 µs (bench/attribution/pieces.mjs).
 *
 * The request context is one AsyncLocalStorage frame per *connection*, entered in a 'connection' listener placed
 * before node:http's own: node:http initialises the connection's parser there, and the parser runs every request
 * of the connection in the frame it was initialised in, so the handler and everything it awaits see the
 * connection's record, whose `req` is the connection's latest request. A frame per request cost 0.21 µs, ~1 % of a
 * small handler's CPU. The price: code that a request leaves running after its response, on a keep-alive
 * connection that has already started its next request, is attributed to that next request; `scope: 'request'`
 * (option `requestContext: 'request'`) enters a frame per request and is exact.
 *
 * The frame is checked, not assumed: a request that does not run in its connection's frame (a connection accepted
 * before loopwatch saw its server, or a runtime whose parser keeps no frame) enters a frame of its own, as with
 * `'request'`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { otelRegistered } from '../otel-global';

/**
 * AsyncLocalStorage built on async_hooks (Node 22 without --experimental-async-context-frame; Node 24 with
 * --no-async-context-frame): once a store is entered, every async resource the app creates — every promise
 * included — runs a JS init hook. The AsyncContextFrame implementation has no `_propagate`.
 */
export const ALS_ON_ASYNC_HOOKS =
  typeof (AsyncLocalStorage.prototype as { _propagate?: unknown })._propagate === 'function';

/** Published by net.Server#listen() (Node 22 and 24): the server, before it accepts anything. */
const LISTEN_CHANNEL = 'tracing:net.server.listen:asyncStart';

/** One HTTP connection, as attribution sees it. */
class Connection {
  /** The latest request started on this connection: the request of code that runs in the connection's frame. */
  req: IncomingMessage | undefined = undefined;
  /** Requests started here whose response has not finished. */
  pending = 0;
  /** The requests behind `pending`, kept only when `onStart` asks (span events). */
  open: IncomingMessage[] | undefined = undefined;
  /** Owned by a socket (from the socket's first request on). */
  adopted = false;
  /** The request context current when the 'connection' event began (restored after node:http's listener). */
  outer: Connection | IncomingMessage | undefined = undefined;
  entering = false;
}

export interface RequestTrackingOptions {
  /**
   * Whether to track the request context: 'auto' where AsyncLocalStorage is cheap or already paid for (checked
   * again on each request, until an OpenTelemetry context manager makes it paid for); true always; 'request'
   * always, one frame per request; false never. Requests are counted in every mode.
   */
  mode: 'auto' | boolean | 'request';
  /** AsyncLocalStorage's async_hooks are running anyway (deep mode). */
  paidFor?: boolean;
  /** Called for every request; return true to have `onEnd` called when it ends (span events). */
  onStart?: (request: IncomingMessage, server: unknown) => boolean;
  onEnd?: (request: IncomingMessage) => void;
  /** Called once, at the first request 'auto' leaves untracked. */
  onUntracked?: () => void;
  onError: (what: string, err: unknown) => void;
}

export interface RequestTracker {
  /** HTTP requests in flight on this thread. */
  readonly inflight: number;
  /** Whether the request context is tracked now (under 'auto' it can start later). */
  readonly tracking: boolean;
  /** The request the running code serves, if tracked. Reads only: safe inside a V8 interrupt. */
  current(): IncomingMessage | undefined;
  stop(): void;
}

interface Emitter {
  prependListener(event: 'connection', fn: Function): unknown;
  on(event: 'connection', fn: Function): unknown;
  removeListener(event: 'connection', fn: Function): unknown;
}

export function trackRequests(options: RequestTrackingOptions): RequestTracker {
  const als = new AsyncLocalStorage<Connection | IncomingMessage | undefined>();
  // Per instance: a stopped tracker's socket listeners stay on keep-alive sockets, and a restarted one must neither
  // find its connections nor be found by them. A WeakMap, not a property: a property added to node:http's sockets
  // gives them a second hidden class, and node's own socket code slowed down measurably (+6 % CPU per request).
  const connections = new WeakMap<object, Connection>();
  type Socket = { once(event: 'close', fn: (this: Socket) => void): unknown };

  const { mode, onStart, onEnd, onError } = options;
  const perRequest = mode === 'request';
  let tracking = mode === true || perRequest || (mode === 'auto' && (!ALS_ON_ASYNC_HOOKS || options.paidFor === true || otelRegistered('context')));
  let mayTrackLater = !tracking && mode === 'auto';
  let untrackedUnreported = true;
  let running = true;
  let inflight = 0;
  const watched = new WeakSet<object>();

  // Runs first on each new connection of a watched server, so that node:http initialises the parser in this frame.
  function onConnection(this: Emitter): void {
    if (!running) return unwatch(this);
    const conn = new Connection();
    conn.outer = als.getStore();
    conn.entering = true;
    als.enterWith(conn);
  }
  // Runs after node:http's listener: code that emitted 'connection' itself (a proxy handing over a socket) goes on
  // in its own context.
  function afterConnection(this: Emitter): void {
    if (!running) return unwatch(this);
    const conn = als.getStore();
    if (conn instanceof Connection && conn.entering) {
      conn.entering = false;
      als.enterWith(conn.outer);
      conn.outer = undefined;
    }
  }
  function unwatch(server: Emitter): void {
    server.removeListener('connection', onConnection);
    server.removeListener('connection', afterConnection);
  }
  function watch(server: unknown): void {
    const s = server as Partial<Emitter> | null | undefined;
    if (!s || typeof s !== 'object' || watched.has(s) || typeof s.prependListener !== 'function' || typeof s.on !== 'function') return;
    watched.add(s);
    s.prependListener('connection', onConnection);
    s.on('connection', afterConnection);
  }

  function adopt(socket: Socket): Connection {
    const store = tracking && !perRequest ? als.getStore() : undefined;
    // The record onConnection made for this connection (for TLS, on the raw socket under this one).
    const conn = store instanceof Connection && !store.adopted ? store : new Connection();
    conn.adopted = true;
    connections.set(socket, conn);
    socket.once('close', onSocketClose);
    return conn;
  }
  function enter(conn: Connection, request: IncomingMessage, server: unknown): void {
    if (perRequest) als.enterWith(request);
    else if (als.getStore() !== conn) {
      // Not in the connection's frame: accepted before this server was watched (a server already listening when
      // loopwatch started, or one given its request listener after listen()). A frame for this request alone.
      als.enterWith(request);
      watch(server);
    }
  }
  // Servers are watched when they start listening, before their first connection (a load balancer's keep-alive
  // connections often arrive before the first request, and stay).
  const onListen = (msg: unknown): void => {
    const server = (msg as { server?: { listenerCount?(event: string): number } } | null)?.server;
    if (tracking && !perRequest && typeof server?.listenerCount === 'function' && server.listenerCount('request') > 0) watch(server);
  };

  const onRequestStart = (msg: unknown): void => {
    const { request, socket, server } = msg as { request: IncomingMessage; socket?: Socket | null; server?: unknown };
    // node:http always publishes the socket; without one nothing would ever end the request.
    if (!socket || typeof socket !== 'object' || typeof socket.once !== 'function') return;
    const conn = connections.get(socket) ?? adopt(socket);
    conn.pending++;
    conn.req = request;
    inflight++;
    if (tracking) enter(conn, request, server);
    else if (mayTrackLater) {
      if (otelRegistered('context')) {
        tracking = true;
        mayTrackLater = false;
        enter(conn, request, server);
      } else if (untrackedUnreported) {
        untrackedUnreported = false;
        try {
          options.onUntracked?.();
        } catch (err) {
          onError('reporting untracked requests', err);
        }
      }
    }
    if (onStart !== undefined && onStart(request, server)) (conn.open ??= []).push(request);
  };
  // Published before the response's own 'finish' listeners (the http instrumentation's among them) run.
  const onResponseFinish = (msg: unknown): void => {
    const { request, socket } = msg as { request: IncomingMessage; socket?: Socket | null };
    const conn = socket ? connections.get(socket) : undefined;
    if (conn === undefined || conn.pending === 0) return;
    conn.pending--;
    if (inflight > 0) inflight--;
    const open = conn.open;
    if (open !== undefined) {
      const i = open.indexOf(request);
      if (i >= 0) {
        open.splice(i, 1);
        ended(request);
      }
    }
  };
  // Ends what the connection never finished: a client that went away, and on Node 22 a pipelined request queued
  // behind an unanswered one (its response never emits 'close').
  function onSocketClose(this: Socket): void {
    const conn = connections.get(this);
    if (conn === undefined) return;
    inflight = Math.max(0, inflight - conn.pending);
    conn.pending = 0;
    const open = conn.open;
    conn.open = undefined;
    if (open !== undefined) for (const r of open) ended(r);
  }
  // Runs inside node:http's emits: must not throw into the app.
  function ended(request: IncomingMessage): void {
    try {
      onEnd?.(request);
    } catch (err) {
      onError('ending a request', err);
    }
  }

  dc.subscribe('http.server.request.start', onRequestStart);
  dc.subscribe('http.server.response.finish', onResponseFinish);
  dc.subscribe(LISTEN_CHANNEL, onListen);

  return {
    get inflight() {
      return inflight;
    },
    get tracking() {
      return tracking;
    },
    current() {
      const s = als.getStore();
      return s instanceof Connection ? s.req : s;
    },
    stop() {
      running = false;
      dc.unsubscribe('http.server.request.start', onRequestStart);
      dc.unsubscribe('http.server.response.finish', onResponseFinish);
      dc.unsubscribe(LISTEN_CHANNEL, onListen);
      inflight = 0;
      als.disable();
    },
  };
}
