import {
  RateLimited,
  TransientError,
  readBounded,
  refuseDeclaredSize,
  inertText,
  redactText,
  wholeCallDeadline,
} from '@prbot/core';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { fixFor, ForgeRefused, normalisePermission, reasonOf } from '../forge-errors.ts';
import { FORGE_ANSWER_CAP, forgeHttpDefences, fromRepo } from '../http.ts';
import { GitRemote } from '../push.ts';
import {
  markersOf,
  prListingDefence,
  type UpkeepForge,
  type RepoDirectory,
  type BotPr,
  type DoctorCheck,
  type DraftPr,
  type Forge,
  type ForgeTarget,
  type PrComment,
  type PrDetail,
  type PrRef,
  type RemoteForgeOptions,
  type RepoPermission,
  type ReviseForge,
  type ForgeIssue,
  type ForgeIssues,
} from '../types.ts';

/**
 * Octokit and its plugins are loaded when the first GitHub call is made, not when a process
 * starts: every worker creates its forge, but only the pr stage (and doctor) calls it.
 */
async function githubClient(opts: ConstructorParameters<typeof import('@octokit/rest').Octokit>[0]) {
  const [{ Octokit }, { throttling }, { retry }] = await Promise.all([
    import('@octokit/rest'),
    import('@octokit/plugin-throttling'),
    import('@octokit/plugin-retry'),
  ]);
  return new (Octokit.plugin(throttling, retry))(opts);
}
type Client = Awaited<ReturnType<typeof githubClient>>;

interface GithubIssue {
  number: number;
  html_url: string;
  title: string;
  body?: string | null;
  state: string;
  pull_request?: unknown;
}

// Listings are checked item by item (as the Gitea driver does): a malformed PR is skipped by
// name, never a TypeError in produce, and only an http(s) html_url is kept.
const githubPullSchema = z.object({
  number: z.number().int().positive(),
  html_url: z
    .string()
    .max(2000)
    .regex(/^https?:\/\//i, 'not an http(s) URL'),
  state: z.string().max(20),
  merged_at: z
    .string()
    .max(100)
    .nullable()
    .optional()
    .transform((v) => v ?? null),
  body: z
    .string()
    .nullable()
    .optional()
    .transform((v) => v ?? null),
  updated_at: z.string().max(100),
  draft: z.boolean().optional(),
  head: z.object({
    ref: z.string().max(1000),
    sha: z.string().max(100).optional(),
    repo: z
      .object({ full_name: z.string().max(1000) })
      .nullable()
      .optional()
      .transform((v) => v ?? null),
  }),
  labels: z.array(z.object({ name: z.string().optional() })).optional(),
});
type GithubPull = z.infer<typeof githubPullSchema>;

/** The well-formed PRs of a listing page; `skipped` counts the rest. */
function pullsOf(data: unknown, skipped: { n: number; why: string }): GithubPull[] {
  const out: GithubPull[] = [];
  for (const raw of Array.isArray(data) ? data : []) {
    if (!prListingDefence.check) {
      out.push(raw as GithubPull);
      continue;
    }
    const r = githubPullSchema.safeParse(raw);
    if (r.success) out.push(r.data);
    else {
      skipped.n++;
      skipped.why ||= `${r.error.issues[0]?.path.join('.') || '(item)'}: ${r.error.issues[0]?.message ?? ''}`;
    }
  }
  return out;
}

interface GithubComment {
  id: number;
  body?: string | null;
  user: { login: string } | null;
  created_at: string;
  path?: string;
}

export interface GithubOptions extends RemoteForgeOptions {
  apiUrl: string;
  /** Rate-limit waits up to this long happen inside the job (Octokit's throttling); longer ones pause the pr queue. */
  rateLimitWaitMs?: number;
}

interface HttpError {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | undefined>; data?: unknown };
}

const DRAFT_REFUSED = /draft pull requests are not supported/i;

/**
 * GitHub and GitHub Enterprise through Octokit. `@octokit/plugin-throttling` applies GitHub's
 * rules for primary and secondary rate limits (retry-after, x-ratelimit-reset, at least a minute
 * for a secondary limit) and `@octokit/plugin-retry` retries a 5xx once. How that meets the pr
 * queue: a wait of at most `rateLimitWaitMs` (and at most twice per call) happens in the job;
 * a longer one ends the attempt with RateLimited, so the whole pr queue waits (BullMQ's manual
 * rate limit, which does not count as an attempt) instead of one job sleeping on a worker slot.
 */
