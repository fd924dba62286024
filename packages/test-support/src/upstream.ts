import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { gitCli as git } from './git-cli.ts';

const AUTHOR = {
  GIT_AUTHOR_NAME: 'demo',
  GIT_AUTHOR_EMAIL: 'demo@example.invalid',
  GIT_COMMITTER_NAME: 'demo',
  GIT_COMMITTER_EMAIL: 'demo@example.invalid',
};

/**
 * Makes `<dest>/upstream.git` (bare, branch main) from the files of `src`, plus a working
 * clone `<dest>/checkout` for tests that commit more. Returns both paths.
 */
export async function makeUpstream(src: string, dest: string): Promise<{ bare: string; checkout: string }> {
  const checkout = path.join(dest, 'checkout');
  const bare = path.join(dest, 'upstream.git');
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  await cp(src, checkout, { recursive: true });
  await git(['init', '--quiet', '--initial-branch=main'], { cwd: checkout });
  await commitAll(checkout, 'initial import');
  await git(['clone', '--quiet', '--bare', checkout, bare], { cwd: dest });
  await git(['remote', 'add', 'upstream', bare], { cwd: checkout });
  return { bare, checkout };
}

/** Commits everything in a checkout and pushes it to `upstream` when that remote exists. */
export async function commitAll(checkout: string, message: string, push = false): Promise<string> {
  await git(['add', '-A'], { cwd: checkout });
  // --no-gpg-sign: a commit.gpgSign in the user's own git config made `pnpm demo` fail here.
  await git(['commit', '--quiet', '--no-gpg-sign', '--allow-empty', '-m', message], { cwd: checkout, env: AUTHOR });
  if (push) await git(['push', '--quiet', 'upstream', 'HEAD:main'], { cwd: checkout });
  return (await git(['rev-parse', 'HEAD'], { cwd: checkout })).stdout.trim();
}
