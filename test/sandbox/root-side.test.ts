import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireTestUser, sandboxDefences } from '@prbot/sandbox';
import { gapId, newCycleId, type CycleRecord, type ProposeJob } from '@prbot/core';
import { jobKeyFrom, signJob, stageJobId } from '@prbot/pipeline';
import { createHarness, startModelServer, type Harness, type ModelServer, repoWithGaps } from '@prbot/test-support';
import { defaultPolicy } from '@prbot/policy';
import { startWorkers, waitForOutcomes } from '@prbot/worker';
import { gapNumber } from '../reliability/answers.ts';
import { attack, cleanupDirs, PRELUDE } from './support.ts';

/**
 * What one cycle's test code leaves behind is met by root at the start of the next cycle on the
 * same slot: root's git checks the work tree out anew and cleans it, root chowns it, and root
 * empties $HOME and /tmp. Each test here is a real two-cycle run through the real test stage
 * (real worker, real bwrap, real git as root): cycle 0's test code plants something for root,
 * cycle 1 must end `ok`, with its own files as committed, and nothing outside may change.
 */
const open: { h: Harness; server: ModelServer }[] = [];
afterAll(async () => {
  await cleanupDirs();
  for (const o of open) {
    await o.h.cleanup();
    await o.server.close();
  }
});

interface Ctx {
  /** The host path of slot 0's work tree (test code can read it from /proc/self/mountinfo). */
  slotDir: string;
  /** The harness's directory: root's, outside everything the sandbox shows. */
  hostDir: string;
}

/**
 * Two cycles on one slot: cycle 0 runs `plant` (a node script), cycle 1 runs `check`. Each
 * cycle's proposal is one file, `<dir>/leftover<n>.cjs`.
 */
async function twoCycles(o: {
  plant: (c: Ctx) => string;
  check: (c: Ctx) => string;
  dir?: string;
  before?: (c: Ctx) => Promise<void>;
  waitMs?: number;
}) {
  let h!: Harness;
  const ctx = (): Ctx => ({ slotDir: path.join(h.rt.slots.root, 'slot-0'), hostDir: h.dir });
  const file = (n: number) => `${o.dir ? `${o.dir}/` : ''}leftover${n}.cjs`;
  const server = await startModelServer((req) => {
    const n = gapNumber(req);
    return {
      content: JSON.stringify({
        summary: `cycle ${n}`,
        files: [{ path: file(n), is_new: true, content: n === 0 ? o.plant(ctx()) : o.check(ctx()) }],
      }),
    };
  });
  const repo = await repoWithGaps(['Gap 0 plants', 'Gap 1 looks']);
  h = await createHarness({
    repo,
    env: { PRBOT_TEST_KEY: 'k' },
    config: {
      models: {
        providers: { loop: { kind: 'openai', baseUrl: server.baseUrl, keyEnv: 'PRBOT_TEST_KEY' } },
        propose: ['loop/m'],
      },
      tests: {
        commands: [
          ['sh', '-c', `for f in ${file(0)} ${file(1)}; do [ -f "$f" ] || continue; node "$f" || exit 1; done`],
        ],
        timeoutMs: 60_000,
        sandbox: 'bwrap',
      },
      queues: { test: { concurrency: 1, attempts: 1 } },
      forge: { kind: 'local', maxOpen: 100, maxPerHour: 100 },
    },
  });
  open.push({ h, server });
  await o.before?.(ctx());
  const workers = startWorkers(h.rt, defaultPolicy, { queues: ['propose', 'apply', 'test', 'pr', 'events'] });
  try {
    await h.rt.mirror.sync();
    const base = await h.rt.mirror.resolve('main');
    const key = jobKeyFrom(h.rt.env, h.cfg.jobs.keyEnv);
    const records: CycleRecord[] = [];
    for (const [i, text] of ['Gap 0 plants', 'Gap 1 looks'].entries()) {
      const job: ProposeJob = {
        cycleId: newCycleId(),
        gap: { id: gapId(text), text, line: 3 + i },
        baseCommit: base,
        createdAt: Date.now(),
        dryRun: true,
        notes: [],
      };
      await h.rt.queues.propose.add('propose', signJob('propose', job, key), {
        jobId: stageJobId(job.cycleId, 'propose'),
      });
      records.push((await waitForOutcomes(h.rt, [job.cycleId], o.waitMs ?? 90_000))[0]!);
    }
    return { records, ctx: ctx() };
  } finally {
    await workers.close(2000);
  }
}

