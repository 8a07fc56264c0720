import { isMainThread, threadId } from 'node:worker_threads';
import * as workerThreads from 'node:worker_threads';

export function defaultThreadName(): string {
  if (isMainThread) return 'main';
  const name = (workerThreads as { threadName?: string }).threadName;
  // Node 24 names every unnamed worker 'WorkerThread' (Node 22: ''): all of them would share one set of series.
  return name && name !== '' && name !== 'WorkerThread' ? name : `worker-${threadId}`;
}
