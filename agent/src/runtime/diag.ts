import { writeSync } from 'node:fs';

export const PREFIX = '[loopwatch]';

/**
 * The agent's own logger. Errors never reach the application: they are
 * written to stderr with a prefix (each distinct message at most once a
 * minute) and counted in the `loopwatch.agent.errors` self-metric.
 */
export class Diagnostics {
  private readonly lastLogged = new Map<string, number>();
  private counter: ((component: string) => void) | undefined;

  constructor(
    private readonly write: (line: string) => void = writeStderr,
    private readonly now: () => number = Date.now,
    /** LOOPWATCH_DEBUG=1: an error's stack follows its message (read here too, as the watchdog thread has no config). */
    public debug: boolean = /^\s*(1|true|yes|on)\s*$/i.test(process.env.LOOPWATCH_DEBUG ?? ''),
  ) {}

  /** Wires the self-metric once the metric store exists. */
  countErrorsWith(counter: (component: string) => void): void {
    this.counter = counter;
  }

  error(component: string, message: string, err?: unknown): void {
    try {
      this.counter?.(component);
    } catch (countErr) {
      this.write(`${PREFIX} could not count an internal error: ${describe(countErr)}`);
    }
    const key = `${component}:${message}`;
    const t = this.now();
    const last = this.lastLogged.get(key);
    if (last !== undefined && t - last < 60_000) return;
    if (this.lastLogged.size > 1000) this.lastLogged.clear();
    this.lastLogged.set(key, t);
    this.write(`${PREFIX} ${component}: ${message}${err === undefined ? '' : `: ${describe(err)}`}`);
    // The message always; where it came from only when asked for, as a stack is long and rarely needed.
    if (this.debug && err instanceof Error && err.stack) this.write(`${PREFIX} ${component}: (debug) ${err.stack}`);
  }

  warn(message: string): void {
    this.write(`${PREFIX} ${message}`);
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ? `${err.message} (${(err as NodeJS.ErrnoException).code})` : err.message;
  return String(err);
}

/** Synchronous, so a message is out even if the thread is about to block or exit. */
export function writeStderr(line: string): void {
  try {
    writeSync(2, `${line}\n`);
  } catch {
    // stderr closed or full (EAGAIN on a pipe): there is nowhere left to report to.
  }
}
