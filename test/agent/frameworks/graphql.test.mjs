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
