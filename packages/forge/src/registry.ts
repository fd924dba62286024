import { forgeRemote, resolvePath, type LoadedConfig } from '@prbot/config';
import type { Logger } from '@prbot/core';
import { GiteaForge } from './gitea/driver.ts';
import { giteaDelivery, giteaEvent } from './gitea/webhook.ts';
import { GithubForge } from './github/driver.ts';
import { githubDelivery, githubEvent } from './github/webhook.ts';
import type { Delivery, Headers } from './webhook-delivery.ts';
import type { WebhookEvent } from './webhook-events.ts';
import { LocalForge } from './local/driver.ts';
import type { Forge } from './types.ts';

/** The forge named by the config. A missing token is reported by name when a PR is opened. */
export function createForge(cfg: LoadedConfig, env: NodeJS.ProcessEnv, log: Logger): Forge {
  const f = cfg.forge;
  const remote = forgeRemote(cfg);
  if (f.kind === 'local') return new LocalForge(remote, resolvePath(cfg, f.prDir), f.branchPrefix, f.draftPrefix);
  const token = env[f.tokenEnv] ?? '';
  const common = {
    owner: f.owner,
    repo: f.repo,
    token,
    tokenEnv: f.tokenEnv,
    remote,
    branchPrefix: f.branchPrefix,
    timeoutMs: f.timeoutMs,
    base: cfg.repo.base,
    draftPrefix: f.draftPrefix,
    maxPages: f.maxPages ?? 200,
    log,
  };
  return f.kind === 'github'
    ? new GithubForge({ ...common, apiUrl: f.apiUrl, rateLimitWaitMs: f.rateLimitWaitMs })
    : new GiteaForge({ ...common, baseUrl: f.baseUrl, wipPrefixes: f.wipPrefixes });
}

/** How a forge's webhooks are read: its delivery headers, then its payload as one of prbot's events. */
export interface WebhookReader {
  delivery(headers: Headers): Delivery;
  event(d: Delivery & { event: string }, payload: unknown, repo: string): WebhookEvent;
}

/** The webhook reader of a forge kind (Forgejo sends Gitea's); `local` has no forge to send webhooks. */
export function webhookReader(kind: 'gitea' | 'forgejo' | 'github'): WebhookReader {
  return kind === 'github'
    ? { delivery: githubDelivery, event: (d, payload, repo) => githubEvent(d.event, payload, repo) }
    : { delivery: giteaDelivery, event: (d, payload, repo) => giteaEvent(d.event, d.eventType, payload, repo) };
}
