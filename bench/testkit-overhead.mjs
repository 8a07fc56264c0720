// What loopwatch/test costs a test suite: this repository's own test files run under `node --test`, with and
// without `--import loopwatch/test`, in interleaved pairs (AB, BA, …, so drift over time cancels), each run a fresh
// `node --test` process. Reports the wall time of each side and the ratio with/without, with a 95 % bootstrap
// confidence interval of the mean of the per-pair ratios. LOOPWATCH_TEST_MODE=warn, so that a file whose own tests
// block on purpose (the agent's stall tests do) still runs all its tests.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/testkit-overhead.mjs [--pairs 10]
//        [--files test/agent/stall,test/agent/metrics,test/agent/config.test.mjs]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const PAIRS = Number(arg('pairs', 10));
const TARGETS = arg('files', 'test/agent/stall,test/agent/metrics,test/agent/config.test.mjs').split(',');

const testFiles = (p) => (statSync(join(root, p)).isDirectory() ? readdirSync(join(root, p)).flatMap((n) => testFiles(join(p, n))) : p.endsWith('.test.mjs') ? [p] : []);
const files = TARGETS.flatMap(testFiles);

function runOnce(withKit) {
  const args = ['--test', ...(withKit ? ['--import', 'loopwatch/test'] : []), '--test-reporter=dot', ...files];
  const env = { ...process.env, LOOPWATCH_TEST_MODE: 'warn' };
  delete env.NODE_TEST_CONTEXT;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) console.error(`(${withKit ? 'with' : 'without'} loopwatch/test: exit ${r.status}; timing kept)\n${(r.stdout + r.stderr).slice(-2000)}`);
  return ms;
}

function bootstrapMean(xs, rounds = 10_000) {
  const means = [];
  for (let i = 0; i < rounds; i++) {
    let s = 0;
    for (let j = 0; j < xs.length; j++) s += xs[Math.floor(Math.random() * xs.length)];
    means.push(s / xs.length);
  }
  means.sort((a, b) => a - b);
  return [means[Math.floor(rounds * 0.025)], means[Math.floor(rounds * 0.975)]];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}; ${files.length} test files (${TARGETS.join(', ')}); ${PAIRS} pairs`);
runOnce(false); // warm the file system cache; not counted
const ratios = [];
const on = [];
const off = [];
for (let p = 0; p < PAIRS; p++) {
  const order = p % 2 === 0 ? [false, true] : [true, false];
  const t = {};
  for (const withKit of order) t[withKit] = runOnce(withKit);
  off.push(t[false]);
  on.push(t[true]);
  ratios.push(t[true] / t[false]);
  console.log(`pair ${p + 1}: without ${t[false].toFixed(0)} ms, with ${t[true].toFixed(0)} ms, ratio ${(t[true] / t[false]).toFixed(3)}`);
}
const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
const [lo, hi] = bootstrapMean(ratios);
console.log(`without: median ${median(off).toFixed(0)} ms; with loopwatch/test: median ${median(on).toFixed(0)} ms`);
console.log(`ratio with/without: mean ${mean.toFixed(3)} (95 % CI ${lo.toFixed(3)}–${hi.toFixed(3)}), median ${median(ratios).toFixed(3)}`);
