/**
 * tinyhttp (2, 3): the matched middleware record is on `req.route` only when the app enables it
 * (`new App({ settings: { enableReqRoute: true } })`, tinyhttp's own setting); without it tinyhttp keeps no trace of
 * the matched route on the request, and the fallback folds the path. Its `path` is relative to the (sub-)app's
 * mount, which `req.baseUrl` holds as the matched path: folded, never raw.
 */
import { normalisePath } from './fold';
import { dataProp, dataString, pathText } from './read';
import type { RawRequest, RouteAdapter } from './types';

export const tinyhttp: RouteAdapter = {
  name: 'tinyhttp',
  template(req: RawRequest): string | undefined {
    const route = dataProp(req, 'route');
    // tinyhttp's middleware record: `{ path, handler, type: 'route' | 'mw', method }`.
    if (!route || typeof route !== 'object' || dataProp(route, 'type') !== 'route' || typeof dataProp(route, 'handler') !== 'function') return undefined;
    const own = pathText(dataProp(route, 'path'));
    if (own === undefined) return undefined;
    const base = dataString(req, 'baseUrl');
    return (base ? normalisePath(base) : '') + own || '/';
  },
};
