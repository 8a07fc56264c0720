// The native loop meter (agent/native/meter.c): each event-loop iteration's busy span, measured at the prepare
// phase. Blocks are made on purpose, with wide margins; what is asserted is that a block's iteration is measured
// at least as long as the block and not much longer, and that idle time is not counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const NATIVE_JS = require.resolve('../../agent/dist/runtime/native.js');
const { loadNative } = require(NATIVE_JS);
const linux = { skip: process.platform !== 'linux' && 'Linux only' };

// Runs in a thread: a 150 ms block in a timer callback, then 300 ms idle; reports what the meter saw (cells: see
// agent/native/meter.c).
const PROBE = `
const { loadNative } = require(${JSON.stringify(NATIVE_JS)});
const { performance } = require('node:perf_hooks');
const m = loadNative().native.createMeter();
const c = m.cells;
c[4] = 100; // the threshold: iterations that reach it add up in c[2], from c[3]
const hrMs = () => Number(process.hrtime.bigint()) / 1e6;
module.exports = new Promise((resolve) => {
  setTimeout(() => {
    const began = hrMs();
    const t = performance.now();
    while (performance.now() - t < 150);
    setTimeout(() => {
      const block = { longest: c[2], startEarly: began - c[3] };
      c[2] = 0;
      c[4] = 0; // every iteration adds up now: 300 ms of mostly waiting must add up to little
      setTimeout(() => {
        const idle = c[2];
        m.close();
        m.close();
        resolve({ block, idle });
      }, 300);
    }, 20);
  }, 20);
});
`;

function check({ block, idle }, where) {
  assert.ok(block.longest >= 149, `${where}: the block's iteration is at least the block (${block.longest} ms)`);
  assert.ok(block.longest < 150 + 60, `${where}: and not much more (${block.longest} ms)`);
  assert.ok(block.startEarly >= 0 && block.startEarly < 60, `${where}: it began at most a little before the block (${block.startEarly} ms)`);
  assert.ok(idle < 50, `${where}: 300 ms mostly idle adds up to little busy time (${idle} ms)`);
}

test('the main thread: a 150 ms block is one iteration of ~150 ms; idle waiting is not counted; close is idempotent', linux, async () => {
  const mod = { exports: {} };
  new Function('module', 'require', PROBE)(mod, require);
  check(await mod.exports, 'main thread');
});

test('a worker thread measures its own loop, and exits by itself with a meter running', linux, async () => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const module = { exports: {} };
     ${PROBE}
     module.exports.then((r) => {
       parentPort.postMessage(r);
       // A second meter left running: it must not keep the thread alive.
       require(${JSON.stringify(NATIVE_JS)}).loadNative().native.createMeter();
     });`,
    { eval: true },
  );
  const [result] = await once(worker, 'message');
  check(result, 'worker thread');
  const [code] = await once(worker, 'exit');
  assert.equal(code, 0);
});

test('a process with a meter running exits on its own; a collected handle and bad arguments do no harm', linux, () => {
  const r = spawnSync(
    process.execPath,
    [
      '--expose-gc',
      '-e',
      `const { loadNative } = require(${JSON.stringify(NATIVE_JS)});
       const n = loadNative().native;
       n.createMeter();
       for (let i = 0; i < 100; i++) n.createMeter();
       globalThis.gc();
       const b = require(${JSON.stringify(require.resolve('../../agent/dist/native/loopwatch.linux-' + process.arch + '.node'))});
       for (const bad of [[], [new Float64Array(4)], [new Int32Array(8)], [{}]]) {
         try { b.meter(...bad); console.log('no throw'); } catch (e) { if (e.code !== 'LOOPWATCH_NATIVE') console.log('wrong error', e); }
       }
       try { b.unmeter({}); console.log('no throw'); } catch (e) { if (e.code !== 'LOOPWATCH_NATIVE') console.log('wrong error', e); }
       setTimeout(() => { globalThis.gc(); console.log('done'); }, 50);`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
});

test('the addon exposes the meter', linux, () => {
  const loaded = loadNative();
  assert.ok('native' in loaded, loaded.error);
  assert.equal(typeof loaded.native.createMeter, 'function');
});
