// Grafana cannot run here; check the provisioning files up to their format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT } from '../collector/helpers/tools.mjs';

const read = (p) => readFileSync(join(ROOT, p), 'utf8');

test('datasources: Prometheus with exemplar -> Tempo links, Tempo, Loki; literal $ escaped as $$', () => {
  const text = read('dashboards/provisioning/datasources/loopwatch.yaml');
  // Grafana expands $VAR / ${VAR} in provisioning files: a bare ${__value.raw}
  // would be replaced by an (empty) environment variable.
  assert.doesNotMatch(text.replace(/\$\$\{/g, ''), /\$\{/, 'unescaped ${ in provisioning file');
  const { apiVersion, datasources } = YAML.parse(text);
  assert.equal(apiVersion, 1);
  const by = new Map(datasources.map((d) => [d.type, d]));
  const prom = by.get('prometheus');
  assert.equal(prom.isDefault, true);
  const ex = prom.jsonData.exemplarTraceIdDestinations[0];
  assert.equal(ex.name, 'trace_id');
  assert.equal(ex.datasourceUid, by.get('tempo').uid);
  assert.ok(by.get('loki'));
  assert.equal(new Set(datasources.map((d) => d.uid)).size, datasources.length);
});

test('dashboards provider points at the mounted JSON directory', () => {
  const { providers } = YAML.parse(read('dashboards/provisioning/dashboards/loopwatch.yaml'));
  assert.equal(providers[0].type, 'file');
  const compose = YAML.parse(read('docker-compose.yml'));
  const mounts = compose.services.grafana.volumes.map((v) => v.split(':'));
  assert.ok(
    mounts.some(([host, container]) => host === './dashboards/json' && container === providers[0].options.path),
    'grafana must mount dashboards/json at the provider path',
  );
});
