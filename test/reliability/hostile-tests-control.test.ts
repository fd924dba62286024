/**
 * Positive controls for the hostile-test-code row (hostile-tests.test.ts): the same hostile
 * commands run through `runCommand`, each time with one defence on and then off, so the row's
 * "no leftover process, no secret found, the hang killed" can be seen to depend on that defence.
 * The sandbox (bwrap) is off on both sides: it would otherwise hide what the defence alone does
 * (its pid namespace kills a run's processes and hides the worker's /proc on its own).
 * The output cap has its control in packages/sandbox/src/test-run.test.ts ("positive control:
 * without outputBytes …").
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireTestUser, runCommand, type TestUser } from '@prbot/sandbox';

let dir: string;
let user: TestUser;
const holders: { kill: () => void }[] = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-hostile-ctl-'));
  await chmod(dir, 0o755);
  // A uid of its own, as tests.runAs "auto" gives a run under a root worker.
  user = (await acquireTestUser('auto'))!;
  expect(user?.exclusive).toBe(true);
});
afterAll(async () => {
  for (const h of holders) h.kill();
  await user?.release();
  await rm(dir, { recursive: true, force: true });
});

const run = (script: string, o: Partial<Parameters<typeof runCommand>[2]> = {}) =>
  runCommand('test', [process.execPath, '-e', script], {
    cwd: dir,
    env: { PATH: process.env.PATH! },
    timeoutMs: 20_000,
    tailBytes: 16 * 1024,
    ...o,
  });

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.charAt(0);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Children in a session of their own (setsid), which no process-group kill reaches; prints their pids. */
const ORPHANS = `const { spawn } = require('child_process');
const pids = [];
for (let i = 0; i < 2; i++) { const c = spawn('setsid', ['sleep', '1000'], { detached: true, stdio: 'ignore' }); c.unref(); pids.push(c.pid); }
setTimeout(() => { console.log('orphans ' + JSON.stringify(pids)); process.exit(0); }, 300);`;

async function sleepersOf(uid: number): Promise<number[]> {
  const r = await execa('pgrep', ['-u', String(uid), '-x', 'sleep'], { reject: false });
  return r.stdout.split('\n').filter(Boolean).map(Number).filter(alive);
}

describe('hostile test code, each defence switched off', () => {
  it('orphans in a session of their own: the uid sweep kills them; without it (exclusive: false) they outlive the run', async () => {
    const on = await run(ORPHANS, { user });
    expect(on.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const leftOn = await sleepersOf(user.uid);

    const off = await run(ORPHANS, { user: { ...user, exclusive: false } });
    expect(off.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const leftOff = await sleepersOf(user.uid);
    console.log(`uid sweep on: ${leftOn.length} sleepers left; off: ${leftOff.length} left`);
    for (const pid of leftOff) process.kill(pid, 'SIGKILL');
    expect(leftOn).toEqual([]);
    // The control: the same orphans, the sweep off, are still running after their run ended.
    expect(leftOff.length).toBeGreaterThanOrEqual(2);
  });

  it("secret hunting in /proc: a uid of its own cannot read the worker's environ; as the worker's user (runAs null) it finds the key", async () => {
    const secret = `sk-hostile-ctl-${process.pid}-9d2e7c`;
    // The worker stand-in: a root process with the key in its environment, as a worker has.
    const holder = execa('sleep', ['120'], { env: { PRBOT_CTL_SECRET: secret }, reject: false });
    holders.push({ kill: () => holder.kill('SIGKILL') });
    await new Promise((r) => setTimeout(r, 200));
    const hunt = `const fs = require('fs'); const found = [];
for (const p of fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x))) {
  try { const e = fs.readFileSync('/proc/' + p + '/environ', 'utf8'); for (const kv of e.split('\\0')) if (kv.startsWith('PRBOT_CTL_SECRET=')) found.push(p + ' ' + kv); } catch {}
}
console.log('found ' + found.length); console.log(found.join('\\n'));`;
    const on = await run(hunt, { user });
    const off = await run(hunt, { user: null });
    holder.kill('SIGKILL');
    console.log(`own uid: ${on.tail.trim().split('\n')[0]}; worker's uid: ${off.tail.trim().split('\n')[0]}`);
    expect(on.ok).toBe(true);
    expect(on.tail).not.toContain(secret);
    // The control: the same script as the worker's own user reads the key out of /proc.
    expect(off.tail).toContain(secret);
  });

  it("secret hunting in the environment: the allow-listed env holds no key; the worker's env passed whole hands it over", async () => {
    const secret = `sk-hostile-ctl-env-${process.pid}-41ab`;
    const workerEnv = { PATH: process.env.PATH!, PRBOT_TEST_KEY: secret };
    const dump = `console.log(JSON.stringify(process.env))`;
    // On: the environment runCommand is given is built from tests.env's allow-list (PATH here).
    const on = await run(dump, { user, env: { PATH: workerEnv.PATH } });
    // Off: the worker's environment passed as it is.
    const off = await run(dump, { user, env: workerEnv });
    expect(on.tail).not.toContain(secret);
    expect(off.tail).toContain(secret);
  });

  it('a hang: killed at tests.timeoutMs with its whole tree; without the timeout it is still running long after', async () => {
    const hang = `require('child_process').spawn('sleep', ['1000'], { stdio: 'ignore' }); setInterval(() => {}, 1000);`;
    const on = await run(hang, { user, timeoutMs: 1500 });
    expect(on).toMatchObject({ ok: false, timedOut: true });
    expect(await sleepersOf(user.uid)).toEqual([]);

    // Off: no timeout to speak of. The control stops it itself after twice the timeout above.
    const stop = new AbortController();
    const pending = run(hang, { user, timeoutMs: 2 ** 31 - 1, signal: stop.signal });
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 3000));
    const runningOff = (await sleepersOf(user.uid)).length;
    const stillRunning = !settled;
    stop.abort();
    const off = await pending;
    console.log(`timeout off: still running after 3 s: ${stillRunning}, its sleeper alive: ${runningOff}`);
    expect(stillRunning).toBe(true);
    expect(runningOff).toBe(1);
    expect(off.timedOut).toBe(false);
  });
});
