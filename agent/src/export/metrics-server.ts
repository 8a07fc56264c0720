import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Diagnostics } from '../runtime/diag';
import type { MetricsCollector } from './collect';
import { formatExposition, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition';

/**
 * `/livez` `/readyz` (health/probes.ts): the answer for a path, undefined for a path that is not a probe; a promise
 * when the answer waits for the stall's evidence to be sent (bounded there).
 */
type ProbeAnswer = { status: number; body: string };
export type ProbeHandler = (path: string) => ProbeAnswer | Promise<ProbeAnswer> | undefined;

/**
 * The agent's Prometheus endpoint. Plain text by default; OpenMetrics when the
 * scraper asks for it in `Accept` (Prometheus does), which carries exemplars.
 * Formatted directly (export/exposition.ts), without prom-client.
 */
export function startMetricsServer(
  collector: MetricsCollector,
  opts: { port: number; host: string; path: string },
  diag: Diagnostics,
  /** Runs before each scrape is collected (the watchdog's own CPU counter, which it otherwise updates only when it wakes). */
  beforeCollect: () => void = () => {},
  /** The health probes served on the same port (none when undefined). */
  probes?: ProbeHandler,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0];
    if (probes && path !== opts.path && (req.method === 'GET' || req.method === 'HEAD')) {
      let answer: ReturnType<ProbeHandler>;
      try {
        answer = probes(path);
      } catch (err) {
        diag.error('health', 'health probe failed', err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('loopwatch: health probe failed\n');
        return;
      }
      if (answer) {
        const send = (a: ProbeAnswer): void => void res.writeHead(a.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : a.body);
        if (answer instanceof Promise) {
          answer.then(send, (err: unknown) => {
            diag.error('health', 'health probe failed', err);
            res.writeHead(500, { 'content-type': 'text/plain' }).end('loopwatch: health probe failed\n');
          });
        } else send(answer);
        return;
      }
    }
    if (path !== opts.path || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`loopwatch metrics are at ${opts.path}\n`);
      return;
    }
    const openMetrics = /application\/openmetrics-text/.test(req.headers.accept ?? '');
    const contentType = openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
    // A HEAD (health probe) must not collect: collecting closes the windows of the delay and utilization
    // gauges, which would shorten what the next real scrape sees.
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-type': contentType }).end();
      return;
    }
    let body: string;
    try {
      beforeCollect();
      body = formatExposition(collector.collect(), openMetrics);
    } catch (err) {
      diag.error('prometheus', 'scrape failed', err);
      res.writeHead(500, { 'content-type': 'text/plain' }).end('loopwatch: scrape failed\n');
      return;
    }
    res.writeHead(200, { 'content-type': contentType });
    res.end(body);
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      server.on('error', (err) => diag.error('prometheus', 'server error', err));
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
      resolve({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${opts.path}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
