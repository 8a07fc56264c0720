// loopwatch overhead benchmark.
//
//   npm run bench -- [--rounds 5] [--duration 8] [--connections 50] [--rate 2000] [--warmup 2] [--scrape 1000] [--quick] [--pin]
//                    [--variants baseline,loopwatch,prom-client,otel-runtime-node]
//
// For every round, every variant (in an order rotated each round) gets a fresh node:http server in its own
// child process (same Node binary as this script). The server's handler is a small but realistic async
// handler. This process warms the server up with autocannon, then runs autocannon on loopback for
// --duration seconds while scraping the variant's metrics endpoint once per --scrape ms (every monitored
// variant is scraped at the same rate; baseline has no endpoint). The server child reports its own
// process.cpuUsage() (user + system of the whole process, i.e. every thread, including loopwatch's watchdog
// worker), its completed-request count and its RSS; from those we get CPU time per request.
//
// --rate fixes the offered load (requests/s over all connections; default 2000, well below saturation on a
// 2-core machine): CPU per request and p99 then measure the server's cost, not how a saturated queue drains.
// --rate 0 saturates the server instead (the first runs recorded in docs/performance.md).
//
// Output: a markdown table on stdout, the raw per-round data in bench/results/overhead.raw.json (gitignored)
// and the summary in bench/results/overhead.md.
import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { frameworkServer } from './framework-server.mjs';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const ALL_VARIANTS = ['baseline', 'loopwatch', 'prom-client', 'otel-runtime-node'];

// ---------------------------------------------------------------------------------------------------------
// Server child
// ---------------------------------------------------------------------------------------------------------

/**
 * CPU time of this process's main thread alone (µs), from Linux's per-thread scheduler statistics (first field of
 * /proc/self/task/<tid>/schedstat: ns on CPU; the main thread's tid is the pid). Separates the event loop's own
 * cost from the watchdog, libuv and V8 helper threads that process.cpuUsage() includes. undefined off Linux.
 */
function mainThreadCpuUs() {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return undefined; // not Linux: the column is left empty
  }
}

