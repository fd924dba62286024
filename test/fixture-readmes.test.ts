import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

// What test/fixtures/ecosystems/README.md says of each bundle is checked against the bundle:
// one commit on branch `fixture`, the upstream tree id, the size, and the licence files beside it.
const DIR = path.join(import.meta.dirname, 'fixtures', 'ecosystems');

interface Row {
  bundle: string;
  kb: number;
  tree: string;
  licences: string[];
}

async function rows(): Promise<Row[]> {
  const text = await readFile(path.join(DIR, 'README.md'), 'utf8');
  const out: Row[] = [];
  for (const line of text.split('\n')) {
    const m = /^\| `([a-z]+\.bundle)` \((\d+) KB\) \| [^|]+\| `[0-9a-f]{40}` \| `([0-9a-f]{40})` \| ([^|]+)\|/.exec(
      line,
    );
    if (m)
      out.push({
        bundle: m[1]!,
        kb: Number(m[2]),
        tree: m[3]!,
        licences: [...m[4]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!),
      });
  }
  return out;
}

describe('test/fixtures/ecosystems/README.md', () => {
  it('lists every bundle in the directory, and each holds what its row says', async () => {
    const listed = await rows();
    const bundles = (await readdir(DIR)).filter((f) => f.endsWith('.bundle')).sort();
    expect(listed.map((r) => r.bundle).sort()).toEqual(bundles);
    const tmp = await mkdtemp(path.join(tmpdir(), 'prbot-fixtures-'));
    try {
      for (const r of listed) {
        const d = path.join(tmp, r.bundle);
        await execa('git', ['clone', '-q', '-b', 'fixture', path.join(DIR, r.bundle), d]);
        const tree = (await execa('git', ['-C', d, 'rev-parse', 'HEAD^{tree}'])).stdout.trim();
        const commits = (await execa('git', ['-C', d, 'rev-list', '--count', 'HEAD'])).stdout.trim();
        expect({ bundle: r.bundle, tree, commits }).toEqual({ bundle: r.bundle, tree: r.tree, commits: '1' });
        // The README rounds sizes up to whole KB, as `du -k` does.
        expect(Math.ceil((await stat(path.join(DIR, r.bundle))).size / 1024), r.bundle).toBeLessThanOrEqual(r.kb);
        expect(Math.ceil((await stat(path.join(DIR, r.bundle))).size / 1024), r.bundle).toBeGreaterThan(r.kb - 4);
        expect(r.licences.length, r.bundle).toBeGreaterThan(0);
        for (const l of r.licences) await expect(stat(path.join(DIR, l)), l).resolves.toBeTruthy();
        // "The licence files sit beside each bundle and inside it."
        const inside = (await readdir(d)).filter((f) => /^(licen[cs]e|copying)/i.test(f));
        expect(inside.length, r.bundle).toBe(r.licences.length);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
