// Alertmanager routing: validated and routed offline with amtool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, requireTool, run } from './helpers/tools.mjs';

const CONFIG = 'collector/alertmanager/alertmanager.yml';

test('amtool check-config accepts alertmanager.yml', (t) => {
  const amtool = requireTool(t, 'amtool');
  if (!amtool) return;
  const r = run(amtool, ['check-config', CONFIG]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

for (const [labels, receivers] of [
  [['severity=page', 'alertname=LoopwatchStallInProgress', 'job=api'], 'pagerduty,webhook'],
  [['severity=ticket', 'alertname=LoopwatchHighEventLoopDelay', 'job=api'], 'webhook'],
  [['alertname=SomethingElse'], 'webhook'],
]) {
  test(`amtool routes ${labels.join(' ')} -> ${receivers}`, (t) => {
    const amtool = requireTool(t, 'amtool');
    if (!amtool) return;
    const r = run(amtool, ['config', 'routes', 'test', `--config.file=${CONFIG}`, `--verify.receivers=${receivers}`, ...labels]);
    assert.equal(r.status, 0, r.out);
    // And a wrong expectation fails, so the check above can fail.
    const wrong = run(amtool, ['config', 'routes', 'test', `--config.file=${CONFIG}`, '--verify.receivers=nobody', ...labels]);
    assert.notEqual(wrong.status, 0);
  });
}

test('PagerDuty uses Events v2 with the key from a file, resolves, links the runbook; pages inhibit tickets', () => {
  const cfg = YAML.parse(readFileSync(join(ROOT, CONFIG), 'utf8'));
  const pd = cfg.receivers.find((r) => r.name === 'pagerduty').pagerduty_configs[0];
  assert.ok(pd.routing_key_file, 'routing_key_file');
  assert.equal(pd.routing_key, undefined, 'no inline key');
  assert.equal(pd.service_key, undefined, 'Events v1 service_key must not be used');
  assert.equal(pd.send_resolved, true);
  assert.match(pd.links[0].href, /runbook_url/);
  const hook = cfg.receivers.find((r) => r.name === 'webhook').webhook_configs[0];
  assert.equal(hook.send_resolved, true);
  assert.deepEqual(cfg.inhibit_rules, [
    { source_matchers: ['severity="page"'], target_matchers: ['severity="ticket"'], equal: ['job'] },
  ]);
});
