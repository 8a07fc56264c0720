// The first 503 of /livez is the moment before a kill: by then the stall in progress must be on record where the app
// exports its logs. A real child blocks for good, exporting over OTLP/HTTP to a real receiver in this process that
// decodes each request; this process probes /livez and notes, on one clock, when each record arrived and when the
// first 503 did. A receiver that never answers must not hold that 503 back beyond the probe's budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { once } from 'node:events';
import { decodeLogsRequest } from '../helpers/otlp-proto.mjs';
import { base, get, startApp } from './helpers.mjs';

const LIVENESS_MS = 2000;
const env = (otlp) => ({
  LOOPWATCH_LIVENESS_TIMEOUT_MS: String(LIVENESS_MS),
  // The first live report (which loads the OTLP log exporter in the watchdog) well before the timeout, and no other
  // before the first 503: a record of LIVENESS_MS or more before it can only be the one sent for the 503.
  LOOPWATCH_LIVE_REPORT_AFTER_MS: '500',
  LOOPWATCH_LIVE_REPORT_EVERY_MS: '600000',
  LOOPWATCH_READINESS_DELAY_MS: '0',
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
  // Longer than any wait of this test: a hanging receiver is not cut short by the exporter.
  OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
  OTEL_SERVICE_NAME: 'evidence-test',
  // The app's OTLP pipeline hands the watchdog its push settings right after start: block only once it has them.
  TEST_BLOCK_AFTER_MS: '1500',
});
const freePort = () =>
  new Promise((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const inProgress = (r) => r.attributes['loopwatch.stall.state'] === 'in_progress';

/** An OTLP/HTTP receiver; `hang`: log requests are read but never answered. `events`: what arrived, and when. */
async function receiver(t, { hang = false } = {}) {
  const events = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/logs') {
        for (const rl of decodeLogsRequest(Buffer.concat(chunks))) for (const r of rl.records) events.push({ what: 'record', at: performance.now(), record: r });
        if (hang) return;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return { url: `http://127.0.0.1:${server.address().port}`, events };
}

/**
 * The live report's record, at 0.5 s into the block: by then the watchdog has loaded the OTLP log exporter, which
 * holds that thread for as long as it takes (up to seconds on a loaded machine), probes included; it is not what
 * these tests time.
 */
const firstRecord = (app, otlp) => app.waitFor(() => otlp.events.some((e) => e.what === 'record'), { timeoutMs: 15_000, what: 'the live report\'s record' });

/** Probes /livez every 20 ms until the first 503, noting its arrival in `events`; returns it (`before`: the 200s' times). */
async function firstLivez503(root, events) {
  const deadline = Date.now() + 20_000;
  const before = [];
  for (;;) {
    const a = await get(`${root}/livez`);
    if (a.status === 503) {
      events.push({ what: '503', at: performance.now(), answer: a });
      return { ...a, before };
    }
    before.push(a.ms);
    if (Date.now() > deadline) throw new Error(`/livez still ${a.status} after 20 s: ${a.body}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the in-progress OTLP log record, as of the liveness timeout, reaches the receiver before /livez first answers 503', { timeout: 60_000 }, async (t) => {
  const otlp = await receiver(t);
  const app = startApp('block', 'Infinity', env(otlp));
  t.after(() => app.kill());
  const { url } = await app.message('ready');
  await app.message('blocking');
  await firstRecord(app, otlp);
  const first = await firstLivez503(base(url), otlp.events);
  const body = first.json;
  assert.equal(body.live, false);
  assert.ok(body.blockedForMs >= LIVENESS_MS, body);

  // In arrival order: the live report's record at ~0.5 s, then the one of the liveness moment, then the 503.
  const order = otlp.events.map((e) => (e.what === 'record' ? `record ${e.record.attributes['loopwatch.stall.duration_ms']} ms` : '503'));
  const at503 = otlp.events.findIndex((e) => e.what === '503');
  const before = otlp.events.slice(0, at503).filter((e) => e.what === 'record' && inProgress(e.record));
  const evidence = before.find((e) => e.record.attributes['loopwatch.stall.duration_ms'] >= LIVENESS_MS);
  assert.ok(evidence, `an in-progress record of ${LIVENESS_MS} ms or more before the first 503; events: ${order.join(', ')}`);
  const r = evidence.record;
  assert.ok(evidence.at < otlp.events[at503].at);
  // Written from the probe's own reading: the same thread, time blocked and culprit as the 503's body.
  assert.equal(r.eventName, 'loopwatch.stall');
  assert.equal(r.attributes['thread.name'], body.thread);
  assert.equal(r.attributes['loopwatch.stall.duration_ms'], body.blockedForMs);
  assert.equal(r.attributes['loopwatch.culprit'], body.culprit);
  assert.match(body.culprit, /^busy \(.*app\.mjs:\d+\)$/, body.culprit);
  // The same stall as the live report's record.
  assert.equal(r.attributes['loopwatch.stall.id'], before[0].record.attributes['loopwatch.stall.id']);
  assert.match(app.stderr, /thread "main" has been blocked for \d+\.\d s, over the liveness timeout/);
});

test('a receiver that never answers does not hold the first 503 back: it is answered after the 40 ms wait, and that is said and counted', { timeout: 60_000 }, async (t) => {
  const otlp = await receiver(t, { hang: true });
  // Probed on the separate probe port this time (health/server.ts; the first test, the metrics port).
  const port = await freePort();
  const app = startApp('block', 'Infinity', { ...env(otlp), LOOPWATCH_HEALTH_PORT: String(port) });
  t.after(() => app.kill());
  const { url } = await app.message('ready');
  await app.message('blocking');
  await firstRecord(app, otlp);
  const probes = `http://127.0.0.1:${port}`;
  const first = await firstLivez503(probes, otlp.events);
  // The wait is 40 ms; the exporter would wait 30 s for this receiver. A wide margin: on a loaded machine a probe's
  // own round trip (both processes niced) varies by hundreds of ms; the line below says the wait was cut at 40 ms.
  const times = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  assert.ok(first.ms < 2000, `first 503 answered in ${first.ms.toFixed(1)} ms (the 200s before it: ${times(first.before)} ms)`);
  // The record was sent (the receiver read it), just never acknowledged.
  const at503 = otlp.events.findIndex((e) => e.what === '503');
  assert.ok(otlp.events.slice(0, at503).some((e) => e.what === 'record' && e.record.attributes['loopwatch.stall.duration_ms'] >= LIVENESS_MS), 'the record was on its way');
  await app.waitFor(() => /\[loopwatch\] health: the in-progress OTLP log record was not sent within 40 ms; \/livez answers 503 without waiting longer/.test(app.stderr), { timeoutMs: 2000, what: 'the late line' });
  const metrics = await get(url);
  const m = metrics.body.match(/^loopwatch_agent_errors_total\{[^}]*loopwatch_component="health"[^}]*\} (\S+)/m);
  assert.ok(m && Number(m[1]) >= 1, `counted: ${m?.[0]}`);
  // Later probes do not wait again for the same stall.
  const again = await get(`${probes}/livez`);
  assert.equal(again.status, 503);
  assert.ok(again.ms < 2000, `later 503 in ${again.ms.toFixed(1)} ms`);
});
