/**
 * GraphQL operations on stalls: plugins for the user's GraphQL server (`loopwatchYoga()` for graphql-yoga and any
 * envelop-based server, `loopwatchApollo()` for Apollo Server) that read the operation from the server's own parse
 * and validate result — never from the request body — and attach it to the HTTP request the attribution context
 * names, so the stall sampler inside a blocked resolver sees it. The route stays the HTTP route (`POST /graphql`).
 *
 * Types are structural: no GraphQL framework is imported. A batched HTTP request (several operations in one body)
 * carries the operation that started executing last.
 */
import type { GraphqlOperation } from '../types';

/** Where the operation is kept on the HTTP request (node's IncomingMessage) it runs for. */
export const kGraphqlOperation = Symbol('loopwatch.graphqlOperation');

/** Longer operation names are cut (a name is the client's choice: its length is not the agent's to pay for). */
const MAX_NAME = 100;
const TYPES = new Set(['query', 'mutation', 'subscription']);

/** The attribution context's current request (thread.ts provides it at start; undefined before and after). */
let currentRequest: (() => object | string | null | undefined) | undefined;
const ignoreError = (): void => {};
let reportError: (what: string, err: unknown) => void = ignoreError;

/** Called by the thread's attribution at start (and with `undefined` at stop, which lets go of the agent's `onError` too). */
export function provideCurrentRequest(fn: (() => object | string | null | undefined) | undefined, onError?: (what: string, err: unknown) => void): void {
  currentRequest = fn;
  reportError = onError ?? ignoreError;
}

interface OperationNode {
  kind?: unknown;
  operation?: unknown;
  name?: { value?: unknown } | null;
}
interface DocumentNode {
  definitions?: readonly (OperationNode | null | undefined)[];
}

/** The operation of `document` that `operationName` selects (the only one when no name is given), as graphql-js does. */
export function operationOf(document: unknown, operationName?: unknown): GraphqlOperation | undefined {
  const defs = (document as DocumentNode | null | undefined)?.definitions;
  if (!Array.isArray(defs)) return undefined;
  let chosen: OperationNode | undefined;
  for (const d of defs as (OperationNode | null | undefined)[]) {
    if (!d || d.kind !== 'OperationDefinition') continue;
    if (typeof operationName === 'string' && operationName !== '') {
      if (d.name?.value === operationName) return fromNode(d);
    } else {
      // Several operations and no name: graphql-js refuses to execute it; nothing to name.
      if (chosen) return undefined;
      chosen = d;
    }
  }
  return chosen ? fromNode(chosen) : undefined;
}

export function fromNode(node: OperationNode | null | undefined): GraphqlOperation | undefined {
  const type = node?.operation;
  if (typeof type !== 'string' || !TYPES.has(type)) return undefined;
  const op: GraphqlOperation = { type: type as GraphqlOperation['type'] };
  const name = node?.name?.value;
  if (typeof name === 'string' && name !== '') op.name = name.length > MAX_NAME ? name.slice(0, MAX_NAME) : name;
  return op;
}

/**
 * Attaches `op` to the node request the server passed (`serverReq`: exact), else to the one the attribution context
 * names (not where it cannot tell which request: then the operation is not attached, never to a guess).
 */
function attach(op: GraphqlOperation | undefined, serverReq?: unknown): void {
  if (!op) return;
  try {
    let req: object | undefined;
    if (serverReq && typeof serverReq === 'object' && typeof (serverReq as { method?: unknown }).method === 'string') req = serverReq;
    else {
      const current = currentRequest?.();
      if (current !== null && typeof current === 'object') req = current;
    }
    if (req) (req as { [kGraphqlOperation]?: GraphqlOperation })[kGraphqlOperation] = op;
  } catch (err) {
    reportError('attaching a GraphQL operation to its request', err);
  }
}

/** The operation attached to `req`, if any. Reads only (safe inside a V8 interrupt). */
export function graphqlOperationOf(req: object): GraphqlOperation | undefined {
  return (req as { [kGraphqlOperation]?: GraphqlOperation })[kGraphqlOperation];
}

/** The envelop plugin hook's argument (graphql-yoga, envelop): the validated execution arguments. */
interface EnvelopExecuteArgs {
  args?: { document?: unknown; operationName?: unknown; contextValue?: { req?: unknown } | null } | null;
}

/** A plugin for graphql-yoga (`plugins: [loopwatchYoga()]`) and any envelop-based server: stalls name their operation. */
export function loopwatchYoga(): { onExecute(payload: EnvelopExecuteArgs | null | undefined): void } {
  return {
    onExecute(payload) {
      try {
        const a = payload?.args;
        attach(operationOf(a?.document, a?.operationName), a?.contextValue?.req);
      } catch (err) {
        reportError('reading a GraphQL operation (envelop)', err);
      }
    },
  };
}

/** What Apollo Server passes to `didResolveOperation`: the operation it parsed and validated. */
interface ApolloResolvedContext {
  operation?: OperationNode | null;
}

/** A plugin for Apollo Server 4/5 (`plugins: [loopwatchApollo()]`): stalls name their operation. */
export function loopwatchApollo(): {
  requestDidStart(): Promise<{ didResolveOperation(rc: ApolloResolvedContext | null | undefined): Promise<void> }>;
} {
  const listener = {
    didResolveOperation(rc: ApolloResolvedContext | null | undefined): Promise<void> {
      try {
        attach(fromNode(rc?.operation));
      } catch (err) {
        reportError('reading a GraphQL operation (Apollo)', err);
      }
      return Promise.resolve();
    },
  };
  // Apollo awaits its hooks: one listener for every request (it keeps no state).
  const started = Promise.resolve(listener);
  return {
    requestDidStart() {
      return started;
    },
  };
}
