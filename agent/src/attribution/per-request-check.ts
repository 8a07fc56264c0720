/**
 * When a request context needs its per-request check (the `http.server.request.start` subscriber that enters a
 * frame for a request that arrived without one): both scopes (request-context.ts, request-frames.ts) answer
 * `needsPerRequest()` the same way, on every heartbeat, from what they looked at most once per look period.
 */

/** Published by net.Server#listen() (Node 22 and 24): the server, before it accepts anything. */
export const LISTEN_CHANNEL = 'tracing:net.server.listen:asyncStart';

/** How often the flags are looked at (what `needsPerRequest()` returns changes at most this often). */
const LOOK_MS = 1000;
/** How often the connections of the thread's servers are walked, while some may lack a frame (costs ~0.6 µs each). */
export const WALK_MS = 10_000;
/**
 * How often the per-request check runs for one look period when nothing says it is needed: it finds requests of
 * servers no look can find (one that never listens and is handed its sockets, a cluster worker's found late), and
 * watches them.
 */
const PROBE_EVERY_MS = 10_000;

/** The periods of `needsPerRequest()` (ms); tests shorten them. */
export interface RequestContextTiming {
  lookMs?: number;
  walkMs?: number;
  probeEveryMs?: number;
}

/** A server, as far as its connection events are listened to. */
export interface ServerEmitter {
  listeners(event: string): Function[];
  prependListener(event: string, fn: Function): unknown;
  on(event: string, fn: Function): unknown;
  removeListener(event: string, fn: Function): unknown;
}

export interface PeriodicNeed {
  readonly needsPerRequest: () => boolean;
  /** Needed from now on, not from the next look (until a look says otherwise). */
  readonly markNeeded: () => void;
}

/**
 * `needsPerRequest()`: `look(now)` says whether the check is needed (it reads and clears what happened since the
 * last look); asked at most once per look period, else the last answer. When it is not needed, the check still runs
 * for one look period every probe period — the first one probe period after this is made.
 */
export function periodicNeed(look: (now: number) => boolean, onError: (what: string, err: unknown) => void, timing: RequestContextTiming): PeriodicNeed {
  const lookMs = timing.lookMs ?? LOOK_MS;
  const probeEveryMs = timing.probeEveryMs ?? PROBE_EVERY_MS;
  let needed = true;
  let probing = false;
  let nextLookMs = 0;
  let nextProbeMs = performance.now() + probeEveryMs;
  const needsPerRequest = (): boolean => {
    const now = performance.now();
    if (now < nextLookMs) return needed || probing;
    nextLookMs = now + lookMs;
    try {
      needed = look(now);
    } catch (err) {
      needed = true;
      onError('looking for HTTP connections without a request context', err);
    }
    probing = !needed && now >= nextProbeMs;
    if (probing) nextProbeMs = now + probeEveryMs;
    return needed || probing;
  };
  return {
    needsPerRequest,
    markNeeded: () => {
      needed = true;
    },
  };
}
