// Where the agent's own CPU goes on the event loop: samples the main thread of a saturated server (bench/overhead.mjs's
// server, default agent) with Linux `perf` and counts the samples whose call stack passes through the agent.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/direct.mjs [--rounds 3] [--warmup 20]
//        [--duration 20] [--connections 50] [--variant loopwatch|baseline] [--hz 999] [--all-threads]
//
// Why: the comparisons (bench/paired.mjs, bench/versus.mjs) measure the agent's whole effect, direct and indirect
// (caches, JIT decisions, heap layout), but to ±0.5 % at best on this VM. A sampling profile of one process cannot
// see the indirect part, but it resolves the direct part to a few hundredths of a percent and says which component
// it is. Each round is a fresh server process: warmed up under load for --warmup seconds (the heartbeat's functions,
// called 20 times a second, are compiled by V8's optimising tiers only after a few hundred calls), then sampled for
// --duration seconds while the load continues. The server runs without the bench's own GC observer
// (--no-gc-time), so Node's GC-observer machinery sampled is there for the agent alone.
//
// A sample counts for the first of these its stack contains, from the outermost frame in:
//   - an agent JavaScript frame (agent/dist/…): the component is the outermost such frame's file
//     (heartbeat/monitor.js: the heartbeat with its hooks; heartbeat/gc.js: the GC observer's callback where the addon is
//     not used; …);
//   - the agent's addon (loopwatch.<platform>.node): the loop meter's prepare hook, the native deadline, the GC
//     timer's callbacks;
//   - Node's performance-observer code (node:internal/perf/observe…, node::performance::…): GC entries made and
//     dispatched for the agent's observer where it uses one (not node:http's per-request check whether 'http'
//     entries are observed, which runs with or without an observer).
// --all-threads also samples the server's other threads and reports their CPU per request by what they were doing:
// V8's GC helpers (parallel scavenge, concurrent marking, sweeping), V8's compiler, the agent's JavaScript (the
// watchdog thread), the addon, the rest (libuv's threadpool, the kernel switching threads). Run it with
// --variant baseline too: off the main thread nothing is the agent's except its own frames, so the comparison of the
// two is the agent's share there (fresh processes: differences of a few hundredths of a µs are noise).
// Requires `perf` (Debian: linux-perf) and permission to profile the server (root, or kernel.perf_event_paranoid ≤ 1).
import { execFileSync, fork, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 3));
const WARMUP = Number(arg('warmup', 20));
const DURATION = Number(arg('duration', 20));
const CONNECTIONS = Number(arg('connections', 50));
const VARIANT = arg('variant', 'loopwatch');
const HZ = Number(arg('hz', 999));
const ALL_THREADS = process.argv.includes('--all-threads');

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench/direct.mjs needs Linux perf on the PATH (Debian: apt-get install linux-perf)');
  process.exit(2);
}

/** Component of one sample's stack (frames innermost first), or undefined when the agent is not on it. */
function classify(frames) {
  let agentFile;
  let addon = false;
  let observer = false;
  for (const f of frames) {
    const m = /\/agent\/dist\/([\w/.-]+\.js)/.exec(f);
    if (m) agentFile = m[1]; // keeps the outermost
    else if (/loopwatch\.[\w-]+\.node/.test(f)) addon = true;
    // node:http asks whether anyone observes 'http' entries on every request (hasObserver → getObserverType),
    // with or without an observer: not the agent's.
    else if (/node:internal\/perf\/|node::performance::/.test(f) && !/getObserverType|hasObserver/.test(f)) observer = true;
  }
  if (agentFile) return `agent JS: ${agentFile}`;
  if (addon) return 'addon (loop meter, deadline, GC timer)';
  if (observer) return "Node's GC observer machinery";
  return undefined;
}

