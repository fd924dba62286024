import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireTestUser, runCommand, SANDBOX_HOME, SANDBOX_TMP, type TestUser } from '@prbot/sandbox';
import { cleanupDirs, DEFAULT_LIMITS, makeDirs, PRELUDE } from './support.ts';

afterAll(cleanupDirs);

/** Processes of `uid` still alive (not zombies). */
async function processesOf(uid: number): Promise<string[]> {
  const r = await execa('ps', ['-u', String(uid), '-o', 'pid=,stat=,args='], { reject: false });
  return r.stdout.split('\n').filter((l) => l.trim() && !/^\s*\d+\s+Z/.test(l));
}

async function sandboxed(script: string, gate?: Promise<unknown>) {
  const dirs = await makeDirs();
  const user = (await acquireTestUser('auto')) as TestUser;
  await execa('chown', ['-R', `${user.uid}:${user.gid}`, dirs.work, dirs.home, dirs.tmp]);
  await writeFile(path.join(dirs.work, 'attack.cjs'), script);
  const run = runCommand('test', ['node', 'attack.cjs'], {
    cwd: dirs.work,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: SANDBOX_HOME, TMPDIR: SANDBOX_TMP },
    timeoutMs: 60_000,
    tailBytes: 64 * 1024,
    user,
    sandbox: {
      workTree: dirs.work,
      home: dirs.home,
      tmp: dirs.tmp,
      network: false,
      limits: DEFAULT_LIMITS,
      toolDirs: [],
      hide: [],
    },
    ...(gate ? { gate } : {}),
  });
  return { run, dirs, user };
}

describe('the sandbox built ahead of its command (runCommand gate)', () => {
  it('runs no test code before the gate opens; then the command runs with the limits in force', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const script = `${PRELUDE}require('fs').writeFileSync('ran', 'x'); done({ limits: require('fs').readFileSync('/proc/self/limits', 'utf8') });`;
    const { run, dirs, user } = await sandboxed(script, gate);
    try {
      // Wait until the sandbox exists (the uid has its bwrap and shim), then check nothing ran.
      for (let i = 0; i < 200 && (await processesOf(user.uid)).length < 2; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect((await processesOf(user.uid)).length).toBeGreaterThanOrEqual(2);
      expect(existsSync(path.join(dirs.work, 'ran'))).toBe(false);
      open();
      const r = await run;
      expect(r.ok).toBe(true);
      expect(existsSync(path.join(dirs.work, 'ran'))).toBe(true);
      const limits = String(
        JSON.parse(
          r.tail
            .split('\n')
            .find((l) => l.startsWith('RESULT '))!
            .slice(7),
        ).limits,
      );
      expect(limits).toMatch(
        new RegExp(`^Max processes\\s+${DEFAULT_LIMITS.processes}\\s+${DEFAULT_LIMITS.processes}\\b`, 'm'),
      );
    } finally {
      await user.release();
    }
  });

  it('a gate that fails (the chown of the work tree) ends the waiting sandbox: no process of the uid is left, the command never ran', async () => {
    let fail!: (e: Error) => void;
    const gate = new Promise<void>((_r, j) => (fail = j));
    const { run, dirs, user } = await sandboxed(`${PRELUDE}require('fs').writeFileSync('ran', 'x'); done({})`, gate);
    try {
      for (let i = 0; i < 200 && (await processesOf(user.uid)).length < 2; i++)
        await new Promise((r) => setTimeout(r, 50));
      fail(new Error('handing the work tree over failed'));
      await expect(run).rejects.toThrow('handing the work tree over failed');
      expect(await processesOf(user.uid)).toEqual([]);
      expect(existsSync(path.join(dirs.work, 'ran'))).toBe(false);
    } finally {
      await user.release();
    }
  });

  it('the command cannot raise the limits the shim set (hard limits)', async () => {
    const script = `${PRELUDE}const r = require('child_process').spawnSync('/bin/sh', ['-c', '{ ulimit -u 100000 2>/dev/null || ulimit -p 100000; } && echo raised'], { encoding: 'utf8' }); done({ out: r.stdout, status: r.status });`;
    const { run, user } = await sandboxed(script);
    try {
      const r = await run;
      expect(r.ok).toBe(true);
      const out = JSON.parse(
        r.tail
          .split('\n')
          .find((l) => l.startsWith('RESULT '))!
          .slice(7),
      );
      expect(out.out).not.toContain('raised');
      expect(out.status).not.toBe(0);
    } finally {
      await user.release();
    }
  });
});
