import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { gapHistories, settledView, type Runtime } from '@prbot/pipeline';
import { inertText, scopeGaps, type Gap } from '@prbot/core';
import { markerKey, type ForgeIssue, type ForgeIssues } from '@prbot/forge';
import { repoUrl } from '@prbot/config';
import { settledPrs } from './bot-prs.ts';
import { pausedQueues, setPaused } from './pause.ts';
import { enqueueGaps } from './enqueue.ts';
import { readParsedPrd } from './prd-cache.ts';

/**
 * The dashboard issue (Renovate's "Dependency Dashboard" for prbot): one issue per repository,
 * created once and edited in place at each produce and after webhook-triggered bookkeeping. It
 * lists the gaps with their last outcome and PR, the budget left today and the paused queues,
 * and offers boxes a human ticks: `retry <gap>` (re-enqueues that gap once) and `pause bot` /
 * `resume bot` (the four stage queues).
 *
 * Found again by a signed marker bound to the issue's number (its body's last line), never by
 * title: anyone may open an issue with that title, or paste the marker into another issue.
 * A box counts as a request only when it is ticked now and was unticked in the body prbot last
 * wrote; after it is honoured the body is rewritten with the box unticked, so it acts once.
 */

/** What prbot keeps about its issue: which one, and the body it last wrote. */
const issueStateSchema = z.strictObject({
  number: z.number().int().positive(),
  body: z.string(),
  /** What the last requests did, shown in the issue until the next requests. */
  notes: z.array(z.string()).default([]),
});
type IssueState = z.infer<typeof issueStateSchema>;

export interface DashboardIssueInput {
  via: 'produce' | 'webhook';
  /** The PRD's gaps at `base`; read from the mirror when absent (a webhook). */
  gaps?: Gap[];
  base?: string;
  /** Who edited the issue, when the forge said so (the `issues` webhook). */
  editor?: { login: string; canWrite: boolean };
}

export type DashboardIssueReport =
  | { updated: false; reason: string }
  | {
      updated: true;
      number: number;
      url: string;
      created: boolean;
      changed: boolean;
      requests: string[];
      notes: string[];
    };

const LOCK_MS = 60_000;

/**
 * Reads the issue, honours the requests ticked since prbot last wrote it, and writes it again.
 * One update at a time (a Redis lock): a produce and a webhook that race do not both honour a box.
 */
export async function updateDashboardIssue(rt: Runtime, input: DashboardIssueInput): Promise<DashboardIssueReport> {
  if (!rt.cfg.dashboardIssue.enabled) return { updated: false, reason: 'dashboardIssue.enabled is false' };
  const issues = rt.forge.issues;
  if (!issues)
    return {
      updated: false,
      reason: `the ${rt.forge.kind} forge has no issues; the dashboard issue needs forge.kind gitea, forgejo or github`,
    };
  const token = `${process.pid}-${rt.clock()}-${Math.random()}`;
  if ((await rt.redis.set(rt.keys.dashboardIssueLock(), token, 'PX', LOCK_MS, 'NX')) !== 'OK')
    return { updated: false, reason: 'another update of the dashboard issue is running' };
  try {
    return await update(rt, issues, input);
  } finally {
    // Only our own lock: one that expired and was taken by another update stays.
    if ((await rt.redis.get(rt.keys.dashboardIssueLock())) === token) await rt.redis.del(rt.keys.dashboardIssueLock());
  }
}

/** For produce and webhooks: the dashboard issue never fails the run that triggers it. */
export async function updateDashboardIssueQuietly(
  rt: Runtime,
  input: DashboardIssueInput,
): Promise<DashboardIssueReport> {
  try {
    return await updateDashboardIssue(rt, input);
  } catch (err) {
    const reason = `the dashboard issue was not updated: ${(err as Error).message}`;
    rt.log.warn({ via: input.via }, reason);
    return { updated: false, reason };
  }
}