async function serverMain(variant) {
  const http = require('node:http');
  const { randomUUID } = require('node:crypto');
  // Time the main thread spends in GC pauses (ms), every variant alike: a monitor that makes the app's objects
  // live longer shows here first (run 8 in docs/performance.md: 3.5x the scavenge time).
  // --no-gc-time (bench/direct.mjs): no observer of the bench's own, so every GC observer cost sampled is the agent's.
  let gcMs = 0;
  if (!process.argv.includes('--no-gc-time')) {
    new (require('node:perf_hooks').PerformanceObserver)((list) => {
      for (const e of list.getEntries()) gcMs += e.duration;
    }).observe({ entryTypes: ['gc'] });
  }

  let metricsUrl;
  if (variant === 'loopwatch' || variant.startsWith('loopwatch@')) {
    // `loopwatch@K=V;K2=V2`: the default agent with LOOPWATCH_* settings (ablations). LOOPWATCH_BENCH_MODULE=<path>
    // loads another build of the agent (e.g. a copy of agent/dist from before a change, inside the repo so that its
    // dependencies resolve), to compare two builds side by side.
    for (const kv of variant.split('@')[1]?.split(';') ?? []) {
      const [k, v] = kv.split('=');
      process.env[k] = v;
    }
    // Default config; port 0 so rounds never collide. The endpoint is served by the watchdog worker thread.
    const agent = require(process.env.LOOPWATCH_BENCH_MODULE ?? 'loopwatch').start({ prometheus: { port: 0 } });
    metricsUrl = (await agent.ready()).prometheusUrl;
    if (!metricsUrl) throw new Error('loopwatch did not report a metrics URL');
  } else if (variant === 'prom-client') {
    const client = require('prom-client');
    client.collectDefaultMetrics();
    metricsUrl = await sideServer(http, async (req, res) => {
      const body = await client.register.metrics();
      res.writeHead(200, { 'content-type': client.register.contentType });
      res.end(body);
    });
  } else if (variant === 'otel-runtime-node') {
    const { metrics } = require('@opentelemetry/api');
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
    const { RuntimeNodeInstrumentation } = require('@opentelemetry/instrumentation-runtime-node');
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    metrics.setGlobalMeterProvider(provider);
    const inst = new RuntimeNodeInstrumentation(); // default config (monitoringPrecision 10 ms)
    inst.setMeterProvider(provider);
    inst.enable();
    metricsUrl = await sideServer(http, (req, res) => exporter.getMetricsRequestHandler(req, res));
  } else if (variant !== 'baseline' && variant !== 'toggle') {
    // `toggle` (bench/paired.mjs): starts as baseline; IPC 'on' / 'off' start and stop the default agent.
    throw new Error(`unknown variant ${variant}`);
  }

  // ~1 KB response body, rebuilt per request.
  const items = Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item-${i}`, price: i * 3.5, tags: ['a', 'b', 'c'] }));
  let served = 0;
  async function realistic(req) {
    // A small promise chain and one trip through the check phase, like an await on I/O would.
    const user = await Promise.resolve({ id: 42, name: 'bench' }).then((u) => ({ ...u, role: 'reader' }));
    await new Promise((r) => setImmediate(r));
    return JSON.stringify({ requestId: randomUUID(), path: req.url, user, items, at: Date.now() });
  }
  async function promiseHeavy() {
    // bench/attribution's promise-heavy handler: 20 awaits and one trip through the check phase, a short body.
    let x = 0;
    for (let i = 0; i < 20; i++) x += await Promise.resolve(i);
    await new Promise((r) => setImmediate(r));
    return String(x);
  }
  const handlerArg = process.argv[process.argv.indexOf('--handler') + 1];
  const handlerName = process.argv.includes('--handler') ? handlerArg : 'realistic';
  const handle = { realistic, promise: promiseHeavy }[handlerName];
  if (!handle) throw new Error(`unknown --handler ${handlerName} (realistic | promise)`);
  // --framework (bench/paired.mjs): the same handler routed and answered by express or fastify; default node:http.
  const framework = process.argv.includes('--framework') ? process.argv[process.argv.indexOf('--framework') + 1] : 'http';
  const server = await frameworkServer(framework, handle, () => served++);
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));

  let toggled;
  const jsonArg = (name) => (process.argv.includes(name) ? JSON.parse(process.argv[process.argv.indexOf(name) + 1]) : undefined);
  const onOptions = jsonArg('--on-options') ?? {};
  const offOptions = jsonArg('--off-options');
  // The bench process is gone (crashed or killed): do not linger holding its port and stdio.
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (msg) => {
    if (variant === 'toggle' && (msg === 'on' || msg === 'off')) {
      // 'on': the default agent, or one started with --on-options '{…}'. 'off': no agent, or — with --off-options
      // '{…}' — an agent started with those options (e.g. '{"attribution":false}', to isolate what attribution costs).
      await toggled?.stop();
      toggled = undefined;
      const options = msg === 'on' ? onOptions : offOptions;
      if (options) {
        toggled = require(process.env.LOOPWATCH_BENCH_MODULE ?? 'loopwatch').start({ prometheus: { port: 0 }, ...options });
        await toggled.ready();
      }
      // What the agent says, not what was asked: bench/paired.mjs refuses a pair whose toggle did nothing.
      const agent = require('loopwatch').getAgent();
      // The resolved config's scalar settings (a registry or logger in it would not cross IPC).
      const config = Object.fromEntries(Object.entries(agent?.config ?? {}).filter(([, v]) => v === null || typeof v !== 'object'));
      process.send({ type: 'toggled', on: agent !== undefined, config });
    } else if (msg === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', cpuUs: cpu.user + cpu.system, mainUs: mainThreadCpuUs(), gcMs, served, rss: process.memoryUsage().rss });
    } else if (msg === 'exit') {
      process.exit(0);
    }
  });
  process.send({ type: 'ready', url: `http://127.0.0.1:${server.address().port}/api/items`, metricsUrl });
}

