// Prometheus config and rules: promtool validation, promtool unit tests,
// and the project's own conventions (severity, annotations, runbooks, names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, requireTool, run } from './helpers/tools.mjs';
import { CONTRACT, PROMETHEUS_SYNTHETIC, extractMetricNames, countersOutsideRate } from './helpers/metric-names.mjs';

const RULES = 'collector/prometheus/rules.yml';
const RULES_TEST = 'collector/prometheus/rules.test.yml';
const PROM_CONFIG = 'collector/prometheus/prometheus.yml';
const load = (p) => YAML.parse(readFileSync(join(ROOT, p), 'utf8'));
const allRules = () => load(RULES).groups.flatMap((g) => g.rules);

test('promtool check config accepts prometheus.yml (and the rules it loads)', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const r = run(promtool, ['check', 'config', PROM_CONFIG]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS: 1 rule files found/);
});

test('promtool check rules accepts rules.yml', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const r = run(promtool, ['check', 'rules', RULES]);
  assert.equal(r.status, 0, r.out);
});

test('promtool test rules: every alert fires and stays quiet where it should', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const r = run(promtool, ['test', 'rules', RULES_TEST]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('the unit tests cover every alert both firing and not firing', () => {
  const alerts = new Set(allRules().filter((r) => r.alert).map((r) => r.alert));
  const cases = load(RULES_TEST).tests.flatMap((g) => g.alert_rule_test ?? []);
  for (const name of alerts) {
    const mine = cases.filter((c) => c.alertname === name);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${name}: no firing case in ${RULES_TEST}`);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${name}: no not-firing case in ${RULES_TEST}`);
  }
  // Every severity variant of a multi-rule alert is exercised too.
  for (const rule of allRules().filter((r) => r.alert)) {
    const fired = cases
      .filter((c) => c.alertname === rule.alert)
      .flatMap((c) => c.exp_alerts ?? [])
      .some((a) => Object.entries(rule.labels).every(([k, v]) => a.exp_labels?.[k] === v));
    assert.ok(fired, `${rule.alert} ${JSON.stringify(rule.labels)}: never expected to fire`);
  }
});

test('alerts carry severity page|ticket, summary, description and a runbook that exists', () => {
  const alerts = allRules().filter((r) => r.alert);
  assert.ok(alerts.length >= 8, 'expected the full alert set');
  for (const a of alerts) {
    assert.match(a.labels?.severity ?? '', /^(page|ticket)$/, `${a.alert}: severity`);
    assert.ok(a.annotations?.summary, `${a.alert}: summary`);
    assert.ok(a.annotations?.description, `${a.alert}: description`);
    const url = a.annotations?.runbook_url ?? '';
    assert.ok(url.endsWith(`/docs/runbooks/${a.alert}.md`), `${a.alert}: runbook_url ${url}`);
    assert.ok(existsSync(join(ROOT, `docs/runbooks/${a.alert}.md`)), `docs/runbooks/${a.alert}.md missing`);
  }
});

test('the required alerts exist, and the in-progress alert pages within seconds', () => {
  const byName = new Map(allRules().filter((r) => r.alert).map((r) => [r.alert, r]));
  for (const name of [
    'LoopwatchStallInProgress',
    'LoopwatchStallBudgetBurn',
    'LoopwatchHighEventLoopDelay',
    'LoopwatchEventLoopSaturated',
    'LoopwatchThreadpoolSaturated',
    'LoopwatchPoolExhausted',
    'LoopwatchTargetDown',
  ]) {
    assert.ok(byName.has(name), `missing alert ${name}`);
  }
  const sip = byName.get('LoopwatchStallInProgress');
  assert.match(sip.expr, /loopwatch_eventloop_stall_in_progress_seconds/);
  assert.equal(sip.labels.severity, 'page');
  assert.ok(parseInt(sip.for, 10) <= 30 && /s$/.test(sip.for), `for: ${sip.for} is too slow to fire during a stall`);
  const burns = allRules().filter((r) => r.alert === 'LoopwatchStallBudgetBurn');
  assert.deepEqual(burns.map((r) => `${r.labels.window}:${r.labels.severity}`).sort(), ['1h:page', '3d:ticket', '6h:page']);
});

test('recording rules are named level:metric:operation and aggregate by job', () => {
  for (const r of allRules().filter((r) => r.record)) {
    assert.match(r.record, /^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/, r.record);
    const level = r.record.split(':')[0];
    assert.match(r.expr, /by \(job\b/, `${r.record} must aggregate by job first`);
    if (level === 'job') assert.doesNotMatch(r.expr, /by \([^)]*instance/, `${r.record}: job level keeps no instance`);
  }
});

test('rules only query contract metrics or recording rules defined here; counters only inside rate', () => {
  const rules = allRules();
  const recorded = new Set(rules.filter((r) => r.record).map((r) => r.record));
  for (const r of rules) {
    for (const name of extractMetricNames(r.expr)) {
      assert.ok(
        CONTRACT.has(name) || PROMETHEUS_SYNTHETIC.has(name) || recorded.has(name),
        `${r.alert ?? r.record}: queries unknown metric ${name}`,
      );
    }
    assert.deepEqual(countersOutsideRate(r.expr), [], `${r.alert ?? r.record}: raw counter`);
  }
});

test('prometheus.yml scrapes the demo agent and the collector (honor_labels) and sends to Alertmanager', () => {
  const cfg = load(PROM_CONFIG);
  const jobs = new Map(cfg.scrape_configs.map((j) => [j.job_name, j]));
  assert.deepEqual(jobs.get('loopwatch-demo')?.static_configs?.[0]?.targets, ['demo:9464']);
  const otel = [...jobs.values()].find((j) => j.static_configs?.[0]?.targets?.some((x) => x.startsWith('otelcol:')));
  assert.ok(otel, 'no scrape job for the collector');
  assert.equal(otel.honor_labels, true, 'collector job needs honor_labels');
  assert.ok(cfg.rule_files.includes('rules.yml'));
  assert.deepEqual(cfg.alerting.alertmanagers[0].static_configs[0].targets, ['alertmanager:9093']);
});

test('self-check: the helpers catch bad expressions', () => {
  assert.deepEqual(
    extractMetricNames('sum by (job, le) (rate(foo_bucket{a="b:c"}[5m])) / on (job) bar offset 5m > 0.5 and baz'),
    ['foo_bucket', 'bar', 'baz'],
  );
  assert.deepEqual(countersOutsideRate('sum(x_total) + rate(y_total[5m])'), ['x_total']);
  assert.deepEqual(countersOutsideRate('sum(increase(x_total{a="b"}[1h]))'), []);
});
