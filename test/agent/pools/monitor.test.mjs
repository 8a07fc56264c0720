import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import { recorder, errorLog, sleep } from './helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { monitorPool } = require('../../../agent/dist/pools/index.js');
const { detectPool } = require('../../../agent/dist/pools/monitor.js');
const pg = require('pg');
const mysql = require('mysql2');
const genericPool = require('generic-pool');
const { Pool: TarnPool } = require('tarn');
const knexLib = require('knex');
const { Pool: UndiciPool, Agent } = require('undici');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const mem = { create: async () => ({}), destroy: async () => {} };

test('detects every supported pool type without connecting', async () => {
  const pgPool = new pg.Pool({ max: 1 });
  const my = mysql.createPool({ connectionLimit: 1 });
  const knex = knexLib({ client: 'pg', connection: {}, pool: { min: 0, max: 1 } });
  const gp = genericPool.createPool(mem, { max: 1 });
  const tarn = new TarnPool({ create: (cb) => cb(null, {}), destroy() {}, min: 0, max: 1 });
  const up = new UndiciPool('http://127.0.0.1:1');
  const agent = new Agent();
  const cases = [
    [pgPool, 'pg'],
    [my, 'mysql2'],
    [my.promise(), 'mysql2'],
    [knex, 'tarn'],
    [tarn, 'tarn'],
    [gp, 'generic-pool'],
    [up, 'undici'],
    [agent, 'undici'],
    [{ max: 4, used: () => 1 }, 'custom'],
  ];
  for (const [pool, kind] of cases) assert.equal(detectPool(pool)?.kind, kind, kind);
  assert.equal(detectPool(my.promise()).target, my, 'promise pool unwrapped to the core pool');
  assert.equal(detectPool(knex).target, knex.client.pool, 'knex unwrapped to its tarn pool');
  assert.equal(detectPool({}), null);
  assert.equal(detectPool(null), null);
  assert.equal(detectPool(pgPool, 'mysql2'), null, 'kind hint checked against the shape');
  await Promise.all([pgPool.end(), new Promise((r) => my.end(r)), knex.destroy(), gp.drain(), tarn.destroy(), up.close(), agent.close()]);
});

test('unknown objects, double monitoring and a throwing sink factory go to onError, never throw', () => {
  const { list, onError } = errorLog();
  const h = monitorPool({ nope: true }, {}, recorder().factory, onError);
  assert.equal(typeof h.detach, 'function');
  h.detach();
  assert.match(String(list[0].err), /unrecognised pool/);
  const gp = genericPool.createPool(mem, { max: 1 });
  const h1 = monitorPool(gp, {}, recorder().factory, onError);
  monitorPool(gp, {}, recorder().factory, onError);
  assert.match(String(list[1].err), /already monitored/);
  h1.detach();
  monitorPool(gp, {}, () => {
    throw new Error('factory broken');
  }, onError);
  assert.match(String(list[2].err), /factory broken/);
  const bad = () => {
    throw new Error('onError broken too');
  };
  assert.doesNotThrow(() => monitorPool(42, {}, recorder().factory, bad));
  gp.drain();
});

test('default names are kind, kind-2, …', () => {
  const names = [];
  const f = (name) => (names.push(name), recorder().sink);
  const hs = [1, 2, 3].map(() => monitorPool({ max: 1, used: 0 }, { kind: 'custom' }, f, () => {}));
  for (const h of hs) h.detach();
  assert.equal(new Set(names).size, 3);
  assert.ok(names.every((n) => n.startsWith('custom')));
});

test('a garbage-collected pool stops being reported (FinalizationRegistry)', async () => {
  const recs = [];
  const { onError, list } = errorLog();
  (() => {
    for (const make of [() => genericPool.createPool(mem, { max: 2 }), () => new pg.Pool({ max: 2 })]) {
      const { rec, factory } = recorder();
      recs.push(rec);
      monitorPool(make(), {}, factory, onError);
    }
  })();
  for (let i = 0; i < 100 && !recs.every((r) => r.closed); i++) {
    gc();
    await sleep(10);
  }
  assert.deepEqual(
    recs.map((r) => [r.kind, r.closed]),
    [
      ['generic-pool', true],
      ['pg', true],
    ],
  );
  assert.deepEqual(list, []);
});

test('generic-pool: idle resources evicted by the pool itself are seen without any further acquire', async () => {
  const { rec, factory: sinks } = recorder();
  const pool = genericPool.createPool(mem, { max: 10, idleTimeoutMillis: 100, evictionRunIntervalMillis: 50 });
  const handle = monitorPool(pool, { name: 'evicting', sampleIntervalMs: 50 }, sinks, errorLog().onError);
  try {
    const held = await Promise.all(Array.from({ length: 5 }, () => pool.acquire()));
    await Promise.all(held.map((r) => pool.release(r)));
    const deadline = Date.now() + 5000;
    while (!(rec.last && rec.last.idle === 0 && pool.available === 0) && Date.now() < deadline) await sleep(20);
    assert.equal(pool.available, 0, 'the pool evicted them');
    assert.equal(rec.last.idle, 0, 'the gauge followed');
  } finally {
    handle.detach();
    await pool.drain();
    await pool.clear();
  }
});

test('a pool the app closes itself is forgotten: the close callback runs once', async () => {
  let closed = 0;
  const pool = new pg.Pool({ max: 1 });
  monitorPool(pool, { name: 'self-closing' }, recorder().factory, errorLog().onError, () => closed++);
  await pool.end();
  assert.equal(closed, 1);
});
