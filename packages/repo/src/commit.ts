import { git } from './git.ts';
import { forgeTitle, neutralise, type Change, CycleEnded, TransientError } from '@prbot/core';
import { proposalRefusal, type Limits } from './changes.ts';
import type { GuardContext } from './guardrails.ts';
import type { Mirror } from './mirror.ts';

/** The guardrails every built or rebuilt commit is checked against (built-in paths + config). */
export interface CommitGuard {
  ctx: GuardContext;
  limits: Limits;
}

export interface CommitSpec {
  cycleId: string;
  baseCommit: string;
  changes: Change[];
  message: string;
  author: { name: string; email: string };
  /** Seconds since epoch; fixed from the cycle so every machine builds the same commit id. */
  time: number;
  /** Required: no payload, signed or not, yields a commit touching a guarded path. */
  guard: CommitGuard;
}

/**
 * The build-time guardrail check, switchable for one purpose: the positive controls in
 * test/sandbox/jobs.test.ts and apps/worker/test/e2e/upkeep-settings.test.ts turn it off in their
 * own process to show that a signed job carrying a workflow file, or a refresh whose rebuilt change
 * touches a guarded path, is then pushed. `matchesPayload` (a commit already in the mirror must be
 * the payload's change set on its base) is turned off only by the positive control in
 * changes.test.ts. No variable or config field reaches it.
 */
export const commitGuardDefence = { check: true, matchesPayload: true };

/**
 * Refuses a change set the guardrails forbid, ending the cycle apply_failed. Runs every time a
 * commit is built or rebuilt (apply, test, pr), so a payload that skipped propose's check (a
 * forged or replayed job) still cannot put `.github/workflows/x.yml` into a pushed commit.
 */
function assertChangesAllowed(changes: { path: string; action?: string; content: string }[], guard: CommitGuard): void {
  if (!commitGuardDefence.check) return;
  const refusal = proposalRefusal(
    { summary: '-', files: changes.map((c) => ({ path: c.path, is_new: c.action === 'ADD', content: c.content })) },
    guard.ctx,
    guard.limits,
  );
  if (refusal) throw new CycleEnded('apply_failed', `guardrail: ${refusal}`);
}

/**
 * Builds the bot commit from git objects alone: one `git fast-import` writes the blobs, the
 * tree and the commit (measured ~20 ms, versus a checkout in the hundreds), no files on disk.
 * Author, committer, dates and message come from the cycle, so the id is a pure function of
 * (base commit, changes, cycle) and any machine can rebuild it and compare.
 */
export async function buildCommit(mirror: Mirror, spec: CommitSpec): Promise<string> {
  assertChangesAllowed(spec.changes, spec.guard);
  const ref = `refs/prbot/cycles/${spec.cycleId}`;
  const who = `${oneLine(spec.author.name)} <${oneLine(spec.author.email)}> ${spec.time} +0000`;
  const parts: (string | Buffer)[] = [
    `commit ${ref}\n`,
    `author ${who}\n`,
    `committer ${who}\n`,
    data(spec.message),
    `from ${spec.baseCommit}\n`,
  ];
  for (const c of spec.changes) {
    if (c.action === 'NOOP') continue;
    parts.push(`M ${c.mode} inline ${quote(c.path)}\n`, data(c.content));
  }
  parts.push('\n');
  const input = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
  try {
    await git(['fast-import', '--quiet', '--force', '--done'], {
      cwd: mirror.dir,
      input: Buffer.concat([input, Buffer.from('done\n')]),
    });
  } catch (err) {
    throw new TransientError(`building the bot commit failed: ${(err as Error).message}`, { cause: err });
  }
  const r = await git(['rev-parse', '--verify', `${ref}^{commit}`], { cwd: mirror.dir });
  return r.stdout.trim();
}

function data(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(`data ${body.length}\n`), body, Buffer.from('\n')]);
}

/** fast-import's C-style quoting; guardrails already refuse control characters and backslashes. */
function quote(p: string): string {
  return '"' + p.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function oneLine(s: string): string {
  return s.replace(/[<>\n\r]/g, '');
}

/** The commit spec every stage derives from a cycle's payload, so apply, test and pr agree. */
export function botCommitSpec(
  job: { cycleId: string; baseCommit: string; createdAt: number; gap: { text: string }; proposal: { summary: string } },
  changes: Change[],
  author: { name: string; email: string },
  guard: CommitGuard,
): CommitSpec {
  // The gap's and the model's words go through the forge sanitizer: a commit message is where
  // GitHub and Gitea also read mentions and closing keywords once a human merges.
  const title = `prbot: ${forgeTitle(job.gap.text, 200)}`;
  return {
    cycleId: job.cycleId,
    baseCommit: job.baseCommit,
    changes,
    author,
    time: Math.floor(job.createdAt / 1000),
    guard,
    message: `${title.length > 72 ? title.slice(0, 71) + '…' : title}\n\n${neutralise(job.proposal.summary)}\n\nprbot-cycle: ${job.cycleId}\n`,
  };
}

/**
 * Rebuilds the bot commit from the payload and checks it is the one apply built. A commit id is
 * the hash of its content, so when the expected id is already in this mirror (apply ran on this
 * machine) that very commit is here and nothing is rebuilt, but it is still checked: the
 * payload's changes against the guardrails, and the commit itself (parent = base commit, the
 * paths it changes = the payload's) so a payload naming some other commit already in the
 * mirror cannot smuggle that commit's files past the guardrails.
 */
export async function rebuildCommit(mirror: Mirror, spec: CommitSpec, expected: string): Promise<void> {
  assertChangesAllowed(spec.changes, spec.guard);
  if (await mirror.hasCommit(expected)) {
    await assertCommitMatches(mirror, spec, expected);
    return;
  }
  await mirror.ensureCommit(spec.baseCommit);
  const got = await buildCommit(mirror, spec);
  if (got !== expected) {
    throw new CycleEnded(
      'apply_failed',
      `rebuilt bot commit ${got.slice(0, 12)} differs from ${expected.slice(0, 12)}; the payload or git version differs between machines`,
    );
  }
}

async function assertCommitMatches(mirror: Mirror, spec: CommitSpec, commit: string): Promise<void> {
  const parents = (
    await git(['rev-list', '--parents', '-n', '1', commit], { cwd: mirror.dir, gitDir: mirror.dir })
  ).stdout
    .trim()
    .split(' ')
    .slice(1);
  const r = await git(['diff-tree', '-r', '-z', '--no-renames', '--name-only', spec.baseCommit, commit], {
    cwd: mirror.dir,
    gitDir: mirror.dir,
  });
  const touched = r.stdout.split('\0').filter(Boolean).sort();
  const declared = spec.changes
    .filter((c) => c.action !== 'NOOP')
    .map((c) => c.path)
    .sort();
  if (
    commitGuardDefence.matchesPayload &&
    (parents.length !== 1 || parents[0] !== spec.baseCommit || touched.join('\0') !== declared.join('\0'))
  ) {
    throw new CycleEnded(
      'apply_failed',
      `bot commit ${commit.slice(0, 12)} is not the payload's change set on ${spec.baseCommit.slice(0, 12)} (it changes ${touched.length} path(s), the payload declares ${declared.length})`,
    );
  }
  assertChangesAllowed(
    touched.map((p) => ({ path: p, content: '' })),
    spec.guard,
  );
}
