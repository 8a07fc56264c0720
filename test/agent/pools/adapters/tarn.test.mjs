import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { recorder, errorLog, sleep } from '../helpers/sink.mjs';
import { saturate, assertSaturation } from '../helpers/saturate.mjs';

const require = createRequire(import.meta.url);
const knexLib = require('knex');
const { Pool: TarnPool } = require('tarn');
const pg = require('pg');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');
const { attachTarn } = require('../../../../agent/dist/pools/adapters/tarn.js');
const { PoolWatch } = require('../../../../agent/dist/pools/watch.js');

const CONFIG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
async function reachable() {
  const c = new pg.Client({ ...CONFIG, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return null;
  } catch (err) {
    return `PostgreSQL not reachable on 127.0.0.1:5432: ${err.message}`;
  }
}
const why = await reachable();

test('knex (tarn) pool max 2, 20 clients × 100 ms on PostgreSQL: pending ≈ 18, p99 wait ≈ 0.9 s; destroy() closes', async (t) => {
  if (why) return t.skip(why);
  const knex = knexLib({ client: 'pg', connection: CONFIG, pool: { min: 0, max: 2 } });
  t.after(() => knex.destroy());
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  monitorPool(knex, { name: 'knex' }, factory, onError); // knex instance unwrapped to knex.client.pool
  assert.equal(rec.kind, 'tarn');
  let i = 0;
  await saturate({
    acquire: () => knex.client.acquireConnection(),
    release: (c) => knex.client.releaseConnection(c),
    use: (c) => (i++ % 2 ? new Promise((res, rej) => c.query('SELECT 1', (e) => (e ? rej(e) : res()))) : null),
  });
  await sleep(0);
  const r = assertSaturation(rec, { kind: 'tarn' });
  t.diagnostic(`tarn/knex: peak pending ${r.peakPending}, p99 wait ${r.p99.toFixed(3)} s`);
  const before = rec.waits.length;
  await knex.raw('select 1');
  assert.equal(rec.waits.length, before + 1, 'knex queries are timed');
  assert.deepEqual(list, []);
  await knex.destroy();
  assert.equal(rec.closed, true, 'destroy() closes the sink');
  assert.equal(rec.afterClose, 0);
});

const memFactory = {
  create: (cb) => cb(null, {}),
  destroy: () => {},
};

test('tarn: many acquires leave no pending timestamps; the table is bounded', async () => {
  const pool = new TarnPool({ ...memFactory, min: 0, max: 2, acquireTimeoutMillis: 1000 });
  const { rec, sink } = recorder();
  const watch = new PoolWatch(pool, 't', 'tarn', sink, () => {});
  const pending = attachTarn(watch, pool, 100);
  // 5000 acquires, 50 at a time; only 2 slots.
  for (let round = 0; round < 100; round++) {
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        const r = await pool.acquire().promise;
        await sleep(0);
        pool.release(r);
      }),
    );
  }
  assert.equal(pending.size, 0, 'no timestamps left after grants');
  assert.equal(pending.dropped, 0);
  assert.equal(rec.waits.length, 5000);
  // Beyond the ring's capacity (128 pending at once), requests are not timed rather than stored.
  assert.equal(pending.capacity, 128);
  const held = [await pool.acquire().promise, await pool.acquire().promise];
  const waiters = Array.from({ length: 150 }, () => pool.acquire().promise);
  assert.equal(pending.size, 128);
  assert.equal(pending.dropped, 22);
  for (const r of held) pool.release(r);
  await Promise.all(waiters.map((p) => p.then((r) => pool.release(r))));
  assert.equal(pending.size, 0);
  await sleep(0);
  assert.equal(rec.last.pending, 0);
  await pool.destroy();
  assert.equal(rec.closed, true);
});

test('tarn acquire timeout counted as timeout', async (t) => {
  const pool = new TarnPool({ ...memFactory, min: 0, max: 1, acquireTimeoutMillis: 50 });
  t.after(() => pool.destroy());
  const { rec, factory } = recorder();
  monitorPool(pool, {}, factory, errorLog().onError);
  const r = await pool.acquire().promise;
  await assert.rejects(pool.acquire().promise, /timed out/);
  assert.deepEqual(rec.errors, ['timeout']);
  pool.release(r);
  await pool.destroy();
});

test('tarn: a free resource is granted at once and its use timed; a queued request waits for the release', async () => {
  const pool = new TarnPool({ create: () => new Promise((r) => setTimeout(() => r({}), 20)), destroy: () => {}, min: 0, max: 1 });
  const { rec, factory } = recorder();
  monitorPool(pool, {}, factory, errorLog().onError);
  pool.release(await pool.acquire().promise); // waits for the 20 ms create
  assert.equal(rec.waits.length, 1);
  assert.ok(rec.waits[0] >= 0.015, `first acquire waits for the create (${rec.waits[0]} s)`);
  const r1 = await pool.acquire().promise; // free resource: reserved inside acquire(), granted after validation
  assert.equal(rec.waits.length, 2);
  assert.ok(rec.waits[1] >= 0 && rec.waits[1] < 0.01, `never queued (${rec.waits[1]} s)`);
  const p2 = pool.acquire().promise; // queued behind r1
  await sleep(60);
  pool.release(r1);
  const r2 = await p2;
  assert.equal(rec.waits.length, 3);
  assert.ok(rec.waits[2] >= 0.05, `queued wait ${rec.waits[2]} s covers the 60 ms hold`);
  assert.ok(rec.uses.at(-1) >= 0.05, `use time ${rec.uses.at(-1)} s covers the 60 ms hold`);
  pool.release(r2);
  await pool.destroy();
});

test('tarn: a reserved resource that fails validation sends the request back to wait for a new one, and that wait is recorded', async () => {
  let n = 0;
  const pool = new TarnPool({
    create: () => new Promise((r) => setTimeout(() => r({ id: ++n, ok: true }), 100)),
    destroy: () => {},
    validate: (r) => r.ok,
    min: 0,
    max: 1,
  });
  const { rec, factory } = recorder();
  monitorPool(pool, {}, factory, errorLog().onError);
  const r1 = await pool.acquire().promise;
  pool.release(r1);
  r1.ok = false; // as knex does for a connection that died while idle
  const t0 = performance.now();
  const r2 = await pool.acquire().promise;
  const waited = (performance.now() - t0) / 1000;
  assert.equal(r2.id, 2, 'served by a new resource');
  assert.equal(rec.waits.length, 2);
  assert.ok(rec.waits[1] >= 0.09 && rec.waits[1] <= waited + 0.001, `recorded ${rec.waits[1]} s of the ${waited} s the request waited`);
  pool.release(r2);
  await pool.destroy();
});