/**
 * The issue's defences, switchable for one purpose: the positive controls in
 * apps/dashboard/test/webhooks.test.ts turn one off in their own process (off: found by title or
 * by an unverified marker, as before; a tick honoured whoever made it; any ticked box a request,
 * whether or not prbot wrote it unticked: packages/control/src/dashboard-issue.test.ts). No
 * variable or config field reaches this object.
 */
export const dashboardIssueDefence = { signedMarker: true, editorWriteAccess: true, writtenUnticked: true };

async function update(rt: Runtime, issues: ForgeIssues, input: DashboardIssueInput): Promise<DashboardIssueReport> {
  const repo = repoName(rt);
  let state = await loadState(rt);
  let issue: ForgeIssue | null = null;
  let created = false;

  // 1. Find the issue: the number prbot stored (its own record; the body is rewritten with the
  //    marker anyway), else an open issue whose marker verifies.
  if (state) {
    issue = await issues.get(state.number);
    if (!issue) state = null;
  }
  if (!issue) {
    const ours = (i: ForgeIssue) =>
      dashboardIssueDefence.signedMarker
        ? verifiesMarker(i.body, repo, i.number)
        : i.title === rt.cfg.dashboardIssue.title || MARKER.test(i.body.trim().split(/\r?\n/).at(-1)?.trim() ?? '');
    issue = (await issues.listOpen()).find(ours) ?? null;
    // Found without prbot's record of what it wrote: no box can be told apart from a request.
    if (issue) state = { number: issue.number, body: issue.body, notes: [] };
  }

  // 2. Requests: boxes ticked now that prbot wrote unticked; honoured unless the editor lacks write access.
  const requests = issue && state ? ticked(issue.body, state.body) : { retry: [], pause: false, resume: false };
  const asked = [
    ...requests.retry.map((g) => `retry ${g}`),
    ...(requests.pause ? ['pause bot'] : []),
    ...(requests.resume ? ['resume bot'] : []),
  ];
  // An edit that asks for nothing (prbot's own edit coming back as a webhook, a typo fixed) changes nothing.
  if (input.editor && asked.length === 0) return { updated: false, reason: 'the edit ticked no new box' };
  // 3. The PRD's gaps, as produce saw them (or read now, for a webhook).
  const { gaps, base } = input.gaps && input.base ? { gaps: input.gaps, base: input.base } : await readGaps(rt);
  let notes = state?.notes ?? [];
  if (asked.length && input.editor && !input.editor.canWrite && dashboardIssueDefence.editorWriteAccess) {
    notes = [
      `${input.editor.login} has no write access to ${repo}: the request(s) ${asked.join(', ')} were not honoured.`,
    ];
  } else if (asked.length) {
    notes = await honour(rt, requests, gaps, base, input.editor?.login);
  }

  // 4. The new body; created once, then edited in place (only when it changed).
  const body = await render(rt, gaps, notes, issue?.number ?? null);
  if (!issue) {
    const first = await issues.create(rt.cfg.dashboardIssue.title, body);
    created = true;
    // Kept at once: should the signing edit fail, the next run edits this issue, not a new one.
    await saveState(rt, { number: first.number, body: first.body, notes });
    // The marker is bound to the number, which exists only now: a second write signs it.
    issue = await issues.editBody(first.number, await render(rt, gaps, notes, first.number));
  } else if (issue.body !== body) {
    issue = await issues.editBody(issue.number, body);
  }
  const changed = created || issue.body !== state?.body;
  await saveState(rt, { number: issue.number, body: issue.body, notes });
  rt.log.info({ issue: issue.number, via: input.via, requests: asked, created }, 'dashboard issue updated');
  return { updated: true, number: issue.number, url: issue.url, created, changed, requests: asked, notes };
}

interface Requests {
  retry: string[];
  pause: boolean;
  resume: boolean;
}

const RETRY_BOX = /^\s*[-*] \[([ xX])\] retry (g[0-9a-f]{12})\b/;
const BOT_BOX = /^\s*[-*] \[([ xX])\] (pause|resume) bot\s*$/;

