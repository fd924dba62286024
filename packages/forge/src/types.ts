import type { Logger } from '@prbot/core';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export interface DraftPr {
  branch: string;
  base: string;
  title: string;
  body: string;
  cycleId: string;
  labels: string[];
}

export const prStateSchema = z.enum(['open', 'closed', 'merged']);
export type PrState = z.infer<typeof prStateSchema>;

export interface PrRef {
  url: string;
  branch: string;
  state: PrState;
  /** False when the forge refused a draft and the PR opened as a normal one (title prefix only). */
  draft?: boolean;
  /** What went wrong without failing the PR (a label not applied, a draft refused); goes into the record. */
  warnings?: string[];
}

/** One line of `prbot doctor`: what was checked against the live forge, and how to fix a failure. */
export interface DoctorCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
  /** The forge could not be asked (unreachable, 5xx, rate-limited): says nothing about the token. */
  transient?: boolean;
}

/** What the doctor and the drivers need to know about the cycle's target beyond the forge itself. */
export interface ForgeTarget {
  base: string;
  labels: string[];
}

/** A bot PR as listed by the forge, tied to its cycle and gap by the body's markers. */
export interface BotPr extends PrRef {
  cycleId: string | null;
  gapId: string | null;
  updatedAt: string;
  /** The PR's number (Gitea index, GitHub number); absent from the local forge. */
  number?: number;
}

/** One PR as a revise cycle needs it: where its head is and what its body's marker says. */
export interface PrDetail extends PrRef {
  number: number;
  /** The commit the PR's head branch pointed at when the forge answered. */
  headSha: string;
  labels: string[];
  cycleId: string | null;
  gapId: string | null;
}

/**
 * A comment on a PR as the forge publishes it: `issue` = the conversation, `review` = an inline
 * review comment (on GitHub and Gitea a separate id space, hence the kind in every de-dup key).
 * Author and body are hostile input.
 */
export interface PrComment {
  id: number;
  /** `summary`: the body of a submitted review (approve, comment, request changes), by the review's id. */
  kind: 'issue' | 'review' | 'summary';
  author: string;
  body: string;
  createdAt: string;
  /** Review comments: the file they are on. */
  path?: string;
}

/**
 * One identity per request, the same on every path (webhook, poll, redelivery): the key a request
 * is claimed under. Gitea/Forgejo keep conversation comments, inline comments and replies in review
 * threads in one comment table, and a reply in a thread is delivered as an issue comment but listed
 * under its review: so on Gitea a comment is `comment-<id>` whatever view it came through. GitHub's
 * issue comments and review comments are two id spaces. Review summaries (a review's own body) have
 * the review's id, a space of its own on both.
 */
export function requestIdentity(forgeKind: string, kind: PrComment['kind'], id: number): string {
  if (kind === 'summary') return `summary-${id}`;
  if (forgeKind === 'github') return `${kind}-${id}`;
  return `comment-${id}`;
}

/** A user's access to the repository, as both forges name it (GitHub's maintain/triage fold into write/read). */
export type RepoPermission = 'admin' | 'write' | 'read' | 'none';

/** Who may steer prbot (ask for a revision, tick the dashboard issue): users who could push the change themselves. */
export function hasWriteAccess(p: RepoPermission): boolean {
  return p === 'admin' || p === 'write';
}

/** What revise cycles need from a forge beyond opening PRs (Gitea/Forgejo and GitHub; not the local forge). */
export interface ReviseForge {
  /** The PR, or null when the forge has no PR of that number. */
  getPr(number: number): Promise<PrDetail | null>;
  /** Conversation and inline review comments, oldest first. */
  listPrComments(number: number): Promise<PrComment[]>;
  /** Posts a reply in the PR's conversation. */
  commentOnPr(number: number, body: string): Promise<void>;
  /** The user's permission on the repository ('none' for a user the forge does not know). */
  permissionOf(login: string): Promise<RepoPermission>;
  /**
   * Who put `label` on the PR last (the newest "labeled" event in the issue's events / timeline),
   * or null when no such event is listed: produce's poll checks that user's write access.
   */
  labeledBy?(number: number, label: string): Promise<string | null>;
  /** Takes a label off the PR (best effort: the caller decides what a failure means). */
  removeLabel(number: number, label: string): Promise<void>;
  /** The login the token authenticates as (prbot's own comments are never triggers). */
  whoami(): Promise<string>;
  /** Pushes `commit` to the branch only if that is a fast-forward (no --force): a race is refused by the forge. */
  pushFastForward(mirrorDir: string, commit: string, branch: string): Promise<void>;
  /** The commit the remote branch points at now (git ls-remote), null when it does not exist. */
  branchHead(mirrorDir: string, branch: string): Promise<string | null>;
}

