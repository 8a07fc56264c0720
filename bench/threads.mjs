// Where a monitor's CPU goes, by thread: the same node:http server as bench/overhead.mjs (one child process per
// variant and round, order rotated), driven at a fixed rate, with every thread's CPU time read from Linux's
// scheduler statistics (/proc/<pid>/task/<tid>/schedstat, ns) and grouped by thread name: the main thread (MAIN),
// V8's platform threads (V8Worker: GC and compilation for every isolate of the process), loopwatch's watchdog
// (loopwatch-watch), libuv's threadpool (libuv-worker). Reported: median µs of CPU per request per group, and the
// difference to the baseline's median.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/threads.mjs [--rounds 6] [--duration 8]
//        [--rate 2000 (0: saturate)] [--scrape 1000] [--pin] [--variants baseline,loopwatch,'loopwatch@LOOPWATCH_ATTRIBUTION=off']
//
// Linux only. --pin puts the server on the last CPU and this process (autocannon, scraper) on the others.
import { execFileSync, fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
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
const ROUNDS = Number(arg('rounds', 6));
const DURATION = Number(arg('duration', 8));
const RATE = Number(arg('rate', 2000));
const SCRAPE_MS = Number(arg('scrape', 1000));
const PIN = process.argv.includes('--pin');
const VARIANTS = arg('variants', 'baseline,loopwatch,loopwatch@LOOPWATCH_ATTRIBUTION=off').split(',');

/** CPU ns per thread group of process `pid`. */
function threadTimes(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = Number(tid) === pid ? 'MAIN' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      out[name] = (out[name] ?? 0) + ns;
    } catch {
      // the thread exited between readdir and read (none do in these runs; one that did would lower its group's delta)
    }
  }
  return out;
}

async function runOne(variant) {
  const child = fork(join(here, 'overhead.mjs'), ['--server', variant], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (PIN) execFileSync('taskset', ['-a', '-p', '-c', String(cpus().length - 1), String(child.pid)], { stdio: 'ignore' });
  try {
    const ready = await new Promise((resolve, reject) => {
      child.on('message', (m) => m?.type === 'ready' && resolve(m));
      child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
    });
    const scraper = ready.metricsUrl && SCRAPE_MS > 0 ? setInterval(() => fetch(ready.metricsUrl).then((r) => r.text()).catch(() => {}), SCRAPE_MS) : undefined;
    const load = (seconds) =>
      new Promise((resolve, reject) =>
        autocannon({ url: ready.url, connections: 50, duration: seconds, ...(RATE > 0 ? { overallRate: RATE } : {}) }, (err, r) => (err ? reject(err) : resolve(r))),
      );
    await load(2);
    const before = threadTimes(child.pid);
    const result = await load(DURATION);
    const after = threadTimes(child.pid);
    clearInterval(scraper);
    const perReq = {};
    for (const [name, ns] of Object.entries(after)) perReq[name] = (ns - (before[name] ?? 0)) / 1000 / result.requests.total;
    return perReq;
  } finally {
    child.send('exit');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const runs = Object.fromEntries(VARIANTS.map((v) => [v, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]);
  for (const v of order) {
    const t = await runOne(v);
    runs[v].push(t);
    console.error(`round ${r + 1}/${ROUNDS} ${v}: ${Object.entries(t).filter(([, x]) => x >= 0.01).map(([k, x]) => `${k} ${x.toFixed(2)}`).join(', ')}`);
  }
}
const groups = [...new Set(Object.values(runs).flatMap((rs) => rs.flatMap((t) => Object.keys(t))))].filter((g) =>
  Object.values(runs).some((rs) => median(rs.map((t) => t[g] ?? 0)) >= 0.01),
);
const total = (t) => Object.values(t).reduce((a, b) => a + b, 0);
const base = runs[VARIANTS[0]];
console.log(`\nNode ${process.version}; ${ROUNDS} rounds × ${DURATION} s, ${RATE} req/s${PIN ? ', server pinned' : ''}; µs of CPU per request, median (Δ vs ${VARIANTS[0]})\n`);
console.log(`| variant | total | ${groups.join(' | ')} |`);
console.log(`|---|---:|${groups.map(() => '---:').join('|')}|`);
for (const v of VARIANTS) {
  const cell = (f) => {
    const m = median(runs[v].map(f));
    return v === VARIANTS[0] ? m.toFixed(2) : `${m.toFixed(2)} (${m - median(base.map(f)) >= 0 ? '+' : ''}${(m - median(base.map(f))).toFixed(2)})`;
  };
  console.log(`| ${v} | ${cell(total)} | ${groups.map((g) => cell((t) => t[g] ?? 0)).join(' | ')} |`);
}
