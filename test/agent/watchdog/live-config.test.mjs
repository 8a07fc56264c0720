// liveReportAfterMs / liveReportEveryMs and their variables: defaults, valid values taken, a bad one is one line and
// the default (config/sections.ts resolveLiveReport).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { resolveConfig } = require('../../../agent/dist/config/config.js');

test('defaults: first report at 1 s, then every 5 s', () => {
  const c = resolveConfig({}, {});
  assert.deepEqual(c.liveReport, { afterMs: 1000, everyMs: 5000 });
  assert.deepEqual(c.problems, []);
});

test('options and variables are taken', () => {
  assert.deepEqual(resolveConfig({ liveReportAfterMs: 250, liveReportEveryMs: 2000 }, {}).liveReport, { afterMs: 250, everyMs: 2000 });
  assert.deepEqual(resolveConfig({}, { LOOPWATCH_LIVE_REPORT_AFTER_MS: '3000', LOOPWATCH_LIVE_REPORT_EVERY_MS: '10000' }).liveReport, { afterMs: 3000, everyMs: 10000 });
});

for (const [options, env, line] of [
  [{}, { LOOPWATCH_LIVE_REPORT_AFTER_MS: 'soon' }, 'LOOPWATCH_LIVE_REPORT_AFTER_MS="soon" is not valid (accepted: a number from 100 to 600000 (ms)); using the default 1000.'],
  [{ liveReportAfterMs: 5 }, {}, 'liveReportAfterMs=5 is not valid (accepted: a number from 100 to 600000 (ms)); using the default 1000.'],
  [{}, { LOOPWATCH_LIVE_REPORT_EVERY_MS: '0' }, 'LOOPWATCH_LIVE_REPORT_EVERY_MS="0" is not valid (accepted: a number from 500 to 600000 (ms)); using the default 5000.'],
]) {
  test(`one line and the default for ${JSON.stringify({ ...options, ...env })}`, () => {
    const c = resolveConfig(options, env);
    assert.deepEqual(c.problems.map((p) => p.line), [line]);
    assert.deepEqual(c.liveReport, { afterMs: 1000, everyMs: 5000 }, 'the other one keeps its default too');
  });
}
