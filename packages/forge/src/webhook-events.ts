import { z } from 'zod';

/**
 * Forge webhook payloads → the few events prbot acts on. Every byte is hostile even after the
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
const login = z.object({ login: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\[bot\])?$/, 'a forge login') });
const repository = z.object({ full_name: z.string().max(300) });
const number = z.number().int().positive();
const text = z.string().max(262_144);

const ghIssueComment = z.object({
  action: z.string(),
  issue: z.object({ number, pull_request: z.unknown().optional() }),
  comment: z.object({ id: number, body: text.nullable(), user: login.nullable() }),
  repository,
  sender: login,
});
const ghReviewComment = z.object({
  action: z.string(),
  pull_request: z.object({ number }),
  comment: z.object({ id: number, body: text, user: login.nullable() }),
  repository,
  sender: login,
});
const ghReview = z.object({
  action: z.string(),
  pull_request: z.object({ number }),
  review: z.object({ id: number, body: text.nullable(), state: z.string().max(40), user: login.nullable() }),
  repository,
  sender: login,
});
const ghPullRequest = z.object({
  action: z.string(),
  label: z.object({ name: z.string().max(100) }).optional(),
  pull_request: z.object({
    number,
    html_url: z.string().max(2000),
    body: text.nullable(),
    merged: z.boolean().nullable().optional(),
    merged_at: z.string().nullable(),
    updated_at: z.string(),
    closed_at: z.string().nullable(),
    head: z.object({ ref: z.string().max(500), repo: repository.nullable() }),
  }),
  repository,
  sender: login,
});
const ghIssues = z.object({
  action: z.string(),
  issue: z.object({ number, pull_request: z.unknown().optional() }),
  repository,
  sender: login,
});

const gtIssueComment = z.object({
  action: z.string(),
  issue: z.object({ number, pull_request: z.unknown().nullable().optional() }),
  comment: z.object({ id: number, body: text, user: login.nullable() }),
  repository,
  sender: login,
  is_pull: z.boolean(),
});
const gtPullRequest = z.object({
  action: z.string(),
  pull_request: z.object({
    number,
    html_url: z.string().max(2000),
    body: text.nullable(),
    merged: z.boolean(),
    labels: z
      .array(z.object({ name: z.string().max(100) }))
      .max(100)
      .nullable(),
    updated_at: z.string(),
    closed_at: z.string().nullable(),
    head: z.object({ ref: z.string().max(500), repo: repository.nullable().optional() }),
  }),
  repository,
  sender: login,
});
// modules/structs/hook.go PullRequestPayload with Review (ReviewPayload: type and content only).
const gtReviewed = z.object({
  action: z.string(),
  pull_request: z.object({ number }),
  review: z
    .object({ type: z.string().max(60), content: text })
    .nullable()
    .optional(),
  repository,
  sender: login,
});
const gtIssues = z.object({
  action: z.string(),
  issue: z.object({ number, pull_request: z.unknown().nullable().optional() }),
  repository,
  sender: login,
});

// GitHub's push payload and Gitea's PushPayload (modules/structs/hook.go) share these fields.
const push = z.object({ ref: z.string().max(500), repository });

function parse<T>(schema: z.ZodType<T>, payload: unknown): { ok: true; data: T } | { ok: false; why: string } {
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

/** Only deliveries about the configured repository count (an organisation hook sends every repository's). */
function sameRepo(got: string, want: string): boolean {
  return got.toLowerCase() === want.toLowerCase();
}

