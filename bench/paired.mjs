// Paired overhead benchmark: ONE server process (bench/overhead.mjs's server, variant `toggle`) serves short load
// blocks alternately with the default agent started and stopped, and the per-pair differences are reported.
//
// Why: between separate server processes (bench/overhead.mjs) CPU per request differs by ±15 % on this shared VM
// (JIT decisions, heap layout, which neighbour runs when), which hides effects of a few percent. Here both sides
// of a pair share the process, its JIT state and heap, and run seconds apart; the order alternates each pair
// (AB, BA, …) so drift over time cancels. What it cannot see: costs that stay after `agent.stop()` (none are
// known: stop() unsubscribes, unwraps and joins the watchdog) and the agent's start-up (outside the blocks).
// The toggled agent starts while the server is under load, which an agent started before listen() never does: V8's
// optimisation of code already hot can go differently then (docs/performance.md run 17; bench/late-start.mjs checks
// that it settles). Confirm a surprising result with bench/versus.mjs (fresh processes, agent started first).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/paired.mjs [--pairs 20] [--block 3]
//        [--rate 0] [--connections 50] [--settle 1] [--pin] [--handler realistic|promise] [--raw pairs.json]
//        [--on-options '{…}'] [--off-options '{"attribution":false}'] [--simultaneous] [--framework express|fastify]
// --rate 0 saturates the server (default); --rate N offers N req/s. --handler promise: 20 awaits per request
// (bench/attribution's promise-heavy handler) instead of the ~1 KB JSON handler.
// Latency percentiles come from every response's own time (autocannon's 'response' event, sub-ms), not from
// autocannon's summary, which rounds to whole ms — too coarse for a 5 % p99 target at 1–3 ms.
// --off-options: the "off" side of each pair runs an agent started with these options instead of no agent, so
// the pair isolates one feature's cost ('{"attribution":false}': what stall attribution adds to the agent).
// --on-options: the "on" side runs an agent started with these options instead of the default agent.
// --framework express|express4|fastify: the same handler routed (`/api/:collection`) and answered by that framework
// (bench/framework-server.mjs), so the agent's route reads for it are measured too; default plain node:http.
// --simultaneous: two servers loaded at the same time (both pinned to the same CPU with --pin), one with the agent
// and one without, roles swapped between the two blocks of a pair: the VM's noise is in time (neighbours' bursts
// lasting seconds), and this way both sides of a comparison live through the same seconds. The agent's endpoint is not scraped
// (Prometheus scrapes every 15–60 s; bench/overhead.mjs measures a 1/s scrape).
import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAMEWORKS } from './framework-server.mjs';
import { bootstrapMedianCi, pct, quantile as q } from './stats.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const PAIRS = Number(arg('pairs', 20));
const BLOCK = Number(arg('block', 3));
const RATE = Number(arg('rate', 0));
const CONNECTIONS = Number(arg('connections', 50));
const SETTLE_MS = Number(arg('settle', 1)) * 1000;
const PIN = process.argv.includes('--pin');
const HANDLER = arg('handler', 'realistic');
const FRAMEWORK = arg('framework', 'http');
if (!FRAMEWORKS.includes(FRAMEWORK)) throw new Error(`unknown --framework ${FRAMEWORK} (${FRAMEWORKS.join(' | ')})`);
const ON_OPTIONS = arg('on-options');
const OFF_OPTIONS = arg('off-options');
// Fail here, not in the server.
if (ON_OPTIONS !== undefined) JSON.parse(ON_OPTIONS);
if (OFF_OPTIONS !== undefined) JSON.parse(OFF_OPTIONS);
const ON_LABEL = ON_OPTIONS ? `agent with ${ON_OPTIONS}` : 'default agent';
const OFF_LABEL = OFF_OPTIONS ? `agent with ${OFF_OPTIONS}` : 'no agent';

const SIMULTANEOUS = process.argv.includes('--simultaneous');
const serverArgs = [
  ...['--server', 'toggle', '--handler', HANDLER, '--framework', FRAMEWORK],
  ...(ON_OPTIONS ? ['--on-options', ON_OPTIONS] : []),
  ...(OFF_OPTIONS ? ['--off-options', OFF_OPTIONS] : []),
];

