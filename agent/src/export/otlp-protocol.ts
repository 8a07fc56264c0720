/** Which OTLP exporter package serves each value of `OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL` (shared by both threads). */

export type OtlpSignal = 'METRICS' | 'LOGS';

export const METRIC_EXPORTERS: Readonly<Record<string, string>> = {
  'http/protobuf': '@opentelemetry/exporter-metrics-otlp-proto',
  'http/json': '@opentelemetry/exporter-metrics-otlp-http',
  grpc: '@opentelemetry/exporter-metrics-otlp-grpc',
};
export const LOG_EXPORTERS: Readonly<Record<string, string>> = {
  'http/protobuf': '@opentelemetry/exporter-logs-otlp-proto',
  'http/json': '@opentelemetry/exporter-logs-otlp-http',
  grpc: '@opentelemetry/exporter-logs-otlp-grpc',
};

/** The protocol a signal is exported with (`http/protobuf` by default, as the spec says) and the variable that set it. */
export function otlpProtocol(signal: OtlpSignal, env: NodeJS.ProcessEnv = process.env): { protocol: string; variable: string } {
  const specific = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  const variable = env[specific] ? specific : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  return { protocol: env[variable] || 'http/protobuf', variable };
}

/** Whether `OTEL_<signal>_EXPORTER` (a list; unset means the default, otlp) selects OTLP. */
export function otlpSelected(signal: OtlpSignal, env: NodeJS.ProcessEnv = process.env): boolean {
  const selected = env[`OTEL_${signal}_EXPORTER`];
  return !selected || selected.split(',').some((e) => e.trim().toLowerCase() === 'otlp');
}
