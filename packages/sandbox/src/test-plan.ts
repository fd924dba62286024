import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '@prbot/config';
import { InfraError, type CommandResult, type LimitHit } from '@prbot/core';
import { memoryGuard } from './memory-guard.ts';
import { packageManagerPlan, readPackageManagerPin } from './package-manager.ts';
import { digestTestOutput } from './digest.ts';
import { dropScratch, freshDir, SANDBOX_HOME, SANDBOX_TMP } from './sandbox.ts';
import {
  holdCacheForSetup,
  packageCacheDefence,
  packageCacheDir,
  packageCacheEnv,
  writePnpmRc,
} from './package-cache.ts';
import type { FileLock } from './pidlock.ts';
import { forgetSetup, rememberSetup, setupInputsKey, setupStillValid } from './setup-inputs.ts';
import { handTo, lastSlotUid, rememberSlotUid, type Slot } from './slots.ts';
import { acquireTestUser, runCommand, testEnvironment, type TestUser } from './test-run.ts';

type TestsConfig = Config['tests'];

/** Where a command's output lines go (the job's Logs tab); flushed when the command ends. */
interface LineSink {
  line: (line: string) => void;
  flush: () => Promise<void>;
}

export interface TestPlanOptions {
  /** The commit the slot was moved to: its tracked setup inputs decide whether setup runs. */
  commit: string;
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
  /** Set when the run hit one of tests.limits: the machine's bound, not the change's failure (infra_failed). */
  limit?: LimitHit;
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
  let cacheLock: FileLock | null = null;
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
    // A `packageManager` pin in package.json: fetched during setup with a network, else the
    // version switch is off (it would hang without one); a probe shows which version runs.
    const pin = await readPackageManagerPin(slot.dir);
    const commands = [...t.setup, ...t.commands];
    let pm = packageManagerPlan(pin, commands, { setupNetwork: t.network === 'setup' });
    // The machine's package cache: only inside the sandbox, where test commands see it read-only.
    const cache = sandboxed && t.packageCache === 'shared' ? packageCacheDir(o.workdir) : null;
    const cacheEnv = cache ? packageCacheEnv(SANDBOX_TMP) : {};
    if (cache) {
      await mkdir(cache, { recursive: true, mode: 0o755 }); // a run with no setup mounts it too
      await writePnpmRc(home, user);
    }
    const envNow = () =>
      sandboxed
        ? testEnvironment(t.envAllow, { TMPDIR: SANDBOX_TMP, ...cacheEnv, ...pm.env, ...t.env }, SANDBOX_HOME, o.env)
        : testEnvironment(t.envAllow, { TMPDIR: tmp, ...pm.env, ...t.env }, home, o.env);
    // Setup is skipped when its inputs (lockfiles, manifests, the commands) are those of the
    // slot's last successful setup and what it installed is still there.
    const key =
      t.setup.length > 0 && (t.setupInputs ?? [null]).length > 0
        ? (await setupInputsKey(slot.gitDir, o.commit, t, { cache: cache !== null, pin: pm.pin ?? null })).key
        : null;
    const skip = key !== null && (await setupStillValid(slot.dir, key));
    const results: CommandResult[] = [];
    if (skip) {
      const output = o.output();
      const line = `setup skipped (inputs unchanged: ${key.slice(0, 16)})`;
      output.line(`[prbot] ${line}`);
      await output.flush();
      for (const argv of t.setup)
        results.push({
          phase: 'setup',
          argv,
          exitCode: null,
          signal: null,
          timedOut: false,
          durationMs: 0,
          ok: true,
          tail: `${line}\n`,
          skipped: line,
        });
    } else await forgetSetup(slot.dir); // a setup that fails half-way leaves no marker
    let setupLeft = skip ? 0 : t.setup.length;
    const plan = [
      ...(pm.probe ? [{ phase: 'setup' as const, argv: pm.probe, probe: true }] : []),
      ...(skip ? [] : t.setup.map((argv) => ({ phase: 'setup' as const, argv, probe: false }))),
      ...t.commands.map((argv) => ({ phase: 'test' as const, argv, probe: false })),
    ];
    const memory = { limitMb: t.limits.memoryMb, guard: (await memoryGuard(t.limits.memoryVia)).guard };
    for (const [i, cmd] of plan.entries()) {
      const output = o.output();
      const started = (i === 0 ? handed : Promise.resolve()).then(() => o.onCommand(i, plan.length, cmd.argv));
      const timeoutMs = cmd.phase === 'setup' ? t.setupTimeoutMs : t.timeoutMs;
      // Setup writes the cache under a machine-wide lock; test commands get it read-only.
      const writesCache = cmd.phase === 'setup' || !packageCacheDefence.readOnlyInTests;
      if (cache && cmd.phase === 'setup' && !cacheLock)
        cacheLock = await holdCacheForSetup(cache, user, timeoutMs, o.signal);
      if (cacheLock && cmd.phase === 'test') {
        await cacheLock.release();
        cacheLock = null;
      }
      const r = await runCommand(cmd.phase, cmd.argv, {
        cwd: slot.dir,
        env: envNow(),
        timeoutMs,
        tailBytes: t.tailBytes,
        outputBytes: t.limits.outputBytes,
        memory,
        processes: t.limits.processes,
        signal: o.signal,
        user,
        sandbox: sandboxed
          ? {
              workTree: slot.dir,
              home,
              tmp,
              network: t.network === 'setup' && cmd.phase === 'setup',
              limits: t.limits,
              toolDirs: t.toolDirs,
              hide: o.hide,
              cache: cache ? { dir: cache, writable: writesCache } : null,
            }
          : null,
        onLine: output.line,
        gate: started,
      });
      if (cmd.probe && !o.signal?.aborted) {
        // Which package manager and version ran: in the job log and the record's command list.
        const version = r.tail.trim().split('\n').at(-1)?.trim() ?? '';
        if (!r.ok && !pm.degraded && pm.pin) {
          // The pinned version could not be fetched: once more with the switch off.
          output.line(`[prbot] ${pm.pin.tool}@${pm.pin.version} could not be fetched: ${version.slice(0, 300)}`);
          pm = packageManagerPlan(pin, commands, {
            setupNetwork: true,
            fetchFailed:
              r.tail
                .trim()
                .split('\n')
                .find((l) => l.trim()) ?? version,
          });
          plan.splice(i + 1, 0, cmd);
          await output.flush();
          continue;
        }
        if (!r.ok)
          throw new InfraError(
            `the package manager could not start in the sandbox (\`${cmd.argv.join(' ')}\`: ${version.slice(0, 200)}); ${pm.note ?? ''}`,
          );
        const line = `[prbot] package manager: ${cmd.argv[0]} ${version} ran${pm.note ? `; ${pm.note}` : ''}`;
        output.line(line);
        await output.flush();
        results.push({ ...r, tail: `${r.tail}\n${line}\n` });
        continue;
      }
      await output.flush();
      results.push(r);
      if (!cmd.probe && cmd.phase === 'setup' && r.ok && --setupLeft === 0 && key !== null)
        await rememberSetup(slot.dir, key, t.cacheDirs);
      if (o.signal?.aborted) throw new Error('worker is shutting down; the test run was stopped and will be retried');
      if (!r.ok && r.limit) {
        const l = r.limit;
        return {
          results,
          failure: {
            limit: l,
            reason: `limit: ${cmd.phase} command \`${cmd.argv.join(' ')}\` hit tests.limits (${l.kind}: ${l.limit} ${l.unit}${l.observed !== null ? `, saw ${l.observed}` : ''}, held by ${l.via}); raise the limit if this run is legitimate:\n${digestTestOutput(r.tail).text}`,
          },
        };
      }
      if (!r.ok) {
        const how = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit code ${r.exitCode ?? r.signal}`;
        return {
          results,
          failure: {
            reason: `${cmd.phase} command \`${cmd.argv.join(' ')}\` failed (${how}):\n${digestTestOutput(r.tail).text}`,
          },
        };
      }
    }
    await handed;
    return { results, failure: null };
  } finally {
    await cacheLock?.release();
    await handed.catch(() => {}); // a chown still running must not outlive the slot and uid locks
    // Emptied while the slot is still ours (the run's processes are gone: runCommand swept its
    // uid). A failure here must not replace the run's result; the slot's next cycle empties
    // them again (freshDir), and fails with InfraError if it cannot.
    await Promise.all(scratch.map((d) => dropScratch(d))).catch(() => {});
    await user?.release();
  }
}
