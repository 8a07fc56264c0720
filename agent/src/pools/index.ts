/** Pool saturation: the libuv threadpool, database pools and worker pools in one schema. */
export { monitorPool } from './monitor';
export { startThreadpoolMonitor } from './threadpool';
