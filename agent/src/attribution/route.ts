/** HTTP route templates and path normalisation (never a raw URL: no ids, no query strings). Pure. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{10,}$/i;
const NUMERIC = /^[0-9][0-9_.,:-]*$/;
const TOKEN = /^[A-Za-z0-9_~.+=-]{16,}$/;
const MAX_SEGMENTS = 12;
const MAX_SEGMENT_LENGTH = 64;

/** Is a path segment an identifier (number, UUID, hash, opaque token, e-mail)? */
export function isIdSegment(seg: string): boolean {
  if (NUMERIC.test(seg) || UUID.test(seg) || HEX.test(seg)) return true;
  if (seg.includes('@')) return true;
  // Opaque tokens: long, and mixing digits with letters.
  if (TOKEN.test(seg) && /[0-9]/.test(seg) && /[A-Za-z]/.test(seg)) return true;
  return seg.length > MAX_SEGMENT_LENGTH;
}

/** `/users/42/orders?x=1` → `/users/:id/orders`. */
export function normalisePath(url: string | undefined): string {
  if (!url) return '/';
  let p = url;
  const cut = p.search(/[?#]/);
  if (cut >= 0) p = p.slice(0, cut);
  // Absolute-form request targets (proxies): keep the path only.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(p);
  if (scheme) p = p.slice(scheme[0].length) || '/';
  const segs = p.split('/');
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    if (out.length > MAX_SEGMENTS) {
      out.push('…');
      break;
    }
    let seg = segs[i]!;
    try {
      if (seg.includes('%')) seg = decodeURIComponent(seg);
    } catch {
      /* keep as is */
    }
    out.push(seg && isIdSegment(seg) ? ':id' : seg);
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : '/' + joined;
}

/** Minimal shapes of the framework objects we read. */
export interface ExpressLikeRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
}

/** Express (4/5): `req.baseUrl + req.route.path` when a route matched. */
export function expressRoute(req: ExpressLikeRequest): string | undefined {
  const route = req.route;
  if (!route || route.path === undefined) return undefined;
  const p = route.path;
  const tpl = typeof p === 'string' ? p : Array.isArray(p) ? p.map(String).join('|') : String(p);
  const base = typeof req.baseUrl === 'string' ? req.baseUrl : '';
  return base + tpl || '/';
}

/** `METHOD template`: framework template when known (fastify's, express's), else the normalised path. */
export function routeOf(method: string | undefined, req: ExpressLikeRequest, frameworkTemplate?: string): string {
  const tpl = frameworkTemplate ?? expressRoute(req) ?? normalisePath(req.originalUrl ?? req.url);
  return `${(method ?? req.method ?? 'GET').toUpperCase()} ${tpl}`;
}
