import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CycleRecord } from '@prbot/core';
import { QUEUE_NAMES } from '@prbot/pipeline';
import { produceRepos } from '@prbot/control';
import { defaultPolicy } from '@prbot/policy';
import { git } from '@prbot/repo';
import { startModelServer, type ModelServer } from '@prbot/test-support';
import { startWorkers } from '../../src/workers.ts';
import { cassetteScript, waitForOutcomes } from '../helpers.ts';
import { reposWorld, type ReposWorld } from '../repos-world.ts';

const TRUNCATE =
  'Add a `truncate(text, max)` helper in src/truncate.js that shortens text to max characters with an ellipsis';

let world: ReposWorld | undefined;
let server: ModelServer | undefined;
afterEach(async () => {
  await world?.cleanup();
  await server?.close();
  world = server = undefined;
});

/** Commits `files` onto main of a bare remote, as a person pushing to the repository would. */
async function push(bare: string, files: Record<string, string>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'prbot-push-'));
  try {
    await git(['clone', '--quiet', bare, dir], { cwd: tmpdir() });
    for (const [f, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
      await writeFile(path.join(dir, f), text);
    }
    await git(['add', '-A'], { cwd: dir });
    await git(['-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-qm', 'settings'], { cwd: dir });
    await git(['push', '--quiet', 'origin', 'HEAD:main'], { cwd: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('.prbot.yaml: settings in the repository', () => {
  it("narrows its repository's PRD and test command for produce and every stage; a malformed or widening file ends only its own repository's produce, naming the line or the field", async () => {
    server = await startModelServer(await cassetteScript());
    world = await reposWorld({ alpha: [], beta: [TRUNCATE], gamma: [TRUNCATE], delta: [TRUNCATE] }, server);
    // alpha: its gaps live in docs/GAPS.md, its tests run with a reporter the operator did not name.
    await push(world.remotes.alpha!, {
      'docs/GAPS.md': `# Gaps\n\n- [ ] ${TRUNCATE} [bot-eligible]\n`,
      '.prbot.yaml':
        'prd: docs/GAPS.md\ntests:\n  commands: [[node, --test, --test-reporter=tap]]\n  timeoutMs: 120000\n',
    });
    // beta: a file YAML cannot read (an unclosed flow sequence).
    await push(world.remotes.beta!, { '.prbot.yaml': 'tests:\n  commands: [[node, --test]\nprd: x.md\n' });
    // gamma: asks for the network during setup, which the operator did not give.
    await push(world.remotes.gamma!, { '.prbot.yaml': 'tests:\n  network: setup\nlimits:\n  maxOpen: 50\n' });
    const cfg = await world.config({
      repos: ['alpha', 'beta', 'gamma', 'delta'].map((name) => ({ name, url: world!.remotes[name] })),
    });
    const rt = await world.open(cfg);
    const workers = startWorkers(rt, defaultPolicy, { queues: [...QUEUE_NAMES] });
    try {
      const runs = await produceRepos(rt, defaultPolicy);
      expect(runs.map((r) => r.repo)).toEqual(['alpha', 'beta', 'gamma', 'delta']);
      const error = (repo: string) => {
        const r = runs.find((x) => x.repo === repo)!;
        return 'error' in r ? r.error : null;
      };
      expect(error('beta')).toMatch(/beta:\.prbot\.yaml@[0-9a-f]{12}:\n {2}- line \d+: YAML /);
      expect(error('gamma')).toMatch(/gamma:\.prbot\.yaml@[0-9a-f]{12}/);
      expect(error('gamma')).toMatch(/- tests\.network: "setup" would widen the operator's "none"/);
      expect(error('gamma')).toMatch(/- limits\.maxOpen: 50 would widen the operator's 5/);
      // The others went on: alpha from its own PRD path, delta (no file) as the operator set it.
      const enqueued = (repo: string) => {
        const r = runs.find((x) => x.repo === repo)!;
        if ('error' in r) throw new Error(r.error);
        return r.report.lines.filter((l) => l.action === 'enqueued');
      };
      const [a, d] = [enqueued('alpha'), enqueued('delta')];
      expect(a.map((l) => l.gap.text)).toEqual([TRUNCATE]);
      expect(d).toHaveLength(1);
      const done = await waitForOutcomes(rt, [a[0]!.cycleId!, d[0]!.cycleId!], 90_000);
      const cmd = (r: CycleRecord) => r.tests.filter((t) => t.phase === 'test').map((t) => t.argv);
      const byRepo = Object.fromEntries(done.map((r) => [r.repo, r]));
      expect(byRepo.alpha!.outcome).toBe('ok');
      expect(cmd(byRepo.alpha!)).toEqual([['node', '--test', '--test-reporter=tap']]);
      expect(cmd(byRepo.delta!)).toEqual([['node', '--test']]);
    } finally {
      await workers.close(2000);
    }
  }, 180_000);
});
