// Never an innocent culprit (issue #21, item 2): a builtin that does not check for interrupts (a JSON.parse of ≥ 60 MB,
// a typed-array sort, one large Buffer copy) defers the watchdog's stack read until it returns, so the stack shows
// the function that ran next. Such a stall must name no culprit (stackSource 'late'), never that next function;
// an interruptible busy loop still names its own function, sampled during the block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runStallFixture } from '../helpers/stall-child.mjs';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'non-interruptible.cjs');
const culpritFn = (c) => (c ?? '').replace(/ \(.*$/, '');

let result;
const stallsOf = async () => (result ??= runStallFixture(fixture));

/** The one stall that holds the fixture's block `fn` (it reports when the block began and how long it took). */
async function stallOf(fn) {
  const { code, stalls, blocks, err } = await stallsOf();
  assert.equal(code, 0, err);
  const b = blocks.find((x) => x.fn === fn);
  assert.ok(b, `the fixture reported no ${fn} block\n${err}`);
  assert.ok(b.ms >= 300, `${fn} blocked only ${b.ms} ms: too short to test (the fixture's sizing: ${err})`);
  // The stall that covers the middle of the block (others may exist: a GC pause after the parse on a loaded host).
  const mid = b.at + b.ms / 2;
  const s = stalls.find((x) => x.startTime <= mid && mid <= x.startTime + x.durationMs);
  assert.ok(s, `no stall covers ${fn}: ${JSON.stringify(stalls.map((x) => ({ ...x, stack: x.stack.map((f) => f.functionName) })))}`);
  assert.ok(Math.abs(s.durationMs - b.loopMs) <= 0.1 * b.loopMs + 10, `stall ${s.durationMs} ms vs block ${b.loopMs} ms`);
  return s;
}

const show = (s) => JSON.stringify({ ...s, stack: s.stack.map((f) => f.functionName) });

for (const [fn, next, what] of [
  ['parseOrders', 'countItems', 'a JSON.parse of ≥ 60 MB'],
  ['sortScores', undefined, 'a Float64Array sort without comparator'],
  ['copyImage', undefined, 'one Buffer copy of ≥ 128 MB'],
]) {
  test(`${what} inside ${fn}() followed by another function: the culprit is unknown (stackSource 'late'), never the next function`, async () => {
    const s = await stallOf(fn);
    assert.equal(s.culprit, undefined, show(s));
    assert.equal(s.stackSource, 'late', show(s));
    assert.equal(s.confidence, 0, show(s));
    // The late stack is kept, labelled: the blocking call was made from one of its top two frames.
    assert.ok(s.stack.length > 0, show(s));
    assert.ok(s.blockedWithin.some((f) => culpritFn(f) === fn), show(s));
    assert.match(s.blockedWithin.find((f) => culpritFn(f) === fn), /non-interruptible\.cjs:\d+\)$/);
    // For JSON.parse V8 runs the deferred read at the entry of the function called next: that is the one stall
    // reporters used to blame.
    if (next) assert.equal(s.stack[0].functionName, next, show(s));
  });
}

test('an interruptible busy loop in a named function: that function, sampled during the block', async () => {
  const s = await stallOf('crunchNumbers');
  assert.equal(culpritFn(s.culprit), 'crunchNumbers', show(s));
  assert.match(s.culprit, /non-interruptible\.cjs:\d+\)$/);
  assert.equal(s.stackSource, 'sampled', show(s));
  assert.ok(s.samples >= 5, show(s));
  assert.equal(s.confidence, 1, show(s));
  assert.equal(s.blockedWithin, undefined);
});
