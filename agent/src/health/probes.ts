import type { HealthSnapshot } from './snapshot';

const LIVEZ = '/livez';
const READYZ = '/readyz';

export interface ProbeAnswer {
  status: 200 | 503;
  body: string;
}

/**
 * The watchdog's answer to `/livez` or `/readyz` (undefined for any other path). `onLiveness` sees each `/livez`
 * snapshot before it is answered: a 503 is the moment before a kill, so the stall in progress is put on record first.
 */
export function answerProbe(path: string, evaluate: () => HealthSnapshot, onLiveness: (snap: HealthSnapshot) => void): ProbeAnswer | undefined {
  if (path !== LIVEZ && path !== READYZ) return undefined;
  const snap = evaluate();
  const ok = path === LIVEZ ? snap.live : snap.ready;
  if (path === LIVEZ) onLiveness(snap);
  // Only the snapshot's own fields: names and numbers, nothing from any request.
  return { status: ok ? 200 : 503, body: `${JSON.stringify(snap)}\n` };
}

/**
 * Writes the stall in progress once per stall when liveness fails (a stderr line a post-mortem finds even with
 * `log: 'off'`); `write` is the watchdog's diagnostic logger.
 */
export function livenessEvidence(write: (line: string) => void): (snap: HealthSnapshot) => void {
  let said = false;
  return (snap) => {
    if (snap.live) {
      said = false;
      return;
    }
    if (said) return;
    said = true;
    write(
      `thread "${snap.thread ?? '?'}" has been blocked for ${(snap.blockedForMs / 1000).toFixed(1)} s, over the liveness timeout: ` +
        '/livez answers 503 (a liveness probe will restart the process)',
    );
  };
}
