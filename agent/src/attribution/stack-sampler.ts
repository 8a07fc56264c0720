/**
 * Watchdog half of stall attribution. Runs in the watchdog worker thread.
 *
 * Holds one inspector session to the main thread (`Session.connectToMainThread()`, no port opened) and, through
 * its `NodeWorker` domain, sessions to the main thread's worker threads. While a thread is stalled it asks the
 * thread for a sample (`Runtime.evaluate` of the per-thread getter, executed by V8 as an interrupt inside the
 * blocked code) every `sampleIntervalMs`, and at the stall's end condenses the samples into one attribution.
 * No Debugger domain: the thread is never paused, so nothing can leave the application stopped.
 */
import { GETTER_KEY, type AttributionSample } from './thread-types';
import { lateAfterMs, monotonicMs } from './stall-timing';
import { aggregateSamples, type StallAttribution } from './aggregate';

/** The subset of `inspector.Session` we use (injectable for tests). */
export interface InspectorSessionLike {
  connectToMainThread(): void;
  disconnect(): void;
  post(method: string, params: object, cb: (err: Error | null, result?: unknown) => void): void;
  on(event: string, listener: (msg: { params: Record<string, unknown> }) => void): unknown;
}

export interface WatchdogAttributionOptions {
  /** Thread id of the main thread (the one `connectToMainThread` reaches). */
  mainThreadId: number;
  /** Interval between samples while a stall lasts. Default 50 ms. */
  sampleIntervalMs?: number;
  /** Samples kept per stall. Default 40. */
  maxSamples?: number;
  /** How long `onStallEnd` waits for a sample still in flight (a native call returning). Default 150 ms. */
  endWaitMs?: number;
  /** Attach to worker threads through the `NodeWorker` domain. Default true. */
  workers?: boolean;
  /** Session factory (tests). Default `new inspector.Session()`. */
  session?: () => InspectorSessionLike;
  /** Called with the number of inspector sessions connected whenever it changes. */
  onConnected?: (sessions: number) => void;
}

interface Stall {
  threadId: number;
  /** The thread's last beat before the stall (decimal ns), told to the getter: it drops a sample read after the stall. */
  sinceNs: string | undefined;
  session: InspectorSessionLike | undefined;
  /** NodeWorker session id of a worker thread, once attached. */
  workerSession: string | undefined;
  replies: Map<number, Reply>;
  samples: AttributionSample[];
  /** Samples answered after the heartbeat resumed (a native call returned, or the watchdog lagged). */
  late: AttributionSample[];
  pending: boolean;
  ended: boolean;
  timer: NodeJS.Timeout | undefined;
  waiters: (() => void)[];
}

type Reply = (err: Error | null, value: AttributionSample | null) => void;

/**
 * Thread id of a worker from its `NodeWorker` target title (`[worker 3]`, `[worker 3] name`), set by Node from the
 * worker's threadId; undefined when the title has another shape.
 */
export function workerThreadIdFromTitle(title: unknown): number | undefined {
  if (typeof title !== 'string') return undefined;
  const m = /^\[worker (\d+)\](?: |$)/.exec(title);
  return m ? Number(m[1]) : undefined;
}

/**
 * The inspector session is connected only while a stall lasts (connecting takes ~0.1 ms): an idle session would
 * make `process.exit()` print "Waiting for the debugger to disconnect..." and would keep inspector state alive.
 */
export class WatchdogAttribution {
  private readonly stalls = new Map<number, Stall>();
  private nextId = 1;
  private readonly interval: number;
  private readonly maxSamples: number;
  private readonly endWait: number;
  private readonly lateAfter: number;
  private sessionCtor: (() => InspectorSessionLike) | undefined;
  /** Why the latest stall could not be attributed, if it could not (set by each onStallStart). */
  unavailable: string | undefined;

  constructor(private readonly options: WatchdogAttributionOptions) {
    this.interval = options.sampleIntervalMs ?? 50;
    this.maxSamples = options.maxSamples ?? 40;
    this.endWait = options.endWaitMs ?? 150;
    this.lateAfter = lateAfterMs(this.interval);
  }

