import { forgeRemote, resolvePath, type LoadedConfig } from '@prbot/config';
import type { Logger } from '@prbot/core';
import { GiteaForge } from './gitea/driver.ts';
import { GithubForge } from './github/driver.ts';
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
