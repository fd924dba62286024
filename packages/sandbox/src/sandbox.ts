import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InfraError } from '@prbot/core';
import { sandboxDefences } from './defences.ts';
import { SANDBOX_CACHE } from './package-cache.ts';
import { removeTree } from './scrub.ts';

/** Where the sandbox shows its writable directories; fixed, so paths in caches never change. */
const SANDBOX_WORK = '/prbot/work';
export const SANDBOX_HOME = '/prbot/home';
export const SANDBOX_TMP = '/tmp';
/** What the in-sandbox shim writes to the status fd once the sandbox is made. */
export const SANDBOX_READY = 'prbot-sandbox-ready';

export interface SandboxLimits {
  processes: number;
  /** RLIMIT_AS per process, in MiB; unset: none (the run's resident memory is held by a cgroup or the watchdog). */
  addressSpaceMb?: number | null;
}

/** One command's sandbox: who runs it, what it may write, whether it has a network. */
export interface SandboxSpec {
  /** The run's own uid (61000-64999); bwrap runs unprivileged as it, so no_new_privs holds. */
  user: { uid: number; gid: number };
  /** Host directories shown read-write at SANDBOX_WORK, SANDBOX_HOME and /tmp. */
  workTree: string;
  home: string;
  tmp: string;
  /** true: share the host's network (tests.network "setup", setup commands only). */
  network: boolean;
  limits: SandboxLimits;
  /** Extra host directories shown read-only at their own path (tools outside /usr). */
  toolDirs: string[];
  /** The machine's package cache, shown at SANDBOX_CACHE: writable for setup commands only. */
  cache?: { dir: string; writable: boolean } | null;
  /** Host paths that must stay invisible even if they sit inside a directory shown read-only. */
  hide: string[];
}

// The system, read-only. Not `--ro-bind / /`: that would show the worker's workdir (mirror,
// slots of other runs, records), its config file, /root and the host's /proc. Only what
// programs need to run: binaries, libraries and /etc (users, resolv.conf, certificates;
// /etc/shadow and the like stay unreadable to an unprivileged uid).
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];

/** The fds the readiness shim uses: it writes SANDBOX_READY to the first, waits for a byte on the second. */
export interface SandboxFds {
  status: number;
  /** When set, the shim waits for one line here before it becomes the command (see runCommand's `gate`). */
  gate?: number;
}

/**
 * The argv that runs `argv` inside bubblewrap, started as the run's uid: bwrap makes a user, pid,
 * network, ipc and uts namespace; `--die-with-parent` and the pid namespace end every process
 * when the command or the worker ends; `--new-session` keeps the command off the worker's
 * terminal. bwrap sets PR_SET_NO_NEW_PRIVS, so setuid binaries inside cannot raise privileges.
 * With `fds`, a /bin/sh shim inside sets the limits (see limitsShim), writes a marker to
 * `fds.status` once the sandbox exists, which tells a sandbox that could not be made from a test
 * that failed, optionally waits on `fds.gate`, and then becomes the command.
 */
export function sandboxArgv(spec: SandboxSpec, argv: string[], fds?: SandboxFds | number): string[] {
  const out = ['bwrap'];
  out.push('--unshare-user', ...(sandboxDefences.pidNamespace ? ['--unshare-pid'] : []));
  out.push('--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try');
  if (!spec.network) out.push('--unshare-net');
  out.push('--die-with-parent', '--new-session', '--hostname', 'prbot-sandbox');
  out.push('--uid', String(spec.user.uid), '--gid', String(spec.user.gid));
  for (const dir of SYSTEM_DIRS) out.push(...systemMount(dir));
  out.push('--dev', '/dev', '--proc', '/proc');
  out.push('--bind', spec.tmp, SANDBOX_TMP, '--bind', spec.home, SANDBOX_HOME, '--bind', spec.workTree, SANDBOX_WORK);
  if (spec.cache) out.push(spec.cache.writable ? '--bind' : '--ro-bind', spec.cache.dir, SANDBOX_CACHE);
  // After /tmp: a tool directory under /tmp (a checkout there, say) would be hidden by the run's
  // own empty /tmp if it were mounted first.
  for (const dir of spec.toolDirs) if (existsSync(dir) && !coversOwnMounts(dir)) out.push(roBind(), dir, dir);
  // A config file or workdir placed under /etc or /opt would show through the system binds.
  for (const h of spec.hide) {
    if (!existsSync(h) || ![...SYSTEM_DIRS, ...spec.toolDirs].some((d) => within(h, d))) continue;
    out.push(...(statSync(h).isDirectory() ? ['--tmpfs', h] : ['--ro-bind', '/dev/null', h]));
  }
  out.push('--chdir', SANDBOX_WORK, '--setenv', 'HOME', SANDBOX_HOME, '--setenv', 'TMPDIR', SANDBOX_TMP);
  const f = typeof fds === 'number' ? { status: fds } : fds;
  // bwrap reports the child's pid (--info-fd, --json-status-fd) before the child has made its
  // mounts, so a failed bind would look like a test that exited 1. The shim writes the marker
  // only once it runs inside the finished sandbox with its limits set, closes its fds, and
  // becomes the command: one exec more than the command itself.
  const steps = [limitsShim(spec.limits)];
  if (f) steps.push(`printf ${SANDBOX_READY} >&${f.status}`);
  if (f?.gate !== undefined) steps.push(`read -r _ <&${f.gate}`);
  const close = f ? ` ${f.status}>&-${f.gate !== undefined ? ` ${f.gate}<&-` : ''}` : '';
  steps.push(`exec "$@"${close}`);
  out.push('--', '/bin/sh', '-c', steps.join(' && '), 'sh', ...argv);
  return out;
}

