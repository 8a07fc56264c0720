// The culprit counters by GraphQL operation: a real graphql-yoga app with the loopwatchYoga() plugin, real HTTP,
// every resolver stalling. Each stall is counted under its operation's exact type and name; past 20 distinct named
// operations per thread the name is `other` (the type kept), and each of those stalls is counted in
// loopwatch_attribution_graphql_operations_folded_total. An anonymous operation has the type alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { freePort, parseMetrics, runChild } from '../helpers/child.mjs';

const APP = fileURLToPath(new URL('./fixtures/graphql-budget-app.cjs', import.meta.url));
const BUDGET = 20;
// Node 22's AsyncLocalStorage on async_hooks: request tracking is off by default there (as in routes.test.mjs).
const ARGS = typeof AsyncLocalStorage.prototype._propagate === 'function' ? ['--experimental-async-context-frame'] : [];

test(`culprit counters by GraphQL operation: ${BUDGET} names kept per thread, the rest "other" with their type, folds counted`, { timeout: 90_000 }, async (t) => {
  const metricsPort = await freePort();
  const app = runChild(APP, {
    execArgv: [...ARGS, '--require', 'loopwatch/register'],
    env: { LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_PROMETHEUS_HOST: '127.0.0.1', LOOPWATCH_STALL_THRESHOLD_MS: '200' },
  });
  t.after(() => app.kill());
  const { port } = await app.message('listening');
  const post = async (query) => {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ query }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.doesNotMatch(body, /"errors"/, body);
  };
  const scrape = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
  // The stalls that ran in an operation: the resolvers' (each names slowResolver, or no culprit where a loaded
  // machine made every sample late: docs/attribution.md). Any other culprit would be wrong.
  const counted = (m) =>
    m.filter((s) => s.name === 'loopwatch_eventloop_stall_culprit_count_total' && s.labels.graphql_operation_type !== undefined);
  const settle = async (total) => {
    let m;
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      m = await scrape();
      if (counted(m).reduce((a, s) => a + s.value, 0) >= total) break;
    }
    return m;
  };

  // 20 distinct named queries fill the budget; an anonymous mutation does not take a place in it.
  const names = Array.from({ length: BUDGET + 3 }, (_, i) => `Catalogue${String.fromCharCode(65 + i)}`);
  for (const n of names.slice(0, BUDGET)) await post(`query ${n} { slow }`);
  await post('mutation { slowly }');
  let m = await settle(BUDGET + 1);
  assert.equal(m.find((s) => s.name === 'loopwatch_attribution_graphql_operations_folded_total'), undefined, 'no fold yet, no series');
  // Three more names and a mutation named like one kept (a different operation: type and name are the key).
  for (const n of names.slice(BUDGET)) await post(`query ${n} { slow }`);
  await post(`mutation ${names[0]} { slowly }`);
  // A name already kept stays itself after the budget is spent.
  await post(`query ${names[0]} { slow }`);
  m = await settle(BUDGET + 1 + 5);

  const byOperation = {};
  for (const s of counted(m)) {
    assert.equal(s.labels.http_route, 'POST /graphql', 'the route stays the HTTP route');
    assert.match(s.labels.loopwatch_culprit, /^(slowResolver \(.*graphql-budget-app\.cjs:\d+\)|unknown)$/, 'the resolver, or no culprit');
    const op = `${s.labels.graphql_operation_type ?? '-'} ${s.labels.graphql_operation_name ?? '-'}`;
    byOperation[op] = (byOperation[op] ?? 0) + s.value;
  }
  const expected = Object.fromEntries(names.slice(0, BUDGET).map((n) => [`query ${n}`, 1]));
  expected[`query ${names[0]}`] = 2;
  expected['mutation -'] = 1;
  expected['query other'] = 3;
  expected['mutation other'] = 1;
  assert.deepEqual(byOperation, expected);
  const folded = m.filter((s) => s.name === 'loopwatch_attribution_graphql_operations_folded_total');
  assert.deepEqual(folded.map((s) => [s.labels, s.value]), [[{ thread_name: 'main' }, 4]], 'every stall under "other" counted as folded');
  // Outside GraphQL a stall carries neither label (the scrape's own series, e.g. the start-up stall, if any).
  for (const s of m.filter((x) => x.name === 'loopwatch_eventloop_stall_culprit_count_total' && x.labels.http_route !== 'POST /graphql')) {
    assert.equal(s.labels.graphql_operation_type, undefined, JSON.stringify(s.labels));
  }

  const res = await fetch(`http://127.0.0.1:${port}/close`);
  assert.equal(await res.text(), 'closing');
  assert.deepEqual(await app.exited, { code: 0, signal: null });
  assert.deepEqual(app.stderr.split('\n').filter(Boolean), [], 'a fold prints nothing');
});
