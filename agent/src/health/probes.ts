import type { HealthSnapshot } from './snapshot';

const LIVEZ = '/livez';
const READYZ = '/readyz';

export interface ProbeAnswer {
  status: 200 | 503;
  body: string;
}

/**
 * How long the first failing `/livez` of a stall waits for its OTLP log record to be sent: the probe's answer must
 * come within 50 ms during a stall (a kubelet's `timeoutSeconds` is no margin to spend on a hanging collector).
 */
export const EVIDENCE_DEADLINE_MS = 40;

/**
 * The watchdog's answer to `/livez` or `/readyz` (undefined for any other path). `onLiveness` sees each `/livez`
 * snapshot before it is answered: a 503 is the moment before a kill, so the stall in progress is put on record first;
 * when that takes a send, the answer waits for it (a promise, bounded by the evidence's own deadline).
 */
export function answerProbe(
  path: string,
  evaluate: () => HealthSnapshot,
  onLiveness: (snap: HealthSnapshot) => Promise<void> | undefined,
): ProbeAnswer | Promise<ProbeAnswer> | undefined {
  if (path !== LIVEZ && path !== READYZ) return undefined;
  const snap = evaluate();
  const ok = path === LIVEZ ? snap.live : snap.ready;
  // Only the snapshot's own fields: names and numbers, nothing from any request.
  const answer: ProbeAnswer = { status: ok ? 200 : 503, body: `${JSON.stringify(snap)}\n` };
  if (path !== LIVEZ) return answer;
  const evidence = onLiveness(snap);
  return evidence ? evidence.then(() => answer) : answer;
}

export interface LivenessEvidence {
  /** One stderr line (the watchdog's diagnostic logger: written synchronously, even with `log: 'off'`). */
  write(line: string): void;
  /**
   * Sends the stall in progress where it is exported (the watchdog's OTLP log record, live-report.ts): resolves
   * once sent (never rejects); undefined when nothing is exported, `'not-ready'` when the exporter is not loaded
   * yet (loading it would hold this probe's answer for hundreds of ms: it is sent after the answer instead).
   */
  send(snap: HealthSnapshot): Promise<void> | 'not-ready' | undefined;
  /** The record was not sent by the time of the 503 (said and counted as an agent error). */
  late(message: string): void;
  deadlineMs?: number;
}

/**
 * Puts the stall in progress on record once per stall when liveness first fails, before that 503 is answered: the
 * stderr line a post-mortem finds in the pod's logs, then the OTLP log record, waited for at most `deadlineMs`
 * (past it the 503 goes out all the same, and that is said).
 */
export function livenessEvidence(e: LivenessEvidence): (snap: HealthSnapshot) => Promise<void> | undefined {
  const deadlineMs = e.deadlineMs ?? EVIDENCE_DEADLINE_MS;
  let said = false;
  return (snap) => {
    if (snap.live) {
      said = false;
      return undefined;
    }
    if (said) return undefined;
    said = true;
    e.write(
      `thread "${snap.thread ?? '?'}" has been blocked for ${(snap.blockedForMs / 1000).toFixed(1)} s, over the liveness timeout: ` +
        '/livez answers 503 (a liveness probe will restart the process)',
    );
    const sent = e.send(snap);
    if (sent === undefined) return undefined;
    if (sent === 'not-ready') {
      e.late('the in-progress OTLP log record is sent after the first 503 of /livez: its exporter loads at the first live report (liveReportAfterMs), which is later than livenessTimeoutMs');
      return undefined;
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        e.late(`the in-progress OTLP log record was not sent within ${deadlineMs} ms; /livez answers 503 without waiting longer`);
        resolve();
      }, deadlineMs);
      void sent.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
}
