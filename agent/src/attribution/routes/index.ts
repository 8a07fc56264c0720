/**
 * Route adapters, tried in order on the raw request; the first template wins. A read that throws is counted and the next adapter is
 * tried: nothing is printed (a framework's odd object is not the app's problem) and nothing reaches the app.
 */
import * as dc from 'node:diagnostics_channel';
import { express } from './express';
import { FASTIFY_FILE, FASTIFY_HANDLER_START, FASTIFY_INITIALIZATION, fastify, hookFastify, onFastifyHandler } from './fastify';
import { H3_HANDLER_START, h3, onH3Call } from './h3';
import { hapi, hapiLinker } from './hapi';
import { koa, koaLinker } from './koa';
import { restify } from './restify';
import { tinyhttp } from './tinyhttp';
import type { ModuleLinker, RawRequest, RouteAdapter } from './types';

export type { RawRequest, RouteAdapter } from './types';
export { isIdSegment, normalisePath } from './fold';

/** Most specific first: fastify's, Koa's, hapi's and h3's links are exact; Express, restify and tinyhttp tell their `req.route` apart by shape. */
export const ADAPTERS: readonly RouteAdapter[] = [fastify, koa, hapi, h3, express, restify, tinyhttp];

let failures = 0;
let sink: { add(v: number): void } | undefined;
/** Route reads that threw on this thread since it started (each fell back to the next method). */
export function routeReadFailures(): number {
  return failures;
}
/** Where failures are counted as a self-metric (`loopwatch.attribution.route.failures`, wired by the agent). */
export function countRouteFailuresWith(counter: { add(v: number): void } | undefined): void {
  sink = counter;
}
/** Counts a failure without printing it (an `onError` for callers inside a stall sample). */
export function countRouteFailure(): void {
  failures++;
  sink?.add(1);
}

/** The template the request's framework routed it with, or undefined. Never throws. */
export function frameworkRoute(req: RawRequest): string | undefined {
  for (let i = 0; i < ADAPTERS.length; i++) {
    try {
      const t = ADAPTERS[i]!.template(req);
      if (t !== undefined) return t;
    } catch {
      // Counted, not printed (the next adapter, or the folded path, names the route).
      countRouteFailure();
    }
  }
  return undefined;
}

const REQUIRE_END = 'tracing:module.require:end';
let linkers: ModuleLinker[] | undefined;
let linking = false;
let nextScanMs = 0;
/**
 * Where the running agent's linking errors go. The linkers, and the wrappers they leave in Koa and hapi, report
 * through `reportLinkError`, never through the agent's own callback: a wrapper stays for the life of the process and
 * must not keep a stopped agent reachable.
 */
let linkError: ((what: string, err: unknown) => void) | undefined;
const reportLinkError = (what: string, err: unknown): void => linkError?.(what, err);
const onRequireEnd = (msg: unknown): void => {
  const m = msg as { id?: unknown; parentFilename?: unknown; result?: unknown };
  if (typeof m.id !== 'string' || !linkers) return;
  for (let i = 0; i < linkers.length; i++) {
    try {
      linkers[i]!.onRequire(m.id, typeof m.parentFilename === 'string' ? m.parentFilename : undefined, m.result);
    } catch {
      // Counted, not printed: a module that looked like a framework's and was not.
      countRouteFailure();
    }
  }
};

const onFastifyInstance = (msg: unknown): void => {
  try {
    hookFastify(msg);
  } catch (err) {
    // An instance whose hook could not be added: its routes are folded. Said through the running agent.
    reportLinkError('hooking a fastify instance\'s routes', err);
  }
};
const onFastifyStart = (msg: unknown): void => {
  try {
    onFastifyHandler(msg);
  } catch {
    // Counted, not printed: a message on fastify's channel that was not shaped as fastify's.
    countRouteFailure();
  }
};
const onH3Start = (msg: unknown): void => {
  try {
    onH3Call(msg);
  } catch {
    // Counted, not printed: a message on h3's channel that was not shaped as h3's.
    countRouteFailure();
  }
};

/**
 * Links the frameworks that keep no route on the raw request (Koa, hapi): those already in the CommonJS module
 * cache now, the others as they are required (`module.require` diagnostics channel: one call per `require`); and
 * listens on h3's tracing channel (published only by apps that enable h3's tracing plugin); hooks each fastify
 * instance created from now on, and listens on fastify's tracing channel only if fastify is loaded already (fastify.ts).
 * Idempotent per thread until stopRouteLinking(); the wrappers stay for the life of the process (one property store
 * per request).
 */
export function startRouteLinking(onError: (what: string, err: unknown) => void): void {
  if (linking) return;
  linking = true;
  linkError = onError;
  linkers ??= [koaLinker(reportLinkError), hapiLinker(reportLinkError)];
  nextScanMs = 0;
  // Before the scan: an instance created from here on is hooked, so only one made before needs the tracing channel.
  dc.subscribe(FASTIFY_INITIALIZATION, onFastifyInstance);
  if (loaded(FASTIFY_FILE, onError)) dc.subscribe(FASTIFY_HANDLER_START, onFastifyStart);
  linkLoaded(onError);
  dc.subscribe(REQUIRE_END, onRequireEnd);
  dc.subscribe(H3_HANDLER_START, onH3Start);
}

/** Whether a module whose path ends in `suffix` is in the CommonJS module cache. */
function loaded(suffix: string, onError: (what: string, err: unknown) => void): boolean {
  try {
    for (const [file] of loadedModules()) if (file.endsWith(suffix)) return true;
    return false;
  } catch (err) {
    // Unknown: subscribe, so an instance made before the agent still has its routes (at fastify's cost).
    onError('looking whether fastify is loaded', err);
    return true;
  }
}

/** The agent stopped: modules required from now on are not linked, and nothing here refers to the agent any more. */
export function stopRouteLinking(): void {
  if (!linking) return;
  linking = false;
  linkError = undefined;
  dc.unsubscribe(FASTIFY_INITIALIZATION, onFastifyInstance);
  dc.unsubscribe(FASTIFY_HANDLER_START, onFastifyStart);
  dc.unsubscribe(REQUIRE_END, onRequireEnd);
  dc.unsubscribe(H3_HANDLER_START, onH3Start);
}

/**
 * Looks for linkable modules already loaded — at start, and again (at most every 10 s) when a stall finds no
 * template (linking started late, or a module loaded in a way that published no `require` event).
 */
export function linkLoaded(onError: (what: string, err: unknown) => void, nowMs = 0): void {
  if (!linking || !linkers || nowMs < nextScanMs) return;
  nextScanMs = nowMs + 10_000;
  try {
    for (const [file, exports] of loadedModules()) {
      for (const l of linkers) if (l.files.some((f) => file.endsWith(f))) l.onLoaded(exports);
    }
  } catch (err) {
    onError('looking for loaded web frameworks', err);
  }
}

/** The CommonJS module cache's entries: each file's path with `/` separators, and its exports. */
function* loadedModules(): Generator<[string, unknown]> {
  const cache = require.cache;
  for (const file of Object.keys(cache)) yield [file.replace(/\\/g, '/'), cache[file]?.exports];
}
