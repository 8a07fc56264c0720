// The README's main command: the demo must show stalls and live metrics within seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test('npm run demo: stalls are reported and /metrics is live within seconds; it leaves nothing in the temp folder', async (t) => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const main = fileURLToPath(new URL('../../demo/main.mjs', import.meta.url));
  // Its own temp folder, holding what a killed demo left behind (a pid no process has).
  const tmp = mkdtempSync(join(tmpdir(), 'demo-test-'));
  mkdirSync(join(tmp, 'loopwatch-demo-4194999-left'));
  const env = { ...process.env, TMPDIR: tmp };
  const child = spawn(process.execPath, [main, '--duration=12', `--port=${port}`, `--metrics-port=${metricsPort}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = new Promise((r) => child.once('exit', r));
  // SIGTERM, not SIGKILL: the demo stops its service child on the way out.
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (!(/\[loopwatch\] stall \d+ ms on main/.test(out) && /loopwatch: [1-9]\d* stalls/.test(out))) {
    assert.ok(Date.now() < deadline, `no stall report in time; output:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(body, /loopwatch_eventloop_stall_duration_seconds_count\{thread_name="main"\} [1-9]/);
  assert.match(body, /loopwatch_pool_max\{pool_name="libuv",pool_kind="libuv"\} 4/);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith('loopwatch-demo-')).length, 1, 'the running demo has its folder; the stale one is gone');
  child.kill('SIGTERM');
  await exited;
  // The service child removes its folder in its exit handler, after the demo's own exit: poll briefly.
  const deadline2 = Date.now() + 5000;
  while (readdirSync(tmp).some((n) => n.startsWith('loopwatch-demo-')) && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith('loopwatch-demo-')), [], 'nothing left after SIGTERM');
});
