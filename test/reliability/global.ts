import { rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '@prbot/test-support';

/**
 * Each run starts a fresh results file; scripts/reliability-report.ts turns it into docs/RELIABILITY.md.
 * Once a run: every project of vitest.reliability.config.ts has this setup, and a later project's
 * must not delete the rows of an earlier one (the flag lives in vitest's own process).
 */
export function setup(): void {
  if (process.env.PRBOT_RELIABILITY_RESULTS_RESET) return;
  process.env.PRBOT_RELIABILITY_RESULTS_RESET = '1';
  rmSync(path.join(REPO_ROOT, 'data', 'reliability'), { recursive: true, force: true });
}
