import { GitError } from '@prbot/core';

export interface GitOptions {
  cwd: string;
  /** Address the repository explicitly: git then never looks for a `.git` in `cwd` or above. */
  gitDir?: string;
  /** With gitDir: the work tree (a slot), which test code may have written anything into. */
  workTree?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Exit codes that are answers, not failures (e.g. 1 from `diff --quiet`). */
  okCodes?: number[];
  /** `env` is the whole environment (besides GIT_ENV): nothing of the worker's own passes. */
  isolateEnv?: boolean;
  /** Killed (SIGKILL) after this long and thrown as a GitError: for a work tree test code wrote. */
  timeoutMs?: number;
}

export interface GitResult {
  stdout: string;
  /** What git printed on stderr (a push's refusal reasons, `remote:` lines). */
  stderr?: string;
  exitCode: number;
}

// Git must not prompt, read the operator's hooks, or pick up a system-wide config that
// changes plumbing output; these hold for every git process prbot starts.
// No `safe.directory=*`: slots are addressed with an explicit --git-dir that is root's own and
// outside the test-writable work tree, so git's ownership check never has to be waved through.
const GIT_ENV = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_OPTIONAL_LOCKS: '0',
  LC_ALL: 'C',
  GIT_CONFIG_COUNT: '3',
  // Hooks and fsmonitor run programs named by repository config: never, whatever a config says
  // (a rewritten `.git` once pointed root's checkout at a hook written by test code).
  GIT_CONFIG_KEY_0: 'core.hooksPath',
  GIT_CONFIG_VALUE_0: '/dev/null',
  GIT_CONFIG_KEY_1: 'core.fsmonitor',
  GIT_CONFIG_VALUE_1: 'false',
  // The index records root as each file's owner; the test user owns them. "minimal" stops git
  // comparing owners (which re-read all 2,000 files of a slot every cycle: test stage 410 ms →
  // 90 ms) and still compares size, mtime and ctime, so a file rewritten by test code is seen.
  GIT_CONFIG_KEY_2: 'core.checkStat',
  GIT_CONFIG_VALUE_2: 'minimal',
};

/**
 * For git with a work tree (a slot, which test code wrote): configuration only from the slot's
 * own git dir (root's, out of the sandbox's reach) and from GIT_ENV. No global config, so no
 * filter, textconv or diff driver of the operator's can be chosen by a `.gitattributes` in a
 * commit; no attributes outside the work tree; no transport at all (the objects are borrowed
 * through alternates, nothing is fetched); submodules never entered.
 */
const WORK_TREE_ENV = {
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_ATTR_NOSYSTEM: '1',
  GIT_CONFIG_COUNT: '3',
  GIT_CONFIG_KEY_0: 'core.attributesFile',
  GIT_CONFIG_VALUE_0: '/dev/null',
  GIT_CONFIG_KEY_1: 'protocol.allow',
  GIT_CONFIG_VALUE_1: 'never',
  GIT_CONFIG_KEY_2: 'submodule.recurse',
  GIT_CONFIG_VALUE_2: 'false',
};

/**
 * The hooks/fsmonitor defence and the global config kept out, each switchable for one purpose: a
 * positive control in slots.test.ts turns one off in its own process to show that the planted
 * hook, or the operator's global filter program, then runs. Nothing outside the
 * process can reach it (no variable, no config field); production never changes it.
 */
export const gitDefences = { hooksAndFsmonitorOff: true, noGlobalConfig: true };

/**
 * WORK_TREE_ENV, without `GIT_CONFIG_GLOBAL=/dev/null` when the positive control in slots.test.ts
 * turned that defence off (root's git then reads the operator's global config again).
 */
function workTreeEnv(): Record<string, string> {
  if (gitDefences.noGlobalConfig) return WORK_TREE_ENV;
  return Object.fromEntries(Object.entries(WORK_TREE_ENV).filter(([k]) => k !== 'GIT_CONFIG_GLOBAL'));
}

