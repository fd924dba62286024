import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { botCommitSpec, CycleEnded, digestTestOutput, handTo, lastSlotUid, rebuildCommit, rememberSlotUid, acquireTestUser, runCommand, testEnvironment, TransientError, type CommandResult, type TestUser } from '@prbot/core';
import { lineLog } from '../line-log.ts';
import type { StageContext } from '../stage.ts';

/** test: rebuild the commit → move a slot worktree to it → setup and test commands. */
export async function test(s: StageContext<'test'>): Promise<void> {
  const { rt, data } = s;
  const t = rt.cfg.tests;

  // 1. Rebuild the bot commit from the payload; move one of this worker's kept worktrees to it.
  await rebuildCommit(rt.mirror, botCommitSpec(data, data.changes, rt.cfg.bot), data.botCommit);
  const slot = await rt.slots.acquire();
  let user: TestUser | null = null;
  try {
    await rt.slots.moveTo(slot, data.botCommit, t.cacheDirs).catch((err: Error) => {
      // A full cache disk is this machine's problem, not the change's: say so; the job is retried
      // (perhaps by a worker on another machine) before the cycle gives up.
      if (/No space left|ENOSPC/i.test(err.message)) throw new TransientError(`disk full under ${rt.workdir}: free space, or keep fewer tests.cacheDirs`);
      throw err;
    });
    await s.step(20, `slot ${slot.index} at ${data.botCommit.slice(0, 12)}`);

    // 2. Setup, then tests: argv arrays, no shell, allow-listed environment, group-killing timeouts.
    const home = path.join(rt.workdir, 'home', `slot-${slot.index}`);
    await mkdir(home, { recursive: true });
    // Model-written code runs as a user of its own when it can: it cannot read this process's
    // secrets through /proc/<parent>/environ, and whatever it leaves running is found by uid.
    const previous = await lastSlotUid(slot);
    user = await acquireTestUser(t.runAs, previous);
    if (user) {
      const same = user.uid === previous;
      await Promise.all([handTo(slot.dir, user, same), handTo(home, user, same)]);
      await rememberSlotUid(slot, user.uid);
    }
    const env = testEnvironment(t.envAllow, t.env, home, rt.env);
    const plan = [...t.setup.map((argv) => ({ phase: 'setup' as const, argv })), ...t.commands.map((argv) => ({ phase: 'test' as const, argv }))];
    const results: CommandResult[] = [];
    for (const [i, cmd] of plan.entries()) {
      const output = lineLog(s.job, t.logLines);
      await s.step(20 + Math.round((60 * i) / plan.length), `$ ${cmd.argv.join(' ')}`);
      const r = await runCommand(cmd.phase, cmd.argv, {
        cwd: slot.dir,
        env,
        timeoutMs: cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs,
        tailBytes: t.tailBytes,
        signal: s.signal,
        user,
        onLine: output.line,
      });
      await output.flush();
      results.push(r);
      if (s.signal?.aborted) throw new Error('worker is shutting down; the test run was stopped and will be retried');
      if (!r.ok) {
        const how = r.timedOut ? `timed out after ${cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs} ms` : `exit code ${r.exitCode ?? r.signal}`;
        throw new CycleEnded('tests_failed', `${cmd.phase} command \`${cmd.argv.join(' ')}\` failed (${how}):\n${digestTestOutput(r.tail).text}`, { tests: results });
      }
    }
    await s.handOver('pr', { ...data, tests: results });
    await s.step(100, `all ${results.length} command(s) green; handed over to pr`);
  } finally {
    await user?.release();
    await slot.release();
  }
}

