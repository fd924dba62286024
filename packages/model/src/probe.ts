import type { Refusal, Reservation } from './budget-port.ts';

/** What a probe needs of the budget: one reserved call, settled with what it used. */
export interface ProbeBudget {
  reserve(cycleId: string, tokens: number): Promise<Reservation | Refusal>;
  settle(r: Reservation, actualTokens: number): Promise<void>;
}
import type { ModelsConfig } from './ladder.ts';
import { splitRung } from './ladder.ts';
import { chatCompletion } from './chat.ts';
import { ModelCallError } from './errors.ts';
import { estimateTokens } from '@prbot/core';

const PROBE_PROMPT = 'Reply with the single word pong';
const PROBE_MAX_TOKENS = 16;

export interface ProbeRow {
  provider: string;
  model: string;
  ok: boolean;
  latencyMs: number | null;
  answer: string | null;
  error: string | null;
}

export interface ProbeTarget {
  provider: string;
  model: string;
  baseUrl: string;
  keyEnv?: string;
  headers?: Record<string, string>;
}

/** The probe ladder of a config: `models.probe`, else every rung of propose and escalation. */
export function probeTargets(models: ModelsConfig): ProbeTarget[] {
  const rungs = [...new Set(models.probe ?? [...models.propose, ...models.escalation])];
  return rungs.flatMap((r) => {
    const { provider, model } = splitRung(r);
    const p = models.providers[provider];
    if (!p || p.kind !== 'openai' || models.disabled[r]) return [];
    return [{ provider, model, baseUrl: p.baseUrl, keyEnv: p.keyEnv, headers: p.headers }];
  });
}

/**
 * Sends the one-word prompt to each target, one after the other, and reports latency, the first
 * words of the answer, or the error. With a budget, each probe reserves one call first.
 */
export async function probe(
  targets: ProbeTarget[],
  o: { env: NodeJS.ProcessEnv; timeoutMs: number; budget?: ProbeBudget },
): Promise<ProbeRow[]> {
  const rows: ProbeRow[] = [];
  for (const t of targets) {
    const base = { provider: t.provider, model: t.model };
    const reservation = o.budget
      ? await o.budget.reserve(`cprobe${Date.now().toString(36)}`, estimateTokens(PROBE_PROMPT) + PROBE_MAX_TOKENS)
      : null;
    if (reservation && !reservation.granted) {
      rows.push({ ...base, ok: false, latencyMs: null, answer: null, error: `not sent: ${reservation.message}` });
      continue;
    }
    const apiKey = t.keyEnv ? o.env[t.keyEnv] : undefined;
    const started = Date.now();
    try {
      if (t.keyEnv && !apiKey) throw new ModelCallError('client', `environment variable ${t.keyEnv} is not set`);
      const a = await chatCompletion({
        baseUrl: t.baseUrl,
        apiKey,
        headers: t.headers,
        model: t.model,
        messages: [{ role: 'user', content: PROBE_PROMPT }],
        maxTokens: PROBE_MAX_TOKENS,
        temperature: 0,
        timeoutMs: o.timeoutMs,
        maxAnswerBytes: 64 * 1024,
      });
      if (reservation?.granted)
        await o.budget!.settle(reservation, a.usage?.total_tokens ?? estimateTokens(PROBE_PROMPT + a.content));
      rows.push({
        ...base,
        ok: true,
        latencyMs: Date.now() - started,
        answer: a.content.trim().split(/\s+/).slice(0, 8).join(' '),
        error: null,
      });
    } catch (err) {
      if (reservation?.granted) await o.budget!.settle(reservation, 0);
      rows.push({ ...base, ok: false, latencyMs: Date.now() - started, answer: null, error: (err as Error).message });
    }
  }
  return rows;
}

export function formatProbe(rows: ProbeRow[]): string {
  const w = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s.padEnd(n));
  return [
    `${w('provider', 14)} ${w('model', 34)} ${w('latency', 9)} result`,
    ...rows.map(
      (r) =>
        `${w(r.provider, 14)} ${w(r.model, 34)} ${w(r.latencyMs === null ? '-' : `${r.latencyMs} ms`, 9)} ${r.ok ? `ok: ${r.answer}` : `error: ${r.error}`}`,
    ),
  ].join('\n');
}