/** The environment without the hooks/fsmonitor entries when the control turned the defence off. */
function withHookDefence(env: Record<string, string>): Record<string, string> {
  if (gitDefences.hooksAndFsmonitorOff) return env;
  const plain = Object.fromEntries(
    Object.entries(env).filter(([k]) => !/^GIT_CONFIG_(KEY_\d+|VALUE_\d+|COUNT)$/.test(k)),
  );
  let n = 0;
  for (let i = 0; i < Number(env.GIT_CONFIG_COUNT ?? 0); i++) {
    if (['core.hooksPath', 'core.fsmonitor'].includes(env[`GIT_CONFIG_KEY_${i}`]!)) continue;
    plain[`GIT_CONFIG_KEY_${n}`] = env[`GIT_CONFIG_KEY_${i}`]!;
    plain[`GIT_CONFIG_VALUE_${n}`] = env[`GIT_CONFIG_VALUE_${i}`]!;
    n++;
  }
  return { ...plain, GIT_CONFIG_COUNT: String(n) };
}

/** Runs one git command with an argv array (never a shell). */
export async function git(args: string[], opts: GitOptions): Promise<GitResult> {
  const explicit = opts.gitDir
    ? [`--git-dir=${opts.gitDir}`, ...(opts.workTree ? [`--work-tree=${opts.workTree}`] : [])]
    : [];
  const { execa } = await import('execa'); // loaded at the first command, not at start
  const r = await execa('git', [...explicit, ...args], {
    cwd: opts.cwd,
    input: opts.input,
    env: withHookDefence(gitEnv(opts.workTree ? mergeConfig(workTreeEnv(), opts.env) : opts.env)),
    extendEnv: !opts.isolateEnv,
    reject: false,
    stripFinalNewline: false,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
  });
  if (r.timedOut) throw new GitError(args, `killed after ${opts.timeoutMs} ms`, r.exitCode);
  const code = r.exitCode ?? -1;
  if (code !== 0 && !(opts.okCodes ?? []).includes(code)) {
    throw new GitError(args, String(r.stderr ?? r.message ?? ''), r.exitCode);
  }
  return { stdout: String(r.stdout), stderr: String(r.stderr ?? ''), exitCode: code };
}

/** Two sets of variables with GIT_CONFIG_* entries numbered one after the other. */
function mergeConfig(a: Record<string, string>, b: Record<string, string> = {}): Record<string, string> {
  const plain = (e: Record<string, string>) =>
    Object.fromEntries(Object.entries(e).filter(([k]) => !/^GIT_CONFIG_(KEY_\d+|VALUE_\d+|COUNT)$/.test(k)));
  const out: Record<string, string> = { ...plain(a), ...plain(b) };
  let n = 0;
  for (const e of [a, b]) {
    for (let i = 0; i < Number(e.GIT_CONFIG_COUNT ?? 0); i++, n++) {
      out[`GIT_CONFIG_KEY_${n}`] = e[`GIT_CONFIG_KEY_${i}`]!;
      out[`GIT_CONFIG_VALUE_${n}`] = e[`GIT_CONFIG_VALUE_${i}`]!;
    }
  }
  return { ...out, GIT_CONFIG_COUNT: String(n) };
}

/**
 * GIT_ENV plus the caller's variables. GIT_CONFIG_* entries of the caller (a push's scoped auth
 * header) are appended after GIT_ENV's, never in their place: hooks and fsmonitor stay off for
 * every git process, whatever else it is given.
 */
function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  const { GIT_CONFIG_COUNT: count, ...rest } = extra;
  const own = Object.fromEntries(Object.entries(rest).filter(([k]) => !/^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(k)));
  const env: Record<string, string> = { ...GIT_ENV, ...own };
  let n = Number(GIT_ENV.GIT_CONFIG_COUNT);
  for (let i = 0; i < Number(count ?? 0); i++) {
    env[`GIT_CONFIG_KEY_${n}`] = extra[`GIT_CONFIG_KEY_${i}`]!;
    env[`GIT_CONFIG_VALUE_${n}`] = extra[`GIT_CONFIG_VALUE_${i}`]!;
    n++;
  }
  return { ...env, GIT_CONFIG_COUNT: String(n) };
}
