// Cold start: what loopwatch adds to a process start, to an HTTP app's first response, and how long the agent's own
// start blocks the app's loop.
//
//   node_modules/node24/bin/node bench/cold-start.mjs [--runs 20] [--env KEY=VALUE ...] [--baseline DIR]
//
// Every run starts, in an order rotated per run (interleaved, like hyperfine's but paired), a fresh process of each
// variant:
//   - `node -e ''` without and with `--require loopwatch/register` (wall time to exit; the main thread's CPU time
//     when the script starts, which a loaded machine inflates far less than wall time);
//   - a small node:http app without and with `--require loopwatch/register`: time from spawn to its first answered
//     request, and the longest gap of a `setInterval(1)` the app starts first thing, over its first 1.5 s (what the
//     preloaded agent's deferred start-up work blocks, seen from the app);
//   - the same app calling `require('loopwatch').start()` itself once it listens: how long that call blocks (its
//     synchronous duration) and the longest gap of the app's `setInterval(1)` from the call to 1.5 s after it (the
//     call plus any start-up work the agent left for later turns of the loop).
// Reports medians and the median of the paired differences with a 95 % bootstrap interval. `--env` passes variables
// to every run (e.g. `--env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`). `--baseline DIR` (an `agent/dist`
// of another build, e.g. main's) adds its variants to the same interleaved runs, and reports this build against it.
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const arg = (name) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
const runs = Number(arg('runs') || 20);
const baselineDir = arg('baseline') && resolve(arg('baseline'));
const extraEnv = {};
argv.forEach((a, i) => {
  if (a === '--env') {
    const [k, ...v] = argv[i + 1].split('=');
    extraEnv[k] = v.join('=');
  }
});
const env = { ...process.env, LOOPWATCH_PROMETHEUS_PORT: '0', ...extraEnv };

const cpuNow = 'const u = process.threadCpuUsage(); return (u.user + u.system) / 1000;';
// Started first thing: the gaps of a 1 ms interval are what blocked the loop.
const APP = (startAgent) => `
const cpuAtStart = (() => { ${cpuNow} })();
const t0 = performance.now();
let last = t0, maxGap = 0, gapSince = ${startAgent ? 'Infinity' : '0'};
const tick = setInterval(() => {
  const n = performance.now();
  if (n >= gapSince && n - last > maxGap) maxGap = n - last;
  last = n;
}, 1);
let served = false;
const server = require('node:http').createServer((req, res) => { served = true; res.end('ok'); });
server.listen(0, '127.0.0.1', () => {
  let startMs, startCpuMs;
  ${startAgent ? `
  setTimeout(() => {
    const cpu0 = (() => { ${cpuNow} })();
    gapSince = performance.now();
    require(${JSON.stringify('AGENT_DIR')} + '/index.js').start();
    startMs = performance.now() - gapSince;
    startCpuMs = (() => { ${cpuNow} })() - cpu0;
    done();
  }, 50);` : 'done();'}
  function done() {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n');
    setTimeout(() => {
      clearInterval(tick);
      process.stdout.write(JSON.stringify({ maxGap, startMs, startCpuMs, cpuAtStart }) + '\\n');
      // Closed once it has answered the bench's request (on a loaded machine that can come after the window).
      if (served) server.close();
      else server.once('request', () => setImmediate(() => server.close()));
    }, 1500);
  }
});
`;

function timeExit(args) {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [...args, '-e', `process.stdout.write(String((() => { ${cpuNow} })()))`], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolvePromise({ exit: performance.now() - t0, cpuAtStart: Number(out) }) : reject(new Error(`exit ${code}: ${args.join(' ')}`))));
  });
}

function timeApp(args, source) {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [...args, '-e', source], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let firstResponse;
    c.stdout.on('data', async (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
        const m = JSON.parse(buf.slice(0, i));
        if (m.port) {
          const r = await fetch(`http://127.0.0.1:${m.port}/`, { headers: { connection: 'close' } });
          await r.text();
          firstResponse = performance.now() - t0;
        }
        if (m.maxGap !== undefined) c.once('exit', () => resolvePromise({ firstResponse, ...m }));
      }
    });
    c.on('error', reject);
  });
}

