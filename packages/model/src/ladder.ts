import type { Refusal, Reservation } from './budget-port.ts';
import type { Config } from '@prbot/config';
import {
  CycleEnded,
  TransientError,
  parseProposal,
  proposalJsonSchema,
  ProposalParseError,
  type Proposal,
  estimateTokens,
  reserveTokensFor,
  type Usage,
} from '@prbot/core';
import { chatCompletion, type ChatAnswer, type ChatMessage } from './chat.ts';
import { ModelCallError, ModelRateLimited } from './errors.ts';
import type { ModelInfo, RungAttempt } from '@prbot/core';
import { loadCassette, replayAnswer, type Cassette } from './replay.ts';

export type ModelsConfig = Config['models'];

/** The budget as the ladder sees it: already bound to one cycle. */
export interface LadderBudget {
  reserve(tokens: number): Promise<Reservation | Refusal>;
  settle(r: Reservation, actualTokens: number): Promise<void>;
  release(r: Reservation): Promise<void>;
  /** Sent and failed without an answer: billing refunded, the request still counted. */
  refund(r: Reservation): Promise<void>;
}

export class BudgetRefused extends Error {
  override readonly name = 'BudgetRefused';
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

/** Writes each real answer into a cassette (`pnpm worker --record FILE`). */
export interface AnswerRecorder {
  record(gap: { id: string; text: string }, answer: ChatAnswer): Promise<void>;
}

export interface LadderRequest {
  rungs: string[];
  escalated: boolean;
  messages: ChatMessage[];
  gap: { id: string; text: string };
  /** How many cycles this gap has had; picks the replay answer. */
  priorCycles: number;
  /** The reservation taken in step 1 of propose; used for the first call. */
  firstReservation: Reservation;
  recorder?: AnswerRecorder;
  /** Milliseconds the queue is still rate-limited for (a 429 seen by another job); 0 when free. */
  rateLimitTtl?: () => Promise<number>;
}

export interface LadderResult {
  proposal: Proposal;
  info: ModelInfo;
}

const cassettes = new Map<string, Cassette>();

/**
 * Calls the rungs in order until one answers with a valid proposal. A rung that fails (5xx,
 * timeout, connection, 4xx, empty or invalid answer) falls to the next; a 429 stops the ladder
 * and rate-limits the queue. Each call is reserved in the budget first; an answered call is
 * settled with its usage, a failed one (no answer) is released whole.
 */
export async function runLadder(
  models: ModelsConfig,
  budget: LadderBudget,
  req: LadderRequest,
  env: NodeJS.ProcessEnv,
  resolveFile: (p: string) => string,
): Promise<LadderResult> {
  const attempts: RungAttempt[] = [];
  let transientOnly = true;
  const promptText = req.messages.map((m) => m.content).join('\n');
  const reserveTokens = reserveTokensFor(promptText) + models.maxTokens;
  let reservation: Reservation | null = req.firstReservation;
  for (const rung of req.rungs) {
    const disabled = models.disabled[rung];
    if (disabled) {
      attempts.push({ rung, ok: false, error: `disabled in config: ${disabled}`, ms: 0 });
      continue;
    }
    if (!reservation) {
      const r = await budget.reserve(reserveTokens);
      if (!r.granted) throw new BudgetRefused({ ...r, message: `${r.message} (after ${describe(attempts)})` });
      reservation = r;
    }
    // Another job may have met a 429 while this one was building its prompt: do not add to it.
    const ttl = (await req.rateLimitTtl?.()) ?? 0;
    if (ttl > 0) {
      await budget.release(reservation);
      throw new ModelRateLimited('the propose queue is rate-limited', ttl);
    }
    const started = Date.now();
    let answer: ChatAnswer;
    try {
      answer = await callRung(models, rung, req, env, resolveFile);
    } catch (err) {
      const e = err instanceof ModelCallError ? err : new ModelCallError('connection', (err as Error).message);
      // Only an answer is spending. A provider that answered with a body (not JSON, not a chat
      // completion, too large) may have generated up to max_tokens: keep the reserved bound.
      // Everything else (5xx, 429, timeout, refused, 4xx) is refunded for billing, call included
      // (an outage is not spending), while the request stays counted: the day's and the cycle's
      // caps bound the requests a failing provider gets, and its cycles end.
      if (e.kind === 'bad_answer') await budget.settle(reservation, reservation.tokens);
      else await budget.refund(reservation);
      reservation = null;
      if (e.kind === 'rate_limited') throw new ModelRateLimited(rung, e.retryAfterMs ?? 30_000);
      if (e.kind !== 'http' && e.kind !== 'timeout' && e.kind !== 'connection') transientOnly = false;
      attempts.push({ rung, ok: false, error: e.message, ms: Date.now() - started });
      continue;
    }
    await req.recorder?.record(req.gap, answer);
    const usage: Usage = answer.usage ?? estimateUsage(promptText, answer.content);
    await budget.settle(reservation, usage.total_tokens);
    reservation = null;
    try {
      const proposal = parseProposal(answer.content, models.maxAnswerBytes);
      attempts.push({ rung, ok: true, ms: Date.now() - started });
      return {
        proposal,
        info: { rung, usage, usageEstimated: answer.usage === null, escalated: req.escalated, attempts },
      };
    } catch (err) {
      if (!(err instanceof ProposalParseError)) throw err;
      transientOnly = false;
      attempts.push({ rung, ok: false, error: err.message, ms: Date.now() - started });
    }
  }
  if (reservation) await budget.release(reservation);
  const tried = attempts.filter((a) => !a.error?.startsWith('disabled in config'));
  // Every provider down (5xx, timeouts, refused): an outage, worth the queue's backoff and
  // retries; the last attempt records model_failed. A wrong answer ends the cycle now.
  if (transientOnly && tried.length > 0) throw new TransientError(`every rung is unavailable: ${describe(attempts)}`);
  throw new CycleEnded('model_failed', `no rung gave a usable proposal: ${describe(attempts)}`);
}

function describe(attempts: RungAttempt[]): string {
  return attempts.map((a) => `${a.rung}: ${a.error ?? 'ok'}`).join('; ') || 'no rung tried';
}

function estimateUsage(prompt: string, answer: string): Usage {
  const p = estimateTokens(prompt);
  const c = estimateTokens(answer);
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

function responseFormat(mode: 'json_schema' | 'json_object' | 'none'): Record<string, unknown> | undefined {
  if (mode === 'none') return undefined;
  if (mode === 'json_object') return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: 'proposal', schema: proposalJsonSchema, strict: true } };
}

