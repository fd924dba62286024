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

/** GitHub's headers: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256, X-GitHub-Delivery, X-GitHub-Event. */
export function githubDelivery(headers: Headers): Delivery {
  return {
    signature: header(headers, 'x-hub-signature-256'),
    id: header(headers, 'x-github-delivery'),
    event: header(headers, 'x-github-event'),
    eventType: '',
    prefix: 'sha256=',
  };
}
