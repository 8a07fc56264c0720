/**
 * Reads that never run framework code: the value of a *data* property, found on the object or its prototype chain,
 * else undefined. An accessor is not called (Express 4's `app.router` getter throws, others print deprecation
 * warnings). Allocates one property descriptor per level looked at.
 */
const MAX_DEPTH = 8;

export function dataProp(obj: unknown, key: PropertyKey): unknown {
  let o = obj;
  for (let depth = 0; depth < MAX_DEPTH && o !== null && (typeof o === 'object' || typeof o === 'function'); depth++) {
    const d = Object.getOwnPropertyDescriptor(o, key);
    if (d) return 'value' in d ? d.value : undefined;
    o = Object.getPrototypeOf(o);
  }
  return undefined;
}

export function dataString(obj: unknown, key: PropertyKey): string | undefined {
  const v = dataProp(obj, key);
  return typeof v === 'string' ? v : undefined;
}

/** A route path as a framework keeps it (string, RegExp, or an array of them) → one template string. */
export function pathText(p: unknown): string | undefined {
  if (typeof p === 'string') return p;
  if (p instanceof RegExp) return String(p);
  if (Array.isArray(p)) {
    let out = '';
    for (let i = 0; i < p.length && i < 16; i++) {
      const one = pathText(p[i]);
      if (one === undefined) return undefined;
      out += (i ? '|' : '') + one;
    }
    return out || undefined;
  }
  return undefined;
}
