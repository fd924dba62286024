import { mkdtemp, rm, symlink, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEdits, blobOid, classify, proposalRefusal, resolveProposal } from './changes.ts';
import { lineStats, parseProposal, CycleEnded } from '@prbot/core';
import { rebuildCommit, botCommitSpec, buildCommit, commitGuardDefence } from './commit.ts';
import { git } from './git.ts';
import { Mirror } from './mirror.ts';
import { commitAll, makeUpstream, DEMO_REPO, withDefenceOff } from '@prbot/test-support';
import type { Proposal } from '@prbot/core';

let dir: string;
let mirror: Mirror;
let base: string;
let strings: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'prbot-changes-'));
  const { bare, checkout } = await makeUpstream(DEMO_REPO, path.join(dir, 'repo'));
  await symlink('/etc', path.join(checkout, 'etc-link'));
  await mkdir(path.join(checkout, 'bin'));
  await writeFile(path.join(checkout, 'bin', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await commitAll(checkout, 'add a symlink and an executable', true);
  mirror = new Mirror(path.join(dir, 'work'), bare);
  await mirror.sync();
  base = await mirror.resolve('main');
  strings = (await mirror.readFile(base, 'src/strings.js'))!;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const proposal = (files: Proposal['files']): Proposal => ({ summary: 's', files });

async function endOf(p: Proposal): Promise<CycleEnded> {
  try {
    await classify(mirror, base, p);
  } catch (err) {
    if (err instanceof CycleEnded) return err;
    throw err;
  }
  throw new Error('expected the cycle to end');
}

describe('classify', () => {
  it('tells ADD, UPDATE and NOOP apart from the base tree', async () => {
    const changes = await classify(
      mirror,
      base,
      proposal([
        { path: 'src/new.js', is_new: true, content: 'x' },
        { path: 'src/strings.js', is_new: false, content: strings + '// more\n' },
        { path: 'README.md', is_new: false, content: (await mirror.readFile(base, 'README.md'))! },
        { path: 'bin/run.sh', is_new: false, content: '#!/bin/sh\necho bye\n' },
      ]),
    );
    expect(changes.map((c) => [c.path, c.action, c.mode])).toEqual([
      ['src/new.js', 'ADD', '100644'],
      ['src/strings.js', 'UPDATE', '100644'],
      ['README.md', 'NOOP', '100644'],
      ['bin/run.sh', 'UPDATE', '100755'],
    ]);
  });

  it('ends with apply_failed naming the file when is_new disagrees with the tree', async () => {
    const e1 = await endOf(proposal([{ path: 'src/strings.js', is_new: true, content: 'x' }]));
    expect([e1.outcome, e1.reason]).toEqual([
      'apply_failed',
      'src/strings.js: proposed as new (is_new: true) but it already exists in the base commit',
    ]);
    const e2 = await endOf(proposal([{ path: 'src/missing.js', is_new: false, content: 'x' }]));
    expect(e2.reason).toMatch(/^src\/missing\.js: .*does not exist/);
  });

  it('refuses a path under a symlink of the base tree, and the symlink itself', async () => {
    expect((await endOf(proposal([{ path: 'etc-link/passwd', is_new: true, content: 'x' }]))).reason).toMatch(
      /etc-link is a symlink/,
    );
    expect((await endOf(proposal([{ path: 'etc-link', is_new: false, content: 'x' }]))).reason).toMatch(/is a symlink/);
  });

  it('refuses writing over a directory or under a file', async () => {
    expect((await endOf(proposal([{ path: 'src', is_new: false, content: 'x' }]))).reason).toMatch(/is a directory/);
    expect((await endOf(proposal([{ path: 'README.md/x.js', is_new: true, content: 'x' }]))).reason).toMatch(
      /README\.md is a file/,
    );
  });

  it('computes blob ids the way git does', async () => {
    const r = await git(['hash-object', '--stdin'], { cwd: dir, input: 'héllo\n' });
    expect(blobOid('héllo\n', 40)).toBe(r.stdout.trim());
  });
});

describe('edits', () => {
  it('resolve against the base blob into final content, in order, with line stats', async () => {
    const { changes, base: old } = await resolveProposal(
      mirror,
      base,
      proposal([
        {
          path: 'src/strings.js',
          is_new: false,
          edits: [
            {
              search: 'if (text.length === 0) return text;',
              replace: "if (text.length === 0) return text; // '' stays ''",
            },
            { search: "// '' stays ''", replace: '// the empty string stays' },
          ],
        },
      ]),
    );
    expect(changes).toEqual([
      {
        path: 'src/strings.js',
        action: 'UPDATE',
        mode: '100644',
        content: strings.replace(
          'if (text.length === 0) return text;',
          'if (text.length === 0) return text; // the empty string stays',
        ),
        lines: { added: 1, removed: 1 },
      },
    ]);
    expect(old.get('src/strings.js')).toBe(strings);
  });

  it('an edit that changes nothing is a NOOP', async () => {
    const [c] = await classify(
      mirror,
      base,
      proposal([
        {
          path: 'src/strings.js',
          is_new: false,
          edits: [{ search: 'export function slugify', replace: 'export function slugify' }],
        },
      ]),
    );
    expect(c).toMatchObject({ action: 'NOOP', content: strings, lines: { added: 0, removed: 0 } });
  });

  it('search text that matches twice or never ends apply_failed naming the file, the edit and an excerpt', async () => {
    const twice = await endOf(
      proposal([
        { path: 'src/strings.js', is_new: false, edits: [{ search: 'export function', replace: 'function' }] },
      ]),
    );
    expect([twice.outcome, twice.reason]).toEqual([
      'apply_failed',
      'src/strings.js: edits[0] of 1: the search text matches more than once (at lines 2 and 8); it must match exactly once: "export function"',
    ]);
    const never = await endOf(
      proposal([
        {
          path: 'src/strings.js',
          is_new: false,
          edits: [
            { search: 'export function slugify(text)', replace: 'export function slugify(input)' },
            { search: 'function  capitalize', replace: 'f' },
          ],
        },
      ]),
    );
    expect(never.reason).toBe(
      'src/strings.js: edits[1] of 2: the search text matches nowhere in the file; it must match exactly once: "function capitalize"',
    );
  });

  it('edits need an existing file: a new file is whole', async () => {
    const e = await endOf(
      proposal([{ path: 'src/brand-new.js', is_new: true, edits: [{ search: 'a', replace: 'b' }] }]),
    );
    expect(e.reason).toMatch(/^src\/brand-new\.js: edits need an existing file/);
  });

  it('replacement text is literal ($& and $1 are not patterns)', () => {
    expect(applyEdits('f', 'a-b', [{ search: '-', replace: "$&$1$'" }])).toBe("a$&$1$'b");
  });

  it('the proposal schema takes both forms; an entry with neither is refused with what each form needs', () => {
    const p = parseProposal(
      JSON.stringify({
        summary: 's',
        files: [
          { path: 'a', is_new: true, content: 'x' },
          { path: 'b', is_new: false, edits: [{ search: 'q', replace: 'r' }] },
        ],
      }),
      1e6,
    );
    expect(p.files).toHaveLength(2);
    expect(() => parseProposal(JSON.stringify({ summary: 's', files: [{ path: 'b', is_new: false }] }), 1e6)).toThrow(
      /files\.0\.(content|edits)/,
    );
    expect(() =>
      parseProposal(JSON.stringify({ summary: 's', files: [{ path: 'b', is_new: false, edits: [] }] }), 1e6),
    ).toThrow(/edits must not be empty/);
    expect(() =>
      parseProposal(
        JSON.stringify({ summary: 's', files: [{ path: 'b', is_new: false, edits: [{ search: '', replace: 'r' }] }] }),
        1e6,
      ),
    ).toThrow(/search text must not be empty/);
  });
});

describe('proposalRefusal', () => {
  const guard = { prdPath: 'docs/PRD.md', pauseFile: 'bot.paused', extraForbidden: [] };
  const limits = { maxFiles: 2, maxFileBytes: 10, maxTotalBytes: 15 };
  it('enforces counts, sizes, duplicates and file/directory clashes', () => {
    expect(proposalRefusal(proposal([]), guard, limits)).toMatch(/no files/);
    expect(
      proposalRefusal(proposal(['a', 'b', 'c'].map((p) => ({ path: p, is_new: true, content: '' }))), guard, limits),
    ).toMatch(/3 files; the limit is 2/);
    expect(proposalRefusal(proposal([{ path: 'a', is_new: true, content: 'x'.repeat(11) }]), guard, limits)).toMatch(
      /a is 11 bytes/,
    );
    expect(
      proposalRefusal(
        proposal([
          { path: 'a', is_new: true, content: 'x'.repeat(9) },
          { path: 'b', is_new: true, content: 'x'.repeat(9) },
        ]),
        guard,
        limits,
      ),
    ).toMatch(/18 bytes/);
    expect(
      proposalRefusal(
        proposal([
          { path: 'A.js', is_new: true, content: '' },
          { path: 'a.js', is_new: true, content: '' },
        ]),
        guard,
        limits,
      ),
    ).toMatch(/twice/);
    expect(
      proposalRefusal(
        proposal([
          { path: 'a', is_new: true, content: '' },
          { path: 'a/b', is_new: true, content: '' },
        ]),
        guard,
        limits,
      ),
    ).toMatch(/needs a to be a directory/);
    expect(proposalRefusal(proposal([{ path: 'x', is_new: true, content: 'a\0b' }]), guard, limits)).toMatch(/NUL/);
    expect(proposalRefusal(proposal([{ path: 'docs/PRD.md', is_new: false, content: '' }]), guard, limits)).toMatch(
      /PRD/,
    );
    expect(
      proposalRefusal(
        proposal([{ path: 'docs/PRD.md', is_new: false, edits: [{ search: 'a', replace: 'b' }] }]),
        guard,
        limits,
      ),
    ).toMatch(/PRD/);
    expect(
      proposalRefusal(
        proposal([{ path: 'a', is_new: false, edits: [{ search: 'x'.repeat(6), replace: 'y'.repeat(6) }] }]),
        guard,
        limits,
      ),
    ).toMatch(/a is 12 bytes/);
    expect(
      proposalRefusal(
        proposal([{ path: 'x', is_new: false, edits: [{ search: 'a', replace: 'a\0b' }] }]),
        guard,
        limits,
      ),
    ).toMatch(/NUL/);
  });
});

describe('buildCommit', () => {
  const guard = { prdPath: 'docs/PRD.md', pauseFile: 'bot.paused', extraForbidden: [] };
  const limits = { maxFiles: 20, maxFileBytes: 200_000, maxTotalBytes: 500_000 };
  it('builds the same commit id on two machines from the same payload, without a checkout', async () => {
    const job = {
      cycleId: 'c0000000001abcdef',
      baseCommit: base,
      createdAt: 1_700_000_000_000,
      gap: { text: 'Add x' },
      proposal: { summary: 'adds x' },
    };
    const changes = await classify(
      mirror,
      base,
      proposal([
        { path: 'src/x.js', is_new: true, content: 'export const x = 1;\n' },
        { path: 'src/strings.js', is_new: false, content: strings + '// touched\n' },
        { path: 'README.md', is_new: false, content: (await mirror.readFile(base, 'README.md'))! },
      ]),
    );
    const spec = botCommitSpec(job, changes, { name: 'prbot', email: 'prbot@localhost' }, { ctx: guard, limits });
    const a = await buildCommit(mirror, spec);
    const other = new Mirror(path.join(dir, 'work-other-machine'), mirror.url);
    await other.sync();
    const b = await buildCommit(other, spec);
    expect(a).toMatch(/^[0-9a-f]{40}$/);
    expect(b).toBe(a);
    const files = (await git(['diff', '--name-status', base, a], { cwd: mirror.dir })).stdout.trim().split('\n');
    expect(files).toEqual(['M\tsrc/strings.js', 'A\tsrc/x.js']);
    expect(await mirror.readFile(a, 'src/x.js')).toBe('export const x = 1;\n');
    const parent = (await git(['rev-parse', `${a}^`], { cwd: mirror.dir })).stdout.trim();
    expect(parent).toBe(base);
  });

  it('refuses a change set touching a guarded path, on build and on rebuild of a commit already in the mirror', async () => {
    const job = {
      cycleId: 'c0000000002abcdef',
      baseCommit: base,
      createdAt: 1_700_000_000_000,
      gap: { text: 'Add ci' },
      proposal: { summary: 'adds ci' },
    };
    const evil = [
      { path: '.github/workflows/x.yml', action: 'ADD' as const, mode: '100644' as const, content: 'on: push\n' },
    ];
    const spec = botCommitSpec(job, evil, { name: 'prbot', email: 'prbot@localhost' }, { ctx: guard, limits });
    await expect(buildCommit(mirror, spec)).rejects.toThrow(/guardrail: .*CI definition/);
    // The very commit, built by an older prbot that skipped the guard, is in the mirror already.
    const input = `commit refs/prbot/sneaked\ncommitter x <x@x> 1700000000 +0000\ndata 2\nx\nfrom ${base}\nM 100644 inline .github/workflows/x.yml\ndata 9\non: push\n\n`;
    await git(['fast-import', '--quiet', '--force'], { cwd: mirror.dir, input });
    const sneaked = (await git(['rev-parse', 'refs/prbot/sneaked'], { cwd: mirror.dir })).stdout.trim();
    expect(await mirror.hasCommit(sneaked)).toBe(true);
    await expect(rebuildCommit(mirror, spec, sneaked)).rejects.toThrow(/guardrail: .*CI definition/);
    // A payload with harmless changes that names that commit is refused too.
    const harmless = botCommitSpec(
      job,
      [{ path: 'src/y.js', action: 'ADD', mode: '100644', content: 'y' }],
      { name: 'prbot', email: 'prbot@localhost' },
      { ctx: guard, limits },
    );
    await expect(rebuildCommit(mirror, harmless, sneaked)).rejects.toThrow(/not the payload's change set/);
  });

  it('positive control: with the change-set match off, a commit already in the mirror that is not the payload is taken as its bot commit', async () => {
    const job = {
      cycleId: 'c0000000003abcdef',
      baseCommit: base,
      createdAt: 1_700_000_000_000,
      gap: { text: 'Add y' },
      proposal: { summary: 'adds y' },
    };
    const harmless = botCommitSpec(
      job,
      [{ path: 'src/y.js', action: 'ADD', mode: '100644', content: 'y' }],
      { name: 'prbot', email: 'prbot@localhost' },
      { ctx: guard, limits },
    );
    // A commit no payload declares (a path the guardrails allow, so only the match stands in the way).
    const input = `commit refs/prbot/backdoor\ncommitter x <x@x> 1700000000 +0000\ndata 2\nx\nfrom ${base}\nM 100644 inline src/backdoor.js\ndata 8\nevil();\n\n`;
    await git(['fast-import', '--quiet', '--force'], { cwd: mirror.dir, input });
    const backdoor = (await git(['rev-parse', 'refs/prbot/backdoor'], { cwd: mirror.dir })).stdout.trim();
    await expect(rebuildCommit(mirror, harmless, backdoor)).rejects.toThrow(/not the payload's change set/);
    await expect(
      withDefenceOff(commitGuardDefence, 'matchesPayload', () => rebuildCommit(mirror, harmless, backdoor)),
    ).resolves.toBeUndefined();
    // Accepted: the commit the pr stage would push holds src/backdoor.js, which the payload never named.
    expect(await mirror.readFile(backdoor, 'src/backdoor.js')).toBe('evil();\n');
  });
});
