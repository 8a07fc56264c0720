#!/usr/bin/env node
// Project task runner. Runs on any Node ≥ 18 (npm may invoke it with the
// machine's own Node), and runs loopwatch itself on the Node 22, 24 and 26
// binaries the project installs from the npm registry (devDependencies
// `node22`, `node24` and `node26`), because the machine's Node may be older
// than the agent supports.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODES = Object.fromEntries([22, 24, 26].map((m) => [m, join(root, `node_modules/node${m}/bin/node`)]));

function nodeBin(major) {
  const bin = NODES[major];
  if (!existsSync(bin)) {
    console.error(`loopwatch: Node ${major} not found at ${relative(root, bin)}; run \`npm install\` first.`);
    process.exit(1);
  }
  return bin;
}

function build({ nativeRequired = false } = {}) {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(nodeBin(24), [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('loopwatch: TypeScript build failed');
    process.exit(r.status ?? 1);
  }
  buildNative({ required: nativeRequired });
}

/**
 * The native addon (agent/native/: deadline.c, meter.c, gc.c; Linux only; agent/src/runtime/native.ts loads it and the agent
 * falls back to timers and a GC PerformanceObserver without it). Compiled against the Node-API and libuv headers of the project's Node 24 package, so the build
 * needs a C compiler and nothing else; Node-API is ABI-stable, so the one binary serves Node 22, 24 and 26. Published
 * from Linux x64, the package carries the linux-x64 binary; other platforms and architectures use the timer.
 */
function buildNative({ required = false } = {}) {
  if (process.platform !== 'linux') return;
  const include = join(root, `node_modules/node24/node_modules/node-linux-${process.arch}/include/node`);
  const out = join(root, 'agent/dist/native', `loopwatch.${process.platform}-${process.arch}.node`);
  const sources = ['deadline.c', 'meter.c', 'gc.c'].map((f) => join(root, 'agent/native', f));
  const baseline = join(root, 'agent/native/glibc-baseline.h');
  const inputs = [...sources, ...['meter.h', 'gc.h', 'glibc-baseline.h'].map((f) => join(root, 'agent/native', f)), fileURLToPath(import.meta.url)];
  // Rebuilt when a source or this script (its flags) changed.
  if (existsSync(out) && statSync(out).mtimeMs > Math.max(...inputs.map((f) => statSync(f).mtimeMs))) return;
  mkdirSync(dirname(out), { recursive: true });
  const cc = process.env.CC || 'cc';
  const args = ['-O2', '-fPIC', '-shared', '-std=c11', '-pthread', '-D_GNU_SOURCE', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror', '-include', baseline, '-I', include, '-o', out, ...sources, '-ldl'];
  const r = spawnSync(cc, args, { stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    // The addon is optional at run time (the agent falls back to a timer); test/agent/native.test.mjs fails on Linux
    // without it, so a CI machine missing a compiler does not go unnoticed.
    console.error(`loopwatch: could not compile the native addon (agent/native/*.c) with ${cc}: ${r.error?.message ?? `exit ${r.status}`}; the agent will poll on a timer (set CC to pick a C compiler)`);
    if (required) process.exit(1);
  }
}

/**
 * Prebuilt addons for the Linux targets other than the build machine's, cross-compiled with Debian's toolchains
 * (`apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross musl-tools`) into agent/prebuilds/<target>/. The
 * Node-API and libuv headers are the same on every target. A target whose compiler is missing is skipped with one
 * line, so a package built without them ships fewer binaries (those platforms use the timer) but still packs.
 * musl: linked without libc (-nostdlib): Alpine names its libc libc.musl-<arch>.so.1, Debian's musl-gcc links
 * "libc.so", so the addon takes libc's symbols from the node process, which has musl loaded.
 */
const PREBUILDS = [
  { target: 'linux-x64', cc: 'x86_64-linux-gnu-gcc', flags: ['-ldl'] },
  { target: 'linux-arm64', cc: 'aarch64-linux-gnu-gcc', flags: ['-ldl'] },
  { target: 'linux-x64-musl', cc: 'musl-gcc', flags: ['-nostdlib', '-lgcc'] },
];

function buildPrebuilds() {
  if (process.platform !== 'linux') return [];
  const include = join(root, `node_modules/node24/node_modules/node-linux-${process.arch}/include/node`);
  const sources = ['deadline.c', 'meter.c', 'gc.c'].map((f) => join(root, 'agent/native', f));
  rmSync(join(root, 'agent/prebuilds'), { recursive: true, force: true });
  const built = [];
  for (const { target, cc, flags } of PREBUILDS) {
    const out = join(root, 'agent/prebuilds', target, 'loopwatch.node');
    mkdirSync(dirname(out), { recursive: true });
    const args = ['-O2', '-fPIC', '-shared', '-std=c11', '-pthread', '-D_GNU_SOURCE', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror', '-include', join(root, 'agent/native/glibc-baseline.h'), '-I', include, '-o', out, ...sources, ...flags];
    const r = spawnSync(cc, args, { stdio: 'inherit' });
    if (r.error || r.status !== 0) {
      rmSync(dirname(out), { recursive: true, force: true });
      console.error(`loopwatch: no prebuilt addon for ${target} (${cc}: ${r.error?.code === 'ENOENT' ? 'not installed' : (r.error?.message ?? `exit ${r.status}`)})`);
    } else built.push(target);
  }
  return built;
}

/**
 * `prepack` of the agent package (`npm pack -w agent`, `npm publish`): a clean build, so the tarball holds exactly
 * what agent/src compiles to (no output of a deleted source), and, on Linux, the native addon — a package published
 * without it would silently give every Linux user the timer fallback, so here a failed compile fails the pack.
 */
function buildPackage() {
  rmSync(join(root, 'agent/dist'), { recursive: true, force: true });
  build({ nativeRequired: true });
  buildPrebuilds();
  const missing = ['agent/dist/index.js', 'agent/dist/register.js', 'agent/dist/index.d.ts'].filter((f) => !existsSync(join(root, f)));
  if (missing.length) {
    console.error(`loopwatch: the build did not produce ${missing.join(', ')}; not packing`);
    process.exit(1);
  }
}

function findTests(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'fixtures' && name !== 'helpers') out.push(...findTests(p));
    } else if (/\.test\.(mjs|cjs|js)$/.test(name)) out.push(p);
  }
  return out.sort();
}

/**
 * Test files that run two at a time (--test-concurrency=2); every other file runs alone, with no other test file
 * beside it. A file is here only when nothing it asserts depends on how much CPU it gets: it checks configs, files,
 * names or formats, runs logic on a fake clock, or waits for what it checks by polling to a generous deadline — no
 * stall it causes and then times or counts, no upper bound on a duration, no count of events in a time window, no
 * memory figure. That reading is the evidence, and each ran two at a time three times on each of its Nodes, on a
 * machine at load 11–19, without a failure. Two kinds that assert no duration failed that way and stay alone:
 * native-gc.test.mjs (its probe allocates for a fixed 400 ms, so a starved process sees too few scavenges; failed
 * on Node 22, 24 and 26) and test/bench/ (each benchmark pins its server to the last CPU with taskset as if it had
 * the machine to itself; bench/direct.mjs failed next to another benchmark). A new file runs alone until it is
 * shown to belong here. Listed longest first (they start in this order), so the last to finish is a short one.
 */
const CONCURRENT = [
  'test/collector/prometheus-rules.test.mjs',
  'test/e2e/dashboard-queries.test.mjs',
  'test/demo/demo.test.mjs',
  'test/agent/export/otel-env.test.mjs',
  'test/agent/export/names.test.mjs',
  'test/agent/pools/coexist.test.mjs',
  'test/dashboards/dashboards.test.mjs',
  'test/agent/export/otel-replay.test.mjs',
  'test/agent/attribution/thread.test.mjs',
  'test/agent/pools/threadpool-default.test.mjs',
  'test/agent/export/metrics-server.test.mjs',
  'test/agent/export/exposition.test.mjs',
  'test/agent/attribution/request-context.test.mjs',
  'test/agent/attribution/route.test.mjs',
  'test/collector/alertmanager.test.mjs',
  'test/compose/compose.test.mjs',
  'test/dashboards/provisioning.test.mjs',
  'test/collector/otelcol.test.mjs',
  'test/agent/heartbeat/monitor.test.mjs',
  'test/agent/watchdog/live-config.test.mjs',
  'test/agent/health/evaluate.test.mjs',
  'test/agent/channel/exited-bound.test.mjs',
  'test/agent/health/config.test.mjs',
  'test/agent/channel/directory.test.mjs',
  'test/agent/watchdog/live-schedule.test.mjs',
  'test/agent/stall/pipeline.test.mjs',
  'test/agent/attribution/frames.test.mjs',
  'test/agent/metrics/histogram.test.mjs',
  'test/agent/watchdog/push-outage.test.mjs',
  'test/agent/heartbeat/sampler.test.mjs',
  'test/agent/stall/suppressed.test.mjs',
  'test/agent/watchdog/stall-watch.test.mjs',
  'test/agent/attribution/aggregate.test.mjs',
  'test/agent/stall/limiter.test.mjs',
  'test/agent/attribution/inflight.test.mjs',
  'test/agent/attribution/stack-sampler.test.mjs',
  'test/agent/pools/watch.test.mjs',
  'test/agent/attribution/culprit.test.mjs',
].map((f) => join(root, f));

const JOBS = 2;

/**
 * Runs node --test over `files`, `jobs` at a time, echoing its output; returns the pass/fail/skip counts and each
 * file's time ({ file, ms, ok }, from scripts/test-durations.mjs).
 */
function runNodeTests(major, files, jobs, extraEnv = {}) {
  return new Promise((resolve) => {
    console.log(`\n=== Node ${major}: ${files.length} test files, ${jobs === 1 ? 'one at a time' : `${jobs} at a time`} ===`);
    const durationsFile = join(mkdtempSync(join(tmpdir(), 'loopwatch-test-')), 'durations.jsonl');
    const child = spawn(
      nodeBin(major),
      [
        '--test',
        '--test-reporter=spec', '--test-reporter-destination=stdout',
        `--test-reporter=${join(root, 'scripts/test-durations.mjs')}`, '--test-reporter-destination=stdout',
        '--test-timeout=180000', `--test-concurrency=${jobs}`, ...files,
      ],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...extraEnv, LOOPWATCH_TEST_NODE: String(major), RUN_MJS_DURATIONS_FILE: durationsFile },
      },
    );
    // The whole output: with failures the spec reporter prints their details after its summary lines.
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail += chunk.toString();
    });
    child.on('close', (code) => {
      const count = (label) => Number([...tail.matchAll(new RegExp(`^ℹ ${label} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0);
      const times = existsSync(durationsFile)
        ? readFileSync(durationsFile, 'utf8').split('\n').filter(Boolean).map((l) => ({ major, ...JSON.parse(l) }))
        : [];
      rmSync(dirname(durationsFile), { recursive: true, force: true });
      resolve({ code, pass: count('pass'), fail: count('fail'), skipped: count('skipped') + count('todo'), times });
    });
  });
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const minutes = (ms) => (ms < 60_000 ? seconds(ms) : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

/**
 * The end of the log: the wall time and the slowest files, so a slower suite shows in the CI log that made it so.
 * With --times=<file>, every file's time is written there too (tab-separated: node, seconds, result, file).
 */
function printTimes(startedAt, phases, times, timesFile) {
  if (!phases.length) return;
  const sum = times.reduce((a, t) => a + t.ms, 0);
  const steps = [`build and structure check ${minutes(phases[0].at - startedAt)}`, ...phases.map((p) => `Node ${p.major} ${p.jobs === 1 ? 'one at a time' : `${p.jobs} at a time`} ${minutes(p.ms)}`)];
  console.log(`\nWall time ${minutes(Date.now() - startedAt)}: ${steps.join(', ')}; the files' own times add up to ${minutes(sum)}.`);
  const slowest = [...times].sort((a, b) => b.ms - a.ms);
  console.log('Slowest test files:');
  for (const t of slowest.slice(0, 10)) console.log(`  ${seconds(t.ms).padStart(8)}  Node ${t.major}  ${relative(root, t.file)}${t.ok ? '' : '  (failed)'}`);
  if (timesFile) {
    writeFileSync(timesFile, slowest.map((t) => `${t.major}\t${(t.ms / 1000).toFixed(1)}\t${t.ok ? 'ok' : 'failed'}\t${relative(root, t.file)}\n`).join(''));
    console.log(`Every file's time: ${timesFile}`);
  }
}

async function test(args) {
  const startedAt = Date.now();
  build();
  const timesFile = args.find((a) => a.startsWith('--times='))?.slice('--times='.length);
  const filters = args.filter((a) => !a.startsWith('--times='));
  const only = filters.length ? filters : null;
  // The source layout's two rules (docs/design.md, "Source layout"): no folder-level import cycle, no oversized file.
  if (!only && spawnSync(process.execPath, [join(root, 'scripts/check-structure.mjs')], { stdio: 'inherit' }).status !== 0) process.exit(1);
  // The agent's own suites run on every supported Node; the stack, dashboard
  // and demo suites test files and configs, so one Node is enough.
  const agentTests = findTests(join(root, 'test/agent'));
  const otherTests = findTests(join(root, 'test')).filter((f) => !agentTests.includes(f));
  const missing = CONCURRENT.filter((f) => !existsSync(f));
  if (missing.length) {
    console.error(`loopwatch: scripts/run.mjs lists test files to run two at a time that do not exist: ${missing.map((f) => relative(root, f)).join(', ')}`);
    process.exit(1);
  }
  const pick = (files) => (only ? files.filter((f) => only.some((o) => f.includes(o))) : files);
  const plan = [
    [22, pick(agentTests)],
    [24, pick([...agentTests, ...otherTests])],
    [26, pick(agentTests)],
  ];
  const totals = { pass: 0, fail: 0, skipped: 0, failedRuns: 0 };
  const phases = [];
  const times = [];
  for (const [major, files] of plan) {
    const alone = files.filter((f) => !CONCURRENT.includes(f));
    const together = CONCURRENT.filter((f) => files.includes(f));
    for (const [batch, jobs] of [[alone, 1], [together, JOBS]]) {
      if (!batch.length) continue;
      const t0 = Date.now();
      const r = await runNodeTests(major, batch, jobs);
      phases.push({ major, jobs, at: t0, ms: Date.now() - t0 });
      times.push(...r.times);
      totals.pass += r.pass;
      totals.fail += r.fail;
      totals.skipped += r.skipped;
      if (r.code !== 0) totals.failedRuns++;
    }
  }
  if (totals.failedRuns && !totals.fail) totals.fail = totals.failedRuns;
  printTimes(startedAt, phases, times, timesFile);
  console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
  process.exit(totals.fail ? 1 : 0);
}

function runOnNode24(script, args) {
  build();
  const r = spawnSync(nodeBin(24), [join(root, script), ...args], { stdio: 'inherit', cwd: root });
  process.exit(r.status ?? 1);
}

const [task, ...rest] = process.argv.slice(2);
switch (task) {
  case 'build':
    build();
    break;
  case 'package':
    buildPackage();
    break;
  case 'prebuilds':
    console.log(`loopwatch: prebuilt ${buildPrebuilds().join(', ') || 'nothing'}`);
    break;
  case 'test':
    await test(rest);
    break;
  case 'demo':
    runOnNode24('demo/main.mjs', rest);
    break;
  case 'bench':
    runOnNode24('bench/overhead.mjs', rest);
    break;
  default:
    console.error('usage: node scripts/run.mjs build|package|prebuilds|test [--times=<file>] [filter…]|demo|bench');
    process.exit(2);
}
