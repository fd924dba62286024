import type { Config } from './schema.ts';
import { secretEnvNames } from './schema.ts';

/** The secret values of this deployment: model keys, the forge token, Redis passwords, the job key. */
export function secretValues(
  cfg: Pick<Config, 'models' | 'forge' | 'redis'> &
    Partial<Pick<Config, 'webhooks'>> & {
      repositories?: readonly { forge: Config['forge'] }[];
      discover?: { forge: { tokenEnv: string } } | undefined;
    },
  env: NodeJS.ProcessEnv,
): string[] {
  const out: string[] = [];
  for (const name of [...secretEnvNames(cfg), 'PRBOT_JOB_KEY']) {
    const v = env[name];
    if (v) out.push(v);
  }
  for (const url of [cfg.redis.url, ...(cfg.redis.cluster ?? []), ...(cfg.redis.sentinel?.nodes ?? []), env.REDIS_URL])
    out.push(...urlSecrets(url));
  return out;
}

function urlSecrets(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const u = new URL(url);
    return [u.password, decodeURIComponent(u.password)].filter(Boolean);
  } catch {
    return [];
  }
}
