import { CycleEnded } from '../errors/index.ts';
import { forgeCall, forgePages, fromRepo, message, type ForgeHttp } from './http.ts';
import { pushBranch } from './push.ts';
import { markersOf, type BotPr, type DraftPr, type Forge, type PrRef, type RemoteForgeOptions } from './types.ts';

interface GithubPull {
  number: number;
  html_url: string;
  state: 'open' | 'closed';
  merged_at: string | null;
  body: string | null;
  updated_at: string;
  head: { ref: string; repo: { full_name: string } | null };
}

export interface GithubOptions extends RemoteForgeOptions {
  apiUrl: string;
}

/** GitHub and GitHub Enterprise: `draft: true`, lookup by `head=owner:branch`. */
export class GithubForge implements Forge {
  readonly kind = 'github';
  private readonly http: ForgeHttp;
  private readonly repoPath: string;

  constructor(private readonly o: GithubOptions) {
    this.http = {
      label: `github ${o.owner}/${o.repo}`,
      baseUrl: o.apiUrl.replace(/\/+$/, ''),
      headers: { authorization: `Bearer ${o.token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'prbot' },
      timeoutMs: o.timeoutMs,
      tokenEnv: o.tokenEnv,
    };
    this.repoPath = `/repos/${encodeURIComponent(o.owner)}/${encodeURIComponent(o.repo)}`;
  }

  push(mirrorDir: string, commit: string, branch: string): Promise<void> {
    return pushBranch(mirrorDir, this.o.remote, commit, branch, this.o.token);
  }

  private ref(p: GithubPull): PrRef {
    return { url: p.html_url, branch: p.head.ref, state: p.merged_at ? 'merged' : p.state };
  }

  async findByBranch(branch: string): Promise<PrRef | null> {
    const head = encodeURIComponent(`${this.o.owner}:${branch}`);
    const r = await forgeCall<GithubPull[]>(this.http, 'GET', `${this.repoPath}/pulls?head=${head}&state=open&per_page=10`);
    const p = (r.body ?? []).find((x) => x.head.ref === branch);
    return p ? this.ref(p) : null;
  }

  async listBotPrs(): Promise<BotPr[]> {
    const out: BotPr[] = [];
    for await (const p of forgePages<GithubPull>(this.http, `${this.repoPath}/pulls?state=all&sort=updated&direction=desc&per_page=100`)) {
      if (p.head.ref.startsWith(this.o.branchPrefix) && fromRepo(p.head, this.o.owner, this.o.repo)) {
        out.push({ ...this.ref(p), ...markersOf(p.body), updatedAt: p.updated_at });
      }
    }
    return out;
  }

  async openDraft(pr: DraftPr): Promise<PrRef> {
    const r = await forgeCall<GithubPull & { errors?: { message?: string }[] }>(this.http, 'POST', `${this.repoPath}/pulls`, {
      title: pr.title,
      head: pr.branch,
      base: pr.base,
      body: pr.body,
      draft: true,
    });
    if (r.status === 201) {
      await this.addLabels(r.body.number, pr.labels);
      return this.ref(r.body);
    }
    // 422 means many things; only "already exists" is resolved by looking the PR up.
    if (r.status === 422 && (r.body.errors ?? []).some((e) => /already exists/i.test(e.message ?? ''))) {
      const found = await this.findByBranch(pr.branch);
      if (found) return found;
    }
    const details = (r.body.errors ?? []).map((e) => e.message).filter(Boolean).join('; ');
    throw new CycleEnded('pr_failed', `${this.http.label} refused the pull request (HTTP ${r.status}): ${message(r.body)}${details ? ` (${details})` : ''}`);
  }

  private async addLabels(n: number, labels: string[]): Promise<void> {
    if (!labels.length) return;
    try {
      await forgeCall(this.http, 'POST', `${this.repoPath}/issues/${n}/labels`, { labels });
    } catch (err) {
      if (!(err instanceof CycleEnded)) throw err;
      this.o.log.warn({ labels }, 'cannot label the PR; it stays unlabelled');
    }
  }
}
