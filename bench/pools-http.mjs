// CPU cost of pool monitoring per HTTP request.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/pools-http.mjs [--rounds 6] [--duration 8] [--rate 1000] [--connections 20] [--quick]
//
// Same method as bench/overhead.mjs: every round, each arm gets a fresh node:http server in its own child
// process (order alternated per round); this process warms it up, then drives it with autocannon at a fixed
// rate and reads the server's own process.cpuUsage() (every thread, including loopwatch's watchdog) and its
// completed-request count before and after: CPU µs per request.
//
// Both arms run loopwatch (default config, Prometheus endpoint on port 0, scraped once a second). Each request
// acquires and releases from four real pools: a generic-pool resource, a tarn resource, a pg query (SELECT 1 on
// PostgreSQL 127.0.0.1:5432 db test) and a mysql2 query (SELECT 1 on MariaDB 127.0.0.1:3306 db test).
//   A: no pool monitoring (threadpool: false, no monitorPool)
//   B: every pool monitored (threadpool monitor on, monitorPool on all four)
// --fs: the threadpool monitor's operation counting alone, on a file-serving handler (fs.stat + fs.promises.readFile
// of a 4 KiB file per request; no database):
//   A: loopwatch with threadpool: { countOperations: false } (the default: the queue-wait probe only)
//   B: loopwatch with threadpool: { countOperations: true } (fs/crypto/zlib/dns counted)
// Output: a markdown table (per-round CPU/request, ratio B/A with min … max) and bench/results/pools-http[-fs].md.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

async function fsServerMain(arm) {
  const http = require('node:http');
  const fs = require('node:fs');
  // --preload: zlib and dns loaded before the agent, so the monitor wraps them at start and registers no module hook.
  if (PRELOAD) {
    require('node:zlib');
    require('node:dns');
  }
  // --taint-a: arm A first starts and stops a counting monitor (wrap, then restore) before the agent starts without
  // counting: does the cost stay with a process whose builtins were wrapped once?
  if (TAINT_A && arm === 'A') {
    const sink = { update() {}, observeWait() {}, observeUse() {}, error() {}, close() {} };
    require('../agent/dist/pools/index.js').startThreadpoolMonitor(() => sink, () => {}, { countOperations: true }).stop();
  }
  const agent = require('loopwatch').start({ prometheus: { port: 0 }, threadpool: { countOperations: arm === 'B' } });
  const metricsUrl = (await agent.ready()).prometheusUrl;
  // --sync-a: arm A also calls module.syncBuiltinESMExports() once, as the counting monitor does at start.
  if (SYNC_A && arm === 'A') require('node:module').syncBuiltinESMExports();
  const file = join(require('node:os').tmpdir(), `lw-pools-http-${process.pid}`);
  fs.writeFileSync(file, Buffer.alloc(4096, 120));
  let served = 0;
  const server = http.createServer((req, res) => {
    fs.stat(file, (err, st) => {
      if (err) return void res.writeHead(500).end(String(err));
      fs.promises.readFile(file).then(
        (body) => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': st.size, 'last-modified': st.mtime.toUTCString() });
          res.end(body);
          served++;
        },
        (e) => res.writeHead(500).end(String(e)),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', (msg) => {
    if (msg === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', cpuUs: cpu.user + cpu.system, served });
    } else if (msg === 'exit') {
      fs.rmSync(file, { force: true });
      process.exit(0);
    }
  });
  process.send({ type: 'ready', url: `http://127.0.0.1:${server.address().port}/`, metricsUrl });
}

async function serverMain(arm) {
  const http = require('node:http');
  const monitored = arm === 'B';
  const agent = require('loopwatch').start({ prometheus: { port: 0 }, threadpool: monitored ? { countOperations: true } : false });
  const metricsUrl = (await agent.ready()).prometheusUrl;
  const genericPool = require('generic-pool');
  const { Pool: TarnPool } = require('tarn');
  const pg = require('pg');
  const mysql = require('mysql2');
  const gp = genericPool.createPool({ create: async () => ({}), destroy: async () => {} }, { max: 10, min: 2 });
  const tarn = new TarnPool({ create: (cb) => cb(null, {}), destroy: () => {}, min: 0, max: 10 });
  const pgPool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 10 });
  const my = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', connectionLimit: 10 }).promise();
  if (monitored) {
    agent.monitorPool(gp, { name: 'gp' });
    agent.monitorPool(tarn, { name: 'tarn' });
    agent.monitorPool(pgPool, { name: 'pg' });
    agent.monitorPool(my, { name: 'mysql' });
  }
  let served = 0;
  async function handle() {
    const r = await gp.acquire();
    await gp.release(r);
    const t = await tarn.acquire().promise;
    tarn.release(t);
    const a = await pgPool.query('SELECT 1 AS one');
    const [b] = await my.query('SELECT 1 AS one');
    return JSON.stringify({ pg: a.rows[0].one, mysql: b[0].one });
  }
  const server = http.createServer((req, res) => {
    handle().then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        served++;
      },
      (err) => {
        res.writeHead(500);
        res.end(String(err));
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', (msg) => {
    if (msg === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', cpuUs: cpu.user + cpu.system, served });
    } else if (msg === 'exit') process.exit(0);
  });
  process.send({ type: 'ready', url: `http://127.0.0.1:${server.address().port}/`, metricsUrl });
}

