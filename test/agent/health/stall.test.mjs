// An endless loop turns /livez 503 once the loop has been blocked for the liveness timeout (not before), while
// /metrics still answers and each probe is answered within 50 ms; the stall is on stderr by the time /livez says 503.
// A long block that ends returns both probes to 200 (readiness after its recovery hold).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, get, pollUntil, startApp } from './helpers.mjs';

const LIVENESS_MS = 1500;
const env = {
  LOOPWATCH_LIVENESS_TIMEOUT_MS: String(LIVENESS_MS),
  LOOPWATCH_READINESS_STALL_MS: '400',
  LOOPWATCH_HEALTH_RECOVERY_MS: '1000',
  // Delay is not what this test is about (a long block is also a long delay sample).
  LOOPWATCH_READINESS_DELAY_MS: '0',
};

test('endless loop: /livez 503 after the liveness timeout, /metrics answers, probes within 50 ms', { timeout: 60_000 }, async () => {
  const app = startApp('block', 'Infinity', env);
  try {
    const { url } = await app.message('ready');
    const root = base(url);
    assert.equal((await get(`${root}/livez`)).status, 200);
    const { at: blockedAt } = await app.message('blocking');
    const ready = await pollUntil(`${root}/readyz`, (a) => a.status === 503, { everyMs: 20 });
    assert.equal(ready.match.json.state, 'blocked');
    assert.equal(ready.match.json.reason, 'stall');
    assert.equal(ready.match.json.thread, 'main');
    assert.ok(ready.match.json.blockedForMs >= 400, `readyz at ${ready.match.json.blockedForMs} ms`);
    const live = await pollUntil(`${root}/livez`, (a) => a.status === 503, { everyMs: 20 });
    // Before the timeout every /livez was 200, whatever the block's length so far.
    for (const a of live.seen.slice(0, -1)) assert.equal(a.status, 200, `early 503: ${a.body}`);
    assert.ok(live.match.at - blockedAt >= LIVENESS_MS, `503 after ${live.match.at - blockedAt} ms`);
    assert.deepEqual(
      { live: live.match.json.live, ready: live.match.json.ready, state: live.match.json.state, thread: live.match.json.thread, reason: live.match.json.reason },
      { live: false, ready: false, state: 'blocked', thread: 'main', reason: 'stall' },
    );
    assert.ok(live.match.json.blockedForMs >= LIVENESS_MS, `blockedForMs ${live.match.json.blockedForMs}`);
    // The evidence was written before the 503 was sent (writeSync in the watchdog; allow the pipe to deliver it).
    await app.waitFor(() => /\[loopwatch\] .*thread "main" has been blocked for \d+\.\d s, over the liveness timeout/.test(app.stderr), { timeoutMs: 1000, what: 'liveness evidence on stderr' });
    // Only one such line per stall.
    await get(`${root}/livez`);
    assert.equal(app.stderr.match(/over the liveness timeout/g).length, 1);
    // /metrics still answers, and shows the block in progress.
    const metrics = await get(url);
    assert.equal(metrics.status, 200);
    const m = metrics.body.match(/^loopwatch_eventloop_stall_in_progress_seconds\{[^}]*thread_name="main"[^}]*\} (\S+)/m);
    assert.ok(m && Number(m[1]) * 1000 >= LIVENESS_MS, `blocked gauge: ${m?.[0]}`);
    // During the stall, probes answer within 50 ms (fresh connection each).
    const times = [];
    for (let i = 0; i < 10; i++) {
      const a = await get(`${root}/livez`);
      assert.equal(a.status, 503);
      times.push(a.ms);
    }
    times.sort((x, y) => x - y);
    // The median, so that one answer delayed by a loaded machine (other processes on the same cores) does not decide.
    assert.ok(times[5] < 50, `probe times ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
  } finally {
    app.kill();
  }
});

test('a long block that ends: /livez 200 at once, /readyz 200 after the recovery hold', { timeout: 60_000 }, async () => {
  const app = startApp('block', '2500', env);
  try {
    const { url } = await app.message('ready');
    const root = base(url);
    await app.message('blocking');
    await pollUntil(`${root}/livez`, (a) => a.status === 503, { everyMs: 20 });
    const { at: endedAt, health } = await app.message('unblocked');
    // agent.health() from the thread that was blocked, right after: that thread is running, so it is not blocked.
    assert.deepEqual({ live: health.live, state: health.state, blockedForMs: health.blockedForMs }, { live: true, state: 'ok', blockedForMs: 0 });
    const live = await pollUntil(`${root}/livez`, (a) => a.status === 200, { everyMs: 20 });
    assert.equal(live.match.json.live, true);
    const ready = await pollUntil(`${root}/readyz`, (a) => a.status === 200, { everyMs: 50 });
    assert.ok(ready.match.at - endedAt >= 1000, `ready again ${ready.match.at - endedAt} ms after the block ended`);
    assert.ok(ready.seen.some((a) => a.status === 503 && a.json.reason === 'recovering' && a.json.state === 'ok'), 'recovering seen');
    assert.deepEqual({ ready: ready.match.json.ready, state: ready.match.json.state }, { ready: true, state: 'ok' });
  } finally {
    app.kill();
  }
});