export function canRevise(f: Forge): f is Forge & ReviseForge {
  const r = f as Partial<ReviseForge>;
  return (
    typeof r.getPr === 'function' &&
    typeof r.listPrComments === 'function' &&
    typeof r.commentOnPr === 'function' &&
    typeof r.permissionOf === 'function' &&
    typeof r.pushFastForward === 'function'
  );
}

/**
 * What the upkeep of open bot PRs needs (issue 25), on every forge: a comment, a close, and git
 * writes that name the commit they expect to replace, so nothing anyone else pushed is lost.
 */
export interface UpkeepForge {
  /** One comment in the PR's conversation (local forge: appended to its JSON record). */
  commentOn(pr: BotPr, body: string): Promise<void>;
  /** Closes the PR unmerged (idempotent: closing a closed PR is not an error). */
  closePr(pr: BotPr): Promise<void>;
  /** `git push --force-with-lease=refs/heads/<branch>:<expected>`: refused (LeaseRefused) when the branch is not at `expected`. */
  pushWithLease(mirrorDir: string, commit: string, branch: string, expected: string): Promise<void>;
  /** Deletes the branch only while it is at `expected` (a lease on the delete); false when it is not. */
  deleteBranch(mirrorDir: string, branch: string, expected: string): Promise<boolean>;
}

export function canUpkeep(f: Forge): f is Forge & UpkeepForge {
  const u = f as Partial<UpkeepForge>;
  return (
    typeof u.commentOn === 'function' &&
    typeof u.closePr === 'function' &&
    typeof u.pushWithLease === 'function' &&
    typeof u.deleteBranch === 'function'
  );
}

/** What the pr stage and produce need from a forge. Every call must be safe to repeat. */
export interface Forge {
  readonly kind: string;
  /** Pushes the bot commit as the branch; re-pushing the same commit is a no-op. */
  push(mirrorDir: string, commit: string, branch: string): Promise<void>;
  /** The PR from this head branch in any state, an open one first (a retried job must not open a second). */
  findByBranch(branch: string): Promise<PrRef | null>;
  openDraft(pr: DraftPr): Promise<PrRef>;
  /** Every PR whose head starts with the bot's branch prefix, all states, in one listing. */
  listBotPrs(): Promise<BotPr[]>;
  /** `prbot doctor`: token, repository, base branch, labels and drafts checked against the live forge. */
  doctor?(target: ForgeTarget): Promise<DoctorCheck[]>;
  /** Issues, for the dashboard issue (issue 17); absent on the local forge. */
  issues?: ForgeIssues;
}

/** An issue as the forge shows it (never a pull request: the drivers filter those out). */
export interface ForgeIssue {
  number: number;
  url: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
}

/** Gitea: `write:issue` token scope; GitHub: Issues read and write. */
export interface ForgeIssues {
  create(title: string, body: string): Promise<ForgeIssue>;
  /** Null when there is no such issue, or the number is a pull request's. */
  get(number: number): Promise<ForgeIssue | null>;
  editBody(number: number, body: string): Promise<ForgeIssue>;
  /** Open issues (pull requests left out), newest first, at most forge.maxPages pages. */
  listOpen(): Promise<ForgeIssue[]>;
}

/**
 * The PR marker's key: derived from the job-signing key (PRBOT_JOB_KEY, held by workers and the
 * producer only). Without one, a fixed key: the marker is then trusted for its place (the body's
 * last line, which no model text can reach) but anyone who may edit PR bodies could forge it.
 */
export function markerKey(env: NodeJS.ProcessEnv = process.env): Buffer {
  return createHmac('sha256', env.PRBOT_JOB_KEY || 'prbot-unkeyed')
    .update('prbot pr-marker v1')
    .digest();
}

