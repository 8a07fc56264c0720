// The probes' answers and the evidence put on record before the first 503 of a stall (health/probes.ts), with
// snapshots made here: what waits, for how long at most, and what is said when the record is not sent in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { answerProbe, livenessEvidence, EVIDENCE_DEADLINE_MS } = require('../../../agent/dist/health/probes.js');

const blocked = { live: false, ready: false, state: 'blocked', blockedForMs: 10_250, thread: 'main', reason: 'stall', culprit: 'spin (app.js:3)' };
const fine = { live: true, ready: true, state: 'ok', blockedForMs: 0 };

function recorder({ send, deadlineMs }) {
  const lines = [];
  const late = [];
  const sent = [];
  const onLiveness = livenessEvidence({
    write: (l) => lines.push(l),
    send: (snap) => {
      sent.push(snap);
      return send();
    },
    late: (m) => late.push(m),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
  });
  return { onLiveness, lines, late, sent };
}

test('only /livez and /readyz are answered; /readyz never waits for evidence', () => {
  let asked = 0;
  const onLiveness = () => {
    asked++;
    return new Promise(() => {});
  };
  assert.equal(answerProbe('/metrics', () => blocked, onLiveness), undefined);
  const ready = answerProbe('/readyz', () => blocked, onLiveness);
  assert.deepEqual(ready, { status: 503, body: `${JSON.stringify(blocked)}\n` });
  assert.equal(asked, 0);
});

test('/livez waits for the evidence, then answers with the snapshot it evaluated before', async () => {
  const order = [];
  let release;
  const snap = { ...blocked };
  const pending = answerProbe('/livez', () => snap, () => new Promise((r) => (release = () => (order.push('sent'), r()))));
  assert.ok(pending instanceof Promise);
  void pending.then(() => order.push('answered'));
  snap.blockedForMs = 99_999; // a later change to the object is not the answer's
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(order, [], 'not answered before the evidence is sent');
  release();
  const a = await pending;
  assert.deepEqual(order, ['sent', 'answered']);
  assert.equal(a.status, 503);
  assert.equal(JSON.parse(a.body).blockedForMs, 10_250);
  // A live answer with no evidence to send is synchronous.
  assert.deepEqual(answerProbe('/livez', () => fine, () => undefined), { status: 200, body: `${JSON.stringify(fine)}\n` });
});

test('once per stall: the stderr line and the record at the first failing probe, nothing at the next ones, again after a recovery', async () => {
  const r = recorder({ send: () => Promise.resolve() });
  const first = r.onLiveness(blocked);
  assert.ok(first instanceof Promise);
  await first;
  assert.equal(r.lines.length, 1);
  assert.match(r.lines[0], /^thread "main" has been blocked for 10\.3 s, over the liveness timeout: \/livez answers 503/);
  assert.equal(r.onLiveness(blocked), undefined);
  assert.equal(r.sent.length, 1);
  assert.equal(r.onLiveness(fine), undefined);
  await r.onLiveness(blocked);
  assert.equal(r.lines.length, 2);
  assert.equal(r.sent.length, 2);
  assert.deepEqual(r.late, []);
});

test('a send that does not end in time: the answer goes out after the deadline, and that is said once', async () => {
  assert.equal(EVIDENCE_DEADLINE_MS, 40);
  const r = recorder({ send: () => new Promise(() => {}), deadlineMs: 30 });
  const t0 = performance.now();
  await r.onLiveness(blocked);
  const waited = performance.now() - t0;
  assert.ok(waited >= 29, `waited ${waited} ms`);
  assert.deepEqual(r.late, ['the in-progress OTLP log record was not sent within 30 ms; /livez answers 503 without waiting longer']);
});

test('nothing exported: no wait; the exporter not loaded yet: no wait, and it is said', () => {
  const none = recorder({ send: () => undefined });
  assert.equal(none.onLiveness(blocked), undefined);
  assert.equal(none.lines.length, 1);
  assert.deepEqual(none.late, []);
  const cold = recorder({ send: () => 'not-ready' });
  assert.equal(cold.onLiveness(blocked), undefined);
  assert.equal(cold.lines.length, 1);
  assert.equal(cold.late.length, 1);
  assert.match(cold.late[0], /sent after the first 503 of \/livez: its exporter loads at the first live report \(liveReportAfterMs\), which is later than livenessTimeoutMs/);
});
