import type { Agent } from 'undici';
import {
  retryAfterMs,
  usageSchema,
  type Usage,
  discardBody,
  AnswerRefused,
  readBounded,
  refuseDeclaredSize,
  refuseEncoding,
  wholeCallDeadline,
} from '@prbot/core';
import { z } from 'zod';
import { ModelCallError } from './errors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  baseUrl: string;
  /** Sent only in the Authorization header; never logged, never put in an error. */
  apiKey?: string;
  headers?: Record<string, string>;
  model: string;
  messages: ChatMessage[];
  maxTokens: number;
  temperature: number;
  responseFormat?: Record<string, unknown>;
  timeoutMs: number;
  maxAnswerBytes: number;
}

export interface ChatAnswer {
  content: string;
  usage: Usage | null;
}

const answerSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullable().optional() }),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .min(1),
  // Checked on its own (creditedUsage): a provider's odd usage must not cost it the answer.
  usage: z.unknown().optional(),
  error: z.unknown().optional(),
});

/**
 * Three rules of this client, switchable for one purpose: the positive controls in
 * hostile-provider.test.ts turn one off in their own process (back in a `finally`) to show the
 * same hostile answer then gets through. `noRedirects` off puts undici's redirect interceptor in
 * front (what following a redirect would mean); `sse` off parses an event stream as JSON; `usage`
 * off charges the usage as the provider reported it. No variable or config field reaches this.
 */
export const chatDefences = { noRedirects: true, sse: true, usage: true };

// One keep-alive pool for all calls; per-call timeouts are set on each request. undici is loaded
// at the first call, not at start: it is ~10 MB and ~200 ms of a worker's start, and a worker
// that runs only `test` or `apply` never calls a model (docs/OPERATIONS.md, memory per role).
let agent: Agent | undefined;
async function undici() {
  const u = await import('undici');
  agent ??= new u.Agent({ keepAliveTimeout: 30_000, connections: 32 });
  return {
    request: u.request,
    agent: chatDefences.noRedirects ? agent : agent.compose(u.interceptors.redirect({ maxRedirections: 3 })),
  };
}

