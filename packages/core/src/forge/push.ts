import { TransientError } from '../errors/index.ts';
import { git } from '../git.ts';

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
export function pushEnv(remote: string, token: string | undefined, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
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

/** Pushes a commit as a branch, in pushEnv's environment only. SSH remotes use the machine's SSH setup. */
export async function pushBranch(mirrorDir: string, remote: string, commit: string, branch: string, token?: string): Promise<void> {
  const env = pushEnv(remote, token);
  try {
    // --force: the branch name carries the cycle id, so only a retry of this cycle can own it.
    await git(['push', '--force', '--quiet', remote, `${commit}:refs/heads/${branch}`], { cwd: mirrorDir, env, isolateEnv: true });
  } catch (err) {
    const msg = String((err as Error).message).split('\n').filter((l) => !/authorization/i.test(l)).join(' ').slice(0, 400);
    throw new TransientError(`pushing ${branch} failed: ${token ? msg.replaceAll(token, '***') : msg}`);
  }
}

/** The branch moved under us (someone else pushed): a non-force push was refused as not a fast-forward. */
export class PushRejected extends Error {
  override readonly name = 'PushRejected';
}

/**
 * Pushes a commit to an existing branch only as a fast-forward: no `--force`, so if someone pushed
 * to the branch after prbot read its head, the forge itself refuses the push (PushRejected).
 */
export async function pushFastForwardBranch(mirrorDir: string, remote: string, commit: string, branch: string, token?: string): Promise<void> {
  const env = pushEnv(remote, token);
  const r = await git(['push', '--porcelain', remote, `${commit}:refs/heads/${branch}`], { cwd: mirrorDir, env, isolateEnv: true, okCodes: [0, 1] });
  if (r.exitCode === 0) return;
  const out = r.stdout;
  const scrub = (m: string) => (token ? m.replaceAll(token, '***') : m).split('\n').filter((l) => !/authorization/i.test(l)).join(' ').slice(0, 400);
  if (/\[rejected\]|non-fast-forward|fetch first|stale info/i.test(out)) throw new PushRejected(`the forge refused ${branch} as not a fast-forward: someone else pushed to it (${scrub(out.trim())})`);
  throw new TransientError(`pushing ${branch} failed: ${scrub(out)}`);
}

/** The commit a branch of the remote points at now (null: no such branch), asked of the remote itself. */
export async function remoteBranchHead(mirrorDir: string, remote: string, branch: string, token?: string): Promise<string | null> {
  try {
    const r = await git(['ls-remote', '--heads', remote, `refs/heads/${branch}`], { cwd: mirrorDir, env: pushEnv(remote, token), isolateEnv: true });
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
}
