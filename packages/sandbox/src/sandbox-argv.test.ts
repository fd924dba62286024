import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxArgv, type SandboxSpec } from './sandbox.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-argv-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = (toolDirs: string[]): SandboxSpec => ({
  user: { uid: 61000, gid: 61000 },
  workTree: dir,
  home: dir,
  tmp: dir,
  network: false,
  limits: { processes: 512 },
  toolDirs,
  hide: [],
});

describe('tool directories in the sandbox', () => {
  it('a tool directory under /tmp is mounted after the run’s own /tmp, so it is not hidden by it', () => {
    const argv = sandboxArgv(spec([dir]), ['true']);
    const tmpBind = argv.findIndex((a, i) => a === '/tmp' && argv[i - 2] === '--bind');
    const toolBind = argv.findIndex((a, i) => a === dir && argv[i - 1] === dir && argv[i - 2] === '--ro-bind');
    expect(tmpBind).toBeGreaterThan(0);
    expect(toolBind).toBeGreaterThan(tmpBind);
  });

  it('a tool directory that would lie over the work tree, home, /tmp, /dev or /proc is not mounted', () => {
    for (const bad of ['/', '/tmp', '/prbot', '/prbot/work', '/prbot/cache', '/dev', '/proc']) {
      const argv = sandboxArgv(spec([bad]), ['true']);
      const mounted = argv.some((a, i) => argv[i - 1] === '--ro-bind' && a === bad && argv[i + 1] === bad);
      expect({ bad, mounted }).toEqual({ bad, mounted: false });
    }
  });
});

describe('the package cache in the sandbox', () => {
  it('is bound read-write for setup and read-only for tests, at /prbot/cache; absent when not given', () => {
    const mount = (writable: boolean | null) => {
      const argv = sandboxArgv({ ...spec([]), cache: writable === null ? null : { dir, writable } }, ['true']);
      const i = argv.findIndex((a, k) => a === '/prbot/cache' && argv[k - 1] === dir);
      return i < 0 ? null : argv[i - 2];
    };
    expect(mount(true)).toBe('--bind');
    expect(mount(false)).toBe('--ro-bind');
    expect(mount(null)).toBeNull();
  });
});
