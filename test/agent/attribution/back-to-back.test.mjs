// Stalls that follow each other with no idle time between them (issue #21, item 4): each keeps its own
// attribution — its own culprit function, its own route, and the watchdog's samples of its own block (a stack),
// not "no attribution" because the next block started before the watchdog's answer could be read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runStallFixture } from '../helpers/stall-child.mjs';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'back-to-back-long.cjs');
// Node 22's AsyncLocalStorage runs on async_hooks unless this flag is given: requests are then not tracked.
const ALS_ON_HOOKS = typeof AsyncLocalStorage.prototype._propagate === 'function';
const execArgv = ALS_ON_HOOKS ? ['--experimental-async-context-frame'] : [];
const FNS = ['blockOne', 'blockTwo', 'blockThree', 'blockFour'];
const culpritFn = (c) => (c ?? '').replace(/ \(.*$/, '');

async function fourStalls(mode) {
  const { code, stalls, blocks, err } = await runStallFixture(fixture, { execArgv, env: { LOOPWATCH_FIXTURE_MODE: mode } });
  assert.equal(code, 0, err);
  assert.deepEqual(blocks.map((b) => b.fn), FNS, 'the fixture ran its four blocks');
  // The four ~800 ms blocks (a startup heartbeat gap on a loaded machine is far shorter).
  const long = stalls.filter((s) => s.durationMs >= 500).sort((a, b) => a.startTime - b.startTime);
  assert.equal(long.length, 4, `stalls: ${JSON.stringify(stalls.map((s) => ({ ...s, stack: s.stack.length })))}\n${err}`);
  return long;
}

function assertOwnAttribution(s, fn) {
  const summary = JSON.stringify({ ...s, stack: s.stack.map((f) => f.functionName) });
  assert.equal(culpritFn(s.culprit), fn, summary);
  assert.match(s.culprit, /back-to-back-long\.cjs:\d+\)$/, summary);
  // The watchdog's samples arrived for this stall: a stack of its own block, sampled during it.
  assert.ok(s.samples >= 1, `no watchdog samples: ${summary}`);
  assert.ok(s.stack.some((f) => f.functionName === fn), `stack is not ${fn}'s: ${summary}`);
  assert.ok(!FNS.filter((x) => x !== fn).some((x) => s.stack.some((f) => f.functionName === x)), `stack of another block: ${summary}`);
  assert.equal(s.stackSource, 'sampled', summary);
}

test('four ~800 ms blocking requests queued on separate connections: each stall has its own culprit and route', async () => {
  const stalls = await fourStalls('http');
  const routes = ['GET /one/:id', 'GET /two/:id', 'GET /three/:id', 'GET /four/:id'];
  stalls.forEach((s, i) => {
    assertOwnAttribution(s, FNS[i]);
    assert.equal(s.route, routes[i], `route of ${s.culprit}`);
  });
});

test('a queue consumer running four ~800 ms blocks in consecutive setImmediate callbacks: each stall has its own culprit', async () => {
  const stalls = await fourStalls('queue');
  stalls.forEach((s, i) => {
    assertOwnAttribution(s, FNS[i]);
    assert.equal(s.route, undefined);
    assert.equal(s.resourceType, 'Immediate');
  });
});