/** One toggle server (bench/overhead.mjs --server toggle) in its own process. */
function startServer() {
  const child = fork(join(here, 'overhead.mjs'), serverArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waitFor = (type) =>
    new Promise((resolve, reject) => {
      const onExit = (code) => reject(new Error(`server exited with ${code}`));
      const onMsg = (m) => {
        if (m?.type !== type) return;
        child.off('message', onMsg);
        child.off('exit', onExit);
        resolve(m);
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  const ask = (msg, type) => {
    const p = waitFor(type);
    child.send(msg);
    return p;
  };
  return { child, ready: waitFor('ready'), ask };
}
const servers = SIMULTANEOUS ? [startServer(), startServer()] : [startServer()];
// Whatever happens below, the servers go with this process (an orphan would hold its port and our stdio).
process.on('exit', () => servers.forEach((s) => s.child.kill()));
if (PIN) {
  // Every server on the last CPU (with --simultaneous both share it, so a neighbour's burst hits both alike),
  // this process and its load generators on the others.
  const last = cpus().length - 1;
  for (const s of servers) execFileSync('taskset', ['-a', '-p', '-c', String(last), String(s.child.pid)], { stdio: 'ignore' });
  if (last > 0) execFileSync('taskset', ['-a', '-p', '-c', `0-${last - 1}`, String(process.pid)], { stdio: 'ignore' });
}
for (const s of servers) s.url = (await s.ready).url;

/** Runs load on `url` for `seconds`; resolves autocannon's result plus every 2xx response time (ms, sub-ms). */
const load = (url, seconds) =>
  new Promise((resolve, reject) => {
    const times = [];
    const instance = autocannon(
      { url, connections: CONNECTIONS, duration: seconds, ...(RATE > 0 ? { overallRate: RATE } : {}) },
      (err, r) => (err ? reject(err) : resolve({ ...r, times })),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (status >= 200 && status < 300) times.push(responseTime);
    });
  });
const percentile = (values, p) => {
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One block, every server loaded at once: per server, CPU µs per request (all threads), main thread, GC, latency. */
async function block() {
  const s0 = await Promise.all(servers.map((s) => s.ask('stats', 'stats')));
  const rs = await Promise.all(servers.map((s) => load(s.url, BLOCK)));
  const s1 = await Promise.all(servers.map((s) => s.ask('stats', 'stats')));
  return rs.map((r, i) => {
    const served = s1[i].served - s0[i].served;
    if (r.errors || r.non2xx || r.timeouts) throw new Error(`${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
    return {
      cpu: (s1[i].cpuUs - s0[i].cpuUs) / served,
      main: s0[i].mainUs === undefined ? NaN : (s1[i].mainUs - s0[i].mainUs) / served,
      gc: ((s1[i].gcMs - s0[i].gcMs) * 1000) / served,
      p50: percentile(r.times, 0.5),
      p99: percentile(r.times, 0.99),
      rps: served / BLOCK,
    };
  });
}
async function toggle(server, on) {
  const t = await server.ask(on ? 'on' : 'off', 'toggled');
  const side = on ? 'on' : 'off';
  const options = on ? (ON_OPTIONS ?? '{}') : OFF_OPTIONS;
  if (options === undefined) {
    if (t.on) throw new Error(`the agent is still running after 'off'`);
    return;
  }
  if (!t.on) throw new Error(`no agent running after '${side}'`);
  // The agent's resolved config must show the options this side was given.
  for (const [k, v] of Object.entries(JSON.parse(options))) {
    if (t.config?.[k] !== v) throw new Error(`after '${side}' the agent's ${k} is ${JSON.stringify(t.config?.[k])}, not ${JSON.stringify(v)}`);
  }
  if (on && !ON_OPTIONS && t.config?.attribution !== true) throw new Error(`after 'on' the default agent's attribution is ${t.config?.attribution}`);
}
/** Sets each server's state (true = agent on), lets it settle, runs one block; returns the results in that order. */
async function state(...on) {
  await Promise.all(servers.map((s, i) => toggle(s, on[i])));
  await sleep(SETTLE_MS);
  return block();
}
const mean = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, (a[k] + b[k]) / 2]));

console.error(
  `paired bench: ${PAIRS} pairs × ${BLOCK} s, ${HANDLER} handler${FRAMEWORK === 'http' ? '' : ` served by ${FRAMEWORK}`}, on = ${ON_LABEL}, off = ${OFF_LABEL}, ${RATE > 0 ? `${RATE} req/s` : 'saturation'}, ${CONNECTIONS} connections${PIN ? ', server pinned' : ''}${SIMULTANEOUS ? ', two servers at once' : ''}, Node ${process.version}`,
);
await Promise.all(servers.map((s) => load(s.url, 2))); // warm-up (JIT) without the agent
await state(...servers.map(() => true)); // and with it
const pairs = [];
for (let i = 0; i < PAIRS; i++) {
  let off, on;
  if (SIMULTANEOUS) {
    // Both servers run through the same seconds, one with the agent and one without, then the roles swap; a pair
    // averages the two blocks, so a difference between the two processes cancels as well.
    const [a1, b1] = await state(i % 2 === 0, i % 2 !== 0);
    const [a2, b2] = await state(i % 2 !== 0, i % 2 === 0);
    on = i % 2 === 0 ? mean(a1, b2) : mean(b1, a2);
    off = i % 2 === 0 ? mean(b1, a2) : mean(a1, b2);
  } else if (i % 2 === 0) {
    [off] = await state(false);
    [on] = await state(true);
  } else {
    [on] = await state(true);
    [off] = await state(false);
  }
  pairs.push({ off, on });
  console.error(
    `pair ${String(i + 1).padStart(2)}: off ${off.cpu.toFixed(2)} µs/req, on ${on.cpu.toFixed(2)} µs/req (${pct(on.cpu / off.cpu)}); ` +
      `main ${off.main.toFixed(2)} → ${on.main.toFixed(2)}; GC ${off.gc.toFixed(2)} → ${on.gc.toFixed(2)}; p99 ${off.p99.toFixed(2)} → ${on.p99.toFixed(2)} ms`,
  );
}
servers.forEach((s) => s.child.send('exit'));

const line = (label, key, unit) => {
  const ratios = pairs.map((p) => p.on[key] / p.off[key]);
  const diffs = pairs.map((p) => p.on[key] - p.off[key]);
  const [lo, hi] = bootstrapMedianCi(ratios);
  return `| ${label} | ${q(pairs.map((p) => p.off[key]), 0.5).toFixed(2)} | ${q(pairs.map((p) => p.on[key]), 0.5).toFixed(2)} | ${q(diffs, 0.5) >= 0 ? '+' : ''}${q(diffs, 0.5).toFixed(2)} ${unit} | **${pct(q(ratios, 0.5))}** (${pct(lo)} … ${pct(hi)}) | ${pct(q(ratios, 0.25))} … ${pct(q(ratios, 0.75))} | ${ratios.filter((r) => r > 1).length} of ${ratios.length} |`;
};
const out = [
  `Node ${process.version}; ${HANDLER} handler; on = ${ON_LABEL}, off = ${OFF_LABEL}; ${PAIRS} pairs × ${BLOCK} s; ${RATE > 0 ? `${RATE} req/s` : 'saturation'}, ${CONNECTIONS} connections${PIN ? '; server pinned' : ''}${SIMULTANEOUS ? '; two servers at once, roles swapped within each pair' : ''}; medians of the pairs`,
  '',
  '| measure | agent off | agent on | paired difference | paired ratio (95 % CI of the median) | interquartile range of the pairs | pairs where on > off |',
  '|---|---:|---:|---:|---|---|---:|',
  line('CPU µs/request (all threads)', 'cpu', 'µs'),
  line('main thread µs/request', 'main', 'µs'),
  line('GC pauses µs/request', 'gc', 'µs'),
  line('p50 latency ms', 'p50', 'ms'),
  line('p99 latency ms', 'p99', 'ms'),
  line('requests/s', 'rps', ''),
].join('\n');
console.log(out);
if (arg('raw')) writeFileSync(arg('raw'), JSON.stringify({ node: process.version, handler: HANDLER, framework: FRAMEWORK, onOptions: ON_OPTIONS, offOptions: OFF_OPTIONS, simultaneous: SIMULTANEOUS, rate: RATE, block: BLOCK, pairs }, null, 1) + '\n');
