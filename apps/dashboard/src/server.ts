import { randomBytes } from 'node:crypto';
import express, { type Express, type Request, type Response } from 'express';
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { z } from 'zod';
import { canRevise, hasWriteAccess } from '@prbot/forge';
import { gapHistory, QUEUE_NAMES, recentRecords, type Runtime } from '@prbot/pipeline';
import { outcomeSchema } from '@prbot/core';
import { pollPr, requestRevision, webhookBookkeeping } from '@prbot/control';
import { createMetrics } from './metrics.ts';
import { readBacklog } from './backlog.ts';
import { overview, stats } from './overview.ts';
import { isQueueName, renderOverview } from './page.ts';
import { basicAuth, browserId, sameOriginWrites, type BasicAuth } from './security.ts';
import { webhookRouter, type WebhookActions } from './webhooks.ts';

export interface DashboardOptions {
  auth: BasicAuth | null;
  readOnly: boolean;
  secureCookies: boolean;
  refreshSeconds?: number;
  /**
   * What verified webhook deliveries do (per repository's view when a function); default: revise
   * cycles, PR bookkeeping and the dashboard issue of the repository the delivery is about.
   */
  webhooks?: WebhookActions | ((view: Runtime) => WebhookActions);
}

/**
 * Revise requests go to the same entry point polling uses (`requestRevision`: mention/label,
 * write access, cap, de-dup per comment). Edits of the dashboard issue are judged by the forge's
 * collaborator permission when the driver offers one (`permissionOf`; not the local forge).
 */
function defaultWebhookActions(rt: Runtime): WebhookActions {
  const forge = rt.forge;
  return {
    ...webhookBookkeeping(
      rt,
      canRevise(forge) ? { canWrite: async (login) => hasWriteAccess(await forge.permissionOf(login)) } : {},
    ),
    revise: (input) => requestRevision(rt, input),
    reviewed: (e) => pollPr(rt, e.pr),
  };
}

/** `?repo=NAME`: a configured repository's name narrows the page to it; anything else shows all. */
async function repoFilter(rt: Runtime, q: unknown): Promise<string | null> {
  if (typeof q !== 'string') return null;
  return (await rt.views()).has(q) ? q : null;
}

const cyclesQuery = z.object({
  gap: z
    .string()
    .regex(/^g[0-9a-f]{12}$/, 'a gap id such as g0123456789ab')
    .optional(),
  outcome: outcomeSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** Keys under which a job carries model-written text (file contents, edits): shown as sizes. */
const MODEL_TEXT_KEYS = new Set(['content', 'edits', 'search', 'replace']);

/**
 * The only string fields shown as they are: ids, commits, enums, paths, branches, logins, times
 * and the commands the operator configured. Every other string (a proposal's summary, a test's
 * output tail, a PR conversation, a reason quoting either, a prompt note) is a size, so a field
 * added later is hidden until someone decides it may be shown.
 */
const SHOWN_KEYS = new Set([
  'cycleId',
  'cycle_id',
  // A configured repository's name (repoName: letters, digits, `.`, `-`, `_`).
  'repo',
  'id',
  'gap_id',
  'originCycle',
  'revise_of',
  'refresh_of',
  'baseCommit',
  'botCommit',
  'base_commit',
  'bot_commit',
  'lease',
  'kind',
  'action',
  'mode',
  'phase',
  'outcome',
  'stage',
  'state',
  'shown',
  'lines',
  'rung',
  'signal',
  'skipped',
  'unit',
  'via',
  'path',
  'conflicts',
  'branch',
  'url',
  'pr_url',
  'author',
  'started_at',
  'ended_at',
  'argv',
]);
/** Subtrees the operator wrote (the PRD's gap): shown whole. */
const OPERATOR_KEYS = new Set(['gap', 'gap_text']);

/**
 * Proposal and file contents, test output and forge text never reach the page: Bull Board shows
 * their size instead, wherever in the job they sit (`proposal.files[]`, `saved.proposal.files[]`,
 * `changes[]`, `tests[].tail`, `revise.thread[].body`, a return value, or a shape added later).
 */
export function redactJobData(data: unknown): unknown {
  type Mode = 'hidden' | 'shown' | 'operator';
  const walk = (v: unknown, depth: number, mode: Mode): unknown => {
    if (typeof v === 'string') return mode === 'hidden' ? `[${Buffer.byteLength(v)} bytes]` : v;
    if (!v || typeof v !== 'object') return v;
    if (depth > 64) return '[nested too deep]';
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1, mode));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (MODEL_TEXT_KEYS.has(k) && x !== null && x !== undefined && typeof x !== 'boolean' && typeof x !== 'number') {
        out[k] =
          typeof x === 'string'
            ? `[${Buffer.byteLength(x)} bytes]`
            : `[${Buffer.byteLength(JSON.stringify(x) ?? '')} bytes of ${k}]`;
      } else
        out[k] = walk(
          x,
          depth + 1,
          mode === 'operator' || OPERATOR_KEYS.has(k) ? 'operator' : SHOWN_KEYS.has(k) ? 'shown' : 'hidden',
        );
    }
    return out;
  };
  return walk(data, 0, 'hidden');
}

