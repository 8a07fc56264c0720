/**
 * Which HTTP request the running code serves: the context a stall's sampler reads inside the blocked code to name
 * its route. Two scopes; this file holds scope 'connection' and picks the implementation.
 *
 * Scope 'request' (request-frames.ts): one AsyncLocalStorage frame per request, entered inside node:http's own
 * parser callbacks (the connection's `parser.onIncoming`, and the body callbacks while the body is read): timers,
 * immediates, nextTicks, promise continuations, I/O and body events of a request keep its frame after its response
 * too, while the connection serves its next request — exact (test/agent/attribution/keepalive-routes.test.mjs).
 * Where node:http's parser cannot be reached (`http.parserCallbacks`), the frame is entered from the
 * `http.server.request.start` channel instead, for every request (docs/performance.md runs 23 and 24).
 *
 * Scope 'connection' (default): one AsyncLocalStorage frame per *connection*, holding the connection's socket,
 * entered in a listener placed before node:http's own connection listener. node:http initialises the connection's
 * parser there, and the parser runs every request of the connection in the frame it was initialised in, so a
 * handler and everything it awaits run in that frame; at stall time (only then) the socket names its request: the
 * latest one its parser read, else the one its response is for. Nothing runs per request beyond one identity check
 * and one count (below).
 * The price: a frame shared by a connection's requests cannot tell request N's deferred work from request N+1's
 * code. No holder in the connection's frame, mutated per request, can fix that: a frame's store is shared by
 * reference by everything scheduled in it, so both see the same holder; only a new frame per request tells them
 * apart. So the connection scope never guesses: it counts the requests each connection's parser hands to node:http
 * (a wrapper of the parser's `onIncoming`, one increment per request), and past a connection's first request it
 * names a request only for code its parser called (the handler's synchronous part, body events read as they
 * arrive); other code there — after an `await`, in a timer — is `'keep-alive'`: in a request, which one unknown
 * (docs/attribution.md). On the first request of a connection every such read is exact.
 *
 * Under 'connection' the frame is checked, not assumed, while a connection may lack one: a request whose code does not run in its own
 * connection's frame (a connection accepted before loopwatch saw its server, a server whose connections node:http
 * does not set up, a Node whose parser keeps no frame) gets a frame of its own, as under 'request'. That check is a
 * `diagnostics_channel` subscriber per request, which alone cost ~0.5 % CPU per request at saturation (run 20), so
 * it runs only while needed: `needsPerRequest()`, asked on every heartbeat, looks at most once a second whether
 * any connection of the thread's servers was accepted without a frame or a request arrived without one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import { Socket } from 'node:net';
import { connectionsOf, findHttpServers } from './connections';
import { LISTEN_CHANNEL, WALK_MS, periodicNeed, type RequestContextTiming, type ServerEmitter } from './per-request-check';
import { createRequestFrames } from './request-frames';
import type { StallEvent } from '../types';
import { httpConnectionListener, nodeParserBodyCallbacks, parserIncomingAvailable, socketParser, socketResponse, socketResponseAvailable, type OnIncoming } from '../runtime/internals';

export type { RequestContextTiming } from './per-request-check';

export type RequestScope = 'connection' | 'request';

/**
 * Why code that runs in a request's connection has no route: requests pipelined on it (which one the code serves
 * is unknown), a keep-alive connection past its first request whose parser did not call the running code (it may be
 * work an earlier request left running), or no request of the connection in flight (work a finished request left).
 */
export type UnknownRequest = NonNullable<StallEvent['unknownRequest']>;

/** What is read off a connection's socket at stall time. */
interface HttpSocket {
  destroyed?: boolean;
  parser?: { incoming?: object | null } | null;
}
export interface RequestContext<R extends object> {
  readonly scope: RequestScope;
  /**
   * How frames are entered: one per connection ('connection'), one per request inside node:http's parser callbacks
   * ('parser'), or one per request from the `http.server.request.start` channel ('channel': the fallback of both
   * scopes where an internal they need is unavailable).
   */
  readonly mechanism: 'connection' | 'parser' | 'channel';
  /** Per request (`http.server.request.start`): makes `request` the context of its code, unless its connection's frame or its parser did. */
  enter(request: R): void;
  /**
   * Whether `enter` must run for every request now: some connection of the thread's HTTP servers has no frame of
   * its own, a server's connections cannot be framed, or a request arrived without one since the last look.
   * Re-evaluated at most once a second (it walks the thread's handles and connections).
   */
  needsPerRequest(): boolean;
  /**
   * The request the running code serves; why it cannot be named (code in a request's connection whose request is
   * unknown: `UnknownRequest`); `undefined` outside any. `calledByParser`: the running code was called by node:http's
   * parser (its callbacks are on the stack), so it serves the request the parser is on — under 'connection' the only
   * way past a connection's first request to tell a request's code from work an earlier one left. Reads only (safe
   * inside a V8 interrupt).
   */
  current(calledByParser?: boolean): R | UnknownRequest | undefined;
  stop(): void;
}

