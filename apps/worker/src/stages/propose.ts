import {
  buildPrompt,
  BudgetRefused,
  CycleEnded,
  describeHistory,
  reserveTokensFor,
  gapHistory,
  proposalRefusal,
  resolvePath,
  runLadder,
  leadingRun,
  type CycleRecord,
  type Outcome,
  type Refusal,
} from '@prbot/core';
import { DeferUntil, type StageContext } from '../stage.ts';
import { guardContext, repoContext } from '../repo-context.ts';

/** propose: budget → policy → history → model ladder → settle → parse → guardrails and score. */
export async function propose(s: StageContext<'propose'>): Promise<void> {
  const { rt, data, policy } = s;
  const cfg = rt.cfg;
  const history = await gapHistory(rt.redis, rt.keys, data.gap.id, 5);
  const escalated = shouldEscalate(history, cfg.models.escalateAfter) && cfg.models.escalation.length > 0;
  const repo = await repoContext(rt, data);
  const messages = buildPrompt({ ...repo, history: describeHistory(history), notes: data.notes });
  const context = repo.context.shown;
  const tokens = reserveTokensFor(messages.map((m) => m.content).join('\n')) + cfg.models.maxTokens;

  // 1. Budget, before any policy function: reserve one call and its tokens.
  await s.step(10, `reserving 1 call and ${tokens} tokens from today's budget`);
  const reservation = await rt.budget.reserve(data.cycleId, tokens);
  if (!reservation.granted) refuseForCost(s, reservation);

  // 2. Policy.
  const verdict = policy.shouldRunCycle({ gap: data.gap, history }, cfg.policy);
  if (!verdict.ok) {
    await rt.budget.release(reservation);
    throw new CycleEnded('skipped_policy', verdict.reason);
  }

  // 3-6. Prior attempts are in the prompt; call the ladder, settle usage, parse the answer.
  const rungs = escalated ? cfg.models.escalation : cfg.models.propose;
  await s.step(30, `asking ${rungs[0]}${escalated ? ' (escalated after repeated tests_failed)' : ''}`);
  const budget = { reserve: (t: number) => rt.budget.reserve(data.cycleId, t), settle: rt.budget.settle.bind(rt.budget), release: rt.budget.release.bind(rt.budget) };
  let result;
  try {
    result = await runLadder(cfg.models, budget, { rungs, escalated, messages, gap: data.gap, priorCycles: await priorCycleCount(s), firstReservation: reservation, recorder: s.recorder, rateLimitTtl: () => rt.queues.propose.getRateLimitTtl(cfg.queues.propose.limiter?.max ?? 1_000_000) }, rt.env, (p) => resolvePath(cfg, p));
  } catch (err) {
    if (err instanceof BudgetRefused) refuseForCost(s, err.refusal);
    throw err;
  }
  const { proposal, info } = result;
  await s.step(80, `${info.rung} answered: ${proposal.files.length} file(s), ${info.usage.total_tokens} tokens`);

  // 7. Guardrails, then the policy's score.
  const refusal = proposalRefusal(proposal, guardContext(rt), cfg.guardrails);
  if (refusal) throw new CycleEnded('proposal_rejected', refusal, { model: info, context });
  const score = policy.scoreProposal(proposal, { gap: data.gap, history });
  if (!score.ok) throw new CycleEnded('proposal_rejected', `policy: ${score.reason}`, { model: info, context });

  await s.handOver('apply', { ...data, proposal, model: info, context });
  await s.step(100, 'handed over to apply');
}

function refuseForCost(s: StageContext<'propose'>, r: Refusal): never {
  if (s.rt.cfg.budget.onExhausted === 'defer' && r.retryAt !== null) throw new DeferUntil(r.retryAt, r.message);
  throw new CycleEnded('skipped_cost', r.message);
}

const TESTS_FAILED: ReadonlySet<Outcome> = new Set(['tests_failed']);

/** Escalate after N consecutive tests_failed on the gap. */
function shouldEscalate(history: CycleRecord[], after: number): boolean {
  return leadingRun(history, TESTS_FAILED) >= after;
}

async function priorCycleCount(s: StageContext<'propose'>): Promise<number> {
  return s.rt.redis.llen(s.rt.keys.history(s.data.gap.id));
}
