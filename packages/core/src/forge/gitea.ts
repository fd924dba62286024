import { CycleEnded } from '../errors/index.ts';
import { forgeCall, forgePages, fromRepo, message, type ForgeHttp } from './http.ts';
import { pushBranch } from './push.ts';
import { markersOf, type BotPr, type DraftPr, type Forge, type PrRef, type RemoteForgeOptions } from './types.ts';

interface GiteaPull {
  number: number;
  html_url: string;
  state: 'open' | 'closed';
  merged: boolean;
  body: string | null;
  updated_at: string;
  head: { ref: string; label: string; repo: { full_name: string } | null };
}

export interface GiteaOptions extends RemoteForgeOptions {
  baseUrl: string;
  /** A draft on Gitea is a title starting with a WORK_IN_PROGRESS_PREFIXES entry. */
  draftPrefix: string;
}

/**
 * Gitea and Forgejo (same API). No `draft` field exists: a draft is a title starting with a
 * WIP prefix. The list endpoint has no head filter, so PRs are matched by head branch and
 * head repository here; a 409 on create names the existing PR (`issue_id: N`).
 */
export class GiteaForge implements Forge {
  readonly kind = 'gitea';
  private readonly http: ForgeHttp;
  private readonly repoPath: string;
  private labelIds: Map<string, number> | null = null;

  constructor(private readonly o: GiteaOptions) {
    this.http = {
      label: `gitea ${new URL(o.baseUrl).host}/${o.owner}/${o.repo}`,
      baseUrl: o.baseUrl.replace(/\/+$/, '') + '/api/v1',
      headers: { authorization: `token ${o.token}` },
      timeoutMs: o.timeoutMs,
      tokenEnv: o.tokenEnv,
    };
    this.repoPath = `/repos/${encodeURIComponent(o.owner)}/${encodeURIComponent(o.repo)}`;
  }

  push(mirrorDir: string, commit: string, branch: string): Promise<void> {
    return pushBranch(mirrorDir, this.o.remote, commit, branch, this.o.token);
  }

  private pulls(state: 'open' | 'all'): AsyncGenerator<GiteaPull> {
    return forgePages<GiteaPull>(this.http, `${this.repoPath}/pulls?state=${state}&sort=recentupdate&limit=50&page=1`);
  }

  private ours(p: GiteaPull): boolean {
    return fromRepo(p.head, this.o.owner, this.o.repo);
  }

  private ref(p: GiteaPull): PrRef {
    return { url: p.html_url, branch: p.head.ref, state: p.merged ? 'merged' : p.state };
  }

  async findByBranch(branch: string): Promise<PrRef | null> {
    for await (const p of this.pulls('open')) if (p.head.ref === branch && this.ours(p)) return this.ref(p);
    return null;
  }

  async listBotPrs(): Promise<BotPr[]> {
    const out: BotPr[] = [];
    for await (const p of this.pulls('all')) {
      if (!p.head.ref.startsWith(this.o.branchPrefix) || !this.ours(p)) continue;
      out.push({ ...this.ref(p), ...markersOf(p.body), updatedAt: p.updated_at });
    }
    return out;
  }

  async openDraft(pr: DraftPr): Promise<PrRef> {
    const labels = await this.resolveLabels(pr.labels);
    const r = await forgeCall<GiteaPull & { message?: string }>(this.http, 'POST', `${this.repoPath}/pulls`, {
      head: pr.branch,
      base: pr.base,
      title: this.o.draftPrefix + pr.title,
      body: pr.body,
      ...(labels.length ? { labels } : {}),
    });
    if (r.status === 201 || r.status === 200) return this.ref(r.body);
    if (r.status === 409) {
      // "pull request already exists for these targets [id: 7, issue_id: 3, …]"
      const n = /issue_id: (\d+)/.exec(message(r.body))?.[1];
      const existing = n ? await forgeCall<GiteaPull>(this.http, 'GET', `${this.repoPath}/pulls/${n}`) : null;
      if (existing?.status === 200) return this.ref(existing.body);
      const found = await this.findByBranch(pr.branch);
      if (found) return found;
    }
    throw new CycleEnded('pr_failed', `${this.http.label} refused the pull request (HTTP ${r.status}): ${message(r.body)}`);
  }

  /** Label names → ids (Gitea takes ids), creating missing labels; skipped with a warning when not allowed. */
  private async resolveLabels(names: string[]): Promise<number[]> {
    if (names.length === 0) return [];
    if (!this.labelIds) {
      this.labelIds = new Map();
      const r = await forgeCall<{ id: number; name: string }[]>(this.http, 'GET', `${this.repoPath}/labels?limit=50`);
      for (const l of r.body ?? []) this.labelIds.set(l.name, l.id);
    }
    const ids: number[] = [];
    for (const name of names) {
      let id = this.labelIds.get(name);
      if (id === undefined) {
        try {
          const r = await forgeCall<{ id: number }>(this.http, 'POST', `${this.repoPath}/labels`, { name, color: '#5319e7', description: 'opened by prbot' });
          if (r.status === 201) this.labelIds.set(name, (id = r.body.id));
        } catch (err) {
          if (!(err instanceof CycleEnded)) throw err;
        }
      }
      if (id === undefined) this.o.log.warn({ label: name }, 'cannot create the label; opening the PR without it');
      else ids.push(id);
    }
    return ids;
  }
}
