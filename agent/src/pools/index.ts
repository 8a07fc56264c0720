/** Pool saturation: the libuv threadpool, database pools and worker pools in one schema. */
export { monitorPool, detectPool } from './monitor';
export { startThreadpoolMonitor, threadpoolSize, MAX_THREADPOOL_SIZE } from './threadpool';
export type {
  PoolKind,
  PoolSnapshot,
  PoolSink,
  SinkFactory,
  OnAdapterError,
  MonitorPoolOptions,
  PoolMonitorHandle,
  ThreadpoolMonitorOptions,
  ThreadpoolMonitorHandle,
  ThreadpoolStats,
  PlainPoolAdapter,
} from './types';
