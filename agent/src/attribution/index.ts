/**
 * Stall attribution: what was running during a stall (stack, culprit), for which request (route, trace/span ids),
 * the async resource type, and how many other requests it delayed.
 *
 * Integration (agent core):
 *  1. On every monitored thread at agent start: `const h = startThreadAttribution()`; `h.stop()` on agent stop.
 *  2. In the watchdog worker: `const wa = new WatchdogAttribution({ mainThreadId }); wa.start()`;
 *     `wa.onStallStart(threadId)` when a heartbeat's age crosses the threshold;
 *     `const attribution = await wa.onStallEnd(threadId, durationMs)` when it resumes; post it to the stalled thread.
 *  3. On the stalled thread, before emitting: `event = mergeAttribution(event, attribution)` (source-maps there).
 *  Per-culprit caps for events/logs: `CulpritLimiter#take(groupKey(event))`; metric labels: `LabelBudget`.
 */
export { startThreadAttribution, EVAL_EXPRESSION, GETTER_KEY, resourceTypeFromStack } from './thread';
export type { AttributionSample, StallContext, ThreadAttributionHandle, ThreadAttributionOptions } from './thread';
export { WatchdogAttribution } from './stack-sampler';
export type { WatchdogAttributionOptions, InspectorSessionLike } from './stack-sampler';
export { aggregateSamples, mergeAttribution, mergeDeep } from './aggregate';
export { startDeepAttribution, ORIGIN_FRAMES, MAX_CHAIN } from './deep';
export type { DeepAttribution, LongCallback } from './deep';
export { addStallSpanEvents, STALL_SPAN_EVENT, MAX_STALL_SPANS } from './spans';
export type { SpanLike, StallSpans } from './spans';
export type { StallAttribution, StallAttributionFields } from './aggregate';
export { culpritOf, formatFrame, isAppFrame, sourceMapFrames, captureFrames } from './frames';
export { normalisePath, routeOf, expressRoute } from './route';
