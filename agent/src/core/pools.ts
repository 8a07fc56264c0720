import type { MonitorPoolOptions, SinkFactory } from '../pools/types';
import type { Diagnostics } from '../runtime/diag';

/** The pools an agent monitors, so stop() detaches those the app did not. */
export class MonitoredPools {
  private readonly pools = new Set<{ detach(): void }>();

  constructor(
    private readonly sinks: SinkFactory,
    private readonly diag: Diagnostics,
  ) {}

  add(pool: unknown, options: MonitorPoolOptions | undefined): { detach(): void } {
    const tracked = {
      detach: () => {
        this.pools.delete(tracked);
        handle.detach();
      },
    };
    // Forgotten when monitoring ends however it ends: a pool the app closes itself (pool.end(), destroy()) without
    // detach() must not stay referenced here.
    let ended = false;
    // The pool adapters load with the first pool the app hands over: most apps monitor none, or only later.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { monitorPool: attachPool } = require('../pools/monitor') as typeof import('../pools/monitor');
    const handle = attachPool(pool, options, this.sinks, (err, where) => this.diag.error('pools', where, err), () => {
      ended = true;
      this.pools.delete(tracked);
    });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- monitoring may end inside attachPool (a failed attach closes it), setting ended; narrowing does not see assignments made in a closure
    if (!ended) this.pools.add(tracked);
    return tracked;
  }

  detachAll(): void {
    for (const p of [...this.pools]) p.detach();
  }
}
