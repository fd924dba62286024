import path from 'node:path';
import { acquireTestUser, digestTestOutput, freshDir, handTo, lastSlotUid, memoryGuard, packageManagerPlan, readPackageManagerPin, rememberSlotUid, runCommand, SANDBOX_HOME, SANDBOX_TMP, testEnvironment, type TestUser } from '@prbot/sandbox';
import { botCommitSpec, rebuildCommit } from '@prbot/repo';
import { CycleEnded, InfraError, type CommandResult } from '@prbot/core';
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
    // A `packageManager` pin in package.json: fetched during setup with a network, else the
    // version switch is off (it would hang without one); a probe shows which version runs.
    const pin = await readPackageManagerPin(slot.dir);
    let pm = packageManagerPlan(pin, [...t.setup, ...t.commands], { setupNetwork: t.network === 'setup' });
    const envNow = () =>
      sandboxed
        ? testEnvironment(t.envAllow, { TMPDIR: SANDBOX_TMP, ...pm.env, ...t.env }, SANDBOX_HOME, rt.env)
        : testEnvironment(t.envAllow, { TMPDIR: tmp, ...pm.env, ...t.env }, home, rt.env);
    const hide = [rt.workdir, rt.cfg.file, rt.mirror.dir, rt.recorder.recordsDir];
    const plan = [
      ...(pm.probe ? [{ phase: 'setup' as const, argv: pm.probe, probe: true }] : []),
      ...t.setup.map((argv) => ({ phase: 'setup' as const, argv, probe: false })),
      ...t.commands.map((argv) => ({ phase: 'test' as const, argv, probe: false })),
    ];
    const results: CommandResult[] = [];
    const memory = { limitMb: t.limits.memoryMb, guard: (await memoryGuard(t.limits.memoryVia)).guard };
    for (const [i, cmd] of plan.entries()) {
      const output = lineLog(s.job, t.logLines);
      const stepped = (i === 0 ? handed : Promise.resolve()).then(() => s.step(20 + Math.round((60 * i) / plan.length), `$ ${cmd.argv.join(' ')}`));
      const r = await runCommand(cmd.phase, cmd.argv, {
        cwd: slot.dir,
        env: envNow(),
        timeoutMs: cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs,
        tailBytes: t.tailBytes,
        outputBytes: t.limits.outputBytes,
        memory,
        processes: t.limits.processes,
        signal: s.signal,
        user,
        sandbox: sandboxed
          ? { workTree: slot.dir, home, tmp, network: t.network === 'setup' && cmd.phase === 'setup', limits: t.limits, toolDirs: t.toolDirs, hide }
          : null,
        onLine: output.line,
        gate: stepped,
      });
      if (cmd.probe) {
        // Which package manager and version ran: in the job log and the record's command list.
        const version = r.tail.trim().split('\n').at(-1)?.trim() ?? '';
        if (!r.ok && !pm.degraded && pm.pin) {
          // The pinned version could not be fetched: once more with the switch off.
          output.line(`[prbot] ${pm.pin.tool}@${pm.pin.version} could not be fetched: ${version.slice(0, 300)}`);
          pm = packageManagerPlan(pin, [...t.setup, ...t.commands], { setupNetwork: true, fetchFailed: r.tail.trim().split('\n').find((l) => l.trim()) ?? version });
          plan.splice(i + 1, 0, cmd);
          await output.flush();
          continue;
        }
        if (!r.ok) throw new InfraError(`the package manager could not start in the sandbox (\`${cmd.argv.join(' ')}\`: ${version.slice(0, 200)}); ${pm.note ?? ''}`);
        const line = `[prbot] package manager: ${cmd.argv[0]} ${version} ran${pm.note ? `; ${pm.note}` : ''}`;
        output.line(line);
        await output.flush();
        results.push({ ...r, tail: `${r.tail}\n${line}\n` });
        continue;
      }
      await output.flush();
      results.push(r);
      if (s.signal?.aborted) throw new Error('worker is shutting down; the test run was stopped and will be retried');
      if (!r.ok && r.limit) {
        // The machine's bound, not the change's failure: never counted against the gap, never escalates.
        throw new CycleEnded('infra_failed', `limit: ${cmd.phase} command \`${cmd.argv.join(' ')}\` hit tests.limits (${r.limit.kind}: ${r.limit.limit} ${r.limit.unit}${r.limit.observed !== null ? `, saw ${r.limit.observed}` : ''}, held by ${r.limit.via}); raise the limit if this run is legitimate:\n${digestTestOutput(r.tail).text}`, { tests: results, limit: r.limit });
      }
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
    await user?.release();
    await slot.release();
  }
}

