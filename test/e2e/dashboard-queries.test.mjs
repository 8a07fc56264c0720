// Every dashboard query, run by a real Prometheus against the real demo with
// the agent (after load that causes stalls), returns data. A panel may only
// be empty when the agent's /metrics does not expose one of its metrics
// (e.g. culprits before attribution lands, pools the demo does not use); the
// test lists those so the gap stays visible.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, Procs, freePort, waitFor, which } from '../collector/helpers/tools.mjs';
import { targets, concreteExpr } from '../collector/helpers/dashboards.mjs';
import { extractMetricNames } from '../collector/helpers/metric-names.mjs';

const procs = new Procs();
after(() => procs.stop());

test('every dashboard query returns data from a Prometheus that scraped the demo', { timeout: 120_000 }, async (t) => {
  const prometheus = which('prometheus');
  if (!prometheus) return t.skip('prometheus not installed: apt-get install prometheus');
  if (!existsSync(join(ROOT, 'agent/dist/register.js'))) return t.skip('agent not built: node scripts/run.mjs build');

  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-dashq-'));
  const [demoPort, metricsPort, promPort] = await Promise.all([freePort(), freePort(), freePort()]);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    YAML.stringify({
      global: { scrape_interval: '1s' },
      scrape_configs: [{ job_name: 'loopwatch-demo', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }],
    }),
  );
  procs.start('demo', join(ROOT, 'node_modules/node24/bin/node'), ['--import', 'loopwatch/register', 'demo/server.mjs'], {
    env: { ...process.env, PORT: String(demoPort), LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_STALL_THRESHOLD_MS: '50', LOOPWATCH_THREADPOOL: 'count' },
  });
  procs.start('prometheus', prometheus, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  const prom = `http://127.0.0.1:${promPort}`;
  const demo = `http://127.0.0.1:${demoPort}`;
  const query = async (q) => {
    const r = await (await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`)).json();
    if (r.status !== 'success') throw new Error(`${q}: ${r.error}`);
    return r.data.result;
  };
  const fail = (e) => assert.fail(`${e.message}\n${procs.logs()}`);

  await waitFor(async () => (await fetch(demo + '/')).ok, { timeoutMs: 30_000, what: 'demo' }).catch(fail);
  await waitFor(async () => (await query('up{job="loopwatch-demo"} == 1')).length > 0, { timeoutMs: 30_000, what: 'first scrape' }).catch(fail);

  // Load: every demo endpoint (stalls of several kinds, pools if the demo has
  // them), interleaved with fast requests, for a few scrape intervals.
  const { endpoints } = await (await fetch(demo + '/')).json();
  const paths = endpoints.filter((e) => e.startsWith('GET ')).map((e) => e.slice(4));
  const get = (p) => fetch(demo + p).then((r) => r.arrayBuffer()).catch(() => {});
  const until = Date.now() + 8000;
  while (Date.now() < until) {
    await Promise.all(paths.map((p) => get(p === '/stall/busy' ? '/stall/busy?ms=300' : p)));
  }
  // Prometheus has seen the stalls.
  await waitFor(async () => (await query('loopwatch_eventloop_stall_duration_seconds_count > 0')).length > 0, {
    timeoutMs: 20_000,
    what: 'stalls in Prometheus',
  }).catch(fail);
  await waitFor(async () => (await query('count_over_time(up{job="loopwatch-demo"}[30s]) >= 10')).length > 0, {
    timeoutMs: 20_000,
    what: '10 scrapes',
  }).catch(fail);

  // What the agent actually exposes right now.
  const exposition = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const exposed = new Set(exposition.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));

  const empty = [];
  const failures = [];
  for (const { dashboard, panel, target } of targets()) {
    const expr = concreteExpr(target.expr, { rateInterval: '30s', range: '5m' });
    const result = await query(expr);
    if (result.length > 0) continue;
    const names = extractMetricNames(target.expr);
    const missing = names.filter((n) => !exposed.has(n));
    const line = `${dashboard.uid} #${panel.id} "${panel.title}" ${target.refId}` + (missing.length ? ` (agent does not expose: ${missing.join(', ')})` : '');
    empty.push(line);
    if (missing.length === 0) failures.push(`${line}\n    ${expr}`);
  }
  t.diagnostic(`${targets().length} queries, ${empty.length} empty`);
  for (const line of empty) t.diagnostic(`empty: ${line}`);
  assert.deepEqual(failures, [], 'panels empty although the agent exposes their metrics');
  // Every metric a dashboard uses exists from the agent's start (error counters start at 0), so no panel may be empty.
  assert.deepEqual(empty, [], 'empty panels');
});
