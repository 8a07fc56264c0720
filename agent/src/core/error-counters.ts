import { isMainThread } from 'node:worker_threads';
import * as N from '../metrics/names';
import type { SeriesStore } from '../metrics/store';
import type { Diagnostics } from '../runtime/diag';
import { countRouteFailuresWith } from '../attribution/route';
import { reportInternalsTo } from '../runtime/internals';

/**
 * Every error the diagnostic logger reports is counted in `loopwatch.agent.errors`, by component. Returns what the
 * agent's stop() calls: the module-wide sinks set here let go of its logger and store.
 */
export function countErrors(diag: Diagnostics, store: SeriesStore): () => void {
  const counters = new Map<string, { add(v: number): void }>();
  if (isMainThread) {
    // At 0 from the start, so "no internal errors" is a value, not an absent series.
    for (const component of ['agent', 'sampler', 'gc', 'prometheus', 'otel', 'threads', 'events', 'pools', 'threadpool', 'attribution', 'watchdog', 'internals']) {
      counters.set(component, store.counter(N.LOOPWATCH_AGENT_ERRORS, { [N.ATTR_COMPONENT]: component }));
    }
  }
  // A private internal found missing is said once and counted here (runtime/internals.ts).
  reportInternalsTo((what) => diag.error('internals', what));
  // Route reads that fail fall back silently; counted here (attribution/routes).
  countRouteFailuresWith(store.counter(N.LOOPWATCH_ROUTE_FAILURES, {}));
  diag.countErrorsWith((component) => {
    let c = counters.get(component);
    if (!c) {
      c = store.counter(N.LOOPWATCH_AGENT_ERRORS, { [N.ATTR_COMPONENT]: component });
      counters.set(component, c);
    }
    c.add(1);
  });
  return () => {
    reportInternalsTo(undefined);
    countRouteFailuresWith(undefined);
  };
}
