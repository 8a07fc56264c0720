// docker-compose.yml: valid for Compose (docker-compose config -q works
// without an engine), every mounted host path exists, images are pinned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, requireTool, run } from '../collector/helpers/tools.mjs';

const compose = YAML.parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));

test('docker-compose config -q accepts the file', (t) => {
  const dc = requireTool(t, 'docker-compose');
  if (!dc) return;
  const r = run(dc, ['-f', 'docker-compose.yml', 'config', '-q']);
  assert.equal(r.status, 0, r.out);
});

test('every bind-mounted host path exists', () => {
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const v of svc.volumes ?? []) {
      const host = (typeof v === 'string' ? v.split(':')[0] : v.source) ?? '';
      if (!host.startsWith('.') && !host.startsWith('/')) continue; // named volume
      assert.ok(existsSync(join(ROOT, host)), `${name}: ${host} does not exist`);
    }
  }
});

test('all images are pinned to a version', () => {
  for (const [name, svc] of Object.entries(compose.services)) {
    assert.ok(svc.image, `${name}: image`);
    const tag = svc.image.split(':').pop();
    assert.ok(svc.image.includes(':') && /\d+\.\d+/.test(tag) && tag !== 'latest', `${name}: unpinned ${svc.image}`);
  }
});

test('the stack has every piece, wired as documented', () => {
  const s = compose.services;
  for (const name of ['demo', 'otelcol', 'prometheus', 'alertmanager', 'grafana', 'loki', 'tempo']) assert.ok(s[name], name);
  assert.deepEqual(s.demo.command, ['node', '--import', 'loopwatch/register', 'demo/server.mjs']);
  assert.match(s.demo.image, /^node:24/);
  assert.equal(s.demo.environment.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otelcol:4318');
  assert.equal(s.demo.environment.LOOPWATCH_LOG, 'stderr');
  assert.ok(s.demo.ports.includes('3000:3000') && s.demo.ports.includes('9464:9464'));
  assert.ok(s.prometheus.command.includes('--enable-feature=exemplar-storage'));
  assert.ok(s.prometheus.command.includes('--web.enable-remote-write-receiver'));
  // prometheus.yml loads rules.yml relative to itself: both must be mounted side by side.
  const promMounts = s.prometheus.volumes.map((v) => v.split(':').slice(0, 2));
  assert.deepEqual(
    promMounts.find(([h]) => h.endsWith('rules.yml')),
    ['./collector/prometheus/rules.yml', '/etc/prometheus/rules.yml'],
  );
  // The Alertmanager key file lands where alertmanager.yml reads it.
  const am = YAML.parse(readFileSync(join(ROOT, 'collector/alertmanager/alertmanager.yml'), 'utf8'));
  const keyPath = am.receivers.find((r) => r.name === 'pagerduty').pagerduty_configs[0].routing_key_file;
  assert.ok(s.alertmanager.volumes.some((v) => v.split(':')[1] === keyPath), `no mount at ${keyPath}`);
});