/** GitHub: `X-GitHub-Event` and the payload's `action`. */
export function githubEvent(event: string, payload: unknown, repo: string): WebhookEvent {
  if (event === 'ping') return { kind: 'ping' };
  if (event === 'issue_comment') {
    const p = parse(ghIssueComment, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'created') return { kind: 'ignored', why: `issue_comment ${p.data.action}` };
    if (p.data.issue.pull_request === undefined || p.data.issue.pull_request === null)
      return { kind: 'ignored', why: 'a comment on an issue, not a pull request' };
    return {
      kind: 'comment',
      pr: p.data.issue.number,
      commentId: p.data.comment.id,
      commentKind: 'issue',
      author: p.data.comment.user?.login ?? p.data.sender.login,
      body: p.data.comment.body ?? '',
    };
  }
  if (event === 'pull_request_review_comment') {
    const p = parse(ghReviewComment, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'created') return { kind: 'ignored', why: `pull_request_review_comment ${p.data.action}` };
    return {
      kind: 'comment',
      pr: p.data.pull_request.number,
      commentId: p.data.comment.id,
      commentKind: 'review',
      author: p.data.comment.user?.login ?? p.data.sender.login,
      body: p.data.comment.body,
    };
  }
  if (event === 'pull_request_review') {
    // A review summary (approve, comment, request changes): its body can be the request. Its inline
    // comments come as pull_request_review_comment deliveries of their own.
    const p = parse(ghReview, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'submitted') return { kind: 'ignored', why: `pull_request_review ${p.data.action}` };
    return {
      kind: 'comment',
      pr: p.data.pull_request.number,
      commentId: p.data.review.id,
      commentKind: 'summary',
      author: p.data.review.user?.login ?? p.data.sender.login,
      body: p.data.review.body ?? '',
    };
  }
  if (event === 'pull_request') {
    const p = parse(ghPullRequest, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    const d = p.data;
    if (!sameRepo(d.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${d.repository.full_name} is not ${repo}` };
    if (d.action === 'labeled')
      return d.label
        ? { kind: 'label', pr: d.pull_request.number, labels: [d.label.name], actor: d.sender.login }
        : { kind: 'ignored', why: 'labeled without a label' };
    if (d.action === 'closed')
      return closed(d.pull_request, d.pull_request.merged === true || d.pull_request.merged_at !== null, repo);
    return { kind: 'ignored', why: `pull_request ${d.action}` };
  }
  if (event === 'push') return pushed(payload, repo);
  if (event === 'issues') {
    const p = parse(ghIssues, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'edited') return { kind: 'ignored', why: `issues ${p.data.action}` };
    return { kind: 'issue_edited', issue: p.data.issue.number, editor: p.data.sender.login };
  }
  return { kind: 'ignored', why: `event "${event.slice(0, 60)}" is not one prbot acts on` };
}

// Gitea's X-Gitea-Event for a submitted review (modules/webhook/type.go HookEventType.Event):
// pull_request_review_approved → pull_request_approved, _rejected → pull_request_rejected,
// _comment → pull_request_comment (also what a single inline comment sends: services/pull/review.go
// submits it as a review of type comment with an empty body).
const GITEA_REVIEW_EVENTS = new Set(['pull_request_approved', 'pull_request_rejected', 'pull_request_comment']);

/** Gitea/Forgejo: `X-Gitea-Event` (issue_comment, pull_request, issues, pull_request_*) and `X-Gitea-Event-Type` for the detail. */
export function giteaEvent(event: string, eventType: string, payload: unknown, repo: string): WebhookEvent {
  if (GITEA_REVIEW_EVENTS.has(event)) {
    const p = parse(gtReviewed, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'reviewed') return { kind: 'ignored', why: `${event} ${p.data.action}` };
    return { kind: 'review', pr: p.data.pull_request.number, reviewer: p.data.sender.login };
  }
  if (event === 'issue_comment') {
    const p = parse(gtIssueComment, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'created') return { kind: 'ignored', why: `issue_comment ${p.data.action}` };
    if (!p.data.is_pull) return { kind: 'ignored', why: 'a comment on an issue, not a pull request' };
    return {
      kind: 'comment',
      pr: p.data.issue.number,
      commentId: p.data.comment.id,
      commentKind: eventType === 'pull_request_review_comment' ? 'review' : 'issue',
      author: p.data.comment.user?.login ?? p.data.sender.login,
      body: p.data.comment.body,
    };
  }
  if (event === 'pull_request') {
    const p = parse(gtPullRequest, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    const d = p.data;
    if (!sameRepo(d.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${d.repository.full_name} is not ${repo}` };
    // Gitea says only that the labels changed (pull_request_label, action label_updated): the
    // labels the PR carries now are what the revise check looks at.
    if (d.action === 'label_updated')
      return {
        kind: 'label',
        pr: d.pull_request.number,
        labels: (d.pull_request.labels ?? []).map((l) => l.name),
        actor: d.sender.login,
      };
    if (d.action === 'closed') return closed(d.pull_request, d.pull_request.merged, repo);
    return { kind: 'ignored', why: `pull_request ${d.action}` };
  }
  if (event === 'push') return pushed(payload, repo);
  if (event === 'issues') {
    const p = parse(gtIssues, payload);
    if (!p.ok) return { kind: 'ignored', why: p.why };
    if (!sameRepo(p.data.repository.full_name, repo))
      return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
    if (p.data.action !== 'edited') return { kind: 'ignored', why: `issues ${p.data.action}` };
    return { kind: 'issue_edited', issue: p.data.issue.number, editor: p.data.sender.login };
  }
  return { kind: 'ignored', why: `event "${event.slice(0, 60)}" is not one prbot acts on` };
}

/** A push: the ref only; whether it is the base branch is upkeep's to judge (control upkeep.ts). */
function pushed(payload: unknown, repo: string): WebhookEvent {
  const p = parse(push, payload);
  if (!p.ok) return { kind: 'ignored', why: p.why };
  if (!sameRepo(p.data.repository.full_name, repo))
    return { kind: 'ignored', why: `repository ${p.data.repository.full_name} is not ${repo}` };
  return { kind: 'push', ref: p.data.ref };
}

function closed(
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
