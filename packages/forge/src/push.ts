import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TransientError } from '@prbot/core';
import { git } from '@prbot/repo';
import type { DoctorCheck } from './types.ts';

/**
 * What a push inherits from the operator's environment: proxies, CA bundles and SSH setup are the
 * machine's, and a push that drops them fails behind a corporate proxy or with a private CA.
 * HOME is kept so git and ssh find ~/.gitconfig, ~/.ssh/config and known_hosts. Nothing else
 * passes (no GIT_DIR, GIT_CONFIG_* or credentials of the worker's own).
 */
export const PUSH_ENV_NAMES = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'https_proxy',
  'http_proxy',
  'no_proxy',
  'all_proxy',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'GIT_PROXY_SSL_CAINFO',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'CURL_CA_BUNDLE',
  'GIT_SSH_COMMAND',
  'GIT_SSH',
  'GIT_SSH_VARIANT',
  'SSH_AUTH_SOCK',
] as const;

/**
 * The git environment of a push. Over HTTP(S) the token travels in `http.<remote>.extraheader`
 * set through GIT_CONFIG_* variables: never in the remote URL, argv or logs, and scoped to the
 * remote's URL so a redirect or a submodule on another host never receives it.
 */
export function pushEnv(
  remote: string,
  token: string | undefined,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  for (const k of PUSH_ENV_NAMES) if (from[k] !== undefined && from[k] !== '') env[k] = from[k]!;
  env.PATH ??= '/usr/bin:/bin';
  env.HOME ??= '/tmp';
  if (token && /^https?:\/\//i.test(remote)) {
    const u = new URL(remote);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${u.href}.extraheader`;
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  }
  return env;
}

/**
 * Why a forge refused a push for good, read from git's output (HTTPS and SSH, Gitea/Forgejo and
 * GitHub wording): no retry can change these, only the operator. Anything else (network, 5xx, a
 * timeout) stays a TransientError and is retried.
 */
const PUSH_REFUSALS: { kind: string; test: RegExp; fix: string }[] = [
  {
    kind: 'the repository is archived (read-only)',
    test: /archived/i,
    fix: 'unarchive the repository, or point forge.owner/forge.repo at a writable one',
  },
  {
    kind: 'a branch protection rule or push rule refused it',
    test: /protected branch|GH006|GH013|hook declined|push declined|not allowed to push|rule violations/i,
    fix: 'exempt the bot branches (forge.branchPrefix) from branch protection or rulesets, or let the bot user push to them',
  },
  {
    kind: 'the token was rejected (invalid, expired or revoked)',
    test: /returned error: 401|Authentication failed|could not read Username|Invalid username or password|Bad credentials/i,
    fix: 'put a valid, unexpired token in the forge token variable (forge.tokenEnv)',
  },
  {
    kind: 'the token has no write access to the repository',
    test: /returned error: 403|Permission to .* denied|Permission denied|Write access to repository not granted|required scope|does not have .*scope|denied to|access denied/i,
    fix: 'give the token write access: Gitea/Forgejo scope write:repository and a bot user with write access; GitHub classic scope repo (public_repo), fine-grained Contents: read and write',
  },
];

/**
 * A push the forge refused for good, naming why and the fix. Never worth a retry: the stage
 * runner ends the cycle at once (pr_failed).
 */
export class PushRefused extends Error {
  override readonly name = 'PushRefused';
  readonly reason: string;
  constructor(
    readonly branch: string,
    readonly kind: string,
    gitMessage: string,
    fix: string,
  ) {
    const reason = `the forge refused the push of ${branch}: ${kind} (${gitMessage}); fix: ${fix}`;
    super(reason);
    this.reason = reason;
  }
}

/** The push refusal git's output shows, or null (then the failure may pass: retry). */
function pushRefusal(output: string): { kind: string; fix: string } | null {
  const r = PUSH_REFUSALS.find((x) => x.test.test(output));
  return r ? { kind: r.kind, fix: r.fix } : null;
}

function scrubGit(message: string, token?: string): string {
  const m = message
    .split('\n')
    .filter((l) => !/authorization/i.test(l))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 400);
  return token ? m.replaceAll(token, '***') : m;
}

/** Pushes a commit as a branch, in pushEnv's environment only. SSH remotes use the machine's SSH setup. */
export async function pushBranch(
  mirrorDir: string,
  remote: string,
  commit: string,
  branch: string,
  token?: string,
): Promise<void> {
  const env = pushEnv(remote, token);
  try {
    // --force: the branch name carries the cycle id, so only a retry of this cycle can own it.
    await git(['push', '--force', '--quiet', remote, `${commit}:refs/heads/${branch}`], {
      cwd: mirrorDir,
      env,
      isolateEnv: true,
    });
  } catch (err) {
    const msg = scrubGit(String((err as Error).message), token);
    const refused = pushRefusal(msg);
    if (refused) throw new PushRefused(branch, refused.kind, msg, refused.fix);
    throw new TransientError(`pushing ${branch} failed: ${msg}`);
  }
}

/**
 * Whether the remote would take a push of a new bot branch, without pushing anything: a
 * `git push --dry-run` of a throwaway commit still asks the forge for its receive-pack
 * advertisement, which needs write access (token scope, the user's role, an unarchived
 * repository). Branch protection runs only on a real push, so it is not seen here.
 * Null when the push would be accepted; else the refusal, named.
 */
async function pushProblem(
  remote: string,
  branch: string,
  token?: string,
): Promise<{ kind: string; fix: string; message: string } | null> {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-push-probe-'));
  try {
    const id = {
      GIT_AUTHOR_NAME: 'prbot',
      GIT_AUTHOR_EMAIL: 'prbot@localhost',
      GIT_COMMITTER_NAME: 'prbot',
      GIT_COMMITTER_EMAIL: 'prbot@localhost',
    };
    await git(['init', '--quiet'], { cwd: dir });
    await git(['commit', '--quiet', '--allow-empty', '-m', 'prbot doctor push probe'], {
      cwd: dir,
      env: { ...process.env, ...id },
    });
    const r = await git(['push', '--dry-run', '--porcelain', remote, `HEAD:refs/heads/${branch}`], {
      cwd: dir,
      env: pushEnv(remote, token),
      isolateEnv: true,
      okCodes: [0, 1, 128],
    });
    if (r.exitCode === 0) return null;
    const msg = scrubGit(`${r.stdout}\n${r.stderr ?? ''}`, token);
    const refused = pushRefusal(msg);
    return refused
      ? { ...refused, message: msg }
      : { kind: 'the push failed', fix: 'check forge.remote and that the forge is reachable', message: msg };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The branch moved under us (someone else pushed): a non-force push was refused as not a fast-forward. */
export class PushRejected extends Error {
  override readonly name = 'PushRejected';
}

/**
 * A revision's guards at the push, switchable for one purpose: the positive control in
 * apps/worker/test/e2e/revise.test.ts turns `headCheck` and `fastForwardOnly` off in its own
 * process (off: no head check in the pr stage; a forced push) to show a human's commit is then
 * overwritten; the one in apps/worker/test/e2e/steering.test.ts turns `openPr` off (the pr stage
 * no longer asks the forge whether the PR is still open) to show a signed revise job for a
 * closed PR then pushes to its branch. No variable or config field reaches this object.
 */
export const revisionPushDefence = { headCheck: true, fastForwardOnly: true, openPr: true };

/**
 * Pushes a commit to an existing branch only as a fast-forward: no `--force`, so if someone pushed
 * to the branch after prbot read its head, the forge itself refuses the push (PushRejected).
 */
async function pushFastForwardBranch(
  mirrorDir: string,
  remote: string,
  commit: string,
  branch: string,
  token?: string,
): Promise<void> {
  const env = pushEnv(remote, token);
  const force = revisionPushDefence.fastForwardOnly ? '' : '+';
  const r = await git(['push', '--porcelain', remote, `${force}${commit}:refs/heads/${branch}`], {
    cwd: mirrorDir,
    env,
    isolateEnv: true,
    okCodes: [0, 1],
  });
  if (r.exitCode === 0) return;
  const out = r.stdout;
  const scrub = (m: string) =>
    (token ? m.replaceAll(token, '***') : m)
      .split('\n')
      .filter((l) => !/authorization/i.test(l))
      .join(' ')
      .slice(0, 400);
  if (/\[rejected\]|non-fast-forward|fetch first|stale info/i.test(out))
    throw new PushRejected(
      `the forge refused ${branch} as not a fast-forward: someone else pushed to it (${scrub(out.trim())})`,
    );
  const all = scrubGit(`${out}\n${r.stderr ?? ''}`, token);
  const refused = pushRefusal(all);
  if (refused) throw new PushRefused(branch, refused.kind, all, refused.fix);
  throw new TransientError(`pushing ${branch} failed: ${scrub(out)}`);
}

/** The branch was not at the commit the lease named: someone else pushed, and nothing was overwritten. */
export class LeaseRefused extends Error {
  override readonly name = 'LeaseRefused';
}

/**
 * Replaces a branch's commit only while the branch is at `expected`: git sends the expected old
 * value with the update, so the remote itself refuses it when anyone pushed in between (a race
 * no read-then-push check can close). Never a plain --force. An empty `commit` deletes the branch
 * under the same lease.
 */
export async function pushWithLeaseBranch(
  mirrorDir: string,
  remote: string,
  commit: string,
  branch: string,
  expected: string,
  token?: string,
): Promise<void> {
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(expected))
    throw new Error(`a lease needs a full commit id, not ${JSON.stringify(expected)}`);
  const env = pushEnv(remote, token);
  const r = await git(
    [
      'push',
      '--porcelain',
      `--force-with-lease=refs/heads/${branch}:${expected}`,
      remote,
      `${commit}:refs/heads/${branch}`,
    ],
    { cwd: mirrorDir, env, isolateEnv: true, okCodes: [0, 1] },
  );
  if (r.exitCode === 0) return;
  const out = scrubGit(`${r.stdout}\n${r.stderr ?? ''}`, token);
  if (
    /\[rejected\]|stale info|non-fast-forward|fetch first|\[remote rejected\].*(?:failed to lock|cannot lock|incorrect old value)/i.test(
      out,
    )
  ) {
    throw new LeaseRefused(
      `the forge refused to update ${branch}: it is no longer at ${expected.slice(0, 12)}, the commit prbot last pushed (someone else pushed; nothing was overwritten): ${out}`,
    );
  }
  const refused = pushRefusal(out);
  if (refused) throw new PushRefused(branch, refused.kind, out, refused.fix);
  throw new TransientError(`pushing ${branch} with a lease failed: ${out}`);
}

/** The commit a branch of the remote points at now (null: no such branch), asked of the remote itself. */
async function remoteBranchHead(
  mirrorDir: string,
  remote: string,
  branch: string,
  token?: string,
): Promise<string | null> {
  try {
    const r = await git(['ls-remote', '--heads', remote, `refs/heads/${branch}`], {
      cwd: mirrorDir,
      env: pushEnv(remote, token),
      isolateEnv: true,
    });
    const line = r.stdout.split('\n').find((l) => l.endsWith(`\trefs/heads/${branch}`));
    return line ? line.split('\t')[0]! : null;
  } catch (err) {
    const msg = String((err as Error).message).slice(0, 300);
    throw new TransientError(`reading the head of ${branch} failed: ${token ? msg.replaceAll(token, '***') : msg}`);
  }
}

/**
 * The git side of a remote forge (push, fast-forward push, branch head), the same for Gitea and
 * GitHub: only the API side differs. The token reaches git through pushEnv, never argv.
 */
export abstract class GitRemote {
  constructor(protected readonly o: { remote: string; token: string }) {}

  push(mirrorDir: string, commit: string, branch: string): Promise<void> {
    return pushBranch(mirrorDir, this.o.remote, commit, branch, this.o.token);
  }

  pushFastForward(mirrorDir: string, commit: string, branch: string): Promise<void> {
    return pushFastForwardBranch(mirrorDir, this.o.remote, commit, branch, this.o.token);
  }

  branchHead(mirrorDir: string, branch: string): Promise<string | null> {
    return remoteBranchHead(mirrorDir, this.o.remote, branch, this.o.token);
  }

  pushWithLease(mirrorDir: string, commit: string, branch: string, expected: string): Promise<void> {
    return pushWithLeaseBranch(mirrorDir, this.o.remote, commit, branch, expected, this.o.token);
  }

  async deleteBranch(mirrorDir: string, branch: string, expected: string): Promise<boolean> {
    try {
      await pushWithLeaseBranch(mirrorDir, this.o.remote, '', branch, expected, this.o.token);
      return true;
    } catch (err) {
      if (err instanceof LeaseRefused) return false;
      throw err;
    }
  }

  /** `prbot doctor`: would a push of a bot branch be accepted (dry run, nothing pushed)? */
  protected async pushCheck(branchPrefix: string): Promise<DoctorCheck> {
    const p = await pushProblem(this.o.remote, `${branchPrefix}prbot-doctor-probe`, this.o.token);
    if (!p)
      return {
        name: 'push',
        status: 'ok',
        detail: `a push of ${branchPrefix}… to the remote would be accepted (dry run)`,
      };
    return {
      name: 'push',
      status: 'fail',
      detail: `the remote would refuse the bot's push: ${p.kind} (${p.message})`,
      fix: p.fix,
      ...(p.kind === 'the push failed' ? { transient: true } : {}),
    };
  }
}
