import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { recorder, errorLog, sleep } from '../helpers/sink.mjs';
import { saturate, assertSaturation } from '../helpers/saturate.mjs';

const require = createRequire(import.meta.url);
const genericPool = require('generic-pool');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');

// generic-pool manages any resource; the pool logic is what is under test,
// so resources are in-memory objects created in 5 ms (like a fast connect).
const factory = () => ({
  create: () => new Promise((r) => setTimeout(() => r({ id: Math.random() }), 5)),
  destroy: async () => {},
});

test('generic-pool max 2, 20 clients × 100 ms: pending ≈ 18, p99 wait ≈ 0.9 s; drain() closes', async (t) => {
  const pool = genericPool.createPool(factory(), { max: 2, min: 0 });
  const { rec, factory: sinks } = recorder();
  const { list, onError } = errorLog();
  monitorPool(pool, { name: 'gp' }, sinks, onError);
  assert.equal(rec.kind, 'generic-pool');
  await saturate({ acquire: () => pool.acquire(), release: (r) => pool.release(r) });
  const r = assertSaturation(rec, { kind: 'generic-pool' });
  t.diagnostic(`generic-pool: peak pending ${r.peakPending}, p99 wait ${r.p99.toFixed(3)} s`);
  // use() goes through this.acquire.
  const before = rec.waits.length;
  await pool.use(async () => 1);
  assert.equal(rec.waits.length, before + 1);
  assert.deepEqual(list, []);
  await pool.drain();
  await pool.clear();
  assert.equal(rec.closed, true);
  assert.equal(rec.afterClose, 0);
});

test('generic-pool acquire timeout counted as timeout', async () => {
  const pool = genericPool.createPool(factory(), { max: 1, acquireTimeoutMillis: 50 });
  const { rec, factory: sinks } = recorder();
  monitorPool(pool, {}, sinks, errorLog().onError);
  const r1 = await pool.acquire();
  await assert.rejects(pool.acquire(), { name: 'TimeoutError' });
  assert.deepEqual(rec.errors, ['timeout']);
  await pool.release(r1);
  await pool.drain();
  await pool.clear();
  await sleep(10);
});
