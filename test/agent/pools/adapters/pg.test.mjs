import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { recorder, errorLog, sleep } from '../helpers/sink.mjs';
import { saturate, assertSaturation } from '../helpers/saturate.mjs';

const require = createRequire(import.meta.url);
const pg = require('pg');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');

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

test('pg Pool max 2, 20 clients × 100 ms: pending ≈ 18, p99 wait ≈ 0.9 s; end() closes', async (t) => {
  if (why) return t.skip(why);
  const pool = new pg.Pool({ ...CONFIG, max: 2 });
  t.after(() => pool.ending || pool.end());
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  monitorPool(pool, { name: 'main-db' }, factory, onError);
  assert.equal(rec.name, 'main-db');
  assert.equal(rec.kind, 'pg');
  // Half the clients use pool.query (goes through connect(cb)), half connect().
  let i = 0;
  await saturate({
    acquire: () => pool.connect(),
    release: (c) => c.release(),
    use: (c) => (i++ % 2 ? c.query('SELECT 1') : null),
  });
  const r = assertSaturation(rec, { kind: 'pg' });
  t.diagnostic(`pg: peak pending ${r.peakPending}, p99 wait ${r.p99.toFixed(3)} s`);
  // pool.query path (callback connect) is timed too.
  const before = rec.waits.length;
  await Promise.all([pool.query('SELECT 1'), pool.query('SELECT 2'), pool.query('SELECT 3')]);
  assert.equal(rec.waits.length, before + 3);
  assert.deepEqual(list, []);
  await pool.end();
  assert.equal(rec.closed, true, 'end() closes the sink');
  const n = rec.updates;
  await sleep(20);
  assert.equal(rec.updates, n, 'no reports after close');
  assert.equal(rec.afterClose, 0);
});

test('pg connect timeout is counted as error.type=timeout', async (t) => {
  if (why) return t.skip(why);
  const pool = new pg.Pool({ ...CONFIG, max: 1, connectionTimeoutMillis: 100 });
  t.after(() => pool.ending || pool.end());
  const { rec, factory } = recorder();
  const h = monitorPool(pool, {}, factory, errorLog().onError);
  const c = await pool.connect();
  async function applicationCode() {
    await pool.connect();
  }
  const err = await applicationCode().then(
    () => assert.fail('connect should time out'),
    (e) => e,
  );
  assert.match(err.message, /timeout/);
  // pg rewrites the stack of its promise's rejection to lead back to the caller; the monitored connect() must too.
  assert.match(err.stack, /applicationCode/, err.stack);
  assert.deepEqual(rec.errors, ['timeout']);
  c.release();
  h.detach();
  assert.equal(rec.closed, true, 'detach closes the sink');
  assert.equal(Object.prototype.hasOwnProperty.call(pool, 'connect'), false, 'detach restores connect');
  await pool.end();
});
