// bench/late-start.mjs on a fresh clone, and the regression it guards: an agent started while the server is under
// load must let V8 settle. A per-request subscriber that read the server off each request made V8 abort the same
// optimisations ~125 times a second for good (+8 % CPU per request, docs/performance.md run 17); settled, it is 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('bench/late-start.mjs: an agent started under load leaves V8 settled (no optimisation aborted again and again)', async () => {
  const script = fileURLToPath(new URL('../../bench/late-start.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '--warmup', '2', '--duration', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0, err);
  const row = (state) => {
    const m = out.match(new RegExp(`^\\| agent ${state} \\| ([\\d.]+) \\| ([\\d.]+) \\| ([\\d.]+) \\|$`, 'm'));
    assert.ok(m, `row for agent ${state} in:\n${out}`);
    return { main: Number(m[1]), helpers: Number(m[2]), abortsPerSecond: Number(m[3]) };
  };
  const off = row('off');
  const on = row('on');
  assert.ok(off.main > 0 && on.main > 0, 'per-thread CPU was read');
  // After the warm-up, V8 compiles what it needs once; a loop re-attempts every few milliseconds.
  assert.ok(on.abortsPerSecond < 20, `${on.abortsPerSecond} optimisations aborted per second with the agent on`);
});