async function sideServer(http, handler) {
  const s = http.createServer((req, res) => {
    if (req.url === '/metrics') handler(req, res);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  s.unref();
  return `http://127.0.0.1:${s.address().port}/metrics`;
}

// ---------------------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { rounds: 5, duration: 8, connections: 50, rate: 2000, warmup: 2, scrape: 1000, variants: ALL_VARIANTS, quick: false, pin: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--duration') o.duration = Number(val());
    else if (a === '--connections') o.connections = Number(val());
    else if (a === '--rate') o.rate = Number(val());
    else if (a === '--warmup') o.warmup = Number(val());
    else if (a === '--scrape') o.scrape = Number(val());
    else if (a === '--variants') o.variants = val().split(',');
    else if (a === '--quick') o.quick = true;
    else if (a === '--pin') o.pin = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: overhead.mjs [--rounds N] [--duration S] [--connections C] [--warmup S] [--scrape MS] [--variants a,b] [--quick]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick) Object.assign(o, { rounds: 1, duration: 2, warmup: 1 });
  for (const v of o.variants) if (!ALL_VARIANTS.includes(v) && !/^loopwatch@(LOOPWATCH_\w+=[^;]*;?)+$/.test(v)) throw new Error(`unknown variant ${v}`);
  if (!o.variants.includes('baseline')) o.variants = ['baseline', ...o.variants];
  return o;
}

