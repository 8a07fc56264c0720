/**
 * `node --test --import loopwatch/test`: hooks on node:test's root, in each test file's process. The `node --test`
 * process that only runs the files (and reports) is left alone: its own startup is not a test.
 */
import { checkTest, startEarly, testStarted } from './core';

export * from './index';

/** Tests run in this process: a file `node --test` spawned, a file run directly, or `--test-isolation=none`. */
function runsTests(): boolean {
  if (process.env.NODE_TEST_CONTEXT) return true;
  const flags = process.execArgv;
  if (!flags.includes('--test')) return true;
  return flags.some((f) => /^--(?:experimental-)?test-isolation=none$/.test(f));
}

interface TestContext {
  readonly name: string;
  readonly fullName?: string;
}

if (runsTests()) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeTest = require('node:test') as {
    beforeEach: (fn: (t: TestContext) => Promise<void>) => void;
    afterEach: (fn: (t: TestContext) => Promise<void>) => void;
  };
  nodeTest.beforeEach((t) => testStarted(t.fullName ?? t.name));
  nodeTest.afterEach(() => checkTest());
  startEarly();
}