/** One OpenAI-compatible `POST {base}/chat/completions`. Throws ModelCallError with a kind. */
export async function chatCompletion(req: ChatRequest): Promise<ChatAnswer> {
  const url = req.baseUrl.replace(/\/+$/, '') + '/chat/completions';
  const body = {
    model: req.model,
    messages: req.messages,
    // Ollama reads max_tokens only, not max_completion_tokens.
    max_tokens: req.maxTokens,
    temperature: req.temperature,
    ...(req.responseFormat ? { response_format: req.responseFormat } : {}),
  };
  const { request, agent } = await undici();
  // One deadline for the whole call, body included: bodyTimeout alone is reset by every byte.
  const deadline = wholeCallDeadline(req.timeoutMs);
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        ...req.headers,
        // undici's request does not decompress; a compressed answer is refused (bounded-read.ts).
        'accept-encoding': 'identity',
        ...(req.apiKey ? { authorization: `Bearer ${req.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
      signal: deadline,
    });
  } catch (err) {
    throw networkError(err, req.timeoutMs);
  }
  // Neither needs the body (a 429's or a redirect's may be anything, compressed included).
  if (res.statusCode === 429 || (res.statusCode >= 300 && res.statusCode < 400)) discardBody(res.body);
  if (res.statusCode === 429) {
    throw new ModelCallError('rate_limited', 'HTTP 429 rate limited', 429, retryAfterMs(res.headers['retry-after']));
  }
  if (res.statusCode >= 300 && res.statusCode < 400) {
    // Never followed: the Authorization header would go to wherever the Location points.
    throw new ModelCallError(
      'client',
      `HTTP ${res.statusCode} redirect, not followed (the API key is never sent to another address): set the rung's baseUrl to the final address`,
      res.statusCode,
    );
  }
  const text = await readAnswer(res, req.maxAnswerBytes, deadline).catch((err) => {
    throw networkError(err, req.timeoutMs);
  });
  if (res.statusCode >= 500)
    throw new ModelCallError('http', `HTTP ${res.statusCode}: ${errorText(text)}`, res.statusCode);
  if (res.statusCode >= 400)
    throw new ModelCallError('client', `HTTP ${res.statusCode}: ${errorText(text)}`, res.statusCode);
  if (chatDefences.sse && /^\s*text\/event-stream/i.test(String(res.headers['content-type'] ?? ''))) {
    throw new ModelCallError(
      'bad_answer',
      'the answer is an event stream (SSE), but a single JSON answer was asked for',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ModelCallError('bad_answer', `HTTP ${res.statusCode} body is not JSON: ${text.slice(0, 120)}`);
  }
  const parsed = answerSchema.safeParse(json);
  // OpenRouter can answer 200 with an error in the body once generation started.
  if (json && typeof json === 'object' && 'error' in json && (json as { error: unknown }).error) {
    throw new ModelCallError('http', `error in a 200 answer: ${errorText(text)}`, res.statusCode);
  }
  if (!parsed.success)
    throw new ModelCallError('bad_answer', `answer is not a chat completion: ${parsed.error.issues[0]?.message}`);
  const content = parsed.data.choices[0]!.message.content ?? '';
  if (!content.trim()) throw new ModelCallError('bad_answer', 'empty answer');
  // Cut off by max_tokens: whatever parses from it may be a file that stops partway (next rung or model_failed).
  if (parsed.data.choices[0]!.finish_reason === 'length')
    throw new ModelCallError(
      'bad_answer',
      'the answer was cut off at the output limit (finish_reason "length"); raise models.maxTokens or ask for edits',
    );
  const usage = creditedUsage(parsed.data.usage);
  return { content, usage };
}

// Usage is what the budget is charged, so a count a provider cannot mean (negative, fractional,
// past 2^53, a string) is dropped and estimated from the text instead (ladder.ts), and a total
// below prompt + completion is raised to it: a budget never goes down, nor is under-charged by a total.
const reportedUsage = usageSchema.partial().extend({
  prompt_tokens: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  completion_tokens: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  total_tokens: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
function creditedUsage(u: unknown): Usage | null {
  // Off only in a positive control: the provider's word, whatever it is, is what is charged.
  if (!chatDefences.usage) return u && typeof u === 'object' ? (u as Usage) : null;
  const r = reportedUsage.safeParse(u);
  if (!r.success) return null;
  const sum = r.data.prompt_tokens + r.data.completion_tokens;
  return {
    prompt_tokens: r.data.prompt_tokens,
    completion_tokens: r.data.completion_tokens,
    total_tokens: Math.min(Number.MAX_SAFE_INTEGER, Math.max(r.data.total_tokens ?? 0, sum)),
  };
}

async function readAnswer(
  res: {
    headers: Record<string, string | string[] | undefined>;
    body: AsyncIterable<Buffer> & { destroy?(err?: Error): unknown };
  },
  max: number,
  deadline: AbortSignal | undefined,
): Promise<string> {
  try {
    refuseDeclaredSize(res.headers, max);
    refuseEncoding(res.headers);
  } catch (err) {
    discardBody(res.body);
    throw err;
  }
  return readBounded(res.body, max, deadline);
}

function networkError(err: unknown, timeoutMs: number): ModelCallError {
  if (err instanceof ModelCallError) return err;
  if (err instanceof AnswerRefused) return new ModelCallError('bad_answer', err.message);
  const e = err as Error & { code?: string };
  if (
    // undici's HeadersTimeoutError / BodyTimeoutError, by code (undici itself is loaded lazily).
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT' ||
    e.name === 'TimeoutError' ||
    e.name === 'AbortError'
  ) {
    return new ModelCallError('timeout', `no answer within ${timeoutMs} ms`);
  }
  return new ModelCallError('connection', `connection failed: ${e.code ?? e.message}`);
}

function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    const e = j.error;
    if (typeof e === 'string') return e.slice(0, 300);
    if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message).slice(0, 300);
  } catch {
    /* not JSON: fall through */
  }
  return text.slice(0, 300);
}
