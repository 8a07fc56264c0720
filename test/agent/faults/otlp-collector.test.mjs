// Whatever the OTLP collector does, the app keeps answering, exits when it is done, and hears of the fault in one
// line at most: a collector that accepts and never answers, one answering 500, one answering 429 with Retry-After,
// one resetting every connection, and an endpoint that is not in DNS. Real servers, a real app in a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/child.mjs';

const APP = fileURLToPath(new URL('./fixtures/otlp-fault-app.cjs', import.meta.url));

/** Collectors: each resolves to { endpoint, hits() (connections or requests seen), close() }. */
const COLLECTORS = {
  async hanging() {
    const sockets = new Set();
    const server = createTcpServer((s) => { sockets.add(s); s.on('error', () => {}); s.resume(); });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return { endpoint: `http://127.0.0.1:${server.address().port}`, hits: () => sockets.size, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
  },
  error500: () => httpCollector((res) => res.writeHead(500).end('collector on fire')),
  throttled429: () => httpCollector((res) => res.writeHead(429, { 'retry-after': '1' }).end()),
  async resetting() {
    let n = 0;
    const server = createTcpServer((s) => { n++; s.on('error', () => {}); s.resetAndDestroy(); });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return { endpoint: `http://127.0.0.1:${server.address().port}`, hits: () => n, close: () => server.close() };
  },
  async dnsFailure() {
    return { endpoint: 'http://no-such-host.invalid:4318', hits: () => 1, close() {} };
  },
};

async function httpCollector(answer) {
  let n = 0;
  const server = createHttpServer((req, res) => { n++; req.resume(); req.on('end', () => answer(res)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `http://127.0.0.1:${server.address().port}`, hits: () => n, close: () => { server.closeAllConnections(); server.close(); } };
}

/** Exits within this long of the app closing its server (an idle process exits at once; margin for a loaded CI). */
const EXIT_DEADLINE_MS = 3000;

async function getText(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } });
  return r.text();
}

const CASES = [
  ...Object.keys(COLLECTORS).flatMap((fault) => [{ fault }, { fault, stop: true }]),
  // The watchdog's push of the stall in progress (export/otlp-push.ts) meets the fault too.
  { fault: 'hanging', blockMs: 1600 },
  { fault: 'resetting', blockMs: 1600 },
];
for (const { fault, stop = false, blockMs = 0 } of CASES) {
  const make = COLLECTORS[fault];
  {
    test(`collector ${fault}${stop ? ', agent.stop() first' : ''}${blockMs ? `, a ${blockMs} ms stall pushed by the watchdog` : ''}: the app answers, exits once done, one line at most`, async (t) => {
      const collector = await make();
      t.after(() => collector.close());
      const app = runChild(APP, {
        env: {
          // Node 22's one-time "routes are not tracked" notice is not this test's business.
          LOOPWATCH_REQUEST_CONTEXT: 'off',
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '300', FAULT_STOP: stop ? '1' : '0', FAULT_BLOCK_MS: String(blockMs) },
      });
      t.after(() => app.kill());
      const { port } = await app.message('listening');
      // Several exports (one per 300 ms interval) have met the fault before the app is done.
      await app.waitFor(() => collector.hits() >= 1, { what: 'an export reaching the collector' });
      await new Promise((r) => setTimeout(r, 900));
      for (let i = 0; i < 5; i++) assert.equal(await getText(port, '/'), 'ok');
      assert.equal(await getText(port, '/close'), 'closing');
      const closing = await app.message('closing');
      const exited = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r(undefined), EXIT_DEADLINE_MS + 5000))]);
      const handles = app.messages.find((m) => m.type === 'handles');
      assert.ok(exited, `still running ${EXIT_DEADLINE_MS + 5000} ms after closing; open: ${JSON.stringify(handles?.resources)}`);
      assert.equal(exited.code, 0);
      const exit = app.messages.find((m) => m.type === 'exit');
      assert.ok(exit.at - closing.at < EXIT_DEADLINE_MS, `exited ${exit.at - closing.at} ms after closing; open after 1 s: ${JSON.stringify(handles?.resources)}`);
      if (stop) assert.ok(app.messages.find((m) => m.type === 'stopped').ms < 2500, 'agent.stop() is bounded');
      const lines = app.stderr.split('\n').filter(Boolean);
      t.diagnostic(`exited ${exit.at - closing.at} ms after closing; stderr: ${JSON.stringify(lines)}`);
      // A collector that answers (with an error) or cannot be reached is said, once; one that never answers is only
      // said once an export times out (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s) — or when agent.stop() gives up on it.
      if (fault === 'hanging' && !stop) assert.ok(lines.length <= 1, `one line at most, got:\n${app.stderr}`);
      else assert.equal(lines.length, 1, `one line, got:\n${app.stderr}`);
      for (const l of lines) assert.match(l, /^\[loopwatch\] otel: (OTLP export to \S+ failed: |the last OTLP export did not finish)/);
    });
  }
}
