import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  acquireTestUser,
  delegatedCgroup,
  RunCgroup,
  runCommand,
  SANDBOX_HOME,
  SANDBOX_TMP,
  type MemoryGuard,
  type SandboxLimits,
} from '@prbot/sandbox';
import { REPO_ROOT } from '@prbot/test-support';
import { attack, cleanupDirs, makeDirs, PRELUDE } from './support.ts';

afterAll(cleanupDirs);

// The defaults of tests.limits (config/tests.ts): 4096 MiB resident per run, 512 threads, no RLIMIT_AS.
const DEFAULT = { memoryMb: 4096, processes: 512 };
const watchdog: MemoryGuard = { kind: 'watchdog' };

/**
 * Two processes, each touching `each` MiB in 16 MiB steps (Buffer.alloc fills, so the pages are
 * resident), printing their progress: each alone stays under a limit that both together pass.
 */
const hog = (each: number) => `${PRELUDE}
const { fork } = require('child_process');
if (process.argv[2] === 'child') {
  const keep = []; let mb = 0;
  const step = () => { if (mb >= ${each}) { process.send(mb); return setTimeout(() => {}, 1e6); } keep.push(Buffer.alloc(16 << 20, 1)); mb += 16; console.log('MB ' + mb); setTimeout(step, 10); };
  step();
} else {
  let got = [];
  for (let i = 0; i < 2; i++) fork(__filename, ['child']).on('message', (mb) => { got.push(mb); if (got.length === 2) done({ total: got[0] + got[1] }); });
}`;

describe('tests.limits.memoryMb holds resident memory, not address space', () => {
  it('a hog of two processes (each under the limit, together over it) is killed and reported as a memory limit', async () => {
    const a = await attack('bwrap', hog(400), { memory: { limitMb: 500, guard: watchdog } });
    expect(a.result.ok).toBe(false);
    expect(a.out).toEqual({}); // never finished
    expect(a.result.limit).toMatchObject({ kind: 'memory', limit: 500, unit: 'MiB', via: 'watchdog' });
    expect(a.result.limit!.observed!).toBeGreaterThan(500);
    expect(a.result.tail).toMatch(
      /\[prbot\] killed: the run's resident memory reached \d+ MiB, over tests\.limits\.memoryMb \(500 MiB, held by watchdog\)/,
    );
    // Positive control: the same hog with the watchdog off grows past the limit and finishes.
    const off = await attack('bwrap', hog(400), { memory: { limitMb: 500, guard: { kind: 'off' } } });
    expect(off.result.ok).toBe(true);
    expect(off.out).toEqual({ total: 800 });
    expect(off.result.limit).toBeNull();
  });

  it('a run that stays under the limit is not touched, and the limit is not blamed for a plain failure', async () => {
    const a = await attack(
      'bwrap',
      `${PRELUDE} const b = Buffer.alloc(64 << 20, 1); console.log('no'); process.exit(3);`,
      { memory: { limitMb: 500, guard: watchdog } },
    );
    expect(a.result).toMatchObject({ ok: false, exitCode: 3, limit: null });
  });

  it('the time limit is named as a limit too', async () => {
    const slow = await attack('bwrap', `setTimeout(() => {}, 60000);`, {
      memory: { limitMb: 500, guard: watchdog },
      timeoutMs: 1500,
    });
    expect(slow.result.limit).toMatchObject({ kind: 'time', limit: 1500, unit: 'ms' });
  });
});

/** Runs one real test runner in the sandbox, as the test stage does, with the default limits. */
async function runner(
  files: Record<string, string>,
  argv: string[],
  o: { limits?: SandboxLimits; env?: Record<string, string>; toolDirs?: string[] } = {},
) {
  const dirs = await makeDirs();
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dirs.work, name)), { recursive: true });
    await writeFile(path.join(dirs.work, name), text);
  }
  const user = await acquireTestUser('auto');
  try {
    await execa('chown', ['-R', `${user!.uid}:${user!.gid}`, dirs.work, dirs.home, dirs.tmp]);
    return await runCommand('test', argv, {
      cwd: dirs.work,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: SANDBOX_HOME, TMPDIR: SANDBOX_TMP, CI: 'true', ...o.env },
      timeoutMs: 240_000,
      tailBytes: 16 * 1024,
      user,
      memory: { limitMb: DEFAULT.memoryMb, guard: watchdog },
      processes: DEFAULT.processes,
      sandbox: {
        workTree: dirs.work,
        home: dirs.home,
        tmp: dirs.tmp,
        network: false,
        limits: o.limits ?? { processes: DEFAULT.processes },
        toolDirs: o.toolDirs ?? [],
        hide: [],
      },
    });
  } finally {
    await user?.release();
  }
}

