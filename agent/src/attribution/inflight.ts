/**
 * HTTP requests in flight, linked through two symbol properties of the requests themselves: O(1) add and remove,
 * no table and no allocation per request. A `Set` of every request made V8's scavenges of a saturated server 7×
 * longer (docs/performance.md run 8); a request's links go away with the request.
 */
const kPrev = Symbol('loopwatch.prevRequest');
const kNext = Symbol('loopwatch.nextRequest');

interface Links {
  /** `null` at the head; `undefined` when not in the list. */
  [kPrev]?: Links | null;
  [kNext]?: Links | null;
}

export class InflightList<T extends object> {
  private head: Links | null = null;

  add(item: T): void {
    const r = item as Links;
    if (r[kPrev] !== undefined) return;
    r[kPrev] = null;
    r[kNext] = this.head;
    if (this.head) this.head[kPrev] = r;
    this.head = r;
  }

  /**
   * Removes `item` from this list; a no-op for an item that is in no list. (The link symbols are shared by every
   * list, so an item linked into another list must not be removed through this one: one list per thread.)
   */
  remove(item: T): void {
    const r = item as Links;
    const prev = r[kPrev];
    if (prev === undefined) return;
    const next = r[kNext] ?? null;
    if (prev) prev[kNext] = next;
    else this.head = next;
    if (next) next[kPrev] = prev;
    r[kPrev] = r[kNext] = undefined;
  }

  /** Up to `max` items, most recently added first (so leaked, never-closed items cannot crowd out current ones). */
  first(max: number): T[] {
    const out: T[] = [];
    for (let r = this.head; r && out.length < max; r = r[kNext] ?? null) out.push(r as T);
    return out;
  }

  clear(): void {
    for (let r = this.head; r; ) {
      const next: Links | null = r[kNext] ?? null;
      r[kPrev] = r[kNext] = undefined;
      r = next;
    }
    this.head = null;
  }
}
