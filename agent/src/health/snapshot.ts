/** What `agent.health()`, `/livez` and `/readyz` say about the process (health/evaluate.ts). */

import type { HealthSnapshot } from '../types';

export type { HealthSnapshot } from '../types';

/** What health() says when it cannot say more (health off, the agent stopped, an evaluation that failed). */
export function healthyAssumed(): HealthSnapshot {
  return { live: true, ready: true, state: 'ok', blockedForMs: 0 };
}

/** Thresholds of the evaluation (resolved options, docs/health.md). */
export interface HealthLimits {
  /** A loop blocked this long (ms) fails liveness. */
  livenessTimeoutMs: number;
  /** A loop blocked this long (ms) fails readiness. */
  readinessStallMs: number;
  /** A p99 loop delay over the window above this (ms) fails readiness; 0: not checked. */
  readinessDelayMs: number;
  /** The window of the delay p99 (ms). */
  delayWindowMs: number;
  /** More waiters than this in any monitored pool fails readiness; undefined: not checked. */
  readinessPoolPending: number | undefined;
  /** Readiness comes back only after this long (ms) with every condition clear (hysteresis). */
  recoveryMs: number;
}
