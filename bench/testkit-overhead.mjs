// What loopwatch/test costs a test suite: this repository's own test files run under `node --test`, with and
// without `--import loopwatch/test`, in interleaved pairs (AB, BA, …, so drift over time cancels), each run a fresh
// `node --test` process. Reports the wall time of each side and the ratio with/without, with a 95 % bootstrap
// confidence interval of the mean of the per-pair ratios. LOOPWATCH_TEST_MODE=warn, so that a file whose own tests
// block on purpose (the agent's stall tests do) still runs all its tests.
//
//   node scripts/run.mjs build && node_modules/node24/bin/node bench/testkit-overhead.mjs [--pairs 10]
//        [--files test/agent/stall,test/agent/metrics,test/agent/config.test.mjs] [--baseline <another checkout>]
//
// --baseline: also runs the same files with loopwatch/test in another checkout (built, with the same test files, e.g.
// `git archive main`), in each round and in rotating order, and reports this tree's time with loopwatch/test over the
// baseline's (each tree's files load that tree's agent, so neither pays for two copies).
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
const BASELINE = arg('baseline', undefined);

const testFiles = (p) => (statSync(join(root, p)).isDirectory() ? readdirSync(join(root, p)).flatMap((n) => testFiles(join(p, n))) : p.endsWith('.test.mjs') ? [p] : []);
const files = TARGETS.flatMap(testFiles);

function runOnce(withKit, cwd = root) {
  const args = ['--test', ...(withKit ? ['--import', 'loopwatch/test'] : []), '--test-reporter=dot', ...files];
  const env = { ...process.env, LOOPWATCH_TEST_MODE: 'warn' };
  delete env.NODE_TEST_CONTEXT;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8' });
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
const vsBaseline = [];
const on = [];
const off = [];
const base = [];
// Each round runs every variant once; the order rotates from round to round, so none is always first or last.
const variants = BASELINE ? ['without', 'with', 'baseline'] : ['without', 'with'];
const runVariant = { without: () => runOnce(false), with: () => runOnce(true), baseline: () => runOnce(true, BASELINE) };
for (let p = 0; p < PAIRS; p++) {
  const k = p % variants.length;
  const order = [...variants.slice(k), ...variants.slice(0, k)];
  if (p % 2 === 1) order.reverse();
  const t = {};
  for (const v of order) t[v] = runVariant[v]();
  off.push(t.without);
  on.push(t.with);
  ratios.push(t.with / t.without);
  let line = `round ${p + 1}: without ${t.without.toFixed(0)} ms, with ${t.with.toFixed(0)} ms, ratio ${(t.with / t.without).toFixed(3)}`;
  if (BASELINE) {
    base.push(t.baseline);
    vsBaseline.push(t.with / t.baseline);
    line += `; baseline with ${t.baseline.toFixed(0)} ms, with/baseline ${(t.with / t.baseline).toFixed(3)}`;
  }
  console.log(line);
}
const meanOf = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const [lo, hi] = bootstrapMean(ratios);
console.log(`without: median ${median(off).toFixed(0)} ms; with loopwatch/test: median ${median(on).toFixed(0)} ms`);
console.log(`ratio with/without: mean ${meanOf(ratios).toFixed(3)} (95 % CI ${lo.toFixed(3)}–${hi.toFixed(3)}), median ${median(ratios).toFixed(3)}`);
if (BASELINE) {
  const [blo, bhi] = bootstrapMean(vsBaseline);
  console.log(`baseline (${BASELINE}) with loopwatch/test: median ${median(base).toFixed(0)} ms`);
  console.log(`ratio with/baseline-with: mean ${meanOf(vsBaseline).toFixed(3)} (95 % CI ${blo.toFixed(3)}–${bhi.toFixed(3)}), median ${median(vsBaseline).toFixed(3)}`);
}
