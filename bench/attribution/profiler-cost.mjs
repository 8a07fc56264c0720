// Measures the two V8 CPU profiler mechanisms docs/attribution.md evaluated on paper ("Late stack reads"): the
// profiler samples from a signal (SIGPROF, on V8's sampler thread), not from an interrupt, so it could name the caller
// of a builtin that does not check for interrupts. Both are driven as the agent would drive them: a `node:inspector`
// Session in a worker thread connected to the main thread (`connectToMainThread`), `Profiler.start`.
//
// Part "cost": CPU per request of the profiler running continuously in a server under load, against no profiler.
// One server process (node:http, a ~1 KB JSON handler with one await and one trip through the check phase) toggled
// between conditions by IPC: "off" (no session connected, as the agent runs between stalls) and the profiler at each
// sampling interval (session connected, `Profiler.setSamplingInterval`, `Profiler.start`, and `Profiler.stop` + start
// every --restart s, which any continuous use must do: the profile is only readable at stop, and grows until then).
// Each round runs every condition once, in an order rotated per round (interleaved: the VM's drift hits all alike);
// the CPU of the whole process (all threads: the profiler's sampler thread and the worker included) per request
// served, paired with the same round's "off", as a median ratio with a 95 % bootstrap CI over the rounds. --rate N
// offers N req/s instead of saturating the server (at saturation on a shared VM the CPU share the server gets, and
// with it the CPU per request, changes from block to block).
//
// Part "onset": can a profiler started at stall onset catch a stall in a non-interruptible builtin? A child process
// blocks its main thread in `parseOrders` (one large `JSON.parse`), `sortScores` (`Float64Array#sort`) or
// `crunchNumbers` (an interruptible JS loop, the control). The worker sees the block begin (a shared flag), waits
// --onset-delay ms (the stall threshold: when the watchdog would notice) and sends `Profiler.start` (session already
// connected and the profiler enabled: the best case for the mechanism; the agent would connect at onset too). It
// records when `Profiler.start` is answered and, from the profile, when the first sample was taken and how many of
// the sampling periods between the send and the block's end have a sample whose stack holds the blocking function.
// "continuous" is the same with the profiler started before the block. Profile timestamps are V8's TimeTicks (µs,
// CLOCK_MONOTONIC on Linux), the clock `process.hrtime` reads on every thread.
//
//   node scripts/run.mjs build   (not needed: the agent is not loaded)
//   nice -n 19 node_modules/node24/bin/node bench/attribution/profiler-cost.mjs [--part cost|onset|both]
//        [--rounds 10] [--block 3] [--settle 1] [--connections 20] [--rate 0] [--intervals 10000,1000] [--restart 5]
//        [--trials 5] [--onset-delay 100] [--onset-interval 1000] [--json-mb 40] [--sort-m 4] [--raw out.json]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { bootstrapMedianCi, median, pct, quantile } from '../stats.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const self = new URL(import.meta.url);

/** Promise-returning `session.post`. */
function poster(session) {
  return (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
}

// ─── worker thread of the cost server: drives the profiler on the main thread ───────────────────────────────────
async function profilerWorker() {
  const { Session } = await import('node:inspector');
  let session, post, timer, since, samples = 0, restarts = 0;
  const stop = async () => {
    clearInterval(timer);
    timer = undefined;
    if (!session) return;
    const { profile } = await post('Profiler.stop');
    samples += profile.samples.length;
    session.disconnect();
    session = undefined;
  };
  parentPort.on('message', async (m) => {
    // What the run that ends here took: samples per second of running (the interval really sampled at).
    await stop();
    const ended = { samples, runMs: since ? Date.now() - since : 0, restarts };
    samples = 0;
    restarts = 0;
    since = undefined;
    if (m.cmd === 'profile') {
      session = new Session();
      session.connectToMainThread();
      post = poster(session);
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: m.intervalUs });
      await post('Profiler.start');
      since = Date.now();
      timer = setInterval(async () => {
        // Reading the profile is stopping it: what a continuous profiler pays to look at its samples.
        const { profile } = await post('Profiler.stop');
        samples += profile.samples.length;
        restarts++;
        await post('Profiler.start');
      }, m.restartMs);
    }
    parentPort.postMessage({ type: 'toggled', ...ended });
  });
  parentPort.postMessage({ type: 'ready' });
}

