import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { InflightList } = require('../../../agent/dist/attribution/inflight.js');

const names = (list, max = 100) => list.first(max).map((r) => r.name);

test('most recent first; removal from the head, the middle and the tail keeps the rest linked', () => {
  const list = new InflightList();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => ({ name }));
  for (const r of [a, b, c, d]) list.add(r);
  assert.deepEqual(names(list), ['d', 'c', 'b', 'a']);
  list.remove(c); // middle
  assert.deepEqual(names(list), ['d', 'b', 'a']);
  list.remove(d); // head
  assert.deepEqual(names(list), ['b', 'a']);
  list.remove(a); // tail
  assert.deepEqual(names(list), ['b']);
  list.remove(b);
  assert.deepEqual(names(list), []);
});

test('removing what is not in the list, or twice, changes nothing; adding twice links once', () => {
  const list = new InflightList();
  const a = { name: 'a' };
  const b = { name: 'b' };
  const stranger = { name: 'x' };
  list.add(a);
  list.add(b);
  list.add(b);
  assert.deepEqual(names(list), ['b', 'a']);
  list.remove(stranger);
  list.remove(a);
  list.remove(a);
  assert.deepEqual(names(list), ['b']);
  // A removed item can come back.
  list.add(a);
  assert.deepEqual(names(list), ['a', 'b']);
});

test('first(max) is bounded; clear() unlinks every item so they can be added to a new list', () => {
  const list = new InflightList();
  const items = Array.from({ length: 50 }, (_, i) => ({ name: i }));
  for (const r of items) list.add(r);
  assert.deepEqual(names(list, 3), [49, 48, 47]);
  list.clear();
  assert.deepEqual(names(list), []);
  const other = new InflightList();
  other.add(items[0]);
  assert.deepEqual(names(other), [0]);
  // The links live on symbols: the items' own keys are untouched.
  assert.deepEqual(Object.keys(items[1]), ['name']);
});
