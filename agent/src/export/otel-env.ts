/**
 * The standard `OTEL_*` variables loopwatch's OpenTelemetry export acts on, read and validated once at start.
 *
 * One mistake, one line: a bad value is reported once, naming the variable, the value, what is accepted and what
 * loopwatch does instead — not once per signal. The settings below are what the export then uses; the exporter
 * packages read the variables too, but loopwatch passes them the validated values (endpoint, timeout) or leaves
 * out a signal whose endpoint is unusable, so what the line says is what happens.
 */
import type { OtlpProtocol, OtlpSignal } from './otlp-protocol';
import { isOtlpProtocol, METRIC_EXPORTERS } from './otlp-protocol';

export interface SignalSettings {
  /** Whether `OTEL_<signal>_EXPORTER` selects OTLP and the endpoint is usable. */
  enabled: boolean;
  protocol: OtlpProtocol;
  /** The endpoint given (validated), full URL for the signal; undefined: the exporter's default. */
  url: string | undefined;
  /** Export request timeout, ms (the exporter's retries stay within it). */
  timeoutMs: number;
}

export interface OtelEnvSettings {
  metrics: SignalSettings;
  logs: SignalSettings;
  /** OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT, ms. */
  intervalMs: number;
  exportTimeoutMs: number;
}

const PROTOCOLS = Object.keys(METRIC_EXPORTERS);
const EXPORTERS = ['otlp', 'prometheus', 'console', 'none'];
const DEFAULT_PROTOCOL: OtlpProtocol = 'http/protobuf';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;

type Env = Readonly<Record<string, string | undefined>>;

