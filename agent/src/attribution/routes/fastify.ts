/**
 * fastify (5): the matched route's template, `routeOptions.url` (its plugins' prefixes included). fastify keeps no
 * link from node's request to its own, so the template is stored on node's request when the handler is called —
 * one symbol-keyed store per request — in one of two ways, decided when linking starts:
 *
 * - **fastify not loaded yet** (the agent started first: `--import loopwatch/register`): fastify publishes every
 *   instance it creates on `fastify.initialization`; the agent adds an `onRoute` hook (public API, run once per route
 *   at registration) that wraps the route's handler with the store. Nothing else runs per request.
 * - **fastify already loaded** (an instance may exist that no hook saw): also a subscriber on
 *   `tracing:fastify.request.handler:start`, which carries the same url. With a subscriber, fastify builds a store
 *   object per request and runs its handler through the channel: ≈ 0.3 µs per request (docs/performance.md run 26).
 *
 * The wrappers stay for the life of the process (fastify has no way to take a route back) and refer to nothing but
 * the route's url and handler.
 */
import type { RawRequest, RouteAdapter } from './types';

/** Shared by every copy of the agent in the process, so one wrapper, one hook per instance, serve them all. */
const kRoute = Symbol.for('loopwatch.fastify.route');
const kHooked = Symbol.for('loopwatch.fastify.hooked');
const kWrapped = Symbol.for('loopwatch.fastify.wrapped');

export const FASTIFY_INITIALIZATION = 'fastify.initialization';
export const FASTIFY_HANDLER_START = 'tracing:fastify.request.handler:start';
/** fastify's main file, in the CommonJS module cache once fastify is loaded (ESM imports of it land there too). */
export const FASTIFY_FILE = '/fastify/fastify.js';

type Handler = (this: unknown, request: unknown, reply: unknown) => unknown;
interface RouteOptions {
  url?: unknown;
  handler?: unknown;
}
interface FastifyLike {
  addHook?: (name: string, hook: (routeOptions: RouteOptions) => void) => unknown;
}

function store(request: unknown, url: string): void {
  const raw = (request as { raw?: unknown } | null | undefined)?.raw;
  if (raw !== null && typeof raw === 'object' && (raw as Record<symbol, unknown>)[kRoute] !== url) (raw as Record<symbol, unknown>)[kRoute] = url;
}

/** The `onRoute` hook: called by fastify once per route (and once for its automatic HEAD route), before it is used. */
function wrapRoute(routeOptions: RouteOptions): void {
  const handler = routeOptions.handler;
  const url = routeOptions.url;
  if (typeof handler !== 'function' || typeof url !== 'string' || (handler as unknown as Record<symbol, unknown>)[kWrapped]) return;
  // fastify calls a handler with (request, reply) and `this` bound to its instance; the result (a promise, a value
  // or undefined with reply.send()) goes back unchanged.
  const wrapped = function loopwatchRoute(this: unknown, request: unknown, reply: unknown): unknown {
    store(request, url);
    return (handler as Handler).call(this, request, reply);
  };
  (wrapped as unknown as Record<symbol, unknown>)[kWrapped] = true;
  routeOptions.handler = wrapped;
}

/**
 * A fastify instance was created: hook its route registration (once per instance, whichever copy of the agent sees
 * it first). Throws only on an object that is not fastify's (the caller counts it).
 */
export function hookFastify(msg: unknown): void {
  const app = (msg as { fastify?: FastifyLike } | null)?.fastify as (FastifyLike & Record<symbol, unknown>) | undefined;
  if (!app || typeof app.addHook !== 'function' || app[kHooked]) return;
  app[kHooked] = true;
  app.addHook('onRoute', wrapRoute);
}

/** The tracing-channel subscriber, on the request path: field reads of fastify's message and one store. */
export function onFastifyHandler(msg: unknown): void {
  const m = msg as { request?: unknown; route?: { url?: unknown } } | null;
  const url = m?.route?.url;
  if (typeof url === 'string') store(m?.request, url);
}

export const fastify: RouteAdapter = {
  name: 'fastify',
  template(req: RawRequest): string | undefined {
    const t = (req as Record<symbol, unknown>)[kRoute];
    return typeof t === 'string' ? t : undefined;
  },
};
