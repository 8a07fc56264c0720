// The threadpool monitor's wrappers are transparent (name, length, own properties, toString, promisify,
// fs.promises semantics) and stop() removes them all; lifecycle cases run in fresh processes (fixtures/lifecycle.cjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import util from 'node:util';
import fs from 'node:fs';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import dns from 'node:dns';
import { recorder, errorLog } from './helpers/sink.mjs';

const require = createRequire(import.meta.url);
const { startThreadpoolMonitor } = require('../../../agent/dist/pools/index.js');
const ops = require('../../../agent/dist/pools/threadpool-ops.js');
const lifecycle = fileURLToPath(new URL('./fixtures/lifecycle.cjs', import.meta.url));
const self = fileURLToPath(import.meta.url);

/** Every export the monitor may wrap: [label, module object, name]. */
const targets = () => [
  ...ops.CRYPTO_CB.map((n) => [`crypto.${n}`, crypto, n]),
  ...ops.FS_CB.map((n) => [`fs.${n}`, fs, n]),
  ...ops.FS_PROMISES.map((n) => [`fs.promises.${n}`, fs.promises, n]),
  ...ops.ZLIB_CB.map((n) => [`zlib.${n}`, zlib, n]),
  ...ops.DNS_CB.map((n) => [`dns.${n}`, dns, n]),
  ...ops.DNS_CB.map((n) => [`dns.promises.${n}`, dns.promises, n]),
].filter(([, mod, n]) => typeof mod[n] === 'function');

function child(args, nodeArgs = []) {
  const r = spawnSync(process.execPath, [...nodeArgs, lifecycle, ...args], { encoding: 'utf8', timeout: 120_000 });
  const line = r.stdout.trim().split('\n').pop();
  assert.equal(r.status, 0, `child failed: ${r.stderr}\n${line}`);
  const out = JSON.parse(line);
  assert.equal(out.error, undefined, out.error);
  return out;
}

test('every wrapper keeps name, length, own properties and toString; stop() puts every original back', () => {
  const list = targets();
  const originals = list.map(([, mod, n]) => mod[n]);
  const { list: errors, onError } = errorLog();
  const h = startThreadpoolMonitor(recorder().factory, onError, { probeIntervalMs: 1000, countOperations: true });
  let wrapped = 0;
  try {
    list.forEach(([label, mod, n], i) => {
      const w = mod[n];
      const o = originals[i];
      assert.notEqual(w, o, `${label} wrapped (zlib and dns are loaded in this process)`);
      wrapped++;
      assert.equal(w.name, o.name, `${label}.name`);
      assert.equal(w.length, o.length, `${label}.length`);
      assert.equal(String(w), String(o), `${label}: String() shows the original's source`);
      assert.equal(w.toString(), Function.prototype.toString.call(o));
      for (const key of Reflect.ownKeys(o)) {
        if (key === 'prototype') continue;
        assert.equal(w[key], o[key], `${label}[${String(key)}] copied`);
      }
    });
    assert.equal(h.stats().wrapped, wrapped, 'stats().wrapped counts exactly these');
  } finally {
    h.stop();
  }
  list.forEach(([label, mod, n], i) => assert.equal(mod[n], originals[i], `${label} restored`));
  assert.equal(h.stats().wrapped, 0);
  assert.deepEqual(errors, []);
});

