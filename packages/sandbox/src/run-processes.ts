import { open, readdir } from 'node:fs/promises';

/** One process of a run as /proc shows it. */
export interface RunProcess {
  pid: number;
  ppid: number;
  /** Resident memory (VmRSS), in bytes. */
  rssBytes: number;
  /** Threads: RLIMIT_NPROC and pids.max count these, not processes. */
  threads: number;
}

/** Which processes belong to a run: the command's process tree, and every process of its uid when that uid is the run's alone. */
export interface RunScope {
  rootPid: number;
  uid?: number;
}

/**
 * The run's processes now: every descendant of `rootPid` (through PPid, so a child that made a
 * session or process group of its own is still found) and, with `uid`, every process of that
 * uid (a double-forked daemon re-parented to init). Reads /proc/<pid>/status, 16 at a time into
 * reused 4 KB buffers (VmRSS sits past the first KB).
 */
export async function runProcesses(scope: RunScope): Promise<RunProcess[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e));
  const all: (RunProcess & { uid: number })[] = [];
  const bufs = Array.from({ length: 16 }, () => Buffer.allocUnsafe(4096));
  for (let i = 0; i < pids.length; i += bufs.length) {
    await Promise.all(
      pids.slice(i, i + bufs.length).map(async (pid, j) => {
        const s = await readHead(`/proc/${pid}/status`, bufs[j]!);
        if (!s || /^State:\s+Z/m.test(s)) return;
        const num = (re: RegExp) => Number(re.exec(s)?.[1] ?? 0);
        all.push({ pid: Number(pid), ppid: num(/^PPid:\s+(\d+)/m), uid: num(/^Uid:\s+\d+\s+(\d+)/m), rssBytes: num(/^VmRSS:\s+(\d+) kB/m) * 1024, threads: num(/^Threads:\s+(\d+)/m) || 1 });
      }),
    );
  }
  const children = new Map<number, number[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const mine = new Set<number>();
  const stack = [scope.rootPid];
  while (stack.length) {
    const pid = stack.pop()!;
    if (mine.has(pid)) continue;
    mine.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return all.filter((p) => mine.has(p.pid) || (scope.uid !== undefined && p.uid === scope.uid));
}

async function readHead(file: string, buf: Buffer): Promise<string> {
  const fh = await open(file, 'r').catch(() => null);
  if (!fh) return '';
  try {
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.toString('latin1', 0, bytesRead);
  } catch {
    return '';
  } finally {
    await fh.close().catch(() => undefined);
  }
}