/**
 * The limits, set by the shim inside the sandbox instead of a prlimit(1) in front of bwrap (one
 * exec fewer per command). Soft and hard alike (no -S/-H), so the command cannot raise them.
 * RLIMIT_NPROC is `ulimit -u` in bash and busybox but `-p` in dash (whose -u is unknown), so
 * the shim tries -u and then -p; bash's -p (pipe size) cannot be set and fails, so no shell
 * ends up with a limit missing: the && chain stops before the ready marker and the run fails
 * as the machine's fault. sandboxProblem reads /proc/self/limits inside a sandbox at start to
 * prove the limits land on this host's /bin/sh. With the run's own uid and user namespace,
 * RLIMIT_NPROC counts only this run's processes, as it did when set before bwrap.
 */
export function limitsShim(limits: SandboxLimits): string {
  const n = limits.processes;
  const steps = [`ulimit -c 0`, `{ ulimit -u ${n} 2>/dev/null || ulimit -p ${n}; }`];
  if (limits.addressSpaceMb) steps.push(`ulimit -v ${limits.addressSpaceMb * 1024}`);
  return steps.join(' && ');
}

/** /bin, /lib … are symlinks into /usr on merged-/usr systems: recreate the link, else bind the dir. */
function systemMount(dir: string): string[] {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return [];
  }
  if (st.isSymbolicLink()) return ['--symlink', readlinkSync(dir), dir];
  return st.isDirectory() ? [roBind(), dir, dir] : [];
}

function roBind(): string {
  return sandboxDefences.readOnlySystem ? '--ro-bind' : '--bind';
}

/** A tool directory may not lie over (or be) the run's own work tree, home, /tmp, /dev or /proc. */
function coversOwnMounts(dir: string): boolean {
  const own = [SANDBOX_WORK, SANDBOX_HOME, SANDBOX_TMP, '/dev', '/proc'];
  return own.some((m) => within(m, dir)) || within(dir, '/prbot');
}

function within(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The absolute path of a program as the sandbox will see it, found on the command's PATH. A
 * missing program is this machine's problem (a tool not installed), not the change's: InfraError.
 */
export function resolveProgram(
  program: string,
  envPath: string | undefined,
  visible: (p: string) => boolean = () => true,
): string {
  if (program.includes('/')) {
    if (path.isAbsolute(program)) return program;
    return program; // relative to the work tree: the change's own script; its absence is the change's fault
  }
  // No PATH in the tests' environment: look where the worker's own lookup would (execvp's habit).
  for (const dir of (envPath ?? process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean)) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile() && visible(candidate)) return candidate;
    } catch {
      /* not here */
    }
  }
  throw new InfraError(
    `program "${program}" not found on the tests' PATH (${envPath ?? 'unset'}) inside the sandbox: install it under /usr, or list its directory in tests.toolDirs`,
  );
}

/** Whether a host path is shown inside the sandbox by the read-only system or tool binds. */
export function visibleInSandbox(p: string, toolDirs: string[]): boolean {
  let real = p;
  try {
    real = path.resolve(p);
  } catch {
    /* keep */
  }
  return [...SYSTEM_DIRS, ...toolDirs].some((d) => within(real, d));
}

