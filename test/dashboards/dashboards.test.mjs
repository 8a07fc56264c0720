// Dashboards: generated JSON is fresh, every query parses (promtool), and
// the grafana/dashboard-linter rules hold (reimplemented; the Go linter is
// not installable here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, requireTool, run } from '../collector/helpers/tools.mjs';
import { loadDashboards, panels, targets, concreteExpr } from '../collector/helpers/dashboards.mjs';
import { CONTRACT, extractMetricNames, countersOutsideRate } from '../collector/helpers/metric-names.mjs';

const dashboards = loadDashboards();
const DS = '${datasource}';

test('the committed JSON matches the TypeScript sources', () => {
  const r = run(process.execPath, ['dashboards/src/build.ts', '--check']);
  assert.equal(r.status, 0, `stale dashboards, run: node dashboards/src/build.ts\n${r.out}`);
});

test('the three dashboards exist with unique uids', () => {
  const uids = dashboards.map((d) => d.json.uid);
  assert.deepEqual([...uids].sort(), ['loopwatch-eventloop', 'loopwatch-pools', 'loopwatch-what-blocked']);
  assert.equal(new Set(uids).size, uids.length);
});

test('every PromQL expression parses (promtool check rules)', (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const all = targets(dashboards);
  const rules = all.map(({ dashboard, panel, target }, i) => ({
    record: `dashboard_query_${i}`,
    expr: concreteExpr(target.expr),
    labels: { source: `${dashboard.uid}/${panel.id}/${target.refId}` },
  }));
  // Variable queries too.
  for (const { json } of dashboards) {
    for (const v of json.templating.list.filter((v) => v.type === 'query')) {
      const m = v.query.match(/^label_values\((.*),\s*\w+\)$/);
      assert.ok(m, `${json.uid} $${v.name}: expected label_values(selector, label)`);
      rules.push({ record: `dashboard_var_${json.uid.replaceAll('-', '_')}_${v.name}`, expr: concreteExpr(m[1]) });
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-dash-'));
  writeFileSync(join(dir, 'rules.yml'), YAML.stringify({ groups: [{ name: 'dashboards', rules }] }));
  const r = run(promtool, ['check', 'rules', join(dir, 'rules.yml')]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

for (const { file, json } of dashboards) {
  test(`${file}: datasource / job / instance variables (template-*-rule)`, () => {
    const vars = json.templating.list;
    const ds = vars.filter((v) => v.type === 'datasource');
    assert.equal(ds.length, 1);
    assert.equal(ds[0].name, 'datasource');
    assert.equal(ds[0].label, 'Data Source');
    assert.equal(ds[0].query, 'prometheus');
    for (const name of ['job', 'instance']) {
      const v = vars.find((x) => x.name === name);
      assert.ok(v, `$${name} missing`);
      assert.equal(v.type, 'query');
      assert.equal(v.label, name);
      assert.equal(v.datasource?.uid, DS);
      assert.match(v.query, /^label_values\(/);
      assert.equal(v.multi, true);
      assert.equal(v.includeAll, true);
      assert.equal(v.allValue, '.+');
      assert.equal(v.refresh, 2, 'refresh on time range change');
    }
    assert.match(vars.find((x) => x.name === 'instance').query, /job=~"\$job"/);
  });

  test(`${file}: panels have unique ids, title, description, unit, ${DS} and targets`, () => {
    const ps = panels(json);
    const ids = ps.map((p) => p.id);
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0), `ids: ${ids}`);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids}`);
    for (const p of ps.filter((p) => p.type !== 'row')) {
      const where = `${json.uid} panel ${p.id} "${p.title}"`;
      assert.ok(p.title, `${where}: title`);
      assert.ok(p.description && p.description.length > 20, `${where}: description`);
      assert.ok(p.fieldConfig?.defaults?.unit, `${where}: unit`);
      assert.equal(p.datasource?.uid, DS, `${where}: panel datasource`);
      assert.ok(p.targets?.length > 0, `${where}: no targets`);
      const refIds = p.targets.map((x) => x.refId);
      assert.ok(refIds.every(Boolean), `${where}: target without refId`);
      assert.equal(new Set(refIds).size, refIds.length, `${where}: duplicate refId`);
    }
  });
}

test('every target: ${datasource}, job and instance matchers, $__rate_interval, counters inside rate', () => {
  for (const { dashboard, panel, target } of targets(dashboards)) {
    const where = `${dashboard.uid} panel ${panel.id} ${target.refId}: ${target.expr}`;
    assert.equal(target.datasource?.uid, DS, where);
    assert.ok(target.expr, where);
    // target-job-rule / target-instance-rule: every selector is filtered.
    const selectors = [...target.expr.matchAll(/([a-zA-Z_:][\w:]*)\{([^}]*)\}/g)];
    assert.ok(selectors.length > 0, `${where}: no label matchers`);
    for (const [, metric, matchers] of selectors) {
      assert.match(matchers, /job=~"\$job"/, `${where}: ${metric} lacks job=~"$job"`);
      assert.match(matchers, /instance=~"\$instance"/, `${where}: ${metric} lacks instance=~"$instance"`);
    }
    // target-rate-interval-rule: rate windows are $__rate_interval; whole-range
    // totals in instant tables may use $__range.
    for (const m of target.expr.matchAll(/\b(rate|irate|increase)\s*\([^[]*\[([^\]]+)\]/g)) {
      const ok = m[2] === '$__rate_interval' || (m[2] === '$__range' && target.instant === true);
      assert.ok(ok, `${where}: ${m[1]} over [${m[2]}]`);
    }
    // target-counter-agg-rule: never chart a raw counter.
    assert.deepEqual(countersOutsideRate(target.expr), [], where);
    // histogram_quantile keeps le.
    for (const m of target.expr.matchAll(/histogram_quantile\([^,]+,\s*sum by \(([^)]*)\)/g)) {
      assert.match(m[1], /\ble\b/, `${where}: histogram_quantile without le`);
    }
  }
});

test('dashboards only query contract metrics', () => {
  const used = new Set();
  for (const { dashboard, panel, target } of targets(dashboards)) {
    for (const name of extractMetricNames(target.expr)) {
      used.add(name);
      assert.ok(CONTRACT.has(name), `${dashboard.uid} panel ${panel.id}: unknown metric ${name}`);
    }
  }
  // The headline signals are charted.
  for (const m of [
    'loopwatch_eventloop_delay_seconds_bucket',
    'loopwatch_eventloop_stall_seconds_total',
    'loopwatch_eventloop_stall_in_progress_seconds',
    'loopwatch_eventloop_stall_duration_seconds_bucket',
    'loopwatch_eventloop_stall_culprit_time_seconds_total',
    'v8js_gc_duration_seconds_bucket',
    'loopwatch_pool_pending',
    'loopwatch_pool_wait_time_seconds_bucket',
  ]) {
    assert.ok(used.has(m), `no panel uses ${m}`);
  }
});

test('stall duration panels request exemplars', () => {
  const stall = targets(dashboards).filter(({ target }) => target.expr.includes('loopwatch_eventloop_stall_duration_seconds_bucket'));
  assert.ok(stall.length >= 2);
  for (const { target } of stall) assert.equal(target.exemplar, true, target.expr);
});

/** docs/metrics.md's table: each Prometheus series name → the labels the agent puts on it (histograms: + `le`). */
function labelsFromDocs() {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const table = doc.slice(doc.indexOf('<!-- metrics:begin'), doc.indexOf('<!-- metrics:end'));
  const out = new Map();
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 6 || !cells[2]?.startsWith('`')) continue;
    const first = cells[2].match(/`([a-z_:][a-z0-9_:]*)`/i)?.[1];
    if (!first) continue;
    const labels = [...cells[5].matchAll(/\(`([a-z_][a-z0-9_]*)`\)/gi)].map((m) => m[1]);
    const histogram = cells[3] === 'histogram';
    const base = first.replace(/_bucket$/, '');
    for (const name of histogram ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : [first]) {
      out.set(name, new Set([...labels, ...(name.endsWith('_bucket') ? ['le'] : [])]));
    }
  }
  return out;
}

test('every label a query groups by, of a query on one metric, is a label that metric has (docs/metrics.md)', () => {
  const labels = labelsFromDocs();
  let checked = 0;
  for (const { dashboard, panel, target } of targets(dashboards)) {
    const metrics = extractMetricNames(target.expr);
    if (metrics.length !== 1) continue;
    const have = labels.get(metrics[0]);
    assert.ok(have, `${dashboard.uid} panel ${panel.id}: ${metrics[0]} not in docs/metrics.md`);
    for (const [, list] of target.expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
      for (const label of list.split(',').map((l) => l.trim()).filter(Boolean)) {
        checked++;
        assert.ok(have.has(label) || label === 'job' || label === 'instance', `${dashboard.uid} panel ${panel.id} "${panel.title}": ${metrics[0]} has no label ${label}`);
      }
    }
  }
  assert.ok(checked > 10, `only ${checked} grouping labels checked`);
});

test('"What blocked" groups stalled time by GraphQL operation (type and name), in a table and over time', () => {
  const { json } = dashboards.find((d) => d.json.uid === 'loopwatch-what-blocked');
  const byOp = panels(json).filter((p) =>
    p.targets?.some((x) => /sum by \(graphql_operation_type, graphql_operation_name\) \((increase|rate)\(loopwatch_eventloop_stall_culprit_time_seconds_total\{/.test(x.expr)),
  );
  assert.deepEqual(byOp.map((p) => p.type).sort(), ['table', 'timeseries']);
  for (const p of byOp) assert.equal(p.targets[0].legendFormat, '{{graphql_operation_type}} {{graphql_operation_name}}', p.title);
});
