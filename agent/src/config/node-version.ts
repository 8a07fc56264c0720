import { MIN_NODE } from './schema';

/**
 * Why the agent does not run on this Node, or undefined where it does. The agent is built and tested for the
 * range package.json's "engines" names; an older Node may well load it and then measure wrong or fail later, silently.
 */
export function unsupportedNode(versions: { readonly node?: string } = process.versions): string | undefined {
  const v = versions.node ?? '';
  const parts = v.split('.').map((n) => Number.parseInt(n, 10));
  let older = false;
  for (let i = 0; i < MIN_NODE.length; i++) {
    const n = parts[i] ?? 0;
    if (Number.isNaN(n)) break;
    if (n !== MIN_NODE[i]) {
      older = n < MIN_NODE[i];
      break;
    }
  }
  if (!older) return undefined;
  return `Node ${v} is not supported (accepted: Node ${MIN_NODE.join('.')} or later); loopwatch stays off, the app keeps running.`;
}
