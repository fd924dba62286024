import { z } from 'zod';
import { budgetSection } from './budget.ts';
import { forgeSection } from './forge.ts';
import { guardrailsSection } from './guardrails.ts';
import {
  botSection,
  dashboardIssueSection,
  dashboardSection,
  logSection,
  observerSection,
  policySection,
  recordsSection,
  webhooksSection,
  workerSection,
} from './misc.ts';
import { modelsSection } from './models.ts';
import { queuesSection } from './queues.ts';
import { redisSection } from './redis.ts';
import { repoSection } from './repo.ts';
import { repoDefaultsSchema, repoEntrySchema } from './repositories.ts';
import { discoverSection } from './discover.ts';
import { testsSection } from './tests.ts';
import { workdirSection } from './workdir.ts';
import { jobsSection } from './jobs.ts';
import { reviseSection } from './revise.ts';
import { upkeepSection } from './upkeep.ts';

/** The whole config: one schema per section (files beside this one), checked across sections here. */
export const configSchema = z
  .strictObject({
    redis: redisSection,
    /** One repository (the form of old); exactly one of `repo` and `repos`. */
    repo: repoSection.optional(),
    /** Many repositories, each merged over `defaults` and the top-level sections (repositories.ts). */
    repos: z.array(repoEntrySchema).min(1).optional(),
    defaults: repoDefaultsSchema.optional(),
    /** More repositories, listed by a forge owner at each produce (discover.ts); merged like `repos` entries. */
    discover: discoverSection.optional(),
    workdir: workdirSection,
    records: recordsSection,
    observer: observerSection,
    budget: budgetSection,
    models: modelsSection,
    queues: queuesSection,
    tests: testsSection,
    jobs: jobsSection,
    forge: forgeSection.prefault({ kind: 'local' }),
    guardrails: guardrailsSection,
    revise: reviseSection,
    upkeep: upkeepSection,
    policy: policySection,
    bot: botSection,
    worker: workerSection,
    dashboard: dashboardSection,
    webhooks: webhooksSection,
    dashboardIssue: dashboardIssueSection,
    dryRun: z.boolean().default(false),
    log: logSection,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if ((cfg.repo === undefined) === (cfg.repos === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [cfg.repo === undefined ? 'repo' : 'repos'],
        message:
          cfg.repo === undefined
            ? 'no repository: set `repo` (one repository) or `repos` (a list)'
            : 'set either `repo` (one repository) or `repos` (a list), not both',
      });
    if (cfg.defaults !== undefined && cfg.repos === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['defaults'],
        message: '`defaults` is merged into `repos` entries; there is no `repos`',
      });
    if (cfg.discover !== undefined && cfg.repos === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['discover'],
        message:
          "`discover` adds to a `repos` list (its first entry is the deployment's home repository); there is no `repos`",
      });
    // A secret on the allow-list would hand it to model-written test code.
    // REDIS_URL carries the Redis password; PRBOT_JOB_KEY signs hand-overs.
    for (const i of envAllowIssues(cfg.tests.envAllow, secretEnvNames(cfg)))
      ctx.addIssue({ code: 'custom', ...i, path: ['tests', ...i.path] });
    // (Credentials in headers and URLs are refused in the file as written: credentials.ts.)
  });

/** Names on a tests.envAllow list that are or look like secrets; paths relative to `tests`. */
export function envAllowIssues(
  envAllow: string[],
  secretEnv: string[],
): { path: (string | number)[]; message: string }[] {
  const secretNames = new Set([...secretEnv, 'REDIS_URL', 'PRBOT_JOB_KEY']);
  return envAllow.flatMap((name, i) =>
    secretNames.has(name.toUpperCase()) || SECRET_LIKE_ENV.test(name)
      ? [{ path: ['envAllow', i], message: `"${name}" looks like a secret; tests never see secrets` }]
      : [],
  );
}

/** Environment variable names that hold or may hold a credential (a URL with a password included). */
const SECRET_LIKE_ENV =
  /KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|REDIS_URL|DATABASE_URL|_DSN$/i;

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
type QueueSettings = Config['queues']['propose'];

/** The environment variables that hold secrets: providers' keys and the forge token. */
export function secretEnvNames(
  cfg: Pick<Config, 'models' | 'forge'> &
    Partial<Pick<Config, 'webhooks'>> & {
      repositories?: readonly { forge: Config['forge'] }[];
      discover?: { forge: { tokenEnv: string } } | undefined;
    },
): string[] {
  const forges = [cfg.forge, ...(cfg.repositories ?? []).map((r) => r.forge)];
  return [
    ...new Set([
      ...(cfg.webhooks ? [cfg.webhooks.secretEnv] : []),
      ...Object.values(cfg.models.providers).flatMap((p) => (p.kind === 'openai' && p.keyEnv ? [p.keyEnv] : [])),
      ...forges.flatMap((f) => (f.kind === 'local' ? [] : [f.tokenEnv])),
      ...(cfg.discover ? [cfg.discover.forge.tokenEnv] : []),
    ]),
  ];
}