export class GithubForge extends GitRemote implements Forge, ReviseForge, UpkeepForge, RepoDirectory {
  readonly kind = 'github';
  private readonly label: string;
  private gh?: Promise<Client>;
  private readonly waitMs: number;

  constructor(protected override readonly o: GithubOptions) {
    super(o);
    this.label = `github ${o.owner}/${o.repo}`;
    this.waitMs = o.rateLimitWaitMs ?? 20_000;
  }

  private client(): Promise<Client> {
    const o = this.o;
    const inJob = (retryAfterS: number, _opts: unknown, _client: unknown, retryCount: number) =>
      retryAfterS * 1000 <= this.waitMs && retryCount < 2;
    this.gh ??= githubClient({
      auth: o.token,
      baseUrl: o.apiUrl.replace(/\/+$/, ''),
      userAgent: 'prbot',
      log: {
        debug: () => {},
        info: () => {},
        warn: (m: string) => o.log.debug({ forge: this.label }, m),
        error: (m: string) => o.log.debug({ forge: this.label }, m),
      },
      request: { fetch: timedFetch(o.timeoutMs, o.maxAnswerBytes ?? FORGE_ANSWER_CAP, o.apiUrl) },
      throttle: { onRateLimit: inJob, onSecondaryRateLimit: inJob },
      // 429 and 403 belong to the throttling plugin; 4xx answers are final.
      retry: { retries: 1, doNotRetry: [400, 401, 403, 404, 409, 410, 422, 429, 451] },
    }).then((gh) => {
      // Pinned: the shapes prbot reads are those of this API version.
      gh.hook.before('request', (options) => {
        options.headers['x-github-api-version'] = '2022-11-28';
      });
      return gh;
    });
    return this.gh;
  }

  /** A fine-grained token needs Issues: read and write; a classic one repo (public_repo). */
  readonly issues: ForgeIssues = {
    create: async (title, body) =>
      issueOf(
        (
          await this.call('creating the dashboard issue', (gh) =>
            gh.rest.issues.create({ owner: this.o.owner, repo: this.o.repo, title, body }),
          )
        ).data as GithubIssue,
      ),
    get: async (n) => {
      try {
        const r = await this.call(`reading issue #${n}`, (gh) =>
          gh.rest.issues.get({ owner: this.o.owner, repo: this.o.repo, issue_number: n }),
        );
        const i = r.data as GithubIssue;
        return i.pull_request ? null : issueOf(i);
      } catch (err) {
        // 404: no such issue; 410: issues turned off or the issue deleted.
        if (err instanceof ForgeRefused && (err.status === 404 || err.status === 410)) return null;
        throw err;
      }
    },
    editBody: async (n, body) =>
      issueOf(
        (
          await this.call(`editing issue #${n}`, (gh) =>
            gh.rest.issues.update({ owner: this.o.owner, repo: this.o.repo, issue_number: n, body }),
          )
        ).data as GithubIssue,
      ),
    listOpen: async () => {
      const out: ForgeIssue[] = [];
      let pages = 0;
      await this.call('listing issues', async (gh) => {
        const it = gh.paginate.iterator(gh.rest.issues.listForRepo, {
          owner: this.o.owner,
          repo: this.o.repo,
          state: 'open',
          per_page: 100,
        });
        for await (const page of it) {
          // GitHub lists pull requests among issues: they carry `pull_request`.
          for (const i of page.data as GithubIssue[]) if (!i.pull_request) out.push(issueOf(i));
          if (++pages >= this.o.maxPages) break;
        }
      });
      return out;
    },
  };

  /** An organisation's repositories, or a user's when the owner is no organisation (GitHub answers 404). */
  async *ownerRepos(): AsyncGenerator<unknown> {
    const gh = await this.client();
    const what = `listing the repositories of ${this.o.owner}`;
    const pages = async function* (self: GithubForge, it: AsyncIterable<{ data: unknown[] }>): AsyncGenerator<unknown> {
      let n = 0;
      try {
        for await (const page of it) {
          yield* page.data;
          if (++n >= self.o.maxPages) {
            self.o.log.warn(
              { forge: self.label, pages: n },
              `${self.label}: stopped ${what} after ${n} pages (forge.maxPages); later ones are not seen`,
            );
            return;
          }
        }
      } catch (err) {
        throw self.mapError(what, err as HttpError);
      }
    };
    let seen = 0;
    try {
      for await (const r of pages(
        this,
        gh.paginate.iterator(gh.rest.repos.listForOrg, { org: this.o.owner, per_page: 100 }),
      )) {
        seen++;
        yield r;
      }
    } catch (err) {
      // Only an unknown organisation is a user: a 404 after the first page is the forge's failure.
      if (!(err instanceof ForgeRefused && err.status === 404) || seen > 0) throw err;
      yield* pages(this, gh.paginate.iterator(gh.rest.repos.listForUser, { username: this.o.owner, per_page: 100 }));
    }
  }

