import type { Agent } from 'undici';
import {
  RateLimited,
  TransientError,
  discardBody,
  AnswerDeadline,
  AnswerRefused,
  readBounded,
  refuseDeclaredSize,
  refuseEncoding,
  inertText,
  redactText,
  retryAfterDefence,
  retryAfterMs,
  wholeCallDeadline,
} from '@prbot/core';
import { ForgeRefused } from './forge-errors.ts';
import type { Logger } from '@prbot/core';

/**
 * Rules of the Gitea/Forgejo client, switchable for one purpose: the positive controls in
 * hostile-forge.test.ts turn one off in their own process (back in a `finally`) to show the same
 * hostile answer then gets through. `noRedirects` off puts undici's redirect interceptor in front
 * (what following a redirect would mean); `htmlTitle` off quotes an HTML page as it came; `maxPages`
 * off lets a listing run on while the forge sends `Link: rel="next"` (forgePages, and the GitHub
 * driver's PR listing). No variable or config field
 * reaches this object.
 */
export const forgeHttpDefences = { noRedirects: true, htmlTitle: true, maxPages: true };

// undici is loaded at the first forge call (the pr stage), not when a worker starts.
let agent: Agent | undefined;
async function undici() {
  const u = await import('undici');
  agent ??= new u.Agent({ keepAliveTimeout: 30_000, connections: 8 });
  return {
    request: u.request,
    agent: forgeHttpDefences.noRedirects ? agent : agent.compose(u.interceptors.redirect({ maxRedirections: 3 })),
  };
}

export interface ForgeHttp {
  /** Names the forge in errors, e.g. "gitea git.example.com/team/app". */
  label: string;
  /** The API root, e.g. https://host/gitea/api/v1 (a ROOT_URL sub-path included). */
  baseUrl: string;
  headers: Record<string, string>;
  timeoutMs: number;
  tokenEnv: string;
  /** The largest answer read (default FORGE_ANSWER_CAP); a bigger one is a TransientError. */
  maxAnswerBytes?: number;
}

/**
 * The largest forge answer prbot reads: a page of 100 PRs with GitHub's largest bodies (65,536
 * characters, up to 4 UTF-8 bytes each) fits; a forge that streams gigabytes is cut here.
 */
export const FORGE_ANSWER_CAP = 32 * 1024 * 1024;

