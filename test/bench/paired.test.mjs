// bench/paired.mjs starts and stops the agent repeatedly inside one server under load: a smoke test that the
// benchmark runs on a fresh clone, and that the agent restarts cleanly after stop() (the server reports what
// getAgent() says after each toggle, and the bench fails on a toggle that did nothing). No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('bench/paired.mjs: the agent is started and stopped between load blocks and the paired table is printed', async () => {
  const script = fileURLToPath(new URL('../../bench/paired.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--pairs', '2', '--block', '1', '--settle', '0.2', '--connections', '4'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0, err);
  assert.match(err, /pair {1,2}1: off [\d.]+ µs\/req, on [\d.]+ µs\/req/);
  assert.match(err, /pair {1,2}2: off/);
  for (const row of ['CPU µs/request (all threads)', 'main thread µs/request', 'GC pauses µs/request', 'requests/s']) {
    assert.match(out, new RegExp(`^\\| ${row.replace(/[()/]/g, '\\$&')} \\| [\\d.]+ \\| [\\d.]+ \\|`, 'm'), row);
  }
});
