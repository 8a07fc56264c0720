import type * as OtelApi from '@opentelemetry/api';
import { OTEL_SPAN_KEY, otelGlobalRegistry } from './internals';

/**
 * `@opentelemetry/api` costs ~5 MB of RSS and ~17 ms to load, and most of it is
 * useless until something registers a provider. The API keeps what is
 * registered on one global object per major version; reading that object tells
 * whether anything was registered without loading the API (runtime/internals.ts checks its shape once, and turns
 * the OpenTelemetry integration off where it is not the one known).
 */

export type OtelGlobalKind = 'metrics' | 'trace' | 'logs' | 'context';

/** Whether an OpenTelemetry v1 API (any copy) has a global `kind` registered. */
export function otelRegistered(kind: OtelGlobalKind): boolean {
  const registry = otelGlobalRegistry();
  return registry !== undefined && registry[kind] !== undefined;
}

let api: typeof OtelApi | null | undefined;

/** The API, loaded on first use; null if it cannot be loaded (reported once through `onError`). */
export function loadOtelApi(onError: (err: unknown) => void): typeof OtelApi | null {
  if (api === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      api = require('@opentelemetry/api') as typeof OtelApi;
    } catch (err) {
      api = null;
      onError(err);
    }
  }
  return api;
}

/** What `trace.getActiveSpan()` returns, typed as far as it is read. */
export interface ActiveSpanLike {
  spanContext(): { traceId: string; spanId: string };
}

/**
 * The active span, read from the globally registered context manager the way `trace.getActiveSpan()` does, without
 * loading the API: no per-request check for a tracer, and safe inside a V8 interrupt (nothing is required there).
 * Undefined when no context manager is registered (the API's no-op one has no active span either).
 */
export function activeSpanFromGlobal(): ActiveSpanLike | undefined {
  const registry = otelGlobalRegistry();
  const manager = registry?.context as { active?(): { getValue?(key: symbol): unknown } | undefined } | undefined;
  if (!manager || typeof manager.active !== 'function') return undefined;
  const span = manager.active()?.getValue?.(OTEL_SPAN_KEY) as Partial<ActiveSpanLike> | undefined;
  return span && typeof span.spanContext === 'function' ? (span as ActiveSpanLike) : undefined;
}
