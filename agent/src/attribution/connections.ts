import * as dc from 'node:diagnostics_channel';
import {
  activeHandles,
  activeHandlesAvailable,
  httpServerConnections,
  internalUnavailable,
  socketResponse,
  socketResponseAvailable,
  type ConnectionsList,
} from '../runtime/internals';

/**
 * HTTP requests in flight on the current thread, counted when a stall is sampled instead of on every request.
 *
 * node:http keeps each listening server's connections in a list (`server[Symbol('http.server.connections')]`, used
 * for its header and request timeouts; present on Node 22 and 24, tested), and a connection whose socket holds a
 * response (`socket._httpMessage`, cleared when the response finishes) is a request in flight. The servers are found
 * among the thread's active handles (`process._getActiveHandles()`): the listening ones themselves, and — for a
 * server that is not a ref'd handle of its own (a cluster worker's under round-robin scheduling, an `unref()`'d
 * one, one closed while requests are still in flight) — through its connections' sockets (`socket.server`; under
 * TLS the raw socket). So nothing at all runs per request or per connection:
 * a `close` listener on every response cost ~0.4 µs each, and reading the server off each request made V8 abort
 * its optimisations in a loop when the agent started under load (docs/performance.md run 17). Pipelined requests
 * queued behind an unanswered one count as that one.
 *
 * `process._getActiveHandles()` carries a documentation-only deprecation (DEP0161, no runtime warning); its public
 * successor, `process.getActiveResourcesInfo()`, names resource types but not the objects. Should a Node drop it,
 * the count says so once (a diagnostic) instead of failing.
 */

export type { ConnectionsList } from '../runtime/internals';

/** The object's connections list if it is a listening node:http(s) server (see runtime/internals.ts). */
export function connectionsOf(handle: object): ConnectionsList | undefined {
  return httpServerConnections(handle);
}

/**
 * The thread's node:http(s) servers (runs at start, and during a stall inside the blocked thread): listening ones,
 * and those reached through their connections' sockets. Empty where this Node has no way to list them.
 */
export function findHttpServers(): Set<object> {
  const servers = new Set<object>();
  const handles = activeHandles();
  if (handles === undefined) return servers;
  const consider = (candidate: unknown): void => {
    if (candidate && typeof candidate === 'object' && connectionsOf(candidate)) servers.add(candidate);
  };
  let lastServer: unknown;
  for (const handle of handles) {
    if (!handle || typeof handle !== 'object') continue;
    consider(handle);
    // A server-side socket names its server (thousands of sockets, a few servers: skip repeats cheaply).
    const server = (handle as { server?: unknown }).server;
    if (server !== undefined && server !== lastServer) {
      lastServer = server;
      consider(server);
    }
  }
  return servers;
}

/**
 * Requests in flight on this thread's HTTP servers now (runs during a stall, inside the blocked thread); undefined
 * where this Node has no way to list them (each missing internal says so once, through runtime/internals.ts).
 */
export function countRequestsInFlight(): number | undefined {
  if (!activeHandlesAvailable() || !socketResponseAvailable()) return undefined;
  const servers = findHttpServers();
  if (internalUnavailable('http.serverConnections') !== undefined) return undefined;
  let n = 0;
  for (const server of servers) {
    const all = connectionsOf(server)!.all();
    for (let i = 0; i < all.length; i++) {
      const socket = all[i]?.socket;
      if (socket && socketResponse(socket)) n++;
    }
  }
  return n;
}

/**
 * Requests that arrived while a stall blocked the thread: their bytes waited in the kernel, so no in-flight list
 * held them during the stall. Counted once the stall is over: node:http reads them in the loop turns right after
 * the beat that detected it, and each request it starts reading then is counted (`http.server.request.start`).
 * A server accepts one waiting connection per loop turn and reads it in the next (measured on Node 22, 24 and 26),
 * so counting goes on, turn by turn (to each turn's check phase), while a turn still accepted a connection
 * (`net.server.socket`) or started a request, and stops at the first turn that did neither (at the earliest after
 * two turns, at the latest after MAX_ARRIVAL_TURNS). Nothing runs per request outside those turns.
 */
export interface Arrivals {
  /** Requests counted so far. */
  readonly count: number;
  readonly settled: boolean;
  /** Runs `fn` once counting is over (at once if it is). */
  whenSettled(fn: () => void): void;
  /** Stops counting now (the agent is stopping or the thread exiting). */
  settleNow(): void;
}

const REQUEST_START = 'http.server.request.start';
const SERVER_SOCKET = 'net.server.socket';
/** Loop turns after a stall's end counted at least: the first accepts a connection, the second reads it. */
const MIN_ARRIVAL_TURNS = 2;
/** And at most: on a server that keeps accepting, later requests are not the stall's any more. */
export const MAX_ARRIVAL_TURNS = 16;

/**
 * Starts counting after a stall, on a thread that serves HTTP (node:http servers found); undefined on one that does
 * not (nothing to count: its stall events are not held back).
 */
export function watchArrivalsIfServing(onError: (what: string, err: unknown) => void): Arrivals | undefined {
  return findHttpServers().size > 0 ? watchArrivals(onError) : undefined;
}

export function watchArrivals(onError: (what: string, err: unknown) => void): Arrivals {
  let count = 0;
  /** Connections and requests started in the current turn. */
  let started = 0;
  let settled = false;
  const waiters: Array<() => void> = [];
  const onRequest = (): void => {
    count++;
    started++;
  };
  const onSocket = (): void => {
    started++;
  };
  const settle = (): void => {
    if (settled) return;
    settled = true;
    dc.unsubscribe(REQUEST_START, onRequest);
    dc.unsubscribe(SERVER_SOCKET, onSocket);
    for (const fn of waiters.splice(0)) {
      try {
        fn();
      } catch (err) {
        onError('could not finish a stall after counting the requests it delayed', err);
      }
    }
  };
  dc.subscribe(REQUEST_START, onRequest);
  dc.subscribe(SERVER_SOCKET, onSocket);
  let turn = 0;
  const step = (): void => {
    if (settled) return;
    turn++;
    const quiet = started === 0;
    started = 0;
    if (turn >= MAX_ARRIVAL_TURNS || (turn >= MIN_ARRIVAL_TURNS && quiet)) settle();
    else setImmediate(step).unref();
  };
  setImmediate(step).unref();
  return {
    get count() {
      return count;
    },
    get settled() {
      return settled;
    },
    whenSettled(fn) {
      if (settled) fn();
      else waiters.push(fn);
    },
    settleNow: settle,
  };
}