  async hasFile(name: string, path: string, ref: string): Promise<boolean> {
    try {
      await this.call(`reading ${path} of ${this.o.owner}/${name}`, (gh) =>
        gh.rest.repos.getContent({ owner: this.o.owner, repo: name, path, ref }),
      );
      return true;
    } catch (err) {
      if (err instanceof ForgeRefused && err.status === 404) return false;
      throw err;
    }
  }

  private ref(p: GithubPull): PrRef {
    return {
      url: p.html_url,
      branch: p.head.ref,
      state: p.merged_at ? 'merged' : p.state === 'open' ? 'open' : 'closed',
    };
  }

  /** Runs one API call and maps its failure to prbot's errors (never with the token in them). */
  private async call<T>(what: string, fn: (gh: Client) => Promise<T>): Promise<T> {
    const gh = await this.client();
    try {
      return await fn(gh);
    } catch (err) {
      throw this.mapError(what, err as HttpError);
    }
  }

  private mapError(what: string, e: HttpError): Error {
    const s = e.status;
    const h = e.response?.headers ?? {};
    const m = errorText(e);
    if (s === undefined || s >= 500)
      return new TransientError(
        `${this.label}: ${what} failed${s ? ` (HTTP ${s})` : ''}: ${m.replaceAll(this.o.token, '***')}`,
      );
    if (s === 429 || (s === 403 && (h['x-ratelimit-remaining'] === '0' || /secondary rate limit/i.test(m)))) {
      const reset = Number(h['x-ratelimit-reset']);
      const retryAfter = Number(h['retry-after']);
      const secondary = /secondary rate limit/i.test(m);
      const wait =
        Number.isFinite(retryAfter) && retryAfter > 0
          ? retryAfter * 1000
          : h['x-ratelimit-remaining'] === '0' && reset > 0
            ? Math.max(1000, reset * 1000 - Date.now() + 1000)
            : 60_000;
      return new RateLimited(
        `${this.label} ${secondary ? 'secondary' : 'primary'} rate limit on ${what} (HTTP ${s})`,
        Math.min(wait, 3_600_000),
      );
    }
    if (s === 401)
      return new ForgeRefused(
        `${this.label} rejected the token (HTTP 401): check that ${this.o.tokenEnv} holds a valid, unexpired token`,
        s,
        m,
      );
    if (s === 403) {
      const needs = h['x-accepted-github-permissions'];
      return new ForgeRefused(
        `${this.label} refused ${what} (HTTP 403): the token in ${this.o.tokenEnv} lacks permission: ${m}${needs ? ` (needs ${needs})` : ''}`,
        s,
        m,
      );
    }
    if (s === 404)
      return new ForgeRefused(
        `${this.label}: ${what}: not found (HTTP 404): check forge.owner and forge.repo, and that the token in ${this.o.tokenEnv} can see the repository`,
        s,
        m,
      );
    return new ForgeRefused(`${this.label} refused ${what} (HTTP ${s}): ${m}`, s, m);
  }

  /**
   * Any state; the open one if there is one. A branch can have had more PRs than a page holds
   * (one open per base, any number closed), newest first: read on until an open one or the end.
   */
  async findByBranch(branch: string): Promise<PrRef | null> {
    let found: GithubPull | null = null;
    await this.call('looking the PR up by branch', async (gh) => {
      let pages = 0;
      for await (const page of gh.paginate.iterator(gh.rest.pulls.list, {
        owner: this.o.owner,
        repo: this.o.repo,
        head: `${this.o.owner}:${branch}`,
        state: 'all',
        per_page: 100,
      })) {
        const mine = pullsOf(page.data, { n: 0, why: '' }).filter((x) => x.head.ref === branch);
        const open = mine.find((x) => x.state === 'open');
        found = open ?? found ?? mine[0] ?? null;
        if (open || ++pages >= this.o.maxPages) break;
      }
    });
    return found ? this.ref(found) : null;
  }