  /**
   * Arms attribution. `node:inspector` itself is loaded at the first stall: loading it initialises the
   * thread's inspector agent, which costs the watchdog ~15 MB of RSS that an app without stalls never needs.
   */
  start(): void {
    if (this.options.session) {
      this.sessionCtor = this.options.session;
      return;
    }
    this.sessionCtor = () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const inspector = require('node:inspector') as { Session?: new () => InspectorSessionLike };
      if (typeof inspector.Session !== 'function') throw new Error('inspector unavailable: no inspector.Session (Node built without inspector?)');
      return new inspector.Session();
    };
  }

  stop(): void {
    for (const st of this.stalls.values()) this.close(st);
    this.stalls.clear();
    this.sessionCtor = undefined;
  }

  /** A thread's heartbeat age crossed the threshold. */
  onStallStart(threadId: number, sinceNs?: bigint): void {
    // A session that failed once (e.g. a debugger attached) may work at the next stall.
    this.unavailable = undefined;
    if (!this.sessionCtor) return;
    const old = this.stalls.get(threadId);
    if (old) this.close(old);
    const st: Stall = {
      threadId,
      sinceNs: sinceNs === undefined ? undefined : String(sinceNs),
      session: undefined,
      workerSession: undefined,
      replies: new Map(),
      samples: [],
      late: [],
      pending: false,
      ended: false,
      timer: undefined,
      waiters: [],
    };
    this.stalls.set(threadId, st);
    try {
      st.session = this.sessionCtor();
      st.session.connectToMainThread();
    } catch (err) {
      this.unavailable = `inspector session failed: ${(err as Error).message}`;
      st.session = undefined;
      return;
    }
    this.connectedChanged();
    if (threadId === this.options.mainThreadId) {
      this.sample(st);
      return;
    }
    if (this.options.workers === false) return;
    // A worker thread: reach it through the main thread's NodeWorker domain (needs the main thread to be responsive).
    const s = st.session;
    // `workerInfo.workerId` is the inspector's own counter (order in which workers registered with it), NOT the
    // worker's threadId; matching on it sampled whichever worker happened to get that number (often the watchdog
    // itself). Node titles every worker target `[worker <threadId>]` or `[worker <threadId>] <name>`.
    s.on('NodeWorker.attachedToWorker', (m) => {
      const info = m.params['workerInfo'] as { title?: string } | undefined;
      const sessionId = String(m.params['sessionId']);
      if (workerThreadIdFromTitle(info?.title) !== threadId || st.workerSession !== undefined) {
        // Not the stalled thread: drop the session the domain opened into it.
        if (!st.ended) s.post('NodeWorker.detach', { sessionId }, () => {});
        return;
      }
      st.workerSession = sessionId;
      this.sample(st);
    });
    s.on('NodeWorker.receivedMessageFromWorker', (m) => {
      let msg: { id?: number; result?: { result?: { value?: unknown } }; error?: { message?: string } };
      try {
        msg = JSON.parse(String(m.params['message']));
      } catch {
        // Not a protocol reply we can read: the sample it answered stays pending, and onStallEnd waits for it at
        // most endWaitMs; the stall is then attributed from the samples that did arrive.
        return;
      }
      if (typeof msg.id !== 'number') return;
      const reply = st.replies.get(msg.id);
      if (!reply) return;
      st.replies.delete(msg.id);
      if (msg.error) reply(new Error(msg.error.message ?? 'evaluate failed'), null);
      else reply(null, (msg.result?.result?.value ?? null) as AttributionSample | null);
    });
    s.post('NodeWorker.enable', { waitForDebuggerOnStart: false }, () => {});
  }

  /**
   * The thread resumed. Resolves with the stall's attribution (or undefined when nothing could be sampled),
   * after at most `endWaitMs` for a sample still in flight.
   */
  onStallEnd(threadId: number, _durationMs?: number): Promise<StallAttribution | undefined> {
    const st = this.stalls.get(threadId);
    if (!st) return Promise.resolve(undefined);
    this.stalls.delete(threadId);
    st.ended = true;
    if (st.timer) clearTimeout(st.timer);
    const finish = (): StallAttribution | undefined => {
      this.close(st);
      // Late samples only count when nothing was sampled during the stall (native calls answer late by design).
      return aggregateSamples(st.samples.length ? st.samples : st.late);
    };
    if (!st.pending) return Promise.resolve(finish());
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(finish()), this.endWait);
      st.waiters.push(() => {
        clearTimeout(t);
        resolve(finish());
      });
    });
  }

  /** What has been sampled so far of a stall still running (for the watchdog's in-progress reports); [] if none. */
  samplesSoFar(threadId: number): readonly AttributionSample[] {
    return this.stalls.get(threadId)?.samples ?? [];
  }

  private close(st: Stall): void {
    if (st.timer) clearTimeout(st.timer);
    st.ended = true;
    const had = st.session !== undefined;
    try {
      st.session?.disconnect();
    } catch {
      // Already disconnected (the target thread went away): nothing left to close.
    }
    st.session = undefined;
    if (had) this.connectedChanged();
  }

  /**
   * Disconnects every session now, keeping what was sampled (the process is exiting: a session still connected
   * to the main thread would make it print "Waiting for the debugger to disconnect..." and wait).
   */
  disconnectAll(): void {
    for (const st of this.stalls.values()) this.close(st);
  }

  private connectedChanged(): void {
    if (!this.options.onConnected) return;
    let n = 0;
    for (const st of this.stalls.values()) if (st.session !== undefined) n++;
    this.options.onConnected(n);
  }

  private sample(st: Stall): void {
    if (st.pending || st.ended || st.samples.length >= this.maxSamples) return;
    st.pending = true;
    this.evaluate(st, (err, value) => {
      st.pending = false;
      // A sample requested during the stall is valid even if it arrives after the heartbeat resumed (a native call
      // returned: the getter ran in its JS caller). Empty stacks mean the thread was idle by then.
      if (!err && value && Array.isArray(value.frames) && value.frames.length) (st.ended ? st.late : st.samples).push(value);
      for (const w of st.waiters.splice(0)) w();
      if (!st.ended) st.timer = setTimeout(() => this.sample(st), this.interval);
    });
  }

  private evaluate(st: Stall, reply: Reply): void {
    const s = st.session;
    if (!s) return reply(new Error('no session'), null);
    // Stamped with the time it is asked (the getter marks the sample late if it runs much later: stall-timing.ts).
    const params = { expression: sampleExpression(monotonicMs(), this.lateAfter, st.sinceNs), returnByValue: true, silent: true, includeCommandLineAPI: false };
    if (st.workerSession === undefined) {
      s.post('Runtime.evaluate', params, (err, res) => {
        const r = res as { result?: { value?: unknown } } | undefined;
        reply(err, (r?.result?.value ?? null) as AttributionSample | null);
      });
      return;
    }
    const id = this.nextId++;
    st.replies.set(id, reply);
    s.post(
      'NodeWorker.sendMessageToWorker',
      { sessionId: st.workerSession, message: JSON.stringify({ id, method: 'Runtime.evaluate', params }) },
      (err) => {
        if (err) {
          st.replies.delete(id);
          reply(err, null);
        }
      },
    );
  }
}

const GETTER_REF = `globalThis[Symbol.for(${JSON.stringify(GETTER_KEY)})]`;

/**
 * The expression evaluated in the blocked thread: the getter, told when it was asked, when that is late, and which
 * stall it is for (the last beat before it).
 */
export function sampleExpression(requestedMs: number, lateAfter: number, sinceNs?: string): string {
  const since = sinceNs === undefined ? '' : `,${JSON.stringify(sinceNs)}`;
  return `(function(){var g=${GETTER_REF};return g?g(${requestedMs},${lateAfter}${since}):null})()`;
}
