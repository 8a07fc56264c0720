import { test } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { recorder, errorLog, sleep } from '../helpers/sink.mjs';
import { saturate, assertSaturation } from '../helpers/saturate.mjs';

const require = createRequire(import.meta.url);
const mysql = require('mysql2');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');

const CONFIG = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };

async function reachable() {
  try {
    const c = await require('mysql2/promise').createConnection({ ...CONFIG, connectTimeout: 2000 });
    await c.end();
    return null;
  } catch (err) {
    return `MariaDB/MySQL not reachable on 127.0.0.1:3306: ${err.message}`;
  }
}
const why = await reachable();

test('mysql2 promise pool max 2, 20 clients × 100 ms: pending ≈ 18, p99 wait ≈ 0.9 s; end() closes', async (t) => {
  if (why) return t.skip(why);
  const pool = mysql.createPool({ ...CONFIG, connectionLimit: 2 }).promise();
  t.after(() => pool.pool._closed || pool.end());
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  monitorPool(pool, { name: 'maria' }, factory, onError);
  assert.equal(rec.kind, 'mysql2');
  let i = 0;
  await saturate({
    acquire: () => pool.getConnection(),
    release: (c) => c.release(),
    use: (c) => (i++ % 2 ? c.query('SELECT 1') : null),
  });
  const r = assertSaturation(rec, { kind: 'mysql2' });
  t.diagnostic(`mysql2: peak pending ${r.peakPending}, p99 wait ${r.p99.toFixed(3)} s`);
  // pool.query() goes through getConnection(cb) and is timed too.
  const before = rec.waits.length;
  await Promise.all([pool.query('SELECT 1'), pool.query('SELECT 2')]);
  assert.equal(rec.waits.length, before + 2);
  assert.deepEqual(list, []);
  await pool.end();
  assert.equal(rec.closed, true, 'end() closes the sink');
  const n = rec.updates;
  await sleep(20);
  assert.equal(rec.updates, n);
  assert.equal(rec.afterClose, 0);
});

test('mysql2 callback pool: queue limit error counted, detach restores', async (t) => {
  if (why) return t.skip(why);
  const pool = mysql.createPool({ ...CONFIG, connectionLimit: 1, queueLimit: 1 });
  t.after(() => pool._closed || new Promise((r) => pool.end(r)));
  const { rec, factory } = recorder();
  const h = monitorPool(pool, {}, factory, errorLog().onError);
  const get = () => new Promise((res, rej) => pool.getConnection((e, c) => (e ? rej(e) : res(c))));
  const c1 = await get();
  const p2 = get(); // queued
  await assert.rejects(get(), /Queue limit/);
  assert.deepEqual(rec.errors, ['error']);
  assert.equal(rec.last.pending, 1);
  c1.release(); // handed straight to the queued waiter (no 'release' event)
  const c2 = await p2;
  assert.equal(rec.uses.length, 1, 'use time observed on release to a waiter');
  c2.release();
  h.detach();
  assert.equal(Object.prototype.hasOwnProperty.call(pool, 'getConnection'), false);
  await new Promise((r) => pool.end(r));
});

test('mysql2: a free connection is granted with wait 0 and timed use; a queued request waits for the release', async (t) => {
  if (why) return t.skip(why);
  const pool = mysql.createPool({ ...CONFIG, connectionLimit: 1 });
  t.after(() => pool._closed || new Promise((r) => pool.end(r)));
  const { rec, factory } = recorder();
  monitorPool(pool, {}, factory, errorLog().onError);
  const get = () => new Promise((res, rej) => pool.getConnection((e, c) => (e ? rej(e) : res(c))));
  (await get()).release(); // creates the connection: timed on its callback
  assert.equal(rec.waits.length, 1);
  assert.ok(rec.waits[0] > 0, 'a new connection waits for its handshake');
  const c1 = await get(); // free connection: taken inside getConnection()
  assert.equal(rec.waits.length, 2);
  assert.equal(rec.waits[1], 0, 'never queued');
  const p2 = get(); // queued behind c1
  await sleep(60);
  c1.release();
  const c2 = await p2;
  assert.equal(rec.waits.length, 3);
  assert.ok(rec.waits[2] >= 0.05, `queued wait ${rec.waits[2]} s covers the 60 ms hold`);
  assert.equal(rec.uses.length, 2);
  assert.ok(rec.uses[1] >= 0.05, `use time of the free-granted connection ${rec.uses[1]} s covers the 60 ms hold`);
  c2.release();
});

for (const traced of [false, true]) {
test(`mysql2: a queued request that mysql2 re-dispatches (its connection was destroyed) is timed once${traced ? ', with a mysql2:pool:connect tracing subscriber' : ''}`, async (t) => {
  if (why) return t.skip(why);
  if (traced) {
    // APM tools subscribe to this channel; mysql2 then queues its own wrapper of the callback.
    const subscriber = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} };
    dc.tracingChannel('mysql2:pool:connect').subscribe(subscriber);
    t.after(() => dc.tracingChannel('mysql2:pool:connect').unsubscribe(subscriber));
  }
  const pool = mysql.createPool({ ...CONFIG, connectionLimit: 2 });
  t.after(() => pool._closed || new Promise((r) => pool.end(r)));
  const { rec, factory } = recorder();
  monitorPool(pool, {}, factory, errorLog().onError);
  const get = () => new Promise((res, rej) => pool.getConnection((e, c) => (e ? rej(e) : res(c))));
  const c1 = await get();
  const c2 = await get();
  const p3 = get(); // queued
  await sleep(30);
  c1.destroy(); // mysql2 sends the queued callback back through getConnection on the next tick…
  c2.release(); // …by which time c2 is free
  const c3 = await p3;
  await sleep(20);
  assert.equal(rec.waits.length, 3, `three requests, three waits: ${rec.waits}`);
  assert.ok(rec.waits[2] >= 0.025, `the queued request waited ≥ 30 ms (${rec.waits[2]} s)`);
  c3.release();
});
}
