/**
 * HTTP route templates (never a raw URL: no ids, no names, no query strings): the framework's own routing result
 * (routes/: one adapter per framework), else the first configured route pattern, else the path folded by the
 * fallback rule (routes/fold.ts).
 */
import { normalisePath, pathOf } from './routes/fold';
import { express } from './routes/express';
import { countRouteFailure, frameworkRoute, linkLoaded, startRouteLinking } from './routes/index';

export { isIdSegment, normalisePath } from './routes/fold';
export { countRouteFailuresWith, frameworkRoute, routeReadFailures, startRouteLinking, stopRouteLinking } from './routes/index';

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

/** Minimal shape of the request we read (node's IncomingMessage, extended by a framework). */
export interface ExpressLikeRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  baseUrl?: string;
  route?: unknown;
  app?: unknown;
}

/** Express (4/5): the mount pattern(s) + `req.route.path` when a route matched; undefined otherwise. */
export function expressRoute(req: ExpressLikeRequest): string | undefined {
  return express.template(req);
}

/** Stall-time scans for frameworks loaded without a `require` event: throttled, and linking starts if it had not. */
function missed(): void {
  startRouteLinking(countRouteFailure);
  linkLoaded(countRouteFailure, Date.now());
}

/**
 * `METHOD template`: the template given, else the framework's own (routes/),
 * else the first configured route pattern the path matches, else the folded path.
 */
export function routeOf(method: string | undefined, req: ExpressLikeRequest, frameworkTemplate?: string, patterns: readonly RoutePattern[] = []): string {
  const url = typeof req.originalUrl === 'string' ? req.originalUrl : req.url;
  let tpl = frameworkTemplate ?? frameworkRoute(req);
  if (tpl === undefined) {
    missed();
    tpl = matchRoutePattern(patterns, url) ?? normalisePath(url);
  }
  return `${(method ?? req.method ?? 'GET').toUpperCase()} ${tpl}`;
}
