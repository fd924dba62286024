// Upkeep of open bot PRs (issue 25) end to end, against the spec-validating Gitea and GitHub
// stand-ins and the local forge: the base moves → refreshed (rebuilt, tested, pushed with a lease,
// one comment); the change no longer applies → the configured action; a human commit on the branch
// → no rewrite, one comment; a push between prbot's read and its push → the lease refuses it; the
// gap removed → the PR closed once; produce twice → no second action. Positive controls: with
// `upkeepDefences.ownPushOnly` off, a person's commit is overwritten or its branch deleted.
// Settings, budget and PR limits: upkeep-settings.test.ts.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gapHistory } from '@prbot/pipeline';
import { git } from '@prbot/repo';
import { defaultPolicy } from '@prbot/policy';
import { produce, upkeepDefences } from '@prbot/control';
import { waitForOutcomes } from '../helpers.ts';
import {
  baseMoves,
  BOT_EDIT,
  botComments,
  commentsReach,
  head,
  HUMAN_TRUNCATE,
  humanCommitOn,
  prState,
  startAll,
  tearDownAfterEach,
  upkeepLine,
  w,
  withBotPr,
  type Kind,
} from '../upkeep-world.ts';

tearDownAfterEach();

describe.each<Kind>(['gitea', 'github', 'local'])('%s: upkeep of open bot PRs', (kind) => {
  it('the base moves without a conflict → rebuilt, tested, pushed with a lease, one comment; produce again → nothing more', async () => {
    const { rt, branch, opened } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    const before = (await head(branch))!;
    const base = await baseMoves('README.md', '# demo\n\nThe base moved.\n');

    const first = await produce(rt, defaultPolicy);
    const line = upkeepLine(first.upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    // Produce twice before the refresh ran: the gap's lock holds it; no second job.
    const second = await produce(rt, defaultPolicy);
    expect(upkeepLine(second.upkeep, branch).action).toBe('in_flight');
    expect(await rt.queues.test.getWaitingCount()).toBe(1);

    startAll(rt);
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refreshed');
    expect(r!.kind).toBe('refresh');
    expect(r!.refresh_of).toMatchObject({ branch, lease: before, mode: 'rebuild', base });
    expect(r!.tests.length).toBeGreaterThan(0);
    expect(r!.tests.every((t) => t.ok)).toBe(true);
    expect(r!.model?.usage.total_tokens).toBe(0); // a rebuild makes no model call
    // The new head is one prbot commit on the new base, holding both the base's change and the PR's.
    const now = (await head(branch))!;
    expect(now).toBe(r!.bot_commit);
    expect((await git(['rev-parse', `${now}^`], { cwd: w.h!.bare })).stdout.trim()).toBe(base);
    expect((await git(['show', `${now}:README.md`], { cwd: w.h!.bare })).stdout).toContain('The base moved.');
    expect((await git(['show', `${now}:src/truncate.js`], { cwd: w.h!.bare })).stdout).toContain(
      'export function truncate',
    );
    const comments = await commentsReach(kind, 1);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain(`with a lease on ${before.slice(0, 12)}`);
    expect(comments[0]).toContain('Tests on the new base');
    expect((await gapHistory(rt.redis, rt.keys, opened.gap_id!, 5)).map((x) => x.outcome)).toContain('refreshed');

    // Up to date now: a third produce does nothing to it.
    const third = await produce(rt, defaultPolicy);
    expect(upkeepLine(third.upkeep, branch).action).toBe('current');
    expect(await head(branch)).toBe(now);
    expect(await botComments(kind)).toHaveLength(1);
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  it('the change no longer applies → a propose cycle on the new base with the conflict as context, pushed with a lease', async () => {
    const { rt, branch } = await withBotPr(kind);
    const before = (await head(branch))!;
    // A person adds the same file on the base: an add/add conflict with the bot's change.
    const base = await baseMoves('src/truncate.js', HUMAN_TRUNCATE);
    const calls = (await rt.budget.today()).calls.used;
    startAll(rt);
    const report = await produce(rt, defaultPolicy);
    const line = upkeepLine(report.upkeep, branch);
    expect(line.action).toBe('repropose_enqueued');
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refreshed');
    expect(r!.refresh_of).toMatchObject({ mode: 'repropose', lease: before, base });
    expect(r!.model?.usage.total_tokens).toBeGreaterThan(0); // a model call, charged like any
    expect((await rt.budget.today()).calls.used).toBe(calls + 1);
    const prompt = w
      .model!.requests.at(-1)!
      .body.messages.map((m) => m.content)
      .join('\n');
    expect(prompt).toContain('This cycle REBUILDS');
    expect(prompt).toContain('"src/truncate.js"');
    const now = (await head(branch))!;
    expect(now).toBe(r!.bot_commit);
    expect((await git(['rev-parse', `${now}^`], { cwd: w.h!.bare })).stdout.trim()).toBe(base);
    expect((await git(['show', `${now}:src/truncate.js`], { cwd: w.h!.bare })).stdout).toBe(
      HUMAN_TRUNCATE.replace(BOT_EDIT.search, BOT_EDIT.replace),
    );
    expect(await commentsReach(kind, 1)).toHaveLength(1);
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  it('a human commit on the branch → no rewrite, one comment (once)', async () => {
    const { rt, branch } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    const human = await humanCommitOn(branch);
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const first = await produce(rt, defaultPolicy);
    expect(upkeepLine(first.upkeep, branch).action).toBe('someone_else_pushed');
    const second = await produce(rt, defaultPolicy);
    expect(upkeepLine(second.upkeep, branch).action).toBe('someone_else_pushed');
    expect(await rt.queues.test.count()).toBe(0);
    expect(await rt.queues.propose.count()).toBe(0);
    expect(await head(branch)).toBe(human);
    const comments = await botComments(kind);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain('holds commits prbot did not push');
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  it("positive control: with the own-push check switched off (upkeepDefences.ownPushOnly), the human's commit is overwritten", async () => {
    const { rt, branch } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    const human = await humanCommitOn(branch);
    const base = await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    upkeepDefences.ownPushOnly = false;
    let line;
    try {
      line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    } finally {
      upkeepDefences.ownPushOnly = true;
    }
    expect(line.action).toBe('refresh_enqueued');
    startAll(rt);
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refreshed');
    // The branch is prbot's rebuild on the new base; the person's commit is no longer on it.
    const now = (await head(branch))!;
    expect(now).toBe(r!.bot_commit);
    expect((await git(['rev-parse', `${now}^`], { cwd: w.h!.bare })).stdout.trim()).toBe(base);
    const onBranch = await git(['merge-base', '--is-ancestor', human, now], { cwd: w.h!.bare, okCodes: [1] });
    expect(onBranch.exitCode).toBe(1);
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  /** The bot PR with a person's commit on its branch, then its gap ticked off on the base. */
  async function unwantedWithHumanCommit() {
    const world = await withBotPr(kind);
    const human = await humanCommitOn(world.branch);
    const prd = path.join(w.h!.checkout, 'docs', 'PRD.md');
    await baseMoves('docs/PRD.md', (await readFile(prd, 'utf8')).replace('- [ ]', '- [x]'));
    return { ...world, human };
  }

  it('the gap ticked off while a human commit is on the branch → the PR closed, the branch kept', async () => {
    const { rt, branch, human } = await unwantedWithHumanCommit();
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('closed');
    expect(line.why).toContain(`kept (it holds commits prbot did not push: ${human.slice(0, 12)})`);
    expect(await head(branch)).toBe(human);
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  it("positive control: with the own-push check switched off (upkeepDefences.ownPushOnly), that branch is deleted with the human's commit", async () => {
    const { rt, branch, human } = await unwantedWithHumanCommit();
    upkeepDefences.ownPushOnly = false;
    let line;
    try {
      line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    } finally {
      upkeepDefences.ownPushOnly = true;
    }
    expect(line.action).toBe('closed');
    expect(line.why).toContain(`deleted (it held only ${human.slice(0, 12)}`);
    expect(await head(branch)).toBeNull();
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  it('a push that lands between prbot read the branch and its push → the lease refuses it, nothing clobbered, refresh_failed with the reason', async () => {
    const { rt, branch } = await withBotPr(kind, { upkeep: { rebaseWhen: 'behind' } });
    await baseMoves('README.md', '# demo\n\nThe base moved.\n');
    const line = upkeepLine((await produce(rt, defaultPolicy)).upkeep, branch);
    expect(line.action).toBe('refresh_enqueued');
    // Upkeep read the branch; before the worker pushes, a person pushes to it.
    const human = await humanCommitOn(branch);
    startAll(rt);
    const [r] = await waitForOutcomes(rt, [line.cycleId!]);
    expect(r!.outcome).toBe('refresh_failed');
    expect(r!.reason).toMatch(
      /no longer at [0-9a-f]{12}, the commit prbot last pushed \(someone else pushed; nothing was overwritten\)/,
    );
    expect(await head(branch)).toBe(human);
    const comments = await commentsReach(kind, 1);
    expect(comments[0]).toContain('did **not** change it: **refresh_failed**');
    expect(w.fake?.violations ?? []).toEqual([]);
  });

  it('the gap ticked off → the PR closed with one comment and its branch deleted, once; the gap back → the human-rejection rule', async () => {
    const { rt, branch, url, opened } = await withBotPr(kind);
    const prd = path.join(w.h!.checkout, 'docs', 'PRD.md');
    const text = await readFile(prd, 'utf8');
    await baseMoves('docs/PRD.md', text.replace('- [ ]', '- [x]'));
    const first = await produce(rt, defaultPolicy);
    const line = upkeepLine(first.upkeep, branch);
    expect(line.action).toBe('closed');
    expect(line.why).toContain('ticked off in docs/PRD.md');
    expect(line.why).toContain('deleted');
    expect(await prState(kind)).toBe('closed');
    expect(await head(branch)).toBeNull();
    const comments = await botComments(kind);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain('ticked off');
    const history = await gapHistory(rt.redis, rt.keys, opened.gap_id!, 5);
    expect(history[0]).toMatchObject({ outcome: 'closed_unwanted', pr_url: url, kind: 'upkeep' });

    // Produce again: no second close, comment or record.
    const second = await produce(rt, defaultPolicy);
    expect((second.upkeep ?? []).filter((l) => l.branch === branch)).toEqual([]);
    expect(await botComments(kind)).toHaveLength(1);
    expect(
      (await gapHistory(rt.redis, rt.keys, opened.gap_id!, 5)).filter((x) => x.outcome === 'closed_unwanted'),
    ).toHaveLength(1);

    // The line unticked: the gap is back, its PR was closed unmerged, and a "no" stands.
    await baseMoves('docs/PRD.md', text);
    const back = await produce(rt, defaultPolicy);
    expect(back.lines.find((l) => l.gap.id === opened.gap_id)).toMatchObject({ action: 'not_picked' });
    expect(w.fake?.violations ?? []).toEqual([]);
  });
});
