import { runTestPlan } from '@prbot/sandbox';
import { CycleEnded } from '@prbot/core';
import type { StageContext } from '@prbot/pipeline';
import { lineLog } from '../line-log.ts';
import { rebuildBotCommit } from '../repo-context.ts';

/** test: rebuild the commit → move a slot worktree to it → setup and test commands in the sandbox. */
export async function test(s: StageContext<'test'>): Promise<void> {
  const { rt, data } = s;
  const t = rt.cfg.tests;

  // 1. Rebuild the bot commit from the payload (guardrails checked again); move one of this
  // worker's kept worktrees to it. A full disk there throws InfraError: the machine's fault.
  await rebuildBotCommit(rt, data, data.changes);
  // workdir.maxBytes: idle slots and mirrors of the least recently used repositories go first.
  await rt.disk.cap.enforce();
  const slot = await rt.slots.acquire();
  try {
    await rt.slots.moveTo(slot, data.botCommit, t.cacheDirs);
    await s.step(20, `slot ${slot.index} at ${data.botCommit.slice(0, 12)}`);

    // 2. Setup, then tests, each in the sandbox; the target's failure ends the cycle tests_failed,
    // a limit of tests.limits (memory, processes, time, output) infra_failed: the machine's bound,
    // never counted against the gap nor escalating the model.
    const run = await runTestPlan(slot, t, {
      commit: data.botCommit,
      workdir: rt.workdir,
      hide: [rt.workdir, rt.cfg.file, rt.mirror.dir, rt.records.recordsDir],
      env: rt.env,
      signal: s.signal,
      onCommand: (i, n, argv) => s.step(20 + Math.round((60 * i) / n), `$ ${argv.join(' ')}`),
      output: () => lineLog(s.job, t.logLines),
    });
    if (run.failure?.limit)
      throw new CycleEnded('infra_failed', run.failure.reason, { tests: run.results, limit: run.failure.limit });
    if (run.failure) throw new CycleEnded('tests_failed', run.failure.reason, { tests: run.results });
    await s.handOver('pr', { ...data, tests: run.results });
    await s.step(100, `all ${run.results.length} command(s) green; handed over to pr`);
  } finally {
    await slot.release();
    // What this cycle added (its slot, its mirror's objects) is counted before the next one.
    await rt.disk.cap.enforce();
  }
}