  async listBotPrs(): Promise<BotPr[]> {
    const out: BotPr[] = [];
    let pages = 0;
    const skipped = { n: 0, why: '' };
    await this.call('listing pull requests', async (gh) => {
      const it = gh.paginate.iterator(gh.rest.pulls.list, {
        owner: this.o.owner,
        repo: this.o.repo,
        state: 'all',
        sort: 'updated',
        direction: 'desc',
        per_page: 100,
      });
      for await (const page of it) {
        pages++;
        for (const p of pullsOf(page.data, skipped)) {
          if (p.head.ref.startsWith(this.o.branchPrefix) && fromRepo(p.head, this.o.owner, this.o.repo))
            out.push({ ...this.ref(p), ...markersOf(p.body), updatedAt: p.updated_at, number: p.number });
        }
        // The switch is the positive control's (hostile-forge.test.ts), as in forgePages.
        if (pages >= this.o.maxPages && forgeHttpDefences.maxPages) {
          this.o.log.warn(
            { forge: this.label, pages },
            `${this.label}: stopped listing pull requests after ${pages} pages (forge.maxPages); later ones are not seen`,
          );
          break;
        }
      }
    });
    if (skipped.n)
      this.o.log.warn(
        { forge: this.label, skipped: skipped.n },
        `${this.label}: skipped ${skipped.n} pull request(s) the forge described malformed (first: ${skipped.why})`,
      );
    return out;
  }

  // --- revise cycles -------------------------------------------------------------------------

  async getPr(number: number): Promise<PrDetail | null> {
    try {
      const r = await this.call(`reading PR #${number}`, (gh) =>
        gh.rest.pulls.get({ owner: this.o.owner, repo: this.o.repo, pull_number: number }),
      );
      const p = r.data as unknown as GithubPull;
      if (!fromRepo(p.head, this.o.owner, this.o.repo) || !p.head.sha) return null;
      return {
        ...this.ref(p),
        number: p.number,
        headSha: p.head.sha,
        labels: (p.labels ?? []).flatMap((l) => (l.name ? [l.name] : [])),
        ...markersOf(p.body),
      };
    } catch (err) {
      if (err instanceof ForgeRefused && err.status === 404) return null;
      throw err;
    }
  }

