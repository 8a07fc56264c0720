import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import http from 'node:http';
import { recorder, errorLog, sleep, quantile } from '../helpers/sink.mjs';
import diagnosticsChannel from 'node:diagnostics_channel';

const require = createRequire(import.meta.url);
const { Pool, Agent } = require('undici');
const { monitorPool } = require('../../../../agent/dist/pools/index.js');

async function server() {
  const s = http.createServer((req, res) => setTimeout(() => res.end('ok'), 100));
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { s, origin: `http://127.0.0.1:${s.address().port}` };
}

test('undici Pool connections 2, 20 requests × 100 ms: used 2, pending ≈ 18, p99 wait ≈ 0.9 s; close() closes', async (t) => {
  const { s, origin } = await server();
  t.after(() => s.close());
  const pool = new Pool(origin, { connections: 2 });
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  monitorPool(pool, { name: 'api', sampleIntervalMs: 10 }, factory, onError);
  assert.equal(rec.kind, 'undici');
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      const { body } = await pool.request({ path: '/', method: 'GET' });
      await body.text();
    }),
  );
  await sleep(30);
  assert.equal(rec.peak.max, 2);
  assert.equal(rec.peak.used, 2);
  assert.ok(rec.peak.pending >= 16 && rec.peak.pending <= 18, `pending ≈ 18 (got ${rec.peak.pending})`);
  assert.equal(rec.last.pending, 0);
  // One wait per request, from dispatch to its headers being written on a connection.
  assert.equal(rec.waits.length, 20, `one wait per request (${rec.waits.length})`);
  const p99 = quantile(rec.waits, 0.99);
  t.diagnostic(`undici: peak pending ${rec.peak.pending}, p99 wait ${p99.toFixed(3)} s`);
  assert.ok(p99 >= 0.9 * 0.75 && p99 <= 0.9 * 1.25, `p99 wait ≈ 0.9 s ±25 % (got ${p99.toFixed(3)} s)`);
  // The first two requests only wait for their connection to open.
  const sorted = [...rec.waits].sort((a, b) => a - b);
  assert.ok(sorted[0] < 0.05 && sorted[1] < 0.05, `first two ≈ connect time (${sorted[0]}, ${sorted[1]})`);
  assert.deepEqual(list, []);
  await pool.close();
  assert.equal(rec.closed, true);
  const n = rec.updates;
  await sleep(40);
  assert.equal(rec.updates, n, 'sampler stopped');
});

test('undici Agent: summed over origins, max = connections × origins', async (t) => {
  const { s, origin } = await server();
  t.after(() => s.close());
  const agent = new Agent({ connections: 2 });
  const { rec, factory } = recorder();
  const h = monitorPool(agent, { sampleIntervalMs: 10 }, factory, errorLog().onError);
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      const { body } = await agent.request({ origin, path: '/', method: 'GET' });
      await body.text();
    }),
  );
  assert.equal(rec.peak.max, 2);
  assert.equal(rec.peak.used, 2);
  assert.ok(rec.peak.pending >= 3, `pending seen (${rec.peak.pending})`);
  h.detach();
  assert.equal(rec.closed, true);
  await agent.close();
});

test('undici wait: only requests through the monitored pool; a connect failure counts as an error; detach unsubscribes', async (t) => {
  const { s, origin } = await server();
  t.after(() => s.close());
  const monitored = new Pool(origin, { connections: 1 });
  const other = new Pool(origin, { connections: 1 });
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  const h = monitorPool(monitored, { name: 'm', sampleIntervalMs: 1000 }, factory, onError);
  const get = async (d) => (await d.request({ path: '/', method: 'GET' })).body.text();
  await Promise.all([get(other), get(other), get(other)]);
  assert.equal(rec.waits.length, 0, 'requests of another pool are not timed');
  await Promise.all([get(monitored), get(monitored), get(monitored)]);
  assert.equal(rec.waits.length, 3);
  // Third request queued behind two 100 ms requests on one connection.
  assert.ok(Math.max(...rec.waits) >= 0.15, `queued request waited (${Math.max(...rec.waits)})`);
  // A pool whose origin refuses connections: the request fails before its headers are sent.
  const dead = new Pool('http://127.0.0.1:9', { connections: 1 });
  const { rec: rec2, factory: f2 } = recorder();
  monitorPool(dead, { name: 'dead' }, f2, onError);
  await assert.rejects(get(dead));
  assert.deepEqual(rec2.errors, ['error']);
  assert.equal(rec2.waits.length, 0);
  await dead.close();
  const subs = () => diagnosticsChannel.channel('undici:client:sendHeaders').hasSubscribers;
  h.detach();
  assert.equal(subs(), false, 'no subscriber left once every monitored pool is detached or closed');
  await get(monitored);
  assert.equal(rec.waits.length, 3, 'not timed after detach');
  assert.deepEqual(list, []);
  await Promise.all([monitored.close(), other.close()]);
});
