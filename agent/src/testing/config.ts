/** What loopwatch/test reads from its variables and from `configure()`: the budget and what a blocked test does. */
import { Problems, show, usingDefault, type Env } from '../config/problems';

export type BlockingMode = 'fail' | 'warn';

export interface TestingOptions {
  /** A test during which the loop is blocked at least this long fails (or warns). Default 50, 1 to 600000 (ms). */
  budgetMs?: number;
  /** `'fail'` (default) fails the test; `'warn'` prints the report to stderr and lets it pass. */
  mode?: BlockingMode;
}

export interface TestingConfig {
  readonly budgetMs: number;
  readonly mode: BlockingMode;
}

const DEFAULT_BUDGET_MS = 50;
const MAX_BUDGET_MS = 600_000;
const BUDGET_ACCEPTED = `a number from 1 to ${MAX_BUDGET_MS} (ms)`;

export function validBudget(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 && v <= MAX_BUDGET_MS;
}

/** Options in code win over the variables; each invalid one yields one line and its default. */
export function resolveTesting(options: TestingOptions, env: Env, problems: Problems): TestingConfig {
  let budgetMs = DEFAULT_BUDGET_MS;
  let mode: BlockingMode = 'fail';
  const envBudget = env.LOOPWATCH_TEST_BUDGET_MS;
  if (envBudget !== undefined && envBudget !== '') {
    const n = Number(envBudget);
    if (validBudget(n)) budgetMs = n;
    else problems.add('LOOPWATCH_TEST_BUDGET_MS', envBudget, BUDGET_ACCEPTED, usingDefault(DEFAULT_BUDGET_MS));
  }
  if (options.budgetMs !== undefined) {
    if (validBudget(options.budgetMs)) budgetMs = options.budgetMs;
    else problems.add('budgetMs', options.budgetMs, BUDGET_ACCEPTED, `using ${show(budgetMs)}`);
  }
  const envMode = env.LOOPWATCH_TEST_MODE;
  if (envMode !== undefined && envMode !== '') {
    if (envMode === 'fail' || envMode === 'warn') mode = envMode;
    else problems.add('LOOPWATCH_TEST_MODE', envMode, 'fail, warn', usingDefault('fail'));
  }
  if (options.mode !== undefined) {
    // Checked at run time: JavaScript callers pass anything.
    const asked: unknown = options.mode;
    if (asked === 'fail' || asked === 'warn') mode = asked;
    else problems.add('mode', asked, 'fail, warn', `using ${show(mode)}`);
  }
  return { budgetMs, mode };
}
