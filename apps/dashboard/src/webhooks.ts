import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Runtime } from '@prbot/pipeline';
import type { ClosedPrEvent } from '@prbot/control';
import { signatureValid, webhookReader, webhookRepoDefence, type WebhookEvent } from '@prbot/forge';
import { inertText } from '@prbot/core';

/** The shape of `requestRevision` (@prbot/control, revise cycles): one entry point for polling and webhooks. */
type ReviseTrigger =
  | { kind: 'comment'; commentId: number; commentKind?: 'issue' | 'review' | 'summary'; author: string; body: string }
  | { kind: 'label'; label: string; actor: string };
type ReviseInput = { pr: number; trigger: ReviseTrigger; via: 'poll' | 'webhook' };
type ReviseResult = { enqueued: true; cycleId: string } | { enqueued: false; reason: string; detail?: string };

/** What a verified, first-seen delivery may cause. Injected, so tests record the calls. */
export interface WebhookActions {
  revise(input: ReviseInput): Promise<ReviseResult>;
  /** Gitea/Forgejo: a review was submitted on the PR; its summary and inline comments are read from the API (`pollPr`). */
  reviewed?(e: { pr: number; reviewer: string }): Promise<unknown>;
  /** Immediate bookkeeping of a closed or merged PR (gap done, or rejected per the human-rejection rule). */
  prClosed(e: ClosedPrEvent & { pr: number }): Promise<unknown>;
  /** Someone edited an issue: the dashboard issue's boxes may have been ticked. */
  dashboardIssueEdited(e: { issue: number; editor: string }): Promise<unknown>;
  /** A push to a branch (issue 25): on the base branch, upkeep of the open bot PRs runs at once. */
  basePushed?(e: { ref: string }): Promise<unknown>;
}

/**
 * The route's defences, switchable for one purpose: the positive controls in
 * apps/dashboard/test/webhooks.test.ts turn one off in their own process to show the forged or
 * replayed delivery is then dispatched. No variable or config field reaches this object.
 */
export const webhookDefences = { secretRequired: true, signature: true, deliveryOnce: true };

/**
 * POST / on the router (mounted at /webhooks): the one route of the dashboard server that is not
 * behind its basic auth, because a forge cannot log in: it authenticates by the HMAC signature
 * (secret from the environment variable webhooks.secretEnv). Order: size cap → signature (401,
 * nothing else looked at) → JSON content type → delivery id claimed once (Redis SET NX with a TTL;
 * a redelivery answers 200 and dispatches nothing) → zod-parsed payload → dispatch. A dispatch
 * that fails gives the delivery id back (500), so the forge's redelivery can try again.
 */
