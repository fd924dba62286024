import path from 'node:path';
import type { Config } from '@prbot/config';
import type { CommandResult } from '@prbot/core';
import { digestTestOutput } from './digest.ts';
import { dropScratch, freshDir, SANDBOX_HOME, SANDBOX_TMP } from './sandbox.ts';
import { handTo, lastSlotUid, rememberSlotUid, type Slot } from './slots.ts';
import { acquireTestUser, runCommand, testEnvironment, type TestUser } from './test-run.ts';

type TestsConfig = Config['tests'];

/** Where a command's output lines go (the job's Logs tab); flushed when the command ends. */
interface LineSink {
  line: (line: string) => void;
  flush: () => Promise<void>;
}

export interface TestPlanOptions {
  /** The worker's own directory: per-slot `$HOME` and `/tmp` live under it. */
  workdir: string;
  /** Paths the sandbox hides (the worker's files, the config, the mirror, the records). */
  hide: string[];
  /** The worker's environment; only `tests.envAllow` names pass into a run. */
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Called before command `index` of `count` starts (progress). */
  onCommand: (index: number, count: number, argv: readonly string[]) => Promise<void>;
  output: () => LineSink;
}

/** The target's tests ran and one failed: the reason quotes the runner's own digest. */
interface TestPlanFailure {
  reason: string;
}

export interface TestPlanResult {
  results: CommandResult[];
  failure: TestPlanFailure | null;
}

/**
 * Runs the configured setup and test commands in a slot's work tree, each in the sandbox: a uid
 * of the run's own, no network (setup may have it: `tests.network: setup`), the system read-only,
 * writable only the work tree and a `$HOME` and `/tmp` emptied for this cycle. Stops at the first
 * failing command. A machine fault (disk, sandbox, chown) throws InfraError; a shutdown throws.
 */
export async function runTestPlan(slot: Slot, t: TestsConfig, o: TestPlanOptions): Promise<TestPlanResult> {
  const sandboxed = t.sandbox === 'bwrap';
  let user: TestUser | null = null;
  let handed: Promise<void> = Promise.resolve();
  let scratch: string[] = [];
  try {
    const previous = await lastSlotUid(slot);
    user = await acquireTestUser(t.runAs, previous);
    const home = path.join(o.workdir, 'home', `slot-${slot.index}`);
    const tmp = path.join(o.workdir, 'tmp', `slot-${slot.index}`);
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
      ? testEnvironment(t.envAllow, { TMPDIR: SANDBOX_TMP, ...t.env }, SANDBOX_HOME, o.env)
      : testEnvironment(t.envAllow, { TMPDIR: tmp, ...t.env }, home, o.env);
    const plan = [...t.setup.map((argv) => ({ phase: 'setup' as const, argv })), ...t.commands.map((argv) => ({ phase: 'test' as const, argv }))];
    const results: CommandResult[] = [];
    for (const [i, cmd] of plan.entries()) {
      const output = o.output();
      const started = (i === 0 ? handed : Promise.resolve()).then(() => o.onCommand(i, plan.length, cmd.argv));
      const timeoutMs = cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs;
      const r = await runCommand(cmd.phase, cmd.argv, {
        cwd: slot.dir,
        env,
        timeoutMs,
        tailBytes: t.tailBytes,
        outputBytes: t.limits.outputBytes,
        signal: o.signal,
        user,
        sandbox: sandboxed
          ? { workTree: slot.dir, home, tmp, network: t.network === 'setup' && cmd.phase === 'setup', limits: t.limits, toolDirs: t.toolDirs, hide: o.hide }
          : null,
        onLine: output.line,
        gate: started,
      });
      await output.flush();
      results.push(r);
      if (o.signal?.aborted) throw new Error('worker is shutting down; the test run was stopped and will be retried');
      if (!r.ok) {
        const how = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit code ${r.exitCode ?? r.signal}`;
        return { results, failure: { reason: `${cmd.phase} command \`${cmd.argv.join(' ')}\` failed (${how}):\n${digestTestOutput(r.tail).text}` } };
      }
    }
    await handed;
    return { results, failure: null };
  } finally {
    await handed.catch(() => {}); // a chown still running must not outlive the slot and uid locks
    // Emptied while the slot is still ours (the run's processes are gone: runCommand swept its
    // uid). A failure here must not replace the run's result; the slot's next cycle empties
    // them again (freshDir), and fails with InfraError if it cannot.
    await Promise.all(scratch.map((d) => dropScratch(d))).catch(() => {});
    await user?.release();
  }
}