export interface ForgeResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * One JSON call to a forge API. `path` is relative to the API root, or an absolute URL taken
 * from a `Link` header (used as given when it is on the API's origin). Errors never carry the token:
 * - 5xx, timeouts, connection errors → TransientError (the pr queue retries with backoff);
 * - 429, or 403 with `x-ratelimit-remaining: 0` → RateLimited (the pr queue waits);
 * - 401 / 403 / 404 → ForgeRefused naming what to fix;
 * - other statuses are returned for the driver to interpret (409, 422 …).
 */
export async function forgeCall<T>(
  f: ForgeHttp,
  method: string,
  path: string,
  body?: unknown,
): Promise<ForgeResponse<T>> {
  const url = absolute(f, path);
  const shown = new URL(url).pathname;
  const { request, agent } = await undici();
  // One deadline for the whole call, body included (bodyTimeout is reset by every byte).
  const deadline = wholeCallDeadline(f.timeoutMs);
  let res;
  try {
    res = await request(url, {
      method: method as 'GET',
      dispatcher: agent,
      // identity: undici's request does not decompress, and a compressed answer is refused unread.
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...f.headers,
        'accept-encoding': 'identity',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: f.timeoutMs,
      bodyTimeout: f.timeoutMs,
      signal: deadline,
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new TransientError(`${f.label}: ${method} ${shown} failed: ${e.code ?? e.name}`);
  }
  if (res.statusCode >= 300 && res.statusCode < 400) {
    discardBody(res.body);
    // undici's request follows none; saying so beats handing the 3xx to a driver as an answer.
    throw new ForgeRefused(
      `${f.label}: ${method} ${shown} answered HTTP ${res.statusCode} (a redirect), not followed: the token is never sent to another address; set forge.url to the address the forge answers on`,
      res.statusCode,
      '',
    );
  }
  let text: string;
  try {
    refuseDeclaredSize(res.headers, f.maxAnswerBytes ?? FORGE_ANSWER_CAP);
    refuseEncoding(res.headers);
    text = await readBounded(res.body, f.maxAnswerBytes ?? FORGE_ANSWER_CAP, deadline);
  } catch (err) {
    discardBody(res.body);
    const e = err as Error & { code?: string };
    throw new TransientError(
      `${f.label}: ${method} ${shown}: ${err instanceof AnswerRefused ? err.message : err instanceof AnswerDeadline || deadline?.aborted ? `no whole answer within ${f.timeoutMs} ms` : `reading the answer failed: ${e.code ?? e.name}`}`,
    );
  }
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
    const wait =
      h['retry-after'] !== undefined
        ? retryAfterMs(h['retry-after'])
        : Number.isFinite(reset) && reset > 0
          ? Math.max(1000, reset * 1000 - Date.now())
          : 60_000;
    throw new RateLimited(
      `${f.label} rate-limited ${method} ${shown} (HTTP ${s})`,
      retryAfterDefence.bounds ? Math.min(wait, 3_600_000) : wait,
    );
  }
  if (s >= 500) throw new TransientError(`${f.label}: ${method} ${shown} answered HTTP ${s}: ${message(parsed)}`);
  if (s === 401)
    throw new ForgeRefused(
      `${f.label} rejected the token (HTTP 401): check that ${f.tokenEnv} holds a valid, unexpired token`,
      s,
      message(parsed),
    );
  if (s === 403) {
    const m = message(parsed);
    const scopes = /required scope\(s\)[^[]*\[([^\]]*)\]/.exec(m)?.[1];
    const why = scopes
      ? `the token in ${f.tokenEnv} lacks the scope ${scopes.split(/[ ,]+/).join(' or ')} (${m})`
      : `the token in ${f.tokenEnv} lacks permission: ${m}`;
    throw new ForgeRefused(`${f.label} refused ${method} ${shown} (HTTP 403): ${why}`, s, m);
  }
  if (s === 404)
    throw new ForgeRefused(
      `${f.label}: ${shown} not found (HTTP 404): check forge.owner and forge.repo, and that the token in ${f.tokenEnv} can see the repository`,
      s,
      message(parsed),
    );
  return { status: s, body: parsed as T, headers: h };
}

/** A forge's error text for errors and records: 300 characters, inert, an HTML page reduced to its title. */
export function message(body: unknown): string {
  const raw =
    body && typeof body === 'object' && 'message' in body
      ? String((body as { message: unknown }).message)
      : String(body ?? '');
  if (forgeHttpDefences.htmlTitle && /^\s*<(!doctype|html|head|body)\b/i.test(raw)) {
    const title = /<title[^>]*>([^<]{0,200})/i.exec(raw)?.[1]?.trim();
    return redactText(inertText(`an HTML page${title ? ` titled "${title}"` : ''} instead of JSON`)).slice(0, 300);
  }
  // A forge may echo the Authorization header back (the token, verbatim) in its message.
  return redactText(inertText(raw.slice(0, 600))).slice(0, 300);
}

/**
 * A `Link` URL is used as given (it carries the server's ROOT_URL sub-path) when it is on the API's
 * own origin. A Link to another origin (a ROOT_URL that differs from the address prbot uses, or a
 * hostile answer) is re-based onto the API root, so the token never goes to another host.
 */
function absolute(f: ForgeHttp, path: string): string {
  const root = f.baseUrl.replace(/\/+$/, '');
  if (!/^https?:\/\//i.test(path)) return root + path;
  const u = new URL(path);
  const base = new URL(root);
  if (u.origin === base.origin) return u.href;
  const i = u.pathname.indexOf('/api/v1/');
  return root + (i >= 0 ? u.pathname.slice(i + '/api/v1'.length) : u.pathname) + u.search;
}

export interface PageOptions {
  /** Pages read at most; the rest is left unread with a warning that names the forge and count. */
  maxPages: number;
  log: Logger;
  what: string;
  /**
   * The listing's X-Total-Count is not its total: Gitea's timeline sends the length of the page
   * it has just filtered (routers/api/v1/repo/issue_comment.go ListIssueCommentsAndTimeline) and
   * no Link, so only an empty page ends it.
   */
  countIsPageLength?: boolean;
  /** Told when the listing is cut at maxPages (a caller whose answer is the last item must not guess). */
  onCut?: () => void;
}

/**
 * Every item of a paginated GET to the end (or the cap, with a warning): following `Link:
 * rel="next"` where the forge sends one, else counting against `X-Total-Count` (Gitea's label
 * and review listings send only the count: `page` goes up by one until every item is read or a
 * page comes back empty), else (no paging header at all, or a count that is only the page's
 * length) `page` + 1 until a page comes back empty or repeats the one before. A forge that never
 * ends is cut at maxPages.
 */
export async function* forgePages<T>(f: ForgeHttp, firstPath: string, o: PageOptions): AsyncGenerator<T> {
  let next: string | null = firstPath;
  let pages = 0;
  let items = 0;
  let previous = '';
  while (next) {
    if (pages >= o.maxPages && forgeHttpDefences.maxPages) {
      o.log.warn(
        { forge: f.label, pages, items },
        `${f.label}: stopped listing ${o.what} after ${pages} pages (${items} items; forge.maxPages); later ones are not seen`,
      );
      o.onCut?.();
      return;
    }
    const r: ForgeResponse<T[]> = await forgeCall<T[]>(f, 'GET', next);
    pages++;
    const list = Array.isArray(r.body) ? r.body : [];
    // A server that ignores `page` sends page 1 again: its items are not new ones.
    const seen = list.length > 0 ? JSON.stringify(list) : '';
    if (seen !== '' && seen === previous) {
      o.log.warn(
        { forge: f.label, pages, items },
        `${f.label}: page ${pages} of ${o.what} repeats the page before it (the forge ignores paging); stopped there`,
      );
      return;
    }
    previous = seen;
    items += list.length;
    yield* list;
    const h = r.headers['x-total-count'];
    const total = o.countIsPageLength ? NaN : Number(Array.isArray(h) ? h[0] : (h ?? NaN));
    next =
      nextLink(r.headers.link) ??
      (Number.isSafeInteger(total) && total >= 0
        ? items < total && list.length > 0
          ? nextPage(next)
          : null
        : list.length > 0
          ? nextPage(next)
          : null);
  }
}

function nextPage(current: string): string {
  const u = new URL(current, 'http://path.invalid');
  const page = Number(u.searchParams.get('page') ?? '1');
  u.searchParams.set('page', String((Number.isSafeInteger(page) && page > 0 ? page : 1) + 1));
  return /^https?:\/\//i.test(current) ? u.href : u.pathname + u.search;
}

/** A PR from the repository itself (not a fork), whose head branch may be the bot's. */
export function fromRepo(head: { repo: { full_name: string } | null }, owner: string, repo: string): boolean {
  return !head.repo || head.repo.full_name.toLowerCase() === `${owner}/${repo}`.toLowerCase();
}

/** The URL of `rel="next"` in a Link header, as given. */
function nextLink(link: string | string[] | undefined): string | null {
  const v = Array.isArray(link) ? link.join(',') : link;
  if (!v) return null;
  for (const part of v.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (m && m[2]!.split(/\s+/).includes('next')) return m[1]!;
  }
  return null;
}
