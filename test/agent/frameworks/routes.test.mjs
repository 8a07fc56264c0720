// Route templates read from each framework's own routing result: a real server per framework in a child process
// with the agent, a handler that stalls on a templated route whose raw path has letters-only segments (a raw or
// folded path fails the test), and the exact template asserted on the stall event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { runStallFixture } from '../helpers/stall-child.mjs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');
const require = createRequire(import.meta.url);
// Node 22's AsyncLocalStorage on async_hooks: request tracking is off by default there (as in scenarios.test.mjs).
const ARGS = typeof AsyncLocalStorage.prototype._propagate === 'function' ? ['--experimental-async-context-frame'] : [];

const run = (file, args = [], env = {}) => runStallFixture(join(fixtures, file), { execArgv: [...ARGS, ...args], env });

/** Runs the fixture and asserts its routes; resolves to the run (for more assertions on its output). */
async function expectRoutes(file, routes, args, env) {
  const result = await run(file, args, env);
  const { code, stalls, err } = result;
  assert.equal(code, 0, `${file} exited ${code}: ${err}`);
  // No framework noise and no agent diagnostic: reading a route calls no getter that throws or warns.
  // (restify's own DEP0111 at load time, on Node 22, is not the agent's.)
  assert.doesNotMatch(err, /\[loopwatch\]|deprecated!|DeprecationWarning(?!: Access to process\.binding\('http_parser'\))/, `${file} printed: ${err}`);
  // The handlers' stalls, each with its template: those naming the handler's function, or no culprit where a loaded
  // machine made every sample late (docs/attribution.md) — never another function. A loaded machine adds stalls of
  // its own: start-up (no request, no route), the warm-up request, a thread descheduled in other code.
  const handlers = stalls.filter((s) => s.route !== undefined && !s.route.includes('/warm/up/') && (s.culprit === undefined || /^stall \(.*_stall\.cjs:\d+\)$/.test(s.culprit)));
  assert.deepEqual(
    handlers.map((s) => s.route),
    routes,
    `${file}: ${JSON.stringify(stalls.map((s) => ({ route: s.route, culprit: s.culprit, ms: s.durationMs })))}`,
  );
  return result;
}

test('Express 4: routers mounted under a prefix and a parameter, app.route(), a router listing on "/" (json-server)', () =>
  expectRoutes('express4.cjs', ['GET /users/:userId/profile', 'GET /orgs/:org/teams/:team', 'GET /shops/:shop/items/:item', 'GET /items']));

test('Express 5: an array path, a router with a parameter inside one mounted at "/", app.route()', () =>
  expectRoutes('express5.cjs', ['GET /users/:userId/profile|/users/:userId/about', 'GET /orgs/:org/teams/:team', 'GET /shops/:shop/items/:item']));

// An array path is one template, its paths each under the mount, joined by `|`; a RegExp is its literal, as a route's
// path and as a router's mount path (never the text it matched: `/vnext`).
const PATHS = [
  'GET /a/:x|/b/:y',
  'GET /users/:userId/profile|/users/:userId/about',
  'GET /^\\/files\\/[a-z]+$/',
  'GET /docs/^\\/[a-z]+\\/raw$/',
  'GET /^\\/v[a-z]+//teams/:team',
];
for (const [name, pkg] of [['Express 4', 'express4'], ['Express 5', 'express']]) {
  test(`${name}: array paths (at the root, in a mounted router), RegExp paths (at the root, in a mounted router, as a mount path)`, () =>
    expectRoutes('express-paths.cjs', PATHS, [], { EXPRESS: pkg }));
}

test('Koa + @koa/router (loaded before the agent): nested router with a prefix, three stalls, each with its template', () =>
  expectRoutes('koa.cjs', ['GET /shops/:shop/items/:item', 'GET /teams/:team/members', 'GET /shops/:shop/items/:item']));

test('Koa + koa-router (the older package), the same app: the same templates', () =>
  expectRoutes('koa.cjs', ['GET /shops/:shop/items/:item', 'GET /teams/:team/members', 'GET /shops/:shop/items/:item'], [], { ROUTER: 'koa-router' }));

test('Koa imported from ESM, the agent preloaded first: linked through the module.require channel', () =>
  expectRoutes('koa-esm.mjs', ['GET /shops/:shop/items/:item', 'GET /shops/:shop/items/:item'], ['-r', join(fixtures, '_preload.cjs')]));

test("hapi: request.route.path, in hapi's notation (loaded after the agent: linked as it loads)", () =>
  expectRoutes('hapi.cjs', ['GET /teams/{team}/members', 'GET /shops/{shop}/items/{item*}'], ['-r', join(fixtures, '_preload.cjs')]));

test('hapi loaded before the agent: linked from the module cache', () =>
  expectRoutes('hapi.cjs', ['GET /teams/{team}/members', 'GET /shops/{shop}/items/{item*}']));

const FASTIFY = ['GET /shops/:shop/items/:item', 'GET /teams/:team/members', 'GET /people/:name'];
const tracing = (out) => /^TRACING (true|false)$/m.exec(out)?.[1];

test("fastify, the agent preloaded: each route's handler marks its template, fastify's per-request tracing channel stays unsubscribed", async () => {
  const { out } = await expectRoutes('fastify.cjs', FASTIFY, ['-r', join(fixtures, '_preload.cjs')]);
  assert.equal(tracing(out), 'false', out);
});

test("fastify instance made before the agent started: fastify's tracing channel names its routes", async () => {
  const { out } = await expectRoutes('fastify.cjs', FASTIFY);
  assert.equal(tracing(out), 'true', out);
});

test('NestJS on fastify (@nestjs/platform-fastify): controller paths under a global prefix, from fastify\'s channel', () =>
  expectRoutes('nest-fastify.mjs', ['GET /api/shops/:shop/items/:item', 'GET /api/teams/:team/members', 'GET /api/teams/:name']));

test("h3 2 with its tracing plugin: event.context.matchedRoute.route, a mounted app's base included", () =>
  expectRoutes('h3.mjs', ['GET /:name', 'GET /shops/:shop/items/:item', 'GET /api/teams/:team/members']));

test('h3 2 without its tracing plugin: h3 publishes nothing, the documented fallback (folded path)', () =>
  expectRoutes('h3.mjs', ['GET /alice', 'GET /shops/:id/items/:id', 'GET /api/teams/:id/members'], [], { NO_TRACING: '1' }));

let restifyLoads = true;
try {
  require('restify');
} catch {
  // restify 11 requires spdy → http-deceiver, which calls process.binding('http_parser'): removed in Node 24.
  restifyLoads = false;
}
test('restify: req.route.path', { skip: !restifyLoads && 'restify cannot load on this Node (process.binding("http_parser") is gone)' }, () =>
  expectRoutes('restify.cjs', ['GET /shops/:shop/items/:item']));

test('tinyhttp (ESM, enableReqRoute): a letters-only parameter at the root', () =>
  expectRoutes('tinyhttp.mjs', ['GET /:name', 'GET /shops/:shop/items/:item']));
