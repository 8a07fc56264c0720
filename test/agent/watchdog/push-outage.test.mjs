// The watchdog's OTLP push while the collector is down: one line when the outage starts, one when it is over (with
// the number of failed pushes), every failed push counted (export/otlp-push.ts PushOutage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { PushOutage } = require('../../../agent/dist/export/otlp-push.js');

test('a collector down for 4 pushes: one line, 4 counted, one line when a push goes through, then quiet', () => {
  const lines = [];
  let counted = 0;
  const o = new PushOutage({ warn: (l) => lines.push(l) }, () => counted++);
  o.ok();
  assert.deepEqual(lines, [], 'nothing to say while pushes go through');
  for (let i = 0; i < 4; i++) o.failed(new Error('connect ECONNREFUSED 127.0.0.1:4318'));
  assert.equal(counted, 4);
  assert.deepEqual(lines, ['otel: could not push the stall in progress over OTLP: connect ECONNREFUSED 127.0.0.1:4318 (said again when a push goes through)']);
  o.ok();
  o.ok();
  assert.deepEqual(lines.slice(1), ['otel: the OTLP push of the stall in progress works again, after 4 failed pushes']);
  // A second outage is a new one: said again.
  o.failed('timeout');
  o.ok();
  assert.deepEqual(lines.slice(2), [
    'otel: could not push the stall in progress over OTLP: timeout (said again when a push goes through)',
    'otel: the OTLP push of the stall in progress works again, after 1 failed push',
  ]);
  assert.equal(counted, 5);
});