// ─── the cost server (child process) ───────────────────────────────────────────────────────────────────────────
async function costServer() {
  const http = await import('node:http');
  const { randomUUID } = await import('node:crypto');
  const worker = new Worker(self, { workerData: { role: 'profiler' } });
  await once(worker, 'message');
  const items = Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item-${i}`, price: i * 3.5, tags: ['a', 'b', 'c'] }));
  let served = 0;
  async function handle(req) {
    const user = await Promise.resolve({ id: 42, name: 'bench' }).then((u) => ({ ...u, role: 'reader' }));
    await new Promise((r) => setImmediate(r));
    return JSON.stringify({ requestId: randomUUID(), path: req.url, user, items, at: Date.now() });
  }
  const server = http.createServer((req, res) => {
    handle(req).then((body) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      served++;
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', async (m) => {
    if (m.cmd === 'stats') {
      const u = process.cpuUsage();
      process.send({ type: 'stats', cpuUs: u.user + u.system, served });
    } else if (m.cmd === 'profile' || m.cmd === 'off') {
      worker.postMessage(m);
      const [t] = await once(worker, 'message');
      process.send(t);
    } else if (m.cmd === 'exit') {
      worker.postMessage({ cmd: 'off' });
      await once(worker, 'message');
      process.exit(0);
    }
  });
  process.send({ type: 'ready', url: `http://127.0.0.1:${server.address().port}/orders/1` });
}

