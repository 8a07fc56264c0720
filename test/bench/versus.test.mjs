// bench/versus.mjs runs on a fresh clone: fresh server processes of two variants loaded at once, each variant's
// metrics endpoint scraped (a failing scrape fails the bench), the comparison table printed. No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('bench/versus.mjs: loopwatch vs prom-client, side by side, table printed', async () => {
  const script = fileURLToPath(new URL('../../bench/versus.mjs', import.meta.url));
  const args = ['--a', 'loopwatch', '--b', 'prom-client', '--pairs', '2', '--block', '0.5', '--warmup', '0.3', '--scrape', '200', '--connections', '4'];
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0, err);
  assert.match(err, /^pair {2}1: loopwatch [\d.]+ µs\/req, prom-client [\d.]+ µs\/req/m);
  assert.match(err, /^pair {2}2: /m);
  for (const row of ['CPU µs/request (all threads)', 'p99 latency ms', 'requests/s', 'RSS MB']) {
    const re = new RegExp(`^\\| ${row.replace(/[()/]/g, '\\$&')} \\| [\\d.]+ \\| [\\d.]+ \\| \\*\\*[+-]?[\\d.]+ %\\*\\* \\([+-]?[\\d.]+ % … [+-]?[\\d.]+ %\\) \\| \\d of 2 \\|$`, 'm');
    assert.match(out, re, row);
  }
});

test('bench/versus.mjs: LOOPWATCH_BENCH_MODULE in a loopwatch@ variant loads that build of the agent', async () => {
  const script = fileURLToPath(new URL('../../bench/versus.mjs', import.meta.url));
  const run = async (path) => {
    const args = ['--a', `loopwatch@LOOPWATCH_BENCH_MODULE=${path}`, '--b', 'baseline', '--pairs', '1', '--block', '0.3', '--warmup', '0.2', '--connections', '2'];
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    return { code: await new Promise((r) => child.once('exit', r)), err };
  };
  const built = fileURLToPath(new URL('../../agent/dist/index.js', import.meta.url));
  const ok = await run(built);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /^pair {2}1: loopwatch@LOOPWATCH_BENCH_MODULE=\S+ [\d.]+ µs\/req, baseline /m);
  // A build that does not exist fails the server, so the variable is what picks the build.
  const missing = await run('/nonexistent/loopwatch/index.js');
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /Cannot find module '\/nonexistent\/loopwatch\/index\.js'/);
});