/** What a sample of a thread other than the main one was doing (frames innermost first). */
function classifyOffMain(frames) {
  const stack = frames.join('\n');
  if (/\/agent\/dist\//.test(stack)) return "agent JS (the watchdog thread)";
  if (/loopwatch\.[\w-]+\.node/.test(stack)) return 'addon';
  if (/Scaveng|Marking|Marker|Sweep|Evacuat|MarkCompact|MinorGC|heap::|Heap::|GCTracer/.test(stack)) return "V8's GC helpers";
  if (/compiler::|maglev::|Maglev|Turbofan|turboshaft|OptimizedCompilationJob|BackgroundCompile/.test(stack)) return "V8's compiler";
  return 'other (threadpool, thread switches)';
}

function startServer() {
  const child = fork(join(here, 'overhead.mjs'), ['--server', VARIANT, '--no-gc-time'], {
    execArgv: ['--perf-basic-prof-only-functions', '--interpreted-frames-native-stack'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const last = cpus().length - 1;
  execFileSync('taskset', ['-a', '-p', '-c', String(last), String(child.pid)], { stdio: 'ignore' });
  if (last > 0) execFileSync('taskset', ['-a', '-p', '-c', `0-${last - 1}`, String(process.pid)], { stdio: 'ignore' });
  const waitFor = (type) => new Promise((resolve) => child.on('message', (m) => m?.type === type && resolve(m)));
  return {
    child,
    ready: waitFor('ready'),
    stats: () => {
      const p = waitFor('stats');
      child.send('stats');
      return p;
    },
  };
}

const load = (url, seconds) =>
  new Promise((resolve, reject) => autocannon({ url, connections: CONNECTIONS, duration: seconds }, (e, r) => (e ? reject(e) : resolve(r))));

async function round(dir) {
  const srv = startServer();
  const { url } = await srv.ready;
  try {
    await load(url, WARMUP);
    const data = join(dir, 'perf.data');
    const loading = load(url, DURATION + 2);
    const s0 = await srv.stats();
    // -p follows every thread of the process (and those it starts meanwhile); -t only the main one.
    const target = ALL_THREADS ? ['-p', String(srv.child.pid)] : ['-t', String(srv.child.pid)];
    const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(HZ), '-g', ...target, '-o', data, '--', 'sleep', String(DURATION)], { stdio: 'ignore' });
    const code = await new Promise((r) => perf.on('exit', r));
    const s1 = await srv.stats();
    await loading;
    if (code !== 0) throw new Error(`perf record exited with ${code}`);
    const script = execFileSync('perf', ['script', '-i', data, '-F', 'tid,ip,sym,dso'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const by = new Map();
    const offMain = new Map();
    let total = 0;
    for (const sample of script.split('\n\n')) {
      const [head, ...frames] = sample.trim().split('\n').filter(Boolean);
      if (!head) continue;
      // The first line of a sample is its thread id.
      if (Number(head.trim()) !== srv.child.pid) {
        const c = classifyOffMain(frames);
        offMain.set(c, (offMain.get(c) ?? 0) + 1);
        continue;
      }
      total++;
      const c = classify(frames);
      if (c) by.set(c, (by.get(c) ?? 0) + 1);
    }
    return { total, by, offMain, requests: s1.served - s0.served, mainUs: s1.mainUs - s0.mainUs };
  } finally {
    srv.child.kill();
    // Node's --perf-basic-prof map of JIT code addresses (perf script needed it).
    rmSync(`/tmp/perf-${srv.child.pid}.map`, { force: true });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'loopwatch-direct-'));
const rounds = [];
try {
  console.error(`direct-cost bench: ${ROUNDS} rounds, ${WARMUP} s warm-up, ${DURATION} s sampled at ${HZ} Hz, ${VARIANT}, saturation, Node ${process.version}`);
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(dir);
    rounds.push(r);
    const agent = [...r.by.values()].reduce((a, b) => a + b, 0);
    console.error(`round ${i + 1}: ${r.total} main-thread samples, ${r.requests} requests, agent ${((agent / r.total) * 100).toFixed(2)} % of the main thread`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Per component: its share of the main thread's samples, and that share of the main thread's CPU per request.
const pct = (x) => `${(x * 100).toFixed(2)} %`;
const components = [...new Set(rounds.flatMap((r) => [...r.by.keys()]))];
const row = (label, pick) => {
  const shares = rounds.map((r) => pick(r) / r.total);
  const us = rounds.map((r, i) => (shares[i] * r.mainUs) / r.requests);
  const lo = Math.min(...shares);
  const hi = Math.max(...shares);
  const mean = shares.reduce((a, b) => a + b, 0) / shares.length;
  return { label, mean, line: `| ${label} | ${pct(mean)} (${pct(lo)} … ${pct(hi)}) | ${(us.reduce((a, b) => a + b, 0) / us.length).toFixed(3)} |` };
};
const rows = components.map((c) => row(c, (r) => r.by.get(c) ?? 0)).sort((a, b) => b.mean - a.mean);
const all = row('**all of the agent**', (r) => [...r.by.values()].reduce((a, b) => a + b, 0));
const mainUsPerReq = rounds.map((r) => r.mainUs / r.requests);
console.log(
  [
    `Node ${process.version}; ${VARIANT}; ${ROUNDS} fresh processes at saturation, ${CONNECTIONS} connections, server pinned; ${WARMUP} s warm-up, then ${DURATION} s of the main thread sampled at ${HZ} Hz; main thread ${Math.min(...mainUsPerReq).toFixed(1)}–${Math.max(...mainUsPerReq).toFixed(1)} µs of CPU per request`,
    '',
    '| on the stack | share of the main thread (mean, min … max of the rounds) | µs per request |',
    '|---|---|---:|',
    ...rows.map((r) => r.line),
    all.line,
  ].join('\n'),
);

if (ALL_THREADS) {
  // A cpu-clock sample stands for 1/HZ s of one thread's CPU.
  const usPerRequest = (r, n) => (n / HZ / r.requests) * 1e6;
  const kinds = [...new Set(rounds.flatMap((r) => [...r.offMain.keys()]))];
  const line = (label, pick) => {
    const us = rounds.map((r) => usPerRequest(r, pick(r)));
    return `| ${label} | ${(us.reduce((a, b) => a + b, 0) / us.length).toFixed(3)} (${Math.min(...us).toFixed(3)} … ${Math.max(...us).toFixed(3)}) |`;
  };
  console.log(
    [
      '',
      `Other threads of the same processes, sampled alongside (${VARIANT}):`,
      '',
      '| thread activity | µs per request (mean, min … max of the rounds) |',
      '|---|---|',
      ...kinds.map((k) => line(k, (r) => r.offMain.get(k) ?? 0)),
      line('**all other threads**', (r) => [...r.offMain.values()].reduce((a, b) => a + b, 0)),
      line('main thread, for scale', (r) => r.total),
    ].join('\n'),
  );
}
