// jest with `testEnvironment: 'loopwatch/test/jest'`, in a child process. Two test files, so jest runs them in its
// worker processes (its default, jest-worker's child processes), where the environment starts the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOnlyTheBlockingTestFailed, assertWarnedOnce, bin, fixtureDir, jestLikeResults, run } from './runners.mjs';

const dir = fixtureDir('jest');
const suite = join(dir, 'suite.test.cjs');

async function jest(t, args, env) {
  const out = mkdtempSync(join(tmpdir(), 'loopwatch-jest-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const report = join(out, 'report.json');
  const r = await run([bin('jest/bin/jest.js'), '-c', 'jest.config.cjs', '--json', `--outputFile=${report}`, ...args], { cwd: dir, env });
  const results = jestLikeResults(JSON.parse(readFileSync(report, 'utf8')));
  return { ...r, results, output: r.stdout + r.stderr };
}

test('jest (worker processes): exactly the blocking test fails, naming blockTheLoopOnPurpose', async (t) => {
  const r = await jest(t, ['--maxWorkers=2']);
  assert.equal(r.results.length, 5, r.output);
  assertOnlyTheBlockingTestFailed(r.results, { file: suite, output: r.output });
  assert.notEqual(r.code, 0);
});

test('jest --runInBand (jest\'s own process): exactly the blocking test fails', async (t) => {
  const r = await jest(t, ['--runInBand']);
  assert.equal(r.results.length, 5, r.output);
  assertOnlyTheBlockingTestFailed(r.results, { file: suite, output: r.output });
});

test('jest, LOOPWATCH_TEST_MODE=warn: every test passes and the blocking one is reported on stderr once', async (t) => {
  const r = await jest(t, ['--maxWorkers=2'], { LOOPWATCH_TEST_MODE: 'warn' });
  assert.equal(r.results.length, 5, r.output);
  assertWarnedOnce(r.results, { file: suite, stderr: r.stderr });
  assert.equal(r.code, 0, r.output);
});
