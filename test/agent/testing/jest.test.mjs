// jest with `testEnvironment: 'loopwatch/test/jest'`, in a child process. Three test files, so jest runs them in its
// workers: jest-worker's child processes (its default), where the environment starts the agent and its watchdog, or
// with --workerThreads worker threads of jest's own process, where it starts a watchdog for the worker thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOnlyTheBlockingTestFailed, assertRanIn, assertWarnedOnce, bin, fixtureDir, jestLikeResults, run, whereDir } from './runners.mjs';

const dir = fixtureDir('jest');
const suite = join(dir, 'suite.test.cjs');
const FILES = ['clean.test.cjs', 'later.test.cjs', 'suite.test.cjs'];

async function jest(t, args, env) {
  const out = mkdtempSync(join(tmpdir(), 'loopwatch-jest-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const report = join(out, 'report.json');
  const r = await run([bin('jest/bin/jest.js'), '-c', 'jest.config.cjs', '--json', `--outputFile=${report}`, ...args], { cwd: dir, env });
  const results = jestLikeResults(JSON.parse(readFileSync(report, 'utf8')));
  return { ...r, results, output: r.stdout + r.stderr };
}

for (const [how, args, where] of [
  ['worker processes, --maxWorkers=2', ['--maxWorkers=2'], { inRunner: false, mainThread: true }],
  ['worker threads, --maxWorkers=2 --workerThreads', ['--maxWorkers=2', '--workerThreads'], { inRunner: true, mainThread: false }],
  ["--runInBand (jest's own process)", ['--runInBand'], { inRunner: true, mainThread: true }],
]) {
  test(`jest (${how}): exactly the blocking test fails, naming blockTheLoopOnPurpose`, async (t) => {
    const files = whereDir(t);
    const r = await jest(t, args, files.env);
    assert.equal(r.results.length, 6, r.output);
    assertRanIn(files.read(), FILES, { runnerPid: r.pid, ...where });
    assertOnlyTheBlockingTestFailed(r.results, { file: suite, output: r.output });
    assert.notEqual(r.code, 0);
  });
}

test('jest, LOOPWATCH_TEST_MODE=warn: every test passes and the blocking one is reported on stderr once', async (t) => {
  const r = await jest(t, ['--maxWorkers=2'], { LOOPWATCH_TEST_MODE: 'warn' });
  assert.equal(r.results.length, 6, r.output);
  assertWarnedOnce(r.results, { file: suite, stderr: r.stderr });
  assert.equal(r.code, 0, r.output);
});
