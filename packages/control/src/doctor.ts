import type { LoadedConfig } from '@prbot/config';
import type { Logger } from '@prbot/core';
import { connect, redactUrl, readRedisSettings } from '@prbot/pipeline';
import { createForge } from '@prbot/forge';
import type { DoctorCheck } from '@prbot/forge';

export interface DoctorReport {
  forge: string;
  checks: DoctorCheck[];
  /** False when something would fail a cycle. */
  ok: boolean;
}

/**
 * `prbot doctor`: asks the live forge what the first cycle would meet (token, repository, base
 * branch, labels, drafts) before any cycle runs, so a wrong scope is found by the operator and
 * not by a pr_failed after the model was paid for.
 */
export async function runDoctor(cfg: LoadedConfig, env: NodeJS.ProcessEnv, log: Logger): Promise<DoctorReport> {
  const forge = createForge(cfg, env, log);
  const f = cfg.forge;
  const checks: DoctorCheck[] = [];
  if (f.kind !== 'local' && !env[f.tokenEnv])
    checks.push({
      name: 'token',
      status: 'fail',
      detail: `${f.tokenEnv} is not set`,
      fix: `export ${f.tokenEnv}=<token> in the workers' environment`,
    });
  else if (forge.doctor) checks.push(...(await forge.doctor({ base: cfg.repo.base, labels: f.labels })));
  else checks.push({ name: 'forge', status: 'ok', detail: `${forge.kind}: nothing to check against a server` });
  return {
    forge: f.kind === 'local' ? 'local' : `${f.kind} ${f.owner}/${f.repo}`,
    checks,
    ok: checks.every((c) => c.status !== 'fail'),
  };
}

/**
 * The Redis line of `prbot doctor`: an evicting policy fails (workers and produce refuse it),
 * no appendonly warns, an unreachable server only warns (the forge checks need no Redis).
 */
export async function redisDoctor(cfg: LoadedConfig): Promise<DoctorCheck[]> {
  const redis = connect(cfg.redis, 'client', { lazyConnect: false });
  redis.on('error', () => {});
  try {
    const s = await readRedisSettings(redis);
    return [
      ...s.problems.map((p): DoctorCheck => ({
        name: 'redis',
        status: 'fail',
        detail: p,
        fix: 'CONFIG SET maxmemory-policy noeviction (and in redis.conf)',
      })),
      ...s.warnings.map((w): DoctorCheck => ({ name: 'redis', status: 'warn', detail: w })),
      ...(s.problems.length + s.warnings.length === 0
        ? [
            {
              name: 'redis',
              status: 'ok' as const,
              detail: `maxmemory-policy noeviction, appendonly on (${s.servers.map((x) => x.node).join(', ')})`,
            },
          ]
        : []),
    ];
  } catch (err) {
    return [
      {
        name: 'redis',
        status: 'warn',
        detail: `cannot check Redis at ${redactUrl(cfg.redis.url)}: ${(err as Error).message}`,
        transient: true,
      },
    ];
  } finally {
    redis.disconnect();
  }
}

export function formatDoctor(r: DoctorReport): string {
  const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  const lines = r.checks.map((c) => `${mark[c.status]} ${c.name}: ${c.detail}${c.fix ? `\n       fix: ${c.fix}` : ''}`);
  const failed = r.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  return [
    `prbot doctor — ${r.forge}`,
    ...lines,
    '',
    failed.length ? `would fail: ${failed.join(', ')}` : 'nothing would fail',
  ].join('\n');
}
