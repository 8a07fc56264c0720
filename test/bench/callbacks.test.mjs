// bench/callbacks.mjs runs on a fresh clone: two children toggle the agent between blocks of tiny callbacks and the
// summary line is printed (the bench itself fails when a toggle does not take). No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('bench/callbacks.mjs: paired blocks with the agent on and off, summary printed', async () => {
  const script = fileURLToPath(new URL('../../bench/callbacks.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--pairs', '2', '--block', '0.3', '--options', '{"attribution":false}'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0, err);
  assert.match(err, /^pair 1: callbacks with the agent [+-]?\d+\.\d\d %$/m);
  assert.match(out, /agent options \{"attribution":false\}; 2 pairs × 0\.3 s: .* median -?\d+\.\d\d % \(interquartile -?\d+\.\d\d … -?\d+\.\d\d %\)/);
});
