// Upkeep settings, budget and PR limits, a copied marker and a guarded path (issue 25), on the
// Gitea stand-in; each of the last two with its positive control.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@prbot/core';
import { createRuntime, type Runtime } from '@prbot/pipeline';
import { commitGuardDefence, git } from '@prbot/repo';
import { defaultPolicy } from '@prbot/policy';
import { produce, upkeepDefences } from '@prbot/control';
import { waitForOutcomes } from '../helpers.ts';
import {
  baseMoves,
  botComments,
  commentsReach,
  head,
  HUMAN_TRUNCATE,
  startAll,
  tearDownAfterEach,
  TOKEN,
  upkeepLine,
  w,
  withBotPr,
} from '../upkeep-world.ts';

tearDownAfterEach();

describe('upkeep settings, budget and limits (gitea)', () => {
  /** The bot PR, a person's PR carrying its body (marker and all), and its gap ticked off on the base. */
  async function copiedMarkers() {
    const world = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' } });
    const bot = w.fake!.pulls[0]!;
    // A person opens a PR from their own branch under the bot prefix, pasting the bot PR's body.
    // (A PR from outside the prefix, the base among them, is not even listed by the forge drivers.)
    await git(['branch', 'bot/alices-work', 'main'], { cwd: w.h!.bare });
    const copy = w.fake!.seedPull({ head: 'bot/alices-work', body: bot.body, draft: false, title: 'Alice' });
    const prd = await readFile(path.join(w.h!.checkout, 'docs', 'PRD.md'), 'utf8');
    await baseMoves('docs/PRD.md', prd.replace('- [ ]', '- [x]'));
    return { ...world, copy };
  }

  it("a bot marker copied into a person's PR → that PR is neither closed nor rewritten", async () => {
    const { rt, branch, opened, copy } = await copiedMarkers();
    const report = await produce(rt, defaultPolicy);
    expect(upkeepLine(report.upkeep, 'bot/alices-work')).toMatchObject({
      action: 'left_alone',
      why: expect.stringContaining('a marker copied into another PR'),
    });
    expect(upkeepLine(report.upkeep, branch).action).toBe('closed');
    expect(copy.state).toBe('open');
    expect(await head('bot/alices-work')).not.toBeNull();
    expect(opened.branch).toBe(branch);
    expect(w.fake!.violations).toEqual([]);
  });

  it("positive control: with the marker's branch check switched off (upkeepDefences.markerBranch), the person's PR is closed", async () => {
    const { rt, branch, copy } = await copiedMarkers();
    upkeepDefences.markerBranch = false;
    let report;
    try {
      report = await produce(rt, defaultPolicy);
    } finally {
      upkeepDefences.markerBranch = true;
    }
    expect(upkeepLine(report.upkeep, 'bot/alices-work').action).toBe('closed');
    expect(upkeepLine(report.upkeep, branch).action).toBe('closed');
    expect(copy.state).toBe('closed');
    const comments = await botComments('gitea');
    expect(comments.filter((c) => c.includes('prbot is closing this PR'))).toHaveLength(2);
    expect(w.fake!.violations).toEqual([]);
  });

  it('upkeep.onConflict "comment" → one comment, no cycle, the PR as it was', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { onConflict: 'comment' } });
    const before = await head(branch);
    await baseMoves('src/truncate.js', 'export const truncate = (t) => t;\n');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('conflict_commented');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('conflict_commented');
    expect(await rt.queues.propose.count()).toBe(0);
    expect(await head(branch)).toBe(before);
    const comments = await botComments('gitea');
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain('no longer applies');
    expect(w.fake!.violations).toEqual([]);
  });

  it('at most upkeep.maxReproposals re-proposals per PR; then one comment, and no more cycles', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { maxReproposals: 1 } });
    await baseMoves('src/truncate.js', HUMAN_TRUNCATE);
    startAll(rt);
    const first = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(first.action).toBe('repropose_enqueued');
    expect((await waitForOutcomes(rt, [first.cycleId!]))[0]!.outcome).toBe('refreshed');
    await commentsReach('gitea', 1);
    const refreshed = await head(branch);
    // The person changes the very line the bot changed: a conflict again.
    await baseMoves(
      'src/truncate.js',
      HUMAN_TRUNCATE.replace('return text.slice(0, max);', 'return String(text).slice(0, max);'),
    );
    const calls = w.model!.requests.length;
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('reproposal_cap');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('reproposal_cap');
    expect(w.model!.requests.length).toBe(calls);
    expect(await rt.queues.propose.getWaitingCount()).toBe(0);
    expect(await head(branch)).toBe(refreshed);
    const comments = await botComments('gitea');
    expect(comments).toHaveLength(2);
    expect(comments[1]).toContain('(upkeep.maxReproposals)');
    expect(w.fake!.violations).toEqual([]);
  });

  it('rebaseWhen "conflicted" (the default) leaves a PR that is only behind; "never" leaves a conflicted one', async () => {
    const { rt, branch } = await withBotPr('gitea');
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    expect(upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch).action).toBe('behind');
    const never = createRuntime(
      { ...rt.cfg, upkeep: { ...rt.cfg.upkeep, rebaseWhen: 'never' } },
      {
        role: 'worker',
        env: { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k' },
        log: createLogger('silent', { pretty: false }),
      },
    );
    try {
      await baseMoves('src/truncate.js', 'export const truncate = (t) => t;\n');
      expect((await produce(never, defaultPolicy)).upkeep ?? []).toEqual([]);
    } finally {
      await never.close();
    }
    expect(await rt.queues.test.count()).toBe(0);
    expect(await rt.queues.propose.count()).toBe(0);
  });

  it('a refresh whose tests fail on the new base → refresh_failed, the PR as it was, a comment saying so', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' } });
    const before = await head(branch);
    await baseMoves(
      'test/broken.test.js',
      "import { test } from 'node:test';\ntest('the base broke this', () => { throw new Error('broken on the base'); });\n",
    );
    startAll(rt);
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refresh_failed');
    expect(r!.reason).toMatch(/^tests_failed: /);
    expect(await head(branch)).toBe(before);
    const comments = await commentsReach('gitea', 1);
    expect(comments[0]).toContain('did **not** change it: **refresh_failed**');
    expect(comments[0]).toContain(`The branch is as it was (${before!.slice(0, 12)})`);
    expect(w.fake!.violations).toEqual([]);
  });

  /**
   * The bot PR, then the operator forbids the file it changes (guardrails.forbidden) and the base
   * moves: the refresh's rebuilt change set touches a guarded path. Runs `body` on a runtime with
   * that config, closed (after any workers it started) at the end.
   */
  async function withGuardedRefresh(body: (tight: Runtime, branch: string, before: string) => Promise<void>) {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' } });
    const before = (await head(branch))!;
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const tight = createRuntime(
      { ...rt.cfg, guardrails: { ...rt.cfg.guardrails, forbidden: ['src/truncate.js'] } },
      {
        role: 'worker',
        env: { FORGE_TOKEN: TOKEN, PRBOT_TEST_KEY: 'k' },
        log: createLogger('silent', { pretty: false }),
      },
    );
    try {
      await body(tight, branch, before);
    } finally {
      await w.workers?.close(2000);
      w.workers = undefined;
      await tight.close();
    }
  }
  it('a refresh whose rebuilt change touches a guarded path → nothing enqueued, the PR as it was', async () => {
    await withGuardedRefresh(async (tight, branch, before) => {
      const line = upkeepLine((await produce(tight, defaultPolicy)).upkeep, branch);
      expect(line).toMatchObject({ action: 'left_alone', why: expect.stringContaining('guardrail') });
      expect(await tight.queues.test.count()).toBe(0);
      expect(await head(branch)).toBe(before);
    });
  });

  it('positive control: with the build-time guardrail check switched off (commitGuardDefence.check), that refresh is pushed', async () => {
    await withGuardedRefresh(async (tight, branch, before) => {
      commitGuardDefence.check = false;
      try {
        const line = upkeepLine((await produce(tight, defaultPolicy)).upkeep, branch);
        expect(line.action).toBe('refresh_enqueued');
        startAll(tight);
        const [r] = await waitForOutcomes(tight, [line.cycleId!]);
        expect(r!.outcome).toBe('refreshed');
      } finally {
        commitGuardDefence.check = true;
      }
      // The branch moved to a commit that writes the forbidden file.
      const now = (await head(branch))!;
      expect(now).not.toBe(before);
      const changed = await git(['diff', '--name-only', `${now}^`, now], { cwd: w.h!.bare });
      expect(changed.stdout.split('\n')).toContain('src/truncate.js');
    });
  });

  it('the budget: with the day spent, no refresh is enqueued', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' }, budget: { callsPerDay: 1 } });
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('budget_exhausted');
    expect(await rt.queues.test.count()).toBe(0);
  });

  it('the PR limits: a refresh counts against forge.maxPerHour and waits, pushing nothing', async () => {
    const { rt, branch } = await withBotPr('gitea', { upkeep: { rebaseWhen: 'behind' }, forge: { maxPerHour: 1 } });
    const before = await head(branch);
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    startAll(rt);
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    const end = Date.now() + 20_000;
    while ((await rt.queues.pr.getDelayedCount()) === 0) {
      if (Date.now() > end) throw new Error('the refresh never reached the PR limit');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await head(branch)).toBe(before);
    expect(await rt.redis.get(rt.keys.outcome(line.cycleId!))).toBeNull();
  });
});