export function webhookRouter(rt: Runtime, actions: WebhookActions | ((view: Runtime) => WebhookActions)): Router {
  const router = express.Router();
  const { maxBodyBytes, deliveryTtlMs, secretEnv } = rt.cfg.webhooks;
  const actionsOf = typeof actions === 'function' ? actions : () => actions;
  // The raw body, for this route only: the signature is over the exact bytes sent.
  router.post('/', express.raw({ type: () => true, limit: maxBodyBytes }), async (req: Request, res: Response) => {
    // One URL for every repository (issue 23): the forge that sent it (its own headers) narrows the
    // repositories it can be about; the payload's repository, read once the signature holds, picks one.
    const candidates = await sentBy(rt, req.headers);
    if (candidates.length === 0)
      return void res.status(404).json({ error: 'no repository on a forge that sends these webhooks is configured' });
    const forge = candidates[0]!.cfg.forge as Exclude<Runtime['cfg']['forge'], { kind: 'local' }>;
    const secret = rt.env[secretEnv] ?? '';
    if (webhookDefences.secretRequired && !secret) {
      rt.log.warn({ secretEnv }, `webhook refused: ${secretEnv} is not set`);
      return void res
        .status(503)
        .json({ error: `webhooks are not set up: set ${secretEnv} to the secret configured on the forge's webhook` });
    }
    const reader = webhookReader(forge.kind);
    const d = reader.delivery(req.headers);
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (webhookDefences.signature && !signatureValid(raw, d.signature, secret, d.prefix)) {
      rt.log.warn(
        { delivery: d.id?.slice(0, 80), signed: d.signature !== undefined },
        'webhook refused: bad or missing signature',
      );
      return void res.status(401).json({ error: d.signature ? 'signature does not match' : 'missing signature' });
    }
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return void res.status(415).json({ error: "set the webhook's content type to application/json" });
    }
    if (!d.id || d.id.length > 200 || !d.event)
      return void res.status(400).json({ error: 'missing delivery id or event header' });

    const key = rt.keys.webhookDelivery(d.id);
    const claimed = await rt.redis.set(key, String(rt.clock()), 'PX', deliveryTtlMs, 'NX');
    if (webhookDefences.deliveryOnce && claimed !== 'OK') {
      return void res.status(200).json({ delivery: d.id, duplicate: true });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      await rt.redis.del(key).catch(() => {});
      return void res.status(400).json({ error: 'the body is not JSON' });
    }
    const named = repositoryOf(payload);
    // Off only in webhooks.test.ts's positive control: an unknown repository's delivery goes to the first.
    const view =
      candidates.find((v) => fullName(v)?.toLowerCase() === named?.toLowerCase()) ??
      (webhookRepoDefence.sameRepo ? undefined : candidates[0]);
    if (!view) {
      await rt.redis.del(key).catch(() => {});
      return void res.status(404).json({
        error: `repository ${named === undefined ? '(none named)' : `"${inertText(named.slice(0, 200))}"`} is not one this deployment serves`,
      });
    }
    const event = reader.event({ ...d, event: d.event }, payload, fullName(view)!);
    try {
      const result = await dispatch(event, actionsOf(view));
      rt.log.info({ delivery: d.id, event: d.event, kind: event.kind }, 'webhook handled');
      res.status(event.kind === 'ping' ? 200 : 202).json({
        delivery: d.id,
        event: event.kind,
        ...(event.kind === 'ignored' ? { ignored: event.why } : {}),
        result,
      });
    } catch (err) {
      await rt.redis.del(key).catch(() => {});
      rt.log.error({ delivery: d.id, event: d.event, err: (err as Error).message }, 'webhook dispatch failed');
      res.status(500).json({ error: `dispatch failed: ${(err as Error).message}` });
    }
  });
  router.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'entity.too.large')
      return void res.status(413).json({ error: `the body is larger than webhooks.maxBodyBytes (${maxBodyBytes})` });
    res.status(err.status ?? 400).json({ error: err.message });
  });
  return router;
}

/** The repositories on a forge of the kind that sent these headers (Gitea and Forgejo send GitHub-style twins too). */
async function sentBy(rt: Runtime, headers: Request['headers']): Promise<Runtime[]> {
  const giteaFamily = headers['x-gitea-event'] !== undefined || headers['x-forgejo-event'] !== undefined;
  // The runtime given serves its own repository as given (a caller may have laid fields over it).
  const views = [...(await rt.views()).values()].map((v) => (v.repo.name === rt.repo.name ? rt : v));
  return views.filter((v) => {
    const k = v.cfg.forge.kind;
    return k !== 'local' && (giteaFamily ? k === 'gitea' || k === 'forgejo' : k === 'github');
  });
}

function fullName(v: Runtime): string | undefined {
  const f = v.cfg.forge;
  return f.kind === 'local' ? undefined : `${f.owner}/${f.repo}`;
}

/** `repository.full_name` of a payload, as both forges send it; undefined when it names none. */
function repositoryOf(payload: unknown): string | undefined {
  const r = (payload as { repository?: { full_name?: unknown } } | null)?.repository;
  return typeof r?.full_name === 'string' ? r.full_name : undefined;
}

// Gitea reports every label a PR carries: at most this many are asked about.
const MAX_LABELS = 20;

async function dispatch(e: WebhookEvent, actions: WebhookActions): Promise<unknown> {
  switch (e.kind) {
    case 'ping':
      return 'pong';
    case 'ignored':
      return null;
    case 'comment':
      return actions.revise({
        pr: e.pr,
        trigger: {
          kind: 'comment',
          commentId: e.commentId,
          commentKind: e.commentKind,
          author: e.author,
          body: e.body,
        },
        via: 'webhook',
      });
    case 'review':
      return actions.reviewed ? actions.reviewed({ pr: e.pr, reviewer: e.reviewer }) : null;
    case 'label': {
      let last: ReviseResult | null = null;
      for (const label of e.labels.slice(0, MAX_LABELS)) {
        last = await actions.revise({ pr: e.pr, trigger: { kind: 'label', label, actor: e.actor }, via: 'webhook' });
        if (last.enqueued) break;
      }
      return last;
    }
    case 'pr_closed':
      return actions.prClosed({
        pr: e.pr,
        url: e.url,
        branch: e.branch,
        body: e.body,
        merged: e.merged,
        updatedAt: e.updatedAt,
      });
    case 'issue_edited':
      return actions.dashboardIssueEdited({ issue: e.issue, editor: e.editor });
    case 'push':
      return actions.basePushed ? actions.basePushed({ ref: e.ref }) : null;
  }
}
