// shedLoad(): the same function as node:http wrapper, express middleware and fastify onRequest hook answers 503
// with Retry-After while the agent says the process is not ready (here: a real generic-pool over its waiter
// limit), and lets requests through to the app's handler otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base, get, pollUntil, startApp } from './helpers.mjs';

test('shedLoad with node:http, express and fastify', { timeout: 60_000 }, async () => {
  const app = startApp('shed', undefined, { LOOPWATCH_READINESS_POOL_PENDING: '1', LOOPWATCH_HEALTH_RECOVERY_MS: '0' });
  try {
    const ready = await app.message('ready');
    const servers = { plain: ready.plain, express: ready.express, fastify: ready.fastify };
    for (const [name, url] of Object.entries(servers)) {
      const a = await get(`${url}/`);
      assert.deepEqual({ status: a.status, body: a.body, retry: a.headers['retry-after'] }, { status: 200, body: `${name} ok\n`, retry: undefined });
    }
    await get(`${ready.plain}/exhaust`);
    await pollUntil(`${base(ready.url)}/readyz`, (a) => a.status === 503);
    for (const [name, url] of Object.entries(servers)) {
      const a = await pollUntil(`${url}/`, (r) => r.status === 503, { timeoutMs: 5000 });
      assert.equal(a.match.headers['retry-after'], '7', name);
      assert.deepEqual(a.match.json, { state: 'saturated', reason: 'pool' }, name);
    }
    await get(`${ready.plain}/release`);
    await pollUntil(`${base(ready.url)}/readyz`, (a) => a.status === 200);
    for (const [name, url] of Object.entries(servers)) {
      const a = await pollUntil(`${url}/`, (r) => r.status === 200, { timeoutMs: 5000 });
      assert.equal(a.match.body, `${name} ok\n`);
    }
  } finally {
    app.kill();
  }
});
