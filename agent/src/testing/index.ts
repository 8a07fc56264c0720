/**
 * loopwatch/test: a test during which the event loop is blocked longer than its budget fails (or warns) with the
 * blocking stack, the culprit function and the test's name. What every runner's entry exports (docs/testing.md).
 */
export { allowBlocking, blockingBudget, configure } from './core';
export type { BlockingMode, TestingOptions } from './config';
