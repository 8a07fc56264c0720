// Two monitoring setups side by side: for each pair, a fresh server process of each variant (bench/overhead.mjs's
// server: baseline, loopwatch, prom-client, otel-runtime-node), both pinned to the same CPU with --pin and loaded
// at the same time, so the VM's noise (bursts lasting seconds) hits both alike. Fresh processes per pair, with the
// order of start alternating, make a difference between two processes a random error around zero; run
// `--a baseline --b baseline` to see its size (the A/A control). Each variant's metrics endpoint is scraped every
// --scrape ms (default 15000, Prometheus' default interval).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/versus.mjs --a loopwatch --b prom-client
//        [--pairs 20] [--block 4] [--warmup 2] [--rate 0] [--connections 50] [--scrape 15000] [--pin]
//        [--handler realistic|promise] [--framework express|express4|fastify]
// --framework: the same handler routed and answered by that framework (bench/framework-server.mjs); default node:http.
import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootstrapMedianCi, pct, quantile as q } from './stats.mjs';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon');
const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const A = arg('a', 'loopwatch');
const B = arg('b', 'prom-client');
const PAIRS = Number(arg('pairs', 20));
const BLOCK = Number(arg('block', 4));
const WARMUP = Number(arg('warmup', 2));
const RATE = Number(arg('rate', 0));
const CONNECTIONS = Number(arg('connections', 50));
const SCRAPE_MS = Number(arg('scrape', 15000));
const HANDLER = arg('handler', 'realistic');
const FRAMEWORK = arg('framework', 'http');
const PIN = process.argv.includes('--pin');

const live = new Set();
process.on('exit', () => live.forEach((c) => c.kill()));

function startServer(variant) {
  const child = fork(join(here, 'overhead.mjs'), ['--server', variant, '--handler', HANDLER, '--framework', FRAMEWORK], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const next = (type) =>
    new Promise((resolve, reject) => {
      const onMsg = (m) => {
        if (m?.type !== type) return;
        child.off('message', onMsg);
        resolve(m);
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
    });
  return {
    child,
    ready: next('ready'),
    stats() {
      const p = next('stats');
      child.send('stats');
      return p;
    },
  };
}

const load = (url, seconds) =>
  new Promise((resolve, reject) => {
    const times = [];
    const instance = autocannon({ url, connections: CONNECTIONS, duration: seconds, ...(RATE > 0 ? { overallRate: RATE } : {}) }, (err, r) =>
      err ? reject(err) : resolve({ ...r, times }),
    );
    instance.on('response', (_c, status, _b, ms) => {
      if (status >= 200 && status < 300) times.push(ms);
    });
  });
const percentile = (values, p) => {
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
/** Scrapes `url` every SCRAPE_MS while `during` runs (first scrape at once, as Prometheus does on a new target). */
async function scraping(url, during) {
  if (!url) return during;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`scrape ${url}: HTTP ${res.status}`);
      await res.text();
      const until = Date.now() + SCRAPE_MS;
      while (!stop && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, SCRAPE_MS)));
    }
  })();
  try {
    return await during;
  } finally {
    stop = true;
    await loop;
  }
}

async function pair(i) {
  // Start order alternates so neither variant always gets the warmer start.
  const variants = i % 2 ? [B, A] : [A, B];
  const servers = variants.map(startServer);
  const ready = await Promise.all(servers.map((s) => s.ready));
  if (PIN) {
    const last = String(cpus().length - 1);
    for (const s of servers) execFileSync('taskset', ['-a', '-p', '-c', last, String(s.child.pid)], { stdio: 'ignore' });
  }
  const run = async (seconds) => {
    const s0 = await Promise.all(servers.map((s) => s.stats()));
    const rs = await Promise.all(servers.map((s, k) => scraping(ready[k].metricsUrl, load(ready[k].url, seconds))));
    const s1 = await Promise.all(servers.map((s) => s.stats()));
    return rs.map((r, k) => {
      if (r.errors || r.non2xx || r.timeouts) throw new Error(`${variants[k]}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
      const served = s1[k].served - s0[k].served;
      return { cpu: (s1[k].cpuUs - s0[k].cpuUs) / served, p99: percentile(r.times, 0.99), rps: served / seconds, rss: s1[k].rss / 2 ** 20 };
    });
  };
  await run(WARMUP);
  const res = await run(BLOCK);
  for (const s of servers) s.child.send('exit');
  const byVariant = i % 2 ? [res[1], res[0]] : res;
  return { a: byVariant[0], b: byVariant[1] };
}

console.error(`versus: ${A} vs ${B}, ${PAIRS} pairs × ${BLOCK} s, ${HANDLER} handler on ${FRAMEWORK}, ${RATE > 0 ? `${RATE} req/s each` : 'saturation'}, scrape every ${SCRAPE_MS} ms${PIN ? ', pinned to one CPU' : ''}, Node ${process.version}`);
const pairs = [];
for (let i = 0; i < PAIRS; i++) {
  const p = await pair(i);
  pairs.push(p);
  console.error(`pair ${String(i + 1).padStart(2)}: ${A} ${p.a.cpu.toFixed(2)} µs/req, ${B} ${p.b.cpu.toFixed(2)} µs/req (${pct(p.a.cpu / p.b.cpu)}); p99 ${p.a.p99.toFixed(2)} vs ${p.b.p99.toFixed(2)} ms`);
}
const row = (label, key, digits = 2) => {
  const ratios = pairs.map((p) => p.a[key] / p.b[key]);
  const [lo, hi] = bootstrapMedianCi(ratios);
  return `| ${label} | ${q(pairs.map((p) => p.a[key]), 0.5).toFixed(digits)} | ${q(pairs.map((p) => p.b[key]), 0.5).toFixed(digits)} | **${pct(q(ratios, 0.5))}** (${pct(lo)} … ${pct(hi)}) | ${ratios.filter((r) => r < 1).length} of ${ratios.length} |`;
};
console.log(
  [
    `Node ${process.version}; ${HANDLER} handler on ${FRAMEWORK}; ${PAIRS} pairs of fresh processes × ${BLOCK} s, ${RATE > 0 ? `${RATE} req/s each` : 'saturation'}${PIN ? ', both pinned to one CPU' : ''}; scrape every ${SCRAPE_MS} ms; medians`,
    '',
    `| measure | ${A} | ${B} | ${A} / ${B} (95 % CI of the median) | pairs where ${A} is lower |`,
    '|---|---:|---:|---|---:|',
    row('CPU µs/request (all threads)', 'cpu'),
    row('p99 latency ms', 'p99'),
    row('requests/s', 'rps', 0),
    row('RSS MB', 'rss', 1),
  ].join('\n'),
);