const FS_MODE = process.argv.includes('--fs');
const PRELOAD = process.argv.includes('--preload');
const SYNC_A = process.argv.includes('--sync-a');
const TAINT_A = process.argv.includes('--taint-a');

function startServer(arm) {
  const child = fork(fileURLToPath(import.meta.url), ['--server', arm, ...(FS_MODE ? ['--fs'] : []), ...(PRELOAD ? ['--preload'] : []), ...(SYNC_A ? ['--sync-a'] : []), ...(TAINT_A ? ['--taint-a'] : [])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waitFor = (type) =>
    new Promise((resolve, reject) => {
      const onMsg = (m) => {
        if (m && m.type === type) {
          child.off('message', onMsg);
          child.off('exit', onExit);
          resolve(m);
        }
      };
      const onExit = (code) => reject(new Error(`arm ${arm} server exited with ${code}`));
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  return waitFor('ready').then((ready) => ({
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

async function runOne(autocannon, arm, o) {
  const srv = await startServer(arm);
  const scrape = setInterval(() => fetch(srv.metricsUrl).then((r) => r.text()).catch(() => {}), 1000);
  try {
    const load = { url: srv.url, connections: o.connections, overallRate: o.rate };
    await autocannon({ ...load, duration: o.warmup });
    const s0 = await srv.stats();
    const r = await autocannon({ ...load, duration: o.duration });
    const s1 = await srv.stats();
    if (r.errors || r.non2xx || r.timeouts) throw new Error(`arm ${arm}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
    const served = s1.served - s0.served;
    return { arm, requests: served, cpuUsPerReq: (s1.cpuUs - s0.cpuUs) / served, p99: r.latency.p99 };
  } finally {
    clearInterval(scrape);
    await srv.stop();
  }
}

async function main() {
  const o = { rounds: 6, duration: 8, warmup: 2, rate: 1000, connections: 20 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'quick') Object.assign(o, { rounds: 2, duration: 3, warmup: 1 });
    else if (k === 'fs' || k === 'preload' || k === 'sync-a' || k === 'taint-a') continue;
    else if (k in o) o[k] = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  const autocannon = require('autocannon');
  const rounds = [];
  for (let i = 0; i < o.rounds; i++) {
    const order = i % 2 ? ['B', 'A'] : ['A', 'B'];
    const round = {};
    for (const arm of order) round[arm] = await runOne(autocannon, arm, o);
    rounds.push(round);
    console.error(`round ${i + 1}: A ${round.A.cpuUsPerReq.toFixed(1)} µs/req, B ${round.B.cpuUsPerReq.toFixed(1)} µs/req`);
  }
  const median = (a) => {
    const s = [...a].sort((x, y) => x - y);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const A = rounds.map((r) => r.A.cpuUsPerReq);
  const B = rounds.map((r) => r.B.cpuUsPerReq);
  const ratios = rounds.map((r) => r.B.cpuUsPerReq / r.A.cpuUsPerReq);
  const pct = (x) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)} %`;
  const lines = [
    `Node ${process.version}; ${o.rounds} rounds × ${o.duration} s per arm (after ${o.warmup} s warm-up), ${o.rate} req/s over ${o.connections} connections.`,
    '',
    '| arm | CPU µs/request (median) | rounds |',
    '|---|---:|---|',
    `| A: ${FS_MODE ? 'loopwatch, countOperations: false (fs handler)' : 'loopwatch, no pool monitoring'} | ${median(A).toFixed(1)} | ${A.map((x) => x.toFixed(1)).join(', ')} |`,
    `| B: ${FS_MODE ? 'loopwatch, countOperations: true (fs handler)' : 'loopwatch, threadpool + 4 pools monitored'} | ${median(B).toFixed(1)} | ${B.map((x) => x.toFixed(1)).join(', ')} |`,
    '',
    `B / A per round: median ${pct(median(ratios))} (min ${pct(Math.min(...ratios))} … max ${pct(Math.max(...ratios))}).`,
  ];
  console.log(lines.join('\n'));
  mkdirSync(join(here, 'results'), { recursive: true });
  const out = FS_MODE ? 'pools-http-fs' : 'pools-http';
  writeFileSync(join(here, `results/${out}.md`), `# bench/pools-http.mjs${FS_MODE ? ' --fs' : ''}\n\n${lines.join('\n')}\n`);
  writeFileSync(join(here, `results/${out}.raw.json`), JSON.stringify({ params: o, rounds }, null, 2));
}

if (process.argv[2] === '--server') (FS_MODE ? fsServerMain : serverMain)(process.argv[3]);
else main().catch((err) => {
  console.error(err);
  process.exit(1);
});
