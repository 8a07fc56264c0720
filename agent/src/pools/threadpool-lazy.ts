/**
 * The module side of the threadpool monitor: zlib (+3 MB RSS) and dns
 * (+1.6 MB) are not loaded by the agent; they are wrapped when the app loads
 * them — on their first `require`/`import` through a `module.registerHooks`
 * load hook (Node ≥ 22.15), or at the next poll if something loaded them
 * without going through the hooks (Node internals, process.getBuiltinModule).
 * The hook is deregistered once both are wrapped, and on stop.
 * Also `syncBuiltinESMExports`, so ESM named imports see (un)wrapped functions.
 */
import moduleMod = require('node:module');

export type Lazy = 'zlib' | 'dns';
const LAZY: readonly Lazy[] = ['zlib', 'dns'];
const LAZY_URL: Partial<Record<string, Lazy>> = { 'node:zlib': 'zlib', 'node:dns': 'dns', 'node:dns/promises': 'dns' };

type Report = (err: unknown, where: string) => void;

/** Whether the builtin `name` has been loaded in this process (by the app or by Node itself). */
function builtinLoaded(name: string): boolean {
  const list = (process as unknown as { moduleLoadList?: readonly string[] }).moduleLoadList;
  // Without the list, assume loaded: wrapping then loads it, the pre-lazy behaviour.
  return !Array.isArray(list) || list.includes(`NativeModule ${name}`);
}

/** Makes `import { pbkdf2 } from 'node:crypto'` see the (un)wrapped functions. */
export function syncEsm(report: Report): void {
  try {
    moduleMod.syncBuiltinESMExports();
  } catch (err) {
    report(err, 'syncBuiltinESMExports');
  }
}

export class LazyBuiltins {
  /** Not wrapped yet because the app has not loaded them. */
  readonly pending = new Set<Lazy>();
  private hooks: { deregister(): void } | null = null;

  constructor(
    private readonly wrap: (m: Lazy) => void,
    private readonly report: Report,
  ) {}

  /** Wraps those already loaded (without syncing ESM: the caller does once), defers the others. */
  start(): void {
    for (const m of LAZY) {
      if (builtinLoaded(m)) this.wrap(m);
      else this.pending.add(m);
    }
    if (this.pending.size) this.startHooks();
  }

  /** Wraps deferred builtins that got loaded without going through the module hooks. */
  poll(): void {
    if (!this.pending.size) return;
    for (const m of [...this.pending]) if (builtinLoaded(m)) this.load(m);
  }

  stop(): void {
    this.stopHooks();
    this.pending.clear();
  }

  private load(m: Lazy): void {
    this.pending.delete(m);
    this.wrap(m);
    syncEsm(this.report);
    if (!this.pending.size) this.stopHooks();
  }

  /**
   * The first `require`/`import` of zlib or dns wraps it before the app
   * receives it, so destructuring at require time (`const { gzip } =
   * require('zlib')`) gets the wrappers.
   */
  private startHooks(): void {
    const register = (moduleMod as { registerHooks?: (h: object) => { deregister(): void } }).registerHooks;
    if (typeof register !== 'function') {
      for (const m of [...this.pending]) this.load(m);
      return;
    }
    try {
      this.hooks = register({
        load: (url: string, context: unknown, next: (url: string, context: unknown) => unknown) => {
          const m = LAZY_URL[url];
          if (m !== undefined && this.pending.has(m)) {
            try {
              this.load(m);
            } catch (err) {
              this.report(err, `wrap ${m} on load`);
            }
          }
          return next(url, context);
        },
      });
    } catch (err) {
      this.report(err, 'module.registerHooks');
      for (const m of [...this.pending]) this.load(m);
    }
  }

  private stopHooks(): void {
    const h = this.hooks;
    this.hooks = null;
    if (!h) return;
    try {
      h.deregister();
    } catch (err) {
      this.report(err, 'deregister module hooks');
    }
  }
}