test('util.promisify: custom implementations and object results are kept; fs.promises results and errors unchanged', async () => {
  const customExists = fs.exists[util.promisify.custom];
  const customReadFile = fs.readFile[util.promisify.custom];
  const h = startThreadpoolMonitor(recorder().factory, errorLog().onError, { probeIntervalMs: 1000, countOperations: true });
  try {
    assert.equal(fs.exists[util.promisify.custom], customExists);
    assert.equal(fs.readFile[util.promisify.custom], customReadFile);
    assert.equal(await util.promisify(fs.exists)(self), true);
    assert.equal(await util.promisify(fs.exists)('/nonexistent/lw'), false);
    assert.deepEqual(await util.promisify(fs.readFile)(self), fs.readFileSync(self));
    const kp = await util.promisify(crypto.generateKeyPair)('ed25519');
    assert.ok(kp.publicKey && kp.privateKey, 'generateKeyPair keeps its { publicKey, privateKey } result');
    const ls = await util.promisify(dns.lookupService)('127.0.0.1', 22);
    assert.equal(typeof ls.hostname, 'string', 'lookupService keeps { hostname, service }');
    const p = fs.promises.readFile(self, 'utf8');
    assert.ok(p instanceof Promise, 'fs.promises returns a native Promise');
    assert.equal(await p, fs.readFileSync(self, 'utf8'));
    const fh = await fs.promises.open(self);
    assert.equal(typeof fh.close, 'function', 'fs.promises.open resolves a FileHandle');
    await fh.close();
    const err = await fs.promises.stat('/nonexistent/lw').catch((e) => e);
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.syscall, 'stat');
    assert.ok(err instanceof Error);
    // fs.promises functions are async: bad arguments reject (as without the wrapper), they do not throw.
    await assert.rejects(fs.promises.readFile(), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(h.stats().inFlight, 0);
  } finally {
    h.stop();
  }
});

test('a wrapper someone captured before stop() passes straight through afterwards and counts nothing', async () => {
  const h = startThreadpoolMonitor(recorder().factory, errorLog().onError, { probeIntervalMs: 1000, countOperations: true });
  const heldStat = fs.stat;
  const heldPromise = fs.promises.stat;
  const done = new Promise((res) => heldStat(self, res));
  assert.equal(h.stats().inFlight, 1, 'counted while running');
  await done;
  h.stop();
  const again = new Promise((res, rej) => heldStat(self, (e, st) => (e ? rej(e) : res(st))));
  const againP = heldPromise(self);
  assert.equal(h.stats().inFlight, 0, 'not counted after stop');
  assert.ok((await again).isFile());
  assert.ok((await againP).isFile());
});

test('an fs.promises rejection nobody handles is still an unhandledRejection; a handled one is not', () => {
  const r = child(['unhandled']);
  assert.deepEqual(r.seen, ['ENOENT']);
  assert.deepEqual(r.errors, []);
});

test('100 start/stop cycles: originals back after every stop, module hook gone, RSS bounded', (t) => {
  const r = child(['cycles'], ['--expose-gc']);
  const pristine = child(['pristine']);
  const grewMb = (r.rssLast - r.rssFirst) / 1e6;
  t.diagnostic(`RSS after cycle 1 ${(r.rssFirst / 1e6).toFixed(1)} MB, after cycle 100 ${(r.rssLast / 1e6).toFixed(1)} MB (+${grewMb.toFixed(1)} MB)`);
  assert.deepEqual(r.errors, []);
  assert.equal(r.wrappedWhileRunning, 100);
  assert.equal(r.notRestored, 0, 'every stop() restored fs, fs.promises, crypto and dns');
  assert.equal(r.zlibLoadedBefore, false, 'precondition: zlib was never loaded during the cycles');
  assert.equal(r.gzipSource, pristine.gzipSource, 'zlib loaded after the last stop() is not wrapped: the load hook was removed');
  // Bound: syncBuiltinESMExports (twice per cycle) raises RSS by ≈ 8–11 MB over its first ~50 calls and then stays
  // flat (docs/pools.md); more than that over 100 cycles would be a leak of the monitor's own.
  assert.ok(grewMb < 14, `RSS grew ${grewMb.toFixed(1)} MB over 100 cycles`);
});

test('by default nothing is wrapped and no module hook is installed; the queue-wait probe still runs', async () => {
  const list = targets();
  const originals = list.map(([, mod, n]) => mod[n]);
  const { rec, factory } = recorder();
  const { list: errors, onError } = errorLog();
  const h = startThreadpoolMonitor(factory, onError, { probeIntervalMs: 10 });
  try {
    list.forEach(([label, mod, n], i) => assert.equal(mod[n], originals[i], `${label} not wrapped by default`));
    assert.equal(h.stats().wrapped, 0);
    assert.deepEqual(h.stats().unloaded, [], 'no deferred builtins, so no load hook');
    const deadline = Date.now() + 10_000;
    while (rec.waits.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(rec.waits.length >= 3, `probe waits observed (${rec.waits.length})`);
    assert.equal(rec.last.max, h.stats().size);
  } finally {
    h.stop();
  }
  assert.deepEqual(errors, []);
});
