import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { recorder, errorLog, quantile, sleep } from '../helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { Piscina } = require('piscina');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');
const filename = fileURLToPath(new URL('../fixtures/sleep-worker.cjs', import.meta.url));

test('piscina maxThreads 2, 20 tasks × 100 ms: used 2, pending ≈ 18, p99 wait ≈ 0.9 s; destroy() closes', async (t) => {
  const pool = new Piscina({ filename, minThreads: 2, maxThreads: 2 });
  t.after(() => pool.destroy());
  // Let both workers come up so the wait is queueing, not thread start-up.
  await Promise.all([pool.run({ ms: 1 }), pool.run({ ms: 1 })]);
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  monitorPool(pool, { name: 'workers' }, factory, onError);
  assert.equal(rec.kind, 'piscina');
  await Promise.all(Array.from({ length: 20 }, () => pool.run({ ms: 100 })));
  await sleep(20);
  assert.equal(rec.peak.max, 2);
  assert.equal(rec.peak.used, 2);
  assert.ok(rec.peak.pending >= 17 && rec.peak.pending <= 18, `pending ≈ 18 (got ${rec.peak.pending})`);
  assert.equal(rec.waits.length, 20, 'one wait per task (piscina histogram)');
  assert.equal(rec.uses.length, 20, 'one run time per task');
  const p99 = quantile(rec.waits, 0.99);
  assert.ok(p99 >= 0.675 && p99 <= 1.125, `p99 wait ≈ 0.9 s (got ${p99})`);
  const p50use = quantile(rec.uses, 0.5);
  assert.ok(p50use >= 0.095 && p50use < 0.2, `run time ≈ 0.1 s (got ${p50use})`);
  assert.equal(rec.last.pending, 0);
  assert.equal(rec.last.used, 0);
  t.diagnostic(`piscina: peak pending ${rec.peak.pending}, p99 wait ${p99.toFixed(3)} s`);
  assert.deepEqual(list, []);
  await pool.destroy();
  assert.equal(rec.closed, true);
});
