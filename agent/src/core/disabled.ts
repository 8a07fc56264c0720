import { EventEmitter } from 'node:events';
import type { Agent, HealthSnapshot, LoopwatchEvents } from '../types';
import { defaultThreadName } from './thread-name';

/** The agent returned when loopwatch cannot run (an unsupported Node, a failed start): same shape, does nothing. */
export class DisabledAgent extends EventEmitter<LoopwatchEvents> implements Agent {
  readonly enabled = false;
  constructor(readonly threadName: string = defaultThreadName()) {
    super();
  }
  ready(): Promise<{ prometheusUrl?: string }> {
    return Promise.resolve({});
  }
  monitorPool(): { detach(): void } {
    return { detach() {} };
  }
  health(): HealthSnapshot {
    return { live: true, ready: true, state: 'ok', blockedForMs: 0 };
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}
