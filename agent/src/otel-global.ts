import type * as OtelApi from '@opentelemetry/api';

/**
 * `@opentelemetry/api` costs ~5 MB of RSS and ~17 ms to load, and most of it is
 * useless until something registers a provider. The API keeps what is
 * registered on one global object per major version; reading that object tells
 * whether anything was registered without loading the API.
 */
const GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');

export type OtelGlobalKind = 'metrics' | 'trace' | 'logs' | 'context';

/** Whether an OpenTelemetry v1 API (any copy) has a global `kind` registered. */
export function otelRegistered(kind: OtelGlobalKind): boolean {
  const registry = (globalThis as Record<symbol, Record<string, unknown> | undefined>)[GLOBAL_KEY];
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