function markerMac(cycleId: string, gapId: string | null, key: Buffer): string {
  return createHmac('sha256', key)
    .update(`${cycleId}\n${gapId ?? '-'}`)
    .digest('hex')
    .slice(0, 32);
}

/** `<!-- prbot: cycle=… gap=… mac=… -->`, written by prbot as a PR body's last line. */
export function signedMarker(cycleId: string, gapId: string | null, key = markerKey()): string {
  return `<!-- prbot: cycle=${cycleId} gap=${gapId ?? '-'} mac=${markerMac(cycleId, gapId, key)} -->`;
}

/**
 * The marker's HMAC check, switchable for one purpose: the positive control in
 * apps/dashboard/test/webhooks.test.ts turns it off in its own process to show a forged marker
 * then settles a PR. No variable or config field reaches this object.
 */
export const prMarkerDefence = { mac: true };

/**
 * The zod check of each PR a listing describes (Gitea and GitHub drivers), switchable for one
 * purpose: the positive control of "hostile PR listings" in hostile-forge.test.ts turns it off in
 * its own process (back in a `finally`) to show a malformed item then ends the listing with a
 * TypeError. No variable or config field reaches this object.
 */
export const prListingDefence = { check: true };

const SIGNED = /^<!-- prbot: cycle=(c[0-9a-z]+) gap=(g[0-9a-f]{12}|-) mac=([0-9a-f]{32}) -->$/;
// Bodies written before the signed marker ended with these two lines; only there are they trusted.
const LEGACY_CYCLE = /^<!-- prbot-cycle: (c[0-9a-z]+) -->$/;
const LEGACY_GAP = /^<!-- prbot-gap: (g[0-9a-f]{12}) -->$/;

/**
 * The cycle and gap a bot PR belongs to, read only from the body's last line and only when its HMAC
 * verifies: a marker anywhere else (a model's summary, a PRD line) counts for nothing.
 */
export function markersOf(
  body: string | null | undefined,
  key = markerKey(),
): { cycleId: string | null; gapId: string | null } {
  const none = { cycleId: null, gapId: null };
  const lines = (body ?? '').split(/\r?\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const last = lines[lines.length - 1] ?? '';
  const m = SIGNED.exec(last);
  if (m) {
    const gapId = m[2] === '-' ? null : m[2]!;
    const want = Buffer.from(markerMac(m[1]!, gapId, key));
    if (!prMarkerDefence.mac) return { cycleId: m[1]!, gapId };
    return timingSafeEqual(want, Buffer.from(m[3]!)) ? { cycleId: m[1]!, gapId } : none;
  }
  const legacyGap = LEGACY_GAP.exec(last);
  const legacyCycle = LEGACY_CYCLE.exec(lines[lines.length - 2] ?? '');
  if (legacyGap && legacyCycle) return { cycleId: legacyCycle[1]!, gapId: legacyGap[1]! };
  return none;
}

/** What the Gitea and GitHub drivers are built from (forge/create.ts). */
/**
 * An owner's repositories as its forge lists them (discovery, issue 23): raw items, read by
 * discover.ts with one schema (Gitea's Repository and GitHub's minimal-repository share the
 * field names it reads). Both listings are read to the end or to forge.maxPages, with a warning.
 */
export interface RepoDirectory {
  ownerRepos(): AsyncGenerator<unknown>;
  /** Whether `path` is a file of repository `name` (of the same owner) on branch `ref`. */
  hasFile(name: string, path: string, ref: string): Promise<boolean>;
}

export interface RemoteForgeOptions {
  owner: string;
  repo: string;
  /** Sent only in the Authorization header and, for HTTPS pushes, git's http.extraHeader. */
  token: string;
  /** Its name, for error messages that say what to fix. */
  tokenEnv: string;
  remote: string;
  branchPrefix: string;
  timeoutMs: number;
  /** The largest answer read from the forge API (default FORGE_ANSWER_CAP, 32 MiB). */
  maxAnswerBytes?: number;
  /** The base branch PRs target (repo.base); Gitea's lookup by branch needs it. */
  base: string;
  /** Gitea: draft title prefix; GitHub: the title prefix used when drafts are refused. */
  draftPrefix: string;
  /** Pages read at most per listing before prbot warns and stops (a runaway or huge forge). */
  maxPages: number;
  log: Logger;
}
