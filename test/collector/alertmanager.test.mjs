// Alertmanager routing: validated and routed offline with amtool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT, Procs, alertmanagerBin, freePort, requireTool, run, waitFor } from './helpers/tools.mjs';

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
    { source_matchers: ['severity="page"'], target_matchers: ['severity="ticket"'], equal: ['job', 'instance'] },
  ]);
});

test('inhibition, in a real Alertmanager: a page suppresses the tickets of its own instance (or its job-level twin), not the rest of the job', async (t) => {
  const alertmanager = alertmanagerBin();
  if (!alertmanager) return t.skip('alertmanager not installed: apt-get install prometheus-alertmanager');
  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-am-'));
  const am = YAML.parse(readFileSync(join(ROOT, CONFIG), 'utf8'));
  // Nowhere to deliver: this checks which alerts are suppressed, not notifications.
  writeFileSync(join(dir, 'pd_key'), 'k\n');
  am.receivers.find((r) => r.name === 'pagerduty').pagerduty_configs[0].routing_key_file = join(dir, 'pd_key');
  am.receivers.find((r) => r.name === 'pagerduty').pagerduty_configs[0].url = 'http://127.0.0.1:9/';
  am.receivers.find((r) => r.name === 'webhook').webhook_configs[0].url = 'http://127.0.0.1:9/';
  writeFileSync(join(dir, 'alertmanager.yml'), YAML.stringify(am));
  const [port, cluster] = await Promise.all([freePort(), freePort()]);
  const procs = new Procs();
  t.after(() => procs.stop());
  procs.start('alertmanager', alertmanager, [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--cluster.listen-address=127.0.0.1:${cluster}`,
  ]);
  const api = `http://127.0.0.1:${port}/api/v2/alerts`;
  await waitFor(async () => (await fetch(api).catch(() => null))?.ok, { what: 'Alertmanager', timeoutMs: 20_000 });
  const alert = (labels) => ({ labels: { job: 'api', ...labels }, annotations: { summary: 's' }, startsAt: new Date().toISOString() });
  const sent = [
    alert({ alertname: 'LoopwatchTargetDown', severity: 'page', instance: 'a' }),
    alert({ alertname: 'LoopwatchAgentErrors', severity: 'ticket', instance: 'a' }),
    alert({ alertname: 'LoopwatchThreadpoolSaturated', severity: 'ticket', instance: 'b' }),
    alert({ alertname: 'LoopwatchStallBudgetBurn', severity: 'page' }),
    alert({ alertname: 'LoopwatchStallBudgetBurn', severity: 'ticket' }),
  ];
  const r = await fetch(api, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sent) });
  assert.equal(r.status, 200);
  const state = (alerts, name, instance) =>
    alerts.find((a) => a.labels.alertname === name && a.labels.severity === 'ticket' && a.labels.instance === instance)?.status.state;
  let alerts = [];
  await waitFor(
    async () => {
      alerts = await (await fetch(api)).json();
      return state(alerts, 'LoopwatchAgentErrors', 'a') === 'suppressed' && state(alerts, 'LoopwatchStallBudgetBurn', undefined) === 'suppressed';
    },
    { what: 'the inhibitions to apply', timeoutMs: 20_000 },
  ).catch((e) => assert.fail(`${e.message}: ${JSON.stringify(alerts.map((a) => [a.labels, a.status.state]))}\n${procs.logs()}`));
  assert.equal(state(alerts, 'LoopwatchThreadpoolSaturated', 'b'), 'active', 'another instance\'s ticket still reaches someone');
});
