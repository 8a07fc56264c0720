// Catalogue of stall causes, each a child-process scenario under fixtures/. Asserts the culprit function,
// the route template, the thread and (where meaningful) the async resource type of every stall, and its
// duration against the blocking time the scenario measured itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { runStallFixture } from '../helpers/stall-child.mjs';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');

// AsyncLocalStorage built on async_hooks (Node 22 without --experimental-async-context-frame): request tracking is
// off by default there (the agent's requestContext 'auto'), so the catalogue runs Node 22 with the flag — the
// configuration docs/attribution.md recommends — and the test after the catalogue covers the default.
const ALS_ON_HOOKS = typeof AsyncLocalStorage.prototype._propagate === 'function';

const run = (file, args = [], env = {}) => runStallFixture(join(fixtures, file), { execArgv: args, env });

// Duration accuracy (issue quality bar): within ±10 % of the time the scenario measured it blocked the loop
// (performance.now() from just before its blocking call until that callback returned to the loop, reported on
// a BLOCK line; see fixtures/_common.cjs), plus one heartbeat (10 ms): a stall is measured between two
// heartbeats, so it also holds whatever ran between the block and the beat.
const HEARTBEAT_MS = 10;
const durationErrors = [];
function assertDuration(scenario, stall, block) {
  assert.ok(block, `${scenario}: the scenario reported no blocking time for ${stall.culprit}`);
  const error = stall.durationMs - block.loopMs;
  durationErrors.push({ scenario, fn: block.fn, callMs: block.ms, loopMs: block.loopMs, durationMs: stall.durationMs, pct: (100 * error) / block.loopMs, callPct: (100 * (stall.durationMs - block.ms)) / block.ms });
  assert.ok(
    Math.abs(error) <= 0.1 * block.loopMs + HEARTBEAT_MS,
    `${scenario}: stall ${stall.durationMs.toFixed(1)} ms vs measured block ${block.loopMs.toFixed(1)} ms (call ${block.ms.toFixed(1)} ms, ${block.fn}); stall ${JSON.stringify({ ...stall, stack: stall.stack.length })}`,
  );
}

// [fixture, node args, expected stalls (in order)]; fn is the culprit's function name, block the name the
// scenario reports its blocking time under (default: fn).
const R = (fn, route, extra = {}) => ({ fn, route, ...extra });
const catalogue = [
  ['busy-loop.cjs', [], [R('busyLoop', 'GET /spin/:id', { resourceType: 'HTTPINCOMINGMESSAGE' })]],
  // late: a native call or a builtin that never checks for interrupts (JSON.parse): the stack is read only after it
  // returns, so no culprit is named (stackSource 'late'); `fn` must be one of the two frames in blockedWithin.
  // See docs/attribution.md "Late stack reads".
  ['pbkdf2.cjs', [], [R('hashPassword', 'GET /login', { late: true })]],
  ['json-parse.cjs', [], [R('parseBigPayload', 'GET /import/:id', { late: true })]],
  ['regex.cjs', [], [R('validateInput', 'GET /validate')]],
  ['read-file.cjs', [], [R('loadReport', 'GET /reports/:id', { late: true })]],
  ['zlib-sync.cjs', [], [R('compressLogs', 'GET /logs/export')]],
  ['exec-sync.cjs', [], [R('runShell', 'GET /deploy/:id', { late: true })]],
  ['atomics-wait.cjs', [], [R('waitForLock', 'GET /lock')]],
  ['big-sort.cjs', [], [R(/^(byKey|sortRecords)$/, 'GET /leaderboard', { block: 'sortRecords' })]],
  ['after-await.cjs', [], [R('computeReport', 'GET /accounts/:id/summary', { resourceType: 'PROMISE' })]],
  ['timer.cjs', [], [R('tickJob', undefined, { resourceType: 'Timeout' })]],
  ['immediate.cjs', [], [R('immediateJob', undefined, { resourceType: 'Immediate' })]],
  ['stream-data.cjs', [], [R('onChunk', 'POST /upload')]],
  ['emitter.cjs', [], [R('onOrderPlaced', 'GET /orders/:id')]],
  ['back-to-back.cjs', [], [R('stallA', 'GET /alpha/:id', { victims: 1 }), R('stallB', 'GET /beta/:id')]],
  ['esm.mjs', [], [R('esmHeavy', 'GET /esm/:id')]],
  ['ts-sourcemap.cjs', ['--enable-source-maps'], [R('computeInvoiceTotals', 'GET /invoices/:id', { file: /app\.ts:\d+\)$/ })]],
  ['express-app.cjs', [], [R('renderProfile', 'GET /users/:id'), R('loadItem', 'GET /api/items/:itemId')]],
  ['fastify-app.cjs', [], [R('priceCatalogue', 'GET /products/:sku')]],
];