export function createRequestContext<R extends object>(
  scope: RequestScope,
  onError: (what: string, err: unknown) => void,
  timing: RequestContextTiming = {},
): RequestContext<R> {
  if (scope === 'request') return createRequestFrames<R>(onError, timing) ?? perRequestFromChannel<R>();
  // node:http's per-connection listener (on 'connection'; on 'secureConnection' for HTTPS), and the two fields the
  // socket names its request by: without any of them, scope 'connection' falls back to a frame per request.
  const listener = parserIncomingAvailable(onError) && socketResponseAvailable(onError) ? httpConnectionListener(onError) : undefined;
  if (listener === undefined) return perRequestFromChannel<R>();
  return connectionFrames<R>(listener, onError, timing);
}

/** The fallback of both scopes: a frame per request, entered by the `http.server.request.start` subscriber. */
function perRequestFromChannel<R extends object>(): RequestContext<R> {
  const als = new AsyncLocalStorage<object>();
  return {
    scope: 'request',
    mechanism: 'channel',
    enter: (request) => als.enterWith(request),
    current: () => als.getStore() as R | undefined,
    needsPerRequest: () => true,
    stop: () => als.disable(),
  };
}

/**
 * A connection's onIncoming, counting its requests. Per connection, not per request; the parser drops it (and
 * node:http's bound callback) when the connection ends. Made out here so that it holds the count alone: a keep-alive
 * connection lives on past stop(), and must not keep the stopped context (and the agent's error reporter) reachable.
 */
function countingOnIncoming(count: { requests: number }, original: OnIncoming): OnIncoming {
  return function countRequest(this: unknown, request: object, keepAlive: unknown): unknown {
    count.requests++;
    return original.call(this, request, keepAlive);
  };
}

