/**
 * The fallback route when no framework template is known: the request's path with every segment that could carry
 * user data folded to `:id`. Never a raw URL: no query string, no ids, no names. Pure.
 *
 * A segment folds when it is
 *  1. id-like: a number or date (`42`, `2024-01-05`), a UUID, hex of 10+ characters (or 8+ with a digit), an
 *     e-mail (`@`), an opaque token (16+ characters mixing letters and digits: ULIDs, base64/base62 keys), a long
 *     mixed-case letters-only token (20+), letters and digits interleaved (`q585017f236e`, `a1b2`: 3+ runs), a
 *     word with 3+ digits of 6+ characters (`item12345`, `abc123`; a version such as `v2beta1` stays), or longer
 *     than 64 characters;
 *  2. a name: any segment right after a collection word (`users`, `shops`, `items`, `teams`… below) that is not
 *     itself a known word (`/shops/acme/items/blue-shirt` → `/shops/:id/items/:id`, `/users/me` stays).
 * What no rule can tell from a word (`/alice` at the root) needs `LOOPWATCH_ROUTE_PATTERNS`; the per-thread cap
 * on distinct routes (stall/pipeline: 20, the rest `other`) bounds what is left.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{10,}$/i;
/** Shorter hex with a digit in it (`ab12cd34`): a hash prefix or a short id, not a word. */
const SHORT_HEX = /^(?=.*[0-9])[0-9a-f]{8,}$/i;
const NUMERIC = /^[0-9][0-9_.,:-]*$/;
const TOKEN = /^[A-Za-z0-9_~.+=-]{16,}$/;
const MIXED_CASE_TOKEN = /^(?=.*[a-z])(?=.*[A-Z])[A-Za-z]{20,}$/;
/** API versions: `v2`, `v1beta1`, `v2alpha3`. */
const VERSION = /^v[0-9]+([a-z]+[0-9]+)?$/i;
const MAX_SEGMENTS = 12;
const MAX_SEGMENT_LENGTH = 64;

/** Collection words: the segment after one names a member of the collection (`/users/alice`). */
const COLLECTIONS = new Set(
  (
    'users user accounts account customers customer members member people profiles profile teams team orgs org ' +
    'organizations organization groups group tenants tenant workspaces workspace projects project repos repo ' +
    'repositories repository shops shop stores store merchants merchant brands brand items item products product ' +
    'skus sku orders order carts cart categories category tags tag collections collection posts post articles ' +
    'article authors author blogs blog pages page comments comment channels channel rooms room boards board ' +
    'lists list tasks task tickets ticket issues issue invoices invoice customers clients client apps app ' +
    'devices device files file documents document docs images image videos video events event books book courses ' +
    'course players player games game cities city countries country companies company vendors vendor sellers seller ' +
    'listings listing places place venues venue u p'
  ).split(' '),
);
/** Words that follow a collection word without naming a member (`/users/me`, `/items/search`). */
const KEEP = new Set(
  (
    'new edit create delete update search find query filter me self mine current all list count export import ' +
    'bulk batch settings summary stats statistics recent latest popular top featured trending random default ' +
    'public private active archived deleted pending upcoming history feed index info meta metadata schema health ' +
    'status config preferences permissions roles members admin login logout register signup signin auth'
  ).split(' '),
);

/** Is a path segment an identifier (number, UUID, hash, opaque token, e-mail, interleaved letters and digits)? */
export function isIdSegment(seg: string): boolean {
  if (NUMERIC.test(seg) || UUID.test(seg) || HEX.test(seg) || SHORT_HEX.test(seg)) return true;
  if (seg.includes('@') || seg.length > MAX_SEGMENT_LENGTH) return true;
  let letters = 0;
  let digits = 0;
  let runs = 0;
  let last = 0; // 1 letter, 2 digit
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    const kind = c >= 48 && c <= 57 ? 2 : (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? 1 : 0;
    if (kind === 0) continue;
    if (kind === 2) digits++;
    else letters++;
    if (kind !== last) runs++;
    last = kind;
  }
  if (letters && digits) {
    if (TOKEN.test(seg)) return true;
    if (VERSION.test(seg)) return false;
    if (runs >= 3 || (digits >= 3 && seg.length >= 6)) return true;
  }
  return MIXED_CASE_TOKEN.test(seg);
}

/** The path of a request target: no query string, fragment or matrix parameters (`;jsessionid=…`), no scheme or host. */
export function pathOf(url: string): string {
  let p = url;
  const cut = p.search(/[?#;]/);
  if (cut >= 0) p = p.slice(0, cut);
  // Absolute-form request targets (proxies): keep the path only.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(p);
  if (scheme) p = p.slice(scheme[0].length) || '/';
  return p;
}

/** `/users/42/orders?x=1` → `/users/:id/orders`; `/shops/acme/items/blue-shirt` → `/shops/:id/items/:id`. */
export function normalisePath(url: string | undefined): string {
  if (!url) return '/';
  const segs = pathOf(url).split('/');
  const out: string[] = [];
  let afterCollection = false;
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
    if (seg === '') {
      out.push(seg);
    } else if (isIdSegment(seg)) {
      out.push(':id');
      afterCollection = false;
    } else {
      const word = seg.toLowerCase();
      const named: boolean = afterCollection && !VERSION.test(seg) && !COLLECTIONS.has(word) && !KEEP.has(word);
      out.push(named ? ':id' : seg);
      afterCollection = !named && COLLECTIONS.has(word);
    }
    if (last) break;
  }
  const joined = out.join('/');
  return joined.startsWith('/') ? joined : '/' + joined;
}
