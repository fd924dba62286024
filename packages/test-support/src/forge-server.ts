import type { IncomingMessage, ServerResponse } from 'node:http';
import { gitCli as git } from './git-cli.ts';
import { loadSpec, SpecValidator, type MatchedOp } from './forge-spec.ts';
import { listenLoopback } from './listen.ts';

interface FakePull {
  number: number;
  title: string;
  body: string;
  head: string;
  base: string;
  state: 'open' | 'closed';
  merged: boolean;
  draft: boolean;
  labels: (number | string)[];
  created_at: string;
  updated_at: string;
}

/** An issue (the dashboard issue); numbers are shared with pull requests, as on both forges. */
interface FakeIssue {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  /** Who opened it (the token's user for issues prbot creates). */
  user: string;
  created_at: string;
  updated_at: string;
}

interface FakeLabel {
  id: number;
  name: string;
}

/** A comment on a PR: `issue` = the conversation, `review` = an inline review comment. */
interface FakeComment {
  id: number;
  pull: number;
  kind: 'issue' | 'review';
  author: string;
  body: string;
  path?: string;
  created_at: string;
  /** Inline comments: the review they belong to (a reply in a thread joins the review it answers). */
  reviewId?: number;
  /** GitHub: the comment a thread reply answers. */
  inReplyTo?: number;
}

/** A submitted review: its own body (the summary) and state; inline comments point at it by reviewId. */
interface FakeReview {
  id: number;
  pull: number;
  author: string;
  body: string;
  /** Gitea's and GitHub's review states. */
  state: 'APPROVED' | 'REQUEST_CHANGES' | 'CHANGES_REQUESTED' | 'COMMENT' | 'COMMENTED';
  submitted_at: string;
}

type FakePermission = 'admin' | 'write' | 'read' | 'none';

interface FakeRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  status?: number;
}

export interface FakeForge {
  kind: 'gitea' | 'github';
  /** Gitea: ROOT_URL without the trailing slash (a sub-path included); GitHub: the API root. */
  url: string;
  pulls: FakePull[];
  issues: FakeIssue[];
  labels: FakeLabel[];
  /** Gitea organisation labels (the owner is an organisation when `org` is set). */
  orgLabels: FakeLabel[];
  requests: FakeRequest[];
  /** Every request the published API description would not accept; a test expects none. */
  violations: string[];
  /**
   * Permission probes: a create with an empty JSON body (`{}`), which the real servers answer 403
   * (no permission), 423/403 (archived) or 422 (allowed, body invalid) without creating anything.
   * `prbot doctor` sends them on purpose, so they are kept apart from `violations`.
   */
  probes: string[];
  /** The next `count` requests matching `method path-suffix` answer `status` (with an optional body and headers). */
  failNext(
    method: string,
    pathSuffix: string,
    count: number,
    status: number,
    o?: { body?: unknown; headers?: Record<string, string> },
  ): void;
  /** GitHub: the next `count` matching requests meet a secondary rate limit (403, remaining > 0). */
  secondaryLimitNext(method: string, pathSuffix: string, count: number, retryAfterS?: number): void;
  /** Ends every scripted failure: the service is back. */
  heal(): void;
  /** Discovery: a user sets the topics of the owner's repository `repo` (the served one or one of `ownerRepos`). */
  setTopics(repo: string, topics: string[]): void;
  close(pull: number, merged?: boolean): void;
  /** Adds a PR as if opened earlier (the head branch need not exist). */
  seedPull(p: Partial<FakePull> & { head: string }): FakePull;
  /** Every comment on every PR, prbot's replies included (author = the token's user). */
  comments: FakeComment[];
  /**
   * A user writes a comment on a PR. review: an inline comment on `path` — alone, it is submitted as
   * a review of its own with an empty body (what both forges do for a single comment); with
   * `replyTo`, a reply in that comment's thread (Gitea: same review; GitHub: in_reply_to_id).
   */
  comment(
    pull: number,
    author: string,
    body: string,
    o?: { kind?: 'issue' | 'review'; path?: string; replyTo?: number },
  ): FakeComment;
  reviews: FakeReview[];
  /** Label events (who put a label on or took it off), what the issue events / timeline list. */
  labelEvents: { id: number; pull: number; name: string; actor: string; added: boolean; at: string }[];
  /** A user puts a label on a PR in the web UI (Gitea: the repository label of that name, made if missing). */
  label(pull: number, name: string, actor: string): void;
  /** A user submits a review: its body (the summary), its state, and inline comments on files. */
  review(
    pull: number,
    author: string,
    body: string,
    state: 'approve' | 'comment' | 'request_changes',
    inline?: { path: string; body: string }[],
  ): { review: FakeReview; comments: FakeComment[] };
  /** A user's permission on the repository; unknown users answer 404 (not a user). */
  setPermission(login: string, permission: FakePermission): void;
  /** Adds an issue as if a human opened it. */
  seedIssue(p: Partial<FakeIssue> & { title: string }): FakeIssue;
  /** A human edits an issue's body in the web UI. */
  editIssue(number: number, body: string): void;
  stop(): Promise<void>;
}

interface GithubTokenGrant {
  /** Classic token scopes (sent back in X-OAuth-Scopes); absent for a fine-grained token. */
  scopes?: string[];
  /** Fine-grained permissions; a classic token with `repo` has them all. */
  permissions?: Partial<Record<'contents' | 'pull_requests' | 'issues' | 'metadata', 'none' | 'read' | 'write'>>;
}

export interface FakeForgeOptions {
  owner: string;
  repo: string;
  token: string;
  /** The bare repository branches are pushed to; a PR's head and base must exist there. */
  bare: string;
  /** The server's page-size cap (Gitea MAX_RESPONSE_ITEMS, default 50; GitHub 100). */
  pageSize?: number;
  /** Gitea: scopes of `token` (default write:repository, write:issue, read:user, read:organization). */
  scopes?: string[];
  /** GitHub: what `token` may do (default: a classic token with `repo`). */
  grant?: GithubTokenGrant;
  /** More tokens: Gitea → their scopes; GitHub → their grant. */
  tokens?: Record<string, string[] | GithubTokenGrant>;
  /** Gitea: ROOT_URL sub-path, e.g. "/gitea". */
  subPath?: string;
  /** Gitea: the server version (default 1.22.3); before 1.22 there is no /pulls/{base}/{head}. */
  version?: string;
  /** Gitea: WORK_IN_PROGRESS_PREFIXES (default WIP:, [WIP]). */
  wipPrefixes?: string[];
  /** The owner is an organisation (Gitea: org labels are served; GitHub: `orgs/get` answers with its plan). */
  org?: boolean;
  /** GitHub: a private repository. */
  private?: boolean;
  /**
   * GitHub: drafts allowed. Default as GitHub decides: every public repository; a private one
   * only under an organisation on a paid plan (Team, Enterprise). `orgs/get` shows the plan
   * that matches (free when drafts are not supported).
   */
  draftsSupported?: boolean;
  /** GitHub: the organisation's plan is not shown to the token (only owners see `plan`). */
  planHidden?: boolean;
  /** GitHub: issues turned off (labels answer 410). */
  issuesDisabled?: boolean;
  /** Gitea: the token's user is an admin of the repository (default true); only then may it read other users' permissions. */
  botRepoAdmin?: boolean;
  /** The repository is archived: read-only (Gitea: writes answer 423; GitHub: 403 "Repository was archived so is read-only."). */
  archived?: boolean;
  /** Gitea: the token user's access to the repository (default write): `read` shows permissions.push false. */
  botAccess?: 'read' | 'write' | 'admin';
  /** Discovery (issue 23): the served repository's topics (default none). */
  topics?: string[];
  /**
   * Discovery: the owner's other repositories, listed after the served one by the owner's
   * repository listing; `files` are the paths their contents endpoint finds on the default branch.
   */
  ownerRepos?: FakeOwnerRepo[];
}

interface FakeOwnerRepo {
  name: string;
  topics?: string[];
  archived?: boolean;
  fork?: boolean;
  private?: boolean;
  defaultBranch?: string;
  files?: string[];
}

