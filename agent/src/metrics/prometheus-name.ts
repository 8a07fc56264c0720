import type { InstrumentKind } from './names';

/**
 * The OpenTelemetry Collector's Prometheus exporter translation
 * (otlptranslator, `UnderscoreEscapingWithSuffixes`), restricted to what
 * loopwatch's own names need: invalid characters become `_`, a UCUM unit word
 * is appended unless already present, `{annotation}` units add nothing, unit
 * `1` on a gauge adds `ratio`, and monotonic counters end in `_total`.
 */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  '%': 'percent',
};

export function prometheusName(otelName: string, unit: string, kind: InstrumentKind): string {
  let name = otelName.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/__+/g, '_');
  const tokens = name.split('_');
  const unitWord = unit === '1' ? (kind === 'gauge' ? 'ratio' : '') : unitToWord(unit);
  if (unitWord && !tokens.includes(unitWord)) name += `_${unitWord}`;
  if (kind === 'counter' && !name.endsWith('_total')) name += '_total';
  return name;
}

/** Prometheus label name for an OpenTelemetry attribute key. */
export function prometheusLabel(attribute: string): string {
  return attribute.replace(/[^a-zA-Z0-9_]/g, '_');
}

function unitToWord(unit: string): string {
  const stripped = unit.replace(/\{[^}]*\}/g, '');
  if (!stripped) return '';
  const parts = stripped.split('/');
  const num = parts[0];
  const first = num ? (UNIT_WORDS[num] ?? num) : '';
  if (parts.length === 1) return first;
  const per = parts[1];
  const second = UNIT_WORDS[per] ?? per;
  return first ? `${first}_per_${second}` : `per_${second}`;
}
