// The README's main command: the demo must show stalls and live metrics within seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test('npm run demo: stalls are reported and /metrics is live within seconds', async (t) => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const main = fileURLToPath(new URL('../../demo/main.mjs', import.meta.url));
  const child = spawn(process.execPath, [main, '--duration=12', `--port=${port}`, `--metrics-port=${metricsPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
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
});
