import { z } from 'zod';
import { header, type Delivery, type Headers } from '../webhook-delivery.ts';
import {
  login,
  repository,
  number,
  text,
  parse,
  sameRepo,
  pushed,
  closed,
  type WebhookEvent,
} from '../webhook-events.ts';

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

/**
 * Gitea's headers (services/webhook/deliver.go): X-Gitea-Signature = hex HMAC-SHA256 of the body,
 * X-Gitea-Delivery (a UUID), X-Gitea-Event (issue_comment, pull_request, issues …) and
 * X-Gitea-Event-Type (pull_request_comment, pull_request_label …). Forgejo sends the same and
 * X-Forgejo-* twins. Both also send GitHub-style headers; prbot goes by forge.kind.
 */
export function giteaDelivery(headers: Headers): Delivery {
  return {
    signature: header(headers, 'x-gitea-signature', 'x-forgejo-signature'),
    id: header(headers, 'x-gitea-delivery', 'x-forgejo-delivery'),
    event: header(headers, 'x-gitea-event', 'x-forgejo-event'),
    eventType: header(headers, 'x-gitea-event-type', 'x-forgejo-event-type') ?? '',
    prefix: '',
  };
}
