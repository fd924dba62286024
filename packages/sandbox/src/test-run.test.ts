import { readFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, testEnvironment } from './test-run.ts';
import { InfraError } from '@prbot/core';
import { execa } from 'execa';
import { limitsProblem, limitsShim } from './sandbox.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-run-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const base = () => ({ cwd: dir, env: { PATH: process.env.PATH! }, timeoutMs: 10_000, tailBytes: 2000 });

/** Running, not a zombie: an orphan killed here may wait for a PID 1 that never reaps it. */
function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.charAt(0);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

describe('runCommand', () => {
  it('reports exit code, output tail and streams lines', async () => {
    const lines: string[] = [];
    const r = await runCommand('test', ['node', '-e', 'console.log("one"); console.error("two"); process.exit(3)'], {
      ...base(),
      onLine: (l) => lines.push(l),
    });
    expect(r).toMatchObject({ ok: false, exitCode: 3, timedOut: false, phase: 'test' });
    expect(r.tail).toContain('one');
    expect(r.tail).toContain('two');
    expect(lines).toEqual(expect.arrayContaining(['one', 'two']));
  });

  it('kills the whole process group on timeout, grandchildren included', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const script = `const {spawn}=require('child_process');const c=spawn('sleep',['300'],{stdio:'ignore'});require('fs').writeFileSync(${JSON.stringify(pidFile)},String(c.pid));setInterval(()=>{},1000);`;
    const r = await runCommand('test', ['node', '-e', script], { ...base(), timeoutMs: 1500 });
    expect(r).toMatchObject({ ok: false, timedOut: true });
    const pid = Number(await readFile(pidFile, 'utf8'));
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(pid)).toBe(false);
  });

  it('kills children left behind by a command that exited', async () => {
    const pidFile = path.join(dir, 'orphan.pid');
    const script = `const {spawn}=require('child_process');const c=spawn('sleep',['300'],{stdio:'ignore'});require('fs').writeFileSync(${JSON.stringify(pidFile)},String(c.pid));process.exit(0);`;
    const r = await runCommand('test', ['node', '-e', script], base());
    expect(r.ok).toBe(true);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(pid)).toBe(false);
  });

  it('keeps only the tail of a flood of output', async () => {
    const r = await runCommand(
      'test',
      ['node', '-e', 'for (let i = 0; i < 200000; i++) console.log("line " + i)'],
      base(),
    );
    expect(r.ok).toBe(true);
    expect(r.tail.length).toBeLessThanOrEqual(2000);
    expect(r.tail).toContain('line 199999');
  });

  it("a missing program is the machine's fault: InfraError naming it", async () => {
    await expect(runCommand('setup', ['definitely-not-a-program-xyz'], base())).rejects.toThrow(InfraError);
    await expect(runCommand('setup', ['definitely-not-a-program-xyz'], base())).rejects.toThrow(
      /"definitely-not-a-program-xyz" not found/,
    );
  });

  it('kills a command that prints more than outputBytes', async () => {
    const r = await runCommand('test', ['node', '-e', 'setInterval(() => console.log("x".repeat(10000)), 1)'], {
      ...base(),
      outputBytes: 200_000,
    });
    expect(r.ok).toBe(false);
    expect(r.timedOut).toBe(false);
    expect(r.tail).toMatch(/more than 200000 bytes of output/);
  });

  it('positive control: without outputBytes the same flood runs on until the timeout stops it', async () => {
    const r = await runCommand('test', ['node', '-e', 'setInterval(() => console.log("x".repeat(10000)), 1)'], {
      ...base(),
      timeoutMs: 1500,
    });
    expect(r.timedOut).toBe(true);
    expect(r.tail).not.toMatch(/bytes of output/);
  });
});

describe('testEnvironment', () => {
  it('passes only allow-listed names, plus its own HOME', () => {
    const env = testEnvironment(['PATH', 'LANG'], { NODE_ENV: 'test' }, '/tmp/h', {
      PATH: '/bin',
      LANG: 'C',
      OPENROUTER_KEY: 'sk-secret',
      HOME: '/root',
    });
    expect(env).toEqual({ PATH: '/bin', LANG: 'C', NODE_ENV: 'test', HOME: '/tmp/h', CI: 'true' });
  });

  it('a test command cannot read a secret from its environment', async () => {
    const env = testEnvironment(['PATH'], {}, dir, { PATH: process.env.PATH, PRBOT_TEST_SECRET: 'hunter2' });
    const r = await runCommand('test', ['node', '-e', 'console.log(JSON.stringify(process.env))'], { ...base(), env });
    expect(r.tail).not.toContain('hunter2');
    expect(r.tail).toContain('"HOME"');
  });
});

describe('runCommand gate', () => {
  it('starts the command only once the gate opens', async () => {
    const marker = path.join(dir, 'gated-ran');
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const run = runCommand('test', ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`], {
      ...base(),
      gate,
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(marker)).toBe(false);
    open();
    const r = await run;
    expect(r.ok).toBe(true);
    expect(existsSync(marker)).toBe(true);
  });

  it('a gate that fails fails the command with its error, and the command never runs', async () => {
    const marker = path.join(dir, 'gate-failed-ran');
    const gate = Promise.reject(new Error('chown of the work tree failed'));
    await expect(
      runCommand('test', ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`], {
        ...base(),
        gate,
      }),
    ).rejects.toThrow('chown of the work tree failed');
    expect(existsSync(marker)).toBe(false);
  });
});

describe('sandbox limits shim', () => {
  const limits = { addressSpaceMb: 300, processes: 77 };
  it("sets processes, address space and core size, soft and hard, in this host's /bin/sh", async () => {
    const r = await execa('/bin/sh', ['-c', `${limitsShim(limits)} && cat /proc/self/limits`]);
    expect(limitsProblem(r.stdout, limits)).toBeNull();
    expect(r.stdout).toMatch(/^Max processes\s+77\s+77\b/m);
    expect(r.stdout).toMatch(new RegExp(`^Max address space\\s+${300 * 1024 * 1024}\\s+${300 * 1024 * 1024}\\b`, 'm'));
  });

  it('names the limit a shell failed to set', async () => {
    const r = await execa('/bin/sh', ['-c', 'ulimit -c 0 && cat /proc/self/limits']); // no process or memory limit
    expect(limitsProblem(r.stdout, limits)).toMatch(/"Max processes" to 77/);
  });
});
