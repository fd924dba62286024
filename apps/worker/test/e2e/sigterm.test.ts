// SIGTERM to the process a user (or systemd, or a terminal) starts, while a test command runs:
// `pnpm worker` (pnpm → node) and the compiled `prbot worker` (node dist/prbot.js). Nothing
// may be left running — neither the node worker nor the test command's processes — and the
// interrupted job is back in waiting for another worker to take.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, REPO_ROOT, type Harness, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { produce } from '@prbot/control';

const PRBOT_BIN = path.join(REPO_ROOT, 'apps', 'cli', 'dist', 'prbot.js');
let h: Harness | undefined;
let child: ResultPromise | undefined;
/** What a failing run may leave behind, killed in afterEach. */
let leftovers: () => number[] = () => [];

/** pids whose command line contains `needle` (read from /proc, so no pgrep is needed). */
function pidsWith(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle))
        found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 45_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // The compiled launcher, as production runs it (esbuild, well under a second).
  await execa(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.mjs')], { cwd: REPO_ROOT });
}, 60_000);

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

afterEach(async () => {
  child?.kill('SIGKILL');
  killAll(leftovers());
  await child?.catch(() => {});
  child = undefined;
  await h?.cleanup();
  h = undefined;
});

const launchers: Array<[string, (config: string) => [string, string[]]]> = [
  ['pnpm worker', (config) => ['pnpm', ['-s', 'worker', '--queues', 'propose,apply,test', '--config', config]]],
  [
    'prbot worker (compiled)',
    (config) => [process.execPath, [PRBOT_BIN, 'worker', '--queues', 'propose,apply,test', '--config', config]],
  ],
];

describe('SIGTERM to the process the user started, mid test stage', () => {
  for (const [name, argv] of launchers) {
    it(`${name}: no worker or test process is left, and the job is back in waiting`, async () => {
      const token = `prbot-sigterm-${randomBytes(6).toString('hex')}`;
      // sh's child `sleep` has no token in its argv: a unique duration marks it instead.
      const sleep = `sleep 600.${randomBytes(3).readUIntBE(0, 3)}`;
      const left = () => [...pidsWith(token), ...pidsWith(sleep)];
      leftovers = left;
      const repo = await repoWithGaps(['Add a `truncate(text, max)` helper in src/truncate.js']);
      h = await createHarness({
        repo,
        // The test command outlives any grace period; its token finds it (and its children) in /proc.
        config: { tests: { commands: [['sh', '-c', `${sleep}; echo ${token}`]] }, worker: { shutdownGraceMs: 1000 } },
      });
      // A config path of its own, so /proc finds exactly this test's worker.
      const config = path.join(h.dir, `${token}.config.json`);
      await writeFile(config, readFileSync(h.configFile, 'utf8'));
      const [file, args] = argv(config);
      child = execa(file, args, {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH!, PRBOT_LOG_JSON: '1', PRBOT_JOB_KEY: process.env.PRBOT_JOB_KEY! },
        extendEnv: false,
        reject: false,
      });
      const id = (await produce(h.rt, defaultPolicy)).lines[0]!.cycleId!;
      expect(id).toBeTruthy();

      await until('the test command to start', () => pidsWith(sleep).length > 0);
      const testJob = (await h.rt.queues.test.getJobs(['active']))[0];
      expect(testJob).toBeDefined();

      const launcher = child;
      launcher.kill('SIGTERM');
      // The bound: the worker's grace (1 s) plus time to kill the test and hand the job back.
      await until(
        'every process to end',
        () => left().length === 0 && (launcher.exitCode !== null || launcher.signalCode !== null),
        20_000,
      ).catch(() => undefined);
      // Nothing is left: the launcher, the node worker (its config path is in its argv), the test command.
      const leftover = left();
      const launcherRunning = launcher.exitCode === null && launcher.signalCode === null;
      killAll(leftover); // a failing run must not leave them behind either
      expect({ leftover, launcherRunning }).toEqual({ leftover: [], launcherRunning: false });
      // The job is waiting again (not active with a dead lock, not failed, no outcome).
      // Back in line: `prioritized` for a cycle with a rank (fair shares), `waiting` for one without.
      expect(['waiting', 'prioritized']).toContain(await h.rt.queues.test.getJobState(testJob!.id!));
    }, 120_000);
  }
});