  /** The conversation (issue comments) and inline review comments: two id spaces on GitHub. */
  async listPrComments(number: number): Promise<PrComment[]> {
    const out: PrComment[] = [];
    const base = { owner: this.o.owner, repo: this.o.repo, per_page: 100 };
    await this.call(`listing the comments of PR #${number}`, async (gh) => {
      let pages = 0;
      for await (const page of gh.paginate.iterator(gh.rest.issues.listComments, { ...base, issue_number: number })) {
        for (const c of page.data as GithubComment[]) out.push(ghComment(c, 'issue'));
        if (++pages >= this.o.maxPages) break;
      }
      pages = 0;
      for await (const page of gh.paginate.iterator(gh.rest.pulls.listReviewComments, {
        ...base,
        pull_number: number,
      })) {
        for (const c of page.data as GithubComment[]) out.push(ghComment(c, 'review'));
        if (++pages >= this.o.maxPages) break;
      }
      // Review summaries: a submitted review's own body (approve, comment, request changes) can be the request.
      pages = 0;
      for await (const page of gh.paginate.iterator(gh.rest.pulls.listReviews, { ...base, pull_number: number })) {
        for (const r of page.data as {
          id: number;
          body?: string | null;
          state?: string;
          user?: { login: string } | null;
          submitted_at?: string;
        }[]) {
          if (r.state !== 'PENDING' && (r.body ?? '').trim() !== '')
            out.push({
              id: r.id,
              kind: 'summary',
              author: r.user?.login ?? '',
              body: r.body ?? '',
              createdAt: r.submitted_at ?? '',
            });
        }
        if (++pages >= this.o.maxPages) break;
      }
    });
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id - b.id);
  }

  /**
   * The issue's events (`labeled`, with the actor), oldest first: the last one for the label wins,
   * so a listing cut at maxPages names nobody rather than someone who labelled earlier.
   */
  async labeledBy(number: number, label: string): Promise<string | null> {
    let by: string | null = null;
    let cut = false;
    await this.call(`listing the events of PR #${number}`, async (gh) => {
      let pages = 0;
      for await (const page of gh.paginate.iterator(gh.rest.issues.listEvents, {
        owner: this.o.owner,
        repo: this.o.repo,
        issue_number: number,
        per_page: 100,
      })) {
        // One page past the cap is asked for, so a listing that ends exactly at it is not "cut".
        if (pages++ >= this.o.maxPages) {
          cut = true;
          this.o.log.warn(
            { forge: this.label, pages: this.o.maxPages },
            `${this.label}: stopped listing the events of PR #${number} after ${this.o.maxPages} pages (forge.maxPages); who put ${label} on is not known`,
          );
          break;
        }
        for (const e of page.data as { event?: string; label?: { name?: string }; actor?: { login?: string } | null }[])
          if (e.event === 'labeled' && e.label?.name === label && e.actor?.login) by = e.actor.login;
      }
    });
    return cut ? null : by;
  }

  async commentOnPr(number: number, body: string): Promise<void> {
    await this.call(`replying on PR #${number}`, (gh) =>
      gh.rest.issues.createComment({ owner: this.o.owner, repo: this.o.repo, issue_number: number, body }),
    );
  }

  async permissionOf(login: string): Promise<RepoPermission> {
    try {
      const r = await this.call(`reading ${login}'s permission`, (gh) =>
        gh.rest.repos.getCollaboratorPermissionLevel({ owner: this.o.owner, repo: this.o.repo, username: login }),
      );
      return normalisePermission((r.data as { permission?: string }).permission);
    } catch (err) {
      // 404: not a collaborator / no such user.
      if (err instanceof ForgeRefused && err.status === 404) return 'none';
      throw err;
    }
  }

  async removeLabel(number: number, label: string): Promise<void> {
    try {
      await this.call(`removing the label ${label}`, (gh) =>
        gh.rest.issues.removeLabel({ owner: this.o.owner, repo: this.o.repo, issue_number: number, name: label }),
      );
    } catch (err) {
      if (!(err instanceof ForgeRefused && err.status === 404)) throw err;
    }
  }

  async whoami(): Promise<string> {
    const r = await this.call("reading the token's user", (gh) => gh.rest.users.getAuthenticated());
    return r.data.login;
  }

  // --- upkeep of open bot PRs (issue 25) ------------------------------------------------------

  commentOn(pr: BotPr, body: string): Promise<void> {
    if (!pr.number) throw new Error(`${this.label}: PR ${pr.url} has no number`);
    return this.commentOnPr(pr.number, body);
  }

  /** pulls/update: PATCH /repos/{owner}/{repo}/pulls/{pull_number} with `{state: "closed"}`. */
  async closePr(pr: BotPr): Promise<void> {
    const n = pr.number;
    if (!n) throw new Error(`${this.label}: PR ${pr.url} has no number`);
    await this.call(`closing PR #${n}`, (gh) =>
      gh.rest.pulls.update({ owner: this.o.owner, repo: this.o.repo, pull_number: n, state: 'closed' }),
    );
  }

  async openDraft(pr: DraftPr): Promise<PrRef> {
    const warnings: string[] = [];
    let draft = true;
    let created: GithubPull;
    try {
      created = await this.create(pr, true);
    } catch (err) {
      if (!(err instanceof ForgeRefused && err.status === 422 && DRAFT_REFUSED.test(err.forgeMessage))) throw err;
      // Private repositories on GitHub Free/Pro cannot have drafts: a normal PR marked by its title.
      draft = false;
      const note = `GitHub refused a draft PR for ${this.o.owner}/${this.o.repo} (drafts on private repositories need GitHub Team or Enterprise), so this opened as a normal PR marked "${this.o.draftPrefix.trim()}" in its title`;
      warnings.push(note);
      this.o.log.warn({ forge: this.label }, note);
      created = await this.create(
        {
          ...pr,
          title: this.o.draftPrefix + pr.title,
          body: `> **Not a draft:** ${note}. It still must not be merged without review.\n\n${pr.body}`,
        },
        false,
      );
    }
    const ref = this.ref(created);
    await this.addLabels(created.number, pr.labels, warnings);
    return { ...ref, draft, warnings };
  }

  private async create(pr: DraftPr, draft: boolean): Promise<GithubPull> {
    try {
      const r = await this.call('creating the pull request', (gh) =>
        gh.rest.pulls.create({
          owner: this.o.owner,
          repo: this.o.repo,
          title: pr.title,
          head: pr.branch,
          base: pr.base,
          body: pr.body,
          draft,
        }),
      );
      return r.data as GithubPull;
    } catch (err) {
      if (!(err instanceof ForgeRefused && err.status === 422)) throw err;
      const m = err.forgeMessage;
      if (/already exists/i.test(m)) {
        const found = await this.findByBranch(pr.branch);
        if (found)
          return {
            number: 0,
            html_url: found.url,
            state: found.state === 'open' ? 'open' : 'closed',
            merged_at: found.state === 'merged' ? 'merged' : null,
            body: null,
            updated_at: '',
            head: { ref: found.branch, repo: null },
          };
      }
      if (/\bbase\b.*invalid/i.test(m))
        throw new ForgeRefused(
          `${this.label}: the base branch (repo.base) "${pr.base}" does not exist in ${this.o.owner}/${this.o.repo} (HTTP 422 ${m}): set repo.base to an existing branch`,
          422,
          m,
        );
      if (/\bhead\b.*invalid/i.test(m))
        throw new ForgeRefused(
          `${this.label}: the bot branch "${pr.branch}" is not in ${this.o.owner}/${this.o.repo} (HTTP 422 ${m}): check forge.remote`,
          422,
          m,
        );
      throw err;
    }
  }

  /** Best effort: a label that cannot be added is a warning in the record, never a failed PR. */
  private async addLabels(n: number, labels: string[], warnings: string[]): Promise<void> {
    if (!labels.length || n === 0) return;
    try {
      await this.call('adding labels', (gh) =>
        gh.rest.issues.addLabels({ owner: this.o.owner, repo: this.o.repo, issue_number: n, labels }),
      );
    } catch (err) {
      const w = `labels ${labels.join(', ')} not applied: ${reasonOf(err)}${err instanceof ForgeRefused && err.status === 403 ? '; a fine-grained token needs Issues: read and write' : ''}`;
      warnings.push(w);
      this.o.log.warn({ forge: this.label }, w);
    }
  }

  /**
   * Whether GitHub takes `draft: true` here, from what decides it: every public repository has
   * drafts; a private one only under an organisation on a paid plan (Team, Enterprise). A user's
   * private repository never does. The plan is read from `GET /orgs/{org}` (shown to owners only):
   * when it cannot be read, the check says so rather than guess.
   */
  private async draftCheck(repo: string, isPrivate: boolean, byOrg: boolean): Promise<DoctorCheck> {
    const fallback = `prbot opens normal PRs titled "${this.o.draftPrefix.trim()} …" and says so in the PR and the record`;
    if (!isPrivate) return { name: 'draft', status: 'ok', detail: `${repo} is public: draft PRs are supported` };
    if (!byOrg)
      return {
        name: 'draft',
        status: 'warn',
        detail: `${repo} is a private repository of a user account: GitHub has no draft PRs there, so ${fallback}`,
        fix: 'move the repository to an organisation on GitHub Team/Enterprise for real drafts, or accept the title-prefix fallback',
      };
    let plan: string | undefined;
    try {
      const o = await this.call('reading the organisation', (gh) => gh.rest.orgs.get({ org: this.o.owner }));
      plan = (o.data as { plan?: { name?: string } }).plan?.name;
    } catch (err) {
      if (!(err instanceof ForgeRefused)) throw err;
    }
    if (plan === undefined)
      return {
        name: 'draft',
        status: 'warn',
        detail: `${repo} is private and this token cannot see ${this.o.owner}'s plan: draft PRs need GitHub Team/Enterprise; if GitHub refuses one, ${fallback}`,
        fix: 'nothing to do if the organisation is on Team/Enterprise',
      };
    if (plan.toLowerCase() === 'free')
      return {
        name: 'draft',
        status: 'warn',
        detail: `${repo} is private and ${this.o.owner} is on GitHub Free: no draft PRs there, so ${fallback}`,
        fix: 'use GitHub Team/Enterprise for real drafts, or accept the title-prefix fallback',
      };
    return {
      name: 'draft',
      status: 'ok',
      detail: `${repo} is private and ${this.o.owner} is on the ${plan} plan: draft PRs are supported`,
    };
  }

  async doctor(target: ForgeTarget): Promise<DoctorCheck[]> {
    const out: DoctorCheck[] = [];
    const repo = `${this.o.owner}/${this.o.repo}`;
    const step = async (name: string, fn: () => Promise<DoctorCheck | DoctorCheck[]>) => {
      try {
        const r = await fn();
        out.push(...(Array.isArray(r) ? r : [r]));
      } catch (err) {
        out.push({
          name,
          status: 'fail',
          detail: reasonOf(err),
          fix: fixFor(err, this.o.tokenEnv),
          ...(err instanceof TransientError || err instanceof RateLimited ? { transient: true } : {}),
        });
      }
    };
    let scopes: string[] | null = null;
    await step('token', async () => {
      let r;
      try {
        r = await this.call("reading the token's user", (gh) => gh.rest.users.getAuthenticated());
      } catch (err) {
        // A GitHub App installation token is valid yet may not read /user ("Resource not accessible by integration").
        if (err instanceof ForgeRefused && err.status === 403)
          return {
            name: 'token',
            status: 'warn',
            detail: `${this.o.tokenEnv} is valid but cannot read its user (${err.forgeMessage}): an app installation token? only revise cycles need it`,
          };
        throw err;
      }
      const h = r.headers['x-oauth-scopes'];
      scopes =
        typeof h === 'string'
          ? h
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : null;
      return {
        name: 'token',
        status: 'ok',
        detail: `${this.o.tokenEnv} authenticates as ${r.data.login}${scopes ? ` (classic token, scopes: ${scopes.join(', ') || 'none'})` : ' (fine-grained or app token)'}`,
      };
    });
    await step('repository', async () => {
      const r = await this.call(`reading ${repo}`, (gh) =>
        gh.rest.repos.get({ owner: this.o.owner, repo: this.o.repo }),
      );
      const checks: DoctorCheck[] = [];
      const d = r.data as {
        private?: boolean;
        archived?: boolean;
        permissions?: { push?: boolean };
        owner?: { type?: string };
      };
      if (d.archived)
        checks.push({
          name: 'repository',
          status: 'fail',
          detail: `${repo} is archived (read-only): every push and pull request would be refused`,
          fix: 'unarchive the repository, or point forge.owner/forge.repo at a writable one',
        });
      else if (d.permissions && !d.permissions.push)
        checks.push({
          name: 'repository',
          status: 'fail',
          detail: `the token cannot push to ${repo}`,
          fix: 'classic token: scope repo (public_repo for a public repository); fine-grained: Contents read and write, Pull requests read and write, Metadata read',
        });
      else if (scopes && !scopes.includes('repo') && !(scopes.includes('public_repo') && !d.private))
        checks.push({
          name: 'repository',
          status: 'fail',
          detail: `the classic token's scopes (${(scopes as string[]).join(', ') || 'none'}) cannot push to ${repo}`,
          fix: `add the scope ${d.private ? 'repo' : 'public_repo (or repo)'}`,
        });
      else
        checks.push({
          name: 'repository',
          status: 'ok',
          detail: `${repo} is reachable${d.permissions ? ' and writable' : ''}`,
        });
      checks.push(await this.draftCheck(repo, d.private === true, d.owner?.type === 'Organization'));
      return checks;
    });
    // Fine-grained tokens do not list their permissions anywhere: ask for a write that cannot
    // succeed. GitHub checks the token's permission before it validates the body, so an empty
    // create answers 403 ("Resource not accessible …") when refused and 422 when allowed.
    await step('pull requests', async () => {
      try {
        await this.call('creating a pull request (empty probe)', (gh) =>
          gh.request('POST /repos/{owner}/{repo}/pulls', { owner: this.o.owner, repo: this.o.repo, data: {} } as never),
        );
        return {
          name: 'pull requests',
          status: 'warn',
          detail: 'an empty pull request was accepted; cannot tell whether the token may open one',
        };
      } catch (err) {
        if (err instanceof ForgeRefused && err.status === 422)
          return { name: 'pull requests', status: 'ok', detail: 'the token may open pull requests' };
        if (err instanceof ForgeRefused && err.status === 403) {
          return {
            name: 'pull requests',
            status: 'fail',
            detail: `the token cannot open pull requests in ${repo}: ${err.forgeMessage}`,
            fix: 'fine-grained token: Pull requests: read and write (and Contents: read and write); classic token: scope repo (public_repo for a public repository)',
          };
        }
        throw err;
      }
    });
    await step('push', () => this.pushCheck(this.o.branchPrefix));
    await step('base branch', async () => {
      try {
        await this.call('reading the base branch', (gh) =>
          gh.rest.repos.getBranch({ owner: this.o.owner, repo: this.o.repo, branch: target.base }),
        );
        return { name: 'base branch', status: 'ok', detail: `base branch "${target.base}" exists` };
      } catch (err) {
        if (err instanceof ForgeRefused && err.status === 404)
          return {
            name: 'base branch',
            status: 'fail',
            detail: `base branch "${target.base}" does not exist in ${repo}`,
            fix: 'set repo.base to an existing branch',
          };
        throw err;
      }
    });
    out.push(
      target.labels.length === 0
        ? { name: 'labels', status: 'ok', detail: 'no labels configured' }
        : {
            name: 'labels',
            status: 'ok',
            detail: `labels ${target.labels.join(', ')} are added after each PR opens (best effort; a fine-grained token needs Issues: read and write, a classic one repo/public_repo)`,
          },
    );
    return out;
  }
}

