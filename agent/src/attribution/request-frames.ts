/**
 * requestScope 'request': one AsyncLocalStorage frame per request, entered inside node:http's own parser callbacks,
 * so that everything a request's code schedules — timers, immediates, nextTicks, promise continuations, I/O, and
 * work left running after its response while the connection serves its next request — keeps that request's frame.
 *
 * - The request's handler: node:http's connection listener gives each connection's parser an `onIncoming` (its
 *   `parserOnIncoming`, bound to the connection), called by the parser for every request with the request object,
 *   before anything of the request runs. A listener placed *after* node:http's own on each server's connection event
 *   (`'secureConnection'` for HTTPS) replaces it, once per connection, by a function that enters the request's
 *   frame and calls it. The parser's callback scope ends the frame when the callback returns, so each request —
 *   also the second of two pipelined in one read — starts from the parser's frame.
 * - The request's body events: the parser emits `'data'` and `'end'` from its body and end-of-message callbacks,
 *   which run in the frame the parser was set up in, not the handler's. Once the body is being read (the request's
 *   `readableFlowing` is no longer null), those callbacks enter the frame of the request whose body it is
 *   (`parser.incoming`) first — so code after `req.on('end')` (a body parser calling the route handler) is in the
 *   request's frame too. They are set on the parser (node:http pools parsers, with the same two callbacks on each),
 *   and pass through for any connection not framed here, a client's response, or after stop().
 *
 * Nothing per request goes through `diagnostics_channel`: node:http builds no `http.server.request.start` message
 * while nothing subscribes (that message was ~240 ns of the ~370 ns a frame per request cost, docs/performance.md
 * runs 23 and 24). No frame per connection either: a frame is a copy of the current one, and copying a frame that
 * already holds an entry cost several times entering one from the parser's empty frame (run 24).
 *
 * Connections not framed this way (accepted before loopwatch saw their server, or of a server whose own connection
 * listener sets up node:http's later or elsewhere) get the per-request check (the channel subscriber,
 * per-request-check.ts), which enters the frame of such a request and frames its connection for the next ones; a
 * look once a second frames the connections a walk of the thread's servers finds.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as dc from 'node:diagnostics_channel';
import { connectionsOf, findHttpServers } from './connections';
import { LISTEN_CHANNEL, WALK_MS, periodicNeed, type RequestContextTiming, type ServerEmitter } from './per-request-check';
import type { RequestContext } from './request-context';
import { nodeParserBodyCallbacks, setParserBodyCallbacks, socketParser, type HttpParser, type OnIncoming, type ParserBodyCallbacks } from '../runtime/internals';

/**
 * What a framed parser's callbacks read: the frame store and framed sockets of one createRequestFrames instance.
 * Only this crosses into node:http's objects (never the instance's closures, which hold the agent's error reporter):
 * node:http pools parsers and keeps connections alive past stop(), and they must not keep a stopped agent reachable.
 */
interface Frames {
  readonly als: AsyncLocalStorage<object>;
  readonly framed: WeakSet<object>;
  running: boolean;
}
/** The running instance's (undefined once it stopped): the one body-callback pair every framed parser gets reads it. */
let current: Frames | undefined;
let bodyPair: ParserBodyCallbacks | undefined;

function enterBodyOf(parser: HttpParser): void {
  const f = current;
  if (f === undefined) return;
  const request = parser.incoming;
  // readableFlowing is null until someone reads the body; a GET's end of message costs these two loads.
  if (request !== null && request.readableFlowing != null && f.framed.has(parser.socket as object)) f.als.enterWith(request);
}

/** One pair for the thread, whichever instance set it on a parser: a pooled parser holds nothing of a stopped one. */
function bodyCallbacks(node: ParserBodyCallbacks): ParserBodyCallbacks {
  return (bodyPair ??= {
    onBody(chunk) {
      enterBodyOf(this);
      return node.onBody.call(this, chunk);
    },
    onMessageComplete() {
      enterBodyOf(this);
      return node.onMessageComplete.call(this);
    },
  });
}

/** A connection's onIncoming, entering each request's frame (a closure per connection over `frames` alone). */
function framedOnIncoming(frames: Frames, original: OnIncoming): OnIncoming {
  return function enterRequestFrame(this: unknown, request: object, keepAlive: unknown): unknown {
    if (frames.running) frames.als.enterWith(request);
    return original.call(this, request, keepAlive);
  };
}

