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
