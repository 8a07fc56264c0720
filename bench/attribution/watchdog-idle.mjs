// Benchmark stand-in: keeps an inspector session connected to the main thread, idle.
import { parentPort } from 'node:worker_threads';
import inspector from 'node:inspector';
const s = new inspector.Session();
s.connectToMainThread();
parentPort.postMessage('ready');
setInterval(() => {}, 1000);
