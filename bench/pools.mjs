// Pool-monitoring overhead, per operation, in process (stable on a noisy machine,
// unlike an HTTP benchmark whose ±20 % noise hides sub-percent costs).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/pools.mjs [--rounds 30] [--ops 20000] [--only tarn]
//
// For each case one plain and one monitored pool are created and warmed up; then
// short blocks of N operations alternate between them (order flipped every round,
// so drift and the other tenant's load hit both alike). Reported: CPU µs per
// operation (median over rounds), the per-round difference monitored − plain
// (median, and the middle half of rounds), and the ratio monitored / plain.
// pg and mysql2 need the local servers (PostgreSQL 127.0.0.1:5432 db test,
// MariaDB 127.0.0.1:3306 root db test); they are skipped if unreachable.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(import.meta.url);
const { monitorPool, startThreadpoolMonitor } = require('../agent/dist/pools/index.js');
const { flushPoolLevels, setPoolLevelFlushing } = require('../agent/dist/pools/watch.js');
// As in the agent: pool levels are read once per heartbeat (here every 50 ms, the quiet-loop interval), not on
// every acquire and release. --immediate measures the per-event reads instead (monitorPool without an agent).
if (!process.argv.includes('--immediate')) {
  setPoolLevelFlushing(true);
  setInterval(flushPoolLevels, 50).unref();
}

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 30));
const OPS = Number(arg('ops', 20_000));
const ONLY = arg('only', '');

// The agent's own sink (histograms and gauges in shared memory, as in production), so what is measured is the
// adapter plus the real metric writes.
const { SeriesStore, SeriesRegistry } = require('../agent/dist/metrics/store.js');
const { poolSinkFactory } = require('../agent/dist/metrics/pool-sink.js');
const { POOL_WAIT_TIME } = require('../agent/dist/metrics/names.js');
const registry = new SeriesRegistry();
const sinks = poolSinkFactory(new SeriesStore('bench', registry, () => {}), (name) => {
  throw new Error(`pool sink overflow: ${name}`);
});
/** Wait observations that reached the sinks (proof the monitored arms ran). */
const waitsObserved = () => {
  let n = 0;
  for (const v of registry.values()) if (v.def.name === POOL_WAIT_TIME) n += v.data.slice(0, -1).reduce((a, b) => a + b, 0);
  return n;
};
const onError = (err, where) => {
  console.error('adapter error', where, err);
  process.exit(1);
};

// Each case: { ops, make(monitored) → { op: () => Promise, close } }.
const cases = {
  'generic-pool acquire+release': {
    async make(monitored) {
      const genericPool = require('generic-pool');
      const pool = genericPool.createPool({ create: async () => ({}), destroy: async () => {} }, { max: 4, min: 4 });
      if (monitored) monitorPool(pool, { name: 'bench' }, sinks, onError);
      return {
        op: async () => pool.release(await pool.acquire()),
        close: async () => {
          await pool.drain();
          await pool.clear();
        },
      };
    },
  },
  'tarn acquire+release': {
    async make(monitored) {
      const { Pool } = require('tarn');
      const pool = new Pool({ create: (cb) => cb(null, {}), destroy: () => {}, min: 0, max: 4 });
      if (monitored) monitorPool(pool, { name: 'bench' }, sinks, onError);
      return { op: async () => pool.release(await pool.acquire().promise), close: () => pool.destroy() };
    },
  },
  'pg connect+release (no query)': {
    async make(monitored) {
      const { Pool } = require('pg');
      const pool = new Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 4 });
      if (monitored) monitorPool(pool, { name: 'bench' }, sinks, onError);
      const cs = await Promise.all([pool.connect(), pool.connect()]);
      for (const c of cs) c.release();
      return { op: async () => (await pool.connect()).release(), close: () => pool.end() };
    },
  },
  'mysql2 getConnection+release (no query)': {
    async make(monitored) {
      const mysql = require('mysql2');
      const pool = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', connectionLimit: 4 });
      if (monitored) monitorPool(pool, { name: 'bench' }, sinks, onError);
      const get = () => new Promise((res, rej) => pool.getConnection((e, c) => (e ? rej(e) : res(c))));
      (await get()).release();
      return { op: async () => (await get()).release(), close: () => new Promise((r) => pool.end(r)) };
    },
  },
  'undici Pool request (local HTTP server)': {
    ops: 0.1,
    async make(monitored) {
      const { Pool } = require('undici');
      const server = http.createServer((req, res) => res.end('ok'));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const pool = new Pool(`http://127.0.0.1:${server.address().port}`, { connections: 4 });
      if (monitored) monitorPool(pool, { name: 'bench', sampleIntervalMs: 60_000 }, sinks, onError);
      return {
        op: async () => (await pool.request({ path: '/', method: 'GET' })).body.dump(),
        close: async () => {
          await pool.close();
          server.close();
        },
      };
    },
  },
  'fs.stat (threadpool-backed, counted)': {
    ops: 0.1,
    shared: true, // one process-wide monitor: the monitored arm starts it for its block and stops it after
    async make() {
      const fs = require('node:fs');
      return { op: () => new Promise((resolve) => fs.stat('/', () => resolve())), close() {} };
    },
  },
};

async function cpuOf(n, op) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await op();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n; // µs per op
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const q = (xs, p) => sorted(xs)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f = (x) => (x >= 0 ? '+' : '') + x.toFixed(3);

console.log(`Node ${process.version}; ${ROUNDS} interleaved rounds of ${OPS} ops per arm (undici, fs: ${OPS / 10})\n`);
console.log('| operation | plain µs/op | monitored µs/op | added µs/op, median (middle half of rounds) | ratio |');
console.log('|---|---:|---:|---|---:|');
for (const [name, c] of Object.entries(cases)) {
  if (ONLY && !name.includes(ONLY)) continue;
  const n = Math.round(OPS * (c.ops ?? 1));
  let plainArm;
  let monArm;
  try {
    plainArm = await c.make(false);
    monArm = await c.make(true);
  } catch (err) {
    console.log(`| ${name} | skipped: ${err.message} | | | |`);
    continue;
  }
  let tp = null;
  const run = async (monitored) => {
    if (c.shared && monitored) tp = startThreadpoolMonitor(sinks, onError, { probeIntervalMs: 60_000, countOperations: true });
    const t = await cpuOf(n, monitored ? monArm.op : plainArm.op);
    if (tp) tp.stop();
    tp = null;
    return t;
  };
  await cpuOf(Math.min(n, 2000), plainArm.op);
  await run(true);
  const plain = [];
  const monitored = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2) {
      monitored.push(await run(true));
      plain.push(await run(false));
    } else {
      plain.push(await run(false));
      monitored.push(await run(true));
    }
  }
  const observed = waitsObserved();
  await plainArm.close();
  await monArm.close();
  const deltas = plain.map((p, i) => monitored[i] - p);
  const ratios = plain.map((p, i) => monitored[i] / p);
  console.log(
    `| ${name}${observed > 0 || c.shared ? '' : ' (no wait reached the sink: not monitored!)'} | ${q(plain, 0.5).toFixed(2)} | ${q(monitored, 0.5).toFixed(2)} | ${f(q(deltas, 0.5))} (${f(q(deltas, 0.25))} … ${f(q(deltas, 0.75))}) | ${q(ratios, 0.5).toFixed(3)} |`,
  );
}