const NODE = `const fs = require('fs'), os = require('os'), path = require('path'), cp = require('child_process');\n`;

/** Cycle 1's check: its own file is byte for byte what was committed, and it ends 0. */
const SELF_CHECK = `${NODE}const me = fs.readFileSync(__filename);
if (me.includes(13)) { console.log('CR in my own file: checked out through a planted .gitattributes'); process.exit(1); }
console.log('cycle 1 clean');`;

describe('root at the next cycle never reads, runs or follows what the tests left', () => {
  it("a FIFO named .gitattributes (top and in a tracked directory) does not hang root's checkout", async () => {
    // git opens .gitattributes of every directory it writes into (checkout) or hashes in
    // (checkin); open(2) of a FIFO blocks until a writer comes: root's git, the slot and the
    // job would hang for ever.
    const plant = () => `${NODE}
cp.execFileSync('mkfifo', ['.gitattributes']);
cp.execFileSync('mkfifo', [path.join('pkg', '.gitattributes')]);
// A tracked file changed in place, same size: git must hash it, reading attributes on the way.
fs.writeFileSync('README.md', fs.readFileSync('README.md', 'utf8').replace(/[a-z]/, 'Q'));
console.log('fifos planted');`;
    const { records } = await twoCycles({ plant, check: () => SELF_CHECK, dir: 'pkg', waitMs: 60_000 });
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[0]!.tests[0]!.tail).toContain('fifos planted');
    expect(records[1], JSON.stringify(records[1])).toMatchObject({ outcome: 'ok' });
    expect(records[1]!.tests[0]!.tail).toContain('cycle 1 clean');
  });

  it("a .gitattributes written by the tests is not configuration for root's checkout, and picks no filter program", async () => {
    // `eol=crlf` proves root's git took the tests' file as its configuration. `filter=lfs` asks
    // for a program: the operator's global git config defines one (as `git lfs install` does);
    // here it leaves a marker when root runs it.
    const marker = path.join(tmpdir(), `prbot-filter-ran-${Math.random().toString(36).slice(2)}`);
    const globalConfig = path.join(tmpdir(), `prbot-global-${Math.random().toString(36).slice(2)}.gitconfig`);
    await writeFile(globalConfig, `[filter "lfs"]\n\tsmudge = sh -c 'touch ${marker} && cat'\n\tclean = cat\n`);
    const saved = process.env.GIT_CONFIG_GLOBAL;
    process.env.GIT_CONFIG_GLOBAL = globalConfig;
    try {
      const plant = () => `${NODE}
fs.writeFileSync('.gitattributes', '* text eol=crlf filter=lfs\\n');
fs.writeFileSync(path.join('pkg', '.gitattributes'), '* text eol=crlf filter=lfs\\n');
console.log('attributes planted');`;
      const { records } = await twoCycles({ plant, check: () => SELF_CHECK, dir: 'pkg' });
      expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
      expect(existsSync(marker), "root ran the filter program the tests' attributes chose").toBe(false);
      expect(records[1]!.tests[0]?.tail, JSON.stringify(records[1])).toContain('cycle 1 clean');
      expect(records[1]).toMatchObject({ outcome: 'ok' });
    } finally {
      if (saved === undefined) delete process.env.GIT_CONFIG_GLOBAL;
      else process.env.GIT_CONFIG_GLOBAL = saved;
      await rm(marker, { force: true });
      await rm(globalConfig, { force: true });
    }
  });

  it('a directory tree deeper than PATH_MAX in the work tree, $HOME and /tmp does not break the slot', async () => {
    // Made with relative mkdir/chdir; removing it by full path fails with ENAMETOOLONG.
    const plant = () => `${NODE}
const top = process.cwd();
for (const base of [top, os.homedir(), os.tmpdir()]) {
  process.chdir(base);
  for (let i = 0; i < 2100; i++) { fs.mkdirSync('dd'); process.chdir('dd'); }
  fs.writeFileSync('leaf', 'x');
}
process.chdir(top);
console.log('deep trees planted');`;
    const { records } = await twoCycles({ plant, check: () => SELF_CHECK });
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[0]!.tests[0]!.tail).toContain('deep trees planted');
    expect(records[1], JSON.stringify(records[1])).toMatchObject({ outcome: 'ok' });
    expect(records[1]!.tests[0]!.tail).toContain('cycle 1 clean');
  });

  it('modes taken away by the tests (work tree, directories, tracked files) are given back to the next run', async () => {
    // Root is not stopped by modes (CAP_DAC_OVERRIDE), but the next run's uid is: git restores
    // a tracked file's content, not its read bits, and no directory's mode.
    const plant = () => `${NODE}
fs.chmodSync('README.md', 0o000);
fs.chmodSync('src', 0o500);
fs.chmodSync('pkg', 0o500);
fs.mkdirSync('node_modules'); fs.chmodSync('node_modules', 0o500); // a cache dir: kept for the next run
// Directories nobody may enter, in $HOME and /tmp: root empties both for the next cycle.
for (const base of [os.homedir(), os.tmpdir()]) { const d = path.join(base, 'locked'); fs.mkdirSync(d); fs.writeFileSync(path.join(d, 'f'), 'x'); fs.chmodSync(d, 0); }
let immutable; try { cp.execFileSync('chattr', ['+i', 'README.md'], { stdio: 'pipe' }); immutable = 'set'; } catch (e) { immutable = 'refused'; }
fs.chmodSync('package.json', 0o666); // world-writable on the host
fs.mkdirSync('open'); fs.chmodSync('open', 0o777);
fs.chmodSync('.', 0o500);
console.log('modes taken, chattr +i ' + immutable);`;
    const check = () => `${NODE}
const r = {};
try { fs.readFileSync('README.md'); r.read = 'ok'; } catch (e) { r.read = e.code; }
for (const d of ['.', 'src', 'pkg', 'node_modules']) { try { fs.writeFileSync(path.join(d, 'out.txt'), 'x'); r[d] = 'ok'; } catch (e) { r[d] = e.code; } }
console.log('modes ' + JSON.stringify(r));
process.exit(Object.values(r).every((v) => v === 'ok') ? 0 : 1);`;
    const { records, ctx } = await twoCycles({ plant, check, dir: 'pkg' });
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[0]!.tests[0]!.tail).toContain('modes taken, chattr +i refused');
    // Nothing in the next cycle's tree is writable by other local users.
    expect((statSync(path.join(ctx.slotDir, 'package.json')).mode & 0o022).toString(8)).toBe('0');
    expect((statSync(ctx.slotDir).mode & 0o022).toString(8)).toBe('0');
    expect(records[1]!.tests[0]?.tail, JSON.stringify(records[1])).toContain(
      'modes {"read":"ok",".":"ok","src":"ok","pkg":"ok","node_modules":"ok"}',
    );
    expect(records[1]).toMatchObject({ outcome: 'ok' });
  });

  it('symlinks, FIFOs, setuid files and daemons left behind: nothing outside changes, nothing outlives the run', async () => {
    const canary = (c: Ctx) => path.join(c.hostDir, 'canary');
    const stamp = `prbot-daemon-${Math.random().toString(36).slice(2)}`;
    const plant = (c: Ctx) => `${NODE}
const canary = ${JSON.stringify(canary(c))};
const r = {};
// Symlinks to root's files and directories: root's chown -R, rm and checkout must not follow them.
// node_modules is a cache directory: it is kept for the next cycle, links and all.
fs.mkdirSync('node_modules');
for (const base of ['.', 'node_modules', os.homedir(), os.tmpdir()]) {
  fs.symlinkSync(canary, path.join(base, 'link-dir'));
  fs.symlinkSync(path.join(canary, 'keep.txt'), path.join(base, 'link-file'));
  fs.symlinkSync('/proc/self/fd/0', path.join(base, 'link-stdin'));
  cp.execFileSync('mkfifo', [path.join(base, 'fifo')]);
}
// The tracked directory the next checkout writes into (pkg/) becomes a link to root's directory.
fs.renameSync('pkg', 'pkg-moved');
fs.symlinkSync(canary, 'pkg');
// A hard link to a file outside the work tree (another mount): must be refused.
try { fs.linkSync('/etc/hostname', 'hard'); r.hard = 'linked'; } catch (e) { r.hard = e.code; }
// Names that read as options or break lines, and a 1 TB sparse file.
for (const n of ['-rf', '--no-preserve-root', 'new\\nline', ' ']) fs.writeFileSync(n, 'x');
fs.closeSync(fs.openSync('sparse', 'w')); fs.truncateSync('sparse', 2 ** 40);
// setuid/setgid files of the run's uid, for a later exec.
fs.copyFileSync('/bin/sh', 'suid-sh'); fs.chmodSync('suid-sh', 0o6755);
// A daemon: double fork, own session, and one more in a nested user+pid namespace when allowed;
// each would write into the work tree for a minute if it survived the command.
const loop = 'for i in $(seq 300); do echo x > /prbot/work/${stamp}-$$ 2>/dev/null; sleep 0.2; done';
cp.spawn('sh', ['-c', '(setsid sh -c "' + loop + '" &) &'], { stdio: 'ignore', detached: true }).unref();
try { cp.spawn('unshare', ['--user', '--pid', '--fork', 'sh', '-c', loop], { stdio: 'ignore', detached: true }).unref(); } catch {}
r.mode = (fs.statSync('suid-sh').mode & 0o7777).toString(8);
console.log('planted ' + JSON.stringify(r));
setTimeout(() => process.exit(0), 500);`;
    const { records, ctx } = await twoCycles({
      plant,
      check: () => SELF_CHECK,
      dir: 'pkg',
      before: async (c) => {
        await mkdir(canary(c), { mode: 0o755 });
        await writeFile(path.join(canary(c), 'keep.txt'), "root's\n", { mode: 0o600 });
      },
    });
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[0]!.tests[0]!.tail).toMatch(/planted \{"hard":"(EXDEV|EPERM)","mode":"6755"\}/);
    expect(records[1], JSON.stringify(records[1])).toMatchObject({ outcome: 'ok' });
    expect(records[1]!.tests[0]!.tail).toContain('cycle 1 clean');
    // Root's directory: same single file, same owner and mode; nothing written or deleted through a link.
    expect(readdirSync(canary(ctx))).toEqual(['keep.txt']);
    const keep = statSync(path.join(canary(ctx), 'keep.txt'));
    expect({ uid: keep.uid, mode: (keep.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: '600' });
    expect(await readFile(path.join(canary(ctx), 'keep.txt'), 'utf8')).toBe("root's\n");
    expect(statSync(canary(ctx)).uid).toBe(0);
    // No daemon of cycle 0 is alive, and none wrote after its command ended.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await processesWith(stamp)).toEqual([]);
    expect(readdirSync(ctx.slotDir).filter((f) => f.startsWith(stamp))).toEqual([]);
    // What cycle 0 left in the work tree is gone, and no setuid/setgid file remains there.
    expect(
      readdirSync(ctx.slotDir).filter((f) =>
        [
          'link-dir',
          'link-file',
          'link-stdin',
          'fifo',
          'suid-sh',
          'pkg-moved',
          '-rf',
          '--no-preserve-root',
          'new\nline',
          ' ',
          'sparse',
        ].includes(f),
      ),
    ).toEqual([]);
    expect(statSync(path.join(ctx.slotDir, 'pkg')).isDirectory()).toBe(true);
    expect(existsSync(path.join(ctx.slotDir, 'pkg', 'leftover1.cjs'))).toBe(true);
  });
});

