// A blocked worker thread: agent.health() on the main thread (whose own loop is turning) says so from shared
// memory, with the worker's name, and the watchdog's /livez — on the metrics port and on the separate
// LOOPWATCH_HEALTH_PORT — turns 503 after the liveness timeout; the probe port serves nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { base, get, pollUntil, startApp } from './helpers.mjs';

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

test('blocked worker: agent.health() and /livez on both ports agree', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const app = startApp('worker', undefined, { LOOPWATCH_LIVENESS_TIMEOUT_MS: '1500', LOOPWATCH_READINESS_STALL_MS: '400', LOOPWATCH_HEALTH_PORT: String(port), LOOPWATCH_READINESS_DELAY_MS: '0' });
  try {
    const { url } = await app.message('ready');
    const { at: blockedAt } = await app.message('blocking');
    const own = `http://127.0.0.1:${port}`;
    const viaPort = await pollUntil(`${own}/livez`, (a) => a.status === 503, { everyMs: 50 });
    assert.ok(viaPort.match.at - blockedAt >= 1500, `503 after ${viaPort.match.at - blockedAt} ms`);
    assert.deepEqual({ state: viaPort.match.json.state, thread: viaPort.match.json.thread, live: viaPort.match.json.live }, { state: 'blocked', thread: 'busy-worker', live: false });
    const viaMetricsPort = await get(`${base(url)}/livez`);
    assert.equal(viaMetricsPort.status, 503);
    assert.equal(viaMetricsPort.json.thread, 'busy-worker');
    assert.equal((await get(`${own}/readyz`)).status, 503);
    assert.equal((await get(`${own}/metrics`)).status, 404);
    // The main thread's own view, read from shared memory while its loop turns.
    const seen = await app.waitFor(() => app.messages.find((m) => m.type === 'health' && m.at - blockedAt >= 1700), { what: 'health() 1.7 s into the block' });
    assert.deepEqual(
      { live: seen.health.live, ready: seen.health.ready, state: seen.health.state, thread: seen.health.thread, reason: seen.health.reason },
      { live: false, ready: false, state: 'blocked', thread: 'busy-worker', reason: 'stall' },
    );
    assert.ok(seen.health.blockedForMs >= 1500, String(seen.health.blockedForMs));
    // Before the block, the main thread said ok.
    const before = app.messages.find((m) => m.type === 'health' && m.at < blockedAt);
    if (before) assert.deepEqual({ live: before.health.live, state: before.health.state }, { live: true, state: 'ok' });
  } finally {
    app.kill();
  }
});

test('health: false: no /livez or /readyz on the endpoint, /metrics as before', { timeout: 30_000 }, async () => {
  const app = startApp('block', '1000', { TEST_HEALTH_OFF: '1' });
  try {
    const { url } = await app.message('ready');
    await app.message('blocking');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await get(`${base(url)}/livez`)).status, 404);
    assert.equal((await get(`${base(url)}/readyz`)).status, 404);
    assert.equal((await get(url)).status, 200);
  } finally {
    app.kill();
  }
});
