// What the health probes cost when nobody probes them: an idle process with the default agent (probes on) against
// the same agent with `health: false`, each in fresh child processes, rounds interleaved (order alternated), CPU of
// all the child's threads over the window. Also `probed`: the default agent with /livez and /readyz fetched every
// --probe-every seconds (a kubelet's periodSeconds), to show what probing itself costs.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/health.mjs [--rounds 8] [--duration 10]
//        [--probe-every 1] [--pin]
//
// Linux only (reads /proc). Reports per-variant medians and, for each variant against `off`, the geometric mean of
// the per-round CPU ratios with a 95 % confidence interval (t over the rounds' log ratios).
import { execFileSync, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 8));
const DURATION = Number(arg('duration', 10));
const PROBE_EVERY_S = Number(arg('probe-every', 1));
const PIN = process.argv.includes('--pin');
const VARIANTS = ['off', 'on', 'probed'];

if (process.argv[2] === '--child') {
  const require = createRequire(import.meta.url);
  const variant = process.argv[3];
  const agent = require('../agent').start({ prometheus: { port: 0, host: '127.0.0.1' }, ...(variant === 'off' ? { health: false } : {}) });
  const { prometheusUrl } = await agent.ready();
  const { createServer } = await import('node:net');
  createServer().listen(0, '127.0.0.1', () => process.send({ url: prometheusUrl }));
} else {
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
  const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...VARIANTS].reverse() : VARIANTS;
    for (const variant of order) {
      const child = fork(new URL(import.meta.url).pathname, ['--child', variant], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      if (PIN) execFileSync('taskset', ['-a', '-p', '-c', String(cpus().length - 1), String(child.pid)], { stdio: 'ignore' });
      const { url } = await new Promise((resolve, reject) => {
        child.once('message', resolve);
        child.once('exit', (code) => reject(new Error(`${variant} exited with ${code}`)));
      });
      const root = url.replace(/\/metrics$/, '');
      await new Promise((r) => setTimeout(r, 2000)); // past start-up
      const probe = variant === 'probed'
        ? setInterval(() => {
            for (const p of ['/livez', '/readyz']) fetch(root + p).then((r) => r.arrayBuffer(), () => {});
          }, PROBE_EVERY_S * 1000)
        : undefined;
      const c0 = cpuNs(child.pid);
      await new Promise((r) => setTimeout(r, DURATION * 1000));
      const cpuMsPerS = (cpuNs(child.pid) - c0) / 1e6 / DURATION;
      clearInterval(probe);
      child.kill();
      results[variant].push(cpuMsPerS);
      console.log(`round ${round + 1}/${ROUNDS} ${variant}: ${cpuMsPerS.toFixed(3)} ms CPU/s`);
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  // Two-sided 97.5 % t quantiles by degrees of freedom (1…30), else the normal's.
  const T975 = [12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
  const ratioCi = (a, b) => {
    const logs = a.map((x, i) => Math.log(x / b[i]));
    const n = logs.length;
    const mean = logs.reduce((s, x) => s + x, 0) / n;
    const sd = Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
    const half = (T975[n - 2] ?? 1.96) * (sd / Math.sqrt(n));
    return [Math.exp(mean), Math.exp(mean - half), Math.exp(mean + half)];
  };
  console.log(`\nNode ${process.version}; ${ROUNDS} rounds × ${DURATION} s idle${PIN ? ', pinned' : ''}; probed: /livez + /readyz every ${PROBE_EVERY_S} s\n`);
  console.log('| variant | CPU ms/s, median (min … max) | ratio to off, geometric mean [95 % CI] |');
  console.log('|---|---:|---:|');
  for (const v of VARIANTS) {
    const xs = results[v];
    const [r, lo, hi] = v === 'off' ? [1, 1, 1] : ratioCi(xs, results.off);
    console.log(`| ${v} | ${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)} … ${Math.max(...xs).toFixed(3)}) | ${v === 'off' ? '—' : `${r.toFixed(3)} [${lo.toFixed(3)}, ${hi.toFixed(3)}]`} |`);
  }
}
