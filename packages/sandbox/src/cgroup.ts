import { access, constants, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A cgroup v2 directory this worker may divide among its runs (a container's own cgroup, a systemd
 * unit with Delegate=yes), with the controllers switched on for its children.
 */
export interface CgroupParent {
  dir: string;
  controllers: string[];
}

/** The answer of delegatedCgroup: a parent to use, or why there is none (said once at start). */
export type CgroupProbe = { ok: true; parent: CgroupParent } | { ok: false; why: string };

/** cgroup v2's mount point, from mountinfo (pure v2 at /sys/fs/cgroup, hybrid at …/unified). */
export function cgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.split(' ')[0] === 'cgroup2') return pre!.split(' ')[4] ?? null;
  }
  return null;
}

/**
 * Finds the cgroup v2 subtree this process may delegate to its runs, and turns on `want`
 * (memory, pids) for its children. cgroup v2's "no internal processes" rule: a cgroup whose
 * controllers reach its children holds no processes itself, so when switching them on is refused
 * (EBUSY), the processes of our cgroup move to a leaf `prbot-worker` first, as a container's init
 * does. Anything missing (v1 or hybrid host with the controller bound to v1, a read-only
 * /sys/fs/cgroup, no delegation) is an answer, not an error: the watchdog takes over.
 */
export async function delegatedCgroup(
  want: string[] = ['memory', 'pids'],
  o: { mountinfo?: string; selfCgroup?: string } = {},
): Promise<CgroupProbe> {
  const mountinfo = o.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
  const mount = cgroup2Mount(mountinfo);
  if (!mount) return { ok: false, why: 'no cgroup v2 file system is mounted' };
  const self = o.selfCgroup ?? (await readFile('/proc/self/cgroup', 'utf8').catch(() => ''));
  const rel = /^0::(\/.*)$/m.exec(self)?.[1];
  if (rel === undefined) return { ok: false, why: 'this process is in no cgroup v2 group' };
  const dir = path.join(mount, rel);
  const available = (await readFile(path.join(dir, 'cgroup.controllers'), 'utf8').catch(() => ''))
    .split(/\s+/)
    .filter(Boolean);
  const missing = want.filter((c) => !available.includes(c));
  if (missing.length)
    return {
      ok: false,
      why: `cgroup v2 at ${dir} offers no ${missing.join(', ')} controller (available: ${available.join(' ') || 'none'}; on a hybrid host the controller is bound to cgroup v1)`,
    };
  try {
    await access(path.join(dir, 'cgroup.subtree_control'), constants.W_OK);
    await access(dir, constants.W_OK);
  } catch {
    return {
      ok: false,
      why: `cgroup v2 at ${dir} is not writable by this process (not delegated: run with systemd Delegate=yes, or in a container with a cgroup namespace of its own)`,
    };
  }
  try {
    await enable(dir, want);
  } catch (err) {
    return { ok: false, why: `cannot enable ${want.join(', ')} for children of ${dir}: ${(err as Error).message}` };
  }
  return { ok: true, parent: { dir, controllers: want } };
}

async function enable(dir: string, want: string[]): Promise<void> {
  const control = path.join(dir, 'cgroup.subtree_control');
  const on = (await readFile(control, 'utf8')).split(/\s+/);
  const todo = want.filter((c) => !on.includes(c));
  if (!todo.length) return;
  try {
    await writeFile(control, todo.map((c) => `+${c}`).join(' '));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    const leaf = path.join(dir, 'prbot-worker');
    await mkdir(leaf, { recursive: true });
    for (const pid of (await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean)) {
      await writeFile(path.join(leaf, 'cgroup.procs'), pid).catch(() => undefined); // a process that ended meanwhile
    }
    await writeFile(control, todo.map((c) => `+${c}`).join(' '));
  }
}

/** One run's cgroup: its processes, their memory and thread limits, and what the kernel counted. */
export class RunCgroup {
  private constructor(readonly dir: string) {}

  /** Makes the run's cgroup with memory.max (no swap to escape into) and pids.max. */
  static async create(
    parent: CgroupParent,
    name: string,
    limits: { memoryBytes?: number; processes?: number },
  ): Promise<RunCgroup> {
    const dir = path.join(parent.dir, name);
    await mkdir(dir);
    const cg = new RunCgroup(dir);
    if (limits.memoryBytes !== undefined && parent.controllers.includes('memory')) {
      await writeFile(path.join(dir, 'memory.max'), String(limits.memoryBytes));
      await writeFile(path.join(dir, 'memory.swap.max'), '0').catch(() => undefined); // absent without swap accounting
    }
    if (limits.processes !== undefined && parent.controllers.includes('pids'))
      await writeFile(path.join(dir, 'pids.max'), String(limits.processes));
    return cg;
  }

  /** Moves processes in; their children are born inside. */
  async join(pids: number[]): Promise<void> {
    for (const pid of pids) await writeFile(path.join(this.dir, 'cgroup.procs'), String(pid));
  }

  async pids(): Promise<number[]> {
    return (await readFile(path.join(this.dir, 'cgroup.procs'), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map(Number);
  }

  /** What the kernel counted: OOM kills (memory.events) and refused forks (pids.events). */
  async events(): Promise<{ oomKills: number; pidsMax: number; peakBytes: number | null }> {
    const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const mem = await readFile(path.join(this.dir, 'memory.events'), 'utf8').catch(() => '');
    const pids = await readFile(path.join(this.dir, 'pids.events'), 'utf8').catch(() => '');
    const peak = await readFile(path.join(this.dir, 'memory.peak'), 'utf8').catch(() => '');
    return {
      oomKills: field(mem, 'oom_kill'),
      pidsMax: field(pids, 'max'),
      peakBytes: peak ? Number(peak.trim()) : null,
    };
  }

  /** Kills every process inside at once (cgroup.kill, Linux 5.14+), then waits until it is empty and removes it. */
  async destroy(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const left = await this.pids();
      if (!left.length) break;
      await writeFile(path.join(this.dir, 'cgroup.kill'), '1').catch(() => {
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      });
      await new Promise((r) => setTimeout(r, 20));
    }
    await rmdir(this.dir).catch(() => undefined);
  }
}
