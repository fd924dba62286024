import path from 'node:path';
import type { GuardContext } from '@prbot/repo';
import type { Runtime } from './runtime.ts';

/**
 * The guardrail context of this deployment (PRD, pause file, the config file when it lives in the
 * repository, the operator's extra patterns): one definition, so every commit built or rebuilt —
 * apply, test, pr, upkeep — is checked against the same paths.
 */
export function guardContext(rt: Runtime): GuardContext {
  const rel = path.relative(rt.cfg.dir, rt.cfg.file);
  return {
    prdPath: rt.cfg.repo.prd,
    pauseFile: rt.cfg.repo.pauseFile,
    configFile: rel.startsWith('..') ? undefined : rel.split(path.sep).join('/'),
    extraForbidden: rt.cfg.guardrails.forbidden,
  };
}
