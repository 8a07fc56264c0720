/**
 * Koa (2, 3) with @koa/router or koa-router: the router's matched layer path, `ctx._matchedRoute` (the field both
 * routers set, and Koa's own OpenTelemetry instrumentation reads; `ctx.routerPath` is its older alias). Koa keeps
 * no link from node's request to its context, so the linker wraps `Application.prototype.createContext` once,
 * when Koa is loaded: the raw request then points at its context (one symbol-keyed store per request).
 */
import { dataProp, pathText } from './read';
import type { ModuleLinker, RawRequest, RouteAdapter } from './types';

/** Shared by every copy of the agent in the process, so one wrapper serves them all. */
const kContext = Symbol.for('loopwatch.koa.context');
const kWrapped = Symbol.for('loopwatch.koa.wrapped');
const KOA_APPLICATION = /[\\/]koa[\\/]lib[\\/]application\.js$/;

type CreateContext = (this: unknown, req: unknown, res: unknown) => unknown;

export function linkKoa(Application: unknown, onError: (what: string, err: unknown) => void): boolean {
  const proto = typeof Application === 'function' ? (Application.prototype as Record<PropertyKey, unknown>) : undefined;
  const original = proto?.createContext;
  if (!proto || typeof original !== 'function' || typeof proto.callback !== 'function') return false;
  if ((original as unknown as Record<symbol, unknown>)[kWrapped]) return true;
  const wrapped = function createContext(this: unknown, req: unknown, res: unknown): unknown {
    const ctx = (original as CreateContext).call(this, req, res);
    try {
      if (req && typeof req === 'object') (req as Record<symbol, unknown>)[kContext] = ctx;
    } catch (err) {
      onError('linking a Koa request to its context', err);
    }
    return ctx;
  };
  (wrapped as unknown as Record<symbol, unknown>)[kWrapped] = true;
  proto.createContext = wrapped;
  return true;
}

export function koaLinker(onError: (what: string, err: unknown) => void): ModuleLinker {
  return {
    name: 'koa',
    files: ['/koa/lib/application.js'],
    onRequire(id, _parent, exports) {
      // `koa` from CommonJS; the file's absolute path when ESM imports Koa (its `dist/koa.mjs` imports it).
      if (id === 'koa' || KOA_APPLICATION.test(id)) linkKoa(exports, onError);
    },
    onLoaded: (exports) => linkKoa(exports, onError),
  };
}

export const koa: RouteAdapter = {
  name: 'koa',
  template(req: RawRequest): string | undefined {
    const ctx = (req as Record<symbol, unknown>)[kContext];
    if (!ctx) return undefined;
    return pathText(dataProp(ctx, '_matchedRoute')) ?? pathText(dataProp(ctx, 'routerPath'));
  },
};
