import { webhookFixture } from './webhooks.ts';

/** The vendored payloads (specs/webhooks) with the fields prbot reads set for a test. */
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const REPO = 'team/app';

export function prClosedPayload(
  kind: 'gitea' | 'github',
  o: { number: number; url: string; branch: string; body: string; merged: boolean; repo?: string },
): Obj {
  const p: Obj = webhookFixture(kind, kind === 'github' ? 'pull-request-closed' : 'pull_request-closed');
  p.number = o.number;
  p.repository.full_name = o.repo ?? REPO;
  Object.assign(p.pull_request, {
    number: o.number,
    html_url: o.url,
    body: o.body,
    merged: o.merged,
    state: 'closed',
    updated_at: '2026-11-29T12:00:00Z',
    closed_at: '2026-11-29T12:00:00Z',
  });
  if (kind === 'github') p.pull_request.merged_at = o.merged ? '2026-11-29T12:00:00Z' : null;
  p.pull_request.head.ref = o.branch;
  if (p.pull_request.head.repo) p.pull_request.head.repo.full_name = o.repo ?? REPO;
  return p;
}

export function commentPayload(
  kind: 'gitea' | 'github',
  o: { pr: number; commentId: number; author: string; body: string },
): Obj {
  const p: Obj = webhookFixture(kind, kind === 'github' ? 'issue-comment-created' : 'issue_comment-created');
  p.repository.full_name = REPO;
  p.issue.number = o.pr;
  Object.assign(p.comment, { id: o.commentId, body: o.body });
  p.sender.login = o.author;
  if (kind === 'github') {
    p.issue.pull_request = {
      url: `https://api.github.example/repos/${REPO}/pulls/${o.pr}`,
      html_url: `https://github.example/${REPO}/pull/${o.pr}`,
      diff_url: `https://github.example/${REPO}/pull/${o.pr}.diff`,
      patch_url: `https://github.example/${REPO}/pull/${o.pr}.patch`,
    };
    const user = { ...p.sender, gravatar_id: '', type: 'User' };
    p.comment.user = user;
    p.issue.user = user;
  } else p.comment.user.login = o.author;
  return p;
}

export function labeledPayload(kind: 'gitea' | 'github', o: { pr: number; label: string; actor: string }): Obj {
  const p: Obj = webhookFixture(kind, kind === 'github' ? 'pull-request-labeled' : 'pull_request-label_updated');
  p.repository.full_name = REPO;
  p.number = o.pr;
  p.pull_request.number = o.pr;
  p.sender.login = o.actor;
  if (kind === 'github')
    p.label = {
      ...(p.label ?? {}),
      name: o.label,
      id: 1,
      node_id: 'x',
      url: 'https://github.example/l',
      color: 'ffffff',
      default: false,
      description: null,
    };
  else p.pull_request.labels = [{ ...p.pull_request.labels[0], name: o.label }];
  return p;
}

export function issueEditedPayload(kind: 'gitea' | 'github', o: { issue: number; editor: string; body: string }): Obj {
  const p: Obj = webhookFixture(kind, 'issues-edited');
  p.repository.full_name = REPO;
  p.issue.number = o.issue;
  p.issue.body = o.body;
  if (kind === 'gitea') p.number = o.issue;
  p.sender.login = o.editor;
  return p;
}
