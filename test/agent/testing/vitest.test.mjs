// vitest with `setupFiles: ['loopwatch/test/vitest']`, in a child process. vitest 4's default pool is `forks`: each
// test file runs in a child process of vitest's, where the setup file starts the agent and its watchdog;
// `--pool=threads` puts the files in worker threads of vitest's own process, where the setup file starts a watchdog
// for the worker thread it runs in (vitest's main thread runs no agent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertOnlyTheBlockingTestFailed, assertRanIn, assertWarnedOnce, bin, culpritPattern, fixtureDir, jestLikeResults, run, whereDir } from './runners.mjs';

const dir = fixtureDir('vitest');
const suite = join(dir, 'suite.test.mjs');
// vitest runs the module vite transformed, whose source map Node does not know: its lines would be the transformed
// module's, so the report shows none (docs/testing.md, "vitest"); the function and the file are exact.
const culprit = culpritPattern(suite, { line: false });
const FILES = ['clean.test.mjs', 'suite.test.mjs'];

async function vitest(t, args, env) {
  const out = mkdtempSync(join(tmpdir(), 'loopwatch-vitest-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const report = join(out, 'report.json');
  const r = await run([bin('vitest/vitest.mjs'), 'run', '--reporter=json', `--outputFile=${report}`, ...args], { cwd: dir, env });
  const results = jestLikeResults(JSON.parse(readFileSync(report, 'utf8')));
  return { ...r, results, output: r.stdout + r.stderr };
}

for (const [pool, where] of [
  ['forks', { inRunner: false, mainThread: true }],
  ['threads', { inRunner: true, mainThread: false }],
]) {
  test(`vitest --pool=${pool}: exactly the blocking test fails, naming blockTheLoopOnPurpose and its file`, async (t) => {
    const files = whereDir(t);
    const r = await vitest(t, [`--pool=${pool}`], files.env);
    assert.equal(r.results.length, 5, r.output);
    assertRanIn(files.read(), FILES, { runnerPid: r.pid, ...where });
    assertOnlyTheBlockingTestFailed(r.results, { file: suite, output: r.output, culprit });
    assert.notEqual(r.code, 0);
  });
}

test('vitest, LOOPWATCH_TEST_MODE=warn: every test passes and the blocking one is reported on stderr once', async (t) => {
  const r = await vitest(t, [], { LOOPWATCH_TEST_MODE: 'warn' });
  assert.equal(r.results.length, 5, r.output);
  assertWarnedOnce(r.results, { file: suite, stderr: r.stderr, culprit });
  assert.equal(r.code, 0, r.output);
});
