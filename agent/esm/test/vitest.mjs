// vitest `setupFiles: ['loopwatch/test/vitest']`: the hooks of the vitest running this file, given to the adapter.
import { afterEach, beforeEach } from 'vitest';
import adapter from '../../dist/testing/vitest.js';
import testing from '../../dist/testing/index.js';

adapter.installVitest(beforeEach, afterEach);

export const { allowBlocking, blockingBudget, configure } = testing;
export default testing;
