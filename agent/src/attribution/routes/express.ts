/**
 * Express 4 and 5: `req.route.path` (the matched route's own pattern: a string, RegExp or array of them), after the
 * pattern(s) the request's routers were mounted with. A RegExp is named by its literal (`/^\/files\/[a-z]+$/`), an
 * array by its paths, each under the mount, joined by `|`. `req.baseUrl` is the matched mount *path* (`/users/acme`),
 * user data included, so the mount pattern is rebuilt from the app's router stack:
 *  - Express 5 (`router` 2) keeps each layer's pattern (`layer.rawPath`) and its matchers;
 *  - Express 4 keeps the layer's compiled `regexp` and parameter `keys` only: the matched text is rebuilt with each
 *    parameter's capture replaced by `:name`.
 * Only data properties are read, except Express 5's `app.router` getter, which just returns the router it created
 * (Express 4's, with the same name, throws by design: never called — Express 4 apps keep theirs in `_router`).
 */
import { normalisePath } from './fold';
import { dataProp, dataString, pathText } from './read';
import type { RawRequest, RouteAdapter } from './types';

/** Layers looked at per request at most (the read runs inside the blocked code: keep it short). */
const MAX_LAYERS = 500;
const MAX_DEPTH = 8;

interface Layer5 {
  handle?: { stack?: unknown };
  rawPath?: unknown;
  matchers?: unknown;
  slash?: unknown;
}
interface Layer4 {
  handle?: { stack?: unknown };
  regexp?: RegExp & { fast_slash?: boolean; fast_star?: boolean };
  keys?: { name?: unknown }[];
}

/** The router stack of an Express app, without calling a getter that throws. */
function stackOf(app: unknown): unknown {
  const legacy = dataProp(app, '_router');
  if (legacy) return dataProp(legacy, 'stack');
  if (typeof dataProp(app, 'lazyrouter') === 'function') return undefined; // Express 4 before its first route
  const d = app && (typeof app === 'object' || typeof app === 'function') ? Object.getOwnPropertyDescriptor(app, 'router') : undefined;
  if (!d) return undefined;
  const router = 'value' in d ? d.value : typeof d.get === 'function' ? d.get.call(app) : undefined;
  return dataProp(router, 'stack');
}

/** Express 4's layer regexps, recompiled once with match indices (`d`): where each parameter was captured. */
const withIndices = new WeakMap<RegExp, RegExp>();
function indexed(re: RegExp): RegExp {
  let r = withIndices.get(re);
  if (!r) {
    r = new RegExp(re.source, re.flags.replace(/[gy]/g, '') + 'd');
    withIndices.set(re, r);
  }
  return r;
}

/**
 * Express 4 compiles a mount path given as a string (or an array of strings) with `end: false`, which always ends the
 * expression with this lookahead; a mount given as a RegExp is the app's own expression, kept by the layer as it is.
 */
const COMPILED_MOUNT_END = '(?=\\/|$)';

/** Express 4: the pattern text a layer matched at the start of `rest`, and how much of `rest` it consumed. */
function match4(layer: Layer4, rest: string): { tpl: string; used: number } | undefined {
  const re = layer.regexp;
  if (!(re instanceof RegExp)) return undefined;
  if (re.fast_slash) return { tpl: '', used: 0 };
  const m = indexed(re).exec(rest) as (RegExpExecArray & { indices?: [number, number][] }) | null;
  if (!m || m.index !== 0 || !m.indices) return undefined;
  let text = m[0];
  // Express strips the trailing slash of the matched part from `baseUrl`.
  if (text.endsWith('/')) text = text.slice(0, -1);
  // The app's RegExp: its literal is the template (the matched text is whatever the request had there).
  if (!re.source.endsWith(COMPILED_MOUNT_END)) return { tpl: String(re), used: text.length };
  let tpl = '';
  let at = 0;
  const keys = Array.isArray(layer.keys) ? layer.keys : [];
  for (let i = 1; i < m.indices.length; i++) {
    const span = m.indices[i];
    if (!span || span[0] < at || span[1] > text.length) continue;
    const name = keys[i - 1]?.name;
    tpl += text.slice(at, span[0]) + ':' + (typeof name === 'string' || typeof name === 'number' ? String(name) : String(i - 1));
    at = span[1];
  }
  return { tpl: tpl + text.slice(at), used: text.length };
}

