import { git } from './git.ts';
import type { Change } from './changes.ts';
import type { Mirror } from './mirror.ts';
import { CycleEnded, TransientError } from './errors/index.ts';

export interface CommitSpec {
  cycleId: string;
  baseCommit: string;
  changes: Change[];
  message: string;
  author: { name: string; email: string };
  /** Seconds since epoch; fixed from the cycle so every machine builds the same commit id. */
  time: number;
}

/**
 * Builds the bot commit from git objects alone: one `git fast-import` writes the blobs, the
 * tree and the commit (measured ~20 ms, versus a checkout in the hundreds), no files on disk.
 * Author, committer, dates and message come from the cycle, so the id is a pure function of
 * (base commit, changes, cycle) and any machine can rebuild it and compare.
 */
export async function buildCommit(mirror: Mirror, spec: CommitSpec): Promise<string> {
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
    await git(['fast-import', '--quiet', '--force', '--done'], { cwd: mirror.dir, input: Buffer.concat([input, Buffer.from('done\n')]) });
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
): CommitSpec {
  const title = `prbot: ${job.gap.text}`;
  return {
    cycleId: job.cycleId,
    baseCommit: job.baseCommit,
    changes,
    author,
    time: Math.floor(job.createdAt / 1000),
    message: `${title.length > 72 ? title.slice(0, 71) + '…' : title}\n\n${job.proposal.summary}\n\nprbot-cycle: ${job.cycleId}\n`,
  };
}

/**
 * Rebuilds the bot commit from the payload and checks it is the one apply built. A commit id is
 * the hash of its content, so when the expected id is already in this mirror (apply ran on this
 * machine) that very commit is here and there is nothing to rebuild.
 */
export async function rebuildCommit(mirror: Mirror, spec: CommitSpec, expected: string): Promise<void> {
  if (await mirror.hasCommit(expected)) return;
  await mirror.ensureCommit(spec.baseCommit);
  const got = await buildCommit(mirror, spec);
  if (got !== expected) {
    throw new CycleEnded('apply_failed', `rebuilt bot commit ${got.slice(0, 12)} differs from ${expected.slice(0, 12)}; the payload or git version differs between machines`);
  }
}
