/**
 * HTTP requests in flight on the current thread, counted when a stall is sampled instead of on every request.
 *
 * node:http keeps each listening server's connections in a list (`server[Symbol('http.server.connections')]`, used
 * for its header and request timeouts; present on Node 22 and 24, tested), and a connection whose socket holds a
 * response (`socket._httpMessage`, cleared when the response finishes) is a request in flight. The servers are the
 * thread's active handles (`process._getActiveHandles()`), so nothing at all runs per request or per connection:
 * a `close` listener on every response cost ~0.4 µs each, and reading the server off each request made V8 abort
 * its optimisations in a loop when the agent started under load (docs/performance.md run 17). Pipelined requests
 * queued behind an unanswered one count as that one.
 */

/** The shape of node:http's internal ConnectionsList, as far as it is read. */
interface ConnectionsList {
  all(): ArrayLike<{ socket?: { _httpMessage?: unknown } | null } | null | undefined>;
}

const CONNECTIONS_DESCRIPTION = 'http.server.connections';
let connectionsKey: symbol | undefined;

/** The object's connections list if it is a listening node:http(s) server. */
function connectionsOf(handle: object): ConnectionsList | undefined {
  if (connectionsKey === undefined) {
    connectionsKey = Object.getOwnPropertySymbols(handle).find((s) => s.description === CONNECTIONS_DESCRIPTION);
    if (connectionsKey === undefined) return undefined;
  }
  const list = (handle as Record<symbol, unknown>)[connectionsKey] as Partial<ConnectionsList> | undefined;
  return list && typeof list.all === 'function' ? (list as ConnectionsList) : undefined;
}

type ActiveHandles = () => unknown[];

/**
 * Requests in flight on this thread's listening HTTP servers now (runs during a stall, inside the blocked thread);
 * undefined where this Node has no way to list the servers.
 */
export function countRequestsInFlight(): number | undefined {
  const activeHandles = (process as unknown as { _getActiveHandles?: ActiveHandles })._getActiveHandles;
  if (typeof activeHandles !== 'function') return undefined;
  let n = 0;
  for (const handle of activeHandles.call(process)) {
    if (!handle || typeof handle !== 'object') continue;
    const all = connectionsOf(handle)?.all();
    if (!all) continue;
    for (let i = 0; i < all.length; i++) if (all[i]?.socket?._httpMessage) n++;
  }
  return n;
}