describe('the default limits run the real test runners', () => {
  // vitest from this repository's own node_modules, shown read-only inside the sandbox.
  const vitestBin = path.join(REPO_ROOT, 'node_modules/vitest/vitest.mjs');
  const vitestProject = {
    'package.json': JSON.stringify({ name: 'v', type: 'module', private: true }),
    'sum.js': 'export const sum = (a, b) => a + b;\n',
    'sum.test.js':
      "import { expect, test } from 'vitest';\nimport { sum } from './sum.js';\ntest('adds', () => expect(sum(2, 3)).toBe(5));\n",
  };
  const vitestArgv = ['node', vitestBin, 'run', '--root', '/prbot/work', '--pool', 'forks'];

  it('vitest passes under the default limit; under the old RLIMIT_AS of 4096 MiB it died of WebAssembly "Out of memory"', async () => {
    const r = await runner(vitestProject, vitestArgv, { toolDirs: [path.join(REPO_ROOT, 'node_modules')] });
    expect(r.tail).toMatch(/1 passed/);
    expect(r).toMatchObject({ ok: true, limit: null });
    // Positive control: the same run with 4096 MiB of address space per process (the old meaning of memoryMb).
    const old = await runner(vitestProject, vitestArgv, {
      toolDirs: [path.join(REPO_ROOT, 'node_modules')],
      limits: { processes: DEFAULT.processes, addressSpaceMb: 4096 },
    });
    expect(old.ok).toBe(false);
    expect(old.tail).toMatch(/WebAssembly\.instantiate\(\): Out of memory/);
  });

  it('pytest passes under the default limit', async () => {
    const r = await runner({ 'test_sum.py': 'def test_sum():\n    assert 2 + 3 == 5\n' }, [
      'python3',
      '-m',
      'pytest',
      '-q',
      '-p',
      'no:cacheprovider',
    ]);
    expect(r.tail).toMatch(/1 passed/);
    expect(r).toMatchObject({ ok: true, limit: null });
  });

  it('go test passes under the default limit', async () => {
    const r = await runner(
      {
        'go.mod': 'module example.com/sum\n\ngo 1.19\n',
        'sum.go': 'package sum\n\nfunc Sum(a, b int) int { return a + b }\n',
        'sum_test.go':
          'package sum\n\nimport "testing"\n\nfunc TestSum(t *testing.T) {\n\tif Sum(2, 3) != 5 {\n\t\tt.Fatal("sum")\n\t}\n}\n',
      },
      ['go', 'test', './...'],
      {
        env: { GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOPROXY: 'off' },
      },
    );
    expect(r.tail).toMatch(/^ok\s+example\.com\/sum/m);
    expect(r).toMatchObject({ ok: true, limit: null });
  });

  it('cargo test passes under the default limit', async () => {
    const r = await runner(
      {
        'Cargo.toml': '[package]\nname = "sum"\nversion = "0.1.0"\nedition = "2021"\n',
        'src/lib.rs':
          'pub fn sum(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() { assert_eq!(super::sum(2, 3), 5); }\n}\n',
      },
      ['cargo', 'test', '--offline'],
    );
    expect(r.tail).toMatch(/test result: ok\. 1 passed/);
    expect(r).toMatchObject({ ok: true, limit: null });
  });
});

describe('cgroup v2 (what this host allows)', () => {
  it('on a host whose memory controller is bound to cgroup v1 (hybrid), the probe says so and the worker uses the watchdog', async () => {
    const hybrid = /^\d+:memory:/m.test(await readFile('/proc/self/cgroup', 'utf8'));
    const p = await delegatedCgroup(['memory', 'pids']);
    if (hybrid)
      expect(p).toMatchObject({
        ok: false,
        why: expect.stringMatching(/offers no memory, pids controller|no cgroup v2/),
      });
    else if (p.ok) expect(await readFile(path.join(p.parent.dir, 'cgroup.subtree_control'), 'utf8')).toMatch(/memory/);
  });

  // Where this process's cgroup v2 group is writable (root in the v2 root of a hybrid host, as
  // on the machine these tests were written on), the run cgroup's mechanics are tested for real:
  // the sandbox's processes join it before the command runs, and it is gone afterwards.
  // memory.max itself needs the memory controller in v2, which a hybrid host binds to v1.
  it('the sandbox joins a cgroup of its own before its command runs, and the cgroup is removed after', async () => {
    const p = await delegatedCgroup([]);
    if (!p.ok) {
      expect(p.why).toMatch(/not writable|no cgroup v2|no cgroup/);
      return;
    }
    const a = await attack(
      'bwrap',
      `${PRELUDE} done({ cgroup: require('fs').readFileSync('/proc/self/cgroup', 'utf8').trim() });`,
      { memory: { limitMb: 500, guard: { kind: 'cgroup', parent: p.parent } } },
    );
    expect(a.result.ok).toBe(true);
    expect(String(a.out.cgroup)).toMatch(/^0::\/prbot-run-\d+$/m);
    const name = /prbot-run-\d+/.exec(String(a.out.cgroup))![0];
    expect(existsSync(path.join(p.parent.dir, name))).toBe(false);
    // Control: without the cgroup guard the command stays in the sandbox's own (namespace root) group.
    const plain = await attack(
      'bwrap',
      `${PRELUDE} done({ cgroup: require('fs').readFileSync('/proc/self/cgroup', 'utf8').trim() });`,
      { memory: { limitMb: 500, guard: watchdog } },
    );
    expect(String(plain.out.cgroup)).not.toMatch(/prbot-run/);
    // RunCgroup kills what is inside at once.
    const cg = await RunCgroup.create(p.parent, `prbot-run-test-${process.pid}`, {});
    const sleeper = execa('sleep', ['600'], { reject: false });
    await cg.join([sleeper.pid!]);
    expect(await cg.pids()).toEqual([sleeper.pid]);
    await cg.destroy();
    expect((await sleeper).signal).toBe('SIGKILL');
    expect(existsSync(cg.dir)).toBe(false);
  });
});
