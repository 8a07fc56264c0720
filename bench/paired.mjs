// Paired overhead benchmark: ONE server process (bench/overhead.mjs's server, variant `toggle`) serves short load
// blocks alternately with the default agent started and stopped, and the per-pair differences are reported.
//
// Why: between separate server processes (bench/overhead.mjs) CPU per request differs by ±15 % on this shared VM
// (JIT decisions, heap layout, which neighbour runs when), which hides effects of a few percent. Here both sides
// of a pair share the process, its JIT state and heap, and run seconds apart; the order alternates each pair
// (AB, BA, …) so drift over time cancels. What it cannot see: costs that stay after `agent.stop()` (none are
// known: stop() unsubscribes, unwraps and joins the watchdog) and the agent's start-up (outside the blocks).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/paired.mjs [--pairs 20] [--block 3]
//        [--rate 0] [--connections 50] [--settle 1] [--pin]
// --rate 0 saturates the server (default); --rate N offers N req/s. The agent's endpoint is not scraped
// (Prometheus scrapes every 15–60 s; bench/overhead.mjs measures a 1/s scrape).
import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

const child = fork(join(here, 'overhead.mjs'), ['--server', 'toggle'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
if (PIN) {
  const last = cpus().length - 1;
  execFileSync('taskset', ['-a', '-p', '-c', String(last), String(child.pid)], { stdio: 'ignore' });
  if (last > 0) execFileSync('taskset', ['-a', '-p', '-c', `0-${last - 1}`, String(process.pid)], { stdio: 'ignore' });
}
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
const ready = await waitFor('ready');
const load = (seconds) =>
  new Promise((resolve, reject) =>
    autocannon({ url: ready.url, connections: CONNECTIONS, duration: seconds, ...(RATE > 0 ? { overallRate: RATE } : {}) }, (err, r) =>
      err ? reject(err) : resolve(r),
    ),
  );
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One block in the current state: CPU µs per request (all threads), main thread's share, GC pauses, p99. */
async function block() {
  const s0 = await ask('stats', 'stats');
  const r = await load(BLOCK);
  const s1 = await ask('stats', 'stats');
  const served = s1.served - s0.served;
  if (r.errors || r.non2xx || r.timeouts) throw new Error(`${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
  return {
    cpu: (s1.cpuUs - s0.cpuUs) / served,
    main: s0.mainUs === undefined ? NaN : (s1.mainUs - s0.mainUs) / served,
    gc: ((s1.gcMs - s0.gcMs) * 1000) / served,
    p99: r.latency.p99,
    rps: served / BLOCK,
  };
}
async function state(on) {
  const t = await ask(on ? 'on' : 'off', 'toggled');
  if (t.on !== on) throw new Error(`the agent is ${t.on ? 'still running' : 'not running'} after '${on ? 'on' : 'off'}'`);
  await sleep(SETTLE_MS);
  return block();
}

// Whatever happens below, the server goes with this process (an orphan would hold its port and our stdio).
process.on('exit', () => child.kill());
console.error(
  `paired bench: ${PAIRS} pairs × ${BLOCK} s, ${RATE > 0 ? `${RATE} req/s` : 'saturation'}, ${CONNECTIONS} connections${PIN ? ', server pinned' : ''}, Node ${process.version}`,
);
await load(2); // warm-up (JIT) without the agent
await state(true); // and with it
const pairs = [];
for (let i = 0; i < PAIRS; i++) {
  let off, on;
  if (i % 2 === 0) {
    off = await state(false);
    on = await state(true);
  } else {
    on = await state(true);
    off = await state(false);
  }
  pairs.push({ off, on });
  console.error(
    `pair ${String(i + 1).padStart(2)}: off ${off.cpu.toFixed(2)} µs/req, on ${on.cpu.toFixed(2)} µs/req (${pct(on.cpu / off.cpu)}); ` +
      `main ${off.main.toFixed(2)} → ${on.main.toFixed(2)}; GC ${off.gc.toFixed(2)} → ${on.gc.toFixed(2)}; p99 ${off.p99} → ${on.p99} ms`,
  );
}
child.send('exit');

function pct(ratio) {
  return `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
}
const sorted = (a) => [...a].sort((x, y) => x - y);
const q = (a, p) => sorted(a)[Math.min(a.length - 1, Math.floor(p * a.length))];
const line = (label, key, unit) => {
  const ratios = pairs.map((p) => p.on[key] / p.off[key]);
  const diffs = pairs.map((p) => p.on[key] - p.off[key]);
  return `| ${label} | ${q(pairs.map((p) => p.off[key]), 0.5).toFixed(2)} | ${q(pairs.map((p) => p.on[key]), 0.5).toFixed(2)} | ${q(diffs, 0.5) >= 0 ? '+' : ''}${q(diffs, 0.5).toFixed(2)} ${unit} | **${pct(q(ratios, 0.5))}** (${pct(q(ratios, 0.25))} … ${pct(q(ratios, 0.75))}) | ${ratios.filter((r) => r > 1).length} of ${ratios.length} |`;
};
const out = [
  `Node ${process.version}; ${PAIRS} pairs × ${BLOCK} s; ${RATE > 0 ? `${RATE} req/s` : 'saturation'}, ${CONNECTIONS} connections${PIN ? '; server pinned' : ''}; medians of the pairs`,
  '',
  '| measure | agent off | agent on | paired difference | paired ratio (interquartile range) | pairs where on > off |',
  '|---|---:|---:|---:|---|---:|',
  line('CPU µs/request (all threads)', 'cpu', 'µs'),
  line('main thread µs/request', 'main', 'µs'),
  line('GC pauses µs/request', 'gc', 'µs'),
  line('p99 latency ms (autocannon, whole ms)', 'p99', 'ms'),
  line('requests/s', 'rps', ''),
].join('\n');
console.log(out);
