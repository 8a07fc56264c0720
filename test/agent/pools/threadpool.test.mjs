import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import util from 'node:util';
import dns from 'node:dns';
import fs from 'node:fs';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { recorder, errorLog, sleep } from './helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { startThreadpoolMonitor } = require('../../../agent/dist/pools/index.js');
const { threadpoolSize } = require('../../../agent/dist/pools/threadpool-size.js');
const child = fileURLToPath(new URL('./helpers/threadpool-child.mjs', import.meta.url));

function runChild(scenario, env) {
  const r = spawnSync(process.execPath, [child, scenario], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('threadpoolSize parses UV_THREADPOOL_SIZE like libuv', () => {
  assert.equal(threadpoolSize(undefined), 4);
  assert.equal(threadpoolSize('8'), 8);
  assert.equal(threadpoolSize(' 16abc'), 16);
  assert.equal(threadpoolSize('0'), 1);
  assert.equal(threadpoolSize('abc'), 1);
  assert.equal(threadpoolSize(''), 1);
  assert.equal(threadpoolSize('5000'), 1024);
  assert.equal(threadpoolSize('-1'), 1024);
});

test('16 then 32 concurrent 200 ms pbkdf2 on 4 threads: used = 4, pending > 0, wait grows; idle: pending 0, wait ≈ 0', (t) => {
  const r = runChild('saturation', { UV_THREADPOOL_SIZE: '4' });
  t.diagnostic(
    `libuv: idle wait median ${(r.idle.medianWait * 1e3).toFixed(3)} ms; 16 jobs: peak pending ${r.b16.peak.pending}, max wait ${r.b16.maxWait.toFixed(3)} s; 32 jobs: peak pending ${r.b32.peak.pending}, max wait ${r.b32.maxWait.toFixed(3)} s; probe baseline ${(r.stats.probeBaseline * 1e6).toFixed(0)} µs`,
  );
  assert.equal(r.kind, 'libuv');
  assert.equal(r.name, 'libuv');
  assert.deepEqual(r.errors, []);
  // No load.
  assert.equal(r.idle.max, 4);
  assert.equal(r.idle.pending, 0);
  assert.equal(r.idle.used, 0);
  assert.ok(r.idle.probes >= 5, `probes ran while idle (${r.idle.probes})`);
  // Median, not max: on a loaded CI machine one probe can be descheduled.
  assert.ok(r.idle.medianWait < 0.005, `idle probe wait ≈ 0 (median ${r.idle.medianWait}s, max ${r.idle.maxWait}s)`);
  // Load.
  for (const b of [r.b16, r.b32]) {
    assert.equal(b.peak.used, 4, `used = 4 under ${b.n} jobs`);
    assert.equal(b.peak.pending, b.n - 4, `pending = ${b.n - 4} at peak`);
    // A probe submitted during the burst queues behind (almost) all of it:
    // ≥ half the burst's duration, whatever a job costs on this machine.
    assert.ok(b.maxWait > (b.elapsedMs / 1000) * 0.5, `queue wait under ${b.n} jobs: ${b.maxWait}s (burst took ${b.elapsedMs} ms)`);
    assert.equal(b.after.pending, 0);
    assert.equal(b.after.used, 0);
  }
  // Wait grows with load. This VM's CPU speed drifts between bursts, so the
  // wait is compared in units of one wave of jobs (burst time / (n / 4)):
  // ideally ≈ 3 waves for 16 jobs and ≈ 7 for 32.
  const waves = (b) => b.maxWait / (b.elapsedMs / 1000 / (b.n / 4));
  assert.ok(
    waves(r.b32) > waves(r.b16) * 1.5 && r.b32.maxWait > r.b16.maxWait,
    `wait grows with load: ${r.b16.maxWait}s (${waves(r.b16).toFixed(1)} waves) → ${r.b32.maxWait}s (${waves(r.b32).toFixed(1)} waves)`,
  );
  // Back to idle.
  assert.equal(r.idleAfter.pending, 0);
  assert.ok(r.idleAfter.medianWait < 0.005, `wait back to ≈ 0 (median ${r.idleAfter.medianWait}s)`);
  assert.equal(r.stats.inFlight, 0);
  assert.equal(r.closed, true, 'stop() closes the sink');
});

test('fs goes through the threadpool on this Node, with and without UV_USE_IO_URING=1', () => {
  for (const io of [undefined, '1']) {
    const env = { UV_THREADPOOL_SIZE: '1' };
    if (io) env.UV_USE_IO_URING = io;
    const r = runChild('io_uring', env);
    // The fs op completed only after the ~200 ms job on the only thread:
    // it queued behind it (io_uring would have completed it in < 1 ms).
    for (const op of ['stat', 'read']) {
      const { fsMs, jobMs } = r.fsMs[op];
      assert.ok(jobMs > 50 && fsMs >= jobMs - 1, `fs.${op} waited for the pool (uv ${r.uv}, UV_USE_IO_URING=${io}): fs ${fsMs} ms, job ${jobMs} ms`);
    }
  }
});

test('wrapped built-ins behave as before and counts return to 0', async () => {
  const { rec, factory } = recorder();
  const { list, onError } = errorLog();
  const origLookup = dns.lookup;
  const h = startThreadpoolMonitor(factory, onError, { probeIntervalMs: 50, countOperations: true });
  try {
    assert.notEqual(dns.lookup, origLookup, 'dns.lookup wrapped');
    // util.promisify keeps dns.lookup's { address, family } result (customPromisifyArgs copied).
    const r = await util.promisify(dns.lookup)('localhost');
    assert.equal(typeof r.address, 'string');
    assert.ok(r.family === 4 || r.family === 6);
    // fs.read via promisify keeps { bytesRead, buffer }.
    const fd = fs.openSync(fileURLToPath(import.meta.url), 'r');
    const rr = await util.promisify(fs.read)(fd, Buffer.alloc(8), 0, 8, 0);
    fs.closeSync(fd);
    assert.equal(rr.bytesRead, 8);
    // Rejections still reach the caller.
    await assert.rejects(fs.promises.readFile('/nonexistent/loopwatch'), { code: 'ENOENT' });
    await assert.rejects(util.promisify(fs.stat)('/nonexistent/loopwatch'), { code: 'ENOENT' });
    // Synchronous validation errors still throw, and are not counted.
    assert.throws(() => crypto.pbkdf2('a', 'b', -1, 32, 'sha256', () => {}));
    assert.throws(() => fs.stat(42, () => {}));
    // Composite operations are counted once: in flight never exceeds the calls made.
    let maxFs = 0;
    const tmp = fs.mkdtempSync('/tmp/lw-');
    const sampler = setInterval(() => (maxFs = Math.max(maxFs, h.stats().byFamily.fs)), 0);
    await Promise.all([
      fs.promises.writeFile(`${tmp}/a`, Buffer.alloc(1 << 20)),
      new Promise((res) => fs.writeFile(`${tmp}/b`, Buffer.alloc(1 << 20), res)),
    ]);
    await Promise.all([
      fs.promises.readFile(`${tmp}/a`),
      new Promise((res) => fs.readFile(`${tmp}/b`, res)),
      new Promise((res) => fs.appendFile(`${tmp}/b`, 'x', res)),
    ]);
    clearInterval(sampler);
    fs.rmSync(tmp, { recursive: true });
    assert.ok(maxFs <= 3, `fs in flight ≤ calls made (${maxFs})`);
    await new Promise((res) => zlib.gzip(Buffer.alloc(1 << 16), res));
    await new Promise((res) => crypto.randomBytes(16, res));
    await sleep(120);
    const s = h.stats();
    assert.equal(s.inFlight, 0, JSON.stringify(s));
    assert.deepEqual(s.byFamily, { fs: 0, crypto: 0, zlib: 0, dns: 0 });
    assert.equal(rec.last.pending, 0);
    assert.ok(s.probes > 0);
    assert.deepEqual(list, []);
    // Second monitor is refused, not doubled.
    const h2 = startThreadpoolMonitor(recorder().factory, onError);
    assert.equal(list.length, 1);
    h2.stop();
  } finally {
    h.stop();
  }
  assert.equal(dns.lookup, origLookup, 'stop() restores the originals');
  assert.equal(rec.closed, true);
});

test('a throwing sink goes to onError, never into the app', async () => {
  const { list, onError } = errorLog();
  const bad = () => {
    throw new Error('sink broken');
  };
  const factory = () => ({ update: bad, observeWait: bad, observeUse: bad, error: bad, close: bad });
  const h = startThreadpoolMonitor(factory, onError, { probeIntervalMs: 10 });
  await new Promise((res, rej) => crypto.pbkdf2('a', 'b', 1, 8, 'sha256', (e) => (e ? rej(e) : res())));
  await sleep(60);
  h.stop();
  assert.ok(list.some((e) => /sink.update/.test(e.where)));
  assert.ok(list.some((e) => /sink.observeWait/.test(e.where)));
  assert.ok(list.some((e) => /sink.close/.test(e.where)));
});
