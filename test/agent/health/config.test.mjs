// The health options and variables: defaults, code over variables, and one fail-open line per bad value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { resolveConfig } = require('../../../agent/dist/config/config.js');

test('health defaults', () => {
  const c = resolveConfig({}, {});
  assert.deepEqual(c.health, { livenessTimeoutMs: 10_000, readinessStallMs: 1000, readinessDelayMs: 500, delayWindowMs: 10_000, readinessPoolPending: undefined, recoveryMs: 5000, port: undefined });
  assert.deepEqual(c.problems, []);
  assert.equal(resolveConfig({ health: false }, {}).health, false);
});

test('variables fill what code leaves unset; code wins', () => {
  const env = {
    LOOPWATCH_LIVENESS_TIMEOUT_MS: '30000',
    LOOPWATCH_READINESS_STALL_MS: '250',
    LOOPWATCH_READINESS_DELAY_MS: '0',
    LOOPWATCH_READINESS_DELAY_WINDOW_MS: '5000',
    LOOPWATCH_READINESS_POOL_PENDING: '10',
    LOOPWATCH_HEALTH_RECOVERY_MS: '2000',
    LOOPWATCH_HEALTH_PORT: '9465',
  };
  assert.deepEqual(resolveConfig({}, env).health, { livenessTimeoutMs: 30_000, readinessStallMs: 250, readinessDelayMs: 0, delayWindowMs: 5000, readinessPoolPending: 10, recoveryMs: 2000, port: 9465 });
  const c = resolveConfig({ health: { livenessTimeoutMs: 5000, port: 0 } }, env);
  assert.equal(c.health.livenessTimeoutMs, 5000);
  assert.equal(c.health.port, 0);
  assert.equal(c.health.readinessStallMs, 250);
});

test('bad values fall back alone, one line each', () => {
  const c = resolveConfig(
    { health: { livenessTimeoutMs: -1, readinessPoolPending: 1.5, nope: 1 } },
    { LOOPWATCH_HEALTH_PORT: '70000', LOOPWATCH_READINESS_STALL_MS: 'soon' },
  );
  assert.deepEqual(
    c.problems.map((p) => p.line),
    [
      'health.nope=1 is not valid (accepted: the options health.livenessTimeoutMs, health.readinessStallMs, health.readinessDelayMs, health.delayWindowMs, health.readinessPoolPending, health.recoveryMs, health.port); ignoring it.',
      'health.livenessTimeoutMs=-1 is not valid (accepted: a number from 1 to 3600000 (ms)); using the default 10000.',
      'LOOPWATCH_READINESS_STALL_MS="soon" is not valid (accepted: a number from 1 to 3600000 (ms)); using the default 1000.',
      'health.readinessPoolPending=1.5 is not valid (accepted: an integer from 0 to 1000000 (waiters)); using none (pools are not checked).',
      'LOOPWATCH_HEALTH_PORT="70000" is not valid (accepted: an integer port from 0 to 65535); using none (the probes are on the metrics endpoint only).',
    ],
  );
  assert.equal(c.health.livenessTimeoutMs, 10_000);
  assert.equal(c.health.readinessStallMs, 1000);
  assert.equal(c.health.readinessPoolPending, undefined);
  assert.equal(c.health.port, undefined);
  assert.equal(resolveConfig({ health: 'on' }, {}).problems[0].line, 'health="on" is not valid (accepted: false or an object { livenessTimeoutMs, readinessStallMs, readinessDelayMs, delayWindowMs, readinessPoolPending, recoveryMs, port }); using the defaults.');
});
