import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { OpenMetricsContentType, Registry as RegistryType } from 'prom-client';

/**
 * prom-client's Registry alone: the package entry also loads every metric type, the cluster aggregator and the
 * default collectors, which cost the watchdog thread ~14 MB of RSS; the Registry module costs ~0.4 MB.
 */
function loadRegistry(): typeof RegistryType {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('prom-client/lib/registry') as { Registry?: typeof RegistryType } & typeof RegistryType).Registry ?? require('prom-client/lib/registry');
  } catch {
    // A prom-client whose layout differs: the full package works too, at its memory cost.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('prom-client') as { Registry: typeof RegistryType }).Registry;
  }
}
const Registry = loadRegistry();
// prom-client's typings omit the constructor's content-type argument.
const OpenMetricsRegistry = Registry as unknown as new (contentType: OpenMetricsContentType) => RegistryType<OpenMetricsContentType>;
import type { Diagnostics } from '../diag';
import type { MetricsCollector } from '../metrics/collect';
import { promMetrics } from '../export/prometheus';

/**
 * The agent's Prometheus endpoint. Plain text by default; OpenMetrics when the
 * scraper asks for it in `Accept` (Prometheus does), which carries exemplars.
 */
export function startMetricsServer(
  collector: MetricsCollector,
  opts: { port: number; host: string; path: string },
  diag: Diagnostics,
): Promise<string> {
  const text = new Registry();
  const openMetrics = new OpenMetricsRegistry(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const m of promMetrics(collector, text.contentType)) text.registerMetric(m as never);
  for (const m of promMetrics(collector, openMetrics.contentType)) openMetrics.registerMetric(m as never);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0];
    if (path !== opts.path || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`loopwatch metrics are at ${opts.path}\n`);
      return;
    }
    const registry = /application\/openmetrics-text/.test(req.headers.accept ?? '') ? openMetrics : text;
    registry
      .metrics()
      .then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      })
      .catch((err: unknown) => {
        diag.error('prometheus', 'scrape failed', err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('loopwatch: scrape failed\n');
      });
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
      resolve(`http://${host.includes(':') ? `[${host}]` : host}:${port}${opts.path}`);
    });
  });
}