const culpritFn = (c) => (c ?? '').replace(/ \(.*$/, '');
/** A stall read late (no culprit) whose blocking call was made from `fn` (one of its blockedWithin frames). */
const lateIn = (s, fn) => s.stackSource === 'late' && (s.blockedWithin ?? []).some((f) => culpritFn(f) === fn);
/** The pbkdf2 fixture's stall: `hashPassword` calls pbkdf2Sync, a native call, so it is read late (lateIn). */
const hashStall = (stalls) => stalls.find((x) => lateIn(x, 'hashPassword'));

for (const [file, args, expected] of catalogue) {
  test(`stall catalogue: ${file}`, async () => {
    const { code, stalls: all, blocks, err } = await run(file, [...(ALS_ON_HOOKS ? ['--experimental-async-context-frame'] : []), ...args]);
    assert.equal(code, 0, `exit code ${code}\n${err}`);
    // Heartbeat gaps with nothing on the stack (the thread was descheduled, or idle by the time the watchdog asked:
    // seen at startup on a loaded 2-CPU machine) are not scenario stalls; they must stay short.
    const stalls = all.filter((s) => s.stack.length > 0);
    for (const s of all) if (!s.stack.length) assert.ok(s.durationMs < 1000, `unattributed stall ${JSON.stringify(s)}`);
    // Sort by start time; back-to-back requests can stall in either order.
    stalls.sort((a, b) => a.startTime - b.startTime);
    assert.equal(stalls.length, expected.length, `stalls: ${JSON.stringify(stalls, null, 1)}\n${err}`);
    const byFn = new Map(stalls.map((s) => [culpritFn(s.culprit), s]));
    for (const exp of expected) {
      const s = exp.late ? stalls.find((x) => lateIn(x, exp.fn)) : typeof exp.fn === 'string' ? byFn.get(exp.fn) : stalls.find((x) => exp.fn.test(culpritFn(x.culprit)));
      assert.ok(s, `no stall ${exp.late ? 'read late within' : 'blamed on'} ${exp.fn}; got ${JSON.stringify(stalls.map((x) => [x.culprit, x.stackSource, x.blockedWithin]))}`);
      if (exp.late) assert.equal(s.culprit, undefined, 'a late stack names no culprit');
      assert.ok(s.stack.length > 0, 'stack captured');
      assert.ok(s.durationMs >= 100, `duration ${s.durationMs}`);
      assert.equal(s.route, exp.route, `route of ${s.culprit}`);
      assert.equal(s.thread, exp.thread ?? 'main');
      if (exp.resourceType) assert.equal(s.resourceType, exp.resourceType);
      if (exp.victims !== undefined) assert.ok(stalls.some((x) => x.victims >= exp.victims), 'victims counted');
      if (exp.file) assert.match(s.culprit, exp.file);
      if (exp.route === undefined && !exp.thread) assert.equal(s.victims ?? 0, 0);
      assertDuration(file, s, blocks.find((b) => b.fn === (exp.block ?? exp.fn)));
    }
  });
}

test('AsyncLocalStorage on async_hooks (Node 22, or Node 24 --no-async-context-frame): by default requests are not tracked — the stall is reported (read late, in hashPassword), the route is not, and one warning says why; LOOPWATCH_REQUEST_CONTEXT=on tracks them', async () => {
  const onHooks = ALS_ON_HOOKS ? [] : ['--no-async-context-frame'];
  const auto = await run('pbkdf2.cjs', onHooks);
  assert.equal(auto.code, 0, auto.err);
  const s = hashStall(auto.stalls);
  assert.ok(s, `stalls: ${JSON.stringify(auto.stalls)}\n${auto.err}`);
  assert.equal(s.route, undefined);
  assert.equal(auto.err.match(/not their HTTP route/g)?.length, 1, auto.err);
  // The advice fits the runtime: the flag on Node 22, dropping --no-async-context-frame on Node 24.
  assert.match(auto.err, ALS_ON_HOOKS ? /Run Node 22 with --experimental-async-context-frame/ : /Run without --no-async-context-frame/);

  const on = await run('pbkdf2.cjs', onHooks, { LOOPWATCH_REQUEST_CONTEXT: 'on' });
  assert.equal(on.code, 0, on.err);
  const t = hashStall(on.stalls);
  assert.equal(t?.route, 'GET /login', `stalls: ${JSON.stringify(on.stalls)}`);
  assert.doesNotMatch(on.err, /not their HTTP route/);
});

test('LOOPWATCH_ROUTE_PATTERNS names the route of a plain node:http server by the pattern the path matches', async () => {
  const flag = ALS_ON_HOOKS ? ['--experimental-async-context-frame'] : [];
  const { code, stalls, err } = await run('busy-loop.cjs', flag, { LOOPWATCH_ROUTE_PATTERNS: '/health, /spin/:name' });
  assert.equal(code, 0, err);
  const s = stalls.find((x) => culpritFn(x.culprit) === 'busyLoop');
  assert.equal(s?.route, 'GET /spin/:name', JSON.stringify(stalls));
});

test('AsyncLocalStorage on AsyncContextFrame (Node 24 default, Node 22 with the flag): requests are tracked by default, without a warning', async () => {
  const { code, stalls, err } = await run('pbkdf2.cjs', ALS_ON_HOOKS ? ['--experimental-async-context-frame'] : []);
  assert.equal(code, 0, err);
  assert.equal(hashStall(stalls)?.route, 'GET /login', JSON.stringify(stalls));
  assert.doesNotMatch(err, /not their HTTP route/);
});

test('worker thread: its stall reaches the main agent with the thread name and duration', async () => {
  const { code, stalls, blocks, err } = await run('worker-thread.cjs');
  assert.equal(code, 0, err);
  const s = stalls.find((x) => x.thread === 'cruncher' && x.durationMs > 250);
  assert.ok(s, `stalls: ${JSON.stringify(stalls)}\n${err}`);
  assertDuration('worker-thread.cjs', s, blocks.find((b) => b.fn === 'crunchNumbers'));
});

test('worker thread: the culprit is named', async () => {
  const { stalls } = await run('worker-thread.cjs');
  const s = stalls.find((x) => x.thread === 'cruncher');
  assert.equal(culpritFn(s?.culprit), 'crunchNumbers');
});

test('control: loop 70 % busy with short callbacks reports no stall', async () => {
  const { code, stalls, err } = await run('control.cjs');
  assert.equal(code, 0, err);
  assert.deepEqual(stalls, []);
});

// Not an assertion: the measured error distribution of this run (reported in docs/attribution.md).
test('duration accuracy: error distribution of this run', (t) => {
  if (!durationErrors.length) return t.skip('no scenario ran');
  const stats = (xs) => {
    const abs = xs.map(Math.abs).sort((a, b) => a - b);
    return `median |error| ${abs[Math.floor((abs.length - 1) / 2)].toFixed(2)} %, max ${abs[abs.length - 1].toFixed(2)} %`;
  };
  t.diagnostic(`duration error over ${durationErrors.length} stalls vs the loop block: ${stats(durationErrors.map((e) => e.pct))}; vs the blocking call alone: ${stats(durationErrors.map((e) => e.callPct))}`);
  const sign = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
  for (const e of durationErrors) {
    t.diagnostic(`  ${e.scenario} ${e.fn}: call ${e.callMs.toFixed(1)} ms, loop ${e.loopMs.toFixed(1)} ms, stall ${e.durationMs.toFixed(1)} ms: ${sign(e.pct)} % (${sign(e.callPct)} % vs the call)`);
  }
});
