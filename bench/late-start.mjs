// An agent started while the server is already under load: does V8 settle, or keep re-optimising?
//
// Run 17 (docs/performance.md) found that code shape on the per-request path can make V8 abort the optimisation of
// the request subscriber and of node's AsyncContextFrame over and over ("Bailed out due to dependency change"), but
// only when the agent starts after the server has served load — as bench/paired.mjs's toggled agent does, and as an
// app that starts loopwatch late would. Each abort is ~2 ms of a V8 helper thread: +8 % CPU per request. This
// script shows it: a bench/overhead.mjs toggle server under autocannon, the agent switched on after a warm-up, then
// V8's aborted optimisations counted (`--trace-opt`) and each thread's CPU read from /proc in a measured window.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/late-start.mjs [--warmup 3] [--duration 4]
//        [--module agent/dist-old/index.js]   # another build (inside the repo, for its dependencies)
//
// Linux only (per-thread CPU from /proc/<pid>/task/*/schedstat). The server is pinned to the last CPU.

import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const WARMUP = Number(arg('warmup', 3));
const DURATION = Number(arg('duration', 4));
const MODULE = arg('module');

const env = { ...process.env };
if (MODULE) env.LOOPWATCH_BENCH_MODULE = resolve(MODULE);
const child = fork(join(here, 'overhead.mjs'), ['--server', 'toggle', '--handler', 'realistic'], {
  env,
  execArgv: ['--trace-opt'],
  stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
});
let trace = '';
child.stdout.on('data', (d) => (trace += d));
const aborts = () => (trace.match(/aborted (compiling|optimizing)/g) ?? []).length;
const waitFor = (type) =>
  new Promise((res) => {
    const on = (m) => {
      if (m?.type !== type) return;
      child.off('message', on);
      res(m);
    };
    child.on('message', on);
  });
const { url } = await waitFor('ready');
try {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpus().length - 1), String(child.pid)], { stdio: 'ignore' });
} catch {
  console.error('taskset failed: server not pinned');
}

function threads() {
  const out = {};
  for (const t of readdirSync(`/proc/${child.pid}/task`)) {
    try {
      // The main thread's task id is the process id (its name is 'MainThread' on Node 24, 'node' on Node 22).
      const name = t === String(child.pid) ? 'MainThread' : readFileSync(`/proc/${child.pid}/task/${t}/comm`, 'utf8').trim().replace(/\d+$/, '');
      out[name] = (out[name] ?? 0) + Number(readFileSync(`/proc/${child.pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between readdir and read.
    }
  }
  return out;
}
const load = (seconds) => autocannon({ url, connections: 50, duration: seconds });

const rows = [];
for (const state of ['off', 'on']) {
  const toggled = waitFor('toggled');
  child.send(state);
  await toggled;
  await load(WARMUP);
  const a0 = aborts();
  const t0 = threads();
  const r = await load(DURATION);
  const t1 = threads();
  const perReq = (name) => (((t1[name] ?? 0) - (t0[name] ?? 0)) / 1000 / r.requests.total).toFixed(2);
  // V8's platform threads are 'V8Worker' on Node 24 and unnamed ('node') on Node 22: everything but the main thread,
  // loopwatch's watchdog and libuv's threadpool.
  const other = (t) => Object.entries(t).reduce((sum, [name, ns]) => (['MainThread', 'loopwatch-watch', 'libuv-worker'].includes(name) ? sum : sum + ns), 0);
  const helpers = ((other(t1) - other(t0)) / 1000 / r.requests.total).toFixed(2);
  rows.push(`| agent ${state} | ${perReq('MainThread')} | ${helpers} | ${((aborts() - a0) / DURATION).toFixed(1)} |`);
}
child.send('exit');
console.log(`\nNode ${process.versions.node}; ${MODULE ?? 'loopwatch'}; warm-up ${WARMUP} s after each toggle, then ${DURATION} s measured; saturation, 50 connections\n`);
console.log('| state | main thread µs/request | V8 helper threads µs/request | aborted optimisations per second |');
console.log('|---|---:|---:|---:|');
for (const row of rows) console.log(row);
