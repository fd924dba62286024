import { z } from 'zod';
import { envName, positiveInt } from './common.ts';

const forgeCommon = {
  branchPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._/-]*$/)
    .default('bot/'),
  /**
   * Gitea/Forgejo mark a PR as draft by this title prefix (server setting WORK_IN_PROGRESS_PREFIXES);
   * GitHub uses it only when it refuses a draft (private repositories on Free/Pro plans).
   */
  draftPrefix: z.string().default('WIP: '),
  labels: z.array(z.string().min(1)).default(['prbot']),
  /** At most this many bot PRs open at once; a cycle over it waits (delayed). */
  maxOpen: positiveInt.default(5),
  /** At most this many new bot PRs per rolling hour. */
  maxPerHour: positiveInt.default(10),
  /** How long a cycle over the open-PR limit waits before it looks again. */
  limitRetryMs: positiveInt.default(5 * 60_000),
  timeoutMs: positiveInt.default(30_000),
  /** Pages read at most per listing (default 200; a warning names the forge when the cap is hit). */
  maxPages: positiveInt.optional(),
};
/** A remote URL with credentials in it would leak the token into logs and `git remote -v`. */
const remoteUrl = z
  .string()
  .refine(
    (u) => !/^[a-z]+:\/\/[^/@]+@/i.test(u) || /^ssh:\/\/[^:@/]+@/i.test(u),
    'no credentials in the URL; the token goes in the environment variable named by tokenEnv',
  );

/** Gitea's default `[repository.pull-request] WORK_IN_PROGRESS_PREFIXES`. */
const GITEA_WIP_PREFIXES = ['WIP:', '[WIP]'];

/** Gitea's own test (services/pull IsWorkInProgress): the upper-cased title starts with an upper-cased prefix. */
function isWipTitle(title: string, wipPrefixes: readonly string[]): boolean {
  const t = title.toUpperCase();
  return wipPrefixes.some((p) => p.trim() !== '' && t.startsWith(p.toUpperCase()));
}

const giteaForge = z
  .strictObject({
    kind: z.enum(['gitea', 'forgejo']),
    baseUrl: z.url(),
    owner: z.string().min(1),
    repo: z.string().min(1),
    tokenEnv: envName.default('GITEA_TOKEN'),
    /** Push URL; defaults to `<baseUrl>/<owner>/<repo>.git`. SSH URLs work too. */
    remote: remoteUrl.optional(),
    /** The server's WORK_IN_PROGRESS_PREFIXES, when its admin changed them from Gitea's default "WIP:", "[WIP]". */
    wipPrefixes: z.array(z.string().min(1)).min(1).optional(),
    ...forgeCommon,
  })
  // Any other prefix opens a normal, mergeable PR: the draft promise would be silently broken.
  .refine((f) => isWipTitle(f.draftPrefix + 'x', f.wipPrefixes ?? GITEA_WIP_PREFIXES), {
    path: ['draftPrefix'],
    message:
      'Gitea/Forgejo treat a PR as a draft only when its title starts with one of the server\'s WORK_IN_PROGRESS_PREFIXES (default "WIP:", "[WIP]", any case); set draftPrefix to e.g. "WIP: ", or list the server\'s prefixes in forge.wipPrefixes',
  });

export const forgeSection = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('local'),
    remote: z.string().optional(),
    prDir: z.string().default('data/_bot/prs'),
    ...forgeCommon,
  }),
  giteaForge,
  z.strictObject({
    kind: z.literal('github'),
    /** https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise. */
    apiUrl: z.url().default('https://api.github.com'),
    owner: z.string().min(1),
    repo: z.string().min(1),
    tokenEnv: envName.default('GITHUB_TOKEN'),
    remote: remoteUrl.optional(),
    /** Waits up to this long inside the job for a GitHub rate limit; longer waits pause the pr queue. */
    rateLimitWaitMs: positiveInt.optional(),
    ...forgeCommon,
    draftPrefix: z.string().min(1).default('WIP: '),
  }),
]);
