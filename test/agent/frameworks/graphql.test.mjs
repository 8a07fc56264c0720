// GraphQL operations on stalls: real graphql-yoga and Apollo Server on node:http in a child process with the agent
// and its plugin, resolvers that stall in differently named functions, and each stall's exact operation (name and
// type), HTTP route and culprit asserted. Without the plugin no stall names an operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { runStallFixture } from '../helpers/stall-child.mjs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
// Node 22's AsyncLocalStorage on async_hooks: request tracking is off by default there (as in routes.test.mjs).
const ARGS = typeof AsyncLocalStorage.prototype._propagate === 'function' ? ['--experimental-async-context-frame'] : [];

const CULPRIT = /^(priceCatalogue|chargeCard) \(.*_graphql\.cjs:\d+\)$/;

async function stallsOf(file, env = {}) {
  const { code, stalls, err } = await runStallFixture(join(fixtures, file), { execArgv: ARGS, env });
  assert.equal(code, 0, `${file} exited ${code}: ${err}`);
  assert.doesNotMatch(err, /\[loopwatch\]/, `${file} printed: ${err}`);
  // The resolvers' stalls (a loaded machine adds its own: start-up, a descheduled thread).
  const resolvers = stalls.filter((s) => CULPRIT.test(s.culprit ?? ''));
  return resolvers.map((s) => ({ culprit: s.culprit.split(' ')[0], route: s.route, op: s.graphqlOperation }));
}

// Named query, named mutation, anonymous mutation (type, no name), the operation operationName selects.
const expected = (route) => [
  { culprit: 'priceCatalogue', route, op: { type: 'query', name: 'ShopCatalogue' } },
  { culprit: 'chargeCard', route, op: { type: 'mutation', name: 'PlaceOrder' } },
  { culprit: 'chargeCard', route, op: { type: 'mutation' } },
  { culprit: 'chargeCard', route, op: { type: 'mutation', name: 'Chosen' } },
];

test('graphql-yoga with loopwatchYoga(): each stall names its operation, the route stays POST /graphql', async () => {
  assert.deepEqual(await stallsOf('graphql-yoga.cjs'), expected('POST /graphql'));
});

test('Apollo Server (standalone) with loopwatchApollo(): each stall names its operation, the route stays POST /', async () => {
  assert.deepEqual(await stallsOf('graphql-apollo.cjs'), expected('POST /'));
});

test('without the plugin: no operation on the stall (documented absence), the route unchanged', async () => {
  const none = (route) => expected(route).map(({ culprit }) => ({ culprit, route, op: undefined }));
  assert.deepEqual(await stallsOf('graphql-yoga.cjs', { NO_PLUGIN: '1' }), none('POST /graphql'));
  assert.deepEqual(await stallsOf('graphql-apollo.cjs', { NO_PLUGIN: '1' }), none('POST /'));
});

// Span events (docs/attribution.md "Span events"): the stalled request's server span and the span of the request in
// flight beside it (`/wait`, no GraphQL) each carry the stalled request's operation, under loopwatch.stall.* (not
// graphql.operation.*, which on the victim's span would read as its own), the same as the stall event's.
test('graphql-yoga under OpenTelemetry tracing: the stall span events name the stalled operation, on the culprit and the victim span', async () => {
  const { code, stalls, out, err } = await runStallFixture(join(fixtures, 'graphql-spans.cjs'), { execArgv: ARGS });
  assert.equal(code, 0, err);
  assert.doesNotMatch(err, /\[loopwatch\]/, err);
  const spans = out.split('\n').filter((l) => l.startsWith('SPAN ')).map((l) => JSON.parse(l.slice(5)));
  const resolverStalls = stalls.filter((s) => CULPRIT.test(s.culprit ?? ''));
  assert.deepEqual(
    resolverStalls.map((s) => ({ culprit: s.culprit.split(' ')[0], route: s.route, op: s.graphqlOperation })),
    expected('POST /graphql'),
    JSON.stringify(stalls),
  );
  for (const [i, s] of resolverStalls.entries()) {
    const own = spans.find((x) => x.traceId === s.traceId);
    const victim = spans.find((x) => x.path === `/wait/${i}`);
    assert.ok(own && victim, `spans of operation ${i}: ${JSON.stringify(spans)}`);
    for (const [span, role] of [[own, 'culprit'], [victim, 'victim']]) {
      const events = span.events.filter((a) => a['loopwatch.culprit'] === s.culprit);
      assert.equal(events.length, 1, `${role} span of operation ${i}: ${JSON.stringify(span.events)}`);
      const a = events[0];
      assert.equal(a['loopwatch.stall.role'], role);
      assert.equal(a['loopwatch.stall.route'], 'POST /graphql');
      assert.equal(a['loopwatch.stall.graphql.operation.type'], s.graphqlOperation.type, `${role} span of operation ${i}`);
      assert.equal(a['loopwatch.stall.graphql.operation.name'], s.graphqlOperation.name, `${role} span of operation ${i}`);
      assert.ok(!('graphql.operation.name' in a) && !('graphql.operation.type' in a), JSON.stringify(a));
    }
  }
});