const builds = { 'this build': join(here, '../agent/dist'), ...(baselineDir ? { baseline: baselineDir } : {}) };
const VARIANTS = {
  'node -e': () => timeExit([]),
  app: () => timeApp([], APP(false)),
};
for (const [name, dir] of Object.entries(builds)) {
  VARIANTS[`node -e, register (${name})`] = () => timeExit(['--require', join(dir, 'register.js')]);
  VARIANTS[`app, register (${name})`] = () => timeApp(['--require', join(dir, 'register.js')], APP(false));
  VARIANTS[`app, start() (${name})`] = () => timeApp([], APP(true).replace('AGENT_DIR', dir));
}
const data = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
const names = Object.keys(VARIANTS);
for (const name of names) await VARIANTS[name](); // warm the file cache
for (let r = 0; r < runs; r++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + r) % names.length];
    data[name].push(await VARIANTS[name]());
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
function pairedDiff(a, b) {
  const d = a.map((x, i) => b[i] - x);
  const boots = [];
  for (let k = 0; k < 2000; k++) boots.push(median(d.map(() => d[Math.floor(Math.random() * d.length)])));
  boots.sort((x, y) => x - y);
  return { median: median(d), lo: boots[Math.floor(boots.length * 0.025)], hi: boots[Math.floor(boots.length * 0.975)] };
}
const f = (x) => x.toFixed(1);
const col = (variant, field) => data[variant].map((x) => x[field]);
const row = (what, a, b) => {
  const d = pairedDiff(a, b);
  console.log(`| ${what} | ${f(median(a))} | ${f(median(b))} | ${f(d.median)} (${f(d.lo)} … ${f(d.hi)}) |`);
};
console.log(`Node ${process.version}, ${runs} interleaved runs${Object.keys(extraEnv).length ? `, ${JSON.stringify(extraEnv)}` : ''}`);
for (const name of Object.keys(builds)) {
  console.log(`\n${name} (${builds[name]})\n`);
  console.log('| ms (medians) | without | with loopwatch | added (95 % CI) |');
  console.log('|---|---|---|---|');
  row("process start and exit (`-e ''`)", col('node -e', 'exit'), col(`node -e, register (${name})`, 'exit'));
  row("main thread's CPU time when the script starts (`-e`)", col('node -e', 'cpuAtStart'), col(`node -e, register (${name})`, 'cpuAtStart'));
  row('HTTP app (register): spawn to first response', col('app', 'firstResponse'), col(`app, register (${name})`, 'firstResponse'));
  row('HTTP app (register): longest loop block in its first 1.5 s', col('app', 'maxGap'), col(`app, register (${name})`, 'maxGap'));
  const startMs = col(`app, start() (${name})`, 'startMs');
  const gap = col(`app, start() (${name})`, 'maxGap');
  const startCpu = col(`app, start() (${name})`, 'startCpuMs');
  console.log(`| HTTP app, \`require('loopwatch').start()\` once listening: the call | | ${f(median(startMs))} | (max ${f(Math.max(...startMs))}) |`);
  console.log(`| HTTP app, \`start()\` once listening: the main thread's CPU time in the call | | ${f(median(startCpu))} | (max ${f(Math.max(...startCpu))}) |`);
  console.log(`| HTTP app, \`start()\` once listening: longest loop block from the call to 1.5 s after | | ${f(median(gap))} | (max ${f(Math.max(...gap))}) |`);
  console.log(`\nlongest loop block with loopwatch/register, max over runs: ${f(Math.max(...col(`app, register (${name})`, 'maxGap')))} ms`);
}
if (baselineDir) {
  console.log('\nthis build against the baseline (paired per run)\n');
  console.log('| ms (medians) | baseline | this build | difference (95 % CI) |');
  console.log('|---|---|---|---|');
  const b = 'baseline';
  const t = 'this build';
  row("register: process start and exit (`-e ''`)", col(`node -e, register (${b})`, 'exit'), col(`node -e, register (${t})`, 'exit'));
  row("register: main thread's CPU time when the script starts", col(`node -e, register (${b})`, 'cpuAtStart'), col(`node -e, register (${t})`, 'cpuAtStart'));
  row('register: HTTP app, spawn to first response', col(`app, register (${b})`, 'firstResponse'), col(`app, register (${t})`, 'firstResponse'));
  row('register: HTTP app, longest loop block in its first 1.5 s', col(`app, register (${b})`, 'maxGap'), col(`app, register (${t})`, 'maxGap'));
  row("in-app `start()`: the call", col(`app, start() (${b})`, 'startMs'), col(`app, start() (${t})`, 'startMs'));
  row("in-app `start()`: the main thread's CPU time in the call", col(`app, start() (${b})`, 'startCpuMs'), col(`app, start() (${t})`, 'startCpuMs'));
  row("in-app `start()`: longest loop block from the call to 1.5 s after", col(`app, start() (${b})`, 'maxGap'), col(`app, start() (${t})`, 'maxGap'));
}
