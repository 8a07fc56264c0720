// vitest `setupFiles: ['loopwatch/test/vitest']`: the hooks of the vitest running this file, given to the adapter.
import { afterEach, beforeEach } from 'vitest';
import testing from '../../dist/testing/vitest.js';

testing.installVitest(beforeEach, afterEach);

export const { allowBlocking, blockingBudget, configure } = testing;
export default testing;
