import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitDefences, Mirror } from '@prbot/repo';
import { sandboxDefences } from './defences.ts';
import { SlotPool } from './slots.ts';
import { DEMO_REPO, makeUpstream } from '@prbot/test-support';

let dir: string;
let mirror: Mirror;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-slots-'));
  const { bare } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  mirror = new Mirror(path.join(dir, 'work'), bare);
  await mirror.sync();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('SlotPool', () => {
  it('never hands one slot to two concurrent acquires, in one process or two pools', async () => {
    const a = new SlotPool(mirror, path.join(dir, 'work'));
    const b = new SlotPool(mirror, path.join(dir, 'work'));
    const slots = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).acquire()));
    expect(new Set(slots.map((s) => s.index)).size).toBe(16);
    await Promise.all(slots.map((s) => s.release()));
  });

  it('a slot whose holder died is free again; one held by a live process is not', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work2'));
    const { mkdir } = await import('node:fs/promises');
    await mkdir(pool.root, { recursive: true });
    const { execa } = await import('execa');
    // A live holder in another process: flock(1) holds slot-1's lock and says so once it has it.
    const holder = execa('flock', ['-n', path.join(pool.root, 'slot-1.lock'), 'sh', '-c', 'echo held; exec sleep 30'], {
      detached: true,
    });
    await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
    // A holder that died: its lock went with it (the kernel drops a flock when its fd closes).
    await execa('flock', ['-n', path.join(pool.root, 'slot-0.lock'), 'true']);
    const [x, y] = await Promise.all([pool.acquire(), pool.acquire()]);
    expect([x.index, y.index].sort()).toEqual([0, 2]);
    process.kill(-holder.pid!, 'SIGKILL');
    await holder.catch(() => {});
    await Promise.all([x.release(), y.release()]);
  });

  it('ignores and removes a .git that test code put in the work tree; runs no hook of it', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work6'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, []);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(slot.dir, '.git'))).toBe(false);
    expect(existsSync(path.join(slot.gitDir, 'HEAD'))).toBe(true);
    const { mkdir, chmod } = await import('node:fs/promises');
    const evil = path.join(dir, 'evil-git');
    const marker = path.join(dir, 'hook-ran');
    const { execa } = await import('execa');
    await execa('git', ['init', '-q', '--bare', evil]);
    await mkdir(path.join(evil, 'hooks'), { recursive: true });
    await writeFile(
      path.join(evil, 'config'),
      `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\thooksPath = ${evil}/hooks\n\tfsmonitor = ${evil}/hooks/post-checkout\n`,
    );
    await writeFile(path.join(evil, 'hooks', 'post-checkout'), `#!/bin/sh\ntouch ${marker}\n`);
    await chmod(path.join(evil, 'hooks', 'post-checkout'), 0o755);
    await writeFile(path.join(slot.dir, '.git'), `gitdir: ${evil}\n`);
    // Positive control: the planted `.git` is a working attack. git run in the work tree without
    // the explicit --git-dir (and without the removal before it) finds it and runs its hook.
    await mkdir(path.join(evil, 'objects', 'info'), { recursive: true });
    await writeFile(path.join(evil, 'objects', 'info', 'alternates'), `${path.join(mirror.dir, 'objects')}\n`); // the real objects, borrowed
    const control = path.join(dir, 'control-tree');
    await execa('cp', ['-a', slot.dir, control]);
    await execa('git', ['checkout', '--quiet', '--force', '--detach', head], {
      cwd: control,
      env: { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
      reject: false,
    });
    expect(existsSync(marker)).toBe(true);
    await rm(marker);
    await pool.moveTo(slot, head, []);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(path.join(slot.dir, '.git'))).toBe(false);
    await slot.release();
  });

  it("runs no hook and no fsmonitor named by the slot's own git dir; with that one defence off, both run", async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work7'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, []);
    const { existsSync } = await import('node:fs');
    const { mkdir, chmod, appendFile } = await import('node:fs/promises');
    const hookRan = path.join(dir, 'own-hook-ran');
    const monitorRan = path.join(dir, 'own-fsmonitor-ran');
    // What a config written into the git dir (by anyone) would make root's git run.
    await mkdir(path.join(slot.gitDir, 'hooks'), { recursive: true });
    await writeFile(path.join(slot.gitDir, 'hooks', 'post-checkout'), `#!/bin/sh\ntouch ${hookRan}\n`);
    await chmod(path.join(slot.gitDir, 'hooks', 'post-checkout'), 0o755);
    const monitor = path.join(dir, 'fsmonitor.sh');
    await writeFile(monitor, `#!/bin/sh\ntouch ${monitorRan}\nexit 1\n`);
    await chmod(monitor, 0o755);
    await appendFile(path.join(slot.gitDir, 'config'), `[core]\n\tfsmonitor = ${monitor}\n`);
    await writeFile(path.join(slot.dir, 'README.md'), 'changed, so the checkout has work to do');
    await pool.moveTo(slot, head, []);
    expect(existsSync(hookRan)).toBe(false);
    expect(existsSync(monitorRan)).toBe(false);
    // Positive control: the same move with core.hooksPath=/dev/null and core.fsmonitor=false
    // taken out of git's environment (and nothing else changed) runs both.
    const { gitDefences } = await import('@prbot/repo');
    gitDefences.hooksAndFsmonitorOff = false;
    try {
      await writeFile(path.join(slot.dir, 'README.md'), 'changed again');
      await pool.moveTo(slot, head, []);
    } finally {
      gitDefences.hooksAndFsmonitorOff = true;
    }
    expect(existsSync(hookRan)).toBe(true);
    expect(existsSync(monitorRan)).toBe(true);
    await slot.release();
  });

  it('restores a tracked file that test code rewrote with the same size and mtime', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work5'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, []);
    const file = path.join(slot.dir, 'src', 'strings.js');
    const { stat, utimes } = await import('node:fs/promises');
    const before = await readFile(file, 'utf8');
    const st = await stat(file);
    await new Promise((r) => setTimeout(r, 1100)); // ctime moves to a new second
    await writeFile(file, before.replace('capitalize', 'CAPITALIZE'));
    await utimes(file, st.atime, st.mtime);
    await pool.moveTo(slot, head, []);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('moves a kept worktree between commits and keeps cache directories', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work3'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, ['node_modules']);
    await writeFile(path.join(slot.dir, 'stray.txt'), 'x');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.join(slot.dir, 'node_modules'), { recursive: true });
    await writeFile(path.join(slot.dir, 'node_modules', 'cached.txt'), 'warm');
    await writeFile(path.join(slot.dir, 'README.md'), 'edited');
    await pool.moveTo(slot, head, ['node_modules']);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(slot.dir, 'stray.txt'))).toBe(false);
    expect(await readFile(path.join(slot.dir, 'node_modules', 'cached.txt'), 'utf8')).toBe('warm');
    expect(await readFile(path.join(slot.dir, 'README.md'), 'utf8')).not.toBe('edited');
  });

  it('a git that hangs on something the tests left is killed and the slot rebuilt from nothing', async () => {
    // `src` passed as a cache directory: the scrub does not enter it, but git still compares the
    // tracked files in it and so opens src/.gitattributes, a FIFO that never gets a writer.
    const pool = new SlotPool(mirror, path.join(dir, 'work7'), { gitTimeoutMs: 3000 });
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, ['src']);
    const file = path.join(slot.dir, 'src', 'strings.js');
    const before = await readFile(file, 'utf8');
    const { execa } = await import('execa');
    await execa('mkfifo', [path.join(slot.dir, 'src', '.gitattributes')]);
    await new Promise((r) => setTimeout(r, 1100)); // ctime moves to a new second: git must hash the file
    await writeFile(file, before.replace('capitalize', 'CAPITALIZE'));
    await pool.moveTo(slot, head, ['src']);
    expect(await readFile(file, 'utf8')).toBe(before);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(slot.dir, 'src', '.gitattributes'))).toBe(false);
    await slot.release();
  });

  it("a FIFO .gitattributes the tests left: with the scrub, root's checkout moves the slot in place; positive control: with the scrub off (in this process only), root's checkout blocks on it until the git timeout kills it and the slot is rebuilt", async () => {
    // The slot's cache directory survives a checkout in place and is lost to a rebuild: what
    // happened to it says whether root's git finished or hung (killed after gitTimeoutMs).
    const { execa } = await import('execa');
    const { existsSync } = await import('node:fs');
    const { mkdir } = await import('node:fs/promises');
    const head = await mirror.resolve('main');
    const run = async (work: string) => {
      const pool = new SlotPool(mirror, path.join(dir, work), { gitTimeoutMs: 3000 });
      const slot = await pool.acquire();
      await pool.moveTo(slot, head, ['node_modules']);
      await mkdir(path.join(slot.dir, 'node_modules'), { recursive: true });
      await writeFile(path.join(slot.dir, 'node_modules', 'cached.txt'), 'warm');
      const file = path.join(slot.dir, 'src', 'strings.js');
      const before = await readFile(file, 'utf8');
      await execa('mkfifo', [path.join(slot.dir, '.gitattributes')]);
      await execa('mkfifo', [path.join(slot.dir, 'src', '.gitattributes')]);
      await new Promise((r) => setTimeout(r, 1100)); // ctime moves to a new second: git must hash the file
      await writeFile(file, before.replace('capitalize', 'CAPITALIZE'));
      await pool.moveTo(slot, head, ['node_modules']);
      const out = {
        restored: (await readFile(file, 'utf8')) === before,
        cacheKept: existsSync(path.join(slot.dir, 'node_modules', 'cached.txt')),
      };
      await slot.release();
      return out;
    };
    expect(await run('work10')).toEqual({ restored: true, cacheKept: true });
    sandboxDefences.scrubBeforeGit = false;
    let off: { restored: boolean; cacheKept: boolean };
    try {
      off = await run('work11');
    } finally {
      sandboxDefences.scrubBeforeGit = true;
    }
    // The checkout hung on the FIFO; the timeout's kill sent moveTo to the rebuild.
    expect(off).toEqual({ restored: true, cacheKept: false });
  });

  it("a committed .gitattributes naming a filter: root's checkout runs no program of the operator's global config; positive control: with GIT_CONFIG_GLOBAL=/dev/null off (in this process only), it runs it", async () => {
    // The operator's global config defines a filter (as `git lfs install` does); the repository's
    // .gitattributes, which any commit may change, names it for every file.
    const { existsSync } = await import('node:fs');
    const src = path.join(dir, 'filter-src');
    await cp(DEMO_REPO, src, { recursive: true });
    await writeFile(path.join(src, '.gitattributes'), '* filter=probe\n');
    const { bare } = await makeUpstream(src, path.join(dir, 'filter-repo'));
    const m = new Mirror(path.join(dir, 'work12'), bare);
    await m.sync();
    const head = await m.resolve('main');
    const marker = path.join(dir, 'filter-ran');
    const globalConfig = path.join(dir, 'operator.gitconfig');
    await writeFile(globalConfig, `[filter "probe"]\n\tsmudge = sh -c 'touch ${marker} && cat'\n\tclean = cat\n`);
    const saved = process.env.GIT_CONFIG_GLOBAL;
    process.env.GIT_CONFIG_GLOBAL = globalConfig;
    const checkout = async (work: string) => {
      const pool = new SlotPool(m, path.join(dir, work));
      const slot = await pool.acquire();
      await pool.moveTo(slot, head, []);
      const readme = await readFile(path.join(slot.dir, 'README.md'), 'utf8');
      await slot.release();
      return readme;
    };
    try {
      expect(await checkout('work13')).toContain('#');
      expect(existsSync(marker), "root ran the operator's filter program").toBe(false);
      gitDefences.noGlobalConfig = false;
      try {
        await checkout('work14');
      } finally {
        gitDefences.noGlobalConfig = true;
      }
      expect(existsSync(marker), "root ran the operator's filter program").toBe(true);
    } finally {
      if (saved === undefined) delete process.env.GIT_CONFIG_GLOBAL;
      else process.env.GIT_CONFIG_GLOBAL = saved;
    }
  });

  it('scrubs links, FIFOs, sockets and git names from the work tree before git runs, and gives modes back', async () => {
    const pool = new SlotPool(mirror, path.join(dir, 'work8'));
    const slot = await pool.acquire();
    const head = await mirror.resolve('main');
    await pool.moveTo(slot, head, ['node_modules']);
    const { chmod, mkdir, symlink } = await import('node:fs/promises');
    const { execa } = await import('execa');
    const outside = path.join(dir, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'keep'), 'k');
    await mkdir(path.join(slot.dir, 'deep', 'er'), { recursive: true });
    await symlink(outside, path.join(slot.dir, 'deep', 'er', 'link'));
    await execa('mkfifo', [path.join(slot.dir, 'deep', 'fifo')]);
    const { createServer } = await import('node:net');
    const sock = createServer();
    await new Promise<void>((r) => sock.listen(path.join(slot.dir, 'deep', 'sock'), r));
    await writeFile(path.join(slot.dir, 'deep', 'suid'), '#!/bin/sh\n');
    await chmod(path.join(slot.dir, 'deep', 'suid'), 0o4755);
    await chmod(path.join(slot.dir, 'README.md'), 0o000);
    await chmod(path.join(slot.dir, 'deep', 'er'), 0o100);
    await writeFile(path.join(slot.dir, 'deep', '.gitmodules'), '[submodule "x"]\n\tpath = x\n\turl = ../x\n');
    await mkdir(path.join(slot.dir, 'node_modules', '.bin'), { recursive: true });
    await symlink('../pkg/cli.js', path.join(slot.dir, 'node_modules', '.bin', 'cli'));
    const { scrubWorkTree } = await import('./scrub.ts');
    const removed = await scrubWorkTree(slot.dir, ['node_modules']);
    await new Promise((r) => sock.close(r));
    expect(removed).toBe(7); // 4 removed, 3 modes given back
    const { readdir, lstat, stat } = await import('node:fs/promises');
    expect((await readdir(path.join(slot.dir, 'deep'))).sort()).toEqual(['er', 'suid']);
    const mode = async (p: string) => ((await stat(path.join(slot.dir, p))).mode & 0o7777).toString(8);
    expect([await mode('deep/suid'), await mode('README.md'), await mode('deep/er')]).toEqual(['755', '600', '700']);
    expect(await readdir(path.join(slot.dir, 'deep', 'er'))).toEqual([]);
    expect(await readdir(outside)).toEqual(['keep']);
    // A cache directory is not entered: its links stay.
    expect((await lstat(path.join(slot.dir, 'node_modules', '.bin', 'cli'))).isSymbolicLink()).toBe(true);
    await slot.release();
  });

  it('tracked .gitignore, .gitattributes and links the scrub removes are written again by the checkout, as committed', async () => {
    const { cp, mkdir, symlink, readlink, lstat } = await import('node:fs/promises');
    const src = path.join(dir, 'with-git-names');
    await cp(DEMO_REPO, src, { recursive: true });
    await writeFile(path.join(src, '.gitignore'), 'dist/\n');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'sub', '.gitattributes'), '*.bin binary\n');
    await symlink('../README.md', path.join(src, 'sub', 'readme-link'));
    const { bare, checkout } = await makeUpstream(src, path.join(dir, 'repo-git-names'));
    const m = new Mirror(path.join(dir, 'work9'), bare);
    await m.sync();
    const pool = new SlotPool(m, path.join(dir, 'work9'));
    const slot = await pool.acquire();
    const head = await m.resolve('main');
    await pool.moveTo(slot, head, []);
    await pool.moveTo(slot, head, []); // scrubs, then checks out again
    expect(await readFile(path.join(slot.dir, '.gitignore'), 'utf8')).toBe('dist/\n');
    expect(await readFile(path.join(slot.dir, 'sub', '.gitattributes'), 'utf8')).toBe('*.bin binary\n');
    expect((await lstat(path.join(slot.dir, 'sub', 'readme-link'))).isSymbolicLink()).toBe(true);
    expect(await readlink(path.join(slot.dir, 'sub', 'readme-link'))).toBe(
      await readlink(path.join(checkout, 'sub', 'readme-link')),
    );
    await slot.release();
  });
});
