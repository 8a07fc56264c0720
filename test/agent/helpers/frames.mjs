// Shared by the request-context tests (scope 'connection' and scope 'request'): counting the frames entered, and
// real node:http(s) servers on a free port, closed with their keep-alive connections.
import { AsyncLocalStorage } from 'node:async_hooks';

/** Counts AsyncLocalStorage#enterWith calls (every frame entered, by anyone) while `fn` runs. */
export async function countingFrames(fn) {
  const original = AsyncLocalStorage.prototype.enterWith;
  let n = 0;
  AsyncLocalStorage.prototype.enterWith = function (store) {
    n++;
    return original.call(this, store);
  };
  try {
    await fn();
  } finally {
    AsyncLocalStorage.prototype.enterWith = original;
  }
  return n;
}

export async function listen(server) {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

export async function close(server) {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}
