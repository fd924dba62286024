import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroup2Mount, delegatedCgroup } from './cgroup.ts';

// The probe's decisions over a cgroup tree laid out in a temp dir (the real one is tested in
// test/sandbox/memory-limit.test.ts as far as this host allows).
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function tree(controllers: string, subtree = '') {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-cg-'));
  await mkdir(path.join(dir, 'svc'));
  await writeFile(path.join(dir, 'svc', 'cgroup.controllers'), controllers);
  await writeFile(path.join(dir, 'svc', 'cgroup.subtree_control'), subtree);
  return { mountinfo: `30 25 0:26 / ${dir} rw,nosuid - cgroup2 cgroup2 rw\n`, selfCgroup: '0::/svc\n' };
}

describe('delegatedCgroup', () => {
  it('finds the cgroup2 mount in mountinfo (pure v2 or hybrid)', () => {
    expect(
      cgroup2Mount(
        '25 24 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n31 24 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n',
      ),
    ).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Mount('25 24 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n')).toBeNull();
  });

  it('v1 only: no cgroup v2', async () => {
    expect(
      await delegatedCgroup(['memory'], {
        mountinfo: '25 24 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n',
        selfCgroup: '4:memory:/x\n',
      }),
    ).toEqual({ ok: false, why: 'no cgroup v2 file system is mounted' });
  });

  it('hybrid: the memory controller is not offered in v2, and the answer names what is', async () => {
    const p = await delegatedCgroup(['memory', 'pids'], await tree('hugetlb'));
    expect(p).toMatchObject({
      ok: false,
      why: expect.stringMatching(/offers no memory, pids controller \(available: hugetlb; on a hybrid host/),
    });
  });

  it('delegated: the controllers are switched on for the children', async () => {
    const p = await delegatedCgroup(['memory', 'pids'], await tree('cpu memory pids'));
    expect(p).toEqual({ ok: true, parent: { dir: path.join(dir!, 'svc'), controllers: ['memory', 'pids'] } });
    expect(await readFile(path.join(dir!, 'svc', 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids');
  });

  it('already on: nothing is written', async () => {
    const p = await delegatedCgroup(['memory'], await tree('memory pids', 'memory pids'));
    expect(p.ok).toBe(true);
    expect(await readFile(path.join(dir!, 'svc', 'cgroup.subtree_control'), 'utf8')).toBe('memory pids');
  });
});
