import { BroadcastChannel } from 'node:worker_threads';
import type { SeriesAnnouncement } from '../metrics/store';
import type { StallAttribution } from '../attribution/aggregate';
import type { HeldBackReports, StallEvent } from '../types';

/**
 * Worker threads that run loopwatch talk to the main thread's agent on this channel; the main thread's
 * agent and its watchdog talk over the watchdog's own port, and the main agent relays between the two.
 * Nothing is posted here until a worker thread's agent is heard from: receiving the first
 * BroadcastChannel message loads Node's bundled undici (its MessageEvent), ~14 MB of RSS that an app
 * without monitored worker threads should not pay.
 */
const CHANNEL_NAME = 'loopwatch:v1';

export type ChannelMessage =
  /** A thread announces its shared state (sent at start and again on `hello`). */
  | { type: 'thread'; id: number; name: string; buffer: SharedArrayBuffer }
  /** `exited`: the thread itself ended (it will never announce itself again), not only its agent. */
  | { type: 'thread-gone'; id: number; exited?: boolean }
  | { type: 'series'; add?: SeriesAnnouncement; remove?: string }
  /** Sent by a reader that just started: every thread re-announces itself and its series. */
  | { type: 'hello' }
  /** A worker thread's stall, forwarded so the main thread's agent emits it too. */
  | { type: 'stall'; threadId: number; event: StallEvent }
  /** A worker thread's stall reports held back by the cap that no later report said, for the main thread to say. */
  | { type: 'held-back'; threadId: number; reports: HeldBackReports }
  /** The watchdog's attribution of a stall of `threadId` that began after the beat at `sinceNs`. */
  | { type: 'attribution'; threadId: number; sinceNs: bigint; attribution: StallAttribution | undefined };

/** An unref'd channel: it never keeps a thread alive. */
export function openChannel(onMessage: (msg: ChannelMessage) => void, onError: (err: unknown) => void): BroadcastChannel {
  const channel = new BroadcastChannel(CHANNEL_NAME);
  channel.onmessage = (event) => {
    try {
      onMessage((event as { data: ChannelMessage }).data);
    } catch (err) {
      onError(err);
    }
  };
  channel.unref();
  return channel;
}
