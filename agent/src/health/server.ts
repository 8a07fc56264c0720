import { createServer, type ServerResponse } from 'node:http';
import type { ProbeAnswer } from './probes';

/** A probe's answer on the wire (export/metrics-server.ts sends it the same way on the metrics port). */
function sendProbeAnswer(res: ServerResponse, a: ProbeAnswer, head: boolean): void {
  res.writeHead(a.status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(head ? undefined : a.body);
}

/**
 * The separate probe port (`health.port`, `LOOPWATCH_HEALTH_PORT`): `/livez` and `/readyz` only, served by the
 * watchdog like `/metrics`, for clusters that keep probes off the metrics port. Never keeps the process alive
 * (it lives in the watchdog, which is unref'd).
 */
export function startHealthServer(
  port: number,
  host: string,
  answer: (path: string) => ProbeAnswer | Promise<ProbeAnswer> | undefined,
  onError: (message: string, err: unknown) => void,
): Promise<string> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    let a: ProbeAnswer | Promise<ProbeAnswer> | undefined;
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
    const head = req.method === 'HEAD';
    if (a instanceof Promise) {
      a.then(
        (x) => sendProbeAnswer(res, x, head),
        (err: unknown) => {
          onError('health probe failed', err);
          res.writeHead(500, { 'content-type': 'text/plain' }).end('loopwatch: health probe failed\n');
        },
      );
    } else sendProbeAnswer(res, a, head);
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
