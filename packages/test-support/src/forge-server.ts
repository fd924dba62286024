import express, { type Request, type Response } from 'express';
import { git } from '@prbot/core';
import { listenLoopback } from './listen.ts';

export interface FakePull {
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

export interface FakeForge {
  kind: 'gitea' | 'github';
  url: string;
  pulls: FakePull[];
  labels: { id: number; name: string }[];
  requests: { method: string; path: string; authorization: string | undefined }[];
  /** The next `count` requests matching `method path-suffix` answer `status`. */
  failNext(method: string, pathSuffix: string, count: number, status: number): void;
  /** Ends every scripted failure: the service is back. */
  heal(): void;
  close(pull: number, merged?: boolean): void;
  stop(): Promise<void>;
}

export interface FakeForgeOptions {
  owner: string;
  repo: string;
  token: string;
  /** The bare repository branches are pushed to; a PR's head must exist there. */
  bare: string;
  pageSize?: number;
}

function base(kind: FakeForge['kind'], o: FakeForgeOptions) {
  const state = {
    pulls: [] as FakePull[],
    labels: [] as { id: number; name: string }[],
    requests: [] as FakeForge['requests'],
    failures: [] as { method: string; suffix: string; left: number; status: number }[],
  };
  const app = express();
  app.use(express.json());
  app.use((req, res, next) => {
    state.requests.push({ method: req.method, path: req.originalUrl, authorization: req.headers.authorization });
    const f = state.failures.find((x) => x.left > 0 && x.method === req.method && req.path.endsWith(x.suffix));
    if (f) {
      f.left--;
      res.status(f.status).json({ message: `scripted ${f.status}` });
      return;
    }
    const ok = kind === 'gitea' ? [`token ${o.token}`, `Bearer ${o.token}`] : [`Bearer ${o.token}`, `token ${o.token}`];
    if (!ok.includes(req.headers.authorization ?? '')) {
      res.status(401).json({ message: kind === 'gitea' ? 'user does not exist [uid: 0, name: ]' : 'Bad credentials' });
      return;
    }
    next();
  });
  const headExists = async (branch: string) => (await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], { cwd: o.bare, okCodes: [1] })).exitCode === 0;
  const page = (req: Request, res: Response, items: FakePull[], render: (p: FakePull) => unknown, sizeParam: string, pageParam: string) => {
    const size = Math.min(Number(req.query[sizeParam] ?? 30), o.pageSize ?? 1000);
    const n = Number(req.query[pageParam] ?? 1);
    const slice = items.slice((n - 1) * size, n * size);
    if (n * size < items.length) {
      const next = new URL(req.originalUrl, `http://${req.headers.host}`);
      next.searchParams.set(pageParam, String(n + 1));
      res.set('Link', `<${next.href}>; rel="next"`);
    }
    res.json(slice.map(render));
  };
  const forge = {
    app,
    state,
    headExists,
    page,
    failNext(method: string, suffix: string, count: number, status: number) {
      state.failures.push({ method, suffix, left: count, status });
    },
    heal() {
      state.failures.length = 0;
    },
    close(n: number, merged = false) {
      const p = state.pulls.find((x) => x.number === n)!;
      p.state = 'closed';
      p.merged = merged;
      p.updated_at = new Date().toISOString();
    },
  };
  return forge;
}

