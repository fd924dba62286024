import { readFile, mkdir, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { git } from '../git.ts';
import { TransientError } from '../errors/index.ts';
import type { DraftPr, Forge, PrRef } from './types.ts';

/**
 * A forge with no server: bot branches go to a bare remote, and each draft PR is a JSON file.
 * Used by the demo and tests, and by teams who review bot branches by hand.
 */
export class LocalForge implements Forge {
  readonly kind = 'local';
  constructor(
    private readonly remote: string,
    private readonly prDir: string,
  ) {}

  async push(mirrorDir: string, commit: string, branch: string): Promise<void> {
    try {
      await git(['push', '--quiet', '--force', this.remote, `${commit}:refs/heads/${branch}`], { cwd: mirrorDir });
    } catch (err) {
      throw new TransientError(`pushing ${branch} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private file(branch: string): string {
    return path.join(this.prDir, `${branch.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`);
  }

  async findByBranch(branch: string): Promise<PrRef | null> {
    try {
      const pr = JSON.parse(await readFile(this.file(branch), 'utf8')) as { state: PrRef['state']; head: string };
      return { url: pathToFileURL(this.file(branch)).href, branch: pr.head, state: pr.state };
    } catch {
      return null;
    }
  }

  async openDraft(pr: DraftPr): Promise<PrRef> {
    await mkdir(this.prDir, { recursive: true });
    const file = this.file(pr.branch);
    const record = { title: pr.title, body: pr.body, head: pr.branch, base: pr.base, draft: true, state: 'open', cycle_id: pr.cycleId, created_at: new Date().toISOString() };
    await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n');
    await rename(`${file}.tmp`, file);
    return { url: pathToFileURL(file).href, branch: pr.branch, state: 'open' };
  }
}
