import { git, type GuardContext, type ProposeJob, type Runtime } from '@prbot/core';
import path from 'node:path';

const EXCERPT_BYTES = 16_000;

/** What the prompt shows of the repository: its file list and the files the gap names. */
export async function repoContext(rt: Runtime, data: ProposeJob) {
  await rt.mirror.ensureCommit(data.baseCommit);
  const r = await git(['ls-tree', '-r', '-z', '--name-only', '--full-tree', data.baseCommit], { cwd: rt.mirror.dir });
  const files = r.stdout.split('\0').filter(Boolean);
  const text = data.gap.text.toLowerCase();
  const named = files.filter((f) => text.includes(f.toLowerCase()) || text.includes(path.posix.basename(f).toLowerCase())).slice(0, 5);
  const excerpts = [];
  for (const f of named) {
    const content = await rt.mirror.readFile(data.baseCommit, f);
    if (content !== null && content.length <= EXCERPT_BYTES) excerpts.push({ path: f, content });
  }
  return { gapText: data.gap.text, prdPath: rt.cfg.repo.prd, files, excerpts };
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
