// Cold start: what `--require loopwatch/register` adds to a process start, to an HTTP app's first response, and the
// longest block of the app's loop the agent's own start causes.
//
//   node_modules/node24/bin/node bench/cold-start.mjs [--runs 20] [--env KEY=VALUE ...]
//
// Every run starts, in an order rotated per run (interleaved, like hyperfine's but paired), a fresh process of
//   - `node -e ''` and `node --require loopwatch/register -e ''` (wall time to exit),
//   - a small node:http app without and with the agent: time from spawn to its first answered request, and the
//     longest gap of a `setInterval(1)` the app starts first thing, over its first 1.5 s (the loop block the
//     agent's start causes, seen from the app).
// Reports medians and the median of the paired differences with a 95 % bootstrap interval. `--env` passes variables
// to every run (e.g. `--env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const REGISTER = join(here, '../agent/dist/register.js');
const argv = process.argv.slice(2);
const runs = Number(argv[argv.indexOf('--runs') + 1] || 20);
const extraEnv = {};
argv.forEach((a, i) => { if (a === '--env') { const [k, ...v] = argv[i + 1].split('='); extraEnv[k] = v.join('='); } });
const env = { ...process.env, LOOPWATCH_PROMETHEUS_PORT: '0', ...extraEnv };

const APP = `
const t0 = performance.now();
let last = t0, maxGap = 0;
const tick = setInterval(() => { const n = performance.now(); if (n - last > maxGap) maxGap = n - last; last = n; }, 1);
const server = require('node:http').createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
setTimeout(() => { clearInterval(tick); process.stdout.write(JSON.stringify({ maxGap }) + '\\n'); server.close(); }, 1500);
`;

function timeExit(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, args, { env, stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`exit ${code}: ${args.join(' ')}`))));
  });
}

function timeApp(withAgent) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [...(withAgent ? ['--require', REGISTER] : []), '-e', APP], { env, stdio: ['ignore', 'pipe', 'inherit'] });
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
        if (m.maxGap !== undefined) c.once('exit', () => resolve({ firstResponse, maxGap: m.maxGap }));
      }
    });
    c.on('error', reject);
  });
}

const VARIANTS = {
  'node -e': () => timeExit(['-e', '']),
  'node --require loopwatch/register -e': () => timeExit(['--require', REGISTER, '-e', '']),
  'app': () => timeApp(false),
  'app + loopwatch': () => timeApp(true),
};
const data = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
const names = Object.keys(VARIANTS);
for (const name of names) await VARIANTS[name](); // warm the file cache
for (let r = 0; r < runs; r++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + r) % names.length];
    data[name].push(await VARIANTS[name]());
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
function pairedDiff(a, b) {
  const d = a.map((x, i) => b[i] - x);
  const boots = [];
  for (let k = 0; k < 2000; k++) boots.push(median(d.map(() => d[Math.floor(Math.random() * d.length)])));
  boots.sort((x, y) => x - y);
  return { median: median(d), lo: boots[Math.floor(boots.length * 0.025)], hi: boots[Math.floor(boots.length * 0.975)] };
}
const f = (x) => x.toFixed(1);
const row = (what, a, b) => {
  const d = pairedDiff(a, b);
  console.log(`| ${what} | ${f(median(a))} | ${f(median(b))} | ${f(d.median)} (${f(d.lo)} … ${f(d.hi)}) |`);
};
console.log(`Node ${process.version}, ${runs} interleaved runs${Object.keys(extraEnv).length ? `, ${JSON.stringify(extraEnv)}` : ''}\n`);
console.log('| ms (medians) | without | with loopwatch | added (95 % CI) |');
console.log('|---|---|---|---|');
row("process start and exit (`-e ''`)", data['node -e'], data['node --require loopwatch/register -e']);
row('HTTP app: spawn to first response', data.app.map((x) => x.firstResponse), data['app + loopwatch'].map((x) => x.firstResponse));
row('HTTP app: longest loop block in its first 1.5 s', data.app.map((x) => x.maxGap), data['app + loopwatch'].map((x) => x.maxGap));
console.log(`\nlongest loop block with loopwatch, max over runs: ${f(Math.max(...data['app + loopwatch'].map((x) => x.maxGap)))} ms`);
