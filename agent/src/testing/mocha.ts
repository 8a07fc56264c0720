/**
 * mocha: `--require loopwatch/test/mocha` (a root hook plugin). mocha reports a test passed before its after-each
 * hooks run, and a failing after-each hook skips the rest of its suite; so the test's own function is wrapped to
 * fail the test itself. The window opens at the root before-each hook (the file's before-each hooks count) and
 * closes when the test function settles.
 */
import { checkTest, startEarly, testStarted } from './core';

export * from './index';

type Done = (err?: unknown) => void;
interface MochaTest {
  fn?: ((this: unknown, done: Done) => unknown) & { [WRAPPED]?: true };
  fullTitle(): string;
}

const WRAPPED = Symbol.for('loopwatch.testing.mocha.wrapped');

function run(fn: NonNullable<MochaTest['fn']>, ctx: unknown): Promise<unknown> {
  if (fn.length > 0) return new Promise((resolve, reject) => void fn.call(ctx, (err?: unknown) => (err ? reject(err instanceof Error ? err : new Error(`done() was called with ${typeof err === 'string' ? err : 'a non-Error value'}`)) : resolve(undefined))));
  return Promise.resolve(fn.call(ctx, () => {}));
}

function wrap(test: MochaTest): void {
  const fn = test.fn;
  if (!fn || fn[WRAPPED]) return;
  const checked = async function (this: unknown): Promise<void> {
    let failure: { err: unknown } | undefined;
    try {
      await run(fn, this);
    } catch (err) {
      failure = { err };
    }
    if (failure) {
      // The test's own error wins; the window is closed all the same.
      await checkTest().catch(() => undefined);
      throw failure.err;
    }
    await checkTest();
  } as NonNullable<MochaTest['fn']>;
  checked[WRAPPED] = true;
  checked.toString = () => fn.toString();
  test.fn = checked;
}

// A worker of `--parallel` (MOCHA_WORKER_ID): its agent starts while mocha loads the files it is given. Serially,
// one agent serves every file and it starts at the first test: `--parallel`'s coordinating process loads this module
// too, and runs no test.
if (process.env.MOCHA_WORKER_ID !== undefined) startEarly();

export const mochaHooks = {
  beforeEach(this: { currentTest?: MochaTest }): Promise<void> | undefined {
    const test = this.currentTest;
    if (!test) return undefined;
    wrap(test);
    return testStarted(test.fullTitle());
  },
};
