// Routes over the per-thread budget (20 distinct routes in the culprit metrics) are counted as `other` — and said:
// loopwatch_attribution_routes_folded_total counts each stall whose route was folded. A real app, real HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { freePort, parseMetrics, runChild } from '../helpers/child.mjs';

const APP = fileURLToPath(new URL('./fixtures/routes-app.cjs', import.meta.url));
const BUDGET = 20;
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliett', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey', 'xray', 'yankee'];

test(`${WORDS.length} distinct routes stalling: ${BUDGET} kept, the rest under "other", each counted in loopwatch_attribution_routes_folded_total`, { timeout: 60_000 }, async (t) => {
  const metricsPort = await freePort();
  const app = runChild(APP, {
    execArgv: ['--require', 'loopwatch/register'],
    env: { LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1', LOOPWATCH_REQUEST_CONTEXT: 'on' },
  });
  t.after(() => app.kill());
  const { port } = await app.message('listening');
  const get = async (path) => (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } })).text();
  const scrape = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
  // Before any fold the self-metric is absent (nothing to say).
  for (const w of WORDS.slice(0, BUDGET)) assert.equal(await get(`/${w}`), 'stalled');
  const counted = (m) => m.filter((s) => s.name === 'loopwatch_eventloop_stall_culprit_count_total' && s.labels.thread_name === 'main');
  let m;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    m = await scrape();
    if (counted(m).reduce((a, s) => a + s.value, 0) === BUDGET) break;
  }
  assert.equal(counted(m).reduce((a, s) => a + s.value, 0), BUDGET);
  assert.equal(m.find((s) => s.name === 'loopwatch_attribution_routes_folded_total'), undefined, 'no fold yet, no series');
  for (const w of WORDS.slice(BUDGET)) assert.equal(await get(`/${w}`), 'stalled');
  // A route already kept stays itself after the budget is spent.
  assert.equal(await get('/alpha'), 'stalled');
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    m = await scrape();
    if (counted(m).reduce((a, s) => a + s.value, 0) === WORDS.length + 1) break;
  }
  const byRoute = {};
  for (const s of counted(m)) byRoute[s.labels.http_route] = (byRoute[s.labels.http_route] ?? 0) + s.value;
  const expected = Object.fromEntries(WORDS.slice(0, BUDGET).map((w) => [`GET /${w}`, 1]));
  expected['GET /alpha'] = 2;
  expected.other = WORDS.length - BUDGET;
  // Every stall names its own request's route (a sample serviced after its stall ended, in the next request's handler,
  // is dropped: attribution/interrupt-sampler.ts), the first 20 are kept and the rest fold into "other".
  assert.deepEqual(byRoute, expected);
  assert.ok(byRoute.other >= 1, 'some stalls folded');
  const folded = m.filter((s) => s.name === 'loopwatch_attribution_routes_folded_total');
  assert.deepEqual(folded.map((s) => [s.labels, s.value]), [[{ thread_name: 'main' }, byRoute.other]], 'every stall under "other" counted as folded');
  assert.equal(await get('/close'), 'closing');
  assert.deepEqual(await app.exited, { code: 0, signal: null });
  assert.deepEqual(app.stderr.split('\n').filter(Boolean), [], 'a fold prints nothing');
});
