import type { Agent } from 'undici';
import { z } from 'zod';
import { usageSchema, type Usage } from '../usage.ts';
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
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable().optional() }), finish_reason: z.string().nullable().optional() })).min(1),
  usage: usageSchema.partial().optional().nullable(),
  error: z.unknown().optional(),
});

// One keep-alive pool for all calls; per-call timeouts are set on each request. undici is loaded
// at the first call, not at start: it is ~10 MB and ~200 ms of a worker's start, and a worker
// that runs only `test` or `apply` never calls a model (docs/OPERATIONS.md, memory per role).
let agent: Agent | undefined;
async function undici() {
  const u = await import('undici');
  agent ??= new u.Agent({ keepAliveTimeout: 30_000, connections: 32 });
  return { request: u.request, agent };
}

const RETRY_AFTER_CAP_MS = 10 * 60_000;

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
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        ...req.headers,
        ...(req.apiKey ? { authorization: `Bearer ${req.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
      signal: AbortSignal.timeout(req.timeoutMs),
    });
  } catch (err) {
    throw networkError(err, req.timeoutMs);
  }
  const text = await readCapped(res.body, req.maxAnswerBytes).catch((err) => {
    throw networkError(err, req.timeoutMs);
  });
  if (res.statusCode === 429) {
    throw new ModelCallError('rate_limited', 'HTTP 429 rate limited', 429, retryAfterMs(res.headers['retry-after']));
  }
  if (res.statusCode >= 500) throw new ModelCallError('http', `HTTP ${res.statusCode}: ${errorText(text)}`, res.statusCode);
  if (res.statusCode >= 400) throw new ModelCallError('client', `HTTP ${res.statusCode}: ${errorText(text)}`, res.statusCode);
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
  if (!parsed.success) throw new ModelCallError('bad_answer', `answer is not a chat completion: ${parsed.error.issues[0]?.message}`);
  const content = parsed.data.choices[0]!.message.content ?? '';
  if (!content.trim()) throw new ModelCallError('bad_answer', 'empty answer');
  // Cut off by max_tokens: whatever parses from it may be a file that stops partway (next rung or model_failed).
  if (parsed.data.choices[0]!.finish_reason === 'length') throw new ModelCallError('bad_answer', 'the answer was cut off at the output limit (finish_reason "length"); raise models.maxTokens or ask for edits');
  const u = parsed.data.usage;
  const usage =
    u && u.prompt_tokens !== undefined && u.completion_tokens !== undefined
      ? { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.total_tokens ?? u.prompt_tokens + u.completion_tokens }
      : null;
  return { content, usage };
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw new ModelCallError('bad_answer', `answer is larger than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function networkError(err: unknown, timeoutMs: number): ModelCallError {
  if (err instanceof ModelCallError) return err;
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

/** Retry-After is seconds or an HTTP date; capped so a hostile header cannot stall the queue for days. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return 30_000;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms) || ms < 0) return 30_000;
  return Math.min(ms, RETRY_AFTER_CAP_MS);
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
