import { createServer } from 'node:http';
import type { ProbeAnswer } from './probes';

/**
 * The separate probe port (`health.port`, `LOOPWATCH_HEALTH_PORT`): `/livez` and `/readyz` only, served by the
 * watchdog like `/metrics`, for clusters that keep probes off the metrics port. Never keeps the process alive
 * (it lives in the watchdog, which is unref'd).
 */
export function startHealthServer(
  port: number,
  host: string,
  answer: (path: string) => ProbeAnswer | undefined,
  onError: (message: string, err: unknown) => void,
): Promise<string> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    let a: ProbeAnswer | undefined;
    try {
      a = req.method === 'GET' || req.method === 'HEAD' ? answer(path) : undefined;
    } catch (err) {
      onError('health probe failed', err);
      res.writeHead(500, { 'content-type': 'text/plain' }).end('loopwatch: health probe failed\n');
      return;
    }
    if (!a) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('loopwatch health probes are at /livez and /readyz\n');
      return;
    }
    res.writeHead(a.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : a.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => onError('health server error', err));
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve(`http://${h.includes(':') ? `[${h}]` : h}:${bound}`);
    });
  });
}
