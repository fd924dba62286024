export interface DraftPr {
  branch: string;
  base: string;
  title: string;
  body: string;
  cycleId: string;
}

export interface PrRef {
  url: string;
  branch: string;
  state: 'open' | 'closed' | 'merged';
}

/** What the pr stage needs from a forge. Every call must be safe to repeat. */
export interface Forge {
  readonly kind: string;
  /** Pushes the bot commit as the branch; re-pushing the same commit is a no-op. */
  push(mirrorDir: string, commit: string, branch: string): Promise<void>;
  /** The PR already opened from this head branch, if any (a retried job must not open a second). */
  findByBranch(branch: string): Promise<PrRef | null>;
  openDraft(pr: DraftPr): Promise<PrRef>;
}
