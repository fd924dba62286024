import { TransientError } from '../errors/index.ts';
import { git } from '../git.ts';

/**
 * Pushes a commit as a branch (plain `git push`, like every other git call: git.ts). Over HTTPS the token travels in an
 * `http.extraHeader` set through GIT_CONFIG_* variables of the git process's environment:
 * never in the remote URL, argv or logs. SSH remotes use the machine's SSH setup.
 */
export async function pushBranch(mirrorDir: string, remote: string, commit: string, branch: string, token?: string): Promise<void> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    GIT_TERMINAL_PROMPT: '0',
  };
  if (process.env.SSH_AUTH_SOCK) env.SSH_AUTH_SOCK = process.env.SSH_AUTH_SOCK;
  if (token && /^https?:\/\//i.test(remote)) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  }
  try {
    // --force: the branch name carries the cycle id, so only a retry of this cycle can own it.
    await git(['push', '--force', '--quiet', remote, `${commit}:refs/heads/${branch}`], { cwd: mirrorDir, env });
  } catch (err) {
    const msg = String((err as Error).message).split('\n').filter((l) => !/authorization/i.test(l)).join(' ').slice(0, 400);
    throw new TransientError(`pushing ${branch} failed: ${token ? msg.replaceAll(token, '***') : msg}`);
  }
}