/** Express 5: the layer's own pattern, when one of its matchers matches the start of `rest`. */
function match5(layer: Layer5, rest: string): { tpl: string; used: number } | undefined {
  const matchers = layer.matchers;
  if (!Array.isArray(matchers)) return undefined;
  if (layer.slash === true) return { tpl: '', used: 0 };
  const raws = Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath];
  for (let i = 0; i < matchers.length; i++) {
    const fn = matchers[i];
    const pattern = raws[i];
    if (typeof fn !== 'function' || (typeof pattern !== 'string' && !(pattern instanceof RegExp))) continue;
    const m = (fn as (p: string) => unknown)(rest);
    const matched = m && typeof (m as { path?: unknown }).path === 'string' ? (m as { path: string }).path : undefined;
    // A RegExp mount is named by its literal, never by the text it matched.
    if (matched !== undefined && rest.startsWith(matched)) return { tpl: typeof pattern === 'string' ? pattern : String(pattern), used: matched.length };
  }
  return undefined;
}

/**
 * The pattern(s) `base` (a `req.baseUrl`) was matched with, from the router stack: `/users/:userId` for a router
 * mounted there. Undefined when no layer path explains it (a sub-app, a router mounted elsewhere).
 */
export function mountTemplate(stack: unknown, base: string): string | undefined {
  let budget = MAX_LAYERS;
  const walk = (layers: unknown, rest: string, depth: number): string | undefined => {
    if (!Array.isArray(layers) || depth > MAX_DEPTH) return undefined;
    for (const layer of layers as (Layer4 & Layer5)[]) {
      if (--budget < 0) return undefined;
      const sub = layer?.handle?.stack;
      if (!Array.isArray(sub)) continue;
      const hit = Array.isArray(layer.matchers) ? match5(layer, rest) : match4(layer, rest);
      if (!hit) continue;
      const remaining = rest.slice(hit.used);
      if (remaining === '') return hit.tpl;
      // A router mounted at '/' matches without consuming anything: look inside it for the rest.
      const inner = walk(sub, remaining, depth + 1);
      if (inner !== undefined) return hit.tpl + inner;
    }
    return undefined;
  };
  return walk(stack, base, 0);
}

/** A route's own path under its mount. A router's '/' under a mount is the mount itself (json-server's `/items`). */
function under(prefix: string, own: string): string {
  return (own === '/' && prefix !== '' ? prefix : prefix + own) || '/';
}

export const express: RouteAdapter = {
  name: 'express',
  template(req: RawRequest): string | undefined {
    const route = dataProp(req, 'route');
    // Express's Route: its own pattern and the methods it answers (restify's and tinyhttp's `req.route` differ).
    if (!route || typeof route !== 'object' || !dataProp(route, 'methods')) return undefined;
    const path = dataProp(route, 'path');
    const own = pathText(path);
    if (own === undefined) return undefined;
    const base = dataString(req, 'baseUrl');
    if (!base) return own || '/';
    const mount = mountTemplate(stackOf(dataProp(req, 'app')), base);
    // A mount path no layer explains (a sub-app): folded like a raw path, never as it came.
    const prefix = mount ?? normalisePath(base);
    // An array path is one template: each of its paths under the mount, joined as pathText joins them.
    if (!Array.isArray(path)) return under(prefix, own);
    let all = '';
    // pathText(path) read every element (at most 16): each is a path here.
    for (let i = 0; i < path.length && i < 16; i++) all += (i ? '|' : '') + under(prefix, pathText(path[i]) ?? '');
    return all;
  },
};
