/**
 * Which HTTP request the running code serves: the context a stall's sampler reads inside the blocked code to name
 * its route.
 *
 * Scope 'connection' (default): one AsyncLocalStorage frame per *connection*, holding the connection's socket,
 * entered in a listener placed before node:http's own connection listener. node:http initialises the connection's
 * parser there, and the parser runs every request of the connection in the frame it was initialised in, so a
 * handler and everything it awaits run in that frame; at stall time (only then) the socket names its request: the
 * latest one its parser read, else the one its response is for. Nothing runs per request beyond one identity check,
 * where a frame per request cost ~1 % CPU per request of a small handler at saturation (docs/performance.md run 20).
 * The price, documented: work a request leaves running after its response, on a keep-alive connection that has
 * started its next request, is named with that next request; scope 'request' enters a frame per request and is
 * exact.
 *
 * The frame is checked, not assumed, while a connection may lack one: a request whose code does not run in its own
 * connection's frame (a connection accepted before loopwatch saw its server, a server whose connections node:http
 * does not set up, a Node whose parser keeps no frame) gets a frame of its own, as under 'request'. That check is a
 * `diagnostics_channel` subscriber per request, which alone cost ~0.5 % CPU per request at saturation (run 20), so
 * it runs only while needed: `needsPerRequest()`, asked on every heartbeat, looks at most once a second whether
 * any connection of the thread's servers was accepted without a frame or a request arrived without one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import * as http from 'node:http';
import { Socket } from 'node:net';
import { connectionsOf, findHttpServers } from './connections';

export type RequestScope = 'connection' | 'request';

/** Published by net.Server#listen() (Node 22 and 24): the server, before it accepts anything. */
const LISTEN_CHANNEL = 'tracing:net.server.listen:asyncStart';
/** node:http's per-connection listener (on 'connection'; on 'secureConnection' for HTTPS), exported by node:http. */
const HTTP_CONNECTION_LISTENER = (http as unknown as { _connectionListener?: unknown })._connectionListener;

/** What is read off a connection's socket at stall time. */
interface HttpSocket {
  parser?: { incoming?: object | null } | null;
  _httpMessage?: { req?: object | null } | null;
}
interface Emitter {
  listeners(event: string): Function[];
  prependListener(event: string, fn: Function): unknown;
  on(event: string, fn: Function): unknown;
  removeListener(event: string, fn: Function): unknown;
}

export interface RequestContext<R extends object> {
  readonly scope: RequestScope;
  /** Per request (`http.server.request.start`): makes `request` the context of its code, unless its connection's frame does. */
  enter(request: R): void;
  /**
   * Whether `enter` must run for every request now: some connection of the thread's HTTP servers has no frame of
   * its own, a server's connections cannot be framed, or a request arrived without one since the last look.
   * Re-evaluated at most once a second (it walks the thread's handles and connections).
   */
  needsPerRequest(): boolean;
  /** The request the running code serves, or `null` for code in a connection's context whose request is gone; `undefined` outside any. Reads only (safe inside a V8 interrupt). */
  current(): R | null | undefined;
  stop(): void;
}

export function createRequestContext<R extends object>(scope: RequestScope, onError: (what: string, err: unknown) => void): RequestContext<R> {
  const als = new AsyncLocalStorage<object | undefined>();
  if (scope === 'request' || typeof HTTP_CONNECTION_LISTENER !== 'function') {
    return {
      scope: 'request',
      enter: (request) => als.enterWith(request),
      current: () => als.getStore() as R | undefined,
      needsPerRequest: () => true,
      stop: () => als.disable(),
    };
  }

  let running = true;
  const watched = new WeakSet<object>();
  // Sockets whose connection was set up inside their own frame.
  const framed = new WeakSet<object>();
  // Servers whose connections node:http does not set up through its own listener: never framed.
  const unhooked = new WeakSet<object>();
  let unframedRequest = false;
  let needed = true;
  let nextLookMs = 0;
  const watchedRefs: WeakRef<Emitter>[] = [];
  // The context current when a 'connection' event began, restored after node:http's listener: code that emitted
  // 'connection' itself (a proxy handing over a socket) goes on in its own context.
  const outer = new WeakMap<object, object | undefined>();

  function onConnection(socket: object): void {
    if (!running) return;
    outer.set(socket, als.getStore());
    framed.add(socket);
    als.enterWith(socket);
  }
  function afterConnection(socket: object): void {
    if (!running || als.getStore() !== socket || !outer.has(socket)) return;
    const previous = outer.get(socket);
    outer.delete(socket);
    als.enterWith(previous);
  }
  function watch(server: unknown): void {
    const s = server as Partial<Emitter> | null | undefined;
    if (!s || typeof s !== 'object' || watched.has(s)) return;
    if (typeof s.listeners !== 'function' || typeof s.prependListener !== 'function' || typeof s.on !== 'function') return;
    watched.add(s);
    let hooked = false;
    try {
      // HTTPS servers run node:http's listener on 'secureConnection' (the TLS socket), plain ones on 'connection'.
      for (const event of ['connection', 'secureConnection']) {
        if (!s.listeners(event).includes(HTTP_CONNECTION_LISTENER as Function)) continue;
        s.prependListener(event, onConnection);
        s.on(event, afterConnection);
        watchedRefs.push(new WeakRef(s as Emitter));
        hooked = true;
      }
    } catch (err) {
      onError('watching an HTTP server for connections', err);
    }
    if (!hooked) unhooked.add(s);
  }
  // Walks the thread's handles and its servers' connections: runs at most once a second.
  function look(): boolean {
    // Only node:http(s) servers (they keep node:http's connections list): one seen listening may be any net.Server.
    const servers = findHttpServers();
    // Every server is watched first, so that its next connections are framed whatever is found below.
    for (const server of servers) watch(server);
    if (unframedRequest) return true;
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
  // Servers are watched when they start listening, before their first connection, and those already listening now.
  const onListen = (msg: unknown): void => watch((msg as { server?: unknown } | null)?.server);
  dc.subscribe(LISTEN_CHANNEL, onListen);
  const needsPerRequest = (): boolean => {
    const now = performance.now();
    if (now < nextLookMs) return needed;
    nextLookMs = now + 1000;
    try {
      needed = look();
    } catch (err) {
      needed = true;
      onError('looking for HTTP connections without a request context', err);
    }
    unframedRequest = false;
    return needed;
  };
  needsPerRequest();

  return {
    scope: 'connection',
    enter(request) {
      // One load and one comparison: the request's code already runs in its connection's frame.
      const store = als.getStore();
      if (store !== undefined && store === (request as { socket?: unknown }).socket) return;
      als.enterWith(request);
      unframedRequest = true;
    },
    needsPerRequest,
    current() {
      const store = als.getStore();
      if (!(store instanceof Socket)) return store as R | undefined;
      const socket = store as HttpSocket;
      // The latest request the connection's parser read (the one a handler's synchronous code serves), else the one
      // its response is for; null once the connection's parser is gone (closed) and no response is pending.
      return (socket.parser?.incoming ?? socket._httpMessage?.req ?? null) as R | null;
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
