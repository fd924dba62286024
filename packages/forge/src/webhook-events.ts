import { z } from 'zod';

/**
 * Forge webhook payloads → the few events prbot acts on: the event vocabulary and the parts both
 * forges share; each forge folder parses its own payloads (github/webhook.ts, gitea/webhook.ts). Every byte is hostile even after the
 * signature verified (a forge relays what users typed): zod checks the fields read here, and
 * anything else is an `ignored` event with the reason.
 *
 * Shapes: GitHub from its published webhook descriptions (@octokit/openapi-webhooks, see
 * packages/test-support/specs/webhooks); Gitea/Forgejo from modules/structs/hook.go
 * (IssueCommentPayload, PullRequestPayload, IssuePayload) and issue.go / pull.go.
 */
export type WebhookEvent =
  | {
      kind: 'comment';
      pr: number;
      commentId: number;
      commentKind: 'issue' | 'review' | 'summary';
      author: string;
      body: string;
    }
  /** Gitea/Forgejo: a review was submitted; its payload names neither the review nor its inline comments, so the PR is read. */
  | { kind: 'review'; pr: number; reviewer: string }
  | { kind: 'label'; pr: number; labels: string[]; actor: string }
  | {
      kind: 'pr_closed';
      pr: number;
      url: string;
      branch: string;
      body: string | null;
      merged: boolean;
      updatedAt: string;
    }
  | { kind: 'issue_edited'; issue: number; editor: string }
  | { kind: 'push'; ref: string }
  | { kind: 'ping' }
  | { kind: 'ignored'; why: string };

// Logins go into the dashboard issue's text: only the characters forges allow in them
// (GitHub Apps end in "[bot]").
export const login = z.object({
  login: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\[bot\])?$/, 'a forge login'),
});
export const repository = z.object({ full_name: z.string().max(300) });
export const number = z.number().int().positive();
export const text = z.string().max(262_144);

// GitHub's push payload and Gitea's PushPayload (modules/structs/hook.go) share these fields.
const push = z.object({ ref: z.string().max(500), repository });

export function parse<T>(schema: z.ZodType<T>, payload: unknown): { ok: true; data: T } | { ok: false; why: string } {
  const r = schema.safeParse(payload);
  if (r.success) return { ok: true, data: r.data };
  return {
    ok: false,
    why: `payload does not match: ${r.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ')}`,
  };
}

/**
 * The repository filter, switchable for one purpose: the positive control in
 * apps/dashboard/test/webhooks.test.ts turns it off in its own process to show another
 * repository's delivery is then dispatched. No variable or config field reaches this object.
 */
export const webhookRepoDefence = { sameRepo: true };

/** Only deliveries about the configured repository count (an organisation hook sends every repository's). */
export function sameRepo(got: string, want: string): boolean {
  if (!webhookRepoDefence.sameRepo) return true;
  return got.toLowerCase() === want.toLowerCase();
}

/** A push: the ref only; whether it is the base branch is upkeep's to judge (control upkeep.ts). */
export function pushed(payload: unknown, repo: string): WebhookEvent {
  const p = parse(push, payload);
  if (!p.ok) return { kind: 'ignored', why: p.why };
  if (!sameRepo(p.data.repository.full_name, repo))
    return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
  return { kind: 'push', ref: p.data.ref };
}

export function closed(
  pr: {
    number: number;
    html_url: string;
    body: string | null;
    updated_at: string;
    closed_at: string | null;
    head: { ref: string; repo?: { full_name: string } | null };
  },
  merged: boolean,
  repo: string,
): WebhookEvent {
  // A PR from a fork is never a bot PR, whatever its branch is called.
  if (pr.head.repo && !sameRepo(pr.head.repo.full_name, repo))
    return { kind: 'ignored', why: `head repository ${pr.head.repo.full_name} is not ${repo}` };
  return {
    kind: 'pr_closed',
    pr: pr.number,
    url: pr.html_url,
    branch: pr.head.ref,
    body: pr.body,
    merged,
    updatedAt: pr.closed_at ?? pr.updated_at,
  };
}
