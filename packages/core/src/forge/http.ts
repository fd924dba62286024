import { Agent, request } from 'undici';
import { CycleEnded, RateLimited, TransientError } from '../errors/index.ts';
import { retryAfterMs } from '../model/chat.ts';

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 8 });

export interface ForgeHttp {
  /** Names the forge in errors, e.g. "gitea git.example.com/team/app". */
  label: string;
  baseUrl: string;
  headers: Record<string, string>;
  timeoutMs: number;
  tokenEnv: string;
}

export interface ForgeResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * One JSON call to a forge API. Errors never carry the token:
 * - 5xx, timeouts, connection errors → TransientError (the pr queue retries with backoff);
 * - 429, or 403 with `x-ratelimit-remaining: 0` → RateLimited (the pr queue waits);
 * - 401 / 403 / 404 → the cycle ends `pr_failed` with what to fix;
 * - other statuses are returned for the driver to interpret (409, 422 …).
 */
export async function forgeCall<T>(f: ForgeHttp, method: string, path: string, body?: unknown): Promise<ForgeResponse<T>> {
  let res;
  try {
    res = await request(f.baseUrl.replace(/\/+$/, '') + path, {
      method: method as 'GET',
      dispatcher: agent,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...f.headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: f.timeoutMs,
      bodyTimeout: f.timeoutMs,
      signal: AbortSignal.timeout(f.timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new TransientError(`${f.label}: ${method} ${path} failed: ${e.code ?? e.name}`);
  }
  const text = await res.body.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  const h = res.headers;
  const s = res.statusCode;
  if (s === 429 || (s === 403 && h['x-ratelimit-remaining'] === '0')) {
    const reset = Number(h['x-ratelimit-reset']);
    const wait = h['retry-after'] !== undefined ? retryAfterMs(h['retry-after']) : Number.isFinite(reset) && reset > 0 ? Math.max(1000, reset * 1000 - Date.now()) : 60_000;
    throw new RateLimited(`${f.label} rate-limited ${method} ${path} (HTTP ${s})`, Math.min(wait, 3_600_000));
  }
  if (s >= 500) throw new TransientError(`${f.label}: ${method} ${path} answered HTTP ${s}: ${message(parsed)}`);
  if (s === 401) throw new CycleEnded('pr_failed', `${f.label} rejected the token (HTTP 401): check that ${f.tokenEnv} holds a valid, unexpired token`);
  if (s === 403) throw new CycleEnded('pr_failed', `${f.label} refused ${method} ${path} (HTTP 403): the token in ${f.tokenEnv} lacks permission; it needs write access to the repository's code and pull requests`);
  if (s === 404) throw new CycleEnded('pr_failed', `${f.label}: ${path.split('?')[0]} not found (HTTP 404): check forge.owner and forge.repo, and that the token in ${f.tokenEnv} can see the repository`);
  return { status: s, body: parsed as T, headers: h };
}

export function message(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message).slice(0, 300);
  return String(body ?? '').slice(0, 300);
}

const MAX_PAGES = 20;

/** Every item of a paginated GET, following `Link: rel="next"` (bounded, for a runaway server). */
export async function* forgePages<T>(f: ForgeHttp, firstPath: string): AsyncGenerator<T> {
  let path: string | null = firstPath;
  for (let i = 0; path && i < MAX_PAGES; i++) {
    const r: ForgeResponse<T[]> = await forgeCall<T[]>(f, 'GET', path);
    yield* r.body ?? [];
    path = nextPage(r.headers.link, f.baseUrl);
  }
}

/** A PR from the repository itself (not a fork), whose head branch may be the bot's. */
export function fromRepo(head: { repo: { full_name: string } | null }, owner: string, repo: string): boolean {
  return !head.repo || head.repo.full_name.toLowerCase() === `${owner}/${repo}`.toLowerCase();
}

/** The next page from a `Link: <…>; rel="next"` header, as a path relative to the API base. */
function nextPage(link: string | string[] | undefined, base: string): string | null {
  const v = Array.isArray(link) ? link.join(',') : link;
  const m = v ? /<([^>]+)>\s*;\s*rel="next"/.exec(v) : null;
  if (!m) return null;
  const u = new URL(m[1]!, base);
  const basePath = new URL(base).pathname.replace(/\/+$/, '');
  return u.pathname.slice(basePath.length) + u.search;
}
