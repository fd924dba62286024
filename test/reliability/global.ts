import { rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '@prbot/test-support';

/** Each run starts a fresh results file; scripts/reliability-report.ts turns it into docs/RELIABILITY.md. */
export function setup(): void {
  rmSync(path.join(REPO_ROOT, 'data', 'reliability'), { recursive: true, force: true });
}
