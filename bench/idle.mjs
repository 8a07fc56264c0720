// The fixed cost of monitoring an idle process: CPU per second and thread wake-ups per second, with no requests,
// for each variant in fresh child processes, rounds interleaved (order rotated). A service that is mostly idle
// (most pods of most fleets) pays exactly this.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/idle.mjs [--rounds 5] [--duration 10]
//        [--variants baseline,loopwatch,'loopwatch@LOOPWATCH_NATIVE=off',prom-client] [--pin]
//
// Linux only (reads /proc). CPU: the time on CPU of all the child's threads over the window (schedstat, ns). Wake-ups: voluntary
// context switches of every thread, summed, per second.
import { execFileSync, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 5));
const DURATION = Number(arg('duration', 10));
const PIN = process.argv.includes('--pin');
const VARIANTS = arg('variants', "baseline,loopwatch,loopwatch@LOOPWATCH_NATIVE=off,prom-client").split(',');

if (process.argv[2] === '--child') {
  const [name, ...env] = process.argv[3].split('@');
  for (const kv of env) {
    const i = kv.indexOf('=');
    process.env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  if (name === 'loopwatch') {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    await require('../agent').start({ prometheus: { port: 0, host: '127.0.0.1' } }).ready();
  } else if (name === 'prom-client') {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    require('prom-client').collectDefaultMetrics();
  } else if (name !== 'baseline') throw new Error(`unknown variant ${name}`);
  // Something to keep the process alive that wakes it rarely: what an idle server's listening socket does.
  const { createServer } = await import('node:net');
  createServer().listen(0, '127.0.0.1', () => process.send('ready'));
} else {
  // ns on CPU, summed over the process's threads (/proc/<pid>/task/<tid>/schedstat): finer than /proc/<pid>/stat's 10 ms ticks.
  const cpuNs = (pid) => {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
    }
    return ns;
  };
  const wakeups = (pid) => {
    let n = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))[1]);
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
    }
    return n;
  };
  const results = Object.fromEntries(VARIANTS.map((v) => [v, { cpu: [], wake: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
    for (const variant of order) {
      const child = fork(new URL(import.meta.url).pathname, ['--child', variant], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      if (PIN) execFileSync('taskset', ['-a', '-p', '-c', String(cpus().length - 1), String(child.pid)], { stdio: 'ignore' });
      await new Promise((resolve, reject) => {
        child.once('message', resolve);
        child.once('exit', (code) => reject(new Error(`${variant} exited with ${code}`)));
      });
      await new Promise((r) => setTimeout(r, 2000)); // past start-up
      const c0 = cpuNs(child.pid);
      const w0 = wakeups(child.pid);
      await new Promise((r) => setTimeout(r, DURATION * 1000));
      const cpuMsPerS = (cpuNs(child.pid) - c0) / 1e6 / DURATION;
      const wakePerS = (wakeups(child.pid) - w0) / DURATION;
      child.kill();
      results[variant].cpu.push(cpuMsPerS);
      results[variant].wake.push(wakePerS);
      console.log(`round ${round + 1}/${ROUNDS} ${variant}: ${cpuMsPerS.toFixed(2)} ms CPU/s, ${wakePerS.toFixed(1)} wake-ups/s`);
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log(`\nNode ${process.version}; ${ROUNDS} rounds × ${DURATION} s idle${PIN ? ', pinned' : ''}; medians (min … max)\n`);
  console.log('| variant | CPU ms/s | wake-ups/s (all threads) |');
  console.log('|---|---:|---:|');
  for (const v of VARIANTS) {
    const { cpu, wake } = results[v];
    console.log(`| ${v} | ${median(cpu).toFixed(2)} (${Math.min(...cpu).toFixed(2)} … ${Math.max(...cpu).toFixed(2)}) | ${median(wake).toFixed(1)} (${Math.min(...wake).toFixed(1)} … ${Math.max(...wake).toFixed(1)}) |`);
  }
}
