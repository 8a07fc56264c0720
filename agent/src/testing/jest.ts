/**
 * jest: `setupFilesAfterEnv: ['loopwatch/test/jest']`. jest runs each test file in a sandbox realm with its own module
 * registry; the agent is loaded outside it, with Node's own require, so that one agent serves the worker's files and
 * the watchdog's stack sampling (which evaluates in the thread's main realm) finds it.
 */
import { createRequire } from 'node:module';
import type * as Core from './core';

interface JestGlobals {
  beforeEach(fn: () => Promise<void>): void;
  afterEach(fn: () => Promise<void>): void;
  expect: { getState(): { currentTestName?: string } };
}

function globals(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>;
  if (g.beforeEach && g.afterEach && g.expect) return g as JestGlobals;
  // injectGlobals: false
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@jest/globals') as JestGlobals;
}

/** Node's own require: jest's sandbox gives `node:module` its own createRequire, into its registry; getBuiltinModule is not intercepted. */
function nodeRequire(): NodeJS.Require {
  const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:module') as typeof import('node:module') | undefined;
  return (builtin ?? { createRequire }).createRequire(__filename);
}

const core = nodeRequire()('./core') as typeof Core;
const runner = globals();
runner.beforeEach(() => core.testStarted(runner.expect.getState().currentTestName ?? '(unnamed test)'));
runner.afterEach(() => core.checkTest());

export const allowBlocking: typeof Core.allowBlocking = core.allowBlocking;
export const blockingBudget: typeof Core.blockingBudget = core.blockingBudget;
export const configure: typeof Core.configure = core.configure;
export type { BlockingMode, TestingOptions } from './config';