function connectionFrames<R extends object>(listener: Function, onError: (what: string, err: unknown) => void, timing: RequestContextTiming): RequestContext<R> {
  const walkMs = timing.walkMs ?? WALK_MS;
  const als = new AsyncLocalStorage<object | undefined>();

  const HTTP_CONNECTION_LISTENER: Function = listener;
  let running = true;
  const watched = new WeakSet<object>();
  // Sockets whose connection was set up inside their own frame.
  const framed = new WeakSet<object>();
  // Servers whose connections node:http does not set up through its own listener: never framed.
  const unhooked = new WeakSet<object>();
  let unframedRequest = false;
  // An HTTP server that cannot be watched was seen: its requests need the per-request check for good.
  let anyUnhooked = false;
  let nextWalkMs = 0;
  // Connections accepted before loopwatch watched their server may remain (until a walk finds none).
  let walking = true;
  const watchedRefs: WeakRef<ServerEmitter>[] = [];
  // The context current when a 'connection' event began, restored after node:http's listener: code that emitted
  // 'connection' itself (a proxy handing over a socket) goes on in its own context.
  const outer = new WeakMap<object, object | undefined>();
  // Requests each framed connection's parser has handed to node:http. Without the parser internal
  // (`http.parserCallbacks`) nothing is counted, and every request counts as past the first (never a guess).
  const served = new WeakMap<object, { requests: number }>();
  const counting = nodeParserBodyCallbacks(onError) !== undefined;

  function countRequests(socket: object): void {
    const parser = socketParser(socket);
    if (parser === undefined) return;
    const count = { requests: 0 };
    parser.onIncoming = countingOnIncoming(count, parser.onIncoming);
    served.set(socket, count);
  }

  function onConnection(socket: object): void {
    if (!running) return;
    outer.set(socket, als.getStore());
    framed.add(socket);
    als.enterWith(socket);
  }
  function afterConnection(socket: object): void {
    if (!running || als.getStore() !== socket || !outer.has(socket)) return;
    if (counting) countRequests(socket);
    const previous = outer.get(socket);
    outer.delete(socket);
    als.enterWith(previous);
  }
  function watch(server: unknown): void {
    const s = server as Partial<ServerEmitter> | null | undefined;
    if (!s || typeof s !== 'object' || watched.has(s)) return;
    if (typeof s.listeners !== 'function' || typeof s.prependListener !== 'function' || typeof s.on !== 'function') return;
    watched.add(s);
    let hooked = false;
    try {
      // HTTPS servers run node:http's listener on 'secureConnection' (the TLS socket), plain ones on 'connection'.
      for (const event of ['connection', 'secureConnection']) {
        if (!s.listeners(event).includes(HTTP_CONNECTION_LISTENER)) continue;
        s.prependListener(event, onConnection);
        s.on(event, afterConnection);
        watchedRefs.push(new WeakRef(s as ServerEmitter));
        hooked = true;
      }
    } catch (err) {
      onError('watching an HTTP server for connections', err);
    }
    // Only an HTTP/1 server (node:http stores its options on http and https servers alike; a net.Server or an
    // HTTP/2 server publishes no request of its own for the check to see) makes the check necessary.
    if (!hooked && 'maxHeadersCount' in s) {
      unhooked.add(s);
      anyUnhooked = true;
      // Its requests need the per-request check from now on, not from the next look.
      need.markNeeded();
    }
    if (watchedRefs.length > 64) {
      const live = watchedRefs.filter((r) => r.deref() !== undefined);
      watchedRefs.splice(0, watchedRefs.length, ...live);
    }
  }
  // Walks the thread's handles and its servers' connections (every WALK_MS at most, and only until no connection
  // accepted before loopwatch watched its server is left: new connections of watched servers all have a frame).
  function walk(): boolean {
    // Only node:http(s) servers (they keep node:http's connections list): one seen listening may be any net.Server.
    const servers = findHttpServers();
    // Every server is watched first, so that its next connections are framed whatever is found below.
    for (const server of servers) watch(server);
    for (const server of servers) {
      if (unhooked.has(server)) return true;
      const all = connectionsOf(server)?.all();
      if (!all) continue;
      for (let i = 0; i < all.length; i++) {
        // node:http's list can still hold a connection that has closed (until its parser is freed).
        const socket = all[i]?.socket as { destroyed?: boolean } | null | undefined;
        if (socket && !socket.destroyed && !framed.has(socket)) return true;
      }
    }
    return false;
  }
  function look(now: number): boolean {
    const need = unframedRequest || anyUnhooked;
    unframedRequest = false;
    if (walking && now >= nextWalkMs) {
      nextWalkMs = now + walkMs;
      walking = walk();
    }
    return need || walking;
  }
  // Servers are watched when they start listening, before their first connection, and those already listening now.
  const onListen = (msg: unknown): void => watch((msg as { server?: unknown } | null)?.server);
  dc.subscribe(LISTEN_CHANNEL, onListen);
  const need = periodicNeed(look, onError, timing);
  const { needsPerRequest } = need;
  // The first look walks now; the first probe comes one period later.
  needsPerRequest();

  return {
    scope: 'connection',
    mechanism: 'connection',
    enter(request) {
      // One load and one comparison: the request's code already runs in its connection's frame.
      const store = als.getStore();
      if (store !== undefined && store === (request as { socket?: unknown }).socket) return;
      als.enterWith(request);
      unframedRequest = true;
      // Its server, if loopwatch has not seen it (it never listened: it is handed its sockets): frame its next
      // connections. Only on this path, never on a framed request's.
      const socket = (request as { socket?: { server?: unknown } | null }).socket;
      if (socket && typeof socket === 'object') watch(socket.server);
    },
    needsPerRequest,
    current(calledByParser = false) {
      const store = als.getStore();
      if (!(store instanceof Socket)) return store as R | undefined;
      const socket = store as HttpSocket;
      // The request the connection's parser read last (the one a handler's synchronous code serves) and the one its
      // response is for: the same request unless requests are pipelined, when which one the code serves is unknown.
      const parser = socket.parser;
      const incoming = parser?.incoming ?? null;
      const responding = socketResponse(socket)?.req ?? null;
      // Code the parser called serves the request the parser is on, pipelined or not.
      if (calledByParser && incoming !== null) return incoming as R;
      if (incoming !== null && responding !== null && incoming !== responding) return 'pipelined';
      const request = incoming ?? responding;
      if (request !== null) {
        if (calledByParser) return request as R;
        // Past the connection's first request, code its parser did not call may be an earlier request's.
        return (served.get(socket)?.requests ?? 2) > 1 ? 'keep-alive' : (request as R);
      }
      // Neither: work a finished request left running (in a request, which one unknown), unless the parser was
      // handed the socket on (an HTTP upgrade: WebSocket code runs on it, and serves no request).
      return !parser && !socket.destroyed ? undefined : 'finished';
    },
    stop() {
      running = false;
      dc.unsubscribe(LISTEN_CHANNEL, onListen);
      for (const ref of watchedRefs.splice(0)) {
        const s = ref.deref();
        if (!s) continue;
        for (const event of ['connection', 'secureConnection']) {
          s.removeListener(event, onConnection);
          s.removeListener(event, afterConnection);
        }
      }
      als.disable();
    },
  };
}
