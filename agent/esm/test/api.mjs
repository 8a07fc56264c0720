// `loopwatch/test/api`: allowBlocking, blockingBudget and configure, without installing any runner's hooks.
import testing from '../../dist/testing/index.js';

export const { allowBlocking, blockingBudget, configure } = testing;
export default testing;
