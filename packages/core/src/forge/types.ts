import { z } from 'zod';

export interface DraftPr {
  branch: string;
  base: string;
  title: string;
  body: string;
  cycleId: string;
  labels: string[];
}

export const prStateSchema = z.enum(['open', 'closed', 'merged']);
export type PrState = z.infer<typeof prStateSchema>;

export interface PrRef {
  url: string;
  branch: string;
  state: PrState;
}

/** A bot PR as listed by the forge, tied to its cycle and gap by the body's markers. */
export interface BotPr extends PrRef {
  cycleId: string | null;
  gapId: string | null;
  updatedAt: string;
}

/** What the pr stage and produce need from a forge. Every call must be safe to repeat. */
export interface Forge {
  readonly kind: string;
  /** Pushes the bot commit as the branch; re-pushing the same commit is a no-op. */
  push(mirrorDir: string, commit: string, branch: string): Promise<void>;
  /** The open PR from this head branch, if any (a retried job must not open a second). */
  findByBranch(branch: string): Promise<PrRef | null>;
  openDraft(pr: DraftPr): Promise<PrRef>;
  /** Every PR whose head starts with the bot's branch prefix, all states, in one listing. */
  listBotPrs(): Promise<BotPr[]>;
}

const CYCLE = /<!-- prbot-cycle: (c[0-9a-z]+) -->/;
const GAP = /<!-- prbot-gap: (g[0-9a-f]{12}) -->/;

export function markersOf(body: string | null | undefined): { cycleId: string | null; gapId: string | null } {
  return { cycleId: CYCLE.exec(body ?? '')?.[1] ?? null, gapId: GAP.exec(body ?? '')?.[1] ?? null };
}

/** What the Gitea and GitHub drivers are built from (forge/create.ts). */
export interface RemoteForgeOptions {
  owner: string;
  repo: string;
  /** Sent only in the Authorization header and, for HTTPS pushes, git's http.extraHeader. */
  token: string;
  /** Its name, for error messages that say what to fix. */
  tokenEnv: string;
  remote: string;
  branchPrefix: string;
  timeoutMs: number;
  log: import('../logger.ts').Logger;
}