// ─── part "cost" (parent) ──────────────────────────────────────────────────────────────────────────────────────
async function cost() {
  const require = createRequire(import.meta.url);
  const autocannon = require('autocannon');
  const ROUNDS = Number(arg('rounds', 10));
  const BLOCK = Number(arg('block', 3));
  const SETTLE = Number(arg('settle', 1)) * 1000;
  const CONNECTIONS = Number(arg('connections', 20));
  const RATE = Number(arg('rate', 0));
  const INTERVALS = arg('intervals', '10000,1000').split(',').map(Number);
  const RESTART_MS = Number(arg('restart', 5)) * 1000;
  const child = fork(self, ['--role', 'server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  process.on('exit', () => child.kill());
  const ask = async (msg, type) => {
    const p = new Promise((resolve) => {
      const on = (m) => m?.type === type && (child.off('message', on), resolve(m));
      child.on('message', on);
    });
    child.send(msg);
    return p;
  };
  const { url } = await new Promise((r) => child.once('message', r));
  const load = (seconds) =>
    new Promise((resolve, reject) => {
      const times = [];
      const inst = autocannon({ url, connections: CONNECTIONS, duration: seconds, ...(RATE > 0 ? { overallRate: RATE } : {}) }, (err, r) => (err ? reject(err) : resolve({ ...r, times })));
      inst.on('response', (_c, status, _b, t) => status === 200 && times.push(t));
    });
  const conditions = ['off', ...INTERVALS.map((i) => `profiler ${i / 1000} ms`)];
  const set = (c) => (c === 'off' ? ask({ cmd: 'off' }, 'toggled') : ask({ cmd: 'profile', intervalUs: INTERVALS[conditions.indexOf(c) - 1], restartMs: RESTART_MS }, 'toggled'));
  const sampleRuns = {};
  // Samples the profiler took per second of running, read when it is stopped (the next condition's toggle).
  let current;
  const run = async (c) => {
    const t = await set(c);
    if (current && current !== 'off' && t.runMs) (sampleRuns[current] ??= []).push((t.samples * 1000) / t.runMs);
    current = c;
  };
  console.error(`profiler cost: ${ROUNDS} rounds × ${conditions.length} conditions × ${BLOCK} s, ${CONNECTIONS} connections, ${RATE > 0 ? `${RATE} req/s offered` : 'saturation'}, restart every ${RESTART_MS / 1000} s, Node ${process.version}`);
  await load(2); // warm-up (JIT)
  const rounds = [];
  for (let r = -1; r < ROUNDS; r++) {
    const order = conditions.map((_, i) => conditions[(i + Math.max(0, r)) % conditions.length]);
    const row = {};
    for (const c of order) {
      await run(c);
      await sleep(SETTLE);
      const s0 = await ask({ cmd: 'stats' }, 'stats');
      const res = await load(BLOCK);
      const s1 = await ask({ cmd: 'stats' }, 'stats');
      if (res.errors || res.non2xx || res.timeouts) throw new Error(`${res.errors} errors, ${res.non2xx} non-2xx, ${res.timeouts} timeouts`);
      const served = s1.served - s0.served;
      const times = Float64Array.from(res.times).sort();
      row[c] = { cpu: (s1.cpuUs - s0.cpuUs) / served, rps: served / BLOCK, p99: times[Math.floor(0.99 * times.length)] };
    }
    if (r < 0) continue; // the first round warms every condition up
    rounds.push(row);
    console.error(`round ${r + 1}: ${conditions.map((c) => `${c} ${row[c].cpu.toFixed(2)} µs/req`).join(', ')}`);
  }
  await run('off');
  child.send({ cmd: 'exit' });
  const lines = [
    `Node ${process.version}; ${ROUNDS} rounds × ${BLOCK} s per condition, order rotated per round; ${RATE > 0 ? `${RATE} req/s offered` : 'saturation'}, ${CONNECTIONS} connections; profile read (stop + start) every ${RESTART_MS / 1000} s; medians over rounds`,
    '',
    '| condition | CPU µs/request | paired CPU ratio vs off (95 % CI of the median) | p99 ms | paired p99 ratio | requests/s | samples/s taken |',
    '|---|---:|---|---:|---|---:|---:|',
  ];
  for (const c of conditions) {
    const cpu = median(rounds.map((x) => x[c].cpu));
    const p99 = median(rounds.map((x) => x[c].p99));
    const rps = median(rounds.map((x) => x[c].rps));
    if (c === 'off') {
      lines.push(`| off (no session) | ${cpu.toFixed(2)} | — | ${p99.toFixed(2)} | — | ${rps.toFixed(0)} | — |`);
      continue;
    }
    const ratios = rounds.map((x) => x[c].cpu / x.off.cpu);
    const [lo, hi] = bootstrapMedianCi(ratios);
    const p99r = rounds.map((x) => x[c].p99 / x.off.p99);
    const rate = sampleRuns[c] ? median(sampleRuns[c]) : NaN;
    lines.push(`| ${c} | ${cpu.toFixed(2)} | **${pct(median(ratios))}** (${pct(lo)} … ${pct(hi)}); IQR ${pct(quantile(ratios, 0.25))} … ${pct(quantile(ratios, 0.75))} | ${p99.toFixed(2)} | ${pct(median(p99r))} | ${rps.toFixed(0)} | ${rate.toFixed(0)} |`);
  }
  console.log(lines.join('\n'));
  return { conditions, rounds, samplesPerSecond: sampleRuns };
}

// ─── part "onset": the watching worker ─────────────────────────────────────────────────────────────────────────
async function onsetWorker() {
  const { Session } = await import('node:inspector');
  const { sab, onsetDelayMs, intervalUs } = workerData;
  const flag = new Int32Array(sab, 0, 1);
  const times = new BigInt64Array(sab, 8, 2); // block start, block end (hrtime ns), written by the main thread
  const session = new Session();
  session.connectToMainThread();
  const post = poster(session);
  // Listening first: the session alone does not keep this thread's loop alive while it waits for the answers.
  parentPort.on('message', async ({ mode, fn }) => {
    let sendNs, ackNs;
    const started = () => {
      sendNs = process.hrtime.bigint();
      return post('Profiler.start').then(() => (ackNs = process.hrtime.bigint()));
    };
    const ack = mode === 'continuous' ? started() : undefined;
    if (ack) await ack;
    parentPort.postMessage({ type: 'armed' });
    // This thread may block: it only watches the flag (the main thread is the one being measured).
    Atomics.wait(flag, 0, 0);
    let onsetAck;
    if (mode === 'onset') {
      Atomics.wait(flag, 0, 1, onsetDelayMs); // the watchdog notices a stall one threshold in
      onsetAck = started();
    }
    while (Atomics.load(flag, 0) !== 2) await sleep(1);
    await onsetAck;
    const { profile } = await post('Profiler.stop');
    parentPort.postMessage({ type: 'result', ...analyse(profile, fn, sendNs, ackNs, times[0], times[1], intervalUs) });
  });
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: intervalUs });
  parentPort.postMessage({ type: 'ready' });
}

