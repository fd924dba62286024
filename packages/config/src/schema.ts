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
import { testsSection } from './tests.ts';
import { jobsSection } from './jobs.ts';
import { reviseSection } from './revise.ts';
import { upkeepSection } from './upkeep.ts';

/** The whole config: one schema per section (files beside this one), checked across sections here. */
export const configSchema = z
  .strictObject({
    redis: redisSection,
    repo: repoSection,
    workdir: z.string().default('data/_work'),
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
    // A secret on the allow-list would hand it to model-written test code.
    // REDIS_URL carries the Redis password; PRBOT_JOB_KEY signs hand-overs.
    const secretNames = new Set([...secretEnvNames(cfg), 'REDIS_URL', 'PRBOT_JOB_KEY']);
    cfg.tests.envAllow.forEach((name, i) => {
      if (secretNames.has(name.toUpperCase()) || SECRET_LIKE_ENV.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tests', 'envAllow', i],
          message: `"${name}" looks like a secret; tests never see secrets`,
        });
      }
    });
    // (Credentials in headers and URLs are refused in the file as written: credentials.ts.)
  });

/** Environment variable names that hold or may hold a credential (a URL with a password included). */
const SECRET_LIKE_ENV =
  /KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|REDIS_URL|DATABASE_URL|_DSN$/i;

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
type QueueSettings = Config['queues']['propose'];

/** The environment variables that hold secrets: providers' keys and the forge token. */
export function secretEnvNames(cfg: Pick<Config, 'models' | 'forge'> & Partial<Pick<Config, 'webhooks'>>): string[] {
  return [
    ...(cfg.webhooks ? [cfg.webhooks.secretEnv] : []),
    ...Object.values(cfg.models.providers).flatMap((p) => (p.kind === 'openai' && p.keyEnv ? [p.keyEnv] : [])),
    ...(cfg.forge.kind === 'local' ? [] : [cfg.forge.tokenEnv]),
  ];
}