/** Gitea / Forgejo API v1, as much as prbot uses, checking what it is sent the way Gitea does. */
export async function startGiteaServer(o: FakeForgeOptions): Promise<FakeForge> {
  const f = base('gitea', o);
  const { app, state } = f;
  const repo = `/api/v1/repos/${o.owner}/${o.repo}`;
  const render = (p: FakePull, url: string) => ({
    number: p.number,
    title: p.title,
    body: p.body,
    state: p.state,
    merged: p.merged,
    draft: /^(WIP:|\[WIP\])/i.test(p.title),
    html_url: `${url}/${o.owner}/${o.repo}/pulls/${p.number}`,
    labels: p.labels.map((id) => state.labels.find((l) => l.id === id)),
    head: { ref: p.head, label: p.head, repo: { full_name: `${o.owner}/${o.repo}` } },
    base: { ref: p.base },
    updated_at: p.updated_at,
  });
  let url = '';
  app.use('/api/v1/repos/:owner/:repo', (req, res, next) => {
    if (req.params.owner !== o.owner || req.params.repo !== o.repo) {
      res.status(404).json({ message: 'GetRepositoryByName', errors: [] });
      return;
    }
    next();
  });
  app.get(`${repo}/pulls`, (req, res) => {
    const want = String(req.query.state ?? 'open');
    const items = [...state.pulls].reverse().filter((p) => want === 'all' || p.state === want);
    f.page(req, res, items, (p) => render(p, url), 'limit', 'page');
  });
  app.get(`${repo}/pulls/:n`, (req, res) => {
    const p = state.pulls.find((x) => x.number === Number(req.params.n));
    if (!p) return void res.status(404).json({ message: 'pull request does not exist' });
    res.json(render(p, url));
  });
  app.post(`${repo}/pulls`, async (req, res) => {
    const b = req.body as Partial<{ head: string; base: string; title: string; body: string; labels: unknown[] }>;
    const missing = (['head', 'base', 'title'] as const).filter((k) => !b[k]);
    if (missing.length) return void res.status(422).json({ message: `[${missing.map((m) => m[0]!.toUpperCase() + m.slice(1)).join(', ')}]: Required` });
    if (b.labels && !b.labels.every((l) => Number.isInteger(l))) return void res.status(422).json({ message: 'labels must be label ids (integers)' });
    if (!(await f.headExists(b.head!))) return void res.status(404).json({ message: `GetRefCommitID: branch ${b.head} does not exist` });
    const dup = state.pulls.find((p) => p.head === b.head && p.base === b.base && p.state === 'open');
    if (dup) return void res.status(409).json({ message: `pull request already exists for these targets [id: ${dup.number + 100}, issue_id: ${dup.number}, head_repo_id: 1, base_repo_id: 1, head_branch: ${dup.head}, base_branch: ${dup.base}]` });
    const now = new Date().toISOString();
    const p: FakePull = { number: state.pulls.length + 1, title: b.title!, body: b.body ?? '', head: b.head!, base: b.base!, state: 'open', merged: false, draft: false, labels: (b.labels ?? []) as number[], created_at: now, updated_at: now };
    state.pulls.push(p);
    res.status(201).json(render(p, url));
  });
  app.patch(`${repo}/pulls/:n`, (req, res) => {
    const p = state.pulls.find((x) => x.number === Number(req.params.n));
    if (!p) return void res.status(404).json({ message: 'pull request does not exist' });
    if (req.body.state === 'closed') f.close(p.number);
    res.status(201).json(render(p, url));
  });
  app.get(`${repo}/labels`, (_req, res) => void res.json(state.labels));
  app.post(`${repo}/labels`, (req, res) => {
    const l = { id: state.labels.length + 10, name: String(req.body.name) };
    state.labels.push(l);
    res.status(201).json(l);
  });
  const srv = await listenLoopback(app);
  url = srv.url;
  return { kind: 'gitea', url: srv.url, pulls: state.pulls, labels: state.labels, requests: state.requests, failNext: f.failNext, heal: f.heal, close: f.close, stop: srv.stop };
}

/** The GitHub REST API, as much as prbot uses. */
export async function startGithubServer(o: FakeForgeOptions): Promise<FakeForge> {
  const f = base('github', o);
  const { app, state } = f;
  const repo = `/repos/${o.owner}/${o.repo}`;
  let url = '';
  const render = (p: FakePull) => ({
    number: p.number,
    title: p.title,
    body: p.body,
    state: p.state,
    draft: p.draft,
    merged_at: p.merged ? p.updated_at : null,
    html_url: `https://github.example/${o.owner}/${o.repo}/pull/${p.number}`,
    head: { ref: p.head, label: `${o.owner}:${p.head}`, repo: { full_name: `${o.owner}/${o.repo}` } },
    base: { ref: p.base },
    updated_at: p.updated_at,
  });
  app.use('/repos/:owner/:repo', (req, res, next) => {
    if (req.params.owner !== o.owner || req.params.repo !== o.repo) return void res.status(404).json({ message: 'Not Found' });
    next();
  });
  app.get(`${repo}/pulls`, (req, res) => {
    const want = String(req.query.state ?? 'open');
    const head = req.query.head ? String(req.query.head) : null;
    const items = [...state.pulls].reverse().filter((p) => (want === 'all' || p.state === want) && (!head || `${o.owner}:${p.head}` === head));
    f.page(req, res, items, render, 'per_page', 'page');
  });
  app.post(`${repo}/pulls`, async (req, res) => {
    const b = req.body as Partial<{ head: string; base: string; title: string; body: string; draft: boolean }>;
    if (!b.title || !b.head || !b.base) return void res.status(422).json({ message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'missing_field' }] });
    if (!(await f.headExists(b.head))) return void res.status(422).json({ message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] });
    if (state.pulls.some((p) => p.head === b.head && p.state === 'open')) {
      return void res.status(422).json({ message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${o.owner}:${b.head}.` }] });
    }
    const now = new Date().toISOString();
    const p: FakePull = { number: state.pulls.length + 1, title: b.title, body: b.body ?? '', head: b.head, base: b.base, state: 'open', merged: false, draft: b.draft === true, labels: [], created_at: now, updated_at: now };
    state.pulls.push(p);
    res.status(201).json(render(p));
  });
  app.post(`${repo}/issues/:n/labels`, (req, res) => {
    const p = state.pulls.find((x) => x.number === Number(req.params.n));
    if (!p) return void res.status(404).json({ message: 'Not Found' });
    p.labels.push(...(req.body.labels as string[]));
    res.json(p.labels.map((name) => ({ name })));
  });
  const srv = await listenLoopback(app);
  url = srv.url;
  return { kind: 'github', url: srv.url, pulls: state.pulls, labels: state.labels, requests: state.requests, failNext: f.failNext, heal: f.heal, close: f.close, stop: srv.stop };
}
