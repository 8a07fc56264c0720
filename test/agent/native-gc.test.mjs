// The native GC timer (agent/native/gc.c): GC pauses from V8's GC callbacks, added to the thread's histogram in
// shared memory. It must see the same GCs, with the same durations, as the PerformanceObserver it replaces, on
// the main thread and in workers; stop when closed; leave a thread that exits with it open unharmed; and the
// agent must use it instead of an observer where it loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fixture, runChild } from './helpers/child.mjs';

const require = createRequire(import.meta.url);
const ADDON = require.resolve(`../../agent/dist/native/loopwatch.linux-${process.arch}.node`);
const PROBE = fixture('gc-probe.cjs');
const linux = { skip: process.platform !== 'linux' && 'Linux only' };

function run(args) {
  const r = spawnSync(process.execPath, ['--expose-gc', ...args], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`);
  return r.stdout;
}

function check(r, where) {
  assert.equal(r.source, 'native', `${where}: the native timer loaded`);
  const counts = (x) => x.buckets.reduce((a, b) => a + b, 0);
  assert.ok(counts(r.native.minor) >= 5, `${where}: scavenges seen (${counts(r.native.minor)})`);
  assert.ok(counts(r.native.major) >= 2, `${where}: both forced full collections seen (${counts(r.native.major)})`);
  for (const type of Object.keys(r.native)) {
    const n = r.native[type];
    const o = r.observed[type];
    assert.equal(counts(n), counts(o), `${where}: as many ${type} GCs as the observer`);
    // Two clocks read a few hundred nanoseconds apart: a pause right at a bucket boundary may fall on either side.
    const moved = n.buckets.reduce((d, c, i) => d + Math.abs(c - o.buckets[i]), 0);
    assert.ok(moved <= 2, `${where}: ${type} buckets ${n.buckets} vs the observer's ${o.buckets}`);
    assert.ok(Math.abs(n.sum - o.sum) <= 1e-4 + 1e-5 * counts(n), `${where}: ${type} total ${n.sum} s vs the observer's ${o.sum} s`);
  }
  assert.deepEqual(r.afterClose.native, r.native, `${where}: nothing added once closed`);
  assert.ok(r.afterClose.observedGrew >= 1, `${where}: while GCs went on (${r.afterClose.observedGrew})`);
}

test('main thread: the same GCs and durations as a PerformanceObserver; nothing once closed; exits with one open', linux, () => {
  check(JSON.parse(run([PROBE])), 'main thread');
});

test('a worker times its own GCs, and exits with a timer open; the main thread collects on unharmed', linux, () => {
  const out = run([
    '-e',
    `const { Worker } = require('node:worker_threads');
     const w = new Worker(${JSON.stringify(PROBE)});
     let result;
     w.on('message', (m) => (result = m));
     w.on('exit', (code) => {
       // The worker's isolate is gone with its callbacks removed; the main thread's GCs must not reach them.
       for (let i = 0; i < 3; i++) globalThis.gc();
       let keep = [];
       for (let i = 0; i < 2e5; i++) keep.push({ i });
       keep = null;
       console.log(JSON.stringify({ code, result }));
     });`,
  ]);
  const { code, result } = JSON.parse(out);
  assert.equal(code, 0);
  check(result, 'worker');
});

test('bad arguments throw LOOPWATCH_NATIVE; a collected handle stops its timer', linux, () => {
  const out = run([
    '-e',
    `const b = require(${JSON.stringify(ADDON)});
     const shared = (n) => new Float64Array(new SharedArrayBuffer(n * 8));
     const kinds = (type, block) => Int32Array.from({ length: 32 }, (_, i) => (i === type ? block : -1));
     const none = new Int32Array(32).fill(-1);
     const bad = [
       [],
       // A plain ArrayBuffer could be transferred or shrunk while the callbacks write to it.
       [new Float64Array(26), new Float64Array(11), none],
       [new Int32Array(new SharedArrayBuffer(104)), new Float64Array(11), none],
       [shared(26), new Float64Array(40), none],
       [shared(26), new Float64Array(11), new Int32Array(8)],
       // Block 2 of stride 13 would end at 39 cells: past a region of 26.
       [shared(26), new Float64Array(11), kinds(4, 2)],
       [shared(26), new Float64Array(11), kinds(4, 128)],
     ];
     for (const args of bad) {
       try { b.gcwatch(...args); console.log('no throw', bad.indexOf(args)); } catch (e) { if (e.code !== 'LOOPWATCH_NATIVE') console.log('wrong error', e); }
     }
     for (const w of [{}, 1, undefined]) {
       try { b.ungcwatch(w); console.log('no throw'); } catch (e) { if (e.code !== 'LOOPWATCH_NATIVE') console.log('wrong error', e); }
     }
     const w = b.gcwatch(shared(13), new Float64Array(11), none);
     b.ungcwatch(w);
     b.ungcwatch(w);
     // Handles dropped without ungcwatch: once collected, their finalizers (run after the GC) stop the timers.
     const region = shared(13);
     (() => { for (let i = 0; i < 50; i++) b.gcwatch(region, new Float64Array(11), kinds(4, 0)); })();
     globalThis.gc();
     const counted = region[12] > 0 ? region.slice(0, 12).reduce((a, c) => a + c, 0) : 0;
     setTimeout(() => {
       globalThis.gc();
       const before = [...region];
       for (let i = 0; i < 3; i++) globalThis.gc();
       const unchanged = region.every((v, i) => v === before[i]);
       console.log(counted >= 50 && unchanged ? 'done' : 'counted ' + counted + ', unchanged ' + unchanged + ': ' + region);
     }, 50);`,
  ]);
  assert.equal(out.trim(), 'done');
});

for (const mode of ['native', 'observer']) {
  test(`the agent (${mode === 'native' ? 'native addon' : 'native: false'}) times GC ${mode === 'native' ? 'without' : 'with'} a PerformanceObserver, into v8js.gc.duration`, linux, async (t) => {
    const app = runChild(fixture('gc-agent.cjs'), { args: [mode], execArgv: ['--expose-gc'] });
    t.after(() => app.kill());
    const r = await app.message('result');
    assert.equal(r.gcObservers, mode === 'native' ? 0 : 1, `gc observers: ${r.gcObservers}`);
    assert.ok(r.after >= r.before + 3, `three forced full collections exported: ${r.before} → ${r.after}`);
  });
}
