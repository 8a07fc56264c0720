// `node --test --import loopwatch/test`: installs the node:test hooks (CommonJS build) and re-exports the API.
import '../dist/testing/node-test.js';
import testing from '../dist/testing/index.js';

export const { allowBlocking, blockingBudget, configure } = testing;
export default testing;
