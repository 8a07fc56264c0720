/**
 * Where a thread's agent sends its messages and hears others'. Main thread: to the watchdog, and to worker threads'
 * agents once one was heard from (until then nobody listens on the channel). Worker thread: to the channel, where
 * the main thread's agent hears them and relays to the watchdog what it needs.
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { openChannel, type ChannelMessage } from '../channel/messages';
import type { Diagnostics } from '../runtime/diag';
import type { Watchdog } from '../watchdog/spawn';

export class Relay {
  private readonly channel: ReturnType<typeof openChannel>;
  private peersHeard = false;
  private closed = false;
  /** Main thread: set once the watchdog is spawned. */
  watchdog: Watchdog | undefined;

  /** `deliver` gets what this thread's agent must act on, from peers and from the watchdog. */
  constructor(
    private readonly deliver: (msg: ChannelMessage) => void,
    diag: Diagnostics,
  ) {
    this.channel = openChannel(
      (msg) => this.fromPeer(msg),
      (err) => diag.error('threads', 'bad channel message', err),
    );
  }

  post(msg: ChannelMessage): void {
    if (!isMainThread) return this.channel.postMessage(msg);
    this.watchdog?.post(msg);
    if (this.peersHeard) this.channel.postMessage(msg);
  }

  /** Main thread: hear from worker threads that started before us (only they listen on the channel). */
  greetPeers(): void {
    this.channel.postMessage({ type: 'hello' });
  }

  /** A message from the watchdog (main thread only). */
  fromWatchdog(msg: ChannelMessage): void {
    // In flight while stop() closed the channel: nothing left to relay it to.
    if (this.closed) return;
    if (msg.type === 'attribution' && msg.threadId !== threadId) {
      // A worker thread's stall: only that thread can merge it.
      if (this.peersHeard) this.channel.postMessage(msg);
      return;
    }
    // A (re)started watchdog asks who is there: the worker threads announce themselves to it again too.
    if (msg.type === 'hello' && this.peersHeard) this.channel.postMessage(msg);
    this.deliver(msg);
  }

  close(): void {
    this.closed = true;
    this.channel.close();
  }

  /** A message from a worker thread's agent. */
  private fromPeer(msg: ChannelMessage): void {
    if (isMainThread) {
      this.peersHeard = true;
      if (msg.type === 'thread' || msg.type === 'thread-gone' || msg.type === 'series') this.watchdog?.post(msg);
    }
    this.deliver(msg);
  }
}

/**
 * A `worker_threads` diagnostics-channel subscriber that calls `onExit` with the id of each worker thread this
 * thread creates when it ends: seen here even when the worker cannot say it (worker.terminate() runs no 'exit'
 * handler in the worker), so its series do not linger as a thread blocked for good.
 */
export function workerExits(onExit: (id: number) => void): (msg: unknown) => void {
  return (msg) => {
    const worker = (msg as { worker?: { threadId?: unknown; once?: (event: string, listener: () => void) => unknown } } | null)?.worker;
    if (!worker || typeof worker.threadId !== 'number' || typeof worker.once !== 'function') return;
    const id = worker.threadId;
    worker.once('exit', () => onExit(id));
  };
}

/**
 * Main thread at exit: a process exiting right after a block (a CLI's process.exit()) may find the watchdog's
 * inspector session still connected, and Node would print "Waiting for the debugger to disconnect..." and wait for
 * it; the stall-in-progress push says its last word.
 */
export function releaseWatchdogAtExit(watchdog: Watchdog | undefined, diag: Diagnostics): void {
  try {
    watchdog?.disconnectSessions(200);
  } catch (err) {
    diag.error('watchdog', 'could not disconnect the inspector sessions at exit', err);
  }
  try {
    watchdog?.closePush(500);
  } catch (err) {
    diag.error('otel', 'could not close the stall-in-progress push at exit', err);
  }
}
