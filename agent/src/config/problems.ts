/**
 * The one format of every configuration message, and the readers that turn an option or a variable into a value.
 * Following the OpenTelemetry convention, an invalid value falls back to that option's default (the rest of the
 * configuration keeps working) and yields exactly one line:
 *
 *   LOOPWATCH_LOG="sterr" is not valid (accepted: stderr, off); using the default "off".
 *   stallThresholdMs=-5 is not valid (accepted: a number from 1 to 600000 (ms)); using the default 100.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export interface Problem {
  /** The option (`prometheus.port`) or variable (`LOOPWATCH_PROMETHEUS_PORT`) at fault. */
  readonly source: string;
  /** `source=value is not valid (accepted: …)`: what strict mode's ConfigError lists. */
  readonly text: string;
  /** The text and what the agent does instead: the line printed when not strict. */
  readonly line: string;
}

export class Problems {
  readonly list: Problem[] = [];

  add(source: string, value: unknown, accepted: string, instead: string): void {
    const text = `${source}=${show(value)} is not valid (accepted: ${accepted})`;
    this.list.push({ source, text, line: `${text}; ${instead}.` });
  }
}

/** How a value is shown in a message: strings quoted (a variable's value always is), the rest by kind. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return '(a function)';
  if (v === null) return 'null';
  if (typeof v === 'object') return Array.isArray(v) ? '(an array)' : '(an object)';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects and functions returned above; what is left is a primitive
  return String(v);
}

/** `using the default 100`, or `using 10` for a default worked out from other options. */
export const usingDefault = (v: unknown): string => `using the default ${show(v)}`;
export const using = (v: unknown): string => `using ${show(v)}`;

/**
 * One option that a variable fills when code leaves it unset. `code` and `env` turn a given value into the option's
 * value, or undefined when it is not one of the `accepted` ones.
 */
export interface Spec<T> {
  option: string;
  envName?: string;
  code: (v: unknown) => T | undefined;
  codeAccepted: string;
  env?: (s: string) => T | undefined;
  envAccepted?: string;
}

export interface Picked<T> {
  value: T;
  /** Given (validly) in code or by a variable: a default derived from it must not replace it. */
  given: boolean;
}

/** The option in code if given, else its variable if set (an empty variable is unset), else `fallback`. */
export function pick<T>(p: Problems, spec: Spec<T>, value: unknown, env: Env, fallback: T, instead = usingDefault(fallback)): Picked<T> {
  if (value !== undefined) {
    const v = spec.code(value);
    if (v !== undefined) return { value: v, given: true };
    p.add(spec.option, value, spec.codeAccepted, instead);
    return { value: fallback, given: false };
  }
  const raw = spec.envName === undefined ? undefined : env[spec.envName];
  if (raw === undefined || raw === '' || !spec.env || !spec.envName) return { value: fallback, given: false };
  const v = spec.env(raw);
  if (v !== undefined) return { value: v, given: true };
  p.add(spec.envName, raw, spec.envAccepted ?? spec.codeAccepted, instead);
  return { value: fallback, given: false };
}

const TRUE = /^\s*(1|true|yes|on)\s*$/i;
const FALSE = /^\s*(0|false|no|off)\s*$/i;

/** true/false for on/off words (any case), undefined for anything else. */
export function envBool(s: string): boolean | undefined {
  if (TRUE.test(s)) return true;
  if (FALSE.test(s)) return false;
  return undefined;
}

export function boolSpec(option: string, envName?: string): Spec<boolean> {
  return {
    option,
    envName,
    code: (v) => (typeof v === 'boolean' ? v : undefined),
    codeAccepted: 'true, false',
    env: envBool,
    envAccepted: 'on, off',
  };
}

/** One of some words: exact in code, any case in a variable (LOOPWATCH_LOG=STDERR). */
export function wordSpec<T extends string>(option: string, envName: string | undefined, words: readonly T[]): Spec<T> {
  return {
    option,
    envName,
    code: (v) => (words.includes(v as T) ? (v as T) : undefined),
    codeAccepted: words.map((w) => JSON.stringify(w)).join(', '),
    env: (s) => {
      const w = s.trim().toLowerCase();
      return words.includes(w as T) ? (w as T) : undefined;
    },
    envAccepted: words.join(', '),
  };
}

/** A number from min to max; in a variable, a plain decimal (Number() would read " " as 0 and "0x10" as 16). */
export function numberSpec(option: string, envName: string | undefined, min: number, max: number, unit = ' (ms)', integer = false): Spec<number> {
  const ok = (n: number) => Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n));
  const accepted = `${integer ? 'an integer' : 'a number'} from ${min} to ${max}${unit}`;
  return {
    option,
    envName,
    code: (v) => (typeof v === 'number' && ok(v) ? v : undefined),
    codeAccepted: accepted,
    env: (s) => {
      if (!/^\s*\d+(\.\d+)?\s*$/.test(s)) return undefined;
      const n = Number(s);
      return ok(n) ? n : undefined;
    },
    envAccepted: accepted,
  };
}

export function nonEmptyString(option: string): Spec<string> {
  return { option, code: (v) => (typeof v === 'string' && v !== '' ? v : undefined), codeAccepted: 'a non-empty string' };
}

/** Reports the keys of an options object that are not options; they are ignored. */
export function unknownKeys(p: Problems, o: object, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) {
      p.add(`${prefix}${key}`, (o as Record<string, unknown>)[key], `the options ${known.map((k) => prefix + k).join(', ')}`, 'ignoring it');
    }
  }
}
