/**
 * The seam between route adapters (this directory) and route.ts: an adapter reads one framework's own routing
 * result for a request and returns its template, or undefined when that framework did not route the request.
 *
 * Adapters run at stall time, inside the blocked code (a V8 interrupt): they read data properties only — never a
 * getter, which may throw or warn (Express 4's `app.router` throws by design) — allocate little, and never
 * re-match the path against the app's routes.
 */

/** The request as the agent holds it: node:http's IncomingMessage, possibly extended by a framework. */
export type RawRequest = object;

export interface RouteAdapter {
  /** Framework name, as reported in the failed-read diagnostic. */
  readonly name: string;
  /**
   * The route template of `req` in this framework's notation, or undefined when this framework did not route it
   * (or has not yet). May throw on a malformed object: route.ts counts the failure and tries the next adapter.
   */
  template(req: RawRequest): string | undefined;
}

/**
 * Frameworks whose routing result is not reachable from the raw request (Koa, hapi) are linked once when their
 * module is loaded: a linker wraps one framework function so that the raw request points at the framework's own
 * request object (one symbol-keyed store per request, no closure).
 */
export interface ModuleLinker {
  readonly name: string;
  /** Called for every CommonJS module loaded (`require(id)` from `parent`, returning `exports`); links when it is the one. */
  onRequire(id: string, parent: string | undefined, exports: unknown): void;
  /** Path suffixes (`/koa/lib/application.js`) of the module, to link one loaded before the agent started. */
  readonly files: readonly string[];
  /** Links an already-loaded module found by file. */
  onLoaded(exports: unknown): void;
}
