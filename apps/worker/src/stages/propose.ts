import { buildPrompt, BudgetRefused, runLadder, type LadderBudget, type Refusal } from '@prbot/model';
import {
  CycleEnded,
  describeHistory,
  reserveTokensFor,
  leadingRun,
  applyJobSchema,
  type CycleRecord,
  type ModelInfo,
  type Proposal,
  type Outcome,
} from '@prbot/core';
import { gapHistory, untilRedisAnswers, DeferUntil, type StageContext } from '@prbot/pipeline';
import { proposalRefusal } from '@prbot/repo';
import { resolvePath } from '@prbot/config';
import { guardContext } from '@prbot/pipeline';
import { repoContext } from '../repo-context.ts';

/** propose: budget → policy → history → model ladder → settle → parse → guardrails and score. */
export async function propose(s: StageContext<'propose'>): Promise<void> {
  const { rt, data, policy } = s;
  const cfg = rt.cfg;
  const history = await gapHistory(rt.redis, rt.keys, data.gap.id, 5);
  const escalated = shouldEscalate(history, cfg.models.escalateAfter) && cfg.models.escalation.length > 0;
  const repo = await repoContext(rt, data);
  // A revise cycle adds the PR's thread, diff and last digest, as delimited data (core revise.ts).
  const messages = buildPrompt({
    ...repo,
    history: describeHistory(history),
    notes: [...data.notes, ...(repo.revise ? [repo.revise] : [])],
  });
  const context = repo.context.shown;
  const contextNames = repo.context.names;
  const tokens = reserveTokensFor(messages.map((m) => m.content).join('\n')) + cfg.models.maxTokens;

  // A retry re-uses the answer an earlier attempt saved: no second reservation, no second call.
  const saved = savedAnswer.safeParse(s.saved);
  let proposal: Proposal;
  let info: ModelInfo;
  if (saved.success) {
    ({ proposal, model: info } = saved.data);
    await s.step(80, `re-using the answer ${info.rung} gave an earlier attempt (no model call)`);
  } else {
    ({ proposal, info } = await askModel(s, { tokens, history, escalated, messages }));
    await s.fault('before-save');
    // Saved before anything else can fail: a crash from here on never pays for this answer again.
    await s.save({ proposal, model: info });
    await s.fault('after-answer');
    await s.step(80, `${info.rung} answered: ${proposal.files.length} file(s), ${info.usage.total_tokens} tokens`);
  }

  // 7. Guardrails, then the policy's score.
  const refusal = proposalRefusal(proposal, guardContext(rt), cfg.guardrails);
  if (refusal) throw new CycleEnded('proposal_rejected', refusal, { model: info, context, contextNames });
  const score = policy.scoreProposal(proposal, { gap: data.gap, history });
  if (!score.ok)
    throw new CycleEnded('proposal_rejected', `policy: ${score.reason}`, { model: info, context, contextNames });

  await s.handOver('apply', { ...data, proposal, model: info, context, contextNames });
  await s.step(100, 'handed over to apply');
}

/** Steps 1-6: budget → policy → the model ladder (settled with real usage) → the parsed answer. */
async function askModel(
  s: StageContext<'propose'>,
  p: {
    tokens: number;
    history: CycleRecord[];
    escalated: boolean;
    messages: Parameters<typeof runLadder>[2]['messages'];
  },
) {
  const { rt, data, policy } = s;
  const cfg = rt.cfg;
  const { tokens, history, escalated, messages } = p;
  // Budget writes wait out Redis trouble: a settle lost after the call would lose the answer.
  const patient = <T>(what: string, fn: () => Promise<T>) =>
    untilRedisAnswers(fn, { what, log: s.log, maxMs: cfg.worker.redisRetryMs });

  // 1. Budget, before any policy function: reserve one call and its tokens.
  await s.step(10, `reserving 1 call and ${tokens} tokens from today's budget`);
  const reservation = await patient('the budget reservation', () =>
    rt.budget.reserve(data.cycleId, tokens, rt.repo.share),
  );
  if (!reservation.granted) refuseForCost(s, reservation);

  // 2. Policy.
  const verdict = policy.shouldRunCycle({ gap: data.gap, history }, cfg.policy);
  if (!verdict.ok) {
    await patient('the budget release', () => rt.budget.release(reservation));
    throw new CycleEnded('skipped_policy', verdict.reason);
  }

  // 3-6. Prior attempts are in the prompt; call the ladder, settle usage, parse the answer.
  const rungs = escalated ? cfg.models.escalation : cfg.models.propose;
  await s.step(30, `asking ${rungs[0]}${escalated ? ' (escalated after repeated tests_failed)' : ''}`);
  const budget: LadderBudget = {
    reserve: (t) => patient('a budget reservation', () => rt.budget.reserve(data.cycleId, t, rt.repo.share)),
    settle: (r, actual) => patient('the budget settlement', () => rt.budget.settle(r, actual)),
    release: (r) => patient('the budget release', () => rt.budget.release(r)),
    refund: (r) => patient('the budget refund', () => rt.budget.refund(r)),
  };
  try {
    return await runLadder(
      cfg.models,
      budget,
      {
        rungs,
        escalated,
        messages,
        gap: data.gap,
        priorCycles: await priorCycleCount(s),
        firstReservation: reservation,
        recorder: s.recorder,
        rateLimitTtl: () => rt.queues.propose.getRateLimitTtl(cfg.queues.propose.limiter?.max ?? 1_000_000),
      },
      rt.env,
      (path) => resolvePath(cfg, path),
    );
  } catch (err) {
    if (err instanceof BudgetRefused) refuseForCost(s, err.refusal);
    throw err;
  }
}

function refuseForCost(s: StageContext<'propose'>, r: Refusal): never {
  // The cycle's requests went to a provider that failed them (nothing billed): the model failed.
  if (r.byRequests && r.retryAt === null) throw new CycleEnded('model_failed', r.message);
  if (s.rt.cfg.budget.onExhausted === 'defer' && r.retryAt !== null) throw new DeferUntil(r.retryAt, r.message);
  throw new CycleEnded('skipped_cost', r.message);
}

/** What propose saves in its job before handing over (job data `saved`). */
const savedAnswer = applyJobSchema.pick({ proposal: true, model: true });

const TESTS_FAILED: ReadonlySet<Outcome> = new Set(['tests_failed']);

/** Escalate after N consecutive tests_failed on the gap. */
function shouldEscalate(history: CycleRecord[], after: number): boolean {
  return leadingRun(history, TESTS_FAILED) >= after;
}

async function priorCycleCount(s: StageContext<'propose'>): Promise<number> {
  return s.rt.redis.llen(s.rt.keys.history(s.data.gap.id));
}
