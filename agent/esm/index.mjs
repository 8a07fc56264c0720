// ESM entry: the package is built as CommonJS; this re-exports its named bindings.
import loopwatch from '../dist/index.js';

export const { start, getAgent, shedLoad, loopwatchYoga, loopwatchApollo, metricNames, prometheusName, ConfigError, version } = loopwatch;
export default loopwatch;