function boxes(body: string): { retry: Map<string, boolean>; bot: Map<string, boolean> } {
  const retry = new Map<string, boolean>();
  const bot = new Map<string, boolean>();
  for (const line of body.split(/\r?\n/)) {
    const r = RETRY_BOX.exec(line);
    if (r) retry.set(r[2]!, r[1] !== ' ');
    const b = BOT_BOX.exec(line);
    if (b) bot.set(b[2]!, b[1] !== ' ');
  }
  return { retry, bot };
}

/** Boxes ticked in `now` that were present and unticked in what prbot last wrote. */
export function ticked(now: string, lastWritten: string): Requests {
  const was = boxes(lastWritten);
  const is = boxes(now);
  const newly = (m: Map<string, boolean>, before: Map<string, boolean>) =>
    [...m].filter(([k, v]) => v && (before.get(k) === false || !dashboardIssueDefence.writtenUnticked)).map(([k]) => k);
  const bot = newly(is.bot, was.bot);
  return { retry: newly(is.retry, was.retry), pause: bot.includes('pause'), resume: bot.includes('resume') };
}

async function honour(rt: Runtime, r: Requests, gaps: Gap[], base: string, by: string | undefined): Promise<string[]> {
  const notes: string[] = [];
  const who = by ? ` (asked by ${by})` : '';
  if (r.pause) {
    await setPaused(rt, true);
    notes.push(`Paused the stage queues${who}.`);
  } else if (r.resume) {
    await setPaused(rt, false);
    notes.push(`Resumed the stage queues${who}.`);
  }
  const prs = await settledPrs(rt, r.retry);
  const items: { gap: Gap; notes: string[] }[] = [];
  for (const id of r.retry) {
    const gap = gaps.find((g) => g.id === id);
    const pr = prs.get(id);
    if (!gap)
      notes.push(
        `retry ${id}: no such unchecked [bot-eligible] line in ${rt.cfg.repo.prd} any more; nothing enqueued.`,
      );
    else if (pr?.verdict === 'awaiting_review')
      notes.push(`retry ${id}: its PR ${pr.url} is still open; close it first. Nothing enqueued.`);
    else if (pr?.verdict === 'done') notes.push(`retry ${id}: its PR ${pr.url} was merged; nothing enqueued.`);
    else
      items.push({
        gap,
        notes: pr
          ? [
              `A reviewer closed the bot's previous pull request for this gap without merging it: ${pr.url}. Take a different approach.`,
            ]
          : [],
      });
  }
  // A retry is a human's explicit request: it skips the cool-down, the failure streak and the
  // rejection rule, but not the budget, the guardrails or the one-cycle-per-gap lock.
  const { lines } = await enqueueGaps(rt, base, items);
  for (const l of lines)
    notes.push(
      l.action === 'enqueued'
        ? `retry ${l.gap.id}: enqueued cycle ${l.cycleId}${who}.`
        : `retry ${l.gap.id}: ${l.why}; nothing enqueued.`,
    );
  return notes;
}

async function readGaps(rt: Runtime): Promise<{ gaps: Gap[]; base: string }> {
  await rt.mirror.sync();
  const base = await rt.mirror.resolve(rt.cfg.repo.base);
  // The PRD where the repository's .prbot.yaml on the base puts it.
  const read = await readParsedPrd(await settledView(rt, base), base);
  return { gaps: read === null ? [] : scopeGaps(read.parsed.gaps, rt.repo.gapScope), base };
}