/** Scope 'request' through node:http's parser, or undefined where the parser cannot be reached (`http.parserCallbacks`). */
export function createRequestFrames<R extends object>(onError: (what: string, err: unknown) => void, timing: RequestContextTiming): RequestContext<R> | undefined {
  const node = nodeParserBodyCallbacks(onError);
  if (node === undefined) return undefined;
  const walkMs = timing.walkMs ?? WALK_MS;
  const als = new AsyncLocalStorage<object>();
  // Sockets whose parser enters each request's frame.
  const framed = new WeakSet<object>();
  const frames: Frames = { als, framed, running: true };
  current = frames;
  const body = bodyCallbacks(node);
  const watched = new WeakSet<object>();
  const watchedRefs: [WeakRef<ServerEmitter>, string][] = [];
  // A connection or a request without a frame since the last look: the per-request check runs for the next period.
  let unframed = false;
  let nextWalkMs = 0;
  // Connections accepted before loopwatch watched their server may remain (until a walk finds none).
  let walking = true;

  /** Makes the socket's parser enter each request's frame; false where node:http has not set one up. */
  function frame(socket: object): boolean {
    if (framed.has(socket)) return true;
    const parser = socketParser(socket);
    if (parser === undefined) return false;
    // A closure per connection (not per request): it holds node:http's bound callback only as long as the parser
    // does, which drops it when the connection ends.
    parser.onIncoming = framedOnIncoming(frames, parser.onIncoming);
    // False: another tool replaced node:http's body callbacks; body events then run in the parser's frame.
    setParserBodyCallbacks(parser, body);
    framed.add(socket);
    return true;
  }
  function afterConnection(socket: object): void {
    if (frames.running && !frame(socket)) unframed = true;
  }
  function watch(server: unknown): void {
    const s = server as Partial<ServerEmitter> | null | undefined;
    if (!s || typeof s !== 'object' || watched.has(s) || typeof s.on !== 'function') return;
    // node:http(s) servers only (they keep node:http's options; a net.Server or an HTTP/2 server has no HTTP/1 parser).
    if (!('maxHeadersCount' in s)) return;
    watched.add(s);
    // After node:http's listener, or after an app's own that sets up node:http's: either way the parser is there.
    // An HTTPS server sets up its connections on 'secureConnection' (the TLS socket; 'connection' has the raw one).
    const event = typeof s.listeners === 'function' && s.listeners('secureConnection').length > 0 ? 'secureConnection' : 'connection';
    try {
      s.on(event, afterConnection);
      watchedRefs.push([new WeakRef(s as ServerEmitter), event]);
    } catch (err) {
      onError('watching an HTTP server for connections', err);
    }
    if (watchedRefs.length > 64) {
      const live = watchedRefs.filter(([r]) => r.deref() !== undefined);
      watchedRefs.splice(0, watchedRefs.length, ...live);
    }
  }
  // Frames the connections of the thread's servers that have none; true if it found any (the next walk looks again).
  function walk(): boolean {
    const servers = findHttpServers();
    let found = false;
    for (const server of servers) {
      watch(server);
      const all = connectionsOf(server)?.all();
      if (!all) continue;
      for (let i = 0; i < all.length; i++) {
        const socket = all[i]?.socket as { destroyed?: boolean } | null | undefined;
        if (socket && !socket.destroyed && !framed.has(socket)) {
          found = true;
          frame(socket);
        }
      }
    }
    return found;
  }
  function look(now: number): boolean {
    const need = unframed;
    unframed = false;
    if (walking && now >= nextWalkMs) {
      nextWalkMs = now + walkMs;
      walking = walk();
    }
    return need;
  }
  const onListen = (msg: unknown): void => watch((msg as { server?: unknown } | null)?.server);
  dc.subscribe(LISTEN_CHANNEL, onListen);
  const { needsPerRequest } = periodicNeed(look, onError, timing);
  // The first look walks now (servers already listening, connections already open); the first probe comes later.
  needsPerRequest();

  return {
    scope: 'request',
    mechanism: 'parser',
    enter(request) {
      // A framed connection's request: its parser entered the frame before node:http published it.
      if (als.getStore() === request) return;
      als.enterWith(request);
      unframed = true;
      // Its connection's next requests are framed by the parser, and its server's next connections (if loopwatch
      // has not seen it: it never listened, it is handed its sockets). Only on this path, never on a framed one.
      const socket = (request as { socket?: { server?: unknown } | null }).socket;
      if (socket && typeof socket === 'object') {
        watch(socket.server);
        frame(socket);
      }
    },
    needsPerRequest,
    current: () => als.getStore() as R | undefined,
    stop() {
      frames.running = false;
      if (current === frames) current = undefined;
      dc.unsubscribe(LISTEN_CHANNEL, onListen);
      for (const [ref, event] of watchedRefs.splice(0)) ref.deref()?.removeListener(event, afterConnection);
      als.disable();
    },
  };
}
