// Cost of the threadpool monitor's operation wrappers, per call, in process.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/pools-wrappers.mjs [--pairs 30] [--calls 2000]
//
// The original and the wrapped function are both held (captured before and after startThreadpoolMonitor with the
// agent's real shared-memory sinks), so the two arms run in one process, interleaved: each pair is a block of
// `calls` sequential calls through one, then through the other (order flipped every pair). Measured per call:
// wall time (what the caller waits) and the main thread's CPU time (process.threadCpuUsage: the wrapper's own
// work, not the threadpool's). Reported per case: medians, and the wrapped/plain ratio and the added µs as a mean
// over pairs with a 95 % confidence interval (t distribution; the ratio's interval from the mean of log ratios).
// Also: the time of one module.syncBuiltinESMExports() and of a start()+stop() of the monitor.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import moduleMod from 'node:module';
import dns from 'node:dns';

const require = createRequire(import.meta.url);
const { startThreadpoolMonitor } = require('../agent/dist/pools/index.js');
const { SeriesStore, SeriesRegistry } = require('../agent/dist/metrics/store.js');
const { poolSinkFactory } = require('../agent/dist/metrics/pool-sink.js');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const PAIRS = arg('pairs', 30);
const CALLS = arg('calls', 2000);
const file = fileURLToPath(import.meta.url);
const input = crypto.randomBytes(1024);

const plain = { stat: fs.stat, randomBytes: crypto.randomBytes, deflate: zlib.deflate, pstat: fs.promises.stat, lookup: dns.lookup, plookup: dns.promises.lookup };
const sinks = poolSinkFactory(new SeriesStore('bench', new SeriesRegistry(), () => {}), () => {});
const onError = (err, where) => {
  console.error('monitor error', where, err);
  process.exit(1);
};
const handle = startThreadpoolMonitor(sinks, onError, { probeIntervalMs: 1000, countOperations: true });
const wrapped = { stat: fs.stat, randomBytes: crypto.randomBytes, deflate: zlib.deflate, pstat: fs.promises.stat, lookup: dns.lookup, plookup: dns.promises.lookup };
for (const k of Object.keys(plain)) if (plain[k] === wrapped[k]) throw new Error(`${k} was not wrapped`);

// Each case: run(fn, n, done) makes n sequential calls of fn (the next one from the previous one's callback).
const chain = (call) => (fn, n, done) => {
  let left = n;
  const next = (err) => {
    if (err) throw err;
    if (left-- === 0) return done();
    call(fn, next);
  };
  next(null);
};
const cases = {
  'fs.stat': chain((fn, cb) => fn(file, cb)),
  'crypto.randomBytes(32)': chain((fn, cb) => fn(32, cb)),
  'zlib.deflate(1 KiB)': chain((fn, cb) => fn(input, cb)),
  'fs.promises.stat': async (fn, n, done) => {
    for (let i = 0; i < n; i++) await fn(file);
    done();
  },
  // An IP literal is answered on the next tick without a threadpool job: what is left is the wrapper itself
  // (counting in and out through the real sinks) on top of a ~1 µs call, so its cost is resolved far more
  // precisely than against the 30–100 µs of a real threadpool round trip.
  'dns.lookup(IP literal)': chain((fn, cb) => fn('127.0.0.1', cb)),
  'dns.promises.lookup(IP literal)': async (fn, n, done) => {
    for (let i = 0; i < n; i++) await fn('127.0.0.1');
    done();
  },
};
const keyOf = {
  'fs.stat': 'stat',
  'crypto.randomBytes(32)': 'randomBytes',
  'zlib.deflate(1 KiB)': 'deflate',
  'fs.promises.stat': 'pstat',
  'dns.lookup(IP literal)': 'lookup',
  'dns.promises.lookup(IP literal)': 'plookup',
};

function block(run, fn, calls) {
  return new Promise((resolve) => {
    const c0 = process.threadCpuUsage();
    const t0 = performance.now();
    run(fn, calls, () => {
      const wall = (performance.now() - t0) * 1000;
      const c = process.threadCpuUsage(c0);
      resolve({ wall: wall / calls, cpu: (c.user + c.system) / calls });
    });
  });
}

// Two-sided 95 % t quantiles by degrees of freedom (≥ 30: 2.04 … 1.96).
const T95 = [0, 12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.2, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.1, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05];
const tq = (df) => (df < T95.length ? T95[df] : 2.0);
function meanCi(xs) {
  const n = xs.length;
  const m = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
  const h = (tq(n - 1) * sd) / Math.sqrt(n);
  return [m, m - h, m + h];
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (x, d = 2) => x.toFixed(d);

console.log(`node ${process.version}, ${PAIRS} pairs × ${CALLS} sequential calls per arm (IP-literal lookups: 200×), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`);
console.log('| call | plain wall µs | wrapped wall µs | wall ratio (95 % CI) | added wall µs (95 % CI) | plain CPU µs | wrapped CPU µs | CPU ratio (95 % CI) | added CPU µs (95 % CI) |');
console.log('|---|---:|---:|---|---|---:|---:|---|---|');
for (const [name, run] of Object.entries(cases)) {
  const k = keyOf[name];
  // The cheap no-threadpool calls run 200× as many per block, so a block is long enough for the thread CPU clock.
  const calls = name.includes('IP literal') ? CALLS * 200 : CALLS;
  await block(run, plain[k], calls); // warm-up both arms
  await block(run, wrapped[k], calls);
  const P = [];
  const W = [];
  for (let i = 0; i < PAIRS; i++) {
    if (i % 2 === 0) {
      P.push(await block(run, plain[k], calls));
      W.push(await block(run, wrapped[k], calls));
    } else {
      W.push(await block(run, wrapped[k], calls));
      P.push(await block(run, plain[k], calls));
    }
  }
  const row = [name];
  for (const m of ['wall', 'cpu']) {
    // A block shorter than the thread CPU clock's resolution reads 0: no ratio then.
    const ratio = P.some((p) => !(p[m] > 0)) ? [NaN, NaN, NaN] : meanCi(P.map((p, i) => Math.log(W[i][m] / p[m]))).map(Math.exp);
    const added = meanCi(P.map((p, i) => W[i][m] - p[m]));
    row.push(f(median(P.map((p) => p[m]))), f(median(W.map((w) => w[m]))));
    row.push(`${f(ratio[0], 3)} (${f(ratio[1], 3)} … ${f(ratio[2], 3)})`, `${f(added[0], 3)} (${f(added[1], 3)} … ${f(added[2], 3)})`);
  }
  console.log(`| ${row.join(' | ')} |`);
}
const s = handle.stats();
if (s.inFlight !== 0) throw new Error(`in flight after the bench: ${s.inFlight}`);
handle.stop();

// Process-wide costs paid per start()/stop() (and per lazily wrapped zlib/dns load).
const timeIt = (fn, n) => {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t0) * 1000) / n;
};
const syncUs = timeIt(() => moduleMod.syncBuiltinESMExports(), 200);
const cycleUs = timeIt(() => startThreadpoolMonitor(sinks, onError, { countOperations: true }).stop(), 50);
const cycleNoCountUs = timeIt(() => startThreadpoolMonitor(sinks, onError, { countOperations: false }).stop(), 50);
console.log(`\nsyncBuiltinESMExports(): ${f(syncUs, 1)} µs per call; start()+stop(): ${f(cycleUs, 1)} µs counting, ${f(cycleNoCountUs, 1)} µs with countOperations: false`);
