/** restify (≥ 7): its router decorates the request with the matched route, `req.route.path` its template. */
import { dataProp, pathText } from './read';
import type { RawRequest, RouteAdapter } from './types';

export const restify: RouteAdapter = {
  name: 'restify',
  template(req: RawRequest): string | undefined {
    const route = dataProp(req, 'route');
    // restify's route record: `{ name, method, path, spec, chain }` (Express's Route and tinyhttp's differ).
    if (!route || typeof route !== 'object' || !dataProp(route, 'spec') || !dataProp(route, 'chain')) return undefined;
    return pathText(dataProp(route, 'path'));
  },
};
