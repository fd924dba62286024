import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '@prbot/test-support';
import { recordRow } from './support.ts';

let dir: string;
afterAll(() => rm(dir, { recursive: true, force: true }));

it('200 slot-lock acquirers racing in 4 real processes: never two holders of one slot', async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-lockrace-'));
  const child = path.join(REPO_ROOT, 'test', 'reliability', 'slot-lock-child.ts');
  const runs = await Promise.all(
    Array.from({ length: 4 }, () =>
      execa('node', ['--import', 'tsx', child, dir, '50', 'lock', '4'], { cwd: REPO_ROOT }),
    ),
  );
  const results = runs.map(
    (r) => JSON.parse(r.stdout.trim().split('\n').pop()!) as { acquired: number; violations: number },
  );
  const acquired = results.reduce((a, r) => a + r.acquired, 0);
  const violations = results.reduce((a, r) => a + r.violations, 0);
  recordRow({
    fault: 'slot locks: 200 acquirers racing in 4 processes (flock)',
    injections: 200,
    inFlight: 20,
    lost: 200 - acquired,
    duplicates: violations,
    notes: `${acquired} acquisitions, ${violations} times two holders of one slot`,
  });
  expect(acquired).toBe(200);
  expect(violations).toBe(0);
});

it('positive control: the same race with the cross-process lock switched off has two holders of one slot', async () => {
  const own = await mkdtemp(path.join(tmpdir(), 'prbot-lockrace-off-'));
  try {
    const child = path.join(REPO_ROOT, 'test', 'reliability', 'slot-lock-child.ts');
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        execa('node', ['--import', 'tsx', child, own, '50', 'no-lock', '4'], { cwd: REPO_ROOT }),
      ),
    );
    const violations = runs
      .map((r) => (JSON.parse(r.stdout.trim().split('\n').pop()!) as { violations: number }).violations)
      .reduce((a, b) => a + b, 0);
    expect(violations).toBeGreaterThan(0);
  } finally {
    await rm(own, { recursive: true, force: true });
  }
});
