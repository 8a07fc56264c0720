import type { HealthSnapshot } from './snapshot';

/** Anything with the agent's `health()` (the running agent, or one a test builds). */
interface HealthReader {
  health(): HealthSnapshot;
}

export interface ShedLoadOptions {
  /** Seconds in `Retry-After`. Default 5. */
  retryAfterSeconds?: number;
  /** Also shed while readiness is recovering (hysteresis) after an overload. Default false: shed only while it lasts. */
  whileRecovering?: boolean;
}

interface Res {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}
type Next = (err?: unknown) => void;

/**
 * One function for node:http, express and fastify: answers 503 with `Retry-After` while the watchdog's view says the
 * process is overloaded (a stall past the readiness threshold, loop delay or pool waiters over their limits), else
 * lets the request through.
 *   node:http  `createServer((req, res) => shed(req, res) || handler(req, res))`  (returns true when it answered)
 *   express    `app.use(shed)`                          (calls next() to pass)
 *   fastify    `app.addHook('onRequest', shed)`         (reply: it answers through reply.raw; calls done() to pass)
 */
export function shedLoad(agent: HealthReader, options: ShedLoadOptions = {}): (req: unknown, res: unknown, next?: Next) => boolean {
  const retryAfter = String(Math.max(0, Math.round(options.retryAfterSeconds ?? 5)));
  const whileRecovering = options.whileRecovering === true;
  return (_req, resOrReply, next) => {
    // health() never throws (the agent reports its own errors and answers ready).
    const snap = agent.health();
    const overloaded = !snap.ready && (whileRecovering || snap.reason !== 'recovering');
    if (!overloaded) {
      next?.();
      return false;
    }
    // fastify's reply carries the node:http response as `raw`.
    const raw = (resOrReply as { raw?: Res }).raw ?? (resOrReply as Res);
    if (typeof (resOrReply as { hijack?: unknown }).hijack === 'function') (resOrReply as { hijack(): void }).hijack();
    raw.statusCode = 503;
    raw.setHeader('retry-after', retryAfter);
    raw.setHeader('content-type', 'application/json');
    raw.end(`{"state":"${snap.state}","reason":"${snap.reason ?? ''}"}\n`);
    return true;
  };
}