/** What the profile saw of the block: its samples by time and whether their stack holds the blocking function `fn`. */
function analyse(profile, fn, sendNs, ackNs, blockStartNs, blockEndNs, intervalUs) {
  const parent = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackHas = (id) => {
    for (let x = id; x !== undefined; x = parent.get(x)) if (byId.get(x).callFrame.functionName === fn) return true;
    return false;
  };
  const fromUs = Number(sendNs / 1000n);
  const startUs = Number(blockStartNs / 1000n);
  const endUs = Number(blockEndNs / 1000n);
  let t = profile.startTime;
  let first;
  let inWindow = 0, naming = 0;
  const tops = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    first ??= t;
    // The window the mechanism can see: from its Profiler.start (or the block's start if that came first) to the end.
    if (t < Math.max(fromUs, startUs) || t > endUs) continue;
    inWindow++;
    if (stackHas(profile.samples[i])) naming++;
    const top = byId.get(profile.samples[i]).callFrame.functionName || '(anonymous)';
    tops.set(top, (tops.get(top) ?? 0) + 1);
  }
  const windowUs = endUs - Math.max(fromUs, startUs);
  return {
    blockMs: (endUs - startUs) / 1000,
    sendAfterBlockStartMs: (fromUs - startUs) / 1000,
    ackAfterSendMs: Number(ackNs - sendNs) / 1e6,
    ackAfterBlockEndMs: Number(ackNs - blockEndNs) / 1e6,
    profileStartAfterSendMs: (profile.startTime - fromUs) / 1000,
    firstSampleAfterSendMs: first === undefined ? null : (first - fromUs) / 1000,
    firstSampleAfterBlockEndMs: first === undefined ? null : (first - endUs) / 1000,
    periods: Math.max(0, Math.floor(windowUs / intervalUs)),
    inWindow,
    naming,
    tops: [...tops].sort((a, b) => b[1] - a[1]).slice(0, 3),
  };
}

// ─── part "onset": the blocked process (child) ─────────────────────────────────────────────────────────────────
async function onsetChild() {
  const TRIALS = Number(arg('trials', 5));
  const onsetDelayMs = Number(arg('onset-delay', 100));
  const intervalUs = Number(arg('onset-interval', 1000));
  const sab = new SharedArrayBuffer(24);
  const flag = new Int32Array(sab, 0, 1);
  const times = new BigInt64Array(sab, 8, 2);
  const worker = new Worker(self, { workerData: { role: 'onset', sab, onsetDelayMs, intervalUs } });
  await once(worker, 'message');
  // Built once, outside the measured blocks.
  const row = '{"id":123456,"sku":"SKU-000123","qty":3,"price":19.99,"tags":["a","b","c"],"note":"lorem ipsum dolor"}';
  const text = `[${Array(Math.round((Number(arg('json-mb', 40)) * 1e6) / (row.length + 1))).fill(row).join(',')}]`;
  const scores = new Float64Array(Number(arg('sort-m', 4)) * 1e6);
  function parseOrders() {
    return JSON.parse(text).length;
  }
  function sortScores() {
    // Filled before the block (an interruptible loop): the block is the sort alone.
    return scores.sort()[0];
  }
  // Not a loop of onsetChild's own: a hot loop there would optimize it (on-stack replacement) with crunchNumbers
  // inlined, and the profiler reported such an inlined function's samples under its caller.
  function fillScores() {
    for (let i = 0; i < scores.length; i++) scores[i] = Math.random();
  }
  function crunchNumbers() {
    let x = 0;
    const end = performance.now() + 600;
    while (performance.now() < end) x += Math.sqrt(x + 1);
    return x;
  }
  const workloads = { parseOrders, sortScores, crunchNumbers };
  const results = [];
  for (let t = 0; t < TRIALS; t++) {
    for (const mode of t % 2 ? ['continuous', 'onset'] : ['onset', 'continuous']) {
      for (const fn of Object.keys(workloads)) {
        if (fn === 'sortScores') fillScores();
        worker.postMessage({ mode, fn });
        await once(worker, 'message');
        await sleep(200);
        times[0] = process.hrtime.bigint();
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
        workloads[fn]();
        times[1] = process.hrtime.bigint();
        Atomics.store(flag, 0, 2);
        const [r] = await once(worker, 'message');
        Atomics.store(flag, 0, 0);
        results.push({ mode, fn, ...r });
        console.error(`${mode} ${fn}: block ${r.blockMs.toFixed(0)} ms, start answered ${r.ackAfterSendMs.toFixed(1)} ms after sent (${r.ackAfterBlockEndMs.toFixed(1)} ms after the block), first sample ${r.firstSampleAfterSendMs?.toFixed(1)} ms after sent, ${r.naming}/${r.periods} periods name ${fn}; ${r.inWindow} samples in the window, tops ${JSON.stringify(r.tops)}`);
      }
    }
  }
  process.send({ results, onsetDelayMs, intervalUs });
  worker.terminate();
}

