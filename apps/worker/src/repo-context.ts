import { buildRepoContext, prDiff, revisePrompt, type GuardContext, type ProposeJob, type RepoContext, type Runtime } from '@prbot/core';
import path from 'node:path';

/**
 * What the prompt shows of the repository at the base commit: related files (whole or in
 * windows) and a map, within `models.context`; `context.shown` goes into the cycle record.
 */
export async function repoContext(rt: Runtime, data: ProposeJob): Promise<{ gapText: string; prdPath: string; context: RepoContext; revise: string | null }> {
  await rt.mirror.ensureCommit(data.baseCommit);
  // A revise cycle's base is the PR's head: the files the PR changed are the related ones first.
  const pr = data.revise ? await prDiff(rt.mirror.dir, await rt.mirror.resolve(rt.cfg.repo.base), data.baseCommit, rt.cfg.revise.diffChars) : null;
  const query = pr ? `${data.gap.text}\n${pr.paths.join(' ')}` : data.gap.text;
  const context = await buildRepoContext(rt.mirror.dir, data.baseCommit, query, { ...rt.cfg.models.context, exclude: [rt.cfg.repo.prd] });
  return { gapText: data.gap.text, prdPath: rt.cfg.repo.prd, context, revise: pr && data.revise ? revisePrompt(data.revise, pr.diff, data.cycleId) : null };
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
