/**
 * Preload entry: `node --require loopwatch/register app.js` or
 * `node --import loopwatch/register app.mjs`. Configured by LOOPWATCH_* and
 * OTEL_* environment variables. Worker threads inherit the preload, so each
 * of them is measured too.
 */
import { start } from './index';

start();