async function onset() {
  const child = fork(self, ['--role', 'onset', ...process.argv.slice(2)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [{ results, onsetDelayMs, intervalUs }] = await once(child, 'message');
  const lines = [
    `Node ${process.version}; sampling interval ${intervalUs / 1000} ms; "onset": Profiler.start sent ${onsetDelayMs} ms into the block (session connected and profiler enabled beforehand); medians (min … max) of ${results.length / 6} trials`,
    '',
    '| mode | blocking function | block ms | Profiler.start answered (ms after sent) | first sample (ms after sent) | first sample vs block end (ms) | periods with a sample naming the function |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  const fmt = (a) => (a.some((v) => v === null) ? 'none' : `${median(a).toFixed(1)} (${Math.min(...a).toFixed(1)} … ${Math.max(...a).toFixed(1)})`);
  for (const mode of ['onset', 'continuous']) {
    for (const fn of ['parseOrders', 'sortScores', 'crunchNumbers']) {
      const rs = results.filter((r) => r.mode === mode && r.fn === fn);
      const share = rs.map((r) => (r.periods ? r.naming / r.periods : 0));
      lines.push(`| ${mode} | ${fn} | ${median(rs.map((r) => r.blockMs)).toFixed(0)} | ${mode === 'onset' ? fmt(rs.map((r) => r.ackAfterSendMs)) : '(before the block)'} | ${mode === 'onset' ? fmt(rs.map((r) => r.firstSampleAfterSendMs)) : '—'} | ${fmt(rs.map((r) => r.firstSampleAfterBlockEndMs))} | ${(median(share) * 100).toFixed(0)} % (${(Math.min(...share) * 100).toFixed(0)} … ${(Math.max(...share) * 100).toFixed(0)} %) |`);
    }
  }
  console.log(lines.join('\n'));
  return { onsetDelayMs, intervalUs, results };
}

// ─── entry ─────────────────────────────────────────────────────────────────────────────────────────────────────
if (!isMainThread) {
  if (workerData.role === 'profiler') await profilerWorker();
  else await onsetWorker();
} else if (arg('role') === 'server') {
  await costServer();
} else if (arg('role') === 'onset') {
  await onsetChild();
} else {
  const part = arg('part', 'both');
  const raw = {};
  if (part === 'cost' || part === 'both') raw.cost = await cost();
  if (part === 'onset' || part === 'both') {
    if (raw.cost) console.log('');
    raw.onset = await onset();
  }
  if (arg('raw')) writeFileSync(arg('raw'), JSON.stringify({ node: process.version, ...raw }, null, 1) + '\n');
  process.exit(0);
}
