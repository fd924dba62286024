import { z } from 'zod';
import { RateLimited, TransientError } from '@prbot/core';
import { fixFor, ForgeRefused, normalisePermission, reasonOf } from '../forge-errors.ts';
import { forgeCall, forgePages, fromRepo, message, type ForgeHttp } from '../http.ts';
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

// A listing is a forge's answer: each PR is checked here, so a hostile or broken item (a body
// that is not a string, no head, a `javascript:` URL) is skipped by name instead of throwing a
// TypeError deep in a driver method or reaching the dashboard as a link.
const giteaPullSchema = z.object({
  number: z.number().int().positive(),
  html_url: z
    .string()
    .max(2000)
    .regex(/^https?:\/\//i, 'not an http(s) URL'),
  state: z.enum(['open', 'closed']),
  merged: z
    .boolean()
    .nullish()
    .transform((v) => v === true),
  body: z
    .string()
    .nullable()
    .optional()
    .transform((v) => v ?? null),
  updated_at: z.string().max(100),
  head: z.object({
    ref: z.string().max(1000),
    label: z.string().max(1000).optional().default(''),
    sha: z.string().max(100).optional(),
    repo: z
      .object({ full_name: z.string().max(1000) })
      .nullable()
      .optional()
      .transform((v) => v ?? null),
  }),
  labels: z
    .array(z.object({ id: z.number(), name: z.string() }))
    .nullable()
    .optional(),
});
type GiteaPull = z.infer<typeof giteaPullSchema>;

interface GiteaComment {
  id: number;
  body: string | null;
  user: { login: string } | null;
  created_at: string;
  path?: string;
}

interface GiteaReview {
  id: number;
  comments_count?: number;
  body?: string | null;
  state?: string;
  user?: { login: string } | null;
  submitted_at?: string;
}

interface GiteaIssue {
  number: number;
  html_url: string;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  pull_request: unknown;
}

interface GiteaLabel {
  id: number;
  name: string;
}

export interface GiteaOptions extends RemoteForgeOptions {
  baseUrl: string;
  /** The server's WORK_IN_PROGRESS_PREFIXES (config validates draftPrefix against them). */
  wipPrefixes?: string[];
}

// Gitea's [api] MAX_RESPONSE_ITEMS default: asking for more is silently capped to it.
const PAGE = 50;

/**
 * Gitea and Forgejo (same API). No `draft` field exists: a draft is a title starting with a
 * WIP prefix. Lookup by branch uses `/pulls/{base}/{head}` from Gitea 1.22 on (any state), and on
 * older servers lists every PR and matches head branch and head repository. Labels are ids
 * (repository and organisation labels, read to the last page) and are best effort.
 */
export class GiteaForge extends GitRemote implements Forge, ReviseForge, UpkeepForge, RepoDirectory {
  readonly kind = 'gitea';
  private readonly http: ForgeHttp;
  private readonly repoPath: string;
  private labelIds: Map<string, number> | null = null;
  private version: Promise<[number, number] | null> | null = null;

  constructor(protected override readonly o: GiteaOptions) {
    super(o);
    this.http = {
      label: `gitea ${new URL(o.baseUrl).host}/${o.owner}/${o.repo}`,
      baseUrl: o.baseUrl.replace(/\/+$/, '') + '/api/v1',
      headers: { authorization: `token ${o.token}` },
      timeoutMs: o.timeoutMs,
      tokenEnv: o.tokenEnv,
      ...(o.maxAnswerBytes ? { maxAnswerBytes: o.maxAnswerBytes } : {}),
    };
    this.repoPath = `/repos/${encodeURIComponent(o.owner)}/${encodeURIComponent(o.repo)}`;
  }

  /** An organisation's repositories, or a user's when the owner is no organisation (Gitea answers 404). */
  async *ownerRepos(): AsyncGenerator<unknown> {
    const owner = encodeURIComponent(this.o.owner);
    const pages = (path: string) =>
      forgePages<unknown>(this.http, path, {
        maxPages: this.o.maxPages,
        log: this.o.log,
        what: `repositories of ${this.o.owner}`,
      });
    let seen = 0;
    try {
      for await (const r of pages(`/orgs/${owner}/repos?limit=${PAGE}`)) {
        seen++;
        yield r;
      }
    } catch (err) {
      // Only an unknown organisation is a user: a 404 after the first page is the forge's failure.
      if (!(err instanceof ForgeRefused && err.status === 404) || seen > 0) throw err;
      yield* pages(`/users/${owner}/repos?limit=${PAGE}`);
    }
  }

  async hasFile(name: string, path: string, ref: string): Promise<boolean> {
    const at = `/repos/${encodeURIComponent(this.o.owner)}/${encodeURIComponent(name)}/contents/${path.split('/').map(encodeURIComponent).join('/')}?ref=${encodeURIComponent(ref)}`;
    try {
      await forgeCall(this.http, 'GET', at);
      return true;
    } catch (err) {
      if (err instanceof ForgeRefused && err.status === 404) return false;
      throw err;
    }
  }

  /** /repos/{o}/{r}/issues* is in Gitea's issue scope: the token needs write:issue. */
  readonly issues: ForgeIssues = {
    create: async (title, body) =>
      this.issueOf(
        await this.issueCall('POST', `${this.repoPath}/issues`, { title, body }, [201], 'creating the dashboard issue'),
      ),
    get: async (n) => {
      try {
        const r = await forgeCall<GiteaIssue>(this.http, 'GET', `${this.repoPath}/issues/${n}`);
        return r.status === 200 && !r.body.pull_request ? this.issueOf(r.body) : null;
      } catch (err) {
        if (err instanceof ForgeRefused && err.status === 404) return null;
        throw err;
      }
    },
    // Gitea answers an issue edit with 201 (swagger: issueEditIssue).
    editBody: async (n, body) =>
      this.issueOf(
        await this.issueCall('PATCH', `${this.repoPath}/issues/${n}`, { body }, [200, 201], `editing issue #${n}`),
      ),
    listOpen: async () => {
      const out: ForgeIssue[] = [];
      const it = forgePages<GiteaIssue>(
        this.http,
        `${this.repoPath}/issues?state=open&type=issues&limit=${PAGE}&page=1`,
        { maxPages: this.o.maxPages, log: this.o.log, what: 'issues' },
      );
      for await (const i of it) if (!i.pull_request) out.push(this.issueOf(i));
      return out;
    },
  };

  private async issueCall(
    method: string,
    path: string,
    body: unknown,
    ok: number[],
    what: string,
  ): Promise<GiteaIssue> {
    const r = await forgeCall<GiteaIssue>(this.http, method, path, body);
    if (!ok.includes(r.status))
      throw new ForgeRefused(
        `${this.http.label} refused ${what} (HTTP ${r.status}): ${message(r.body)}`,
        r.status,
        message(r.body),
      );
    return r.body;
  }

  private issueOf(i: GiteaIssue): ForgeIssue {
    return { number: i.number, url: i.html_url, title: i.title, body: i.body ?? '', state: i.state };
  }

  private async *pulls(state: 'open' | 'all'): AsyncGenerator<GiteaPull> {
    let bad = 0;
    let why = '';
    for await (const raw of forgePages<unknown>(
      this.http,
      `${this.repoPath}/pulls?state=${state}&sort=recentupdate&limit=${PAGE}&page=1`,
      { maxPages: this.o.maxPages, log: this.o.log, what: 'pull requests' },
    )) {
      if (!prListingDefence.check) {
        yield raw as GiteaPull;
        continue;
      }
      const r = giteaPullSchema.safeParse(raw);
      if (r.success) yield r.data;
      else {
        bad++;
        why ||= `${r.error.issues[0]?.path.join('.') || '(item)'}: ${r.error.issues[0]?.message ?? ''}`;
      }
    }
    if (bad)
      this.o.log.warn(
        { forge: this.http.label, skipped: bad },
        `${this.http.label}: skipped ${bad} pull request(s) the forge described malformed (first: ${why})`,
      );
  }

  private ours(p: GiteaPull): boolean {
    return fromRepo(p.head, this.o.owner, this.o.repo);
  }

  private ref(p: GiteaPull): PrRef {
    return { url: p.html_url, branch: p.head.ref, state: p.merged ? 'merged' : p.state };
  }

  /** Major and minor of the server's Gitea version (Forgejo reports "…+gitea-1.22.0"), null when unknown. */
  private serverVersion(): Promise<[number, number] | null> {
    this.version ??= forgeCall<{ version?: string }>(this.http, 'GET', '/version')
      .then((r) => {
        const v = String(r.body?.version ?? '');
        const m = /gitea-(\d+)\.(\d+)/.exec(v) ?? /^v?(\d+)\.(\d+)/.exec(v);
        return m ? ([Number(m[1]), Number(m[2])] as [number, number]) : null;
      })
      .catch((err: unknown) => {
        this.version = null;
        throw err;
      });
    return this.version;
  }

  private async hasBaseHeadLookup(): Promise<boolean> {
    const v = await this.serverVersion();
    return v !== null && (v[0] > 1 || (v[0] === 1 && v[1] >= 22));
  }

  async findByBranch(branch: string): Promise<PrRef | null> {
    if (await this.hasBaseHeadLookup()) {
      const path = `${this.repoPath}/pulls/${encodeURIComponent(this.o.base)}/${branch.split('/').map(encodeURIComponent).join('/')}`;
      try {
        const r = await forgeCall<GiteaPull>(this.http, 'GET', path);
        if (r.status === 200 && this.ours(r.body)) return this.ref(r.body);
        return null;
      } catch (err) {
        if (err instanceof ForgeRefused && err.status === 404) return null;
        throw err;
      }
    }
    // Before 1.22: the list has no head filter; every state, so a closed or merged PR is found too.
    let closed: PrRef | null = null;
    for await (const p of this.pulls('all')) {
      if (p.head.ref !== branch || !this.ours(p)) continue;
      if (p.state === 'open') return this.ref(p);
      closed ??= this.ref(p);
    }
    return closed;
  }

  async listBotPrs(): Promise<BotPr[]> {
    const out: BotPr[] = [];
    for await (const p of this.pulls('all')) {
      if (!p.head.ref.startsWith(this.o.branchPrefix) || !this.ours(p)) continue;
      out.push({ ...this.ref(p), ...markersOf(p.body), updatedAt: p.updated_at, number: p.number });
    }
    return out;
  }

  // --- revise cycles -------------------------------------------------------------------------

  async getPr(number: number): Promise<PrDetail | null> {
    try {
      const r = await forgeCall<GiteaPull>(this.http, 'GET', `${this.repoPath}/pulls/${number}`);
      const p = r.body;
      if (!this.ours(p) || !p.head.sha) return null;
      return {
        ...this.ref(p),
        number: p.number,
        headSha: p.head.sha,
        labels: (p.labels ?? []).map((l) => l.name),
        ...markersOf(p.body),
      };
    } catch (err) {
      if (err instanceof ForgeRefused && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * The conversation (`/issues/{n}/comments`, issue scope: read:issue) and the inline comments of
   * every review (`/pulls/{n}/reviews/{id}/comments`). Gitea keeps both in one comment table, so
   * their ids never collide; the kind still goes into de-dup keys, as on GitHub.
   */
  async listPrComments(number: number): Promise<PrComment[]> {
    const out: PrComment[] = [];
    const r = await forgeCall<GiteaComment[]>(this.http, 'GET', `${this.repoPath}/issues/${number}/comments`);
    for (const c of Array.isArray(r.body) ? r.body : []) out.push(comment(c, 'issue'));
    const po = { maxPages: this.o.maxPages, log: this.o.log, what: 'reviews' };
    for await (const rv of forgePages<GiteaReview>(
      this.http,
      `${this.repoPath}/pulls/${number}/reviews?limit=${PAGE}&page=1`,
      po,
    )) {
      // A submitted review's own body (approve, comment, request changes) can be the request; a pending one is not sent yet.
      if (rv.state !== 'PENDING' && (rv.body ?? '').trim() !== '')
        out.push({
          id: rv.id,
          kind: 'summary',
          author: rv.user?.login ?? '',
          body: rv.body ?? '',
          createdAt: rv.submitted_at ?? '',
        });
      if (rv.comments_count === 0) continue;
      const rc = await forgeCall<GiteaComment[]>(
        this.http,
        'GET',
        `${this.repoPath}/pulls/${number}/reviews/${rv.id}/comments`,
      );
      for (const c of Array.isArray(rc.body) ? rc.body : []) out.push(comment(c, 'review'));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id - b.id);
  }

  async commentOnPr(number: number, body: string): Promise<void> {
    const r = await forgeCall<{ message?: string }>(this.http, 'POST', `${this.repoPath}/issues/${number}/comments`, {
      body,
    });
    if (r.status !== 201 && r.status !== 200)
      throw new ForgeRefused(
        `${this.http.label} refused the reply on PR #${number} (HTTP ${r.status}): ${message(r.body)}`,
        r.status,
        message(r.body),
      );
  }

  /**
   * Gitea answers another user's permission only to a site admin or an admin of the repository
   * (routers/api/v1/repo/collaborators.go GetRepoPermissions): the bot user must be a repository
   * admin for revise cycles, or every check is a 403 naming that.
   */
  async permissionOf(login: string): Promise<RepoPermission> {
    try {
      const r = await forgeCall<{ permission?: string }>(
        this.http,
        'GET',
        `${this.repoPath}/collaborators/${encodeURIComponent(login)}/permission`,
      );
      return normalisePermission(r.body?.permission);
    } catch (err) {
      if (err instanceof ForgeRefused && err.status === 404) return 'none';
      if (err instanceof ForgeRefused && err.status === 403) {
        throw new ForgeRefused(
          `${this.http.label}: cannot read ${login}'s permission (HTTP 403 ${err.forgeMessage}): Gitea answers it only to an admin of ${this.o.owner}/${this.o.repo}; make the bot user a repository admin for revise cycles`,
          403,
          err.forgeMessage,
        );
      }
      throw err;
    }
  }

  /**
   * The timeline (`/issues/{n}/timeline`, issue scope): a `label` entry with body "1" is the label
   * added, "" removed. The last one counts: a timeline cut at maxPages names nobody rather than
   * someone who labelled earlier.
   */
  async labeledBy(number: number, label: string): Promise<string | null> {
    let by: string | null = null;
    let cut = false;
    const po = {
      maxPages: this.o.maxPages,
      log: this.o.log,
      what: 'timeline',
      countIsPageLength: true,
      onCut: () => (cut = true),
    };
    for await (const t of forgePages<{
      type?: string;
      body?: string | null;
      label?: { name?: string } | null;
      user?: { login?: string } | null;
    }>(this.http, `${this.repoPath}/issues/${number}/timeline?limit=${PAGE}&page=1`, po)) {
      if (t.type === 'label' && t.label?.name === label && t.body === '1' && t.user?.login) by = t.user.login;
    }
    return cut ? null : by;
  }

  async removeLabel(number: number, label: string): Promise<void> {
    // A label made after the cache was filled (a reviewer's own) is looked up afresh.
    if (!this.labelIds?.has(label)) this.labelIds = await this.readLabels();
    const id = this.labelIds.get(label);
    if (id === undefined) return;
    await forgeCall(this.http, 'DELETE', `${this.repoPath}/issues/${number}/labels/${id}`);
  }

  async whoami(): Promise<string> {
    const r = await forgeCall<{ login?: string }>(this.http, 'GET', '/user');
    return String(r.body?.login ?? '');
  }

  // --- upkeep of open bot PRs (issue 25) ------------------------------------------------------

  commentOn(pr: BotPr, body: string): Promise<void> {
    if (!pr.number) throw new Error(`${this.http.label}: PR ${pr.url} has no number`);
    return this.commentOnPr(pr.number, body);
  }

  /** swagger repoEditPullRequest: PATCH with EditPullRequestOption `{state: "closed"}`, answered 201. */
  async closePr(pr: BotPr): Promise<void> {
    if (!pr.number) throw new Error(`${this.http.label}: PR ${pr.url} has no number`);
    const r = await forgeCall<{ message?: string }>(this.http, 'PATCH', `${this.repoPath}/pulls/${pr.number}`, {
      state: 'closed',
    });
    if (r.status !== 201 && r.status !== 200)
      throw new ForgeRefused(
        `${this.http.label} refused to close PR #${pr.number} (HTTP ${r.status}): ${message(r.body)}`,
        r.status,
        message(r.body),
      );
  }

  async openDraft(pr: DraftPr): Promise<PrRef> {
    const warnings: string[] = [];
    const labels = await this.resolveLabels(pr.labels, warnings);
    const r = await this.create(pr, labels);
    if (r.status === 201 || r.status === 200) return { ...this.ref(r.body), draft: true, warnings };
    if (r.status === 409) {
      // "pull request already exists for these targets [id: 7, issue_id: 3, …]": issue_id is the PR's number.
      const n = /issue_id: (\d+)/.exec(message(r.body))?.[1];
      const existing = n ? await forgeCall<GiteaPull>(this.http, 'GET', `${this.repoPath}/pulls/${n}`) : null;
      if (existing?.status === 200) return { ...this.ref(existing.body), warnings };
      const found = await this.findByBranch(pr.branch);
      if (found) return { ...found, warnings };
      throw new TransientError(
        `${this.http.label} says a PR from ${pr.branch} exists (HTTP 409) but it cannot be found yet: ${message(r.body)}`,
      );
    }
    throw new ForgeRefused(
      `${this.http.label} refused the pull request (HTTP ${r.status}): ${message(r.body)}`,
      r.status,
      message(r.body),
    );
  }

  private async create(pr: DraftPr, labels: number[]) {
    try {
      return await forgeCall<GiteaPull & { message?: string }>(this.http, 'POST', `${this.repoPath}/pulls`, {
        head: pr.branch,
        base: pr.base,
        title: this.o.draftPrefix + pr.title,
        body: pr.body,
        ...(labels.length ? { labels } : {}),
      });
    } catch (err) {
      // Gitea answers a missing base or head branch with a bare 404: say which one.
      if (err instanceof ForgeRefused && err.status === 404) throw await this.explainMissing(pr, err);
      throw err;
    }
  }

  private async explainMissing(pr: DraftPr, err: ForgeRefused): Promise<Error> {
    // The repository itself missing is what the 404 already says.
    await forgeCall(this.http, 'GET', this.repoPath);
    for (const [branch, what] of [
      [pr.base, 'base branch (repo.base)'],
      [pr.branch, 'bot branch'],
    ] as const) {
      try {
        await forgeCall(this.http, 'GET', `${this.repoPath}/branches/${encodeURIComponent(branch)}`);
      } catch (e) {
        if (e instanceof ForgeRefused && e.status === 404) {
          return new ForgeRefused(
            `${this.http.label}: the ${what} "${branch}" does not exist in ${this.o.owner}/${this.o.repo} (HTTP 404 on create): ${what.startsWith('base') ? 'set repo.base to an existing branch' : 'the push did not arrive; check forge.remote'}`,
            404,
            err.forgeMessage,
          );
        }
        if (!(e instanceof ForgeRefused)) throw e;
      }
    }
    return err;
  }

  /**
   * Label names → ids (Gitea takes ids): repository labels and, for an organisation's repository,
   * the organisation's labels, each read to the last page; a missing label is created in the
   * repository. Labels are an issue-scope resource (`write:issue`): any failure here becomes a
   * warning and the PR opens without that label.
   */
  private async resolveLabels(names: string[], warnings: string[]): Promise<number[]> {
    if (names.length === 0) return [];
    try {
      this.labelIds ??= await this.readLabels();
    } catch (err) {
      if (err instanceof RateLimited) throw err;
      warnings.push(
        `labels not applied: cannot read the labels of ${this.o.owner}/${this.o.repo}: ${reasonOf(err)}; give the token write:issue or set forge.labels to []`,
      );
      return [];
    }
    const ids: number[] = [];
    for (const name of names) {
      let id = this.labelIds.get(name);
      if (id === undefined) {
        try {
          const r = await forgeCall<GiteaLabel & { message?: string }>(this.http, 'POST', `${this.repoPath}/labels`, {
            name,
            color: '#5319e7',
            description: 'opened by prbot',
          });
          if (r.status === 201) this.labelIds.set(name, (id = r.body.id));
          else warnings.push(`label "${name}" not applied: creating it answered HTTP ${r.status}: ${message(r.body)}`);
        } catch (err) {
          if (err instanceof RateLimited) throw err;
          warnings.push(
            `label "${name}" not applied: creating it failed: ${reasonOf(err)}; give the token write:issue or create the label by hand`,
          );
        }
      }
      if (id !== undefined) ids.push(id);
    }
    for (const w of warnings) this.o.log.warn({ forge: this.http.label }, w);
    return ids;
  }

  private async readLabels(): Promise<Map<string, number>> {
    const m = new Map<string, number>();
    const po = { maxPages: this.o.maxPages, log: this.o.log, what: 'labels' };
    try {
      // Organisation labels first: a repository label of the same name wins.
      for await (const l of forgePages<GiteaLabel>(
        this.http,
        `/orgs/${encodeURIComponent(this.o.owner)}/labels?limit=${PAGE}&page=1`,
        po,
      ))
        m.set(l.name, l.id);
    } catch (err) {
      // 404: the owner is a user, not an organisation; 403: no read:organization. Repository labels still count.
      if (!(err instanceof ForgeRefused && (err.status === 404 || err.status === 403))) throw err;
    }
    for await (const l of forgePages<GiteaLabel>(this.http, `${this.repoPath}/labels?limit=${PAGE}&page=1`, po))
      m.set(l.name, l.id);
    return m;
  }

  async doctor(target: ForgeTarget): Promise<DoctorCheck[]> {
    const out: DoctorCheck[] = [];
    const repo = `${this.o.owner}/${this.o.repo}`;
    const step = async (name: string, fn: () => Promise<DoctorCheck>) => {
      try {
        out.push(await fn());
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
    await step('token', async () => {
      try {
        const r = await forgeCall<{ login?: string }>(this.http, 'GET', '/user');
        return { name: 'token', status: 'ok', detail: `${this.o.tokenEnv} authenticates as ${r.body?.login ?? '?'}` };
      } catch (err) {
        // 403 here means a valid token without read:user: PRs do not need it, revise cycles do.
        if (err instanceof ForgeRefused && err.status === 403)
          return {
            name: 'token',
            status: 'warn',
            detail: `${this.o.tokenEnv} is valid but cannot read its user: ${err.reason}; only revise cycles need it (to know the bot's own comments)`,
            fix: 'give the token read:user for revise cycles',
          };
        throw err;
      }
    });
    await step('version', async () => {
      const v = await this.serverVersion();
      if (v && (v[0] > 1 || v[1] >= 22))
        return {
          name: 'version',
          status: 'ok',
          detail: `Gitea API ${v.join('.')}: PRs are looked up by /pulls/{base}/{head}`,
        };
      return {
        name: 'version',
        status: 'warn',
        detail: `Gitea API ${v ? v.join('.') : 'unknown'} (before 1.22): PRs are looked up by listing every PR and matching the head branch`,
        fix: 'upgrade to Gitea 1.22 or later for a direct lookup',
      };
    });
    await step('repository', async () => {
      const r = await forgeCall<{
        full_name?: string;
        permissions?: { push?: boolean };
        has_pull_requests?: boolean;
        archived?: boolean;
      }>(this.http, 'GET', this.repoPath);
      if (r.body?.archived)
        return {
          name: 'repository',
          status: 'fail',
          detail: `${repo} is archived (read-only): every push and pull request would be refused`,
          fix: 'unarchive the repository, or point forge.owner/forge.repo at a writable one',
        };
      if (r.body?.has_pull_requests === false)
        return {
          name: 'repository',
          status: 'fail',
          detail: `${repo} has pull requests turned off`,
          fix: 'turn on pull requests in the repository settings',
        };
      if (r.body?.permissions && !r.body.permissions.push)
        return {
          name: 'repository',
          status: 'fail',
          detail: `the token's user cannot push to ${repo}`,
          fix: 'give the bot user write access to the repository',
        };
      return { name: 'repository', status: 'ok', detail: `${repo} is reachable and writable` };
    });
    // A token may read everything and still not write: Gitea says which scope only when asked to
    // write. An empty create is checked for scope (and archived) before its body is bound, so it
    // answers 403/423 when refused and 422 when allowed, creating nothing.
    await step('pull requests', async () => {
      const r = await forgeCall<{ message?: string }>(this.http, 'POST', `${this.repoPath}/pulls`, {});
      if (r.status === 423)
        return {
          name: 'pull requests',
          status: 'fail',
          detail: `${repo} is archived: creating a pull request answered HTTP 423 (${message(r.body)})`,
          fix: 'unarchive the repository',
        };
      if (r.status === 422 || r.status === 400)
        return { name: 'pull requests', status: 'ok', detail: 'the token may open pull requests (write:repository)' };
      return {
        name: 'pull requests',
        status: 'warn',
        detail: `an empty pull request answered HTTP ${r.status} (${message(r.body)}); cannot tell whether the token may open one`,
      };
    });
    await step('push', () => this.pushCheck(this.o.branchPrefix));
    await step('base branch', async () => {
      try {
        await forgeCall(this.http, 'GET', `${this.repoPath}/branches/${encodeURIComponent(target.base)}`);
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
    await step('labels', async () => {
      if (target.labels.length === 0) return { name: 'labels', status: 'ok', detail: 'no labels configured' };
      try {
        const have = await this.readLabels();
        const missing = target.labels.filter((l) => !have.has(l));
        return {
          name: 'labels',
          status: 'ok',
          detail: missing.length
            ? `labels ${missing.map((l) => `"${l}"`).join(', ')} will be created on the first PR (needs write:issue)`
            : `labels ${target.labels.join(', ')} exist`,
        };
      } catch (err) {
        if (err instanceof ForgeRefused && err.status === 403) {
          return {
            name: 'labels',
            status: 'fail',
            detail: `the token cannot use labels (${err.forgeMessage}); PRs would open without the labels ${target.labels.join(', ')}`,
            fix: "give the token write:issue (labels are in Gitea's issue scope) besides write:repository, or set forge.labels to []",
          };
        }
        throw err;
      }
    });
    out.push({
      name: 'draft',
      status: 'ok',
      detail: `drafts are titles starting with "${this.o.draftPrefix.trim()}", one of the server's WIP prefixes (${(this.o.wipPrefixes ?? ['WIP:', '[WIP]']).join(', ')})`,
    });
    return out;
  }
}

function comment(c: GiteaComment, kind: PrComment['kind']): PrComment {
  return {
    id: c.id,
    kind,
    author: c.user?.login ?? '',
    body: c.body ?? '',
    createdAt: c.created_at,
    ...(c.path ? { path: c.path } : {}),
  };
}
