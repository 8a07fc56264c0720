import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { normalisePath, routeOf, expressRoute, compileRoutePatterns, matchRoutePattern } = require('../../../agent/dist/attribution/route.js');

test('normalisePath replaces ids and drops query strings', () => {
  assert.equal(normalisePath('/users/42?x=1'), '/users/:id');
  assert.equal(normalisePath('/users/42/orders/550e8400-e29b-41d4-a716-446655440000#f'), '/users/:id/orders/:id');
  assert.equal(normalisePath('/files/5f2b9c0e7d1a4e3b'), '/files/:id');
  assert.equal(normalisePath('/u/someone%40example.com'), '/u/:id');
  assert.equal(normalisePath('/t/eyJhbGciOiJIUzI1NiJ9abc123'), '/t/:id');
  assert.equal(normalisePath('/api/v2/health'), '/api/v2/health');
  assert.equal(normalisePath('http://example.com/a/1?q'), '/a/:id');
  assert.equal(normalisePath(''), '/');
  assert.equal(normalisePath(undefined), '/');
});

test('express template: baseUrl + route.path', () => {
  assert.equal(expressRoute({ baseUrl: '/api', route: { methods: {}, path: '/items/:id' } }), '/api/items/:id');
  assert.equal(expressRoute({ route: { methods: {}, path: ['/a', '/b'] } }), '/a|/b');
  assert.equal(expressRoute({}), undefined);
});

test('routeOf prefers framework template, then express, then normalised path', () => {
  assert.equal(routeOf('GET', { url: '/p/1' }, '/p/:sku'), 'GET /p/:sku');
  assert.equal(routeOf('post', { url: '/x/9', baseUrl: '', route: { methods: {}, path: '/x/:n' } }), 'POST /x/:n');
  assert.equal(routeOf(undefined, { method: 'DELETE', url: '/x/9?y' }), 'DELETE /x/:id');
});

test('express: mounted routers give their mount pattern, never the matched path with its ids', async (t) => {
  const express = require('express');
  const http = require('node:http');
  const app = express();
  const reply = (req, res) => res.end(routeOf(req.method, req));
  const users = express.Router();
  users.get('/orders', reply);
  app.use('/users/:userId', users);
  const api = express.Router();
  const org = express.Router();
  org.get('/members/:id', reply);
  api.use('/orgs/:org', org);
  app.use('/api', api);
  const root = express.Router();
  const inner = express.Router();
  inner.get('/x', reply);
  root.use('/teams/:team', inner);
  app.use(root);
  app.get('/plain/:n', reply);
  const server = http.createServer(app);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const get = async (path) => (await fetch(`http://127.0.0.1:${server.address().port}${path}`)).text();
  assert.equal(await get('/users/alice-smith/orders?token=x'), 'GET /users/:userId/orders');
  assert.equal(await get('/api/orgs/acme/members/42'), 'GET /api/orgs/:org/members/:id');
  assert.equal(await get('/teams/bob/x'), 'GET /teams/:team/x');
  assert.equal(await get('/plain/7'), 'GET /plain/:n');
});

test('express: without the router stack (Express 4, or a hand-made request), the mount path is normalised', () => {
  assert.equal(expressRoute({ baseUrl: '/users/12345', route: { methods: {}, path: '/orders' } }), '/users/:id/orders');
});

test('normalisePath: matrix parameters, encoded query strings and short hex ids do not leak', () => {
  assert.equal(normalisePath('/a;jsessionid=0A1B2C3D4E5F6A7B'), '/a');
  assert.equal(normalisePath('/users/42%3Ftoken%3Dsecret/more'), '/users/:id');
  assert.equal(normalisePath('/p/ab12cd34'), '/p/:id');
  // Words stay where no collection word comes before them (docs/attribution.md, the fallback rule).
  assert.equal(normalisePath('/api/oauth2/deadbeef'), '/api/oauth2/deadbeef');
});

test('route patterns: ":param" is one non-empty segment, a final "*" the rest; first match wins; query, trailing slash and escapes handled', () => {
  const p = compileRoutePatterns(['/users/:name', '/users/:name/orders/:id', '/static/*', '/caf\u00e9/:x', '/']);
  const m = (url) => matchRoutePattern(p, url);
  assert.equal(m('/users/alice'), '/users/:name');
  assert.equal(m('/users/alice/'), '/users/:name');
  assert.equal(m('/users/alice?x=1#f'), '/users/:name');
  assert.equal(m('http://proxy.example/users/bob'), '/users/:name', 'absolute-form target');
  assert.equal(m('/users/alice/orders/42'), '/users/:name/orders/:id');
  assert.equal(m('/users/alice/orders'), undefined, 'segment counts must match');
  assert.equal(m('/users//orders/1'), undefined, 'a parameter is never empty');
  assert.equal(m('/users'), undefined);
  assert.equal(m('/static'), '/static/*', '"*" matches nothing too');
  assert.equal(m('/static/a/b/c.js'), '/static/*');
  assert.equal(m('/caf%C3%A9/1'), '/caf\u00e9/:x', 'literal segments compare decoded');
  assert.equal(m('/'), '/');
  assert.equal(m('/other'), undefined);
  assert.equal(matchRoutePattern([], '/users/alice'), undefined);
  // Variants of a path must not slip past its pattern (the id would land in the label).
  assert.equal(m('/users/alice//'), '/users/:name');
  assert.equal(m('//users//alice'), '/users/:name');
  assert.equal(m('/Users/alice'), undefined, 'case-sensitive, as documented');
  // A pattern written encoded or with a trailing slash is one pattern, reported as written without the slash.
  const q = compileRoutePatterns(['/caf%C3%A9/:x/', '/a/:b/*']);
  assert.equal(matchRoutePattern(q, '/caf%c3%a9/1'), '/caf%C3%A9/:x');
  assert.equal(matchRoutePattern(q, '/caf\u00e9/1'), '/caf%C3%A9/:x');
  // A long path costs what a short one does: only the segments the longest pattern needs are split.
  const long = '/a/b/' + 'x/'.repeat(50_000);
  assert.equal(matchRoutePattern(q, long), '/a/:b/*');
  assert.equal(matchRoutePattern(compileRoutePatterns(['/a/:b']), long), undefined);
});