export function createDashboard(rt: Runtime, o: DashboardOptions): Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', async (_req, res) => {
    try {
      await Promise.race([
        rt.redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000)),
      ]);
      res.json({ ok: true, redis: 'up' });
    } catch (err) {
      res.status(503).json({ ok: false, redis: 'down', error: (err as Error).message });
    }
  });

  // Before basic auth and CSRF: a forge cannot log in; the route checks the HMAC signature
  // instead, and reads its own raw body (no urlencoded/JSON parser runs before it).
  app.use('/webhooks', webhookRouter(rt, o.webhooks ?? defaultWebhookActions));

  if (o.auth) app.use(basicAuth(o.auth));
  app.use(cookieParser());
  app.use(browserId(o.secureCookies));
  app.use(express.urlencoded({ extended: false, limit: '8kb' }));

  // A fresh secret per process unless set: a restart only asks open pages to reload.
  const csrfSecret = process.env.PRBOT_DASHBOARD_CSRF_SECRET ?? randomBytes(32).toString('hex');
  const { generateCsrfToken, doubleCsrfProtection } = doubleCsrf({
    getSecret: () => csrfSecret,
    getSessionIdentifier: (req) => String(req.cookies?.prbot_sid ?? ''),
    cookieName: 'prbot_csrf',
    cookieOptions: { sameSite: 'strict', secure: o.secureCookies, path: '/' },
    getCsrfTokenFromRequest: (req) =>
      (req.body as { _csrf?: string } | undefined)?._csrf ?? (req.headers['x-csrf-token'] as string | undefined),
  });

  const board = new ExpressAdapter();
  board.setBasePath('/queues');
  createBullBoard({
    queues: QUEUE_NAMES.map((q) => {
      const a = new BullMQAdapter(rt.queues[q], { readOnlyMode: o.readOnly, allowRetries: !o.readOnly });
      a.setFormatter('data', redactJobData);
      a.setFormatter('returnValue', redactJobData);
      return a;
    }),
    serverAdapter: board,
  });
  app.use('/queues', sameOriginWrites, noJobWriting, board.getRouter());

  const metrics = createMetrics(rt);
  const send = (fn: (req: Request, res: Response) => Promise<unknown>) => async (req: Request, res: Response) => {
    try {
      const body = await fn(req, res);
      if (body !== undefined && !res.headersSent) res.json(body);
    } catch (err) {
      rt.log.error({ err: (err as Error).message, path: req.path }, 'dashboard request failed');
      if (!res.headersSent) res.status(500).json({ error: (err as Error).message });
    }
  };

  app.get(
    '/',
    send(async (req, res) => {
      const csrfToken = o.readOnly ? null : generateCsrfToken(req, res);
      res.type('html').send(
        renderOverview(await overview(rt, await repoFilter(rt, req.query.repo)), {
          csrfToken,
          readOnly: o.readOnly,
          refreshSeconds: o.refreshSeconds ?? 10,
        }),
      );
    }),
  );
  app.get(
    '/api/overview',
    send(() => overview(rt)),
  );
  app.get(
    '/api/budget',
    send(() => rt.budget.today()),
  );
  app.get(
    '/api/cycles',
    send(async (req, res) => {
      const q = cyclesQuery.safeParse(req.query);
      if (!q.success)
        return res
          .status(400)
          .json({ error: q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      const { gap, outcome, limit } = q.data;
      const pool = gap ? await gapHistory(rt.redis, rt.keys, gap, 20) : await recentRecords(rt.redis, rt.keys, 2000);
      return { cycles: pool.filter((r) => !outcome || r.outcome === outcome).slice(0, limit) };
    }),
  );
  app.get(
    '/stats',
    send(async (req) => {
      const days = z.coerce.number().int().min(1).max(90).default(7).safeParse(req.query.days);
      return stats(rt, days.success ? days.data : 7);
    }),
  );
  // KEDA's metrics-api scaler reads `queues.<queue>.load` here (deploy/kubernetes/base/autoscaling.yaml).
  app.get(
    '/api/backlog',
    send(async () => ({ queues: await readBacklog(rt) })),
  );
  app.get(
    '/metrics',
    send(async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.render());
    }),
  );
  app.post(
    '/api/queues/:queue/:action',
    doubleCsrfProtection,
    send(async (req, res) => {
      const { queue, action } = req.params as { queue: string; action: string };
      if (o.readOnly) return res.status(405).json({ error: 'the dashboard is read-only' });
      if (!isQueueName(queue, QUEUE_NAMES)) return res.status(404).json({ error: `unknown queue "${queue}"` });
      if (action === 'pause') await rt.queues[queue].pause();
      else if (action === 'resume') await rt.queues[queue].resume();
      else return res.status(404).json({ error: `unknown action "${action}"` });
      rt.log.info({ queue, action }, 'queue state changed from the dashboard');
      if (req.accepts(['html', 'json']) === 'json') return { queue, paused: action === 'pause' };
      res.redirect(303, '/');
    }),
  );
  app.use((err: Error & { code?: string }, _req: Request, res: Response, _next: express.NextFunction) => {
    res
      .status(err.code === 'EBADCSRFTOKEN' ? 403 : 500)
      .json({ error: err.code === 'EBADCSRFTOKEN' ? 'invalid or missing CSRF token' : err.message });
  });
  return app;
}

/**
 * Bull Board can add jobs, replace a job's data and edit a job scheduler. Workers refuse jobs
 * whose signature does not verify, but a page that offers to forge work should not exist at all:
 * these routes answer 405 whatever `readOnly` says.
 */
const JOB_WRITES = /^\/api\/queues\/[^/]+\/(add|[^/]+\/update-data|job-schedulers\/[^/]+)$/;
function noJobWriting(req: Request, res: Response, next: () => void): void {
  if (req.method !== 'GET' && req.method !== 'HEAD' && JOB_WRITES.test(req.path)) {
    res.status(405).json({
      error:
        'adding jobs, editing job data and editing job schedulers are not offered: jobs are signed by workers only',
    });
    return;
  }
  next();
}
