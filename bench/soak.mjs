// Soak: the agent's memory and counts over a long run, beside a control without it.
//
//   node_modules/node24/bin/node bench/soak.mjs [--minutes 10] [--rate 100] [--stall-ms 150] [--every-ms 1000]
//
// Two copies of one small node:http app run at the same time, one with `--require loopwatch/register`, one
// without (the control). Each stalls its own loop for --stall-ms every --every-ms (a busy loop, so the block is
// real CPU) and counts the stalls it caused. This process (separate from both) drives the same fixed load at
// each with autocannon (--rate requests/s each, 4 connections) and every 10 s asks each app for its RSS, heap
// used and active handle count. At the end it scrapes the agent's /metrics for the stall count and prints:
//   - RSS slope (MB/min, least squares over the samples after the first minute) of both and their difference,
//   - heap used and handle count, first and last,
//   - stalls on /metrics vs stalls caused.
// Raw samples go to bench/results/soak.json. Done when the slope difference is within 1 MB/min and the counts
// are equal (docs/performance.md, "Soak").
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function flag(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

// ---------------------------------------------------------------------------------------------------------
// App child
// ---------------------------------------------------------------------------------------------------------

function appMain() {
  const http = require('node:http');
  const stallMs = Number(process.env.SOAK_STALL_MS);
  const everyMs = Number(process.env.SOAK_EVERY_MS);
  let caused = 0;
  let stalling = true;
  let requests = 0;
  function stallNow() {
    const end = performance.now() + stallMs;
    while (performance.now() < end);
    caused++;
  }
  const timer = setInterval(() => { if (stalling) stallNow(); }, everyMs);
  // Blocks of at least the agent's threshold (100 ms) as a plain 10 ms timer sees them: the caused ones plus any the
  // host adds (GC, a descheduled process on a loaded machine), so a count on /metrics above the caused is explained.
  let seen = 0;
  let last = performance.now();
  const watch = setInterval(() => { const n = performance.now(); if (n - last - 10 >= 100) seen++; last = n; }, 10);
  const server = http.createServer((req, res) => {
    requests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, n: requests }));
  });
  server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
  process.on('message', (m) => {
    if (m.type === 'sample') {
      const mem = process.memoryUsage();
      process.send({ type: 'sample', at: Date.now(), rss: mem.rss, heapUsed: mem.heapUsed, handles: process.getActiveResourcesInfo().length, caused, seen, requests });
    } else if (m.type === 'quiesce') {
      // Stop causing stalls; report the count once the last one has surely been exported.
      stalling = false;
      clearInterval(timer);
      setTimeout(() => { clearInterval(watch); process.send({ type: 'quiesced', caused, seen }); }, 500);
    } else if (m.type === 'exit') {
      server.close();
      process.disconnect();
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------------------

function slopeMbPerMin(samples) {
  const xs = samples.map((s) => s.at / 60_000);
  const ys = samples.map((s) => s.rss / 2 ** 20);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2; }
  return den ? num / den : NaN;
}

function ask(child, type, reply) {
  return new Promise((resolve) => {
    const on = (m) => { if (m.type === reply) { child.off('message', on); resolve(m); } };
    child.on('message', on);
    child.send({ type });
  });
}

async function driverMain() {
  const minutes = flag('minutes', 10);
  const rate = flag('rate', 100);
  const stallMs = flag('stall-ms', 150);
  const everyMs = flag('every-ms', 1000);
  const metricsPort = flag('metrics-port', 19464);
  const autocannon = require('autocannon');
  const env = { ...process.env, SOAK_STALL_MS: String(stallMs), SOAK_EVERY_MS: String(everyMs) };
  const apps = {
    agent: fork(fileURLToPath(import.meta.url), ['--app'], { execArgv: ['--require', join(root, 'agent/dist/register.js')], env: { ...env, LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1' } }),
    control: fork(fileURLToPath(import.meta.url), ['--app'], { env }),
  };
  const ports = {};
  for (const [name, child] of Object.entries(apps)) ports[name] = (await new Promise((r) => child.once('message', r))).port;
  const samples = { agent: [], control: [] };
  const sampleAll = async () => {
    for (const name of Object.keys(apps)) samples[name].push(await ask(apps[name], 'sample', 'sample'));
  };
  await sampleAll();
  const sampler = setInterval(sampleAll, 10_000);
  const durationS = Math.round(minutes * 60);
  console.error(`soak: ${minutes} min, ${rate} req/s to each app, a ${stallMs} ms stall every ${everyMs} ms`);
  const load = await Promise.all(Object.entries(ports).map(([, port]) => autocannon({ url: `http://127.0.0.1:${port}/`, connections: 4, overallRate: rate, duration: durationS })));
  clearInterval(sampler);
  await sampleAll();
  const quiesced = {};
  const seenByTimer = {};
  for (const name of Object.keys(apps)) {
    const q = await ask(apps[name], 'quiesce', 'quiesced');
    quiesced[name] = q.caused;
    seenByTimer[name] = q.seen;
  }
  // A stall is counted when the heartbeat after it beats; a second is plenty.
  await new Promise((r) => setTimeout(r, 1000));
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const counted = text.split('\n')
    .filter((l) => l.startsWith('loopwatch_eventloop_stall_duration_seconds_count') && l.includes('thread_name="main"'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  for (const child of Object.values(apps)) child.send({ type: 'exit' });

  const steady = (s) => s.filter((x) => x.at - s[0].at >= 60_000);
  const result = {};
  for (const name of Object.keys(apps)) {
    const s = samples[name];
    const st = steady(s).length >= 3 ? steady(s) : s;
    result[name] = {
      rssSlopeMbPerMin: slopeMbPerMin(st),
      rssFirstMb: s[0].rss / 2 ** 20, rssLastMb: s.at(-1).rss / 2 ** 20,
      heapFirstMb: s[0].heapUsed / 2 ** 20, heapLastMb: s.at(-1).heapUsed / 2 ** 20,
      handlesFirst: s[0].handles, handlesLast: s.at(-1).handles,
      stallsCaused: quiesced[name], blocksSeenByTimer: seenByTimer[name], requests: s.at(-1).requests,
    };
  }
  result.agent.stallsOnMetrics = counted;
  const loadSummary = Object.fromEntries(Object.keys(ports).map((name, i) => [name, { requests: load[i].requests.total, errors: load[i].errors, non2xx: load[i].non2xx, p99Ms: load[i].latency.p99 }]));
  const diff = result.agent.rssSlopeMbPerMin - result.control.rssSlopeMbPerMin;
  const pass = Math.abs(diff) <= 1 && counted === result.agent.stallsCaused;
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results/soak.json'), JSON.stringify({ node: process.version, minutes, rate, stallMs, everyMs, result, load: loadSummary, samples }, null, 1));
  const f = (x, d = 2) => x.toFixed(d);
  console.log(`| | RSS slope (MB/min, after 1st min) | RSS first → last (MB) | heap used first → last (MB) | handles first → last | stalls caused | blocks ≥ 100 ms a 10 ms timer saw | stalls on /metrics | requests (errors) | p99 (ms) |`);
  console.log(`|---|---|---|---|---|---|---|---|---|---|`);
  for (const name of ['agent', 'control']) {
    const r = result[name];
    const l = loadSummary[name];
    console.log(`| ${name} | ${f(r.rssSlopeMbPerMin, 3)} | ${f(r.rssFirstMb, 1)} → ${f(r.rssLastMb, 1)} | ${f(r.heapFirstMb)} → ${f(r.heapLastMb)} | ${r.handlesFirst} → ${r.handlesLast} | ${r.stallsCaused} | ${r.blocksSeenByTimer} | ${name === 'agent' ? counted : '—'} | ${l.requests} (${l.errors}) | ${l.p99Ms} |`);
  }
  const buckets = text.split('\n').filter((l) => l.startsWith('loopwatch_eventloop_stall_duration_seconds_bucket') && l.includes('thread_name="main"')).map((l) => `${l.match(/le="([^"]+)"/)[1]}: ${l.split(' ').pop()}`);
  console.log(`\nagent's stall durations (cumulative buckets, s): ${buckets.join(', ')}`);
  console.log(`\nRSS slope difference: ${f(diff, 3)} MB/min (bound ±1); stalls on /metrics ${counted} vs caused ${result.agent.stallsCaused}: ${pass ? 'PASS' : 'FAIL'} (${process.version})`);
  process.exitCode = pass ? 0 : 1;
}

if (process.argv.includes('--app')) appMain();
else await driverMain();
