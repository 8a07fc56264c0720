/**
 * loopwatch/test: a test during which the event loop is blocked longer than its budget fails (or warns) with the
 * blocking stack, the culprit function and the test's name. What every runner's entry exports (docs/testing.md).
 */
import * as core from './core';

export type { BlockingMode, TestingOptions } from './config';

// Plain properties, not re-export getters: vitest's module runner copies a CommonJS module's own values only.
export const allowBlocking: typeof core.allowBlocking = core.allowBlocking;
export const blockingBudget: typeof core.blockingBudget = core.blockingBudget;
export const configure: typeof core.configure = core.configure;