function ghComment(c: GithubComment, kind: PrComment['kind']): PrComment {
  return {
    id: c.id,
    kind,
    author: c.user?.login ?? '',
    body: c.body ?? '',
    createdAt: c.created_at,
    ...(c.path ? { path: c.path } : {}),
  };
}

function issueOf(i: GithubIssue): ForgeIssue {
  return {
    number: i.number,
    url: i.html_url,
    title: i.title,
    body: i.body ?? '',
    state: i.state === 'closed' ? 'closed' : 'open',
  };
}

function errorText(e: HttpError): string {
  const d = e.response?.data as
    { message?: string; errors?: { message?: string; field?: string; code?: string; resource?: string }[] } | undefined;
  const base = String(d?.message ?? e.message ?? 'unknown error');
  const details = (d?.errors ?? [])
    .map((x) => x.message ?? [x.resource, x.field, x.code].filter(Boolean).join(' '))
    .filter(Boolean);
  return redactText(inertText((details.length ? `${base}: ${details.join('; ')}` : base).slice(0, 1000))).slice(0, 500);
}

/**
 * Octokit's fetch, with the bounds every other prbot HTTP client has (bounded-read.ts): a
 * per-request deadline that covers the body too, at most FORGE_ANSWER_CAP bytes after
 * decompression (fetch decompresses gzip/br/deflate, so a small bomb is stopped at the cap, not
 * expanded to gigabytes), and no redirects followed: a 3xx is refused, so the token never goes to
 * the address a Location names (fetch drops Authorization only across origins, not to
 * another path or port of a host, and Octokit would otherwise treat the 3xx's body as data).
 * Octokit's paginate requests a `Link` URL as given, token included: one on another origin is
 * re-based onto the API's own, as the Gitea driver does.
 */
