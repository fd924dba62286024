import path from 'node:path';
import { acquireTestUser, digestTestOutput, dropScratch, freshDir, handTo, lastSlotUid, rememberSlotUid, runCommand, SANDBOX_HOME, SANDBOX_TMP, testEnvironment, type TestUser } from '@prbot/sandbox';
import { botCommitSpec, rebuildCommit } from '@prbot/repo';
import { CycleEnded, type CommandResult } from '@prbot/core';
import { lineLog } from '../line-log.ts';
import { guardContext } from '../repo-context.ts';
import type { StageContext } from '@prbot/pipeline';

/** test: rebuild the commit → move a slot worktree to it → setup and test commands in the sandbox. */
export async function test(s: StageContext<'test'>): Promise<void> {
  const { rt, data } = s;
  const t = rt.cfg.tests;

  // 1. Rebuild the bot commit from the payload (guardrails checked again); move one of this
  // worker's kept worktrees to it. A full disk there throws InfraError: the machine's fault.
  await rebuildCommit(rt.mirror, botCommitSpec(data, data.changes, rt.cfg.bot, { ctx: guardContext(rt), limits: rt.cfg.guardrails }), data.botCommit);
  const slot = await rt.slots.acquire();
  let user: TestUser | null = null;
  let handed: Promise<void> = Promise.resolve();
  let scratch: string[] = [];
  try {
    await rt.slots.moveTo(slot, data.botCommit, t.cacheDirs);
    await s.step(20, `slot ${slot.index} at ${data.botCommit.slice(0, 12)}`);

    // 2. Setup, then tests, each in the sandbox: a uid of the run's own, no network, the system
    // read-only, writable only the work tree and a $HOME and /tmp emptied for this cycle.
    const sandboxed = t.sandbox === 'bwrap';
    const previous = await lastSlotUid(slot);
    user = await acquireTestUser(t.runAs, previous);
    const home = path.join(rt.workdir, 'home', `slot-${slot.index}`);
    const tmp = path.join(rt.workdir, 'tmp', `slot-${slot.index}`);
    scratch = [home, tmp];
    await Promise.all([freshDir(home, user), freshDir(tmp, user)]);
    // The work tree goes to the run's uid while the first command's sandbox is being built
    // (runCommand's gate): no test code runs before this has finished.
    const owner = user;
    handed = (async () => {
      if (!owner) return;
      await handTo(slot.dir, owner, owner.uid === previous);
      await rememberSlotUid(slot, owner.uid);
    })();
    handed.catch(() => {}); // awaited through the first command's gate and again after the loop
    const env = sandboxed
      ? testEnvironment(t.envAllow, { TMPDIR: SANDBOX_TMP, ...t.env }, SANDBOX_HOME, rt.env)
      : testEnvironment(t.envAllow, { TMPDIR: tmp, ...t.env }, home, rt.env);
    const hide = [rt.workdir, rt.cfg.file, rt.mirror.dir, rt.recorder.recordsDir];
    const plan = [...t.setup.map((argv) => ({ phase: 'setup' as const, argv })), ...t.commands.map((argv) => ({ phase: 'test' as const, argv }))];
    const results: CommandResult[] = [];
    for (const [i, cmd] of plan.entries()) {
      const output = lineLog(s.job, t.logLines);
      const stepped = (i === 0 ? handed : Promise.resolve()).then(() => s.step(20 + Math.round((60 * i) / plan.length), `$ ${cmd.argv.join(' ')}`));
      const r = await runCommand(cmd.phase, cmd.argv, {
        cwd: slot.dir,
        env,
        timeoutMs: cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs,
        tailBytes: t.tailBytes,
        outputBytes: t.limits.outputBytes,
        signal: s.signal,
        user,
        sandbox: sandboxed
          ? { workTree: slot.dir, home, tmp, network: t.network === 'setup' && cmd.phase === 'setup', limits: t.limits, toolDirs: t.toolDirs, hide }
          : null,
        onLine: output.line,
        gate: stepped,
      });
      await output.flush();
      results.push(r);
      if (s.signal?.aborted) throw new Error('worker is shutting down; the test run was stopped and will be retried');
      if (!r.ok) {
        const how = r.timedOut ? `timed out after ${cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs} ms` : `exit code ${r.exitCode ?? r.signal}`;
        throw new CycleEnded('tests_failed', `${cmd.phase} command \`${cmd.argv.join(' ')}\` failed (${how}):\n${digestTestOutput(r.tail).text}`, { tests: results });
      }
    }
    await handed;
    await s.handOver('pr', { ...data, tests: results });
    await s.step(100, `all ${results.length} command(s) green; handed over to pr`);
  } finally {
    await handed.catch(() => {}); // a chown still running must not outlive the slot and uid locks
    // Emptied while the slot is still ours (the run's processes are gone: runCommand swept its uid).
    await Promise.all(scratch.map((d) => dropScratch(d))).catch((err: Error) => rt.log.warn({ err: err.message, slot: slot.index }, 'could not empty the cycle\'s $HOME and /tmp; the next cycle on this slot empties them'));
    await user?.release();
    await slot.release();
  }
}

