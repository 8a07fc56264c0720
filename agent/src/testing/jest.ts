/**
 * jest: `setupFilesAfterEnv: ['loopwatch/test/jest']`. Each test file has its own global (and so its own copy of
 * loopwatch and its own agent), stopped when the file ends.
 */
import { checkTest, shutdown, testStarted } from './core';

export * from './index';

interface JestGlobals {
  beforeEach(fn: () => Promise<void>): void;
  afterEach(fn: () => Promise<void>): void;
  afterAll(fn: () => Promise<void>): void;
  expect: { getState(): { currentTestName?: string } };
}

function globals(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>;
  if (g.beforeEach && g.afterEach && g.afterAll && g.expect) return g as JestGlobals;
  // injectGlobals: false
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@jest/globals') as JestGlobals;
}

const jest = globals();
jest.beforeEach(() => testStarted(jest.expect.getState().currentTestName ?? '(unnamed test)'));
jest.afterEach(() => checkTest());
jest.afterAll(() => shutdown());
