import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LeaseRefused, pushBranch, pushWithLeaseBranch } from '../push.ts';
import {
  markersOf,
  type BotPr,
  type DraftPr,
  type Forge,
  type PrRef,
  type PrState,
  type UpkeepForge,
} from '../types.ts';

interface LocalPr {
  title: string;
  body: string;
  head: string;
  base: string;
  draft: true;
  state: PrState;
  labels: string[];
  cycle_id: string;
  created_at: string;
  updated_at: string;
  /** prbot's comments (upkeep, issue 25), oldest first. */
  comments?: { body: string; created_at: string }[];
}

/**
 * A forge with no server: bot branches go to a bare remote, and each draft PR is a JSON file.
 * Used by the demo and tests, and by teams who review bot branches by hand. Closing a PR is
 * editing its `state` to "closed" or "merged"; prbot's comments are kept in the record.
 */
export class LocalForge implements Forge, UpkeepForge {
  readonly kind = 'local';
  constructor(
    private readonly remote: string,
    private readonly prDir: string,
    private readonly branchPrefix = 'bot/',
    private readonly draftPrefix = 'WIP: ',
  ) {}

  push(mirrorDir: string, commit: string, branch: string): Promise<void> {
    return pushBranch(mirrorDir, this.remote, commit, branch);
  }

  private file(branch: string): string {
    return path.join(this.prDir, `${branch.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`);
  }

  private async read(file: string): Promise<LocalPr | null> {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as LocalPr;
    } catch {
      return null;
    }
  }

  async findByBranch(branch: string): Promise<PrRef | null> {
    const pr = await this.read(this.file(branch));
    return pr ? { url: pathToFileURL(this.file(branch)).href, branch: pr.head, state: pr.state } : null;
  }

  async listBotPrs(): Promise<BotPr[]> {
    const names = await readdir(this.prDir).catch(() => [] as string[]);
    const out: BotPr[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const file = path.join(this.prDir, n);
      const pr = await this.read(file);
      if (pr?.head.startsWith(this.branchPrefix))
        out.push({
          url: pathToFileURL(file).href,
          branch: pr.head,
          state: pr.state,
          ...markersOf(pr.body),
          updatedAt: pr.updated_at,
        });
    }
    return out;
  }

  pushWithLease(mirrorDir: string, commit: string, branch: string, expected: string): Promise<void> {
    return pushWithLeaseBranch(mirrorDir, this.remote, commit, branch, expected);
  }

  async deleteBranch(mirrorDir: string, branch: string, expected: string): Promise<boolean> {
    try {
      await pushWithLeaseBranch(mirrorDir, this.remote, '', branch, expected);
      return true;
    } catch (err) {
      if (err instanceof LeaseRefused) return false;
      throw err;
    }
  }

  async commentOn(pr: BotPr, body: string): Promise<void> {
    await this.update(pr.branch, (r) => ({
      ...r,
      comments: [...(r.comments ?? []), { body, created_at: new Date().toISOString() }],
    }));
  }

  async closePr(pr: BotPr): Promise<void> {
    await this.update(pr.branch, (r) =>
      r.state === 'open' ? { ...r, state: 'closed', updated_at: new Date().toISOString() } : r,
    );
  }

  private async update(branch: string, fn: (r: LocalPr) => LocalPr): Promise<void> {
    const file = this.file(branch);
    const pr = await this.read(file);
    if (!pr) throw new Error(`no local PR record for ${branch} (${file})`);
    await writeFile(`${file}.tmp`, JSON.stringify(fn(pr), null, 2) + '\n');
    await rename(`${file}.tmp`, file);
  }

  async openDraft(pr: DraftPr): Promise<PrRef> {
    await mkdir(this.prDir, { recursive: true });
    const file = this.file(pr.branch);
    const now = new Date().toISOString();
    const record: LocalPr = {
      title: this.draftPrefix + pr.title,
      body: pr.body,
      head: pr.branch,
      base: pr.base,
      draft: true,
      state: 'open',
      labels: pr.labels,
      cycle_id: pr.cycleId,
      created_at: now,
      updated_at: now,
    };
    await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n');
    await rename(`${file}.tmp`, file);
    return { url: pathToFileURL(file).href, branch: pr.branch, state: 'open' };
  }
}
