import { z } from 'zod';
import { envName, positiveInt } from './common.ts';

const forgeCommon = {
  branchPrefix: z.string().regex(/^[A-Za-z0-9._/-]*$/).default('bot/'),
  /** Gitea/Forgejo mark a PR as draft by this title prefix (server setting WORK_IN_PROGRESS_PREFIXES). */
  draftPrefix: z.string().default('WIP: '),
  labels: z.array(z.string().min(1)).default(['prbot']),
  /** At most this many bot PRs open at once; a cycle over it waits (delayed). */
  maxOpen: positiveInt.default(5),
  /** At most this many new bot PRs per rolling hour. */
  maxPerHour: positiveInt.default(10),
  /** How long a cycle over the open-PR limit waits before it looks again. */
  limitRetryMs: positiveInt.default(5 * 60_000),
  timeoutMs: positiveInt.default(30_000),
};
/** A remote URL with credentials in it would leak the token into logs and `git remote -v`. */
const remoteUrl = z.string().refine((u) => !/^[a-z]+:\/\/[^/@]+@/i.test(u) || /^ssh:\/\/[^:@/]+@/i.test(u), 'no credentials in the URL; the token goes in the environment variable named by tokenEnv');
export const forgeSection = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('local'), remote: z.string().optional(), prDir: z.string().default('data/_bot/prs'), ...forgeCommon }),
  z.strictObject({
    kind: z.enum(['gitea', 'forgejo']),
    baseUrl: z.url(),
    owner: z.string().min(1),
    repo: z.string().min(1),
    tokenEnv: envName.default('GITEA_TOKEN'),
    /** Push URL; defaults to `<baseUrl>/<owner>/<repo>.git`. SSH URLs work too. */
    remote: remoteUrl.optional(),
    ...forgeCommon,
  }),
  z.strictObject({
    kind: z.literal('github'),
    /** https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise. */
    apiUrl: z.url().default('https://api.github.com'),
    owner: z.string().min(1),
    repo: z.string().min(1),
    tokenEnv: envName.default('GITHUB_TOKEN'),
    remote: remoteUrl.optional(),
    ...forgeCommon,
  }),
]);
