// End to end: demo app with the agent -> real Prometheus (our rules) ->
// real Alertmanager (our routing) -> a local fake PagerDuty. A stall is
// induced; the page must arrive WHILE the stall is still going, with the
// right Events v2 fields, and a resolve event must follow once it ends.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ROOT, Procs, alertmanagerBin, freePort, waitFor, which } from '../collector/helpers/tools.mjs';

const STALL_MS = 30_000;
const procs = new Procs();
const servers = [];
after(async () => {
  await procs.stop();
  for (const s of servers) s.close();
});

/** Collects POSTed JSON bodies (fake PagerDuty / webhook). */
async function receiver() {
  const events = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        events.push({ path: req.url, at: Date.now(), body: JSON.parse(body) });
      } catch {
        events.push({ path: req.url, at: Date.now(), body });
      }
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"status":"success","message":"Event processed"}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
  return { events, url: `http://127.0.0.1:${srv.address().port}` };
}

test('a stall pages PagerDuty (Events v2) while it is happening, then resolves', { timeout: 150_000 }, async (t) => {
  const prometheus = which('prometheus');
  const alertmanager = alertmanagerBin();
  if (!prometheus) return t.skip('prometheus not installed: apt-get install prometheus');
  if (!alertmanager) return t.skip('alertmanager not installed: apt-get install prometheus-alertmanager');
  if (!existsSync(join(ROOT, 'agent/dist/register.js'))) return t.skip('agent not built: node scripts/run.mjs build');

  const dir = mkdtempSync(join(tmpdir(), 'loopwatch-e2e-'));
  const [demoPort, metricsPort, promPort, amPort, amClusterPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const pd = await receiver();
  const hook = await receiver();

  // Alertmanager: the repo's config with only the endpoints, key path and
  // timings changed for a test.
  const routingKey = 'e2e0routing0key0000000000000001';
  writeFileSync(join(dir, 'pd_key'), routingKey + '\n');
  const am = YAML.parse(readFileSync(join(ROOT, 'collector/alertmanager/alertmanager.yml'), 'utf8'));
  Object.assign(am.route, { group_wait: '1s', group_interval: '1s', repeat_interval: '1h' });
  const pdCfg = am.receivers.find((r) => r.name === 'pagerduty').pagerduty_configs[0];
  pdCfg.routing_key_file = join(dir, 'pd_key');
  pdCfg.url = `${pd.url}/v2/enqueue`;
  am.receivers.find((r) => r.name === 'webhook').webhook_configs[0].url = `${hook.url}/hook`;
  writeFileSync(join(dir, 'alertmanager.yml'), YAML.stringify(am));

  // Prometheus: the repo's rules file, scraping the demo's agent every second.
  copyFileSync(join(ROOT, 'collector/prometheus/rules.yml'), join(dir, 'rules.yml'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    YAML.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['rules.yml'],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [{ job_name: 'loopwatch-demo', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }],
    }),
  );

  const demo = procs.start('demo', join(ROOT, 'node_modules/node24/bin/node'), ['--import', 'loopwatch/register', 'demo/server.mjs'], {
    env: { ...process.env, PORT: String(demoPort), LOOPWATCH_PROMETHEUS_PORT: String(metricsPort), LOOPWATCH_STALL_THRESHOLD_MS: '100' },
  });
  procs.start('alertmanager', alertmanager, [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'am-data')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    `--cluster.listen-address=127.0.0.1:${amClusterPort}`,
    `--web.external-url=http://127.0.0.1:${amPort}`,
  ]);
  procs.start('prometheus', prometheus, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'prom-data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    `--web.external-url=http://127.0.0.1:${promPort}`,
  ]);
  const prom = `http://127.0.0.1:${promPort}`;
  const ctx = () => `\n${procs.logs()}`;

  // Ready: Prometheus has scraped the agent's watchdog gauge.
  await waitFor(
    async () => {
      const r = await (await fetch(`${prom}/api/v1/query?query=loopwatch_eventloop_stall_in_progress_seconds`)).json();
      return r.data?.result?.length > 0;
    },
    { timeoutMs: 30_000, what: 'Prometheus to scrape the demo agent' },
  ).catch((e) => assert.fail(e.message + ctx()));
  assert.equal(pd.events.length, 0, 'no page before the stall');

  // Induce the stall (the request itself blocks until the stall ends).
  const stallStart = Date.now();
  const stalled = fetch(`http://127.0.0.1:${demoPort}/stall/busy?ms=${STALL_MS}`).then((r) => r.json());
  const trigger = await waitFor(() => pd.events.find((e) => e.body.event_action === 'trigger'), {
    timeoutMs: STALL_MS,
    intervalMs: 100,
    what: 'the PagerDuty trigger during the stall',
  }).catch((e) => assert.fail(e.message + ctx()));
  const stallEnd = stallStart + STALL_MS;
  assert.ok(trigger.at < stallEnd, `page arrived ${trigger.at - stallEnd}ms after the stall ended`);
  t.diagnostic(`page ${((trigger.at - stallStart) / 1000).toFixed(1)}s into a ${STALL_MS / 1000}s stall`);

  // Still up during the stall: it is a stall, not a crash.
  const up = await (await fetch(`${prom}/api/v1/query?query=up`)).json();
  assert.equal(up.data.result[0]?.value?.[1], '1', 'target must stay up during the stall');

  const ev = trigger.body;
  assert.equal(trigger.path, '/v2/enqueue');
  assert.equal(ev.routing_key, routingKey, 'routing key read from the key file');
  assert.equal(ev.event_action, 'trigger');
  assert.match(ev.dedup_key, /^[0-9a-f]{64}$/);
  assert.equal(ev.payload.severity, 'critical');
  assert.match(ev.payload.summary, /^\[FIRING:1\] LoopwatchStallInProgress: loopwatch-demo .*main thread blocked for .* right now/);
  assert.deepEqual(ev.links, [
    { href: 'https://github.com/loopwatch/loopwatch/blob/main/docs/runbooks/LoopwatchStallInProgress.md', text: 'runbook' },
  ]);
  assert.equal(ev.payload.class, 'LoopwatchStallInProgress');
  assert.equal(ev.payload.component, 'loopwatch-demo');
  assert.equal(ev.client, 'Alertmanager');

  // The stall ends; the incident resolves with the same dedup key.
  assert.deepEqual(await stalled, { blockedMs: STALL_MS });
  const resolve = await waitFor(() => pd.events.find((e) => e.body.event_action === 'resolve'), {
    timeoutMs: 30_000,
    what: 'the PagerDuty resolve event',
  }).catch((e) => assert.fail(e.message + ctx()));
  assert.ok(resolve.at >= stallEnd - 1000, 'resolved only after the stall ended');
  assert.equal(resolve.body.dedup_key, ev.dedup_key);
  assert.equal(resolve.body.routing_key, routingKey);
  assert.match(resolve.body.payload.summary, /^\[RESOLVED\] LoopwatchStallInProgress/);

  // The webhook saw the page too (route continue), firing and resolved.
  const statuses = hook.events.filter((e) => e.body.commonLabels?.alertname === 'LoopwatchStallInProgress').map((e) => e.body.status);
  assert.ok(statuses.includes('firing') && statuses.includes('resolved'), `webhook statuses: ${statuses}`);
  assert.equal(demo.exitCode, null, 'demo still running');
});
