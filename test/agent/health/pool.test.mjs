// A real generic-pool, monitored by loopwatch, exhausted with 2 waiters over a limit of 1 turns /readyz 503
// ("saturated", reason "pool", the pool's name) while /livez stays 200; released, /readyz is 200 again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, get, pollUntil, startApp } from './helpers.mjs';

test('pool exhausted with waiters: /readyz 503 naming the pool, /livez 200; released: 200', { timeout: 60_000 }, async () => {
  const app = startApp('pool', undefined, { LOOPWATCH_READINESS_POOL_PENDING: '1', LOOPWATCH_HEALTH_RECOVERY_MS: '500' });
  try {
    const { url, app: appUrl } = await app.message('ready');
    const root = base(url);
    // One waiter's worth of margin: at the limit it is still ready.
    assert.equal((await get(`${root}/readyz`)).status, 200);
    assert.equal((await get(`${appUrl}/exhaust`)).body, 'exhausted\n');
    const { match } = await pollUntil(`${root}/readyz`, (a) => a.status === 503);
    assert.deepEqual(
      { state: match.json.state, reason: match.json.reason, pool: match.json.pool, live: match.json.live, blockedForMs: match.json.blockedForMs },
      { state: 'saturated', reason: 'pool', pool: 'jobs', live: true, blockedForMs: 0 },
    );
    assert.equal((await get(`${root}/livez`)).status, 200);
    // The pool's own gauge agrees: 2 waiting.
    const metrics = await get(url);
    assert.match(metrics.body, /^loopwatch_pool_pending\{[^}]*pool_name="jobs"[^}]*\} 2$/m);
    await get(`${appUrl}/release`);
    const back = await pollUntil(`${root}/readyz`, (a) => a.status === 200);
    assert.deepEqual({ state: back.match.json.state, ready: back.match.json.ready }, { state: 'ok', ready: true });
  } finally {
    app.kill();
  }
});
