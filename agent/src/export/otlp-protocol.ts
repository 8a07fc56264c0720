/**
 * Which OTLP exporter package serves each value of `OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL` (shared by both threads).
 * Only the default protocol's (http/protobuf) are dependencies of the package; the others are optional peer
 * dependencies, installed by the apps that choose them — gRPC alone is ~6 MB of the install (docs/install.md).
 */

export type OtlpSignal = 'METRICS' | 'LOGS';

/** The values of `OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL` loopwatch exports with. */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

export const METRIC_EXPORTERS: Readonly<Record<OtlpProtocol, string>> = {
  'http/protobuf': '@opentelemetry/exporter-metrics-otlp-proto',
  'http/json': '@opentelemetry/exporter-metrics-otlp-http',
  grpc: '@opentelemetry/exporter-metrics-otlp-grpc',
};
export const LOG_EXPORTERS: Readonly<Record<OtlpProtocol, string>> = {
  'http/protobuf': '@opentelemetry/exporter-logs-otlp-proto',
  'http/json': '@opentelemetry/exporter-logs-otlp-http',
  grpc: '@opentelemetry/exporter-logs-otlp-grpc',
};

/** Whether `p` is a protocol loopwatch exports with (both signals have an exporter for each). */
export function isOtlpProtocol(p: string): p is OtlpProtocol {
  return Object.hasOwn(METRIC_EXPORTERS, p);
}

/** The protocol whose exporters the package depends on; the others' are optional peers. */
const BUNDLED_PROTOCOL: OtlpProtocol = 'http/protobuf';

/**
 * Loads an exporter package of the maps above. When an optional peer is not installed, the error says which package
 * the protocol needs and how to get it, in one line (Node's own "Cannot find module" carries the require stack).
 */
export function requireOtlpExporter(module: string, protocol: string, variable = 'OTEL_EXPORTER_OTLP_PROTOCOL'): Record<string, unknown> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(module) as Record<string, unknown>;
  } catch (err) {
    // Only the package itself missing: a missing dependency of an installed exporter is a broken install, said as is.
    const e = err as { code?: unknown; message?: unknown } | null | undefined;
    if (e?.code !== 'MODULE_NOT_FOUND' || !String(e.message).startsWith(`Cannot find module '${module}'`)) throw err;
    throw new Error(
      `${variable}=${protocol} needs the optional package ${module}, which is not installed: \`npm install ${module}\` ` +
        `in the application (loopwatch bundles the ${BUNDLED_PROTOCOL} exporters only)`,
      { cause: err },
    );
  }
}