/** A directory emptied for every cycle ($HOME, $TMPDIR): nothing one proposal's tests leave survives. */
export async function freshDir(dir: string, owner: { uid: number; gid: number } | null): Promise<void> {
  await removeTree(dir); // any depth, never through a link: the tests wrote it
  await mkdir(path.dirname(dir), { recursive: true }); // parents traversable by every test uid
  await mkdir(dir, { mode: 0o700 });
  if (owner) await chown(dir, owner.uid, owner.gid); // no chown(1) process: a spawn costs more than the call
}

/**
 * A cycle's $HOME or $TMPDIR removed when the cycle ends (passed or failed): what its tests left
 * (a 100 MB file, a cache) does not sit on the disk until the slot's next cycle.
 */
export async function dropScratch(dir: string): Promise<void> {
  if (!sandboxDefences.scratchDroppedAtEnd) return;
  await removeTree(dir); // any depth, never through a link: the tests wrote it
}

/** Whether `name` is an executable file in a directory of PATH (what spawning it would find). */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return statSync(path.join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * Proves at start that a sandbox can be made here, by running `true` in one exactly as a test
 * would run. Returns null when it works, else one line saying why and how to fix it.
 */
export async function sandboxProblem(o: {
  limits: SandboxLimits;
  toolDirs: string[];
  user?: { uid: number; gid: number };
  workdir?: string;
}): Promise<string | null> {
  if (process.getuid?.() !== 0)
    return 'the test worker must run as root (it gives every test run a uid of its own and drops to it inside bubblewrap); run it as root, or set tests.sandbox: off for a trusted setup';
  // This check runs before a worker is ready: it uses node's own child_process and fs, and spawns
  // one process (the sandbox itself), not four through execa (docs/OPERATIONS.md, start time).
  if (!onPath('bwrap')) {
    return 'bubblewrap (bwrap) is not installed: apt-get install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap; or set tests.sandbox: off for a trusted setup';
  }
  const user = o.user ?? { uid: 64999, gid: 65534 };
  // In the real workdir: a path the test uid cannot traverse is found now, not at the first cycle.
  const parent = o.workdir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(path.join(parent, 'sandbox-check-'));
  try {
    const [work, home, tmp] = ['work', 'home', 'tmp'].map((d) => path.join(dir, d)) as [string, string, string];
    for (const d of [work, home, tmp]) await mkdir(d);
    await chmod(dir, 0o755);
    for (const d of [work, home, tmp]) await chown(d, user.uid, user.gid); // new and empty: no -R needed
    const argv = sandboxArgv(
      { user, workTree: work, home, tmp, network: false, limits: o.limits, toolDirs: o.toolDirs, hide: [] },
      ['/bin/sh', '-c', 'touch /prbot/work/ok && cat /proc/self/limits'],
    );
    const r = await new Promise<{ ok: boolean; stdout: string; why: string }>((resolve) => {
      execFile(
        argv[0]!,
        argv.slice(1),
        {
          uid: user.uid,
          gid: user.gid,
          env: { PATH: '/usr/bin:/bin' },
          timeout: 20_000,
          maxBuffer: 1024 * 1024,
          encoding: 'utf8',
        },
        (err, stdout, stderr) =>
          resolve({ ok: !err, stdout: String(stdout), why: String(stderr || stdout || err?.message || '') }),
      );
    });
    if (r.ok && existsSync(path.join(work, 'ok'))) return limitsProblem(r.stdout, o.limits);
    const why = r.why.trim().split('\n')[0];
    return `bubblewrap cannot create the test sandbox here (${why}): the test uid must be able to enter ${parent} (every directory above it o+x); allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0; kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu), and in a container run with --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined (see docs/SECURITY.md); or set tests.sandbox: off for a trusted setup`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The shim's ulimit calls depend on the host's /bin/sh: proves from a sandboxed process's
 * /proc/self/limits that the process, address-space and core limits are in force, soft and hard.
 */
export function limitsProblem(procLimits: string, limits: SandboxLimits): string | null {
  const want: [string, number | 'unlimited'][] = [
    ['Max processes', limits.processes],
    ['Max address space', limits.addressSpaceMb ? limits.addressSpaceMb * 1024 * 1024 : 'unlimited'],
    ['Max core file size', 0],
  ];
  for (const [name, value] of want) {
    const m = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(procLimits);
    if (!m || m[1] !== String(value) || m[2] !== String(value)) {
      return `the sandbox's /bin/sh did not set "${name}" to ${value} (found ${m ? `${m[1]}/${m[2]}` : 'nothing'}): tests.limits would not hold; make /bin/sh dash, bash or busybox, or set tests.sandbox: off for a trusted setup`;
    }
  }
  return null;
}
