// Pool-monitoring overhead, per operation, in process (stable on a noisy machine,
// unlike an HTTP benchmark whose ±20 % noise hides sub-percent costs).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/pools.mjs [--rounds 5] [--ops 200000]
//
// For each case, interleaved rounds time N operations with and without monitoring
// (fresh pool each run) and report CPU µs per operation and the difference. The
// difference is then related to the CPU cost of one request in bench/overhead.mjs's
// baseline (~50 µs on the 2-core VM): a request that does one pool acquire pays
// the difference once.
import { createRequire } from 'node:module';
import { stat } from 'node:fs';

const require = createRequire(import.meta.url);
const { monitorPool, startThreadpoolMonitor } = require('../agent/dist/pools/index.js');
const genericPool = require('generic-pool');
const { Pool: TarnPool } = require('tarn');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 5);
const OPS = arg('ops', 200_000);
const REQUEST_CPU_US = 50;

// A sink as cheap as the real one (a few Float64 writes), so the adapter's own cost is what is measured.
const f64 = new Float64Array(64);
const sinks = () => ({
  update(s) {
    f64[0] = s.max;
    f64[1] = s.used;
    f64[2] = s.idle;
    f64[3] = s.pending;
  },
  observeWait(v) {
    f64[4] += v;
  },
  observeUse(v) {
    f64[5] += v;
  },
  error() {
    f64[6]++;
  },
  close() {},
});
const onError = (err) => {
  throw err;
};

const cases = {
  async 'generic-pool acquire+release'(monitored) {
    const pool = genericPool.createPool({ create: async () => ({}), destroy: async () => {} }, { max: 4, min: 4 });
    const h = monitored ? monitorPool(pool, { name: 'bench' }, sinks, onError) : null;
    const t = await cpuOf(OPS, async () => {
      const r = await pool.acquire();
      await pool.release(r);
    });
    h?.detach();
    await pool.drain();
    await pool.clear();
    return t;
  },
  async 'tarn acquire+release'(monitored) {
    const pool = new TarnPool({ create: (cb) => cb(null, {}), destroy: () => {}, min: 0, max: 4 });
    const h = monitored ? monitorPool(pool, { name: 'bench' }, sinks, onError) : null;
    const t = await cpuOf(OPS, async () => {
      const r = await pool.acquire().promise;
      pool.release(r);
    });
    h?.detach();
    await pool.destroy();
    return t;
  },
  async 'fs.stat (threadpool-backed)'(monitored) {
    const tp = monitored ? startThreadpoolMonitor(sinks, onError, { probeIntervalMs: 60_000 }) : null;
    // `stat` was imported before the monitor patched the module; use the live export like most code does.
    const fs = require('node:fs');
    const t = await cpuOf(OPS / 10, () => new Promise((resolve) => fs.stat('/', () => resolve())));
    tp?.stop();
    return t;
  },
};
void stat;

async function cpuOf(n, op) {
  for (let i = 0; i < Math.min(2000, n); i++) await op(); // warm-up
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await op();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n; // µs per op
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`Node ${process.version}; ${ROUNDS} interleaved rounds; ${OPS} ops per run (fs.stat: ${OPS / 10})\n`);
console.log('| operation | plain µs/op | monitored µs/op | added µs/op (rounds min … max) | as share of a 50 µs request |');
console.log('|---|---:|---:|---|---:|');
for (const [name, run] of Object.entries(cases)) {
  const plain = [];
  const monitored = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first so drift does not favour one side.
    if (r % 2) {
      monitored.push(await run(true));
      plain.push(await run(false));
    } else {
      plain.push(await run(false));
      monitored.push(await run(true));
    }
  }
  const deltas = plain.map((p, i) => monitored[i] - p);
  const d = median(deltas);
  console.log(
    `| ${name} | ${median(plain).toFixed(2)} | ${median(monitored).toFixed(2)} | ${d >= 0 ? '+' : ''}${d.toFixed(2)} (${Math.min(...deltas).toFixed(2)} … ${Math.max(...deltas).toFixed(2)}) | ${((d / REQUEST_CPU_US) * 100).toFixed(2)} % |`,
  );
}
