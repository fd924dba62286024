import { delegatedCgroup } from './cgroup.ts';
import { UnavailableError } from '@prbot/core';
import type { MemoryGuard } from './test-run.ts';

let probed: Promise<{ guard: MemoryGuard; note: string }> | null = null;

/**
 * How this worker holds tests.limits.memoryMb, decided once (the cgroup probe may move this
 * process into a leaf cgroup): a delegated cgroup v2 where there is one, else the watchdog.
 * "cgroup" without one refuses to start, naming why; "watchdog" never looks.
 */
export async function memoryGuard(via: 'auto' | 'cgroup' | 'watchdog'): Promise<{ guard: MemoryGuard; note: string }> {
  if (via === 'watchdog')
    return { guard: { kind: 'watchdog' }, note: 'the memory watchdog (tests.limits.memoryVia: watchdog)' };
  probed ??= delegatedCgroup().then((p) =>
    p.ok
      ? {
          guard: { kind: 'cgroup' as const, parent: p.parent },
          note: `cgroup v2 memory.max and pids.max under ${p.parent.dir}`,
        }
      : {
          guard: { kind: 'watchdog' as const },
          note: `the memory watchdog (resident memory from /proc), because ${p.why}`,
        },
  );
  const r = await probed;
  if (via === 'cgroup' && r.guard.kind !== 'cgroup')
    throw new UnavailableError(
      `tests.limits.memoryVia is "cgroup" but there is no delegated cgroup v2 here: ${r.note.replace(/^.*because /, '')}`,
    );
  return r;
}
