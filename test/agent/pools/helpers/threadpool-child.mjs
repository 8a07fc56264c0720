// Runs in a child process so UV_THREADPOOL_SIZE (fixed at first threadpool
// use) can be set per scenario. Prints one JSON line with the results.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { recorder, sleep } from './sink.mjs';

const require = createRequire(import.meta.url);
const { startThreadpoolMonitor } = require('../../../../agent/dist/pools/index.js');
const scenario = process.argv[2];

function calibrate(targetMs) {
  // Synchronous pbkdf2 runs on the main thread: measure cost per iteration
  // (fastest of 3 runs of ≥ 50 ms, so a noisy moment does not shrink jobs).
  let iter = 20000;
  while (true) {
    const t = performance.now();
    crypto.pbkdf2Sync('pw', 'salt', iter, 32, 'sha256');
    if (performance.now() - t > 50) break;
    iter *= 2;
  }
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    crypto.pbkdf2Sync('pw', 'salt', iter, 32, 'sha256');
    best = Math.min(best, performance.now() - t);
  }
  return Math.round((iter * targetMs) / best);
}

async function burst(n, iterations, rec, handle) {
  const peak = { used: 0, pending: 0, inFlight: 0 };
  const waitsBefore = rec.waits.length;
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const s = handle.stats();
    if (s.inFlight > peak.inFlight) peak.inFlight = s.inFlight;
    if (rec.last.used > peak.used) peak.used = rec.last.used;
    if (rec.last.pending > peak.pending) peak.pending = rec.last.pending;
  }, 5);
  await Promise.all(
    Array.from({ length: n }, () => new Promise((res, rej) => crypto.pbkdf2('pw', 'salt', iterations, 32, 'sha256', (e) => (e ? rej(e) : res())))),
  );
  const elapsed = performance.now() - t0;
  clearInterval(sampler);
  // Let the probe that was queued behind the burst come back.
  await sleep(100);
  const waits = rec.waits.slice(waitsBefore);
  return { n, elapsedMs: elapsed, peak, maxWait: Math.max(...waits), probes: waits.length, after: { ...rec.last } };
}

if (scenario === 'saturation') {
  const { rec, factory } = recorder();
  const errors = [];
  const handle = startThreadpoolMonitor(factory, (e, w) => errors.push(`${w}: ${e}`), { probeIntervalMs: 20, countOperations: true });
  await sleep(400);
  const idleWaits = rec.waits.slice();
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const idle = { ...rec.last, maxWait: Math.max(...idleWaits), medianWait: med(idleWaits), probes: idleWaits.length };
  const iterations = calibrate(200);
  const b16 = await burst(16, iterations, rec, handle);
  const b32 = await burst(32, iterations, rec, handle);
  await sleep(200);
  const idleWaits2 = rec.waits.slice(-5);
  const stats = handle.stats();
  handle.stop();
  console.log(JSON.stringify({ name: rec.name, kind: rec.kind, idle, b16, b32, idleAfter: { ...rec.last, maxWait: Math.max(...idleWaits2), medianWait: med(idleWaits2) }, stats, errors, closed: rec.closed }));
} else if (scenario === 'io_uring') {
  // UV_THREADPOOL_SIZE=1: a 200 ms pbkdf2 occupies the only thread; an fs
  // operation submitted right after waits for it iff fs uses the threadpool.
  const iterations = calibrate(200);
  const out = {};
  for (const op of ['stat', 'read']) {
    const fd = fs.openSync(new URL(import.meta.url), 'r');
    const t0 = performance.now();
    const p1 = new Promise((r) => crypto.pbkdf2('pw', 'salt', iterations, 32, 'sha256', () => r(performance.now() - t0)));
    const p2 = new Promise((r) => {
      if (op === 'stat') fs.stat(new URL(import.meta.url), () => r(performance.now() - t0));
      else fs.read(fd, Buffer.alloc(16), 0, 16, 0, () => r(performance.now() - t0));
    });
    const [jobMs, fsMs] = await Promise.all([p1, p2]);
    fs.closeSync(fd);
    out[op] = { fsMs, jobMs };
  }
  console.log(JSON.stringify({ uv: process.versions.uv, env: process.env.UV_USE_IO_URING ?? null, fsMs: out }));
}
