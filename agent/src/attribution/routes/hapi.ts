/**
 * hapi (20, 21): `request.route.path`, kept in hapi's own notation (`/teams/{team}/members`, `{p*}`): it is what
 * the app's code declares and what hapi's OpenTelemetry instrumentation reports as `http.route`. hapi keeps no link
 * from node's request to its own, so the linker wraps `Request.generate` (hapi's `lib/request.js`) once, when hapi
 * loads it: the raw request then points at hapi's request (one symbol-keyed store per request). Before routing,
 * hapi's request carries its internal not-found route (method `_special`): no template yet.
 */
import { dataProp, dataString } from './read';
import type { ModuleLinker, RawRequest, RouteAdapter } from './types';

const kRequest = Symbol.for('loopwatch.hapi.request');
const kWrapped = Symbol.for('loopwatch.hapi.wrapped');
const HAPI_LIB = /[\\/]@hapi[\\/]hapi[\\/]lib[\\/][^\\/]+\.js$/;

type Generate = (this: unknown, server: unknown, req: unknown, res: unknown, options: unknown) => unknown;

export function linkHapi(Request: unknown, onError: (what: string, err: unknown) => void): boolean {
  const cls = typeof Request === 'function' ? (Request as unknown as Record<PropertyKey, unknown>) : undefined;
  const original = cls?.generate;
  if (!cls || typeof original !== 'function') return false;
  if ((original as unknown as Record<symbol, unknown>)[kWrapped]) return true;
  const wrapped = function generate(this: unknown, server: unknown, req: unknown, res: unknown, options: unknown): unknown {
    const request = (original as Generate).call(this, server, req, res, options);
    try {
      if (req && typeof req === 'object') (req as Record<symbol, unknown>)[kRequest] = request;
    } catch (err) {
      onError('linking a hapi request to its own', err);
    }
    return request;
  };
  (wrapped as unknown as Record<symbol, unknown>)[kWrapped] = true;
  cls.generate = wrapped;
  return true;
}

export function hapiLinker(onError: (what: string, err: unknown) => void): ModuleLinker {
  return {
    name: 'hapi',
    files: ['/@hapi/hapi/lib/request.js'],
    onRequire(id, parent, exports) {
      if (id === './request' && parent !== undefined && HAPI_LIB.test(parent)) linkHapi(exports, onError);
    },
    onLoaded: (exports) => linkHapi(exports, onError),
  };
}

export const hapi: RouteAdapter = {
  name: 'hapi',
  template(req: RawRequest): string | undefined {
    const request = (req as Record<symbol, unknown>)[kRequest];
    if (!request) return undefined;
    const route = dataProp(request, 'route');
    if (!route || dataProp(route, 'method') === '_special') return undefined;
    return dataString(route, 'path');
  },
};
