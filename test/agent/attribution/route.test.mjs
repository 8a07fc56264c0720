import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { normalisePath, routeOf, expressRoute } = require('../../../agent/dist/attribution/route.js');

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
  assert.equal(expressRoute({ baseUrl: '/api', route: { path: '/items/:id' } }), '/api/items/:id');
  assert.equal(expressRoute({ route: { path: ['/a', '/b'] } }), '/a|/b');
  assert.equal(expressRoute({}), undefined);
});

test('routeOf prefers framework template, then express, then normalised path', () => {
  assert.equal(routeOf('GET', { url: '/p/1' }, '/p/:sku'), 'GET /p/:sku');
  assert.equal(routeOf('post', { url: '/x/9', baseUrl: '', route: { path: '/x/:n' } }), 'POST /x/:n');
  assert.equal(routeOf(undefined, { method: 'DELETE', url: '/x/9?y' }), 'DELETE /x/:id');
});
