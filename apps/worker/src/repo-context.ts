import { buildRepoContext, type GuardContext, type ProposeJob, type RepoContext, type Runtime } from '@prbot/core';
import path from 'node:path';

/**
 * What the prompt shows of the repository at the base commit: related files (whole or in
 * windows) and a map, within `models.context`; `context.shown` goes into the cycle record.
 */
export async function repoContext(rt: Runtime, data: ProposeJob): Promise<{ gapText: string; prdPath: string; context: RepoContext }> {
  await rt.mirror.ensureCommit(data.baseCommit);
  const context = await buildRepoContext(rt.mirror.dir, data.baseCommit, data.gap.text, { ...rt.cfg.models.context, exclude: [rt.cfg.repo.prd] });
  return { gapText: data.gap.text, prdPath: rt.cfg.repo.prd, context };
}

export function guardContext(rt: Runtime): GuardContext {
  const rel = path.relative(rt.cfg.dir, rt.cfg.file);
  return {
    prdPath: rt.cfg.repo.prd,
    pauseFile: rt.cfg.repo.pauseFile,
    configFile: rel.startsWith('..') ? undefined : rel.split(path.sep).join('/'),
    extraForbidden: rt.cfg.guardrails.forbidden,
  };
}
