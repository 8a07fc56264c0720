/** HTTP route templates and path normalisation (never a raw URL: no ids, no query strings). Pure. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{10,}$/i;
/** Shorter hex with a digit in it (`ab12cd34`): a hash prefix or a short id, not a word. */
const SHORT_HEX = /^(?=.*[0-9])[0-9a-f]{8,}$/i;
const NUMERIC = /^[0-9][0-9_.,:-]*$/;
const TOKEN = /^[A-Za-z0-9_~.+=-]{16,}$/;
const MAX_SEGMENTS = 12;
const MAX_SEGMENT_LENGTH = 64;

/** Is a path segment an identifier (number, UUID, hash, opaque token, e-mail)? */
export function isIdSegment(seg: string): boolean {
  if (NUMERIC.test(seg) || UUID.test(seg) || HEX.test(seg) || SHORT_HEX.test(seg)) return true;
  if (seg.includes('@')) return true;
  // Opaque tokens: long, and mixing digits with letters.
  if (TOKEN.test(seg) && /[0-9]/.test(seg) && /[A-Za-z]/.test(seg)) return true;
  return seg.length > MAX_SEGMENT_LENGTH;
}

/** The path of a request target: no query string, fragment or matrix parameters (`;jsessionid=…`), no scheme or host. */
function pathOf(url: string): string {
  let p = url;
  const cut = p.search(/[?#;]/);
  if (cut >= 0) p = p.slice(0, cut);
  // Absolute-form request targets (proxies): keep the path only.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(p);
  if (scheme) p = p.slice(scheme[0].length) || '/';
  return p;
}

/** `/users/42/orders?x=1` → `/users/:id/orders`. */
export function normalisePath(url: string | undefined): string {
  if (!url) return '/';
  const segs = pathOf(url).split('/');
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    if (out.length > MAX_SEGMENTS) {
      out.push('…');
      break;
    }
    let seg = segs[i]!;
    let last = false;
    if (seg.includes('%')) {
      try {
        seg = decodeURIComponent(seg);
      } catch {
        // Malformed escape: judged as written.
      }
      // An encoded `?`, `#` or `;` (`/users/42%3Ftoken=x`) ends the path as the raw one would.
      const end = seg.search(/[?#;]/);
      if (end >= 0) {
        seg = seg.slice(0, end);
        last = true;
      }
    }
    out.push(seg && isIdSegment(seg) ? ':id' : seg);
    if (last) break;
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : '/' + joined;
}

/**
 * A route pattern from the config (`routePatterns`), compiled once: `/users/:name` — a `:param` segment matches any
 * one segment, so identifiers no heuristic can tell from words (`/users/alice`) are named by the pattern instead —,
 * and `/static/*` — a final `*` matches whatever follows, nothing included.
 */
export interface RoutePattern {
  template: string;
  /** Segments after the leading `/`; `null` matches any one segment. */
  segments: (string | null)[];
  rest: boolean;
}

export function compileRoutePatterns(patterns: readonly string[]): RoutePattern[] {
  return patterns.map((pattern) => {
    const template = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
    const segs = template === '/' ? [] : template.split('/').slice(1);
    const rest = segs[segs.length - 1] === '*';
    if (rest) segs.pop();
    // Fixed segments compare decoded, as the path's are: `/caf%C3%A9` and `/café` are one pattern.
    return { template, segments: segs.map((s) => (s.startsWith(':') ? null : safeDecode(s))), rest };
  });
}

/**
 * The first pattern the request target's path matches, as its template; undefined when none does. Repeated and
 * trailing slashes do not count; segments compare decoded and case-sensitively. Only as many segments as the longest
 * pattern has are looked at, so a long path costs no more than a short one.
 */
export function matchRoutePattern(patterns: readonly RoutePattern[], url: string | undefined): string | undefined {
  if (!patterns.length || !url) return undefined;
  let longest = 0;
  for (const p of patterns) longest = Math.max(longest, p.segments.length);
  const path = pathOf(url).replace(/\/{2,}/g, '/').replace(/\/$/, '');
  // One more than the longest pattern: enough to tell "longer than every exact pattern".
  const segs = path === '' ? [] : path.split('/', longest + 2).slice(1);
  const decoded = segs.map((seg) => (seg.includes('%') ? safeDecode(seg) : seg));
  for (const p of patterns) {
    if (p.rest ? decoded.length < p.segments.length : decoded.length !== p.segments.length) continue;
    let ok = true;
    for (let i = 0; i < p.segments.length && ok; i++) {
      const want = p.segments[i];
      ok = want === null ? decoded[i] !== '' : decoded[i] === want;
    }
    if (ok) return p.template;
  }
  return undefined;
}

function safeDecode(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    // A malformed escape is compared as written.
    return seg;
  }
}

/** Minimal shapes of the framework objects we read. */
export interface ExpressLikeRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  app?: { router?: { stack?: unknown }; _router?: { stack?: unknown } };
}

/** A router layer of Express 5 (`router` 2): the pattern it was mounted with, and its matchers. */
interface LayerLike {
  handle?: { stack?: unknown };
  rawPath?: unknown;
  matchers?: unknown;
  /** Mounted at '/' (matches every path, consuming nothing). */
  slash?: unknown;
}
/** Layers looked at per request at most (a stall sample runs inside the blocked code: keep it short). */
const MAX_LAYERS = 500;

/**
 * The pattern `req.baseUrl` was matched with (`/users/:userId` for a router mounted there), rebuilt from the
 * app's router stacks: `req.baseUrl` itself is the matched *path* (`/users/12345`), raw ids included. Express 5
 * keeps each layer's pattern (`layer.rawPath`); elsewhere (Express 4) undefined.
 */
export function expressMountTemplate(req: ExpressLikeRequest): string | undefined {
  const base = req.baseUrl;
  if (typeof base !== 'string' || base === '') return '';
  let budget = MAX_LAYERS;
  const walk = (stack: unknown, rest: string, depth: number): string | undefined => {
    if (!Array.isArray(stack) || depth > 8) return undefined;
    for (const layer of stack as LayerLike[]) {
      if (--budget < 0) return undefined;
      const sub = layer?.handle?.stack;
      const matchers = layer?.matchers;
      if (!Array.isArray(sub) || !Array.isArray(matchers)) continue;
      const raws = Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath];
      for (let i = 0; i < matchers.length; i++) {
        const m =
          layer.slash === true ? { path: '' } : typeof matchers[i] === 'function' ? (matchers[i] as (p: string) => unknown)(rest) : false;
        const matched = m && typeof (m as { path?: unknown }).path === 'string' ? (m as { path: string }).path : undefined;
        const pattern = raws[i];
        if (matched === undefined || typeof pattern !== 'string' || !rest.startsWith(matched)) continue;
        const remaining = rest.slice(matched.length);
        // A router mounted at '/' matches without consuming anything: look inside it for the rest.
        const own = matched === '' ? '' : pattern;
        if (remaining === '') return own;
        const inner = walk(sub, remaining, depth + 1);
        if (inner !== undefined) return own + inner;
      }
    }
    return undefined;
  };
  const app = req.app;
  return walk(app?.router?.stack ?? app?._router?.stack, base, 0);
}

/**
 * Express (4/5): the mount pattern + `req.route.path` when a route matched. Where the mount pattern cannot be
 * rebuilt, `req.baseUrl` normalised (ids → `:id`): never the raw mount path.
 */
export function expressRoute(req: ExpressLikeRequest): string | undefined {
  const route = req.route;
  if (!route || route.path === undefined) return undefined;
  const p = route.path;
  const tpl = typeof p === 'string' ? p : Array.isArray(p) ? p.map(String).join('|') : String(p);
  let base = '';
  if (typeof req.baseUrl === 'string' && req.baseUrl !== '') {
    base = expressMountTemplate(req) ?? normalisePath(req.baseUrl);
  }
  return base + tpl || '/';
}

/**
 * `METHOD template`: framework template when known (fastify's, express's), else the first configured route pattern
 * the path matches, else the normalised path.
 */
export function routeOf(method: string | undefined, req: ExpressLikeRequest, frameworkTemplate?: string, patterns: readonly RoutePattern[] = []): string {
  const url = req.originalUrl ?? req.url;
  const tpl = frameworkTemplate ?? expressRoute(req) ?? matchRoutePattern(patterns, url) ?? normalisePath(url);
  return `${(method ?? req.method ?? 'GET').toUpperCase()} ${tpl}`;
}
