// Through the real agent, pool levels are read once per heartbeat (not on every acquire/release): the metrics
// endpoint still shows a real pool queueing (generic-pool, max 2, 20 clients each holding a slot 100 ms).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const loopwatch = require('loopwatch');
const genericPool = require('generic-pool');

const gauge = (text, name) => {
  const m = text.match(new RegExp(`^${name}\\{[^}]*pool_name="levels"[^}]*\\} ([0-9.e+-]+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
};

test('heartbeat-batched pool levels: pending ≈ 18 at peak, back to 0 after', async (t) => {
  const agent = loopwatch.start({ prometheus: { port: 0, host: '127.0.0.1' }, threadpool: false });
  t.after(() => agent.stop());
  const { prometheusUrl } = await agent.ready();
  let n = 0;
  const pool = genericPool.createPool({ create: async () => ({ id: ++n }), destroy: async () => {} }, { max: 2 });
  t.after(() => pool.drain().then(() => pool.clear()));
  agent.monitorPool(pool, { name: 'levels' });

  const clients = Array.from({ length: 20 }, async () => {
    const r = await pool.acquire();
    await new Promise((res) => setTimeout(res, 100));
    await pool.release(r);
  });
  let peakPending = 0;
  let peakUsed = 0;
  let done = false;
  const all = Promise.all(clients).then(() => (done = true));
  while (!done) {
    const text = await (await fetch(prometheusUrl)).text();
    peakPending = Math.max(peakPending, gauge(text, 'loopwatch_pool_pending') ?? 0);
    peakUsed = Math.max(peakUsed, gauge(text, 'loopwatch_pool_used') ?? 0);
    await new Promise((res) => setTimeout(res, 10));
  }
  await all;
  assert.ok(peakPending >= 16 && peakPending <= 18, `peak pending ${peakPending}`);
  assert.equal(peakUsed, 2);
  // Idle again: the next beats publish 0 pending.
  const deadline = Date.now() + 3000;
  let pending;
  while (Date.now() < deadline) {
    pending = gauge(await (await fetch(prometheusUrl)).text(), 'loopwatch_pool_pending');
    if (pending === 0) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(pending, 0);
});
