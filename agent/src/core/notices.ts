/** One-time notices of the agent: said once, naming what to change. */
import type { ResolvedPrometheus } from '../config/config';
import type { Diagnostics } from '../runtime/diag';

/** Set on the thread's global once the "routes are not tracked" warning was printed. */
const UNTRACKED_WARNED = Symbol.for('loopwatch.requestContext.warned');

/** The first request left untracked (not at start: an OpenTelemetry SDK started later may track requests after all). */
export function warnUntrackedRequests(diag: Diagnostics): void {
  // Once per thread, however often the agent is stopped and started.
  const g = globalThis as Record<symbol, unknown>;
  if (g[UNTRACKED_WARNED]) return;
  g[UNTRACKED_WARNED] = true;
  const cheaper =
    Number(process.versions.node.split('.')[0]) >= 24
      ? 'Run without --no-async-context-frame'
      : 'Run Node 22 with --experimental-async-context-frame (or Node 24)';
  diag.warn(
    `stalls will name their code but not their HTTP route (until an OpenTelemetry context manager is registered): ` +
      `on Node ${process.versions.node} with this setup, tracking requests would run an async_hooks callback for every ` +
      `promise (+33 % CPU on a promise-heavy handler). ${cheaper} to get routes for one AsyncLocalStorage frame per connection, or set ` +
      'LOOPWATCH_REQUEST_CONTEXT=on (requestContext: true) to pay for it; LOOPWATCH_REQUEST_CONTEXT=off silences this.',
  );
}

/** Errors of listen() that mean the host cannot be listened on (a name that does not resolve, an address not ours). */
const HOST_ERRORS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** The metrics endpoint could not listen: say why, naming the option or variable at fault (port or host). */
export function listenFailure(p: ResolvedPrometheus, code: string, message: string): string {
  const off = 'the loopwatch metrics endpoint is off (the app and the rest of loopwatch keep running)';
  const where = `${p.host}:${p.port}`;
  const hostSource = p.hostFrom === 'LOOPWATCH_PROMETHEUS_HOST' ? 'LOOPWATCH_PROMETHEUS_HOST' : 'prometheus.host';
  const portSource = p.portFrom === 'LOOPWATCH_PROMETHEUS_PORT' ? 'LOOPWATCH_PROMETHEUS_PORT' : 'prometheus.port';
  if (code === 'EADDRINUSE') return `port ${where} is already in use; ${off}. Set ${portSource} to a free port, or "off".`;
  if (code === 'EACCES') return `no permission to listen on port ${where}: ${message}; ${off}. Set ${portSource} to a port from 1024 up, or "off".`;
  if (HOST_ERRORS.has(code)) {
    return `could not listen on host "${p.host}" (${hostSource}): ${message}; ${off}. Set ${hostSource} to an address of this machine, such as 127.0.0.1 or 0.0.0.0.`;
  }
  return `could not listen on ${where} (${hostSource}, ${portSource}): ${message}; ${off}.`;
}
