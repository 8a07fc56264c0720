// Worst case for a per-callback or per-GC cost: a loop saturated with tiny setImmediate callbacks (each sums 200
// numbers), no I/O. Two child processes run it at once on the same CPU (with --pin), one with the agent and one
// without, swapping roles between the two blocks of a pair (the VM's noise is in time: see bench/paired.mjs
// --simultaneous); the ratio of callbacks run per block is the agent's cost on such a loop, watchdog thread
// included when pinned (every thread of both children shares the CPU).
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/callbacks.mjs [--pairs 20] [--block 1.5]
//        [--pin] [--options '{"sampleIntervalMs":50}']
import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};

if (process.argv[2] === '--child') {
  const require = createRequire(import.meta.url);
  const loopwatch = require('../agent');
  const options = JSON.parse(process.argv[3]);
  let agent;
  let n = 0;
  let running = false;
  const step = () => {
    n++;
    let x = 0;
    for (let i = 0; i < 200; i++) x += i;
    if (running && x > 0) setImmediate(step);
  };
  process.on('message', async (m) => {
    if (m.cmd === 'state') {
      if (m.on && !agent) {
        agent = loopwatch.start({ prometheus: false, ...options });
        await agent.ready();
      } else if (!m.on && agent) {
        await agent.stop();
        agent = undefined;
      }
      process.send({ on: loopwatch.getAgent() !== undefined });
    } else if (m.cmd === 'run') {
      n = 0;
      running = true;
      setImmediate(step);
      setTimeout(() => {
        running = false;
        process.send({ n });
      }, m.ms);
    } else if (m.cmd === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
} else {
  const PAIRS = Number(arg('pairs', 20));
  const BLOCK_MS = Number(arg('block', 1.5)) * 1000;
  const OPTIONS = arg('options', '{}');
  JSON.parse(OPTIONS);
  const kids = [0, 1].map(() => fork(fileURLToPath(import.meta.url), ['--child', OPTIONS]));
  process.on('exit', () => kids.forEach((k) => k.kill()));
  const next = (k) =>
    new Promise((resolve, reject) => {
      k.once('message', resolve);
      k.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
  const ask = (k, m) => {
    const p = next(k);
    k.send(m);
    return p;
  };
  await Promise.all(kids.map(next));
  if (process.argv.includes('--pin')) {
    const last = String(cpus().length - 1);
    for (const k of kids) execFileSync('taskset', ['-a', '-p', '-c', last, String(k.pid)], { stdio: 'ignore' });
  }
  const ratios = [];
  for (let p = 0; p < PAIRS; p++) {
    const r = [];
    for (const withAgent of [p % 2, 1 - (p % 2)]) {
      const states = await Promise.all(kids.map((k, i) => ask(k, { cmd: 'state', on: i === withAgent })));
      states.forEach((s, i) => {
        if (s.on !== (i === withAgent)) throw new Error(`child ${i}: agent ${s.on ? 'running' : 'not running'} after toggle`);
      });
      await new Promise((res) => setTimeout(res, 300));
      const runs = await Promise.all(kids.map((k) => ask(k, { cmd: 'run', ms: BLOCK_MS })));
      r.push(runs[withAgent].n / runs[1 - withAgent].n);
    }
    ratios.push(Math.sqrt(r[0] * r[1]));
    console.error(`pair ${p + 1}: callbacks with the agent ${((ratios.at(-1) - 1) * 100).toFixed(2)} %`);
  }
  kids.forEach((k) => k.send({ cmd: 'exit' }));
  const sorted = [...ratios].sort((a, b) => a - b);
  const q = (x) => ((sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))] - 1) * 100).toFixed(2);
  console.log(
    `Node ${process.version}; agent options ${OPTIONS}; ${PAIRS} pairs × ${BLOCK_MS / 1000} s: callbacks run with the agent vs without, ` +
      `median ${q(0.5)} % (interquartile ${q(0.25)} … ${q(0.75)} %)`,
  );
}