type Scripted = {
  method: string;
  suffix: string;
  left: number;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
};

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  op: MatchedOp;
  body: Record<string, unknown>;
  token: string;
  query: (name: string) => string | undefined;
  reqPath: string;
  search: URLSearchParams;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<{ has: boolean; value: unknown; bad: boolean }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return { has: false, value: undefined, bad: false };
  try {
    return { has: true, value: JSON.parse(text), bad: false };
  } catch {
    return { has: true, value: text, bad: true };
  }
}

/** `prbot doctor`'s permission probe: a create whose JSON body is `{}`. */
function isProbe(method: string, body: unknown): boolean {
  return (
    method === 'POST' &&
    body !== null &&
    typeof body === 'object' &&
    !Array.isArray(body) &&
    Object.keys(body).length === 0
  );
}

/** State and helpers both stand-ins share. */
function world(kind: FakeForge['kind'], o: FakeForgeOptions) {
  /** Topics a test set after the start (setTopics), by repository name. */
  const topicsSet = new Map<string, string[]>();
  const state = {
    pulls: [] as FakePull[],
    issues: [] as FakeIssue[],
    labels: [] as FakeLabel[],
    orgLabels: [] as FakeLabel[],
    requests: [] as FakeRequest[],
    violations: [] as string[],
    probes: [] as string[],
    scripted: [] as Scripted[],
    comments: [] as FakeComment[],
    reviews: [] as FakeReview[],
    labelEvents: [] as { id: number; pull: number; name: string; actor: string; added: boolean; at: string }[],
    permissions: new Map<string, FakePermission>([['prbot-bot', 'write']]),
    // Gitea keeps conversation and inline comments in one comment table (one id sequence) and reviews
    // in another; GitHub has three id spaces (issue comments, review comments, reviews).
    nextId: { issue: 900, review: 5000, summary: 7000 } as Record<'issue' | 'review' | 'summary', number>,
  };
  const kindOf = kind;
  // Strictly increasing times: the order comments were written is the order a listing shows.
  const stamp = () => {
    const last = [...state.comments.map((c) => c.created_at), ...state.reviews.map((r) => r.submitted_at)]
      .sort()
      .at(-1);
    return new Date(Math.max(Date.now(), last ? Date.parse(last) + 1000 : 0)).toISOString();
  };
  const headSha = async (branch: string) => {
    const r = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], {
      cwd: o.bare,
      okCodes: [1, 128],
    });
    return r.stdout.trim() || '0000000000000000000000000000000000000000';
  };
  const branchExists = async (branch: string) =>
    (await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { cwd: o.bare, okCodes: [1, 128] }))
      .exitCode === 0;
  const scripted = (method: string, path: string): Scripted | undefined => {
    const f = state.scripted.find((x) => x.left > 0 && x.method === method && path.endsWith(x.suffix));
    if (f) f.left--;
    return f;
  };
  const api = {
    failNext(
      method: string,
      suffix: string,
      count: number,
      status: number,
      x?: { body?: unknown; headers?: Record<string, string> },
    ) {
      state.scripted.push({ method, suffix, left: count, status, body: x?.body, headers: x?.headers });
    },
    heal() {
      state.scripted.length = 0;
    },
    setTopics(repo: string, topics: string[]) {
      topicsSet.set(repo, [...topics]);
    },
    close(n: number, merged = false) {
      const p = state.pulls.find((x) => x.number === n)!;
      p.state = 'closed';
      p.merged = merged;
      p.updated_at = new Date().toISOString();
    },
    comment(
      pull: number,
      author: string,
      body: string,
      x: { kind?: 'issue' | 'review'; path?: string; replyTo?: number; reviewId?: number } = {},
    ): FakeComment {
      const kind = x.kind ?? 'issue';
      const now = stamp();
      let reviewId = x.reviewId;
      if (kind === 'review' && reviewId === undefined) {
        const answered =
          x.replyTo === undefined ? undefined : state.comments.find((y) => y.id === x.replyTo && y.kind === 'review');
        // A reply joins the thread's review on Gitea; on GitHub a reply is a review of its own.
        reviewId =
          kind === 'review' && answered && kindOf === 'gitea'
            ? answered.reviewId
            : api.review(pull, author, '', 'comment').review.id;
      }
      const c: FakeComment = {
        id: state.nextId[kindOf === 'gitea' ? 'issue' : kind]++,
        pull,
        kind,
        author,
        body,
        created_at: now,
        ...(x.path ? { path: x.path } : {}),
        ...(reviewId !== undefined ? { reviewId } : {}),
        ...(x.replyTo !== undefined ? { inReplyTo: x.replyTo } : {}),
      };
      state.comments.push(c);
      return c;
    },
    label(pull: number, name: string, actor: string) {
      const p = state.pulls.find((x) => x.number === pull)!;
      if (kindOf === 'gitea') {
        let l = state.labels.find((x) => x.name === name);
        if (!l) state.labels.push((l = { id: 4000 + state.labels.length, name }));
        if (!p.labels.includes(l.id)) p.labels.push(l.id);
      } else if (!p.labels.includes(name)) p.labels.push(name);
      state.labelEvents.push({ id: 8000 + state.labelEvents.length, pull, name, actor, added: true, at: stamp() });
    },
    review(
      pull: number,
      author: string,
      body: string,
      st: 'approve' | 'comment' | 'request_changes',
      inline: { path: string; body: string }[] = [],
    ) {
      const names =
        kindOf === 'gitea'
          ? ({ approve: 'APPROVED', comment: 'COMMENT', request_changes: 'REQUEST_CHANGES' } as const)
          : ({ approve: 'APPROVED', comment: 'COMMENTED', request_changes: 'CHANGES_REQUESTED' } as const);
      const review: FakeReview = {
        id: state.nextId.summary++,
        pull,
        author,
        body,
        state: names[st],
        submitted_at: stamp(),
      };
      state.reviews.push(review);
      const comments = inline.map((i) =>
        api.comment(pull, author, i.body, { kind: 'review', path: i.path, reviewId: review.id }),
      );
      return { review, comments };
    },
    setPermission(login: string, permission: FakePermission) {
      state.permissions.set(login, permission);
    },
    seedPull(p: Partial<FakePull> & { head: string }): FakePull {
      const now = new Date().toISOString();
      const full: FakePull = {
        number: state.pulls.length + state.issues.length + 1,
        title: `WIP: ${p.head}`,
        body: '',
        base: 'main',
        state: 'open',
        merged: false,
        draft: true,
        labels: [],
        created_at: now,
        updated_at: now,
        ...p,
      };
      state.pulls.push(full);
      return full;
    },
    seedIssue(p: Partial<FakeIssue> & { title: string }): FakeIssue {
      const now = new Date().toISOString();
      const full: FakeIssue = {
        number: state.pulls.length + state.issues.length + 1,
        body: '',
        state: 'open',
        user: 'someone',
        created_at: now,
        updated_at: now,
        ...p,
      };
      state.issues.push(full);
      return full;
    },
    editIssue(n: number, body: string) {
      const i = state.issues.find((x) => x.number === n)!;
      i.body = body;
      i.updated_at = new Date().toISOString();
    },
  };
  /** One page of `items` and the forge's Link header for the others, built on `linkBase` (the URL clients see). */
  const page = <T>(
    items: T[],
    q: (n: string) => string | undefined,
    sizeParam: string,
    defaultSize: number,
    maxSize: number,
    linkBase: URL,
    sep: string,
  ) => {
    const size = Math.max(1, Math.min(Number(q(sizeParam) ?? defaultSize) || defaultSize, maxSize));
    const n = Math.max(1, Number(q('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / size));
    const link = (p: number, rel: string) => {
      const u = new URL(linkBase.href);
      u.searchParams.set('page', String(p));
      return `<${u.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (n < last) links.push(link(n + 1, 'next'), link(last, 'last'));
    if (n > 1) links.push(link(1, 'first'), link(n - 1, 'prev'));
    return { slice: items.slice((n - 1) * size, n * size), links: links.join(sep), total: items.length };
  };
  /** The owner's repositories as the served one and `ownerRepos` (discovery), in listing order. */
  const ownerRepos = (): Required<Omit<FakeOwnerRepo, 'files'>>[] => [
    {
      name: o.repo,
      topics: topicsSet.get(o.repo) ?? o.topics ?? [],
      archived: o.archived ?? false,
      fork: false,
      private: o.private ?? false,
      defaultBranch: 'main',
    },
    ...(o.ownerRepos ?? []).map((r) => ({
      name: r.name,
      topics: topicsSet.get(r.name) ?? r.topics ?? [],
      archived: r.archived ?? false,
      fork: r.fork ?? false,
      private: r.private ?? false,
      defaultBranch: r.defaultBranch ?? 'main',
    })),
  ];
  /** Whether `path` is a file of repository `repo` at `ref` (the served one: its bare repository). */
  const fileAt = async (repo: string, path: string, ref: string | undefined): Promise<boolean | null> => {
    if (repo === o.repo) {
      const r = await git(['cat-file', '-e', `${ref ?? 'main'}:${path}`], { cwd: o.bare, okCodes: [1, 128] });
      return r.exitCode === 0;
    }
    const other = o.ownerRepos?.find((r) => r.name === repo);
    if (!other) return null;
    return (ref === undefined || ref === (other.defaultBranch ?? 'main')) && (other.files ?? []).includes(path);
  };
  return { state, branchExists, headSha, scripted, api, page, ownerRepos, fileAt };
}

// ---------------------------------------------------------------------------------------------
// Gitea / Forgejo
// ---------------------------------------------------------------------------------------------

const GITEA_DEFAULT_SCOPES = ['write:repository', 'write:issue', 'read:user', 'read:organization'];

/**
 * Gitea's token scope per route group (routers/api/v1/api.go, tokenRequiresScopes): GET needs
 * read:<group>, other methods write:<group>; write implies read; `all` grants every group.
 */
function giteaScopeGroup(opKey: string): string | null {
  const path = opKey.split(' ')[1]!;
  if (path === '/version') return null;
  if (path === '/user') return 'user';
  if (path.startsWith('/orgs/')) return 'organization';
  if (path.startsWith('/repos/{owner}/{repo}/labels') || path.startsWith('/repos/{owner}/{repo}/issues'))
    return 'issue';
  return 'repository';
}

function giteaHasScope(scopes: string[], group: string, write: boolean): boolean {
  if (scopes.includes('all') || scopes.includes(`write:${group}`)) return true;
  return !write && scopes.includes(`read:${group}`);
}

/** Discovery reads a file of the owner's other repositories; everything else is the served repository's. */
function otherRepoRead(op: MatchedOp): boolean {
  return op.operationId === 'repoGetContents' || op.operationId === 'repos/get-content';
}

/** Gitea / Forgejo API v1 for what prbot calls, validated against Gitea's swagger subset. */
export async function startGiteaServer(o: FakeForgeOptions): Promise<FakeForge> {
  const w = world('gitea', o);
  const { state } = w;
  const spec = new SpecValidator(loadSpec('gitea'));
  const sub = (o.subPath ?? '').replace(/\/+$/, '');
  const wip = o.wipPrefixes ?? ['WIP:', '[WIP]'];
  const version = o.version ?? '1.22.3';
  const [maj, min] = version.split('.').map(Number) as [number, number];
  const hasBaseHead = maj > 1 || min >= 22;
  const tokens = new Map<string, string[]>([
    [o.token, o.scopes ?? GITEA_DEFAULT_SCOPES],
    ...Object.entries(o.tokens ?? {}).map(([t, s]) => [t, s as string[]] as [string, string[]]),
  ]);
  let root = '';
  const err = (res: ServerResponse, status: number, message: string, extra: Record<string, unknown> = {}) =>
    send(res, status, { message, url: `${root}/api/swagger`, ...extra });
  const notFound = (res: ServerResponse) => err(res, 404, "The target couldn't be found.", { errors: [] });
  const isDraft = (title: string) => wip.some((p) => title.toUpperCase().startsWith(p.toUpperCase()));
  const render = (p: FakePull) => ({
    id: p.number + 100,
    number: p.number,
    title: p.title,
    body: p.body,
    state: p.state,
    merged: p.merged,
    draft: isDraft(p.title),
    html_url: `${root}/${o.owner}/${o.repo}/pulls/${p.number}`,
    labels: p.labels.map((id) => [...state.labels, ...state.orgLabels].find((l) => l.id === id)).filter(Boolean),
    head: { ref: p.head, label: p.head, repo: { full_name: `${o.owner}/${o.repo}` } },
    base: { ref: p.base, label: p.base, repo: { full_name: `${o.owner}/${o.repo}` } },
    created_at: p.created_at,
    updated_at: p.updated_at,
  });
  const renderIssue = (
    i: Pick<FakeIssue, 'number' | 'title' | 'body' | 'state' | 'user' | 'created_at' | 'updated_at'>,
  ) => ({
    id: i.number + 300,
    number: i.number,
    html_url: `${root}/${o.owner}/${o.repo}/issues/${i.number}`,
    title: i.title,
    body: i.body,
    state: i.state,
    user: { id: 9, login: i.user },
    labels: [],
    pull_request: null as unknown,
    repository: { id: 7, name: o.repo, owner: o.owner, full_name: `${o.owner}/${o.repo}` },
    created_at: i.created_at,
    updated_at: i.updated_at,
  });
  // `link: false` where Gitea sets only X-Total-Count (ListLabels, the org label list, ListPullReviews);
  // `'page-length'` where that count is the length of the page sent and there is no Link
  // (ListIssueCommentsAndTimeline: `ctx.SetTotalCountHeader(int64(len(apiComments)))`).
  const paged = <T>(c: Ctx, items: T[], link: boolean | 'page-length' = true) => {
    // Links are ROOT_URL + the request URI (services/context/api.go SetLinkHeader).
    const linkBase = new URL(`${root}/api/v1${c.reqPath}${c.search.size ? `?${c.search}` : ''}`);
    const p = w.page(items, c.query, 'limit', 30, o.pageSize ?? 50, linkBase, ',');
    const headers: Record<string, string> = {
      'x-total-count': String(link === 'page-length' ? p.slice.length : p.total),
      'access-control-expose-headers': 'X-Total-Count, Link',
    };
    if (p.links && link === true) headers.link = p.links;
    send(c.res, 200, p.slice, headers);
  };
  // modules/structs/repo.go Repository: the fields discovery reads, and a few more.
  const renderRepo = (r: ReturnType<typeof w.ownerRepos>[number], i: number) => ({
    id: 7 + i,
    name: r.name,
    full_name: `${o.owner}/${r.name}`,
    owner: { id: 2, login: o.owner },
    private: r.private,
    fork: r.fork,
    archived: r.archived,
    empty: false,
    default_branch: r.defaultBranch,
    topics: r.topics,
    html_url: `${root}/${o.owner}/${r.name}`,
    clone_url: `${root}/${o.owner}/${r.name}.git`,
  });
  const handlers: Record<string, (c: Ctx) => Promise<void> | void> = {
    getVersion: (c) => send(c.res, 200, { version }),
    // routers/api/v1/org/repo.go ListOrgRepos / user/repo.go ListUserRepos: both page with Link and X-Total-Count.
    orgListRepos: (c) =>
      o.org && c.op.path.org === o.owner ? paged(c, w.ownerRepos().map(renderRepo)) : err(c.res, 404, 'GetOrgByName'),
    userListRepos: (c) =>
      c.op.path.username === o.owner ? paged(c, w.ownerRepos().map(renderRepo)) : err(c.res, 404, 'GetUserByName'),
    repoGetContents: async (c) =>
      (await w.fileAt(c.op.path.repo!, c.op.path.filepath!, c.query('ref')))
        ? send(c.res, 200, { name: c.op.path.filepath, path: c.op.path.filepath, type: 'file', sha: 'x' })
        : notFound(c.res),
    userGetCurrent: (c) => send(c.res, 200, { id: 1, login: 'prbot-bot' }),
    repoGet: (c) => {
      const access = o.botAccess ?? 'write';
      send(c.res, 200, {
        id: 7,
        full_name: `${o.owner}/${o.repo}`,
        private: o.private ?? false,
        archived: o.archived ?? false,
        default_branch: 'main',
        has_pull_requests: true,
        permissions: { admin: access === 'admin', push: access !== 'read', pull: true },
      });
    },
    repoGetBranch: async (c) =>
      (await w.branchExists(c.op.path.branch!))
        ? send(c.res, 200, { name: c.op.path.branch, commit: { id: 'x' } })
        : notFound(c.res),
    repoListPullRequests: (c) => {
      const want = c.query('state') ?? 'open';
      const items = [...state.pulls].filter((p) => want === 'all' || p.state === want);
      if ((c.query('sort') ?? 'recentupdate') === 'recentupdate')
        items.sort((a, b) => b.updated_at.localeCompare(a.updated_at) || b.number - a.number);
      paged(c, items.map(render));
    },
    repoGetPullRequest: async (c) => {
      const p = state.pulls.find((x) => x.number === Number(c.op.path.index));
      if (!p) return notFound(c.res);
      const r = render(p);
      send(c.res, 200, { ...r, head: { ...r.head, sha: await w.headSha(p.head) } });
    },
    // Gitea's Comment (conversation) and PullReviewComment (inline) shapes, fields prbot reads and a few more.
    issueGetComments: (c) => {
      const n = Number(c.op.path.index);
      if (!state.pulls.some((p) => p.number === n)) return notFound(c.res);
      send(
        c.res,
        200,
        state.comments
          .filter((x) => x.pull === n && x.kind === 'issue')
          .map((x) => ({
            id: x.id,
            body: x.body,
            user: { id: 1, login: x.author },
            created_at: x.created_at,
            updated_at: x.created_at,
            html_url: `${root}/${o.owner}/${o.repo}/pulls/${n}#issuecomment-${x.id}`,
          })),
      );
    },
    issueCreateComment: (c) => {
      const n = Number(c.op.path.index);
      if (!state.pulls.some((p) => p.number === n)) return notFound(c.res);
      const x = w.api.comment(n, 'prbot-bot', String((c.body as { body: string }).body));
      send(c.res, 201, {
        id: x.id,
        body: x.body,
        user: { id: 1, login: x.author },
        created_at: x.created_at,
        updated_at: x.created_at,
      });
    },
    repoListPullReviews: (c) => {
      const n = Number(c.op.path.index);
      if (!state.pulls.some((p) => p.number === n)) return notFound(c.res);
      // modules/structs/pull_review.go PullReview: the review's body, state and how many inline comments it holds.
      paged(
        c,
        state.reviews
          .filter((r) => r.pull === n)
          .map((r) => ({
            id: r.id,
            body: r.body,
            state: r.state,
            user: { id: 1, login: r.author },
            comments_count: state.comments.filter((x) => x.reviewId === r.id).length,
            submitted_at: r.submitted_at,
            stale: false,
            official: false,
            dismissed: false,
          })),
        false,
      );
    },
    repoGetPullReviewComments: (c) => {
      const n = Number(c.op.path.index);
      const id = Number(c.op.path.id);
      if (!state.reviews.some((r) => r.id === id && r.pull === n)) return notFound(c.res);
      send(
        c.res,
        200,
        state.comments
          .filter((x) => x.pull === n && x.reviewId === id)
          .map((x) => ({
            id: x.id,
            body: x.body,
            user: { id: 1, login: x.author },
            path: x.path ?? '',
            pull_request_review_id: id,
            created_at: x.created_at,
            updated_at: x.created_at,
          })),
      );
    },
    // routers/api/v1/repo/collaborators.go GetRepoPermissions: only a site or repository admin may ask about others.
    repoGetRepoPermissions: (c) => {
      const who = c.op.path.collaborator!;
      if (o.botRepoAdmin === false && who.toLowerCase() !== 'prbot-bot')
        return err(
          c.res,
          403,
          'Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own',
        );
      const perm = state.permissions.get(who);
      if (perm === undefined) return err(c.res, 404, `user redirect does not exist [name: ${who.toLowerCase()}]`);
      send(c.res, 200, { permission: perm, role_name: perm, user: { id: 2, login: who } });
    },
    issueRemoveLabel: (c) => {
      const p = state.pulls.find((x) => x.number === Number(c.op.path.index));
      if (!p) return notFound(c.res);
      const id = Number(c.op.path.id);
      if (!p.labels.includes(id)) return err(c.res, 422, 'label does not exist');
      p.labels.splice(p.labels.indexOf(id), 1);
      state.labelEvents.push({
        id: 8000 + state.labelEvents.length,
        pull: p.number,
        name: state.labels.find((l) => l.id === id)?.name ?? '',
        actor: 'prbot-bot',
        added: false,
        at: new Date().toISOString(),
      });
      c.res.writeHead(204).end();
    },
    // modules/structs/issue_comment.go TimelineComment: a label change is type "label", body "1" when added, "" when removed.
    issueGetCommentsAndTimeline: (c) => {
      const n = Number(c.op.path.index);
      if (!state.pulls.some((p) => p.number === n)) return notFound(c.res);
      const comments = state.comments
        .filter((x) => x.pull === n && x.kind === 'issue')
        .map((x) => ({
          id: x.id,
          type: 'comment',
          body: x.body,
          user: { id: 1, login: x.author },
          created_at: x.created_at,
          updated_at: x.created_at,
        }));
      const labels = state.labelEvents
        .filter((e) => e.pull === n)
        .map((e) => ({
          id: e.id,
          type: 'label',
          body: e.added ? '1' : '',
          label: { id: state.labels.find((l) => l.name === e.name)?.id ?? 0, name: e.name, color: 'ffffff' },
          user: { id: 1, login: e.actor },
          created_at: e.at,
          updated_at: e.at,
        }));
      paged(
        c,
        [...comments, ...labels].sort((a, b) => a.created_at.localeCompare(b.created_at)),
        'page-length',
      );
    },
    // swagger repoEditPullRequest (EditPullRequestOption); routers/api/v1/repo/pull.go EditPullRequest answers 201.
    repoEditPullRequest: async (c) => {
      const p = state.pulls.find((x) => x.number === Number(c.op.path.index));
      if (!p) return notFound(c.res);
      const b = c.body as { state?: string; title?: string; body?: string };
      if (b.state !== undefined && b.state !== 'open' && b.state !== 'closed')
        return err(c.res, 422, `invalid state "${b.state}"`);
      if (b.state === 'open' && p.merged) return err(c.res, 409, 'cannot reopen a merged pull request');
      if (b.state) p.state = b.state as FakePull['state'];
      if (b.title !== undefined) p.title = b.title;
      if (b.body !== undefined) p.body = b.body;
      p.updated_at = new Date(Math.max(Date.now(), Date.parse(p.updated_at) + 1)).toISOString();
      const r = render(p);
      send(c.res, 201, { ...r, head: { ...r.head, sha: await w.headSha(p.head) } });
    },
    repoGetPullRequestByBaseHead: (c) => {
      if (!hasBaseHead) return send(c.res, 404, '404 page not found');
      const p = [...state.pulls].reverse().find((x) => x.base === c.op.path.base && x.head === c.op.path.head);
      return p ? send(c.res, 200, render(p)) : notFound(c.res);
    },
    repoCreatePullRequest: async (c) => {
      const b = c.body as { head?: string; base?: string; title?: string; body?: string; labels?: number[] };
      // Go binding: `binding:"Required"` on head, base and title.
      const missing = (['head', 'base', 'title'] as const).filter((k) => !b[k]);
      if (missing.length)
        return err(c.res, 422, missing.map((m) => `[${m[0]!.toUpperCase() + m.slice(1)}]: Required`).join(', '));
      if (!(await w.branchExists(b.base!)) || !(await w.branchExists(b.head!))) return notFound(c.res);
      const known = new Set([...state.labels, ...state.orgLabels].map((l) => l.id));
      if ((b.labels ?? []).some((id) => !known.has(id)))
        return err(c.res, 422, `label does not exist [id: ${(b.labels ?? []).find((id) => !known.has(id))}]`);
      const dup = state.pulls.find((p) => p.head === b.head && p.base === b.base && p.state === 'open');
      if (dup)
        return err(
          c.res,
          409,
          `pull request already exists for these targets [id: ${dup.number + 100}, issue_id: ${dup.number}, head_repo_id: 7, base_repo_id: 7, head_branch: ${dup.head}, base_branch: ${dup.base}]`,
        );
      const p = w.api.seedPull({
        title: b.title!,
        body: b.body ?? '',
        head: b.head!,
        base: b.base!,
        draft: isDraft(b.title!),
        labels: b.labels ?? [],
      });
      send(c.res, 201, render(p));
    },
    issueListLabels: (c) => paged(c, state.labels, false),
    issueCreateLabel: (c) => {
      const b = c.body as { name: string; color: string; description?: string };
      if (!/^#?[0-9a-fA-F]{6}$/.test(b.color)) return err(c.res, 422, `Color: invalid color "${b.color}"`);
      // Gitea does not refuse a second label of the same name: the client must look first.
      const l = { id: 1000 + state.labels.length + state.orgLabels.length, name: b.name };
      state.labels.push(l);
      send(c.res, 201, { ...l, color: b.color.replace(/^#/, ''), description: b.description ?? '' });
    },
    issueListIssues: (c) => {
      const want = c.query('state') ?? 'open';
      const type = c.query('type');
      const items = [
        ...(type === 'pulls' ? [] : state.issues.map(renderIssue)),
        ...(type === 'issues'
          ? []
          : state.pulls.map((p) => ({
              ...renderIssue({ ...p, user: 'prbot-bot' }),
              pull_request: { merged: p.merged, draft: isDraft(p.title), html_url: render(p).html_url },
            }))),
      ].filter((i) => want === 'all' || i.state === want);
      items.sort((a, b) => b.number - a.number);
      paged(c, items);
    },
    issueCreateIssue: (c) => {
      const b = c.body as { title?: string; body?: string };
      if (!b.title) return err(c.res, 422, '[Title]: Required');
      send(c.res, 201, renderIssue(w.api.seedIssue({ title: b.title, body: b.body ?? '', user: 'prbot-bot' })));
    },
    issueGetIssue: (c) => {
      const n = Number(c.op.path.index);
      const i = state.issues.find((x) => x.number === n);
      if (i) return send(c.res, 200, renderIssue(i));
      const p = state.pulls.find((x) => x.number === n);
      return p
        ? send(c.res, 200, {
            ...renderIssue({ ...p, user: 'prbot-bot' }),
            pull_request: { merged: p.merged, draft: isDraft(p.title), html_url: render(p).html_url },
          })
        : notFound(c.res);
    },
    issueEditIssue: (c) => {
      const i = state.issues.find((x) => x.number === Number(c.op.path.index));
      if (!i) return notFound(c.res);
      const b = c.body as { body?: string; title?: string; state?: string };
      if (b.body !== undefined) i.body = b.body;
      if (b.title) i.title = b.title;
      if (b.state === 'open' || b.state === 'closed') i.state = b.state;
      i.updated_at = new Date().toISOString();
      // swagger: issueEditIssue answers 201.
      send(c.res, 201, renderIssue(i));
    },
    orgListLabels: (c) =>
      o.org && c.op.path.org === o.owner ? paged(c, state.orgLabels, false) : err(c.res, 404, 'GetOrgByName'),
  };

  const srv = await listenLoopback(async (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const entry: FakeRequest = {
      method: req.method ?? 'GET',
      path: u.pathname + u.search,
      authorization: req.headers.authorization,
    };
    state.requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    const prefix = `${sub}/api/v1`;
    if (!u.pathname.startsWith(prefix + '/')) {
      state.violations.push(`${req.method} ${u.pathname}: not under ${prefix}/`);
      return send(res, 404, '404 page not found');
    }
    const f = w.scripted(req.method!, u.pathname);
    if (f)
      return send(res, f.status, f.body ?? { message: `scripted ${f.status}`, url: `${root}/api/swagger` }, f.headers);
    if (u.searchParams.has('token') || u.searchParams.has('access_token'))
      state.violations.push(
        `${req.method} ${u.pathname}: token in the query string (deprecated, and it lands in logs)`,
      );
    const reqPath = u.pathname.slice(prefix.length);
    const body = await readBody(req);
    if (body.bad) return err(res, 422, 'invalid JSON body');
    const search = new URLSearchParams(u.search);
    const v = spec.validate(req.method!, reqPath, search, body.value, body.has);
    // Gitea checks the token's scope (group middleware) and the repository (mustNotBeArchived)
    // before it binds the body: a request whose body alone is wrong meets those checks first.
    const op = v.ok ? v.op : v.bodyOnly;
    if (!op) {
      state.violations.push(`${req.method} ${reqPath}${u.search}: ${(v as { problem: string }).problem}`);
      return (v as { status: number }).status === 404
        ? send(res, 404, '404 page not found')
        : err(res, (v as { status: number }).status, (v as { problem: string }).problem);
    }
    const group = giteaScopeGroup(op.key);
    const auth = req.headers.authorization ?? '';
    const m = /^(?:token|bearer) (.+)$/i.exec(auth);
    const scopes = m ? tokens.get(m[1]!) : undefined;
    if (group !== null) {
      if (!auth) return err(res, 401, 'token is required');
      if (!m) {
        state.violations.push(
          `${req.method} ${reqPath}: Authorization header "${auth.split(' ')[0]}" is not "token <PAT>" or "Bearer <PAT>"`,
        );
        return err(res, 401, 'invalid authorization header');
      }
      if (!scopes) return err(res, 401, 'user does not exist [uid: 0, name: ]');
      const write = req.method !== 'GET';
      if (!giteaHasScope(scopes, group, write))
        return err(
          res,
          403,
          `token does not have at least one of required scope(s): [${write ? 'write' : 'read'}:${group}]`,
        );
    }
    if (op.path.owner !== undefined && (op.path.owner !== o.owner || (op.path.repo !== o.repo && !otherRepoRead(op))))
      return err(res, 404, 'GetRepositoryByName', { errors: [] });
    // routers/api/v1/api.go mustNotBeArchived: 423 Locked on writes to an archived repository.
    if (o.archived && req.method !== 'GET' && op.path.owner !== undefined)
      return err(res, 423, `repo ${o.owner}/${o.repo} is archived`);
    if (!v.ok) {
      (isProbe(req.method!, body.value) ? state.probes : state.violations).push(
        `${req.method} ${reqPath}${u.search}: ${v.problem}`,
      );
      return err(res, v.status, v.problem);
    }
    const q = (n: string) => search.get(n) ?? undefined;
    await handlers[v.op.operationId]!({
      req,
      res,
      op: v.op,
      body: (body.value ?? {}) as Record<string, unknown>,
      token: m?.[1] ?? '',
      query: q,
      reqPath,
      search,
    });
  });
  root = srv.url + sub;
  return {
    kind: 'gitea',
    url: root,
    pulls: state.pulls,
    labels: state.labels,
    orgLabels: state.orgLabels,
    requests: state.requests,
    violations: state.violations,
    probes: state.probes,
    comments: state.comments,
    reviews: state.reviews,
    labelEvents: state.labelEvents,
    issues: state.issues,
    ...w.api,
    secondaryLimitNext: () => {},
    stop: srv.stop,
  };
}

// ---------------------------------------------------------------------------------------------
// GitHub
// ---------------------------------------------------------------------------------------------

const REPO_ID = 1296269;
const OWNER_ID = 2;
const DOCS = 'https://docs.github.com/rest';

/** The GitHub REST API (2022-11-28) for what prbot calls, validated against GitHub's OpenAPI subset. */
export async function startGithubServer(o: FakeForgeOptions): Promise<FakeForge> {
  const w = world('github', o);
  const { state } = w;
  const spec = new SpecValidator(loadSpec('github'));
  const grants = new Map<string, GithubTokenGrant>([
    [o.token, o.grant ?? { scopes: ['repo'] }],
    ...Object.entries(o.tokens ?? {}).map(([t, g]) => [t, g as GithubTokenGrant] as [string, GithubTokenGrant]),
  ]);
  const can = (g: GithubTokenGrant, what: 'contents' | 'pull_requests' | 'issues', write: boolean) => {
    if (g.scopes)
      return g.scopes.includes('repo') || (!o.private && g.scopes.includes('public_repo')) || (!write && !o.private);
    const lvl = g.permissions?.[what] ?? 'none';
    return write ? lvl === 'write' : lvl !== 'none';
  };
  let root = '';
  let remaining = 5000;
  const reset = () => Math.floor(Date.now() / 1000) + 3600;
  const err = (
    res: ServerResponse,
    status: number,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) =>
    send(res, status, { message, documentation_url: `${DOCS}/pulls/pulls`, status: String(status), ...extra }, headers);
  const render = (p: FakePull) => ({
    id: p.number + 5000,
    number: p.number,
    title: p.title,
    body: p.body,
    state: p.state,
    draft: p.draft,
    merged_at: p.merged ? p.updated_at : null,
    html_url: `https://github.example/${o.owner}/${o.repo}/pull/${p.number}`,
    labels: p.labels.map((name) => ({ name })),
    head: { ref: p.head, label: `${o.owner}:${p.head}`, repo: { full_name: `${o.owner}/${o.repo}` } },
    base: { ref: p.base, label: `${o.owner}:${p.base}`, repo: { full_name: `${o.owner}/${o.repo}` } },
    created_at: p.created_at,
    updated_at: p.updated_at,
  });
  const renderIssue = (
    i: Pick<FakeIssue, 'number' | 'title' | 'body' | 'state' | 'user' | 'created_at' | 'updated_at'>,
  ) => ({
    id: i.number + 9000,
    node_id: `I_${i.number}`,
    number: i.number,
    url: `${root}/repos/${o.owner}/${o.repo}/issues/${i.number}`,
    html_url: `https://github.example/${o.owner}/${o.repo}/issues/${i.number}`,
    title: i.title,
    body: i.body,
    state: i.state,
    user: { login: i.user, id: 9 },
    labels: [],
    created_at: i.created_at,
    updated_at: i.updated_at,
  });
  const drafts = () => o.draftsSupported ?? (!o.private || o.org === true);
  // components/schemas/minimal-repository: the fields discovery reads, and a few more.
  const renderRepo = (r: ReturnType<typeof w.ownerRepos>[number], i: number) => ({
    id: REPO_ID + i,
    name: r.name,
    full_name: `${o.owner}/${r.name}`,
    owner: { login: o.owner, id: 2, type: o.org ? 'Organization' : 'User' },
    private: r.private,
    fork: r.fork,
    archived: r.archived,
    disabled: false,
    default_branch: r.defaultBranch,
    topics: r.topics,
    html_url: `https://github.example/${o.owner}/${r.name}`,
    clone_url: `https://github.example/${o.owner}/${r.name}.git`,
  });
  // GitHub's Links name the owner by id: /organizations/{id}/repos, /user/{id}/repos.
  const listRepos = (c: Ctx, byId: string) => {
    const linkBase = new URL(`${root}/${byId}/repos${c.search.size ? `?${c.search}` : ''}`);
    const p = w.page(
      w.ownerRepos().map(renderRepo),
      c.query,
      'per_page',
      30,
      Math.min(o.pageSize ?? 100, 100),
      linkBase,
      ', ',
    );
    send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
  };
  const handlers: Record<string, (c: Ctx, g: GithubTokenGrant) => Promise<void> | void> = {
    'users/get-authenticated': (c, g) =>
      send(c.res, 200, { login: 'prbot-bot', id: 1 }, g.scopes ? { 'x-oauth-scopes': g.scopes.join(', ') } : {}),
    'repos/get': (c, g) =>
      send(c.res, 200, {
        id: REPO_ID,
        full_name: `${o.owner}/${o.repo}`,
        owner: { login: o.owner, id: 2, type: o.org ? 'Organization' : 'User' },
        private: o.private ?? false,
        archived: o.archived ?? false,
        default_branch: 'main',
        permissions: { admin: false, push: can(g, 'contents', true), pull: true },
      }),
    'repos/list-for-org': (c) =>
      o.org && c.op.path.org === o.owner
        ? listRepos(c, `organizations/${OWNER_ID}`)
        : err(c.res, 404, 'Not Found', { documentation_url: `${DOCS}/repos/repos#list-organization-repositories` }),
    'repos/list-for-user': (c) =>
      c.op.path.username === o.owner
        ? listRepos(c, `user/${OWNER_ID}`)
        : err(c.res, 404, 'Not Found', { documentation_url: `${DOCS}/repos/repos#list-repositories-for-a-user` }),
    'repos/get-content': async (c) =>
      (await w.fileAt(c.op.path.repo!, c.op.path.path!, c.query('ref')))
        ? send(c.res, 200, { type: 'file', name: c.op.path.path, path: c.op.path.path, sha: 'x', size: 0 })
        : err(c.res, 404, 'Not Found', { documentation_url: `${DOCS}/repos/contents#get-repository-content` }),
    'orgs/get': (c) =>
      o.org && c.op.path.org === o.owner
        ? send(c.res, 200, {
            login: o.owner,
            id: 2,
            type: 'Organization',
            ...(o.planHidden
              ? {}
              : { plan: { name: drafts() ? 'team' : 'free', space: 976562499, private_repos: 999999 } }),
          })
        : err(c.res, 404, 'Not Found', { documentation_url: `${DOCS}/orgs/orgs#get-an-organization` }),
    'repos/get-branch': async (c) =>
      (await w.branchExists(c.op.path.branch!))
        ? send(c.res, 200, { name: c.op.path.branch, commit: { sha: 'x' } })
        : err(c.res, 404, 'Branch not found', { documentation_url: `${DOCS}/branches/branches#get-a-branch` }),
    'pulls/list': (c) => {
      const want = c.query('state') ?? 'open';
      const head = c.query('head');
      const base = c.query('base');
      const items = state.pulls.filter(
        (p) =>
          (want === 'all' || p.state === want) &&
          (!head || `${o.owner}:${p.head}` === head) &&
          (!base || p.base === base),
      );
      const sort = c.query('sort') ?? 'created';
      const dir = c.query('direction') ?? (sort === 'created' ? 'desc' : 'asc');
      items.sort((a, b) => (sort === 'updated' ? a.updated_at.localeCompare(b.updated_at) : 0) || a.number - b.number);
      if (dir === 'desc') items.reverse();
      // GitHub's Links name the repository by id, not owner/name.
      const linkBase = new URL(`${root}/repositories/${REPO_ID}/pulls${c.search.size ? `?${c.search}` : ''}`);
      const p = w.page(items.map(render), c.query, 'per_page', 30, Math.min(o.pageSize ?? 100, 100), linkBase, ', ');
      send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
    },
    'pulls/create': async (c, g) => {
      const b = c.body as { title?: string; head?: string; base?: string; body?: string; draft?: boolean };
      if (!can(g, 'pull_requests', true))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'pull_requests=write' },
        );
      if (!b.title)
        return err(c.res, 422, 'Validation Failed', {
          errors: [{ resource: 'PullRequest', code: 'missing_field', field: 'title' }],
        });
      if (!(await w.branchExists(b.base!)))
        return err(c.res, 422, 'Validation Failed', {
          errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }],
        });
      if (!(await w.branchExists(b.head!)))
        return err(c.res, 422, 'Validation Failed', {
          errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
        });
      if (b.draft === true && !drafts())
        return err(c.res, 422, 'Validation Failed', {
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: 'Draft pull requests are not supported in this repository.',
            },
          ],
        });
      if (state.pulls.some((p) => p.head === b.head && p.base === b.base && p.state === 'open')) {
        return err(c.res, 422, 'Validation Failed', {
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for ${o.owner}:${b.head}.`,
            },
          ],
        });
      }
      const p = w.api.seedPull({
        title: b.title,
        body: b.body ?? '',
        head: b.head!,
        base: b.base!,
        draft: b.draft === true,
      });
      send(c.res, 201, render(p));
    },
    'pulls/get': async (c) => {
      const p = state.pulls.find((x) => x.number === Number(c.op.path.pull_number));
      if (!p) return err(c.res, 404, 'Not Found');
      const r = render(p);
      send(c.res, 200, { ...r, head: { ...r.head, sha: await w.headSha(p.head) } });
    },
    'pulls/update': async (c, g) => {
      if (!can(g, 'pull_requests', true))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'pull_requests=write' },
        );
      const p = state.pulls.find((x) => x.number === Number(c.op.path.pull_number));
      if (!p) return err(c.res, 404, 'Not Found');
      const b = c.body as { state?: 'open' | 'closed'; title?: string; body?: string };
      if (b.state === 'open' && p.merged)
        return err(c.res, 422, 'Validation Failed', {
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: 'state cannot be changed. The pull request has already been merged.',
            },
          ],
        });
      if (b.state) p.state = b.state;
      if (b.title !== undefined) p.title = b.title;
      if (b.body !== undefined) p.body = b.body;
      p.updated_at = new Date(Math.max(Date.now(), Date.parse(p.updated_at) + 1)).toISOString();
      const r = render(p);
      send(c.res, 200, { ...r, head: { ...r.head, sha: await w.headSha(p.head) } });
    },
    'issues/list-comments': (c) => {
      const n = Number(c.op.path.issue_number);
      if (!state.pulls.some((p) => p.number === n)) return err(c.res, 404, 'Not Found');
      const items = state.comments
        .filter((x) => x.pull === n && x.kind === 'issue')
        .map((x) => ({
          id: x.id,
          node_id: `IC_${x.id}`,
          body: x.body,
          user: { login: x.author, id: 2 },
          created_at: x.created_at,
          updated_at: x.created_at,
          html_url: `https://github.example/${o.owner}/${o.repo}/pull/${n}#issuecomment-${x.id}`,
        }));
      const p = w.page(
        items,
        c.query,
        'per_page',
        30,
        Math.min(o.pageSize ?? 100, 100),
        new URL(`${root}/repositories/${REPO_ID}/issues/${n}/comments${c.search.size ? `?${c.search}` : ''}`),
        ', ',
      );
      send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
    },
    'issues/create-comment': (c, g) => {
      const n = Number(c.op.path.issue_number);
      if (!can(g, 'pull_requests', true) && !can(g, 'issues', true))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'issues=write; pull_requests=write' },
        );
      if (!state.pulls.some((p) => p.number === n)) return err(c.res, 404, 'Not Found');
      const x = w.api.comment(n, 'prbot-bot', String((c.body as { body: string }).body));
      send(c.res, 201, {
        id: x.id,
        body: x.body,
        user: { login: x.author, id: 1 },
        created_at: x.created_at,
        updated_at: x.created_at,
      });
    },
    'pulls/list-review-comments': (c) => {
      const n = Number(c.op.path.pull_number);
      if (!state.pulls.some((p) => p.number === n)) return err(c.res, 404, 'Not Found');
      const items = state.comments
        .filter((x) => x.pull === n && x.kind === 'review')
        .map((x) => ({
          id: x.id,
          pull_request_review_id: x.reviewId ?? null,
          ...(x.inReplyTo !== undefined ? { in_reply_to_id: x.inReplyTo } : {}),
          body: x.body,
          path: x.path ?? '',
          user: { login: x.author, id: 2 },
          created_at: x.created_at,
          updated_at: x.created_at,
        }));
      const p = w.page(
        items,
        c.query,
        'per_page',
        30,
        Math.min(o.pageSize ?? 100, 100),
        new URL(`${root}/repositories/${REPO_ID}/pulls/${n}/comments${c.search.size ? `?${c.search}` : ''}`),
        ', ',
      );
      send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
    },
    'pulls/list-reviews': (c) => {
      const n = Number(c.op.path.pull_number);
      if (!state.pulls.some((p) => p.number === n)) return err(c.res, 404, 'Not Found');
      const items = state.reviews
        .filter((r) => r.pull === n)
        .map((r) => ({
          id: r.id,
          node_id: `PRR_${r.id}`,
          user: { login: r.author, id: 2 },
          body: r.body,
          state: r.state,
          html_url: `https://github.example/${o.owner}/${o.repo}/pull/${n}#pullrequestreview-${r.id}`,
          pull_request_url: `${root}/repos/${o.owner}/${o.repo}/pulls/${n}`,
          author_association: 'COLLABORATOR',
          submitted_at: r.submitted_at,
          commit_id: '0'.repeat(40),
        }));
      const p = w.page(
        items,
        c.query,
        'per_page',
        30,
        Math.min(o.pageSize ?? 100, 100),
        new URL(`${root}/repositories/${REPO_ID}/pulls/${n}/reviews${c.search.size ? `?${c.search}` : ''}`),
        ', ',
      );
      send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
    },
    'repos/get-collaborator-permission-level': (c) => {
      const who = c.op.path.username!;
      const perm = state.permissions.get(who);
      if (perm === undefined)
        return err(c.res, 404, `${who} is not a user`, {
          documentation_url: `${DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user`,
        });
      send(c.res, 200, { permission: perm, role_name: perm, user: { login: who, id: 2 } });
    },
    'issues/remove-label': (c) => {
      const p = state.pulls.find((x) => x.number === Number(c.op.path.issue_number));
      const name = c.op.path.name!;
      if (!p || !p.labels.includes(name))
        return err(c.res, 404, 'Label does not exist', {
          documentation_url: `${DOCS}/issues/labels#remove-a-label-from-an-issue`,
        });
      p.labels.splice(p.labels.indexOf(name), 1);
      state.labelEvents.push({
        id: 8000 + state.labelEvents.length,
        pull: p.number,
        name,
        actor: 'prbot-bot',
        added: false,
        at: new Date().toISOString(),
      });
      send(
        c.res,
        200,
        p.labels.map((l) => ({ name: l })),
      );
    },
    'issues/list-events': (c) => {
      const n = Number(c.op.path.issue_number);
      if (!state.pulls.some((p) => p.number === n)) return err(c.res, 404, 'Not Found');
      const items = state.labelEvents
        .filter((e) => e.pull === n)
        .map((e) => ({
          id: e.id,
          node_id: `LE_${e.id}`,
          url: `${root}/repos/${o.owner}/${o.repo}/issues/events/${e.id}`,
          actor: { login: e.actor, id: 2 },
          event: e.added ? 'labeled' : 'unlabeled',
          commit_id: null,
          commit_url: null,
          created_at: e.at,
          label: { name: e.name, color: 'ffffff' },
        }));
      const p = w.page(
        items,
        c.query,
        'per_page',
        30,
        Math.min(o.pageSize ?? 100, 100),
        new URL(`${root}/repositories/${REPO_ID}/issues/${n}/events${c.search.size ? `?${c.search}` : ''}`),
        ', ',
      );
      send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
    },
    'issues/list-for-repo': (c, g) => {
      if (o.issuesDisabled) return err(c.res, 410, 'Issues are disabled for this repo');
      if (!can(g, 'issues', false))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'issues=read' },
        );
      const want = c.query('state') ?? 'open';
      // GitHub lists pull requests among issues, marked by `pull_request`.
      const items = [
        ...state.issues.map(renderIssue),
        ...state.pulls.map((p) => ({
          ...renderIssue({ ...p, user: 'prbot-bot' }),
          pull_request: {
            url: `${root}/repos/${o.owner}/${o.repo}/pulls/${p.number}`,
            html_url: render(p).html_url,
            merged_at: p.merged ? p.updated_at : null,
          },
        })),
      ].filter((i) => want === 'all' || i.state === want);
      items.sort((a, b) => b.number - a.number);
      const linkBase = new URL(`${root}/repositories/${REPO_ID}/issues${c.search.size ? `?${c.search}` : ''}`);
      const p = w.page(items, c.query, 'per_page', 30, Math.min(o.pageSize ?? 100, 100), linkBase, ', ');
      send(c.res, 200, p.slice, p.links ? { link: p.links } : {});
    },
    'issues/create': (c, g) => {
      if (o.issuesDisabled) return err(c.res, 410, 'Issues are disabled for this repo');
      if (!can(g, 'issues', true))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'issues=write' },
        );
      const b = c.body as { title?: string | number; body?: string };
      if (b.title === undefined || b.title === '')
        return err(c.res, 422, 'Validation Failed', {
          errors: [{ resource: 'Issue', code: 'missing_field', field: 'title' }],
        });
      send(c.res, 201, renderIssue(w.api.seedIssue({ title: String(b.title), body: b.body ?? '', user: 'prbot-bot' })));
    },
    'issues/get': (c, g) => {
      if (!can(g, 'issues', false))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'issues=read' },
        );
      const n = Number(c.op.path.issue_number);
      const i = state.issues.find((x) => x.number === n);
      if (i) return send(c.res, 200, renderIssue(i));
      const p = state.pulls.find((x) => x.number === n);
      return p
        ? send(c.res, 200, {
            ...renderIssue({ ...p, user: 'prbot-bot' }),
            pull_request: { url: `${root}/repos/${o.owner}/${o.repo}/pulls/${p.number}`, html_url: render(p).html_url },
          })
        : err(c.res, 404, 'Not Found');
    },
    'issues/update': (c, g) => {
      if (!can(g, 'issues', true))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'issues=write' },
        );
      const i = state.issues.find((x) => x.number === Number(c.op.path.issue_number));
      if (!i) return err(c.res, 404, 'Not Found');
      const b = c.body as { body?: string | null; title?: string | number | null; state?: string };
      if (b.body !== undefined) i.body = b.body ?? '';
      if (b.title !== undefined && b.title !== null) i.title = String(b.title);
      if (b.state === 'open' || b.state === 'closed') i.state = b.state;
      i.updated_at = new Date().toISOString();
      send(c.res, 200, renderIssue(i));
    },
    'issues/add-labels': (c, g) => {
      const p = state.pulls.find((x) => x.number === Number(c.op.path.issue_number));
      if (o.issuesDisabled)
        return err(c.res, 410, 'Issues are disabled for this repo', {
          documentation_url: `${DOCS}/issues/labels#add-labels-to-an-issue`,
        });
      if (!can(g, 'issues', true))
        return err(
          c.res,
          403,
          'Resource not accessible by personal access token',
          { documentation_url: `${DOCS}/issues/labels#add-labels-to-an-issue` },
          { 'x-accepted-github-permissions': 'issues=write; pull_requests=write' },
        );
      if (!p) return err(c.res, 404, 'Not Found');
      const names = ((c.body as { labels: (string | { name: string })[] }).labels ?? []).map((l) =>
        typeof l === 'string' ? l : l.name,
      );
      const bad = names.find((n) => n.length > 50);
      if (bad)
        return err(c.res, 422, 'Validation Failed', {
          errors: [{ resource: 'Label', code: 'invalid', field: 'name', value: bad }],
        });
      for (const n of names) if (!p.labels.includes(n)) p.labels.push(n);
      send(
        c.res,
        200,
        p.labels.map((name) => ({ name })),
      );
    },
  };

  const srv = await listenLoopback(async (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const entry: FakeRequest = {
      method: req.method ?? 'GET',
      path: u.pathname + u.search,
      authorization: req.headers.authorization,
    };
    state.requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    const rl = () => ({
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-reset': String(reset()),
      'x-ratelimit-used': String(5000 - remaining),
      'x-ratelimit-resource': 'core',
    });
    const f = w.scripted(req.method!, u.pathname);
    if (f)
      return send(
        res,
        f.status,
        f.body ?? { message: `scripted ${f.status}`, documentation_url: DOCS, status: String(f.status) },
        { ...rl(), ...f.headers },
      );
    if (!req.headers['user-agent'])
      state.violations.push(`${req.method} ${u.pathname}: no User-Agent (GitHub answers 403)`);
    if (req.headers['x-github-api-version'] !== '2022-11-28')
      state.violations.push(
        `${req.method} ${u.pathname}: X-GitHub-Api-Version is ${req.headers['x-github-api-version'] ?? 'missing'}, not 2022-11-28`,
      );
    // GitHub's own Link URLs use /repositories/{id}/…: the same operation as /repos/{owner}/{repo}/….
    const reqPath = u.pathname
      .replace(new RegExp(`^/repositories/${REPO_ID}(?=/|$)`), `/repos/${o.owner}/${o.repo}`)
      .replace(new RegExp(`^/organizations/${OWNER_ID}/repos$`), `/orgs/${o.owner}/repos`)
      .replace(new RegExp(`^/user/${OWNER_ID}/repos$`), `/users/${o.owner}/repos`);
    const body = await readBody(req);
    if (body.bad) return err(res, 400, 'Problems parsing JSON');
    const search = new URLSearchParams(u.search);
    const v = spec.validate(req.method!, reqPath, search, body.value, body.has);
    // Authentication, the repository's state and the token's permission come before GitHub
    // validates a body: a request whose body alone is wrong meets them first.
    const op = v.ok ? v.op : v.bodyOnly;
    if (!op) {
      const bad = v as { status: number; problem: string };
      state.violations.push(`${req.method} ${reqPath}${u.search}: ${bad.problem}`);
      return bad.status === 404
        ? err(res, 404, 'Not Found', { documentation_url: DOCS })
        : err(res, bad.status, `Invalid request.\n\n${bad.problem}`);
    }
    const auth = req.headers.authorization ?? '';
    const m = /^(?:token|bearer) (.+)$/i.exec(auth);
    const grant = m ? grants.get(m[1]!) : undefined;
    if (!grant) return err(res, 401, 'Bad credentials', { documentation_url: DOCS }, rl());
    remaining = Math.max(0, remaining - 1);
    if (op.path.owner !== undefined && (op.path.owner !== o.owner || (op.path.repo !== o.repo && !otherRepoRead(op))))
      return err(res, 404, 'Not Found', { documentation_url: DOCS }, rl());
    for (const [k, val] of Object.entries(rl())) res.setHeader(k, val);
    if (o.archived && req.method !== 'GET')
      return err(res, 403, 'Repository was archived so is read-only.', { documentation_url: DOCS });
    if (!v.ok) {
      if (op.operationId === 'pulls/create' && !can(grant, 'pull_requests', true))
        return err(
          res,
          403,
          'Resource not accessible by personal access token',
          {},
          { 'x-accepted-github-permissions': 'pull_requests=write' },
        );
      (isProbe(req.method!, body.value) ? state.probes : state.violations).push(
        `${req.method} ${reqPath}${u.search}: ${v.problem}`,
      );
      return err(res, 422, 'Invalid request.', { errors: [v.problem] });
    }
    const q = (n: string) => search.get(n) ?? undefined;
    await handlers[v.op.operationId]!(
      {
        req,
        res,
        op: v.op,
        body: (body.value ?? {}) as Record<string, unknown>,
        token: m![1]!,
        query: q,
        reqPath,
        search,
      },
      grant,
    );
  });
  root = srv.url;
  return {
    kind: 'github',
    url: srv.url,
    pulls: state.pulls,
    issues: state.issues,
    labels: state.labels,
    orgLabels: state.orgLabels,
    requests: state.requests,
    violations: state.violations,
    probes: state.probes,
    comments: state.comments,
    reviews: state.reviews,
    labelEvents: state.labelEvents,
    ...w.api,
    secondaryLimitNext(method: string, suffix: string, count: number, retryAfterS?: number) {
      // remaining stays above zero: only the message tells a secondary limit from a permission error.
      w.api.failNext(method, suffix, count, 403, {
        body: {
          message:
            'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.',
          documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
          status: '403',
        },
        headers: retryAfterS !== undefined ? { 'retry-after': String(retryAfterS) } : {},
      });
    },
    stop: srv.stop,
  };
}
