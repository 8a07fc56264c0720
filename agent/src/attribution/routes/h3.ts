/**
 * h3 2: the matched route's template, `event.context.matchedRoute.route` (h3 sets it from its router's match before
 * any middleware or handler runs; a mounted app's routes carry their mount base). h3 keeps no link from node's
 * request to its event, and it is ESM only (nothing to wrap when it loads), but its own tracing plugin —
 * `new H3({ plugins: [tracingPlugin()] })`, from `h3/tracing` — publishes every middleware and handler call on the
 * `h3.request` tracing channel with the event: the subscriber stores the template on node's request (srvx's
 * `event.req.runtime.node.req`), one symbol-keyed store per request. Without the plugin h3 publishes nothing and
 * the path is folded. h3 1 (Nitro 2) has no such channel: folded too.
 */
import type { RawRequest, RouteAdapter } from './types';

/** Shared by every copy of the agent in the process (one subscriber's store serves them all). */
const kH3Route = Symbol.for('loopwatch.h3.route');
export const H3_HANDLER_START = 'tracing:h3.request:start';

interface H3TracingMessage {
  event?: { context?: { matchedRoute?: { route?: unknown } }; req?: { runtime?: { node?: { req?: unknown } } } };
}

/**
 * The `tracing:h3.request:start` subscriber, on the request path: plain field reads of h3's and srvx's public
 * objects, no allocation. Throws only on a malformed message (the caller counts it).
 */
export function onH3Call(msg: unknown): void {
  const event = (msg as H3TracingMessage | null)?.event;
  const route = event?.context?.matchedRoute?.route;
  if (typeof route !== 'string') return;
  const req = event?.req?.runtime?.node?.req as Record<symbol, unknown> | undefined;
  // Middleware and the handler each publish: stored once.
  if (req && typeof req === 'object' && req[kH3Route] !== route) req[kH3Route] = route;
}

export const h3: RouteAdapter = {
  name: 'h3',
  template(req: RawRequest): string | undefined {
    const t = (req as Record<symbol, unknown>)[kH3Route];
    return typeof t === 'string' ? t : undefined;
  },
};
