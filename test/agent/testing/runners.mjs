// Runs a test runner's CLI from node_modules on a fixture suite in a child process (this Node binary), and reads
// which tests failed and why from the runner's own machine-readable report.
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const fixtureDir = (runner) => fileURLToPath(new URL(`./fixtures/${runner}/`, import.meta.url));
export const bin = (rel) => join(root, 'node_modules', rel);

/** The budget the fixtures run with, and how long their blocking functions block: wide margins on a loaded machine. */
export const BUDGET_ENV = { LOOPWATCH_TEST_BUDGET_MS: '150', FIXTURE_BLOCK_MS: '450' };

/** This process's environment without what marks it as a test runner's child (the child runs its own runner). */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k === 'NODE_TEST_CONTEXT' || k.startsWith('VITEST') || k.startsWith('JEST') || k.startsWith('LOOPWATCH_')) delete env[k];
  return env;
}

/** Resolves { code, stdout, stderr, pid } (pid: the runner's own process). */
export function run(args, { cwd, env = {} }) {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, { cwd, env: { ...cleanEnv(), ...BUDGET_ENV, ...env }, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr, pid: child.pid });
    });
  });
}

/**
 * A directory the fixtures record where each of their files ran in (FIXTURE_WHERE_DIR: one JSON file per test file,
 * { pid, isMainThread, threadId }), removed after the test; `read()` gives them by test file name.
 */
export function whereDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-where-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    env: { FIXTURE_WHERE_DIR: dir },
    read: () => Object.fromEntries(readdirSync(dir).map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(dir, f), 'utf8'))])),
  };
}

/**
 * Exactly `files` ran, each in the runner's own process (`runnerPid`) or in another (`inRunner`), on its process's
 * main thread or in a worker thread (`mainThread`): the runner used the workers the test asked for.
 */
export function assertRanIn(where, files, { runnerPid, inRunner, mainThread }) {
  assert.deepEqual(Object.keys(where).sort(), [...files].sort(), JSON.stringify(where));
  for (const f of files) {
    const w = JSON.stringify(where[f]);
    if (inRunner) assert.equal(where[f].pid, runnerPid, `${f} ran in another process than the runner's (${runnerPid}): ${w}`);
    else assert.notEqual(where[f].pid, runnerPid, `${f} ran in the runner's own process: ${w}`);
    assert.equal(where[f].isMainThread, mainThread, `${f}: ${w}`);
  }
}

/** The line of the busy loop in the fixture's `blockTheLoopOnPurpose`: the culprit's file:line. */
export function culpritLine(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('function blockTheLoopOnPurpose'));
  const loop = lines.findIndex((l, i) => i > start && l.includes('while (performance.now() < end);'));
  assert.ok(start >= 0 && loop > start, `blockTheLoopOnPurpose not found in ${file}`);
  return loop + 1;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The culprit as reported: `blockTheLoopOnPurpose (<path>/suite.test.mjs:<line>)`; `line` false: no line shown. */
export function culpritPattern(file, { line = true } = {}) {
  return new RegExp(`: blockTheLoopOnPurpose \\((?:[^)]*/)?${escape(basename(file))}${line ? `:${culpritLine(file)}` : ''}\\)`);
}

/**
 * Exactly one failure, the blocking test, named with its culprit function and file:line; the allowed and the
 * budgeted blocks are named nowhere.
 */
export function assertOnlyTheBlockingTestFailed(results, { file, output, culprit = culpritPattern(file) }) {
  const failed = results.filter((r) => r.status === 'failed');
  assert.deepEqual(failed.map((r) => r.name), ['blocks the loop'], `failures: ${JSON.stringify(failed, null, 2)}\n${output}`);
  assert.equal(results.filter((r) => r.status === 'passed').length, results.length - 1, JSON.stringify(results));
  const message = failed[0].message;
  assert.match(message, /\[loopwatch\] test "blocks the loop" blocked the event loop for \d+ ms \(budget 150 ms\)/);
  assert.match(message, culprit, message);
  for (const r of results) assert.doesNotMatch(r.message, /allowedBlock|budgetedBlock/);
}

/** Warn mode: every test passes, and the blocking test's report is on stderr, once. */
export function assertWarnedOnce(results, { file, stderr, culprit = culpritPattern(file) }) {
  assert.deepEqual(results.filter((r) => r.status !== 'passed'), [], JSON.stringify(results));
  const reports = stderr.split('\n').filter((l) => l.includes('[loopwatch] test "'));
  assert.equal(reports.length, 1, stderr);
  assert.match(reports[0], /test "blocks the loop" blocked the event loop for \d+ ms \(budget 150 ms\): /);
  assert.match(reports[0], culprit);
}

/** jest's and vitest's JSON report: one entry per test. */
export function jestLikeResults(json) {
  return json.testResults.flatMap((f) => f.assertionResults.map((a) => ({ name: a.fullName ?? a.title, status: a.status, message: (a.failureMessages ?? []).join('\n') })));
}