describe('the uid locks in a /tmp the tests share (tests.sandbox: off)', () => {
  it("a lock directory planted by test code, with links to root's files, is refused; nothing is truncated", async () => {
    // Without the sandbox the tests share the worker's /tmp, where the uid locks live
    // (prbot-test-uids). Test code that gets there first (a fresh machine, or after a tmp
    // cleaner removed it) owns the directory, and a lock file that is a link sends root's
    // open + ftruncate + pid write into any file.
    const { dirs } = await attack('off', `${PRELUDE}done({});`);
    const victim = path.join(path.dirname(dirs.work), 'victim');
    await writeFile(victim, "root's file\n", { mode: 0o644 });
    const lockDir = path.join(dirs.tmp, 'prbot-test-uids');
    const plant = `${PRELUDE}
const fs = require('fs');
fs.mkdirSync(${JSON.stringify(lockDir)}, { mode: 0o777 });
for (let uid = 61000; uid < 65000; uid++) fs.symlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(lockDir)} + '/' + uid + '.lock');
done({ planted: fs.readdirSync(${JSON.stringify(lockDir)}).length });`;
    expect((await attack('off', plant, { dirs })).out).toMatchObject({ planted: 4000 });
    let refused: unknown = null;
    const user = await acquireTestUser('auto', undefined, lockDir).catch((err: unknown) => {
      refused = err;
      return null;
    });
    await user?.release();
    expect(await readFile(victim, 'utf8')).toBe("root's file\n");
    expect(String(refused)).toMatch(/not root's own|symbolic link|ELOOP/);
  });
  it('positive control: with the ownership check and O_NOFOLLOW both off, root truncates the linked file and writes its pid into it', async () => {
    const { dirs } = await attack('off', `${PRELUDE}done({});`);
    const victim = path.join(path.dirname(dirs.work), 'victim');
    await writeFile(victim, "root's file\n", { mode: 0o644 });
    const lockDir = path.join(dirs.tmp, 'prbot-test-uids');
    const plant = `${PRELUDE}
const fs = require('fs');
fs.mkdirSync(${JSON.stringify(lockDir)}, { mode: 0o777 });
for (let uid = 61000; uid < 65000; uid++) fs.symlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(lockDir)} + '/' + uid + '.lock');
done({ planted: fs.readdirSync(${JSON.stringify(lockDir)}).length });`;
    expect((await attack('off', plant, { dirs })).out).toMatchObject({ planted: 4000 });
    const take = async () => {
      const user = await acquireTestUser('auto', undefined, lockDir).catch((err: unknown) => String(err));
      if (typeof user !== 'string') await user?.release();
      return typeof user === 'string' ? user : 'taken';
    };
    // Each layer alone still refuses: the ownership check names the directory, O_NOFOLLOW the link.
    expect(await withDefenceOff(['lockFileNoFollow'], take)).toMatch(/not root's own/);
    expect(await withDefenceOff(['lockDirOwnership'], take)).toMatch(/ELOOP/);
    expect(await readFile(victim, 'utf8')).toBe("root's file\n");
    expect(await withDefenceOff(['lockDirOwnership', 'lockFileNoFollow'], take)).toBe('taken');
    expect(await readFile(victim, 'utf8')).toBe(`${process.pid}\n`);
  });
});

/**
 * Positive controls: the same attacks with ONE defence switched off (sandboxDefences, in this
 * process only: the worker runs in it) succeed, so the tests above can fail.
 */
async function withDefenceOff<T>(names: (keyof typeof sandboxDefences)[], fn: () => Promise<T>): Promise<T> {
  for (const n of names) sandboxDefences[n] = false;
  try {
    return await fn();
  } finally {
    for (const n of names) sandboxDefences[n] = true;
  }
}

describe('positive controls: each defence of root at the next cycle switched off', () => {
  it("without the scrub, a .gitattributes the tests wrote is root's configuration: the next cycle's file is checked out CRLF", async () => {
    const plant = () => `${NODE}
fs.writeFileSync('.gitattributes', '* text eol=crlf\\n');
fs.writeFileSync(path.join('pkg', '.gitattributes'), '* text eol=crlf\\n');
console.log('attributes planted');`;
    const { records } = await withDefenceOff(['scrubBeforeGit'], () =>
      twoCycles({ plant, check: () => SELF_CHECK, dir: 'pkg' }),
    );
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[1], JSON.stringify(records[1])).toMatchObject({ outcome: 'tests_failed' });
    expect(records[1]!.tests[0]!.tail).toContain('CR in my own file');
  });

  it('without the modes given back, the next cycle fails on EACCES and the tree stays world-writable', async () => {
    const plant = () => `${NODE}
fs.chmodSync('README.md', 0o000);
fs.chmodSync('src', 0o500);
fs.chmodSync('package.json', 0o666);
console.log('modes taken');`;
    const check = () => `${NODE}
const r = {};
try { fs.readFileSync('README.md'); r.read = 'ok'; } catch (e) { r.read = e.code; }
try { fs.writeFileSync(path.join('src', 'out.txt'), 'x'); r.src = 'ok'; } catch (e) { r.src = e.code; }
console.log('modes ' + JSON.stringify(r));
process.exit(Object.values(r).every((v) => v === 'ok') ? 0 : 1);`;
    const { records, ctx } = await withDefenceOff(['modesGivenBack'], () => twoCycles({ plant, check, dir: 'pkg' }));
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[1], JSON.stringify(records[1])).toMatchObject({ outcome: 'tests_failed' });
    expect(records[1]!.tests[0]!.tail).toContain('modes {"read":"EACCES","src":"EACCES"}');
    expect((statSync(path.join(ctx.slotDir, 'package.json')).mode & 0o777).toString(8)).toBe('666');
  });

  it("with chown -R -L instead of its default -P, a link in a cache dir hands root's directory to the test uid", async () => {
    const canary = (c: Ctx) => path.join(c.hostDir, 'canary');
    const plant = (c: Ctx) => `${NODE}
fs.mkdirSync('node_modules');
fs.symlinkSync(${JSON.stringify(canary(c))}, path.join('node_modules', 'link-dir'));
console.log('link planted');`;
    const { records, ctx } = await withDefenceOff(['chownFollowsNoLink'], () =>
      twoCycles({
        plant,
        check: () => SELF_CHECK,
        dir: 'pkg',
        before: async (c) => {
          await mkdir(canary(c), { mode: 0o755 });
          await writeFile(path.join(canary(c), 'keep.txt'), "root's\n", { mode: 0o600 });
        },
      }),
    );
    expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
    expect(records[1], JSON.stringify(records[1])).toMatchObject({ outcome: 'ok' });
    const owners = [statSync(canary(ctx)).uid, statSync(path.join(canary(ctx), 'keep.txt')).uid];
    expect(
      owners.every((uid) => uid >= 61000 && uid < 65000),
      `owners ${owners.join(',')}`,
    ).toBe(true);
  });

  it('without the rm -rf fallback for deep trees, a tree deeper than PATH_MAX breaks the next cycle on the slot', async () => {
    const plant = () => `${NODE}
const top = process.cwd();
for (const base of [top, os.homedir(), os.tmpdir()]) {
  process.chdir(base);
  for (let i = 0; i < 2100; i++) { fs.mkdirSync('dd'); process.chdir('dd'); }
  fs.writeFileSync('leaf', 'x');
}
process.chdir(top);
console.log('deep trees planted');`;
    let host = '';
    try {
      const { records } = await withDefenceOff(['deepTreeRemoval'], () =>
        twoCycles({ plant, check: () => SELF_CHECK, before: async (c) => void (host = c.hostDir) }),
      );
      expect(records[0], JSON.stringify(records[0])).toMatchObject({ outcome: 'ok' });
      expect(records[1]!.outcome, JSON.stringify(records[1])).not.toBe('ok');
      expect(records[1]!.reason).toMatch(/ENAMETOOLONG/);
    } finally {
      // The deep trees node's fs.rm cannot remove (the harness's cleanup uses it, later): coreutils
      // walks with openat. Only the trees: the harness's runtime may still write beside them.
      if (host)
        await execa('find', [
          host,
          '-maxdepth',
          '6',
          '-name',
          'dd',
          '-type',
          'd',
          '-prune',
          '-exec',
          'rm',
          '-rf',
          '{}',
          '+',
        ]);
    }
  });

  it('without the pid namespace and the uid sweep, a daemon the tests started outlives the command and keeps writing', async () => {
    const stamp = `prbot-daemon-${Math.random().toString(36).slice(2)}`;
    const daemon = `${PRELUDE}
const cp = require('child_process'), fs = require('fs');
// A session of its own (out of the command's process group), counting in the work tree for 20 s.
fs.writeFileSync('loop.sh', 'for i in $(seq 100); do echo $i > /prbot/work/${stamp}; sleep 0.2; done\\n');
cp.spawn('setsid', ['sh', 'loop.sh', '${stamp}'], { stdio: 'ignore', detached: true }).unref();
setTimeout(() => done({ started: true }), 300);`;
    const run = async () => {
      const a = await attack('bwrap', daemon);
      await new Promise((r) => setTimeout(r, 1500));
      const alive = await processesWith(stamp);
      const written = existsSync(path.join(a.dirs.work, stamp))
        ? Number(await readFile(path.join(a.dirs.work, stamp), 'utf8'))
        : 0;
      for (const pid of alive) process.kill(Number(pid), 'SIGKILL'); // ours, by pid
      return { started: a.out.started, alive: alive.length, written };
    };
    // Each layer alone still ends the daemon; with both off it lives on past the command.
    expect(await withDefenceOff(['pidNamespace'], run)).toMatchObject({ started: true, alive: 0 });
    expect(await withDefenceOff(['uidSweep'], run)).toMatchObject({ started: true, alive: 0 });
    const off = await withDefenceOff(['pidNamespace', 'uidSweep'], run);
    expect(off.started).toBe(true);
    expect(off.alive).toBeGreaterThan(0);
    expect(off.written, 'the daemon wrote after the command had ended').toBeGreaterThan(5);
  });
});

/** Live processes whose command line mentions `tag`. */
async function processesWith(tag: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const out: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    if (/^State:\s+Z/m.test(status)) continue;
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(tag)) out.push(pid);
  }
  return out;
}
