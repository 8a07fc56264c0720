// Span events with a real tracer provider and the real http instrumentation: a stall adds a `loopwatch.stall`
// event to the stalled request's server span (role culprit) and to every other in-flight request's span (role
// victim), with the stall event's duration, start, culprit, stack source and confidence; a span that ended before
// the stall gets none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { runStallFixture } from '../helpers/stall-child.mjs';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

// The fixture prints its stall events and, at the end, its finished spans as JSON lines with a `type`.
async function run(env = {}) {
  const { code, err, out } = await runStallFixture(join(fixtures, 'span-events.cjs'), { env });
  const msgs = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { code, err, stalls: msgs.filter((m) => m.type === 'stall'), spans: msgs.filter((m) => m.type === 'span') };
}

const spanOf = (spans, path) => spans.find((s) => s.path === path);

for (const [when, env] of [['before', {}], ['after', { TRACING_AFTER: '1' }]]) test(`span events (tracing registered ${when} loopwatch started): culprit and victim spans carry loopwatch.stall, a span that ended before does not`, async () => {
  const { code, err, stalls, spans } = await run(env);
  assert.equal(code, 0, err);
  const stall = stalls.find((s) => s.culprit?.startsWith('blockHere '));
  assert.ok(stall, `no blockHere stall: ${JSON.stringify(stalls)}\n${err}`);
  assert.equal(stall.victims, 1);

  const own = spanOf(spans, '/stall/42');
  const victim = spanOf(spans, '/wait/7');
  const early = spanOf(spans, '/early/1');
  assert.ok(own && victim && early, `spans: ${JSON.stringify(spans)}`);
  assert.equal(stall.traceId, own.traceId, 'the stall event carries the stalled request trace');

  for (const [span, role] of [[own, 'culprit'], [victim, 'victim']]) {
    const events = span.events.filter((e) => e.name === 'loopwatch.stall');
    assert.equal(events.length, 1, `${span.path}: ${JSON.stringify(span.events)}`);
    const a = events[0].attributes;
    assert.equal(a['loopwatch.stall.role'], role);
    assert.equal(a['code.function.name'], 'blockHere');
    assert.match(a['code.file.path'], /span-events\.cjs$/);
    assert.equal(typeof a['code.line.number'], 'number');
    assert.equal(a['loopwatch.stall.route'], 'GET /stall/:id');
    assert.equal(a['thread.name'], 'main');
    // Blocked 300 ms: both spans' requests end before the next scheduled heartbeat, and their events carry the one
    // duration and start the stall event carries (its record's), exactly.
    assert.ok(stall.durationMs >= 270 && stall.durationMs <= 450, `duration ${stall.durationMs}`);
    assert.equal(a['loopwatch.stall.duration_ms'], Math.round(stall.durationMs * 10) / 10, `${span.path}: the stall event's duration`);
    const [sec, nanos] = events[0].time;
    assert.ok(Math.abs(sec * 1000 + nanos / 1e6 - stall.startTime) < 0.001, `${span.path}: starts at the stall's start (${sec * 1000 + nanos / 1e6} vs ${stall.startTime})`);
    // How the stack was read and the culprit's share: the stall event's.
    assert.equal(stall.stackSource, 'sampled');
    assert.equal(a['loopwatch.stall.stack_source'], stall.stackSource, span.path);
    assert.equal(typeof stall.confidence, 'number');
    assert.equal(a['loopwatch.stall.confidence'], stall.confidence, span.path);
    // Nothing sensitive: no URL, no query, no argument values.
    assert.ok(!Object.values(a).some((v) => String(v).includes('/stall/42')), JSON.stringify(a));
  }
  assert.deepEqual(early.events, [], 'the request that ended before the stall is not marked');
});

test('span events: none when the app turned loopwatch OpenTelemetry off', async () => {
  const { code, err, stalls, spans } = await run({ SPAN_EVENTS_OTEL: 'off' });
  assert.equal(code, 0, err);
  assert.ok(stalls.some((s) => s.culprit?.startsWith('blockHere ')), 'the stall is still reported');
  assert.equal(spans.length, 3);
  for (const s of spans) assert.deepEqual(s.events, [], s.path);
});
