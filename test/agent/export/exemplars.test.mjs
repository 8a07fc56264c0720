// A stall inside a traced request carries the trace: on the event, and as an
// OpenMetrics exemplar on the stall histogram bucket it landed in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, runChild } from '../helpers/child.mjs';

test('a traced stall: trace and span ids on the event, trace_id exemplar on its stall bucket', async (t) => {
  const app = runChild(fixture('traced-stall.cjs'));
  t.after(() => app.kill());
  const { prometheusUrl, appUrl } = await app.message('ready');
  await (await fetch(appUrl)).text();
  const span = await app.message('span');
  const stall = await app.waitFor(() => app.messages.find((m) => m.type === 'stall' && m.durationMs > 250), { what: 'the traced stall' });
  assert.equal(stall.traceId, span.traceId);
  assert.equal(stall.spanId, span.spanId);
  assert.match(stall.culprit, /^renderInvoice \(/);

  const om = await (await fetch(prometheusUrl, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).text();
  const line = om.split('\n').find((l) => l.startsWith('loopwatch_eventloop_stall_duration_seconds_bucket{thread_name="main",le="0.5"}'));
  assert.ok(line, om);
  const m = line.match(/ # \{trace_id="([0-9a-f]{32})"\} ([0-9.]+) ([0-9.]+)$/);
  assert.ok(m, `no exemplar on ${line}`);
  assert.equal(m[1], span.traceId);
  assert.ok(Math.abs(Number(m[2]) - stall.durationMs / 1000) < 1e-6);
  assert.ok(Math.abs(Number(m[3]) - Date.now() / 1000) < 60);
  // The classic text format has no exemplars.
  assert.doesNotMatch(await (await fetch(prometheusUrl)).text(), /trace_id/);
});
