import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { startMetricsServer } = require('../../../agent/dist/export/metrics-server.js');

const request = (url, method, headers = {}) =>
  new Promise((resolve, reject) => {
    http
      .request(url, { method, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
      })
      .on('error', reject)
      .end();
  });

test('metrics endpoint: GET collects and negotiates the format; HEAD answers without collecting; other paths 404', async (t) => {
  let collections = 0;
  const collector = { collect: () => (collections++, []) };
  const errors = [];
  const { url, close } = await startMetricsServer(collector, { port: 0, host: '127.0.0.1', path: '/metrics' }, { error: (...a) => errors.push(a) });
  t.after(close);

  const text = await request(url, 'GET');
  assert.equal(text.status, 200);
  assert.equal(text.type, 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(text.body, /^# HELP /);
  assert.equal(collections, 1);

  const om = await request(url, 'GET', { accept: 'application/openmetrics-text; version=1.0.0' });
  assert.equal(om.type, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.ok(om.body.endsWith('# EOF\n'));
  assert.equal(collections, 2);

  // Collecting closes the delay/utilization windows: a health probe must not shorten the next scrape's.
  const head = await request(url, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(collections, 2, 'HEAD did not collect');

  assert.equal((await request(url.replace('/metrics', '/other'), 'GET')).status, 404);
  assert.deepEqual(errors, []);
});