/**
 * Switchable for one purpose: the positive control in hostile-forge.test.ts turns it off in its own
 * process (back in a `finally`) to show fetch then follows a forge's redirect (`redirect: 'follow'`,
 * fetch's default). No variable or config field reaches this object.
 */
export const githubFetchDefence = { noRedirects: true };

function timedFetch(ms: number, maxBytes: number, apiUrl: string): typeof fetch {
  return async (input, init) => {
    const deadline = wholeCallDeadline(ms);
    const signals = [...(deadline ? [deadline] : []), ...(init?.signal ? [init.signal] : [])];
    const signal = signals.length ? AbortSignal.any(signals) : undefined;
    const url = onApiOrigin(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, apiUrl);
    const res = await fetch(url, { ...init, signal, redirect: githubFetchDefence.noRedirects ? 'manual' : 'follow' });
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      await res.body?.cancel().catch(() => {});
      throw new Error(
        `answered HTTP ${res.status} (a redirect), not followed: the token is never sent to another address; set forge.url to the API's final address`,
      );
    }
    const headers = Object.fromEntries(res.headers);
    refuseDeclaredSizeOf(headers, maxBytes);
    const text = res.body
      ? await readBounded(
          Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
          maxBytes,
          signal,
        )
      : '';
    // The bytes are decoded now: the encoding and length headers no longer describe them.
    const h = new Headers(res.headers);
    h.delete('content-encoding');
    h.delete('content-length');
    return new Response(res.status === 204 || res.status === 304 ? null : text, {
      status: res.status,
      statusText: res.statusText,
      headers: h,
    });
  };
}

/** A URL on another origin than the API's is moved onto it (an API path prefix such as GHES's /api/v3 kept once). */
function onApiOrigin(url: string, apiUrl: string): string {
  const u = new URL(url);
  const base = new URL(apiUrl.replace(/\/+$/, ''));
  if (u.origin === base.origin) return u.href;
  const prefix = base.pathname.replace(/\/+$/, '');
  const path =
    prefix && (u.pathname === prefix || u.pathname.startsWith(`${prefix}/`)) ? u.pathname : prefix + u.pathname;
  return base.origin + path + u.search;
}

function refuseDeclaredSizeOf(headers: Record<string, string>, maxBytes: number): void {
  // A declared length is of the encoded bytes: only an identity answer can be refused by it.
  if (!headers['content-encoding'] || headers['content-encoding'] === 'identity') refuseDeclaredSize(headers, maxBytes);
}