test('routeOf: framework template, then express route, then a pattern, then the normalised path', () => {
  const p = compileRoutePatterns(['/users/:name']);
  assert.equal(routeOf('GET', { url: '/users/alice' }, undefined, p), 'GET /users/:name');
  assert.equal(routeOf('GET', { url: '/users/alice' }, '/users/:userId', p), 'GET /users/:userId', 'fastify template wins');
  assert.equal(routeOf('GET', { url: '/users/alice', route: { methods: {}, path: '/users/:handle' } }, undefined, p), 'GET /users/:handle', 'express route wins');
  assert.equal(routeOf('GET', { url: '/users/alice' }), 'GET /users/:id', 'without patterns: a name after a collection word folds');
  assert.equal(routeOf('GET', { url: '/orders/42' }, undefined, p), 'GET /orders/:id');
});

test('fallback fold (issue 22.4): interleaved letters and digits, tokens, ULIDs, dates fold; versions and words stay', () => {
  assert.equal(normalisePath('/item/q585017f236e'), '/item/:id');
  assert.equal(normalisePath('/item/a1b2'), '/item/:id');
  assert.equal(normalisePath('/orders/item12345'), '/orders/:id');
  assert.equal(normalisePath('/x/01ARZ3NDEKTSV4RRFFQ69G5FAV'), '/x/:id', 'ULID');
  assert.equal(normalisePath('/k/dGhpc2lzYWxvbmdrZXlvZmxldHRlcnM'), '/k/:id', 'mixed-case base64 without digits');
  assert.equal(normalisePath('/reports/2024-01-05'), '/reports/:id');
  assert.equal(normalisePath('/apis/apps/v1beta1/deployments'), '/apis/apps/v1beta1/deployments');
  assert.equal(normalisePath('/api/v2/oauth2/h264'), '/api/v2/oauth2/h264');
  assert.equal(normalisePath('/logs/export'), '/logs/export');
});

test('fallback fold (issue 23): a name after a collection word folds, known words after one stay', () => {
  assert.equal(normalisePath('/shops/acme/items/blue-shirt'), '/shops/:id/items/:id');
  assert.equal(normalisePath('/teams/ravens/members'), '/teams/:id/members');
  assert.equal(normalisePath('/users/Alice_Smith/orders/42'), '/users/:id/orders/:id');
  assert.equal(normalisePath('/users/me'), '/users/me');
  assert.equal(normalisePath('/items/search'), '/items/search');
  assert.equal(normalisePath('/users/profile/settings'), '/users/profile/settings');
  assert.equal(normalisePath('/users/caf%C3%A9'), '/users/:id');
  // No collection word before it: a word (what LOOPWATCH_ROUTE_PATTERNS is for).
  assert.equal(normalisePath('/alice'), '/alice');
});

test('Express 4 request shape: the app.router getter (throws by design) is never called; the mount pattern is rebuilt from the layer', () => {
  const express4 = require('express4');
  const app = express4();
  const users = express4.Router();
  users.get('/:userId/profile', () => {});
  app.use('/orgs/:org/users', users);
  const route = users.stack[0].route;
  // What Express 4 leaves on the request: its app (whose `router` getter throws), baseUrl (the matched path), req.route.
  assert.throws(() => app.router, /deprecated/);
  assert.equal(expressRoute({ app, baseUrl: '/orgs/acme/users', route }), '/orgs/:org/users/:userId/profile');
  assert.equal(expressRoute({ app, baseUrl: '/elsewhere/12345', route }), '/elsewhere/:id/:userId/profile', 'unexplained mount: folded');
});

test('a route read that throws falls back to the next method, counted in the self-metric, never thrown', (t) => {
  const { routeReadFailures, countRouteFailuresWith } = require('../../../agent/dist/attribution/route.js');
  const before = routeReadFailures();
  let counted = 0;
  countRouteFailuresWith({ add: (n) => (counted += n) });
  t.after(() => countRouteFailuresWith(undefined));
  const hostile = new Proxy({}, { getOwnPropertyDescriptor() { throw new Error('boom'); }, getPrototypeOf() { throw new Error('boom'); } });
  assert.equal(routeOf('GET', { url: '/shops/acme', route: hostile, app: hostile }), 'GET /shops/:id');
  assert.ok(routeReadFailures() > before);
  assert.equal(counted, routeReadFailures() - before, 'every failure reaches the counter');
});