/** Splits "openrouter/x-ai/grok-4.1-fast" into provider and model (the model may contain '/'). */
export function splitRung(rung: string): { provider: string; model: string } {
  const slash = rung.indexOf('/');
  return { provider: rung.slice(0, slash), model: rung.slice(slash + 1) };
}

async function callRung(
  models: ModelsConfig,
  rung: string,
  req: LadderRequest,
  env: NodeJS.ProcessEnv,
  resolveFile: (p: string) => string,
): Promise<ChatAnswer> {
  const { provider: providerName, model } = splitRung(rung);
  const provider = models.providers[providerName];
  if (!provider) throw new ModelCallError('client', `unknown provider "${providerName}"`);
  if (provider.kind === 'replay') {
    const file = resolveFile(provider.cassette);
    let cassette = cassettes.get(file);
    if (!cassette) cassettes.set(file, (cassette = loadCassette(file)));
    return replayAnswer(cassette, req.gap, req.priorCycles);
  }
  const apiKey = provider.keyEnv ? env[provider.keyEnv] : undefined;
  if (provider.keyEnv && !apiKey)
    throw new ModelCallError('client', `environment variable ${provider.keyEnv} is not set`);
  return chatCompletion({
    baseUrl: provider.baseUrl,
    apiKey,
    headers: provider.headers,
    model,
    messages: req.messages,
    maxTokens: models.maxTokens,
    temperature: models.temperature,
    responseFormat: responseFormat(provider.structuredOutput),
    timeoutMs: models.timeoutMs,
    maxAnswerBytes: models.maxAnswerBytes,
  });
}