/** `taskset -c <cpus> -p <pid>` (util-linux); false where that is not possible. */
function pinTo(pid, cpus) {
  try {
    execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function startServer(variant, pin) {
  const child = fork(fileURLToPath(import.meta.url), ['--server', variant], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // --pin: the server (every thread of it, including loopwatch's watchdog) on the last CPU, this process
  // (autocannon, scraper) on the others, so load generation does not steal the server's CPU.
  if (pin && !pinTo(child.pid, String(cpus().length - 1))) throw new Error('--pin: taskset failed (util-linux, Linux only)');
  const waitFor = (type) =>
    new Promise((resolve, reject) => {
      const onMsg = (m) => {
        if (m && m.type === type) {
          child.off('message', onMsg);
          child.off('exit', onExit);
          resolve(m);
        }
      };
      const onExit = (code) => reject(new Error(`${variant} server exited with ${code}`));
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  return waitFor('ready').then((ready) => ({
    child,
    ...ready,
    stats: () => {
      const p = waitFor('stats');
      child.send('stats');
      return p;
    },
    stop: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.send('exit');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  }));
}

function startScraper(url, everyMs) {
  const counts = { ok: 0, failed: 0, bytes: 0 };
  if (!url) return { counts, stop() {} };
  const t = setInterval(async () => {
    try {
      const res = await fetch(url);
      const text = await res.text();
      if (res.ok) {
        counts.ok++;
        counts.bytes = text.length;
      } else counts.failed++;
    } catch {
      counts.failed++;
    }
  }, everyMs);
  return { counts, stop: () => clearInterval(t) };
}

/** loopwatch's own report of its watchdog thread's CPU time (s), from its endpoint; undefined for other variants. */
async function watchdogCpuSeconds(variant, url) {
  if (!variant.startsWith('loopwatch') || !url) return undefined;
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const m of text.matchAll(/^loopwatch_agent_cpu_time_seconds_total\{[^}]*\} ([0-9.e+-]+)$/gm)) sum += Number(m[1]);
  return sum;
}

async function runOne(autocannon, variant, o) {
  const srv = await startServer(variant, o.pin);
  const scraper = startScraper(srv.metricsUrl, o.scrape);
  try {
    const load = { url: srv.url, connections: o.connections, ...(o.rate > 0 ? { overallRate: o.rate } : {}) };
    await autocannon({ ...load, duration: o.warmup });
    const w0 = await watchdogCpuSeconds(variant, srv.metricsUrl);
    const s0 = await srv.stats();
    const r = await autocannon({ ...load, duration: o.duration });
    const s1 = await srv.stats();
    const w1 = await watchdogCpuSeconds(variant, srv.metricsUrl);
    const served = s1.served - s0.served;
    if (r.errors || r.non2xx || r.timeouts) throw new Error(`${variant}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
    return {
      variant,
      rps: r.requests.average,
      requests: served,
      p50: r.latency.p50,
      p99: r.latency.p99,
      cpuMs: (s1.cpuUs - s0.cpuUs) / 1000,
      cpuUsPerReq: (s1.cpuUs - s0.cpuUs) / served,
      ...(s0.mainUs !== undefined && s1.mainUs !== undefined ? { mainUsPerReq: (s1.mainUs - s0.mainUs) / served } : {}),
      gcUsPerReq: ((s1.gcMs - s0.gcMs) * 1000) / served,
      // The watchdog thread's share, as loopwatch itself reports it (loopwatch.agent.cpu.time).
      ...(w0 !== undefined && w1 !== undefined ? { watchdogUsPerReq: ((w1 - w0) * 1e6) / served } : {}),
      rssMB: s1.rss / 2 ** 20,
      scrapes: { ...scraper.counts },
    };
  } finally {
    scraper.stop();
    await srv.stop();
  }
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (ratio) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
const fmtRange = (rs) => `${pct(Math.min(...rs))} … ${pct(Math.max(...rs))}`;

function summarize(rounds, variants) {
  const by = (v) => rounds.map((round) => round[v]);
  const base = by('baseline');
  const out = {};
  for (const v of variants) {
    const runs = by(v);
    const m = (k) => median(runs.map((r) => r[k]));
    const ratios = (k) => runs.map((r, i) => r[k] / base[i][k]);
    out[v] = {
      cpuUsPerReq: m('cpuUsPerReq'),
      p99: m('p99'),
      rps: m('rps'),
      rssMB: m('rssMB'),
      gcUsPerReq: m('gcUsPerReq'),
      cpuRatio: m('cpuUsPerReq') / median(base.map((r) => r.cpuUsPerReq)),
      p99Ratio: m('p99') / median(base.map((r) => r.p99)),
      rpsRatio: m('rps') / median(base.map((r) => r.rps)),
      cpuRatioRounds: ratios('cpuUsPerReq'),
      p99RatioRounds: ratios('p99'),
      rpsRatioRounds: ratios('rps'),
      rssDeltaMB: m('rssMB') - median(base.map((r) => r.rssMB)),
      watchdogUsPerReq: runs.every((r) => r.watchdogUsPerReq !== undefined) ? m('watchdogUsPerReq') : undefined,
      mainUsPerReq: runs.every((r) => r.mainUsPerReq !== undefined) ? m('mainUsPerReq') : undefined,
      rssDeltaRounds: runs.map((r, i) => r.rssMB - base[i].rssMB),
    };
  }
  return out;
}

function table(summary, variants) {
  const lines = [
    '| variant | CPU µs/req | of which main thread | of which watchdog thread | GC pauses µs/req | CPU/req vs baseline (rounds min … max) | p99 ms | p99 vs baseline (rounds min … max) | req/s | req/s vs baseline (rounds min … max) | RSS MB | RSS Δ MB |',
    '|---|---:|---:|---:|---:|---|---:|---|---:|---|---:|---:|',
  ];
  for (const v of variants) {
    const s = summary[v];
    const cell = (ratio, rounds) => (v === 'baseline' ? '—' : `**${pct(ratio)}** (${fmtRange(rounds)})`);
    lines.push(
      `| ${v} | ${s.cpuUsPerReq.toFixed(1)} | ${s.mainUsPerReq === undefined ? '—' : s.mainUsPerReq.toFixed(1)} | ${s.watchdogUsPerReq === undefined ? '—' : s.watchdogUsPerReq.toFixed(2)} | ${s.gcUsPerReq.toFixed(2)} | ${cell(s.cpuRatio, s.cpuRatioRounds)} | ${s.p99.toFixed(1)} | ${cell(s.p99Ratio, s.p99RatioRounds)} | ` +
        `${Math.round(s.rps)} | ${cell(s.rpsRatio, s.rpsRatioRounds)} | ${s.rssMB.toFixed(1)} | ${v === 'baseline' ? '—' : (s.rssDeltaMB >= 0 ? '+' : '') + s.rssDeltaMB.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

function targets(summary) {
  const lw = summary.loopwatch;
  if (!lw) return [];
  const pc = summary['prom-client'];
  // A verdict only when every round agrees; otherwise the run's noise is larger than the target.
  const verdict = (rounds, limit) =>
    Math.max(...rounds) <= limit ? 'met in every round' : Math.min(...rounds) > limit ? '**missed in every round**' : 'inconclusive: rounds straddle the target';
  const row = (name, got, v) => `| ${name} | ${got} | ${v} |`;
  const mb = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} MB`;
  const lower = pc ? lw.cpuRatioRounds.filter((r, i) => r < pc.cpuRatioRounds[i]).length : 0;
  return [
    '| target (loopwatch, default config) | measured (median; rounds min … max) | verdict |',
    '|---|---|---|',
    row('CPU per request ≤ +1 %', `${pct(lw.cpuRatio)} (${fmtRange(lw.cpuRatioRounds)})`, verdict(lw.cpuRatioRounds, 1.01)),
    row('p99 latency ≤ +5 %', `${pct(lw.p99Ratio)} (${fmtRange(lw.p99RatioRounds)})`, verdict(lw.p99RatioRounds, 1.05)),
    ...(pc
      ? [row('CPU per request below prom-client defaults', `${pct(lw.cpuRatio)} vs ${pct(pc.cpuRatio)}`, `lower in ${lower} of ${lw.cpuRatioRounds.length} rounds`)]
      : []),
    row('RSS ≤ +20 MB', `${mb(lw.rssDeltaMB)} (${mb(Math.min(...lw.rssDeltaRounds))} … ${mb(Math.max(...lw.rssDeltaRounds))})`, verdict(lw.rssDeltaRounds, 20)),
  ];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const autocannon = require('autocannon');
  const machine = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGB: +(totalmem() / 2 ** 30).toFixed(1),
    platform: `${process.platform} ${process.arch}`,
  };
  const params = { rounds: o.rounds, duration: o.duration, connections: o.connections, rate: o.rate, warmup: o.warmup, scrapeMs: o.scrape, pin: o.pin };
  if (o.pin) {
    if (cpus().length < 2) throw new Error('--pin needs at least 2 CPUs');
    if (!pinTo(process.pid, `0-${cpus().length - 2}`)) throw new Error('--pin: taskset failed (util-linux, Linux only)');
  }
  console.error(`loopwatch overhead bench: ${JSON.stringify(params)} on Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel})`);
  console.error(o.pin ? `server pinned to CPU ${cpus().length - 1}; autocannon and scraper on the others.` : 'server, autocannon and scraper share the machine; nothing is pinned.');
  const started = new Date();
  const rounds = [];
  for (let i = 0; i < o.rounds; i++) {
    const order = o.variants.map((_, k) => o.variants[(k + i) % o.variants.length]);
    const round = {};
    for (const v of order) {
      const r = await runOne(autocannon, v, o);
      round[v] = r;
      console.error(
        `round ${i + 1}/${o.rounds} ${v.padEnd(18)} ${r.cpuUsPerReq.toFixed(1).padStart(6)} µs/req` +
          (r.mainUsPerReq !== undefined ? ` (main ${r.mainUsPerReq.toFixed(1)})` : '') +
          (r.watchdogUsPerReq !== undefined ? ` (watchdog ${r.watchdogUsPerReq.toFixed(2)})` : '') +
          ` (GC ${r.gcUsPerReq.toFixed(2)})` +
          `  p99 ${String(r.p99).padStart(4)} ms  ` +
          `${Math.round(r.rps).toString().padStart(6)} req/s  RSS ${r.rssMB.toFixed(1)} MB  scrapes ${r.scrapes.ok}${r.scrapes.failed ? ` (${r.scrapes.failed} failed)` : ''}`,
      );
    }
    round.order = order;
    rounds.push(round);
  }
  const summary = summarize(rounds, o.variants);
  const md = [
    `# loopwatch overhead (${started.toISOString().slice(0, 10)})`,
    '',
    `Node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memGB} GB; ` +
      (o.pin ? `server pinned to CPU ${machine.cpus - 1} (all its threads), load generator on the others.` : 'nothing pinned.'),
    `Parameters: ${o.rounds} rounds × ${o.duration} s per variant (after ${o.warmup} s warm-up), ${o.connections} connections, ` +
      `metrics endpoints scraped every ${o.scrape} ms. Percentages are the ratio of medians across rounds; ` +
      'the range is min … max of the per-round ratios (each round against that round\'s baseline).',
    '',
    table(summary, o.variants),
    '',
    ...targets(summary),
    '',
  ].join('\n');
  console.log(md);
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'overhead.raw.json'), JSON.stringify({ date: started.toISOString(), machine, params, rounds, summary }, null, 2) + '\n');
  if (!o.quick) writeFileSync(join(dir, 'overhead.md'), md);
  console.error(`wrote bench/results/overhead.raw.json${o.quick ? '' : ' and bench/results/overhead.md'}`);
}

const si = process.argv.indexOf('--server');
if (si !== -1) {
  serverMain(process.argv[si + 1]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