/** PRD text is untrusted: one line, no markup that could forge a box, a mention or a marker. */
function inline(text: string, max = 160): string {
  const t = inertText(text).replace(/`/g, "'").trim();
  return '`' + (t.length > max ? `${t.slice(0, max - 1)}…` : t) + '`';
}

async function render(rt: Runtime, gaps: Gap[], notes: string[], number: number | null): Promise<string> {
  const repo = repoName(rt);
  const [histories, prs, budget, paused] = await Promise.all([
    gapHistories(
      rt.redis,
      rt.keys,
      gaps.map((g) => g.id),
      1,
    ),
    settledPrs(rt),
    rt.budget.today(),
    pausedQueues(rt),
  ]);
  const out: string[] = [];
  out.push(
    `This issue is prbot's dashboard for **${repo}**. prbot rewrites it at each produce and after each webhook; tick a box to ask for something, and it is honoured at the next produce or webhook (then the box is unticked again). Only people with write access can edit this issue.`,
  );
  out.push('', '## Gaps', '');
  if (gaps.length === 0) out.push(`No unchecked \`[bot-eligible]\` lines in \`${rt.cfg.repo.prd}\`.`);
  for (const g of gaps) {
    const last = histories.get(g.id)?.[0];
    const pr = prs.get(g.id);
    const outcome = last
      ? `last outcome: ${last.outcome} (${last.ended_at.slice(0, 16).replace('T', ' ')} UTC)`
      : 'no cycle yet';
    const prText = pr
      ? `${pr.verdict === 'awaiting_review' ? 'open PR' : pr.verdict === 'done' ? 'merged PR' : 'closed PR'}: ${pr.url}`
      : 'no PR';
    out.push(`- [ ] retry ${g.id}: ${inline(g.text)} — ${outcome}; ${prText}`);
  }
  out.push('', '## Bot', '');
  out.push(paused.length ? '- [ ] resume bot' : '- [ ] pause bot');
  out.push(
    '',
    `Budget left today: ${budget.calls.left} of ${budget.calls.cap} model calls, ${budget.tokens.left} of ${budget.tokens.cap} tokens.`,
  );
  out.push(`Paused queues: ${paused.length ? paused.join(', ') : 'none'}.`);
  if (notes.length) out.push('', '## Last requests', '', ...notes.map((n) => `- ${n}`));
  out.push('', number === null ? '<!-- prbot-dashboard: pending -->' : dashboardMarker(repo, number));
  return out.join('\n') + '\n';
}

function repoName(rt: Runtime): string {
  const f = rt.cfg.forge;
  return f.kind === 'local' ? repoUrl(rt.cfg) : `${f.owner}/${f.repo}`;
}

function markerMac(repo: string, number: number, key: Buffer): string {
  return createHmac('sha256', key).update(`dashboard\n${repo}\n${number}`).digest('hex').slice(0, 32);
}

/** `<!-- prbot-dashboard: issue=<n> mac=… -->`, the body's last line, bound to repository and number. */
export function dashboardMarker(repo: string, number: number, key = markerKey()): string {
  return `<!-- prbot-dashboard: issue=${number} mac=${markerMac(repo, number, key)} -->`;
}

const MARKER = /^<!-- prbot-dashboard: issue=(\d+) mac=([0-9a-f]{32}) -->$/;

export function verifiesMarker(body: string, repo: string, number: number, key = markerKey()): boolean {
  const lines = body
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const m = MARKER.exec(lines[lines.length - 1] ?? '');
  if (!m || Number(m[1]) !== number) return false;
  return timingSafeEqual(Buffer.from(markerMac(repo, number, key)), Buffer.from(m[2]!));
}

async function loadState(rt: Runtime): Promise<IssueState | null> {
  const raw = await rt.redis.get(rt.keys.dashboardIssue());
  if (!raw) return null;
  try {
    const p = issueStateSchema.safeParse(JSON.parse(raw));
    return p.success ? p.data : null;
  } catch {
    return null;
  }
}

async function saveState(rt: Runtime, s: IssueState): Promise<void> {
  await rt.redis.set(rt.keys.dashboardIssue(), JSON.stringify(s));
}

/** The number of the dashboard issue prbot keeps, if any (a webhook ignores edits to other issues). */
export async function dashboardIssueNumber(rt: Runtime): Promise<number | null> {
  return (await loadState(rt))?.number ?? null;
}