/** Reads the variables; `warn` gets one line per bad variable. */
export function readOtelEnv(env: Env, warn: (line: string) => void): OtelEnvSettings {
  const bad = (name: string, accepted: string, instead: string) => warn(`${name}=${JSON.stringify(env[name])} is not valid (accepted: ${accepted}); ${instead}`);
  /** The variable's value, or undefined when it is unset or blank. */
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v !== undefined && v.trim() !== '' ? v : undefined;
  };
  const set = (name: string) => value(name) !== undefined;

  const positive = (name: string, fallback: number, what: string): number | undefined => {
    if (!set(name)) return undefined;
    const n = Number(env[name]);
    if (Number.isFinite(n) && n > 0) return n;
    bad(name, 'a number of milliseconds above 0', `using ${what}`);
    return fallback;
  };
  const intervalMs = positive('OTEL_METRIC_EXPORT_INTERVAL', DEFAULT_INTERVAL_MS, `${DEFAULT_INTERVAL_MS}`) ?? DEFAULT_INTERVAL_MS;
  const exportTimeoutMs = positive('OTEL_METRIC_EXPORT_TIMEOUT', DEFAULT_EXPORT_TIMEOUT_MS, `${DEFAULT_EXPORT_TIMEOUT_MS}`) ?? DEFAULT_EXPORT_TIMEOUT_MS;

  // The variables shared by both signals are checked once here; each signal then only checks its own.
  const generic = {
    protocol: checkProtocol('OTEL_EXPORTER_OTLP_PROTOCOL', DEFAULT_PROTOCOL),
    endpoint: checkUrl('OTEL_EXPORTER_OTLP_ENDPOINT', genericEndpointUsers()),
    timeoutMs: positive('OTEL_EXPORTER_OTLP_TIMEOUT', DEFAULT_TIMEOUT_MS, `${DEFAULT_TIMEOUT_MS}`),
  };
  checkCompression('OTEL_EXPORTER_OTLP_COMPRESSION', 'none');
  checkHeaders('OTEL_EXPORTER_OTLP_HEADERS');
  // The resource detector drops the whole variable on any bad entry (the spec's rule), silently.
  const resourceAttributes = value('OTEL_RESOURCE_ATTRIBUTES');
  if (resourceAttributes !== undefined && !resourceAttributesValid(resourceAttributes)) {
    bad('OTEL_RESOURCE_ATTRIBUTES', 'a comma-separated list of key=value, with "," and "=" in them percent-encoded', 'ignoring all of it');
  }

  /** What a bad OTEL_EXPORTER_OTLP_ENDPOINT costs: the signals without an endpoint of their own. */
  function genericEndpointUsers(): string {
    const users = ['metrics', 'logs'].filter((s) => !set(`OTEL_EXPORTER_OTLP_${s.toUpperCase()}_ENDPOINT`));
    return users.length ? `not exporting ${users.join(' and ')} over OTLP` : 'ignoring it (both signals have an endpoint of their own)';
  }
  function checkProtocol(name: string, fallback: string): string | undefined {
    const p = value(name)?.trim();
    if (p === undefined) return undefined;
    if (PROTOCOLS.includes(p)) return p;
    bad(name, PROTOCOLS.join(', '), `using ${fallback}`);
    return fallback;
  }
  /** undefined: not set; false: set and unusable. */
  function checkUrl(name: string, instead: string): string | false | undefined {
    const raw = value(name)?.trim();
    if (raw === undefined) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '') return raw;
    bad(name, 'an http:// or https:// URL', instead);
    return false;
  }
  function checkCompression(name: string, fallback: string): void {
    const v = value(name)?.trim();
    if (v !== undefined && !['none', 'gzip'].includes(v)) bad(name, 'none, gzip', `using ${fallback}`);
  }
  function checkHeaders(name: string): void {
    const v = value(name);
    if (v === undefined) return;
    const malformed = v.split(',').some((e) => e.trim() !== '' && !/^\s*[^=\s]+\s*=\s*\S/.test(e));
    if (malformed) bad(name, 'a comma-separated list of key=value', 'sending only its key=value entries');
  }

  const signal = (s: OtlpSignal): SignalSettings => {
    const lower = s.toLowerCase();
    const exporters = `OTEL_${s}_EXPORTER`;
    let selected = true;
    const chosen = value(exporters);
    if (chosen !== undefined) {
      const list = chosen.split(',').map((e) => e.trim().toLowerCase());
      selected = list.includes('otlp');
      if (list.some((e) => !EXPORTERS.includes(e))) {
        bad(exporters, `a comma-separated list of ${EXPORTERS.join(', ')}`, selected ? 'ignoring the others' : `loopwatch does not export ${lower} over OTLP`);
      }
    }
    const specific = `OTEL_EXPORTER_OTLP_${s}_`;
    const protocol = checkProtocol(`${specific}PROTOCOL`, generic.protocol ?? DEFAULT_PROTOCOL) ?? generic.protocol ?? DEFAULT_PROTOCOL;
    const own = checkUrl(`${specific}ENDPOINT`, `not exporting ${lower} over OTLP`);
    const timeoutMs = positive(`${specific}TIMEOUT`, generic.timeoutMs ?? DEFAULT_TIMEOUT_MS, `${generic.timeoutMs ?? DEFAULT_TIMEOUT_MS}`) ?? generic.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    checkCompression(`${specific}COMPRESSION`, set('OTEL_EXPORTER_OTLP_COMPRESSION') ? 'OTEL_EXPORTER_OTLP_COMPRESSION' : 'none');
    checkHeaders(`${specific}HEADERS`);
    let url: string | undefined;
    let usable = true;
    if (own !== undefined) {
      // The signal's own endpoint wins, used as given (the spec's rule).
      usable = own !== false;
      url = own || undefined;
    } else if (generic.endpoint !== undefined) {
      usable = generic.endpoint !== false;
      // The generic one gets the signal's path, except for gRPC, which takes it as is.
      if (generic.endpoint) url = protocol === 'grpc' ? generic.endpoint : `${generic.endpoint.replace(/\/+$/, '')}/v1/${lower}`;
    }
    return { enabled: selected && usable, protocol: isOtlpProtocol(protocol) ? protocol : DEFAULT_PROTOCOL, url, timeoutMs };
  };
  return { metrics: signal('METRICS'), logs: signal('LOGS'), intervalMs, exportTimeoutMs };
}

function resourceAttributesValid(raw: string): boolean {
  for (const entry of raw.split(',')) {
    if (entry.trim() === '') continue;
    const kv = entry.split('=');
    if (kv.length !== 2 || kv[0].trim() === '') return false;
    try {
      decodeURIComponent(kv[0].trim());
      decodeURIComponent(kv[1].trim());
    } catch {
      // Not percent-decodable: the detector would throw on it and drop the variable.
      return false;
    }
  }
  return true;
}
