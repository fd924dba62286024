import { z } from 'zod';
import { budgetSection } from './budget.ts';
import { forgeSection } from './forge.ts';
import { guardrailsSection } from './guardrails.ts';
import { botSection, dashboardSection, logSection, observerSection, policySection, recordsSection, workerSection } from './misc.ts';
import { modelsSection } from './models.ts';
import { queuesSection } from './queues.ts';
import { redisSection } from './redis.ts';
import { repoSection } from './repo.ts';
import { testsSection } from './tests.ts';
import { jobsSection } from './jobs.ts';

/** The whole config: one schema per section (files beside this one), checked across sections here. */
export const configSchema = z
  .object({
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
    policy: policySection,
    bot: botSection,
    worker: workerSection,
    dashboard: dashboardSection,
    dryRun: z.boolean().default(false),
    log: logSection,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // A secret on the allow-list would hand it to model-written test code.
    const secretNames = new Set(secretEnvNames(cfg));
    cfg.tests.envAllow.forEach((name, i) => {
      if (secretNames.has(name) || /KEY|TOKEN|SECRET|PASSWORD/i.test(name)) {
        ctx.addIssue({ code: 'custom', path: ['tests', 'envAllow', i], message: `"${name}" looks like a secret; tests never see secrets` });
      }
    });
    for (const [name, p] of Object.entries(cfg.models.providers)) {
      if (p.kind !== 'openai') continue;
      for (const h of Object.keys(p.headers)) {
        if (/^authorization$/i.test(h)) {
          ctx.addIssue({ code: 'custom', path: ['models', 'providers', name, 'headers', h], message: 'put the key in the environment variable named by keyEnv, not in config' });
        }
      }
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type QueueSettings = Config['queues']['propose'];

/** The environment variables that hold secrets: providers' keys and the forge token. */
export function secretEnvNames(cfg: Pick<Config, 'models' | 'forge'>): string[] {
  return [
    ...Object.values(cfg.models.providers).flatMap((p) => (p.kind === 'openai' && p.keyEnv ? [p.keyEnv] : [])),
    ...(cfg.forge.kind === 'local' ? [] : [cfg.forge.tokenEnv]),
  ];
}
